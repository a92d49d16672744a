//! Extension outputs through the facade: the credProtect level an authenticator applied is
//! stored with the passkey and every later login is held to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
