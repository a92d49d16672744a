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

use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64};
use latchkey::{AccountId, Intent, MemoryStore, Passkeys, RelyingParty, Scope};
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
    assert_eq!(login.user_verification, "preferred");
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
    // Signing intents need a transaction; others must not have one.
    assert_eq!(
        block_on(
            w.passkeys
                .start_authentication(&alice, Intent::PaySign, None)
        )
        .unwrap_err()
        .code(),
        "malformed"
    );
    assert_eq!(
        block_on(
            w.passkeys
                .start_authentication(&alice, Intent::Login, Some(b"x"))
        )
        .unwrap_err()
        .code(),
        "malformed"
    );
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
    let err =
        block_on(
            w.passkeys
                .finish_registration(&bob, &response, &factors(), None, &w.context),
        )
        .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    // ...and it is gone now, even though it failed.
    let err =
        block_on(
            w.passkeys
                .finish_registration(&alice, &response, &factors(), None, &w.context),
        )
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
    let err =
        block_on(
            w.passkeys
                .finish_registration(&alice, &response, &factors(), None, &w.context),
        )
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
            .finish_authentication(&response, None, &[], &w.context),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_expired");
    // A replay meanwhile is recognised as one; once purged, the challenge is unknown.
    let err = block_on(
        w.passkeys
            .finish_authentication(&response, None, &[], &w.context),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_reused");
    assert!(block_on(w.passkeys.purge_expired_challenges()).unwrap() >= 1);
    let err = block_on(
        w.passkeys
            .finish_authentication(&response, None, &[], &w.context),
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
            .finish_authentication(&response, None, &[], &w.context),
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
                .finish_authentication(&response, None, &[], &w.context),
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
        let err = block_on(w.passkeys.finish_registration(
            &alice,
            &response,
            &factors(),
            None,
            &w.context,
        ))
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
        .hints(&["client-device", "hybrid"])
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let alice = AccountId::new("alice");
    let creation =
        block_on(passkeys.start_registration(&alice, &user("alice"), Scope::Exchange, &factors()))
            .unwrap();
    assert_eq!(creation.hints, ["client-device", "hybrid"]);
    let request = block_on(passkeys.start_login(None)).unwrap();
    assert_eq!(request.hints, ["client-device", "hybrid"]);
    assert!(request.allow_credentials.is_empty());
    assert_eq!(request.user_verification, "preferred");
}
