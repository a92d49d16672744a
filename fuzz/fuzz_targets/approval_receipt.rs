#![no_main]
//! Fuzz target `approval_receipt`: see `latchkey_fuzz_targets::approval_receipt`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::approval_receipt(data));
