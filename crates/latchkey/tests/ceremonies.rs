//! The facade's ceremonies through the public API: options, challenge binding and
//! single use, discoverable login, response JSON, and the minimum-one rule under
//! concurrent requests. Attacks on the policy are in `attacks.rs`, receipts in
//! `receipts.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::thread;

use latchkey::json::{
    AuthenticationResponse, Hint, RegistrationResponse, UserVerificationRequirement, b64,
};
use latchkey::{
    AccountId, ErrorKind, FinishAuthentication, FinishRegistration, FinishReplacement, Intent,
    MemoryStore, Passkeys, RelyingParty, Scope,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, factors, user, world};

#[test]
fn options_are_webauthn_json() {
    let w = world();
    let alice = AccountId::new("alice");
    let exchange = Authenticator::new(SoftKey::es256([1; 32]));
    w.register(&alice, &exchange, Scope::Exchange, factors())
        .unwrap();
    let pay = Authenticator::new(SoftKey::eddsa([2; 32]));
    w.register(&alice, &pay, Scope::Pay, factors()).unwrap();

    let creation = block_on(w.passkeys.start_registration(
        &alice,
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let json = serde_json::to_value(&creation).unwrap();
    for member in [
        "rp",
        "user",
        "challenge",
        "pubKeyCredParams",
        "timeout",
        "excludeCredentials",
        "authenticatorSelection",
        "attestation",
    ] {
        assert!(json.get(member).is_some(), "{member}");
    }
    assert_eq!(
        json["pubKeyCredParams"][0],
        serde_json::json!({"type": "public-key", "alg": -7})
    );
    assert_eq!(
        json["user"]["id"],
        b64(&w.passkeys.user_handle(&alice, Scope::Exchange))
    );
    assert_eq!(
        json["authenticatorSelection"]["userVerification"],
        "required"
    );
    // Only the scope's passkeys are excluded; only the intent's are allowed.
    assert_eq!(creation.exclude_credentials.len(), 1);
    assert_eq!(
        creation.exclude_credentials[0].id,
        b64(exchange.credential_id())
    );
    let login = block_on(w.passkeys.start_authentication(&alice, Intent::Login, None)).unwrap();
    assert_eq!(login.allow_credentials.len(), 1);
    assert_eq!(
        login.user_verification,
        UserVerificationRequirement::Preferred
    );
    let pay_sign = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::PaySign, Some(b"tx")),
    )
    .unwrap();
    assert_eq!(pay_sign.allow_credentials[0].id, b64(pay.credential_id()));
    let value = serde_json::to_value(&pay_sign).unwrap();
    assert!(value.get("rpId").is_some() && value.get("allowCredentials").is_some());
    // 32 random bytes, plus the transaction digest for signing intents (P10, P16).
    assert_eq!(
        latchkey::json::unb64(&login.challenge, "c").unwrap().len(),
        32
    );
    assert_eq!(
        latchkey::json::unb64(&pay_sign.challenge, "c")
            .unwrap()
            .len(),
        64
    );
    // Signing intents need a transaction; others must not have one. That is the
    // service's call, not the client's input: `internal`, never `malformed`.
    for (intent, transaction) in [(Intent::PaySign, None), (Intent::Login, Some(&b"x"[..]))] {
        let err =
            block_on(w.passkeys.start_authentication(&alice, intent, transaction)).unwrap_err();
        assert_eq!((err.code(), err.kind()), ("internal", ErrorKind::Internal));
    }
}

