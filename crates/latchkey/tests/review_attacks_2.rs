//! A second security review's attacks on the facade, through its public API (the
//! implementation treated as a black box as far as possible). One test per attempt, each
//! asserting what PRODUCT.md demands: the stable error code and that nothing changed. A
//! test that passes documents a defence; a test that fails is a finding.
//!
//! Areas: approval receipts (P10), history and events (P14), rename (P6), U2F import,
//! provider classes, counters and backup state (P7, P11, P12), the withdrawal lock (P8),
//! limits (P5) and authenticator labels (P17).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use std::sync::Arc;

use latchkey::Clock as _;
use latchkey::cose::{Aaguid, Flags};
use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64};
use latchkey::policy::{ProviderClass, ProviderVerdict, Realm};
use latchkey::{
    AccountId, Actor, ApprovalReceipt, Change, Credential, CredentialId, Event, EventKind,
    FinishAuthentication, FinishRegistration, FinishReplacement, Intent, MAX_HISTORY_PAGE,
    ManualClock, MemoryStore, Passkeys, PolicyConfig, ReceiptSigner, RelyingParty, RequestContext,
    Scope, StepUp, Store, Timestamp, U2fCredential, verify_receipts,
};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use sha2::{Digest as _, Sha256};
use support::{T0, World, factors, id, relying_party, user, world};

const DAY: i64 = 24 * 60 * 60;

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn bob() -> AccountId {
    AccountId::new("bob")
}

fn list<S: Store>(w: &World<S>, account: &AccountId, scope: Scope) -> Vec<Credential> {
    block_on(w.passkeys.list(account, scope)).unwrap()
}

fn full_history<S: Store>(w: &World<S>, account: &AccountId) -> Vec<Event> {
    let mut all = Vec::new();
    let mut start = 0;
    loop {
        let page = block_on(w.passkeys.history(account, start, MAX_HISTORY_PAGE)).unwrap();
        all.extend(page.events);
        match page.next {
            Some(next) => start = next,
            None => return all,
        }
    }
}

fn with_policy(w: World, policy: PolicyConfig) -> World {
    World {
        passkeys: w.passkeys.with_policy(policy),
        ..w
    }
}

fn authorize_dex<S: Store>(w: &World<S>, account: &AccountId, authenticator: &mut Authenticator) {
    let change = Change::AuthorizeDex(id(authenticator));
    let token = w
        .step_up(
            account,
            authenticator,
            Scope::Exchange,
            Scope::Exchange,
            &change,
        )
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(account, &id(authenticator), &token, true, &w.context),
    )
    .unwrap();
}

/// Alice with DEX passkey `e1`, Exchange passkey `e2` and Pay passkey `p1`.
fn alice_with_dex(w: &World) -> (Authenticator, Authenticator, Authenticator) {
    let (mut e1, e2, p1) = (key(1), key(2), key(10));
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &e2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &p1, Scope::Pay, factors()).unwrap();
    authorize_dex(w, &alice(), &mut e1);
    (e1, e2, p1)
}

/// The service's record of a passkey: what a receipt is verified against.
fn stored<S: Store>(w: &World<S>, account: &AccountId, credential: &CredentialId) -> Credential {
    [Scope::Exchange, Scope::Pay]
        .into_iter()
        .flat_map(|scope| list(w, account, scope))
        .find(|c| &c.id == credential)
        .unwrap()
}

fn signer(record: &Credential) -> ReceiptSigner<'_> {
    record.into()
}

/// A signing intent by `authenticator`, finished with `transaction`: the receipt.
fn sign<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &mut Authenticator,
    scope: Scope,
    intent: Intent,
    transaction: &[u8],
) -> ApprovalReceipt {
    w.authenticate(account, authenticator, scope, intent, Some(transaction))
        .unwrap()
        .receipt
        .expect("a signing intent returns a receipt")
}

fn advance<S: Store>(w: &World<S>, seconds: i64) {
    w.clock.set(w.clock.now().plus_seconds(seconds));
}

fn code(result: latchkey::Result<()>) -> Result<(), &'static str> {
    result.map_err(|e| e.code())
}

// ---------------------------------------------------------------------------------------
// P10: approval receipts
// ---------------------------------------------------------------------------------------

/// P10: a receipt names its passkey by an unsigned credential id and key, and the
/// verifier takes the record from its own records by that id. Attack: re-label Alice's
/// DEX-trade receipt with her other passkey's id (or Bob's), so the verifier fetches that
/// passkey's record, or verify the untouched receipt with another passkey's record.
/// PRODUCT.md: the receipt proves that *this* passkey approved: with any other record it
/// names another passkey (`unknown_credential`), and dressed in the other passkey's id
/// and key it fails on the signature (`signature_invalid`).
#[test]
fn a_receipt_relabelled_to_another_passkey_does_not_verify_with_its_key() {
    let w = world();
    let (mut e1, e2, p1) = alice_with_dex(&w);
    let b1 = key(20);
    w.register(&bob(), &b1, Scope::Exchange, factors()).unwrap();
    let tx: &[u8] = b"buy 1 BTC at 90000 USDT";
    let receipt = sign(&w, &alice(), &mut e1, Scope::Exchange, Intent::DexTrade, tx);
    let rp = relying_party();
    let own = stored(&w, &alice(), &id(&e1));
    receipt.verify(&signer(&own), &rp, Some(tx)).unwrap();
    for (other, holder) in [(&e2, alice()), (&p1, alice()), (&b1, bob())] {
        let other_key = stored(&w, &holder, &id(other));
        let mut relabelled = receipt.clone();
        relabelled.credential_id = b64(id(other).as_bytes());
        assert_eq!(
            code(relabelled.verify(&signer(&other_key), &rp, Some(tx))),
            Err("unknown_credential")
        );
        assert_eq!(
            code(receipt.verify(&signer(&other_key), &rp, Some(tx))),
            Err("unknown_credential")
        );
        relabelled.public_key = b64(&other_key.public_key);
        relabelled.scope = other_key.scope;
        assert!(
            [Err("signature_invalid"), Err("challenge_mismatch")]
                .contains(&code(relabelled.verify(&signer(&other_key), &rp, Some(tx)))),
        );
        relabelled.scope = Scope::Exchange;
        if other_key.scope == Scope::Exchange {
            assert_eq!(
                code(relabelled.verify(&signer(&other_key), &rp, Some(tx))),
                Err("signature_invalid")
            );
        }
    }
    // In bulk, the same verdicts.
    let e2_key = stored(&w, &alice(), &id(&e2));
    let verdicts: Vec<_> = verify_receipts(
        &rp,
        &[(&receipt, signer(&own)), (&receipt, signer(&e2_key))],
    )
    .into_iter()
    .map(code)
    .collect();
    assert_eq!(verdicts, vec![Ok(()), Err("unknown_credential")]);
}

