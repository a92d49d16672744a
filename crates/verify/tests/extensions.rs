//! Authenticator extension outputs: what registrations report (credProtect, hmac-secret,
//! minPinLength), malformed known outputs refused, unsolicited ones ignored, an enforced
//! credProtect level, and assertions held to the stored level.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::SystemTime;

use latchkey_cose::Flags;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_verify::{
    AssertionBytes, Ceremony, CredProtect, Error, Origins, RegistrationBytes, StoredCredential,
    UserVerification, VerifiedRegistration, Verifier,
};

const CHALLENGE: &[u8] = b"extensions-challenge-32-bytes!!!";

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

fn verifier() -> Verifier {
    Verifier::new("example.com", Origins::new(["https://example.com"]))
}

/// An encoded CBOR map of extension outputs.
fn outputs(entries: Vec<(&'static str, Value<'static>)>) -> Vec<u8> {
    let entries = entries
        .into_iter()
        .map(|(k, v)| (Value::Text(k), v))
        .collect();
    Value::Map(Map::new(entries).unwrap()).to_vec()
}

fn authenticator(outputs: Vec<u8>) -> Authenticator {
    Authenticator::new(SoftKey::es256([4; 32])).with_extension_outputs(outputs)
}

fn register(
    authenticator: &Authenticator,
    required: Option<CredProtect>,
) -> Result<VerifiedRegistration, Error> {
    let registration = authenticator.register(&client(), CHALLENGE);
    let response = RegistrationBytes {
        client_data_json: &registration.client_data_json,
        attestation_object: &registration.attestation_object,
        raw_id: &registration.credential_id,
    };
    let ceremony = Ceremony {
        required_cred_protect: required,
        ..Ceremony::new(CHALLENGE)
    };
    verifier().verify_registration(&response, &ceremony, SystemTime::now())
}

#[test]
fn registrations_report_the_signed_outputs_they_understand() {
    let verified = register(
        &authenticator(outputs(vec![
            ("credProtect", Value::Integer(3)),
            ("hmac-secret", Value::Bool(true)),
            ("minPinLength", Value::Integer(6)),
            // Unsolicited and unknown outputs are accepted and ignored (§9).
            ("credBlob", Value::Bool(true)),
            ("exampleVendorExtension", Value::Text("anything")),
        ])),
        None,
    )
    .unwrap();
    let extensions = verified.extensions();
    assert_eq!(
        extensions.cred_protect(),
        Some(CredProtect::UserVerificationRequired)
    );
    assert_eq!(extensions.hmac_secret(), Some(true));
    assert_eq!(extensions.min_pin_length(), Some(6));
    // No ED flag, no outputs.
    let plain = register(&Authenticator::new(SoftKey::es256([5; 32])), None).unwrap();
    assert_eq!(plain.extensions().cred_protect(), None);
    assert_eq!(plain.extensions().hmac_secret(), None);
}

#[test]
fn malformed_known_outputs_are_refused() {
    for (name, value) in [
        ("credProtect", Value::Integer(0)),
        ("credProtect", Value::Integer(4)),
        ("credProtect", Value::Text("3")),
        ("hmac-secret", Value::Integer(1)),
        ("minPinLength", Value::Integer(-1)),
        ("minPinLength", Value::Bool(true)),
    ] {
        let err = register(&authenticator(outputs(vec![(name, value.clone())])), None)
            .expect_err("refused");
        assert_eq!(err.code(), "malformed", "{name}: {value:?}");
        assert!(matches!(err, Error::ExtensionInvalid(_)), "{name}: {err}");
    }
}

#[test]
fn an_enforced_cred_protect_level_must_be_met() {
    let level = |n: i128| authenticator(outputs(vec![("credProtect", Value::Integer(n))]));
    let required = Some(CredProtect::UserVerificationOptionalWithCredentialIdList);
    assert!(register(&level(2), required).is_ok());
    assert!(register(&level(3), required).is_ok());
    for refused in [level(1), Authenticator::new(SoftKey::es256([6; 32]))] {
        let err = register(&refused, required).unwrap_err();
        assert_eq!(err, Error::CredProtectBelowRequired);
        assert_eq!(err.code(), "user_verification_required");
    }
}

#[test]
fn assertions_are_held_to_the_stored_cred_protect_level() {
    let key = SoftKey::es256([7; 32]);
    let verifying = latchkey_verify::VerifyingKey::from_credential_key(&key.public_key()).unwrap();
    // UP only: not user-verified.
    let mut authenticator = Authenticator::new(key).with_flags(Flags::USER_PRESENT);
    let mut check = |level: Option<CredProtect>, discoverable: bool| {
        let assertion = authenticator.assert(&client(), CHALLENGE);
        let response = AssertionBytes {
            client_data_json: &assertion.client_data_json,
            authenticator_data: &assertion.authenticator_data,
            signature: &assertion.signature,
        };
        let ceremony = Ceremony {
            user_verification: UserVerification::Preferred,
            discoverable,
            ..Ceremony::new(CHALLENGE)
        };
        let stored = StoredCredential {
            key: &verifying,
            sign_count: 0,
            backup_eligible: None,
            app_id: None,
            cred_protect: level,
        };
        verifier().verify_assertion(&response, &ceremony, &stored)
    };
    use CredProtect as L;
    for (level, discoverable, allowed) in [
        (None, true, true),
        (Some(L::UserVerificationOptional), true, true),
        (
            Some(L::UserVerificationOptionalWithCredentialIdList),
            false,
            true,
        ),
        (
            Some(L::UserVerificationOptionalWithCredentialIdList),
            true,
            false,
        ),
        (Some(L::UserVerificationRequired), false, false),
    ] {
        let result = check(level, discoverable);
        assert_eq!(
            result.is_ok(),
            allowed,
            "{level:?} discoverable={discoverable}"
        );
        if let Err(err) = result {
            assert_eq!(err, Error::UserVerificationRequired);
        }
    }
}
