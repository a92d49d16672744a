//! Credentials registered through U2F under a FIDO AppID: what `U2fCredential` accepts of
//! a migrating service's records, and the AppID's rpIdHash only where it belongs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_verify::{
    AssertionBytes, Ceremony, Error, Origins, RegistrationBytes, StoredCredential, U2fCredential,
    Verifier, VerifyingKey,
};

const APP_ID: &str = "https://example.com/app-id.json";
const ORIGIN: &str = "https://example.com";
const CHALLENGE: &[u8] = b"u2f-migration-challenge-32bytes!";

/// The 65-byte `04 || x || y` form a U2F server stored.
fn raw_point(key: &SoftKey) -> Vec<u8> {
    key.uncompressed_point().unwrap()
}

fn verifier() -> Verifier {
    Verifier::new("example.com", Origins::new([ORIGIN]))
}

#[test]
fn an_imported_credential_signs_under_its_app_id_and_only_there() {
    let key = SoftKey::es256([0x42; 32]);
    let credential = U2fCredential::new(&[0xab; 64], &raw_point(&key), APP_ID).unwrap();
    assert_eq!(credential.public_key(), &key.public_key());
    let verifying = VerifyingKey::from_credential_key(credential.public_key()).unwrap();
    let mut authenticator = Authenticator::new(key);
    // A browser asked with `appid` signs with rpIdHash = SHA-256(AppID).
    let assertion = authenticator.assert(&Client::new(APP_ID, ORIGIN), CHALLENGE);
    let response = AssertionBytes {
        client_data_json: &assertion.client_data_json,
        authenticator_data: &assertion.authenticator_data,
        signature: &assertion.signature,
    };
    let stored = |app_id| StoredCredential {
        key: &verifying,
        sign_count: 0,
        backup_eligible: None,
        app_id,
        cred_protect: None,
    };
    let ceremony = Ceremony::new(CHALLENGE);
    assert!(
        verifier()
            .verify_assertion(&response, &ceremony, &stored(Some(credential.app_id())))
            .is_ok()
    );
    // C.148: the same assertion for a credential not registered under the AppID, or
    // under another one.
    for app_id in [None, Some("https://other.example.com/app-id.json")] {
        assert_eq!(
            verifier()
                .verify_assertion(&response, &ceremony, &stored(app_id))
                .unwrap_err(),
            Error::RpIdMismatch,
            "{app_id:?}"
        );
    }
}

#[test]
fn a_registration_is_never_under_the_app_id() {
    // What `appidExclude` is for: new credentials belong to the RP ID. One created for the
    // AppID's hash is refused.
    let registration = Authenticator::new(SoftKey::es256([0x43; 32]))
        .register(&Client::new(APP_ID, ORIGIN), CHALLENGE);
    let err = verifier()
        .verify_registration(
            &RegistrationBytes {
                client_data_json: &registration.client_data_json,
                attestation_object: &registration.attestation_object,
                raw_id: &registration.credential_id,
            },
            &Ceremony::new(CHALLENGE),
            std::time::SystemTime::UNIX_EPOCH,
        )
        .unwrap_err();
    assert_eq!(err, Error::RpIdMismatch);
}

/// (case, key handle, public key, AppID, error code, what the message names)
type Case<'a> = (&'a str, &'a [u8], &'a [u8], &'a str, &'a str, &'a str);

#[test]
fn malformed_u2f_records_are_refused() {
    let point = raw_point(&SoftKey::es256([0x44; 32]));
    let mut off_curve = point.clone();
    off_curve[64] ^= 1;
    let mut compressed = vec![0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    let long_app_id = format!("https://example.com/{}", "a".repeat(1024));
    let cases: [Case<'_>; 9] = [
        (
            "empty key handle",
            &[],
            &point,
            APP_ID,
            "malformed",
            "key handle",
        ),
        (
            "256-byte key handle",
            &[1; 256],
            &point,
            APP_ID,
            "limit_exceeded",
            "key handle",
        ),
        (
            "off-curve point",
            &[1; 64],
            &off_curve,
            APP_ID,
            "malformed",
            "curve",
        ),
        (
            "compressed point",
            &[1; 64],
            &compressed,
            APP_ID,
            "malformed",
            "uncompressed",
        ),
        (
            "64 bytes, no prefix",
            &[1; 64],
            &point[1..],
            APP_ID,
            "malformed",
            "uncompressed",
        ),
        (
            "trailing byte",
            &[1; 64],
            &[&point[..], &[0]].concat(),
            APP_ID,
            "malformed",
            "65 bytes",
        ),
        (
            "http AppID",
            &[1; 64],
            &point,
            "http://example.com/app-id.json",
            "malformed",
            "https",
        ),
        (
            "AppID with a space",
            &[1; 64],
            &point,
            "https://example.com/app id",
            "malformed",
            "https",
        ),
        (
            "AppID too long",
            &[1; 64],
            &point,
            &long_app_id,
            "limit_exceeded",
            "AppID",
        ),
    ];
    for (case, key_handle, public_key, app_id, code, names) in cases {
        let err = U2fCredential::new(key_handle, public_key, app_id).unwrap_err();
        assert_eq!(err.code(), code, "{case}: {err}");
        assert!(err.to_string().contains(names), "{case}: {err}");
    }
}