/// P10: the digest covers the intent, so a receipt proves for which purpose. Attack:
/// re-label a `dex_trade` receipt as another intent of the same scope (`dex_transfer`,
/// `withdrawal`, `security_change`, `login`), keeping the scope, account and transaction.
/// PRODUCT.md: `challenge_mismatch` for every one.
#[test]
fn a_dex_trade_receipt_is_no_receipt_of_another_exchange_intent() {
    let w = world();
    let (mut e1, _, _) = alice_with_dex(&w);
    let tx: &[u8] = b"buy 1 BTC at 90000 USDT";
    let receipt = sign(&w, &alice(), &mut e1, Scope::Exchange, Intent::DexTrade, tx);
    let rp = relying_party();
    let own = stored(&w, &alice(), &id(&e1));
    for intent in [
        Intent::DexTransfer,
        Intent::Withdrawal,
        Intent::SecurityChange,
        Intent::Login,
    ] {
        let mut relabelled = receipt.clone();
        relabelled.intent = intent;
        assert_eq!(
            code(relabelled.verify(&signer(&own), &rp, Some(tx))),
            Err("challenge_mismatch"),
            "{intent:?}"
        );
    }
    // Nor of the same intent in the Pay scope: the record says Exchange.
    let mut relabelled = receipt;
    relabelled.scope = Scope::Pay;
    assert_eq!(
        code(relabelled.verify(&signer(&own), &rp, Some(tx))),
        Err("scope_mismatch")
    );
}

/// P10: only signing intents return receipts, because only their challenges commit to a
/// transaction. Attack: take a successful login, a `withdrawal` and a passkey step-up
/// (assertions whose challenges commit to nothing) and dress each up as a receipt for any
/// scope, intent and transaction. PRODUCT.md: none verifies (`challenge_mismatch`).
#[test]
fn a_non_signing_assertion_dressed_as_a_receipt_does_not_verify() {
    let w = world();
    let (mut e1, e2, _) = alice_with_dex(&w);
    let own = stored(&w, &alice(), &id(&e1));
    let rp = relying_party();
    let tx: &[u8] = b"send 5 BTC to mallory";
    let mut assertions: Vec<AuthenticationResponse> = Vec::new();
    for intent in [Intent::Login, Intent::Withdrawal, Intent::SecurityChange] {
        let options = block_on(w.passkeys.start_authentication(&alice(), intent, None)).unwrap();
        let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
        block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap();
        assertions.push(response);
    }
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&e2)),
    ))
    .unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    assertions.push(response);
    for response in &assertions {
        for intent in Intent::ALL {
            let receipt = ApprovalReceipt {
                account: "alice".into(),
                scope: intent.scope(),
                intent,
                transaction_digest: b64(&Sha256::digest(tx)),
                credential_id: response.id.clone(),
                public_key: b64(&own.public_key),
                authenticator_data: response.response.authenticator_data.clone(),
                client_data_json: response.response.client_data_json.clone(),
                signature: response.response.signature.clone(),
                at: T0,
            };
            // Another scope than the passkey's is refused on the record first.
            let expected = if intent.scope() == own.scope {
                "challenge_mismatch"
            } else {
                "scope_mismatch"
            };
            assert_eq!(
                code(receipt.verify(&signer(&own), &rp, Some(tx))),
                Err(expected),
                "{intent:?}"
            );
        }
    }
}

/// P10 lists what a receipt holds: "credential id and public key, authenticator data,
/// clientDataJSON, signature, transaction digest, time". Attack: none; this checks the
/// facade's receipt against that list. PRODUCT.md: the receipt carries the public key
/// (a verifier still takes the key from its own records, never from the receipt).
#[test]
fn a_receipt_carries_what_product_md_lists() {
    let w = world();
    let (_, _, mut p1) = alice_with_dex(&w);
    let receipt = sign(
        &w,
        &alice(),
        &mut p1,
        Scope::Pay,
        Intent::PaySign,
        b"pay 25.00 USDT to merchant 771",
    );
    let json = serde_json::to_value(&receipt).unwrap();
    let fields: Vec<&String> = json.as_object().unwrap().keys().collect();
    for field in [
        "credentialId",
        "authenticatorData",
        "clientDataJson",
        "signature",
        "transactionDigest",
        "at",
    ] {
        assert!(
            fields.iter().any(|f| f.eq_ignore_ascii_case(field)),
            "{field} missing from {fields:?}"
        );
    }
    assert!(
        fields
            .iter()
            .any(|f| f.to_ascii_lowercase().contains("publickey")),
        "P10: the receipt holds the credential's public key; fields are {fields:?}"
    );
}

/// P10: `at` is the service's note of when it accepted the assertion; it is not signed,
/// so re-dating a receipt does not break it. This documents that the time is not
/// evidence (PRODUCT.md lists it in the receipt without saying it is bound), and that the
/// facade stamps it with its own clock.
#[test]
fn a_receipts_time_is_the_services_note_and_not_signed() {
    let w = world();
    let (_, _, mut p1) = alice_with_dex(&w);
    advance(&w, 3_600);
    let tx: &[u8] = b"pay 25.00 USDT to merchant 771";
    let receipt = sign(&w, &alice(), &mut p1, Scope::Pay, Intent::PaySign, tx);
    assert_eq!(receipt.at, T0.plus_seconds(3_600));
    let mut redated = receipt;
    redated.at = Timestamp(0);
    let own = stored(&w, &alice(), &id(&p1));
    redated
        .verify(&signer(&own), &relying_party(), Some(tx))
        .unwrap();
}

const APP_ID: &str = "https://example.com/u2f/app-id.json";
const KEY_HANDLE: [u8; 64] = [0x4b; 64];

/// A world whose relying party names the U2F AppID.
fn u2f_world() -> (World, RelyingParty) {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .app_id(APP_ID)
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let w = World {
        passkeys: Passkeys::new(rp.clone(), MemoryStore::new()).with_clock(clock.clone()),
        clock,
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    };
    (w, rp)
}

