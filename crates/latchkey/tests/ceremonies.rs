//! The facade's ceremonies through the public API: options, challenge binding and
//! single use, discoverable login, step-up proofs, receipts, Signal payloads, and the
//! minimum-one rule under concurrent requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::thread;

use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64};
use latchkey::store::conformance::block_on;
use latchkey::{
    AccountId, Factor, Intent, ManualClock, MemoryStore, Passkeys, RelyingParty, RequestContext,
    Scope, StepUp, Timestamp, User,
};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};

const T0: Timestamp = Timestamp(1_767_225_600);

struct World {
    passkeys: Passkeys<MemoryStore>,
    clock: Arc<ManualClock>,
    client: Client,
    context: RequestContext,
}

fn world() -> World {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    World {
        passkeys: Passkeys::new(rp, MemoryStore::new()).with_clock(clock.clone()),
        clock,
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    }
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        display_name: name.into(),
    }
}

impl World {
    fn register(
        &self,
        account: &AccountId,
        authenticator: &Authenticator,
        scope: Scope,
        step_up: StepUp,
    ) -> latchkey::Result<latchkey::Registered> {
        let options = block_on(self.passkeys.start_registration(
            account,
            &user(account.as_str()),
            scope,
        ))?;
        let response = RegistrationResponse::from_json(
            &authenticator.registration_json(&self.client, &options.challenge),
        )?;
        block_on(self.passkeys.finish_registration(
            account,
            &response,
            &step_up,
            None,
            &self.context,
        ))
    }

    fn authenticate(
        &self,
        account: Option<&AccountId>,
        authenticator: &mut Authenticator,
        intent: Intent,
        transaction: Option<&[u8]>,
    ) -> latchkey::Result<latchkey::Authenticated> {
        let options = block_on(
            self.passkeys
                .start_authentication(account, intent, transaction),
        )?;
        let owner = account.cloned().unwrap_or_else(|| AccountId::new("alice"));
        let json = authenticator.authentication_json(
            &self.client,
            &options.challenge,
            &self.passkeys.user_handle(
                &owner,
                if intent == Intent::PaySign {
                    Scope::Pay
                } else {
                    Scope::Exchange
                },
            ),
        );
        block_on(self.passkeys.finish_authentication(
            &AuthenticationResponse::from_json(&json)?,
            transaction,
            &[],
            &self.context,
        ))
    }
}

fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

