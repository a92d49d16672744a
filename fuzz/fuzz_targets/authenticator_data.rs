#![no_main]
//! Fuzz target `authenticator_data`: see `latchkey_fuzz_targets::authenticator_data`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::authenticator_data(data));