/// A CTAP2 security key that was enrolled through U2F and now answers through WebAuthn
/// under the `appid` extension, verifying the user with its PIN (UV set).
fn u2f_key() -> (Authenticator, U2fCredential) {
    let soft = SoftKey::es256([0x31; 32]);
    let point = soft.uncompressed_point().unwrap();
    let record = U2fCredential::new(&KEY_HANDLE, &point, APP_ID).unwrap();
    let authenticator = Authenticator::new(soft)
        .with_credential_id(KEY_HANDLE.to_vec())
        .with_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED)
        .with_sign_count(Some(41));
    (authenticator, record)
}

/// P10: "A successful signing intent returns an approval receipt ... that anyone can
/// re-verify later". Attack: import a U2F key into Pay, then sign a Pay transaction with
/// it through the `appid` extension (a CTAP2 key with a PIN sets UV). PRODUCT.md: either
/// the signing intent is refused, or its receipt re-verifies with the stored key and the
/// relying party; a success whose receipt can never verify is evidence that isn't.
#[test]
fn a_u2f_imported_passkey_never_gets_a_receipt_that_cannot_verify() {
    let (w, rp) = u2f_world();
    let (mut u2f, record) = u2f_key();
    block_on(
        w.passkeys
            .import_u2f(&alice(), Scope::Pay, &record, 41, &factors(), &w.context),
    )
    .unwrap();
    let tx: &[u8] = b"pay 25.00 USDT to merchant 771";
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::PaySign, Some(tx)),
    )
    .unwrap();
    let app_client = Client::new(APP_ID, "https://example.com");
    let json = u2f.authentication_json(&app_client, &options.challenge, &[]);
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["response"]["userHandle"] = serde_json::Value::Null;
    value["clientExtensionResults"] = serde_json::json!({ "appid": true });
    let response = AuthenticationResponse::from_json(&value.to_string()).unwrap();
    match block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx),
        ),
    ) {
        Err(_) => {}
        Ok(done) => {
            let receipt = done.receipt.expect("a signing intent returns a receipt");
            let stored = stored(&w, &alice(), &CredentialId::new(KEY_HANDLE.to_vec()));
            assert_eq!(
                code(receipt.verify(&signer(&stored), &rp, Some(tx))),
                Ok(()),
                "pay_sign succeeded, but its receipt does not re-verify"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// P14: history and events
// ---------------------------------------------------------------------------------------

fn rich_context(actor: Actor) -> RequestContext {
    RequestContext {
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (attacker)".into()),
        device: Some("Pixel 9".into()),
        actor,
        request_id: Some("req-42".into()),
        session_challenge: None,
    }
}

/// What the history gained since `before` events.
fn appended(w: &World, account: &AccountId, before: usize) -> Vec<Event> {
    full_history(w, account).split_off(before)
}

/// P14: "every facade call that changes an account returns the events it appended", each
/// with time, scope and the request context the service passed, which names the actor and
/// the request id; the session challenge is never recorded. Attack: the calls the earlier
/// review did not cover (passkey step-up and the change it redeems, DEX authorize and
/// revoke, replacement, signing intents, U2F import), each with a session challenge that
/// must not leak. PRODUCT.md: returned events == the history's new events, every one
/// stamped with the call's time and recorded context, and no challenge in the history.
#[test]
fn every_call_returns_its_events_with_time_and_context_and_no_session_challenge() {
    let (mut w, _) = u2f_world();
    let alice = alice();
    let mut challenges: Vec<String> = Vec::new();
    let check = |w: &World, before: usize, returned: Vec<Event>, what: &str| {
        let gained = appended(w, &alice, before);
        assert!(!gained.is_empty(), "{what}: nothing recorded");
        assert_eq!(
            returned, gained,
            "{what}: returned events are not the appended ones"
        );
        for event in &gained {
            assert_eq!(event.at, w.clock.now(), "{what}");
            assert_eq!(event.context, w.context.recorded(), "{what}");
            assert!(event.context.session_challenge.is_none(), "{what}");
        }
        full_history(w, &alice).len()
    };
    w.context = rich_context(Actor::User);
    let mut e1 = key(1);
    let e2 = key(2);
    let mut n = 0;
    // Registrations bound to their session.
    for authenticator in [&e1, &e2] {
        advance(&w, 7);
        let options = block_on(w.passkeys.start_registration(
            &alice,
            &user("alice"),
            Scope::Exchange,
            &factors(),
        ))
        .unwrap();
        w.context.session_challenge = Some(options.challenge.clone());
        challenges.push(options.challenge.clone());
        let response = RegistrationResponse::from_json(
            &authenticator.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        let done = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice,
            &response,
            &factors(),
            &w.context,
        )))
        .unwrap();
        n = check(&w, n, done.events, "registration");
    }
    // A passkey step-up for deleting e2, then the deletion that redeems it.
    advance(&w, 7);
    w.context = rich_context(Actor::Operator("op-7".into()));
    let options = block_on(w.passkeys.start_step_up(
        &alice,
        Scope::Exchange,
        &Change::Delete(id(&e2)),
    ))
    .unwrap();
    w.context.session_challenge = Some(options.challenge.clone());
    challenges.push(options.challenge.clone());
    let response = w.answer(&mut e1, &options.challenge, &alice, Scope::Exchange);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    let token = done.step_up.clone().unwrap();
    n = check(&w, n, done.events, "step-up");
    advance(&w, 7);
    w.context.session_challenge = Some("never-recorded-session-value".into());
    challenges.push("never-recorded-session-value".into());
    let deleted = block_on(w.passkeys.delete(
        &alice,
        &id(&e2),
        &StepUp::Passkey(token.clone()),
        &w.context,
    ))
    .unwrap();
    n = check(&w, n, deleted.events, "delete");
    // DEX authorization, then a DEX trade (a signing intent).
    advance(&w, 7);
    let options = block_on(w.passkeys.start_step_up(
        &alice,
        Scope::Exchange,
        &Change::AuthorizeDex(id(&e1)),
    ))
    .unwrap();
    w.context.session_challenge = Some(options.challenge.clone());
    challenges.push(options.challenge.clone());
    let response = w.answer(&mut e1, &options.challenge, &alice, Scope::Exchange);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    n = check(&w, n, done.events, "DEX step-up");
    let dex_token = done.step_up.unwrap();
    advance(&w, 7);
    let events = block_on(
        w.passkeys
            .authorize_dex(&alice, &id(&e1), &dex_token, true, &w.context),
    )
    .unwrap();
    n = check(&w, n, events.events, "authorize DEX");
    advance(&w, 7);
    let tx: &[u8] = b"buy 1 BTC";
    let options = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::DexTrade, Some(tx)),
    )
    .unwrap();
    w.context.session_challenge = Some(options.challenge.clone());
    challenges.push(options.challenge.clone());
    let response = w.answer(&mut e1, &options.challenge, &alice, Scope::Exchange);
    let done =
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx),
        ))
        .unwrap();
    check(&w, n, done.events, "DEX trade");
    // A second DEX passkey, so the first's authorization can be revoked.
    advance(&w, 7);
    w.context.session_challenge = None;
    let mut e3 = key(3);
    w.register(&alice, &e3, Scope::Exchange, factors()).unwrap();
    n = full_history(&w, &alice).len();
    authorize_dex(&w, &alice, &mut e3);
    n = full_history(&w, &alice).len().max(n);
    advance(&w, 7);
    let events = block_on(
        w.passkeys
            .revoke_dex(&alice, &id(&e1), &factors(), &w.context),
    )
    .unwrap();
    n = check(&w, n, events.events, "revoke DEX");
    // A replacement (which locks withdrawals: that event too).
    advance(&w, 7);
    let e4 = key(4);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice, &user("alice"), &id(&e1), &factors()),
        )
        .unwrap();
    w.context.session_challenge = Some(options.challenge.clone());
    challenges.push(options.challenge.clone());
    let response =
        RegistrationResponse::from_json(&e4.registration_json(&w.client, &options.challenge))
            .unwrap();
    let done = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice,
        &id(&e1),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    assert!(
        done.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::WithdrawalLocked { .. }))
    );
    n = check(&w, n, done.events, "replacement");
    // A U2F import.
    advance(&w, 7);
    let (_, record) = u2f_key();
    let done =
        block_on(
            w.passkeys
                .import_u2f(&alice, Scope::Pay, &record, 41, &factors(), &w.context),
        )
        .unwrap();
    check(&w, n, done.events, "U2F import");
    // Nothing the service handed a session, and no step-up token, is in the history.
    let recorded = serde_json::to_string(&full_history(&w, &alice)).unwrap();
    for challenge in &challenges {
        assert!(
            !recorded.contains(challenge.as_str()),
            "{challenge} recorded"
        );
    }
    assert!(!recorded.contains(&token.to_string()));
    assert!(!recorded.contains(&dex_token.to_string()));
    assert!(recorded.contains("op-7") && recorded.contains("req-42"));
}

