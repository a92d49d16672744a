//! Extensions through the facade: the credProtect level an authenticator applied is stored
//! with the passkey and every later login is held to it; an enforced level is requested
//! and checked; client outputs (credProps, prf, largeBlob) are read and type-checked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey::json::{
    AuthenticationResponse, CreationOptions, RegistrationResponse, RequestOptions,
};
use latchkey::{
    AccountId, Authenticated, Factor, FinishAuthentication, FinishRegistration, Intent,
    MemoryStore, Passkeys, Registered, RelyingParty, RelyingPartyBuilder, RequestContext, Scope,
    StepUp, User,
};
use latchkey_cose::Flags;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use serde_json::json;

fn rp() -> RelyingPartyBuilder {
    RelyingParty::builder("example.com", "Example").origin("https://example.com")
}

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

/// Signed extension outputs: an encoded CBOR map with one member.
fn output(name: &'static str, value: Value<'static>) -> Vec<u8> {
    Value::Map(Map::new(vec![(Value::Text(name), value)]).unwrap()).to_vec()
}

/// `json` with its `clientExtensionResults` replaced.
fn with_client_results(json: &str, results: serde_json::Value) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    value["clientExtensionResults"] = results;
    value.to_string()
}

/// Registers an Exchange passkey for Alice; `inspect` sees the options, `edit` may change
/// the response JSON.
fn register(
    passkeys: &Passkeys<MemoryStore>,
    authenticator: &Authenticator,
    inspect: impl FnOnce(&CreationOptions),
    edit: impl FnOnce(String) -> String,
) -> latchkey::Result<Registered> {
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options =
        block_on(passkeys.start_registration(&alice(), &user, Scope::Exchange, &step_up))?;
    inspect(&options);
    let json = edit(authenticator.registration_json(&client(), &options.challenge));
    block_on(passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &RegistrationResponse::from_json(&json)?,
        &step_up,
        &RequestContext::default(),
    )))
}

/// Alice logs in; `prepare` may change the options first, `edit` the response JSON.
fn login(
    passkeys: &Passkeys<MemoryStore>,
    authenticator: &mut Authenticator,
    prepare: impl FnOnce(&mut RequestOptions),
    edit: impl FnOnce(String) -> String,
) -> latchkey::Result<Authenticated> {
    let mut options = block_on(passkeys.start_authentication(&alice(), Intent::Login, None))?;
    prepare(&mut options);
    let json = edit(authenticator.authentication_json(
        &client(),
        &options.challenge,
        &passkeys.user_handle(&alice(), Scope::Exchange),
    ));
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &AuthenticationResponse::from_json(&json)?,
        &RequestContext::default(),
    )))
}

fn nothing_stored(passkeys: &Passkeys<MemoryStore>) -> bool {
    block_on(passkeys.list(&alice(), Scope::Exchange))
        .unwrap()
        .is_empty()
}

#[test]
fn a_cred_protect_level_is_stored_and_enforced_at_login() {
    let passkeys = Passkeys::new(rp().build().unwrap(), MemoryStore::new());
    let mut authenticator = Authenticator::new(SoftKey::es256([8; 32]))
        .with_extension_outputs(output("credProtect", Value::Integer(3)));
    let registered = register(&passkeys, &authenticator, |_| {}, |json| json).unwrap();
    assert_eq!(registered.credential.cred_protect, Some(3));

    // Login prefers UV but does not require it; this passkey does.
    authenticator.set_flags(Flags::USER_PRESENT);
    let err = login(&passkeys, &mut authenticator, |_| {}, |json| json).unwrap_err();
    assert_eq!(err.code(), "user_verification_required");
    authenticator.set_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED);
    login(&passkeys, &mut authenticator, |_| {}, |json| json).unwrap();
}

#[test]
fn a_relying_party_can_request_and_enforce_cred_protect() {
    use latchkey::verify::CredProtect;
    let rp = rp()
        .cred_protect(CredProtect::UserVerificationRequired)
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let requested = |options: &CreationOptions| {
        assert_eq!(
            serde_json::to_value(options).unwrap()["extensions"],
            json!({
                "credProps": true,
                "credentialProtectionPolicy": "userVerificationRequired",
                "enforceCredentialProtectionPolicy": true
            })
        );
    };
    let register =
        |authenticator: &Authenticator| register(&passkeys, authenticator, requested, |json| json);
    // An authenticator that ignored the request (no output) is refused, nothing stored.
    let ignored = register(&Authenticator::new(SoftKey::es256([9; 32]))).unwrap_err();
    assert_eq!(ignored.code(), "user_verification_required");
    assert!(nothing_stored(&passkeys));
    let level = |n: i128| output("credProtect", Value::Integer(n));
    let lower = Authenticator::new(SoftKey::es256([10; 32])).with_extension_outputs(level(2));
    assert_eq!(
        register(&lower).unwrap_err().code(),
        "user_verification_required"
    );
    let applied = Authenticator::new(SoftKey::es256([11; 32])).with_extension_outputs(level(3));
    assert_eq!(register(&applied).unwrap().credential.cred_protect, Some(3));
}

#[test]
fn client_extension_outputs_are_read_checked_and_never_trusted_for_security() {
    use latchkey::extensions::{LargeBlobInputs, PrfInputs, PrfValues};
    let passkeys = Passkeys::new(rp().build().unwrap(), MemoryStore::new());
    let register = |authenticator: &Authenticator, results: serde_json::Value| {
        register(
            &passkeys,
            authenticator,
            |_| {},
            |json| with_client_results(&json, results),
        )
    };
    let hmac_secret = |on: bool| output("hmac-secret", Value::Bool(on));

    // Malformed known members are refused; nothing is stored.
    for bad in [
        json!({"credProps": {"rk": "yes"}}),
        json!({"prf": {"enabled": 1}}),
        json!({"largeBlob": {"blob": "not base64url!"}}),
        json!({"largeBlob": {"blob": "A".repeat(100_000)}}),
    ] {
        let err = register(&Authenticator::new(SoftKey::es256([20; 32])), bad.clone()).unwrap_err();
        assert_eq!(err.code(), "malformed", "{bad}");
    }
    // A client claiming PRF for a credential whose authenticator signed hmac-secret off.
    let off =
        Authenticator::new(SoftKey::es256([21; 32])).with_extension_outputs(hmac_secret(false));
    let err = register(&off, json!({"prf": {"enabled": true}})).unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert!(nothing_stored(&passkeys));

    // Consistent outputs are reported; unknown members are ignored.
    let mut on =
        Authenticator::new(SoftKey::es256([22; 32])).with_extension_outputs(hmac_secret(true));
    let registered = register(
        &on,
        json!({
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
    let ask = |options: &mut RequestOptions| {
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
        assert_eq!(
            serde_json::to_value(&*options).unwrap()["extensions"],
            json!({"prf": {"eval": {"first": "c2FsdA"}}, "largeBlob": {"read": true}})
        );
    };
    let answer = |json: String| {
        with_client_results(
            &json,
            json!({"prf": {"results": {"first": "AQID"}}, "largeBlob": {"blob": "BAUG"}}),
        )
    };
    let done = login(&passkeys, &mut on, ask, answer).unwrap();
    assert_eq!(
        done.client_extensions.prf_results,
        Some((vec![1, 2, 3], None))
    );
    assert_eq!(done.client_extensions.large_blob, Some(vec![4, 5, 6]));
}
