//! Extensions through the facade: the credProtect level an authenticator applied is stored
//! with the passkey and every later login is held to it; an enforced level is requested
//! and checked; client outputs (credProps, prf, largeBlob) are read and type-checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::store::conformance::block_on;
use latchkey::{
    AccountId, Factor, Intent, MemoryStore, Passkeys, RelyingParty, RequestContext, Scope, StepUp,
    User,
};
use latchkey_cose::Flags;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};

#[test]
fn a_cred_protect_level_is_stored_and_enforced_at_login() {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let alice = AccountId::new("alice");
    let client = Client::new("example.com", "https://example.com");
    let outputs =
        Value::Map(Map::new(vec![(Value::Text("credProtect"), Value::Integer(3))]).unwrap())
            .to_vec();
    let mut authenticator =
        Authenticator::new(SoftKey::es256([8; 32])).with_extension_outputs(outputs);
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let options = block_on(passkeys.start_registration(&alice, &user, Scope::Exchange)).unwrap();
    let response = RegistrationResponse::from_json(
        &authenticator.registration_json(&client, &options.challenge),
    )
    .unwrap();
    let registered = block_on(passkeys.finish_registration(
        &alice,
        &response,
        &StepUp::Factors(vec![Factor::Email, Factor::Totp]),
        None,
        &RequestContext::default(),
    ))
    .unwrap();
    assert_eq!(registered.credential.cred_protect, Some(3));

    let login = |authenticator: &mut Authenticator| {
        let options =
            block_on(passkeys.start_authentication(Some(&alice), Intent::Login, None)).unwrap();
        let json = authenticator.authentication_json(
            &client,
            &options.challenge,
            &passkeys.user_handle(&alice, Scope::Exchange),
        );
        block_on(passkeys.finish_authentication(
            &AuthenticationResponse::from_json(&json).unwrap(),
            None,
            &[],
            &RequestContext::default(),
        ))
    };
    // Login prefers UV but does not require it; this passkey does.
    authenticator.set_flags(Flags::USER_PRESENT);
    let err = login(&mut authenticator).unwrap_err();
    assert_eq!(err.code(), "user_verification_required");
    authenticator.set_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED);
    login(&mut authenticator).unwrap();
}

#[test]
fn a_relying_party_can_request_and_enforce_cred_protect() {
    use latchkey::verify::CredProtect;
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .cred_protect(CredProtect::UserVerificationRequired)
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let alice = AccountId::new("alice");
    let client = Client::new("example.com", "https://example.com");
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let register = |authenticator: &Authenticator| {
        let options =
            block_on(passkeys.start_registration(&alice, &user, Scope::Exchange)).unwrap();
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(
            json["extensions"],
            serde_json::json!({
                "credProps": true,
                "credentialProtectionPolicy": "userVerificationRequired",
                "enforceCredentialProtectionPolicy": true
            })
        );
        let response = RegistrationResponse::from_json(
            &authenticator.registration_json(&client, &options.challenge),
        )
        .unwrap();
        block_on(passkeys.finish_registration(
            &alice,
            &response,
            &StepUp::Factors(vec![Factor::Email, Factor::Totp]),
            None,
            &RequestContext::default(),
        ))
    };
    // An authenticator that ignored the request (no output) is refused, nothing stored.
    let ignored = register(&Authenticator::new(SoftKey::es256([9; 32]))).unwrap_err();
    assert_eq!(ignored.code(), "user_verification_required");
    assert!(
        block_on(passkeys.list(&alice, Scope::Exchange))
            .unwrap()
            .is_empty()
    );
    let level = |n: i128| {
        Value::Map(Map::new(vec![(Value::Text("credProtect"), Value::Integer(n))]).unwrap())
            .to_vec()
    };
    let lower = Authenticator::new(SoftKey::es256([10; 32])).with_extension_outputs(level(2));
    assert_eq!(
        register(&lower).unwrap_err().code(),
        "user_verification_required"
    );
    let applied = Authenticator::new(SoftKey::es256([11; 32])).with_extension_outputs(level(3));
    assert_eq!(register(&applied).unwrap().credential.cred_protect, Some(3));
}