/// P14: the history reads in pages. Attack: page at every size, from past the end, from
/// `usize::MAX`, with a huge limit. PRODUCT.md: pages tile the history exactly (no event
/// lost or repeated), never exceed the cap, and a start past the end is an empty last
/// page.
#[test]
fn history_pages_tile_the_history_at_every_size() {
    let w = world();
    let (mut e1, _, _) = alice_with_dex(&w);
    for _ in 0..5 {
        w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
            .unwrap();
    }
    let all = full_history(&w, &alice());
    assert!(all.len() > 8);
    for size in 1..=all.len() + 1 {
        let mut paged = Vec::new();
        let mut start = 0;
        loop {
            let page = block_on(w.passkeys.history(&alice(), start, size)).unwrap();
            assert!(page.events.len() <= size);
            paged.extend(page.events);
            match page.next {
                Some(next) => {
                    assert!(next > start);
                    start = next;
                }
                None => break,
            }
        }
        assert_eq!(paged, all, "size {size}");
    }
    for start in [all.len(), all.len() + 1, usize::MAX] {
        let page = block_on(w.passkeys.history(&alice(), start, 10)).unwrap();
        assert!(page.events.is_empty());
        assert_eq!(page.next, None);
    }
    let page = block_on(w.passkeys.history(&alice(), 0, usize::MAX)).unwrap();
    assert!(page.events.len() <= MAX_HISTORY_PAGE);
    assert_eq!(page.events, all);
    // Another account's history holds none of Alice's events.
    assert!(full_history(&w, &bob()).is_empty());
}

/// P14 paging: `HistoryPage::events` holds "at most the page size asked for" (the
/// facade's own contract for P14's pages). Attack: ask for a page of 0 events. Expected:
/// no events (or a refusal); a page that hands out an event nobody asked for breaks a
/// caller that uses limit 0 to probe for `next`.
#[test]
fn a_history_page_of_limit_zero_holds_no_events() {
    let w = world();
    alice_with_dex(&w);
    let page = block_on(w.passkeys.history(&alice(), 0, 0)).unwrap();
    assert!(
        page.events.is_empty(),
        "limit 0 returned {} events",
        page.events.len()
    );
    assert_eq!(page.next, Some(0), "events remain from the start");
    let all = full_history(&w, &alice());
    let past = block_on(w.passkeys.history(&alice(), all.len(), 0)).unwrap();
    assert_eq!((past.events.len(), past.next), (0, None));
}

// ---------------------------------------------------------------------------------------
// P6: names
// ---------------------------------------------------------------------------------------

/// P6: names are 1-64 characters, and a name taken in the scope gets " 2", " 3"...
/// Attack: rename two passkeys to the same 64-character name; the numbering pushes the
/// second past the cap. PRODUCT.md: no stored name exceeds 64 characters (the rename is
/// refused with `invalid_name`, or the name is shortened to fit).
#[test]
fn a_taken_64_character_name_never_grows_past_64_characters_by_rename() {
    let w = world();
    let (e1, e2, _) = alice_with_dex(&w);
    let long = "k".repeat(64);
    block_on(w.passkeys.rename(&alice(), &id(&e1), &long, &w.context)).unwrap();
    let before = list(&w, &alice(), Scope::Exchange);
    match block_on(w.passkeys.rename(&alice(), &id(&e2), &long, &w.context)) {
        Err(err) => {
            assert_eq!(err.code(), "invalid_name");
            assert_eq!(list(&w, &alice(), Scope::Exchange), before);
        }
        Ok(_) => {
            for c in list(&w, &alice(), Scope::Exchange) {
                let chars = c.name.chars().count();
                assert!(
                    (1..=64).contains(&chars),
                    "stored name of {chars} characters: {:?}",
                    c.name
                );
            }
        }
    }
}

