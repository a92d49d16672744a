#![no_main]
//! Fuzz target `verify_registration`: see `latchkey_fuzz_targets::verify_registration`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::verify_registration(data));
