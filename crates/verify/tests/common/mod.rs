//! Our own test CA (`fixtures/make-certificates.sh`) and the time the tests verify at.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Registration, SoftKey};
use latchkey_testkit::hex;
use latchkey_verify::{
    Ceremony, Error, Origins, RegistrationBytes, TrustAnchors, VerifiedRegistration, Verifier,
    VerifierOptions,
};

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

/// Verifies `registration` (RP example.com) with its attestation statement replaced by
/// `fmt` and `statement`, the test root anchoring `fmt`, at 2040.
pub fn verify_statement(
    registration: &Registration,
    fmt: &str,
    statement: Map<'_>,
    challenge: &[u8],
    options: VerifierOptions,
) -> Result<VerifiedRegistration, Error> {
    let object = AttestationObject::encode(
        fmt,
        &Value::Map(statement),
        &registration.authenticator_data,
    );
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format(fmt, ROOT).unwrap();
    Verifier::new("example.com", Origins::new(["https://example.com"]))
        .with_options(options)
        .with_trust_anchors(anchors)
        .verify_registration(
            &RegistrationBytes {
                client_data_json: &registration.client_data_json,
                attestation_object: &object,
                raw_id: &registration.credential_id,
            },
            &Ceremony::new(challenge),
            in_2040(),
        )
}