#[test]
fn challenges_are_bound_to_their_ceremony() {
    let w = world();
    let (alice, bob) = (AccountId::new("alice"), AccountId::new("bob"));
    let key = Authenticator::new(SoftKey::es256([1; 32]));
    // A registration challenge issued for Alice, answered for Bob.
    let options = block_on(w.passkeys.start_registration(
        &alice,
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&key.registration_json(&w.client, &options.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &bob,
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    // ...and it is gone now, even though it failed.
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice,
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_reused");

    // An authentication challenge cannot finish a registration.
    let mut key = Authenticator::new(SoftKey::es256([3; 32]));
    w.register(&alice, &key, Scope::Exchange, factors())
        .unwrap();
    let login = block_on(w.passkeys.start_authentication(&alice, Intent::Login, None)).unwrap();
    let response =
        RegistrationResponse::from_json(&key.registration_json(&w.client, &login.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice,
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    // Expiry (P16): five minutes by default.
    let options = block_on(w.passkeys.start_authentication(&alice, Intent::Login, None)).unwrap();
    w.clock.set(T0.plus_seconds(301));
    let json = key.authentication_json(
        &w.client,
        &options.challenge,
        &w.passkeys.user_handle(&alice, Scope::Exchange),
    );
    let response = AuthenticationResponse::from_json(&json).unwrap();
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_expired");
    // A replay meanwhile is recognised as one; once purged, the challenge is unknown.
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_reused");
    assert!(block_on(w.passkeys.purge_expired_challenges()).unwrap() >= 1);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
}

#[test]
fn discoverable_login_needs_the_right_user_handle() {
    let w = world();
    let alice = AccountId::new("alice");
    let mut key = Authenticator::new(SoftKey::es256([1; 32]));
    w.register(&alice, &key, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut key, &options.challenge, &alice, Scope::Exchange);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    assert_eq!(done.account, alice);
    assert_eq!((done.scope, done.intent), (Scope::Exchange, Intent::Login));
    // Without a user handle, or with another account's (C.135).
    for handle in [
        None,
        Some(
            w.passkeys
                .user_handle(&AccountId::new("mallory"), Scope::Exchange),
        ),
    ] {
        let options = block_on(w.passkeys.start_login(None)).unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&key.authentication_json(&w.client, &options.challenge, &[]))
                .unwrap();
        json["response"]["userHandle"] = handle.map_or(serde_json::Value::Null, |h| {
            serde_json::Value::String(b64(&h))
        });
        let response = AuthenticationResponse::from_json(&json.to_string()).unwrap();
        let err = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "unknown_credential");
        // The passkey is valid: the client must not be told to delete it (P13).
        assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    }
}

#[test]
fn response_json_is_checked() {
    let w = world();
    let alice = AccountId::new("alice");
    let key = Authenticator::new(SoftKey::es256([1; 32]));
    for (member, value) in [
        ("rawId", "AAAA"),
        ("type", "password"),
        ("id", "not base64!"),
    ] {
        // Each on a challenge of its own: the first use consumes it (P16).
        let options = block_on(w.passkeys.start_registration(
            &alice,
            &user("alice"),
            Scope::Exchange,
            &factors(),
        ))
        .unwrap();
        let good: serde_json::Value =
            serde_json::from_str(&key.registration_json(&w.client, &options.challenge)).unwrap();
        let mut bad = good.clone();
        bad[member] = value.into();
        let response = RegistrationResponse::from_json(&bad.to_string()).unwrap();
        let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice,
            &response,
            &factors(),
            &w.context,
        )))
        .unwrap_err();
        assert_eq!(err.code(), "malformed", "{member}");
    }
    assert_eq!(
        RegistrationResponse::from_json("{}").unwrap_err().code(),
        "malformed"
    );
}

