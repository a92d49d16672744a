//! `android-key` attestation with our own certificates (`fixtures/make-certificates.sh`):
//! a key description whose challenge is this ceremony's client data hash, and the hostile
//! inputs of checklist C.94-C.98.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::x509::{CertificateBuilder, der};
use latchkey_verify::{AttestationType, Error, Trust, VerifiedRegistration, VerifierOptions};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, intermediate_key, leaf_key, verify_statement};

/// The challenge the fixtures' attestationChallenge was computed for.
const CHALLENGE: &[u8] = b"android-key-registration-32byte!";
const VALID: &[u8] = include_bytes!("fixtures/android-key.der");

/// An android-key registration whose credential key is `credential`, attested by `cert`.
fn register(cert: &[u8], credential: SoftKey) -> Result<VerifiedRegistration, Error> {
    register_with(cert, credential, VerifierOptions::default())
}

fn register_with(
    cert: &[u8],
    credential: SoftKey,
    options: VerifierOptions,
) -> Result<VerifiedRegistration, Error> {
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
    verify_statement(&registration, "android-key", statement, CHALLENGE, options)
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

/// The extension holding the key description.
const KEY_DESCRIPTION: &str = "1.3.6.1.4.1.11129.2.1.17";

/// An AuthorizationList with purpose SIGN and origin GENERATED.
fn sign_and_generated() -> Vec<u8> {
    der::sequence(&[
        &der::explicit(1, &der::tlv(0x31, &der::integer(2))), // purpose: {SIGN}
        &der::explicit(702, &der::integer(0)),                // origin: GENERATED
    ])
}

/// A KeyDescription (keymaster 4) with `challenge` and these authorization lists.
fn key_description(challenge: &[u8], software: &[u8], tee: &[u8]) -> Vec<u8> {
    der::sequence(&[
        &der::integer(3),              // attestationVersion
        &der::tlv(0x0a, &[1]),         // attestationSecurityLevel: TrustedEnvironment
        &der::integer(4),              // keymasterVersion
        &der::tlv(0x0a, &[1]),         // keymasterSecurityLevel: TrustedEnvironment
        &der::octet_string(challenge), // attestationChallenge
        &der::octet_string(&[]),       // uniqueId
        software,                      // softwareEnforced
        tee,                           // teeEnforced
    ])
}

/// The leaf key's certificate, issued by the intermediate, with these key descriptions.
fn issue(descriptions: &[Vec<u8>]) -> Vec<u8> {
    descriptions
        .iter()
        .fold(
            CertificateBuilder::new("Android Keystore Key"),
            |builder, description| builder.extension(KEY_DESCRIPTION, false, description),
        )
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(&leaf_key())
        .unwrap()
}

fn client_data_hash() -> Vec<u8> {
    let client = Client::new("example.com", "https://example.com");
    Sha256::digest(client.client_data_json("webauthn.create", CHALLENGE)).to_vec()
}

#[test]
fn a_duplicated_key_description_is_refused() {
    // C.100: RFC 5280 allows an extension once; a second copy with another challenge must
    // not be able to stand in for the first.
    let in_tee =
        |challenge: &[u8]| key_description(challenge, &der::sequence(&[]), &sign_and_generated());
    let ours = in_tee(&client_data_hash());
    let other = in_tee(&Sha256::digest(b"another ceremony"));
    // The same certificate with the extension once verifies: only the copy is wrong.
    register(&issue(std::slice::from_ref(&ours)), leaf_key()).unwrap();
    for order in [[ours.clone(), other.clone()], [other, ours]] {
        assert!(refused(&issue(&order)).contains("duplicate"));
    }
}

#[test]
fn a_relying_party_may_require_tee_enforcement() {
    // C.99: origin and purpose only in softwareEnforced. §8.4 accepts it; a relying party
    // that wants hardware-backed keys does not.
    let software_only = issue(&[key_description(
        &client_data_hash(),
        &sign_and_generated(),
        &der::sequence(&[]),
    )]);
    register(&software_only, leaf_key()).unwrap();
    let mut options = VerifierOptions::default();
    options.android_key_require_tee = true;
    let err = register_with(&software_only, leaf_key(), options.clone()).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted", "{err}");
    assert!(err.to_string().contains("TEE"), "{err}");
    // The TEE-enforced fixture still verifies.
    register_with(VALID, leaf_key(), options).unwrap();
}