/// P6: the same cap on a name chosen at registration. Attack: register a passkey with a
/// 64-character name already taken in the scope. PRODUCT.md: the stored name has at most
/// 64 characters (or the registration is refused with `invalid_name`, storing nothing).
#[test]
fn a_taken_64_character_name_never_grows_past_64_characters_by_registration() {
    let w = world();
    let long = "Z".repeat(64);
    let e1 = key(1);
    let options = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&e1.registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_registration(
        FinishRegistration::new(&alice(), &response, &factors(), &w.context).name(long.as_str()),
    ))
    .unwrap();
    let e2 = key(2);
    let options = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&e2.registration_json(&w.client, &options.challenge))
            .unwrap();
    match block_on(w.passkeys.finish_registration(
        FinishRegistration::new(&alice(), &response, &factors(), &w.context).name(long.as_str()),
    )) {
        Err(err) => {
            assert_eq!(err.code(), "invalid_name");
            assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 1);
        }
        Ok(done) => {
            let chars = done.credential.name.chars().count();
            assert!(chars <= 64, "stored name of {chars} characters");
        }
    }
}

/// P6: a name is a label the user tells passkeys apart by, and a taken name gets a
/// number. Attack: name a second passkey "Café" in decomposed form (e + U+0301) while the
/// first is "Café" precomposed: the two render identically. PRODUCT.md (spirit of the
/// "taken" rule and the anti-spoofing rule): the second is numbered ("Café 2"), or
/// refused; two identical-looking names in one scope let a planted passkey pass as the
/// user's own.
#[test]
fn names_equal_after_unicode_normalisation_count_as_taken() {
    let w = world();
    let (e1, e2, _) = alice_with_dex(&w);
    let nfc = "Caf\u{e9}";
    let nfd = "Cafe\u{301}";
    block_on(w.passkeys.rename(&alice(), &id(&e1), nfc, &w.context)).unwrap();
    let result = block_on(w.passkeys.rename(&alice(), &id(&e2), nfd, &w.context));
    let names: Vec<String> = list(&w, &alice(), Scope::Exchange)
        .into_iter()
        .map(|c| c.name)
        .collect();
    if result.is_ok() {
        assert!(
            names[1] != nfd,
            "two passkeys render as the same name: {names:?}"
        );
    }
}

/// P6: "renaming changes nothing else", needs no step-up, and names are unique per scope
/// only. Attack: rename a DEX passkey with a used counter, under a lock, to the name of a
/// Pay passkey and with surrounding Unicode spaces; then to another Exchange passkey's
/// name. PRODUCT.md: only the name changes (trimmed; numbered only against its own
/// scope); DEX, counter, keys, lock and the other passkeys are untouched; the rename event
/// is history only.
#[test]
fn renaming_changes_only_the_name_and_numbers_only_within_the_scope() {
    let w = world();
    let (mut e1, e2, p1) = alice_with_dex(&w);
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    // A lock to keep.
    let e3 = key(3);
    w.register(&alice(), &e3, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e3), &factors(), &w.context),
    )
    .unwrap();
    let locked = block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap();
    assert!(locked.is_some());
    block_on(w.passkeys.rename(&alice(), &id(&p1), "Main", &w.context)).unwrap();
    let before_ex = list(&w, &alice(), Scope::Exchange);
    let before_pay = list(&w, &alice(), Scope::Pay);
    advance(&w, 60);
    let events = block_on(w.passkeys.rename(
        &alice(),
        &id(&e1),
        "\u{a0}\u{3000} Main \u{2003}",
        &w.context,
    ))
    .unwrap();
    assert_eq!(events.events.len(), 1);
    assert!(!events.events[0].notify());
    let after_ex = list(&w, &alice(), Scope::Exchange);
    assert_eq!(after_ex[0].name, "Main", "numbered against the other scope");
    let mut expected = before_ex[0].clone();
    expected.name = "Main".into();
    assert_eq!(after_ex[0], expected);
    assert_eq!(after_ex[1], before_ex[1]);
    assert_eq!(list(&w, &alice(), Scope::Pay), before_pay);
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        locked
    );
    // Within the scope the name is taken: numbered.
    block_on(w.passkeys.rename(&alice(), &id(&e2), " Main", &w.context)).unwrap();
    assert_eq!(list(&w, &alice(), Scope::Exchange)[1].name, "Main 2");
    // Whitespace-only after trimming is no name.
    let before = list(&w, &alice(), Scope::Exchange);
    for bad in ["\u{3000}", "\u{a0}\u{2003}", "\u{2028}"] {
        let err = block_on(w.passkeys.rename(&alice(), &id(&e2), bad, &w.context)).unwrap_err();
        assert_eq!(err.code(), "invalid_name", "{bad:?}");
    }
    assert_eq!(list(&w, &alice(), Scope::Exchange), before);
}

// ---------------------------------------------------------------------------------------
// P7, P11, P12: U2F import, providers, counters, backup state
// ---------------------------------------------------------------------------------------

/// P5, P7, P11: "the policy applies as to any registration" to a U2F import. Attack:
/// import past the Pay limit; import into a scope that denies the unknown class (a U2F
/// record has the zero AAGUID); import with a passkey step-up made for another scope.
/// PRODUCT.md: `limit_reached`, `provider_denied`, `step_up_required`; nothing stored,
/// nothing recorded.
#[test]
fn a_u2f_import_meets_the_limit_the_provider_rules_and_the_step_up() {
    let (w, _) = u2f_world();
    let mut policy = PolicyConfig::default();
    policy.providers.set(
        Realm::Exchange,
        ProviderClass::Unknown,
        ProviderVerdict::Deny,
    );
    let w = with_policy(w, policy);
    // Pay full (the Pay limit is 3); the software keys' AAGUID is zero too, so register
    // Pay ones only.
    for n in 10..13 {
        w.register(&alice(), &key(n), Scope::Pay, factors())
            .unwrap();
    }
    let (_, record) = u2f_key();
    let before = full_history(&w, &alice());
    let import = |scope, step_up: &StepUp| {
        block_on(
            w.passkeys
                .import_u2f(&alice(), scope, &record, 41, step_up, &w.context),
        )
        .map(|_| ())
        .map_err(|e| e.code())
    };
    assert_eq!(import(Scope::Pay, &factors()), Err("limit_reached"));
    assert_eq!(import(Scope::Exchange, &factors()), Err("provider_denied"));
    assert_eq!(full_history(&w, &alice()), before);
    assert!(list(&w, &alice(), Scope::Exchange).is_empty());
    // A Pay passkey's step-up for adding a Pay passkey does not add to Exchange.
    let mut p = key(10);
    let token = w
        .step_up(
            &alice(),
            &mut p,
            Scope::Pay,
            Scope::Pay,
            &Change::AddPasskey,
        )
        .unwrap();
    let err = import(Scope::Exchange, &StepUp::Passkey(token)).unwrap_err();
    assert!(
        ["step_up_required", "scope_mismatch"].contains(&err),
        "{err}"
    );
    assert!(list(&w, &alice(), Scope::Exchange).is_empty());
}