#[test]
fn concurrent_deletes_keep_one_passkey() {
    // P3 through the facade: eight requests delete eight passkeys of one account at once.
    let w = Arc::new(world());
    let alice = AccountId::new("alice");
    let keys: Vec<Authenticator> = (1..=8u8)
        .map(|n| Authenticator::new(SoftKey::es256([n; 32])))
        .collect();
    w.register(&alice, &keys[0], Scope::Exchange, factors())
        .unwrap();
    for key in &keys[1..] {
        w.register(&alice, key, Scope::Exchange, factors()).unwrap();
    }
    let deleters: Vec<_> = keys
        .iter()
        .map(|key| {
            let (w, alice) = (Arc::clone(&w), alice.clone());
            let id = latchkey::CredentialId::new(key.credential_id().to_vec());
            thread::spawn(move || {
                block_on(w.passkeys.delete(&alice, &id, &factors(), &w.context))
                    .map_err(|e| e.code())
            })
        })
        .collect();
    let results: Vec<_> = deleters.into_iter().map(|d| d.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 7);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|code| *code == "last_passkey")
    );
    assert_eq!(
        block_on(w.passkeys.list(&alice, Scope::Exchange))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn hints_and_conditional_login_options() {
    // Hints reach both options objects; a usernameless login (also what conditional
    // mediation, `mediation: "conditional"` in the browser, uses) allows any passkey.
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .hints(&[Hint::ClientDevice, Hint::Hybrid])
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let alice = AccountId::new("alice");
    let creation =
        block_on(passkeys.start_registration(&alice, &user("alice"), Scope::Exchange, &factors()))
            .unwrap();
    assert_eq!(creation.hints, [Hint::ClientDevice, Hint::Hybrid]);
    let request = block_on(passkeys.start_login(None)).unwrap();
    assert_eq!(request.hints, [Hint::ClientDevice, Hint::Hybrid]);
    assert!(request.allow_credentials.is_empty());
    assert_eq!(
        request.user_verification,
        UserVerificationRequirement::Preferred
    );
}

#[test]
fn a_replacement_takes_a_name_like_a_registration() {
    // P4, P6: the successor is named like any new passkey; without a name it is named
    // after its provider.
    let w = world();
    let alice = AccountId::new("alice");
    let old = Authenticator::new(SoftKey::es256([41; 32]));
    w.register(&alice, &old, Scope::Exchange, factors())
        .unwrap();
    let old_id = latchkey::CredentialId::new(old.credential_id().to_vec());
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice, &user("alice"), &old_id, &factors()),
        )
        .unwrap();
    let successor = Authenticator::new(SoftKey::es256([42; 32]));
    let response = RegistrationResponse::from_json(
        &successor.registration_json(&w.client, &options.challenge),
    )
    .unwrap();
    let done = block_on(
        w.passkeys.finish_replacement(
            FinishReplacement::new(&alice, &old_id, &response, &factors(), &w.context)
                .name("Backup key"),
        ),
    )
    .unwrap();
    assert_eq!(done.credential.name, "Backup key");
}

#[test]
fn a_finish_serves_only_the_intents_and_account_its_caller_names() {
    // An endpoint for logins given a withdrawal's response, or a signed-in session given
    // another account's: refused as challenge_mismatch before the use is recorded.
    let w = world();
    let (alice, bob) = (AccountId::new("alice"), AccountId::new("bob"));
    let mut a = Authenticator::new(SoftKey::es256([51; 32]));
    let mut b = Authenticator::new(SoftKey::es256([52; 32]));
    w.register(&alice, &a, Scope::Exchange, factors()).unwrap();
    w.register(&bob, &b, Scope::Exchange, factors()).unwrap();
    let events = |account: &AccountId| {
        block_on(w.passkeys.history(account, 0, 1000))
            .unwrap()
            .events
            .len()
    };
    let before = (events(&alice), events(&bob));
    let options = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut a, &options.challenge, &alice, Scope::Exchange);
    let login_only = FinishAuthentication::new(&response, &w.context).intents(&[Intent::Login]);
    let err = block_on(w.passkeys.finish_authentication(login_only)).unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    // Bob's session, Alice's challenge; then a discoverable login by Bob's passkey.
    let options = block_on(w.passkeys.start_login(Some(&alice))).unwrap();
    let response = w.answer(&mut a, &options.challenge, &alice, Scope::Exchange);
    let as_bob = FinishAuthentication::new(&response, &w.context).account(&bob);
    let err = block_on(w.passkeys.finish_authentication(as_bob)).unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut b, &options.challenge, &bob, Scope::Exchange);
    let as_alice = FinishAuthentication::new(&response, &w.context).account(&alice);
    let err = block_on(w.passkeys.finish_authentication(as_alice)).unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    assert_eq!((events(&alice), events(&bob)), before, "nothing recorded");
    // The same calls with the right intent and account go through.
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut b, &options.challenge, &bob, Scope::Exchange);
    let right = FinishAuthentication::new(&response, &w.context)
        .intents(&[Intent::Login])
        .account(&bob);
    assert_eq!(
        block_on(w.passkeys.finish_authentication(right))
            .unwrap()
            .account,
        bob
    );
}
