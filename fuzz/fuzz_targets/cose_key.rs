#![no_main]
//! Fuzz target `cose_key`: see `latchkey_fuzz_targets::cose_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::cose_key(data));
