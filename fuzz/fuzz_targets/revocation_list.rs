#![no_main]
//! Fuzz target `revocation_list`: see `latchkey_fuzz_targets::revocation_list`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::revocation_list(data));
