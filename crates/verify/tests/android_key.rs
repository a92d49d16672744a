//! `android-key` attestation with our own certificates (`fixtures/make-certificates.sh`):
//! a key description whose challenge is this ceremony's client data hash, and the hostile
//! inputs of checklist C.94-C.98.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::x509::{CertificateBuilder, der};
use latchkey_verify::{
    AttestationType, Ceremony, Error, Origins, RegistrationResponse, Trust, TrustAnchors,
    VerifiedRegistration, Verifier,
};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, ROOT, in_2040, intermediate_key, leaf_key};

/// The challenge the fixtures' attestationChallenge was computed for.
const CHALLENGE: &[u8] = b"android-key-registration-32byte!";
const VALID: &[u8] = include_bytes!("fixtures/android-key.der");

/// An android-key registration whose credential key is `credential`, attested by `cert`.
fn register(cert: &[u8], credential: SoftKey) -> Result<VerifiedRegistration, Error> {
    let client = Client::new("example.com", "https://example.com");
    let registration = Authenticator::new(credential.clone()).register(&client, CHALLENGE);
    let client_data_hash = Sha256::digest(&registration.client_data_json);
    // The statement is signed by the attested key, which must be the credential key.
    let sig = leaf_key().sign(
        &[
            registration.authenticator_data.as_slice(),
            &client_data_hash,
        ]
        .concat(),
    );
    let statement = Map::new(vec![
        (Value::Text("alg"), Value::Integer(-7)),
        (Value::Text("sig"), Value::Bytes(&sig)),
        (
            Value::Text("x5c"),
            Value::Array(vec![Value::Bytes(cert), Value::Bytes(INTERMEDIATE)]),
        ),
    ])
    .unwrap();
    let object = AttestationObject::encode(
        "android-key",
        &Value::Map(statement),
        &registration.authenticator_data,
    );
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("android-key", ROOT).unwrap();
    Verifier::new("example.com", Origins::new(["https://example.com"]))
        .with_trust_anchors(anchors)
        .verify_registration(
            &RegistrationResponse {
                client_data_json: &registration.client_data_json,
                attestation_object: &object,
                raw_id: &registration.credential_id,
            },
            &Ceremony::new(CHALLENGE),
            in_2040(),
        )
}

fn refused(cert: &[u8]) -> String {
    let err = register(cert, leaf_key()).expect_err("should be refused");
    assert_eq!(err.code(), "attestation_invalid", "{err}");
    err.to_string()
}

#[test]
fn a_valid_android_key_attestation_verifies_and_is_trusted() {
    let verified = register(VALID, leaf_key()).unwrap();
    assert_eq!(verified.fmt(), "android-key");
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    assert_eq!(verified.trust(), Trust::Trusted);
}

#[test]
fn the_challenge_must_be_this_ceremonys_client_data_hash() {
    // C.94.
    let message = refused(include_bytes!("fixtures/android-key-wrong-challenge.der"));
    assert!(message.contains("attestationChallenge"), "{message}");
}

#[test]
fn the_certificate_key_must_be_the_credential_key() {
    // C.95: a valid certificate and signature, for another credential key.
    let err = register(VALID, SoftKey::es256([3; 32])).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(err.to_string().contains("credential key"), "{err}");
}

#[test]
fn all_applications_origin_and_purpose() {
    // C.96: allApplications in softwareEnforced.
    let message = refused(include_bytes!("fixtures/android-key-all-applications.der"));
    assert!(message.contains("allApplications"), "{message}");
    // C.97: origin absent from both lists, or not GENERATED (imported).
    for cert in [
        &include_bytes!("fixtures/android-key-no-origin.der")[..],
        include_bytes!("fixtures/android-key-imported.der"),
    ] {
        assert!(refused(cert).contains("origin"));
    }
    // C.98: purpose ENCRYPT only.
    let message = refused(include_bytes!("fixtures/android-key-encrypt-only.der"));
    assert!(message.contains("purpose"), "{message}");
}

/// A KeyDescription (keymaster 4, TEE) with `challenge`: purpose SIGN and origin
/// GENERATED in teeEnforced, softwareEnforced empty.
fn key_description(challenge: &[u8]) -> Vec<u8> {
    let purpose_sign = der::explicit(1, &der::tlv(0x31, &der::integer(2)));
    let origin_generated = der::explicit(702, &der::integer(0));
    der::sequence(&[
        &der::integer(3),                                    // attestationVersion
        &der::tlv(0x0a, &[1]), // attestationSecurityLevel: TrustedEnvironment
        &der::integer(4),      // keymasterVersion
        &der::tlv(0x0a, &[1]), // keymasterSecurityLevel: TrustedEnvironment
        &der::octet_string(challenge), // attestationChallenge
        &der::octet_string(&[]), // uniqueId
        &der::sequence(&[]),   // softwareEnforced
        &der::sequence(&[&purpose_sign, &origin_generated]), // teeEnforced
    ])
}

#[test]
fn a_duplicated_key_description_is_refused() {
    // C.100: RFC 5280 allows an extension once; a second copy with another challenge must
    // not be able to stand in for the first.
    const KEY_DESCRIPTION: &str = "1.3.6.1.4.1.11129.2.1.17";
    let client = Client::new("example.com", "https://example.com");
    let client_data_hash = Sha256::digest(client.client_data_json("webauthn.create", CHALLENGE));
    let other_hash = Sha256::digest(b"another ceremony");
    let issue = |challenges: &[&[u8]]| {
        challenges
            .iter()
            .fold(
                CertificateBuilder::new("Android Keystore Key"),
                |builder, challenge| {
                    builder.extension(KEY_DESCRIPTION, false, &key_description(challenge))
                },
            )
            .issued_by(INTERMEDIATE, &intermediate_key())
            .sign(&leaf_key())
            .unwrap()
    };
    // The same certificate with the extension once verifies: only the copy is wrong.
    register(&issue(&[&client_data_hash]), leaf_key()).unwrap();
    for order in [
        [&client_data_hash[..], &other_hash],
        [&other_hash, &client_data_hash],
    ] {
        assert!(refused(&issue(&order)).contains("duplicate"));
    }
}
