#![no_main]
//! Fuzz target `metadata_blob`: see `latchkey_fuzz_targets::metadata_blob`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::metadata_blob(data));
