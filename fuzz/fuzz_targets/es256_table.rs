#![no_main]
//! Fuzz target `es256_table`: see `latchkey_fuzz_targets::es256_table`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::es256_table(data));
