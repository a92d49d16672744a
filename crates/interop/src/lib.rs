//! Nothing here: `tests/passkey_rs.rs` drives latchkey's facade with 1Password's
//! `passkey-client` and `passkey-authenticator` from crates.io. latchkey's options JSON
//! goes into that client as a browser would hand it over, and its responses come back
//! into `finish_registration` / `finish_authentication`.