/// `json` with its `clientExtensionResults` replaced.
fn with_client_results(json: &str, results: serde_json::Value) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["clientExtensionResults"] = results;
    value.to_string()
}

#[test]
fn client_extension_outputs_are_read_checked_and_never_trusted_for_security() {
    use latchkey::extensions::{LargeBlobInputs, PrfInputs, PrfValues};
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let alice = AccountId::new("alice");
    let client = Client::new("example.com", "https://example.com");
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let register = |authenticator: &Authenticator, results: serde_json::Value| {
        let options =
            block_on(passkeys.start_registration(&alice, &user, Scope::Exchange)).unwrap();
        let json = with_client_results(
            &authenticator.registration_json(&client, &options.challenge),
            results,
        );
        block_on(passkeys.finish_registration(
            &alice,
            &RegistrationResponse::from_json(&json)?,
            &StepUp::Factors(vec![Factor::Email, Factor::Totp]),
            None,
            &RequestContext::default(),
        ))
    };
    let hmac_secret = |on: bool| {
        Value::Map(Map::new(vec![(Value::Text("hmac-secret"), Value::Bool(on))]).unwrap()).to_vec()
    };

    // Malformed known members are refused; nothing is stored.
    for bad in [
        serde_json::json!({"credProps": {"rk": "yes"}}),
        serde_json::json!({"prf": {"enabled": 1}}),
        serde_json::json!({"largeBlob": {"blob": "not base64url!"}}),
        serde_json::json!({"largeBlob": {"blob": "A".repeat(100_000)}}),
    ] {
        let err = register(&Authenticator::new(SoftKey::es256([20; 32])), bad.clone()).unwrap_err();
        assert_eq!(err.code(), "malformed", "{bad}");
    }
    // A client claiming PRF for a credential whose authenticator signed hmac-secret off.
    let off =
        Authenticator::new(SoftKey::es256([21; 32])).with_extension_outputs(hmac_secret(false));
    let err = register(&off, serde_json::json!({"prf": {"enabled": true}})).unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert!(
        block_on(passkeys.list(&alice, Scope::Exchange))
            .unwrap()
            .is_empty()
    );

    // Consistent outputs are reported; unknown members are ignored.
    let mut on =
        Authenticator::new(SoftKey::es256([22; 32])).with_extension_outputs(hmac_secret(true));
    let registered = register(
        &on,
        serde_json::json!({
            "credProps": {"rk": true},
            "prf": {"enabled": true},
            "largeBlob": {"supported": true},
            "someFutureExtension": {"x": 1}
        }),
    )
    .unwrap();
    let outputs = &registered.client_extensions;
    assert_eq!(outputs.discoverable, Some(true));
    assert_eq!(outputs.prf_enabled, Some(true));
    assert_eq!(outputs.large_blob_supported, Some(true));

    // An authentication asking for a PRF output and the blob.
    let mut options =
        block_on(passkeys.start_authentication(Some(&alice), Intent::Login, None)).unwrap();
    options.extensions.prf = Some(PrfInputs {
        eval: Some(PrfValues {
            first: "c2FsdA".into(),
            second: None,
        }),
    });
    options.extensions.large_blob = Some(LargeBlobInputs {
        read: Some(true),
        ..LargeBlobInputs::default()
    });
    let json = serde_json::to_value(&options).unwrap();
    assert_eq!(
        json["extensions"],
        serde_json::json!({"prf": {"eval": {"first": "c2FsdA"}}, "largeBlob": {"read": true}})
    );
    let response = with_client_results(
        &on.authentication_json(
            &client,
            &options.challenge,
            &passkeys.user_handle(&alice, Scope::Exchange),
        ),
        serde_json::json!({"prf": {"results": {"first": "AQID"}}, "largeBlob": {"blob": "BAUG"}}),
    );
    let done = block_on(passkeys.finish_authentication(
        &AuthenticationResponse::from_json(&response).unwrap(),
        None,
        &[],
        &RequestContext::default(),
    ))
    .unwrap();
    assert_eq!(
        done.client_extensions.prf_results,
        Some((vec![1, 2, 3], None))
    );
    assert_eq!(done.client_extensions.large_blob, Some(vec![4, 5, 6]));
}
