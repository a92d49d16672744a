//! Our own test CA (`fixtures/make-certificates.sh`) and the time the tests verify at.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use latchkey_testkit::authenticator::SoftKey;
use latchkey_testkit::hex;

pub const ROOT: &[u8] = include_bytes!("../fixtures/root.der");
pub const INTERMEDIATE: &[u8] = include_bytes!("../fixtures/intermediate.der");
/// Issued by the intermediate, with the AAGUID extension 01020304-...-0f10.
pub const LEAF: &[u8] = include_bytes!("../fixtures/leaf.der");
/// A self-signed certificate no anchor trusts.
pub const ROGUE: &[u8] = include_bytes!("../fixtures/rogue.der");

/// The P-256 key of every `leaf*.der` and `aik*.der` fixture.
pub fn leaf_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("../fixtures/leaf.scalar")))
}

/// The root CA's key, for CRLs and certificates the tests build themselves.
pub fn root_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("../fixtures/root.scalar")))
}

/// The intermediate CA's key, for certificates the tests build themselves.
pub fn intermediate_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("../fixtures/intermediate.scalar")))
}

/// A 32-byte private scalar from its hex fixture.
pub fn scalar(text: &str) -> [u8; 32] {
    hex::decode(text.trim()).try_into().unwrap()
}

/// 2040-01-01: inside every fixture's validity (they run 100 years from 2026).
pub fn in_2040() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(2_208_988_800)
}
