//! `apple` attestation with credential certificates built for each ceremony (the nonce is
//! a hash of its authenticator data), issued by our own test CA: checklist C.104-C.105.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, Registration, SoftKey};
use latchkey_testkit::x509::{CertificateBuilder, der};
use latchkey_verify::{AttestationType, Error, Trust, VerifiedRegistration, VerifierOptions};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, intermediate_key, verify_statement};

const CHALLENGE: &[u8] = b"apple-attestation-challenge-32b!";
const NONCE_OID: &str = "1.2.840.113635.100.8.2";

/// The credential key; Apple devices attest P-256 keys.
fn credential_key() -> SoftKey {
    SoftKey::es256([0x5a; 32])
}

fn registration() -> Registration {
    let client = Client::new("example.com", "https://example.com");
    Authenticator::new(credential_key()).register(&client, CHALLENGE)
}

/// SHA-256(authenticatorData || clientDataHash): what the nonce extension must hold.
fn expected_nonce(registration: &Registration) -> Vec<u8> {
    let client_data_hash = Sha256::digest(&registration.client_data_json);
    Sha256::digest([&registration.authenticator_data[..], &client_data_hash].concat()).to_vec()
}

/// The extension value Apple writes: `SEQUENCE { [1] EXPLICIT OCTET STRING }`.
fn nonce_extension(nonce: &[u8]) -> Vec<u8> {
    der::sequence(&[&der::explicit(1, &der::octet_string(nonce))])
}

/// A credential certificate for `key`, issued by the test intermediate, with these
/// nonce extension values (none, one, or a duplicate).
fn credential_certificate(key: &SoftKey, nonce_values: &[Vec<u8>]) -> Vec<u8> {
    nonce_values
        .iter()
        .fold(
            CertificateBuilder::new("Latchkey Test Apple Credential"),
            |builder, value| builder.extension(NONCE_OID, false, value),
        )
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(key)
        .unwrap()
}

fn verify(registration: &Registration, x5c: &[&[u8]]) -> Result<VerifiedRegistration, Error> {
    let statement = Map::new(vec![(
        Value::Text("x5c"),
        Value::Array(x5c.iter().map(|cert| Value::Bytes(cert)).collect()),
    )])
    .unwrap();
    verify_statement(
        registration,
        "apple",
        statement,
        CHALLENGE,
        VerifierOptions::default(),
    )
}

fn refused(registration: &Registration, x5c: &[&[u8]]) -> String {
    let err = verify(registration, x5c).expect_err("should be refused");
    assert_eq!(err.code(), "attestation_invalid", "{err}");
    err.to_string()
}

#[test]
fn a_valid_apple_attestation_verifies_and_is_trusted() {
    let registration = registration();
    let cert = credential_certificate(
        &credential_key(),
        &[nonce_extension(&expected_nonce(&registration))],
    );
    let verified = verify(&registration, &[&cert, INTERMEDIATE]).unwrap();
    assert_eq!(verified.fmt(), "apple");
    assert_eq!(
        verified.attestation_type(),
        AttestationType::AnonymizationCa
    );
    assert_eq!(verified.trust(), Trust::Trusted);
}

#[test]
fn the_nonce_must_be_present_once_wrapped_and_equal_to_the_hash() {
    // C.104, each way the extension can be wrong.
    let registration = registration();
    let nonce = expected_nonce(&registration);
    let mut other = nonce.clone();
    other[0] ^= 1;
    let cases = [
        ("missing", vec![], "missing"),
        (
            "another hash",
            vec![nonce_extension(&other)],
            "does not match",
        ),
        (
            "twice",
            vec![nonce_extension(&nonce), nonce_extension(&nonce)],
            "duplicate",
        ),
        (
            "a bare OCTET STRING",
            vec![der::octet_string(&nonce)],
            "SEQUENCE",
        ),
        // The right 32 bytes at the end of a wrong structure: never "the last 32 bytes".
        (
            "wrong tag",
            vec![der::sequence(&[&der::explicit(
                2,
                &der::octet_string(&nonce),
            )])],
            "SEQUENCE",
        ),
    ];
    for (case, values, expected) in cases {
        let cert = credential_certificate(&credential_key(), &values);
        let message = refused(&registration, &[&cert, INTERMEDIATE]);
        assert!(message.contains(expected), "{case}: {message}");
    }
}

#[test]
fn the_certificate_key_must_be_the_credential_key() {
    // C.105: a correct nonce in a certificate for another key.
    let registration = registration();
    let cert = credential_certificate(
        &SoftKey::es256([0x6b; 32]),
        &[nonce_extension(&expected_nonce(&registration))],
    );
    let message = refused(&registration, &[&cert, INTERMEDIATE]);
    assert!(message.contains("credential key"), "{message}");
}

#[test]
fn a_chain_that_misses_the_anchor_is_untrusted() {
    // C.105: everything right but the issuer, a CA no anchor names.
    let registration = registration();
    let rogue_key = SoftKey::es256([0x7c; 32]);
    let rogue_ca = CertificateBuilder::new("Not Apple")
        .ca()
        .self_signed(&rogue_key)
        .unwrap();
    let cert = CertificateBuilder::new("Latchkey Test Apple Credential")
        .extension(
            NONCE_OID,
            false,
            &nonce_extension(&expected_nonce(&registration)),
        )
        .issued_by(&rogue_ca, &rogue_key)
        .sign(&credential_key())
        .unwrap();
    let verified = verify(&registration, &[&cert, &rogue_ca]).unwrap();
    assert!(
        matches!(verified.trust(), Trust::Untrusted(_)),
        "{:?}",
        verified.trust()
    );
}
