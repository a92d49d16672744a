#![no_main]
//! Fuzz target `response_json`: see `latchkey_fuzz_targets::response_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::response_json(data));
