#![no_main]
//! Fuzz target `x509_chain`: see `latchkey_fuzz_targets::x509_chain`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| latchkey_fuzz_targets::x509_chain(data));
