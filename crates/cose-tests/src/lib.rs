//! Nothing here: `tests/` holds `latchkey-cose`'s tests that need `latchkey-testkit`.
//!
//! The test kit depends on `latchkey-cose`, so `latchkey-cose` cannot dev-depend on the
//! test kit and still be published (`cargo publish` refuses the loop). These tests
//! exercise only `latchkey-cose`'s public API, and run in `cargo test --workspace`.
