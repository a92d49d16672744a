//! latchkey's own test CA: a P-256 root, an intermediate it issued, and a packed
//! attestation leaf the intermediate issued, with their private keys.
//!
//! Generated once by `crates/verify/tests/fixtures/make-certificates.sh` (OpenSSL; valid
//! 2026-2126, so tests choose the time they verify at). Nothing here is secret or
//! trusted anywhere but in tests: never add [`ROOT`] to a production trust store.
//!
//! ```
//! use latchkey_testkit::ca;
//!
//! // The chain a packed attestation statement carries (x5c), leaf first.
//! let x5c = [ca::LEAF.to_vec(), ca::INTERMEDIATE.to_vec()];
//! assert!(x5c.iter().all(|der| der.first() == Some(&0x30)));
//! let _attestation_key = ca::leaf_key();
//! ```

use crate::authenticator::SoftKey;

/// The root certificate (`CN=Latchkey Test Root`), DER: the anchor tests trust.
pub const ROOT: &[u8] = include_bytes!("ca/root.der");
/// The intermediate (`CN=Latchkey Test Intermediate`, `pathlen:0`), DER, issued by
/// [`ROOT`].
pub const INTERMEDIATE: &[u8] = include_bytes!("ca/intermediate.der");
/// A packed attestation certificate issued by [`INTERMEDIATE`], with the AAGUID
/// extension `01020304-0506-0708-090a-0b0c0d0e0f10`; its key is [`leaf_key`].
pub const LEAF: &[u8] = include_bytes!("ca/leaf.der");
/// [`LEAF`] with the FIDO enterprise attestation serial extension added; same key.
pub const LEAF_ENTERPRISE: &[u8] = include_bytes!("ca/leaf-enterprise.der");

/// The private key of [`LEAF`] and [`LEAF_ENTERPRISE`] (and of every other leaf
/// certificate the verify tests' fixtures hold).
#[must_use]
pub fn leaf_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("ca/leaf.scalar")))
}

/// The root's private key, for CRLs and certificates tests issue themselves.
#[must_use]
pub fn root_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("ca/root.scalar")))
}

/// The intermediate's private key, for CRLs and certificates tests issue themselves.
#[must_use]
pub fn intermediate_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("ca/intermediate.scalar")))
}

/// A 32-byte scalar from its hex fixture file.
fn scalar(text: &str) -> [u8; 32] {
    let mut out = [0; 32];
    for (slot, byte) in out.iter_mut().zip(crate::hex::decode(text.trim())) {
        *slot = byte;
    }
    out
}
