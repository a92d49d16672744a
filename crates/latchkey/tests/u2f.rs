//! Moving from U2F: credentials imported with their AppID log in through the `appid`
//! extension, registrations ask for `appidExclude`, and no other passkey may sign with
//! the AppID's hash (WebAuthn §10.1.1-§10.1.2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Authenticated, Factor, FinishAuthentication, FinishRegistration, Intent,
    MemoryStore, Passkeys, PolicyConfig, RelyingParty, RelyingPartyBuilder, RequestContext, Scope,
    StepUp, U2fCredential, User,
};
use latchkey_cose::Flags;
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;

const APP_ID: &str = "https://example.com/u2f/app-id.json";
const ORIGIN: &str = "https://example.com";
const KEY_HANDLE: [u8; 64] = [0x4b; 64];

fn rp() -> RelyingPartyBuilder {
    RelyingParty::builder("example.com", "Example").origin(ORIGIN)
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

/// A security key enrolled through U2F: its key handle, and the record the U2F service
/// kept (the 65-byte public point).
fn security_key() -> (Authenticator, U2fCredential) {
    let key = SoftKey::es256([0x31; 32]);
    let point = key.uncompressed_point().unwrap();
    let record = U2fCredential::new(&KEY_HANDLE, &point, APP_ID).unwrap();
    let authenticator = Authenticator::new(key)
        .with_credential_id(KEY_HANDLE.to_vec())
        .with_flags(Flags::USER_PRESENT)
        .with_sign_count(Some(41));
    (authenticator, record)
}

fn import(passkeys: &Passkeys<MemoryStore>, record: &U2fCredential) -> latchkey::Result<()> {
    block_on(passkeys.import_u2f(
        &alice(),
        Scope::Exchange,
        record,
        41,
        &factors(),
        &RequestContext::default(),
    ))
    .map(|_| ())
}

/// Alice logs in through `client` (the RP ID's, or the AppID's as a browser asked with
/// `appid` uses), answering as a U2F key does: no user handle.
fn login(
    passkeys: &Passkeys<MemoryStore>,
    authenticator: &mut Authenticator,
    client: &Client,
) -> latchkey::Result<Authenticated> {
    let options = block_on(passkeys.start_authentication(&alice(), Intent::Login, None))?;
    let json = authenticator.authentication_json(client, &options.challenge, &[]);
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["response"]["userHandle"] = serde_json::Value::Null;
    value["clientExtensionResults"] = serde_json::json!({ "appid": true });
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &AuthenticationResponse::from_json(&value.to_string())?,
        &RequestContext::default(),
    )))
}

#[test]
fn an_imported_u2f_key_logs_in_under_its_app_id() {
    let passkeys = Passkeys::new(rp().app_id(APP_ID).build().unwrap(), MemoryStore::new());
    let (mut authenticator, record) = security_key();
    import(&passkeys, &record).unwrap();
    let stored = block_on(passkeys.list(&alice(), Scope::Exchange)).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].app_id.as_deref(), Some(APP_ID));
    assert_eq!(stored[0].sign_count, 41);

    // Offering it asks for `appid`; the browser signs with the AppID's hash.
    let options = block_on(passkeys.start_authentication(&alice(), Intent::Login, None)).unwrap();
    assert_eq!(options.extensions.appid.as_deref(), Some(APP_ID));
    let json = serde_json::to_value(&options).unwrap();
    assert_eq!(json["extensions"]["appid"], APP_ID);
    let done = login(&passkeys, &mut authenticator, &Client::new(APP_ID, ORIGIN)).unwrap();
    assert_eq!(done.credential.as_bytes(), KEY_HANDLE);
    assert_eq!(done.client_extensions.appid, Some(true));
    let stored = block_on(passkeys.list(&alice(), Scope::Exchange)).unwrap();
    assert_eq!(stored[0].sign_count, 42);

    // Registrations exclude it, also through the AppID (`appidExclude`).
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let options =
        block_on(passkeys.start_registration(&alice(), &user, Scope::Exchange, &factors()))
            .unwrap();
    assert_eq!(options.extensions.appid_exclude.as_deref(), Some(APP_ID));
    assert_eq!(options.exclude_credentials.len(), 1);
    let json = serde_json::to_value(&options).unwrap();
    assert_eq!(json["extensions"]["appidExclude"], APP_ID);
}

#[test]
fn only_imported_credentials_may_sign_with_the_app_id_hash() {
    let passkeys = Passkeys::new(rp().app_id(APP_ID).build().unwrap(), MemoryStore::new());
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    // A passkey registered through WebAuthn, whose authenticator answers for the AppID.
    let client = Client::new("example.com", ORIGIN);
    let mut authenticator = Authenticator::new(SoftKey::es256([0x32; 32]));
    let options =
        block_on(passkeys.start_registration(&alice(), &user, Scope::Exchange, &factors()))
            .unwrap();
    let json = authenticator.registration_json(&client, &options.challenge);
    block_on(passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &RegistrationResponse::from_json(&json).unwrap(),
        &factors(),
        &RequestContext::default(),
    )))
    .unwrap();
    let options = block_on(passkeys.start_authentication(&alice(), Intent::Login, None)).unwrap();
    assert_eq!(
        options.extensions.appid, None,
        "no imported passkey is offered"
    );
    let err = login(&passkeys, &mut authenticator, &Client::new(APP_ID, ORIGIN)).unwrap_err();
    assert_eq!(err.code(), "rp_id_mismatch");
    login(&passkeys, &mut authenticator, &client).unwrap();
}

#[test]
fn imports_follow_the_configuration_and_the_policy() {
    let (_, record) = security_key();
    // No AppID configured, or another one: the imported key could never be asked for.
    for rp in [rp(), rp().app_id("https://example.com/other-app-id.json")] {
        let passkeys = Passkeys::new(rp.build().unwrap(), MemoryStore::new());
        let err = import(&passkeys, &record).unwrap_err();
        assert_eq!(err.code(), "internal", "{err}");
    }
    assert!(
        rp().app_id("http://example.com/app-id.json")
            .build()
            .is_err()
    );

    // A scope that requires a trusted attestation: a U2F record carries none.
    let mut policy = PolicyConfig::default();
    policy.trusted_attestation.push(Scope::Exchange);
    let passkeys =
        Passkeys::new(rp().app_id(APP_ID).build().unwrap(), MemoryStore::new()).with_policy(policy);
    assert_eq!(
        import(&passkeys, &record).unwrap_err().code(),
        "attestation_untrusted"
    );

    // The first passkey of a scope needs the service's factors (P7); one owner per
    // credential (P15).
    let passkeys = Passkeys::new(rp().app_id(APP_ID).build().unwrap(), MemoryStore::new());
    let err = block_on(passkeys.import_u2f(
        &alice(),
        Scope::Exchange,
        &record,
        0,
        &StepUp::None,
        &RequestContext::default(),
    ))
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    import(&passkeys, &record).unwrap();
    let err = block_on(passkeys.import_u2f(
        &AccountId::new("bob"),
        Scope::Exchange,
        &record,
        0,
        &factors(),
        &RequestContext::default(),
    ))
    .unwrap_err();
    assert_eq!(err.code(), "duplicate_credential");
}
