#![no_main]
//! Fuzz target `attestation_object`: see `latchkey_fuzz_targets::attestation_object`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::attestation_object(data));