fn third_party_world(policy: PolicyConfig) -> (World, Aaguid) {
    let aaguid: Aaguid = "531126d6-e717-415c-9320-3d9aa6981239".parse().unwrap();
    let mut policy = policy;
    policy
        .aaguids
        .insert(aaguid, "Dashlane", ProviderClass::ThirdParty);
    (with_policy(world(), policy), aaguid)
}

/// P11: where a realm only warns about a provider class, the service must hear the
/// warning to pass it on. Attack (on the service's knowledge): authorize a third-party
/// manager's passkey for DEX under the default (warn). PRODUCT.md: accepted, and the
/// call returns the `third_party_provider` warning with its events.
#[test]
fn a_dex_authorization_returns_the_provider_warning() {
    let (w, dashlane) = third_party_world(PolicyConfig::default());
    let _ = alice_with_dex(&w);
    let mut tp = Authenticator::new(SoftKey::es256([42; 32])).with_aaguid(dashlane);
    w.register(&alice(), &tp, Scope::Exchange, factors())
        .unwrap();
    let change = Change::AuthorizeDex(id(&tp));
    let token = w
        .step_up(&alice(), &mut tp, Scope::Exchange, Scope::Exchange, &change)
        .unwrap();
    let changed = block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&tp), &token, true, &w.context),
    )
    .unwrap();
    assert!(
        changed
            .warnings
            .iter()
            .any(|warning| warning.code() == "third_party_provider"),
        "{:?}",
        changed.warnings
    );
    assert!(changed.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::DexAuthorized { credential } if *credential == id(&tp)
    )));
}

/// P11: the default warns on third-party managers everywhere; a denied class is
/// `provider_denied`. Attack: with third-party managers denied in Pay and DEX only,
/// register one in Pay, register one in Exchange, then authorize it for DEX; and replace
/// the DEX passkey with it (terms accepted, UV). PRODUCT.md: Pay refused, Exchange
/// accepted with the `third_party_provider` warning and the provider's name, DEX refused,
/// the DEX replacement refused; each refusal stores nothing.
#[test]
fn a_denied_provider_class_is_refused_in_its_scope_and_in_dex() {
    let mut policy = PolicyConfig::default();
    policy
        .providers
        .set(Realm::Pay, ProviderClass::ThirdParty, ProviderVerdict::Deny);
    policy
        .providers
        .set(Realm::Dex, ProviderClass::ThirdParty, ProviderVerdict::Deny);
    let (w, dashlane) = third_party_world(policy);
    let (mut e1, _, _) = alice_with_dex(&w);
    let mut tp = Authenticator::new(SoftKey::es256([40; 32])).with_aaguid(dashlane);
    let before = full_history(&w, &alice());
    let err = w
        .register(&alice(), &tp, Scope::Pay, factors())
        .unwrap_err();
    assert_eq!(err.code(), "provider_denied");
    assert_eq!(full_history(&w, &alice()), before);
    let done = w
        .register(&alice(), &tp, Scope::Exchange, factors())
        .unwrap();
    assert_eq!(done.credential.name, "Dashlane");
    assert_eq!(done.credential.provider, ProviderClass::ThirdParty);
    assert!(
        done.warnings
            .iter()
            .any(|warning| warning.code() == "third_party_provider")
    );
    let change = Change::AuthorizeDex(id(&tp));
    let token = w
        .step_up(&alice(), &mut tp, Scope::Exchange, Scope::Exchange, &change)
        .unwrap();
    let err = block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&tp), &token, true, &w.context),
    )
    .unwrap_err();
    assert_eq!(err.code(), "provider_denied");
    assert!(!list(&w, &alice(), Scope::Exchange)[2].dex_authorized);
    // Replacing the DEX passkey with another Dashlane passkey, terms accepted.
    let tp2 = Authenticator::new(SoftKey::es256([41; 32])).with_aaguid(dashlane);
    let e1_id = id(&e1);
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Replace(e1_id),
        )
        .unwrap();
    let step_up = StepUp::Passkey(token);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e1), &step_up),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&tp2.registration_json(&w.client, &options.challenge))
            .unwrap();
    let before = list(&w, &alice(), Scope::Exchange);
    let err = block_on(
        w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&e1), &response, &step_up, &w.context)
                .dex_terms_accepted(true),
        ),
    )
    .unwrap_err();
    assert!(
        ["provider_denied", "last_passkey"].contains(&err.code()),
        "{}",
        err.code()
    );
    assert_eq!(list(&w, &alice(), Scope::Exchange), before);
}

/// P12: "BS without BE is invalid". Attack: register a passkey whose authenticator data
/// says backed up but not backup-eligible; and have a registered passkey assert with BS
/// and no BE. PRODUCT.md: both refused (`malformed`: bad authenticator data); nothing
/// stored, the counter and backup state unchanged, no use recorded.
#[test]
fn backup_state_without_backup_eligibility_is_refused() {
    let w = world();
    let bad = Authenticator::new(SoftKey::es256([50; 32]))
        .with_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKED_UP);
    let err = w
        .register(&alice(), &bad, Scope::Exchange, factors())
        .unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert!(list(&w, &alice(), Scope::Exchange).is_empty());
    assert!(full_history(&w, &alice()).is_empty());

    let mut e1 = key(1);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    let before = list(&w, &alice(), Scope::Exchange);
    let history = full_history(&w, &alice());
    e1.set_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKED_UP);
    let err = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap_err();
    assert_eq!(err.code(), "malformed");
    assert_eq!(list(&w, &alice(), Scope::Exchange), before);
    assert_eq!(full_history(&w, &alice()), history);
}