#[test]
fn options_are_webauthn_json() {
    let w = world();
    let alice = AccountId::new("alice");
    let exchange = Authenticator::new(SoftKey::es256([1; 32]));
    w.register(&alice, &exchange, Scope::Exchange, factors())
        .unwrap();
    let pay = Authenticator::new(SoftKey::eddsa([2; 32]));
    w.register(&alice, &pay, Scope::Pay, factors()).unwrap();

    let creation = block_on(
        w.passkeys
            .start_registration(&alice, &user("alice"), Scope::Exchange),
    )
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
    let login = block_on(
        w.passkeys
            .start_authentication(Some(&alice), Intent::Login, None),
    )
    .unwrap();
    assert_eq!(login.allow_credentials.len(), 1);
    assert_eq!(login.user_verification, "preferred");
    let pay_sign = block_on(w.passkeys.start_authentication(
        Some(&alice),
        Intent::PaySign,
        Some(b"tx"),
    ))
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
                .start_authentication(Some(&alice), Intent::PaySign, None)
        )
        .unwrap_err()
        .code(),
        "malformed"
    );
    assert_eq!(
        block_on(
            w.passkeys
                .start_authentication(Some(&alice), Intent::Login, Some(b"x"))
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
    let options = block_on(
        w.passkeys
            .start_registration(&alice, &user("alice"), Scope::Exchange),
    )
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
    let login = block_on(
        w.passkeys
            .start_authentication(Some(&alice), Intent::Login, None),
    )
    .unwrap();
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
    let options = block_on(
        w.passkeys
            .start_authentication(Some(&alice), Intent::Login, None),
    )
    .unwrap();
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
    let done = w.authenticate(None, &mut key, Intent::Login, None).unwrap();
    assert_eq!(done.account, alice);
    // Without a user handle, or with another account's (C.135).
    for handle in [
        None,
        Some(
            w.passkeys
                .user_handle(&AccountId::new("mallory"), Scope::Exchange),
        ),
    ] {
        let options = block_on(w.passkeys.start_authentication(None, Intent::Login, None)).unwrap();
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
    }
    assert_eq!(
        w.passkeys.signal_unknown_credential("abc").credential_id,
        "abc"
    );
}

#[test]
fn response_json_is_checked() {
    let w = world();
    let alice = AccountId::new("alice");
    let key = Authenticator::new(SoftKey::es256([1; 32]));
    let options = block_on(
        w.passkeys
            .start_registration(&alice, &user("alice"), Scope::Exchange),
    )
    .unwrap();
    let good: serde_json::Value =
        serde_json::from_str(&key.registration_json(&w.client, &options.challenge)).unwrap();
    for (member, value) in [
        ("rawId", "AAAA"),
        ("type", "password"),
        ("id", "not base64!"),
    ] {
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
fn receipts_reverify_offline() {
    let w = world();
    let alice = AccountId::new("alice");
    let mut pay = Authenticator::new(SoftKey::eddsa([2; 32]));
    w.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    let transaction = b"pay 25.00 USDT to merchant 771";
    let done = w
        .authenticate(Some(&alice), &mut pay, Intent::PaySign, Some(transaction))
        .unwrap();
    let receipt = done.receipt.expect("signing intents return a receipt");
    receipt.verify(Some(transaction)).unwrap();
    receipt.verify(None).unwrap();
    // It proves this transaction and no other; and every field is covered.
    assert_eq!(
        receipt
            .verify(Some(b"pay 2500.00 USDT to merchant 771"))
            .unwrap_err()
            .code(),
        "challenge_mismatch"
    );
    let json = serde_json::to_string(&receipt).unwrap();
    let back: latchkey::ApprovalReceipt = serde_json::from_str(&json).unwrap();
    assert_eq!(back, receipt);
    let mut forged = receipt.clone();
    forged.transaction_digest = b64(&[0; 32]);
    assert!(forged.verify(None).is_err());
    let mut forged = receipt.clone();
    forged.rp_id = "evil.example".into();
    assert!(forged.verify(None).is_err());
    let mut forged = receipt;
    forged.public_key = b64(SoftKey::eddsa([9; 32]).public_key().as_cose_bytes());
    assert_eq!(forged.verify(None).unwrap_err().code(), "signature_invalid");
}

#[test]
fn step_up_proofs_are_fresh_and_personal() {
    let w = world();
    let (alice, bob) = (AccountId::new("alice"), AccountId::new("bob"));
    let mut a1 = Authenticator::new(SoftKey::es256([1; 32]));
    w.register(&alice, &a1, Scope::Exchange, factors()).unwrap();
    w.register(
        &bob,
        &Authenticator::new(SoftKey::es256([5; 32])),
        Scope::Exchange,
        factors(),
    )
    .unwrap();
    let proof = w
        .authenticate(Some(&alice), &mut a1, Intent::SecurityChange, None)
        .unwrap()
        .step_up
        .unwrap();
    // Not Bob's to use.
    let a2 = Authenticator::new(SoftKey::es256([2; 32]));
    let err = w
        .register(&bob, &a2, Scope::Exchange, StepUp::Passkey(proof.clone()))
        .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    // Stale after the challenge lifetime.
    w.clock.set(T0.plus_seconds(301));
    let err = w
        .register(&alice, &a2, Scope::Exchange, StepUp::Passkey(proof))
        .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let proof = w
        .authenticate(Some(&alice), &mut a1, Intent::SecurityChange, None)
        .unwrap()
        .step_up
        .unwrap();
    assert_eq!(proof.credential().as_bytes(), a1.credential_id());
    w.register(&alice, &a2, Scope::Exchange, StepUp::Passkey(proof))
        .unwrap();
    // Deleting returns what the client should keep (P13).
    let signal = block_on(w.passkeys.delete(
        &alice,
        &latchkey::CredentialId::new(a2.credential_id().to_vec()),
        &factors(),
        &w.context,
    ))
    .unwrap();
    assert_eq!(
        signal.all_accepted_credential_ids,
        [b64(a1.credential_id())]
    );
    assert_eq!(block_on(w.passkeys.history(&alice)).unwrap().len(), 6);
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
fn receipts_in_bulk_match_one_by_one() {
    // P10 audit: many receipts at once; Ed25519 ones in a batch. A forged receipt is named,
    // and does not taint the others.
    let w = world();
    let alice = AccountId::new("alice");
    let mut eddsa = Authenticator::new(SoftKey::eddsa([2; 32]));
    w.register(&alice, &eddsa, Scope::Pay, factors()).unwrap();
    let mut es256 = Authenticator::new(SoftKey::es256([3; 32]));
    w.register(&alice, &es256, Scope::Pay, factors()).unwrap();
    let mut receipts = Vec::new();
    for n in 0..6 {
        let transaction = format!("pay {n}.00 USDT to merchant 771");
        let key = if n == 3 { &mut es256 } else { &mut eddsa };
        let done = w
            .authenticate(
                Some(&alice),
                key,
                Intent::PaySign,
                Some(transaction.as_bytes()),
            )
            .unwrap();
        receipts.push(done.receipt.unwrap());
    }
    let all = latchkey::verify_receipts(&receipts);
    assert!(all.iter().all(Result::is_ok), "{all:?}");

    let mut tampered = receipts.clone();
    tampered[1].signature = tampered[2].signature.clone(); // a valid signature, over another receipt
    tampered[4].rp_id = "evil.example".into();
    let verdicts = latchkey::verify_receipts(&tampered);
    let one_by_one: Vec<_> = tampered
        .iter()
        .map(|r| r.verify(None).map_err(|e| e.code()))
        .collect();
    assert_eq!(
        verdicts
            .iter()
            .map(|r| r.as_ref().map_err(latchkey::Error::code).copied())
            .collect::<Vec<_>>(),
        one_by_one
    );
    assert_eq!(one_by_one[1], Err("signature_invalid"));
    assert_eq!(one_by_one[4], Err("rp_id_mismatch"));
    assert_eq!(one_by_one.iter().filter(|r| r.is_ok()).count(), 4);
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
        block_on(passkeys.start_registration(&alice, &user("alice"), Scope::Exchange)).unwrap();
    assert_eq!(creation.hints, ["client-device", "hybrid"]);
    let request = block_on(passkeys.start_authentication(None, Intent::Login, None)).unwrap();
    assert_eq!(request.hints, ["client-device", "hybrid"]);
    assert!(request.allow_credentials.is_empty());
    assert_eq!(request.user_verification, "preferred");
}
