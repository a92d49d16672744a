//! Our own test CA (`fixtures/make-certificates.sh`) and the time the tests verify at.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::Registration;
use latchkey_testkit::hex;
use latchkey_verify::{
    Ceremony, Error, Origins, RegistrationBytes, TrustAnchors, VerifiedRegistration, Verifier,
    VerifierOptions,
};

// The test CA lives in the test kit; the other fixtures here are issued by it.
#[allow(unused_imports)] // each test binary uses some
pub use latchkey_testkit::ca::{INTERMEDIATE, LEAF, ROOT, intermediate_key, leaf_key, root_key};
/// A self-signed certificate no anchor trusts.
pub const ROGUE: &[u8] = include_bytes!("../fixtures/rogue.der");

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