/// P12: a BE change is a warning, not a failure; BS follows each assertion. Attack: a
/// passkey registered backup-eligible and backed up asserts without BE/BS, then with BE
/// and without BS. PRODUCT.md: each accepted; the first with `backup_eligibility_changed`;
/// the stored BS is the asserted one each time.
#[test]
fn a_backup_eligibility_change_warns_and_backup_state_follows_each_assertion() {
    let w = world();
    let both =
        Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKUP_ELIGIBLE | Flags::BACKED_UP;
    let mut e1 = Authenticator::new(SoftKey::es256([51; 32])).with_flags(both);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    assert!(list(&w, &alice(), Scope::Exchange)[0].backed_up);
    e1.set_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED);
    let done = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert!(
        done.warnings
            .iter()
            .any(|warning| warning.code() == "backup_eligibility_changed")
    );
    assert!(!done.backed_up);
    assert!(!list(&w, &alice(), Scope::Exchange)[0].backed_up);
    e1.set_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKUP_ELIGIBLE);
    let done = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert!(!done.backed_up);
    assert!(!list(&w, &alice(), Scope::Exchange)[0].backed_up);
    e1.set_flags(both);
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert!(list(&w, &alice(), Scope::Exchange)[0].backed_up);
}

/// P12 with P7: a counter that does not grow is refused. Attack: replay a step-up by a
/// cloned authenticator whose counter stands still (the same value as the stored one).
/// PRODUCT.md: `counter_regression`; no grant, no token, nothing recorded, and the change
/// it was for is still refused without a step-up.
#[test]
fn a_step_up_with_a_counter_that_did_not_grow_grants_nothing() {
    let w = world();
    let (mut e1, e2, _) = alice_with_dex(&w);
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    let stored = list(&w, &alice(), Scope::Exchange)[0].sign_count;
    assert!(stored > 0);
    let mut clone = e1.clone();
    clone.set_sign_count(Some(stored - 1)); // the next assertion writes `stored`
    let history = full_history(&w, &alice());
    let err = w
        .step_up(
            &alice(),
            &mut clone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e2)),
        )
        .unwrap_err();
    assert_eq!(err.code(), "counter_regression");
    assert_eq!(full_history(&w, &alice()), history);
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].sign_count, stored);
}

// ---------------------------------------------------------------------------------------
// P8: the withdrawal lock
// ---------------------------------------------------------------------------------------

fn withdraw(w: &World, e: &mut Authenticator) -> Result<(), &'static str> {
    w.authenticate(&alice(), e, Scope::Exchange, Intent::Withdrawal, None)
        .map(|_| ())
        .map_err(|e| e.code())
}

/// P8: a factor deletion locks withdrawals for 24 h. Attack: withdraw one second before
/// the lock ends and at the instant it ends; read `withdrawals_locked_until` on both
/// sides. PRODUCT.md: locked (`withdrawal_locked`, nothing recorded) through the last
/// second; open from exactly 24 h; the facade reports the same instant the policy uses.
#[test]
fn the_lock_lasts_exactly_24_hours_and_the_facade_says_until_when() {
    let w = world();
    let (mut e1, e2, _) = alice_with_dex(&w);
    advance(&w, 100);
    let locked_at = w.clock.now();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    let until = locked_at.plus_seconds(DAY);
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(until)
    );
    advance(&w, DAY - 1);
    let history = full_history(&w, &alice());
    assert_eq!(withdraw(&w, &mut e1), Err("withdrawal_locked"));
    assert_eq!(full_history(&w, &alice()), history);
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(until)
    );
    advance(&w, 1);
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
    assert_eq!(withdraw(&w, &mut e1), Ok(()));
}

/// P8: each lock runs 24 h from the change that caused it, and a later change never
/// shortens a running lock. Attack: lock at T (factor deletion), again at T+10 h (a
/// replacement), then have a second service instance configured with a 1 h lock delete
/// with factors at T+11 h. PRODUCT.md: the lock ends at T+34 h, not earlier.
#[test]
fn a_later_lock_extends_the_running_one_and_none_shortens_it() {
    let w = world();
    let (mut e1, e2, _) = alice_with_dex(&w);
    let e3 = key(3);
    let e4 = key(4);
    w.register(&alice(), &e3, Scope::Exchange, factors())
        .unwrap();
    let t = w.clock.now();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    advance(&w, 10 * 3_600);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e3), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&e4.registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&e3),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    let extended = t.plus_seconds(10 * 3_600 + DAY);
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(extended)
    );
    // The same store, the service reconfigured with a 1 h lock.
    advance(&w, 3_600);
    let e5 = key(5);
    w.register(&alice(), &e5, Scope::Exchange, factors())
        .unwrap();
    let mut short = PolicyConfig::default();
    short.withdrawal_lock_seconds = 3_600;
    let w = with_policy(w, short);
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e5), &factors(), &w.context),
    )
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(extended)
    );
    w.clock.set(extended.plus_seconds(-1));
    assert_eq!(withdraw(&w, &mut e1), Err("withdrawal_locked"));
    w.clock.set(extended);
    assert_eq!(withdraw(&w, &mut e1), Ok(()));
}

