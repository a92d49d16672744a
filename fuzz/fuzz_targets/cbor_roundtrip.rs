#![no_main]
//! Fuzz target `cbor_roundtrip`: see `latchkey_fuzz_targets::cbor_roundtrip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::cbor_roundtrip(data));
