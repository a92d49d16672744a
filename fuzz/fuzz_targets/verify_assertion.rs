#![no_main]
//! Fuzz target `verify_assertion`: see `latchkey_fuzz_targets::verify_assertion`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::verify_assertion(data));