/// P8: only resetting an Exchange passkey, or deleting one with factors, locks. Attack:
/// every other change: adding with factors and with a passkey step-up, renaming, DEX
/// authorize and revoke (with factors), deleting and replacing Pay passkeys, deleting an
/// Exchange passkey with another passkey's step-up. PRODUCT.md: no lock, withdrawals open.
#[test]
fn changes_p8_does_not_name_never_lock() {
    let w = world();
    let (mut e1, e2, p1) = alice_with_dex(&w);
    let p2 = key(11);
    let p3 = key(12);
    w.register(&alice(), &p2, Scope::Pay, factors()).unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let mut e3 = key(3);
    w.register(&alice(), &e3, Scope::Exchange, StepUp::Passkey(token))
        .unwrap();
    block_on(w.passkeys.rename(&alice(), &id(&e2), "Other", &w.context)).unwrap();
    authorize_dex(&w, &alice(), &mut e3);
    block_on(
        w.passkeys
            .revoke_dex(&alice(), &id(&e3), &factors(), &w.context),
    )
    .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&p1), &factors(), &w.context),
    )
    .unwrap();
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&p2), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&p3.registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&p2),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e2)),
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
    assert!(
        !full_history(&w, &alice())
            .iter()
            .any(|e| matches!(e.kind, EventKind::WithdrawalLocked { .. }))
    );
    assert_eq!(withdraw(&w, &mut e1), Ok(()));
    let tx: &[u8] = b"move 1 BTC to wallet";
    w.authenticate(
        &alice(),
        &mut e1,
        Scope::Exchange,
        Intent::DexTransfer,
        Some(tx),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------
// P5, P17
// ---------------------------------------------------------------------------------------

/// P4 with P5: a replacement is how a passkey is swapped, and it adds none. Attack: at
/// the Exchange limit (10), start and finish a replacement; then try adding an 11th.
/// PRODUCT.md: the replacement succeeds (count stays 10); the addition is refused at the
/// start with `limit_reached`.
#[test]
fn a_replacement_at_the_limit_is_allowed_and_an_addition_is_not() {
    let w = world();
    let keys: Vec<Authenticator> = (1..=10).map(key).collect();
    for k in &keys {
        w.register(&alice(), k, Scope::Exchange, factors()).unwrap();
    }
    let new = key(60);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&keys[4]), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&new.registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&keys[4]),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 10);
    let err = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap_err();
    assert_eq!(err.code(), "limit_reached");
}

/// P17: creation options for Pay carry the Pay label in `user.name` and
/// `user.displayName` as `<name> (Pay)`; Exchange carries the plain names. Attack: none;
/// start a Pay and an Exchange registration for "alice". PRODUCT.md: `alice (Pay)` for
/// Pay, `alice` for Exchange, and the user handles differ.
#[test]
fn pay_creation_options_carry_the_pay_label() {
    let w = world();
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
    let start = |scope| {
        block_on(
            w.passkeys
                .start_registration(&alice(), &user("alice"), scope, &factors()),
        )
        .unwrap()
    };
    let exchange = start(Scope::Exchange);
    assert_eq!(exchange.user.name, "alice");
    assert_eq!(exchange.user.display_name, "alice");
    let pay = start(Scope::Pay);
    assert_ne!(pay.user.id, exchange.user.id);
    assert_eq!(pay.user.name, "alice (Pay)");
    assert_eq!(pay.user.display_name, "alice (Pay)");
}

// ---------------------------------------------------------------------------------------
// More: receipts of refused assertions, event scopes
// ---------------------------------------------------------------------------------------

/// P1 with P10: a Pay passkey never satisfies an Exchange/DEX check, and a receipt
/// "proves who approved what, for which purpose". Attack: Alice's client answers a
/// `dex_trade` challenge with her Pay passkey; the service refuses (`scope_mismatch`), but
/// the client keeps the assertion and builds a receipt claiming an Exchange `dex_trade`
/// approved by that passkey, which an auditor checks with the passkey's key from their
/// own records. PRODUCT.md: no receipt for a scope the passkey is not of is evidence;
/// it must not verify. (The verifier's records know the passkey is Pay; `verify` is given
/// only its key, so it cannot tell.)
#[test]
fn a_pay_passkeys_refused_dex_assertion_is_no_dex_receipt() {
    let w = world();
    let (_, _, mut p1) = alice_with_dex(&w);
    let tx: &[u8] = b"buy 1 BTC at 90000 USDT";
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::DexTrade, Some(tx)),
    )
    .unwrap();
    let response = w.answer(&mut p1, &options.challenge, &alice(), Scope::Pay);
    let history = full_history(&w, &alice());
    let err =
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx),
        ))
        .unwrap_err();
    assert_eq!(err.code(), "scope_mismatch");
    assert_eq!(full_history(&w, &alice()), history);
    let pay_key = stored(&w, &alice(), &id(&p1));
    let forged = ApprovalReceipt {
        account: "alice".into(),
        scope: Scope::Exchange,
        intent: Intent::DexTrade,
        transaction_digest: b64(&Sha256::digest(tx)),
        credential_id: response.id.clone(),
        public_key: b64(&pay_key.public_key),
        authenticator_data: response.response.authenticator_data.clone(),
        client_data_json: response.response.client_data_json.clone(),
        signature: response.response.signature.clone(),
        at: w.clock.now(),
    };
    assert_eq!(
        code(forged.verify(&signer(&pay_key), &relying_party(), Some(tx))),
        Err("scope_mismatch"),
        "a refused Pay-passkey assertion verifies as an Exchange dex_trade receipt"
    );
}

/// P14: every change and use is recorded with its scope. Attack: a Pay passkey's whole
/// life (registration, use, step-up, rename, passkey-stepped deletion) beside Exchange
/// activity. PRODUCT.md: each event about a Pay passkey is recorded in the Pay scope, each
/// about an Exchange passkey (and DEX, and locks) in the Exchange scope.
#[test]
fn every_event_is_recorded_in_the_scope_of_the_passkey_it_concerns() {
    let w = world();
    let (mut e1, e2, mut p1) = alice_with_dex(&w);
    let p2 = key(11);
    w.register(&alice(), &p2, Scope::Pay, factors()).unwrap();
    w.authenticate(
        &alice(),
        &mut p1,
        Scope::Pay,
        Intent::PaySign,
        Some(b"pay 1 USDT"),
    )
    .unwrap();
    block_on(w.passkeys.rename(&alice(), &id(&p2), "Spare", &w.context)).unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut p1,
            Scope::Pay,
            Scope::Pay,
            &Change::Delete(id(&p2)),
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&p2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    let pay: Vec<CredentialId> = vec![id(&p1), id(&p2)];
    for event in full_history(&w, &alice()) {
        let about = match &event.kind {
            EventKind::Registered { credential } => Some(credential.id.clone()),
            EventKind::Renamed { credential, .. }
            | EventKind::Deleted { credential, .. }
            | EventKind::DexAuthorized { credential }
            | EventKind::DexRevoked { credential }
            | EventKind::Used { credential, .. } => Some(credential.clone()),
            EventKind::StepUpGranted { grant } => Some(grant.credential.clone()),
            EventKind::StepUpRedeemed { change, .. } => change.credential().cloned(),
            EventKind::WithdrawalLocked { .. } => None,
            _ => None,
        };
        let expected = match about {
            Some(c) if pay.contains(&c) => Scope::Pay,
            _ => Scope::Exchange,
        };
        assert_eq!(event.scope, expected, "{:?}", event.kind);
    }
}
