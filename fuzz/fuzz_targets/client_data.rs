#![no_main]
//! Fuzz target `client_data`: see `latchkey_fuzz_targets::client_data`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::client_data(data));
