//! Attack 20: the store-wide revoked-key rule (P20) and the freeze/step-up rule (P18),
//! through the public API. Each test asserts what the rule demands: a failing test is a
//! break.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use std::sync::Arc;

use latchkey::json::RegistrationResponse;
use latchkey::{
    AccountId, Change, Clock as _, FinishAuthentication, FinishRecovery, FinishRegistration,
    FinishReplacement, Intent, ManualClock, MemoryStore, Passkeys, RelyingParty, RequestContext,
    Scope, StepUp, Store, U2fCredential,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, World, code, factors, id, identity, operator, user, world};

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([0x90 + n; 32]))
}

/// The key of `key(n)` under another credential id.
fn same_key(n: u8, new_id: u8) -> Authenticator {
    key(n).with_credential_id(vec![new_id; 16])
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn mallory() -> AccountId {
    AccountId::new("mallory")
}

/// Alice with Exchange passkeys 1 and 2 and Pay passkey 10.
fn alice_world() -> (World, Authenticator, Authenticator, Authenticator) {
    let w = world();
    let (k1, k2, k10) = (key(1), key(2), key(10));
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k10, Scope::Pay, factors()).unwrap();
    (w, k1, k2, k10)
}

fn recover<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &Authenticator,
    scope: Scope,
) -> latchkey::Result<latchkey::Registered> {
    let options =
        block_on(
            w.passkeys
                .start_recovery(account, &user(account.as_str()), scope, &identity()),
        )?;
    let response = RegistrationResponse::from_json(
        &authenticator.registration_json(&w.client, &options.challenge),
    )?;
    block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        account,
        &response,
        &identity(),
        &operator(),
    )))
}

fn later<S: Store>(w: &World<S>, seconds: i64) {
    w.clock.set(w.clock.now().plus_seconds(seconds));
}

// =======================================================================================
// RULE A (P20): a revoked public key is never registered again
// =======================================================================================

/// A recovery revokes every passkey of the scope and registers the new one in ONE append.
/// If the new passkey carries the key of one of the passkeys it revokes (the same
/// authenticator key under a fresh credential id: the recovery's options exclude nothing),
/// the revoked key is registered again, in the very append that revokes it.
#[test]
fn a_recovery_whose_new_passkey_carries_a_key_it_revokes_is_refused() {
    let (w, _, _, _) = alice_world();
    // key(1)'s key, fresh credential id.
    let result = recover(&w, &alice(), &same_key(1, 0x51), Scope::Exchange);
    let listed = block_on(w.passkeys.list(&alice(), Scope::Exchange)).unwrap();
    assert!(
        result.is_err(),
        "recovery registered the key it revoked (passkeys now: {:?})",
        listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(code(result), "duplicate_credential");
}

/// The same in the Pay scope (a single passkey, re-registered by recovery under a new id).
#[test]
fn a_pay_recovery_whose_new_passkey_carries_the_revoked_key_is_refused() {
    let (w, _, _, _) = alice_world();
    let result = recover(&w, &alice(), &same_key(10, 0x52), Scope::Pay);
    assert_eq!(code(result), "duplicate_credential");
}

/// A recovery answered with a key it would revoke is refused whole: nothing is revoked,
/// the old passkeys still log in. A recovery with a fresh key then revokes key 1 for good:
/// it logs in nowhere and Mallory cannot register it.
#[test]
fn after_a_recovery_no_passkey_holding_a_revoked_key_logs_in() {
    let (w, mut k1, _, _) = alice_world();
    let mut back = same_key(1, 0x53);
    assert_eq!(
        code(recover(&w, &alice(), &back, Scope::Exchange)),
        "duplicate_credential"
    );
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)
        .expect("the refused recovery revoked nothing");
    recover(&w, &alice(), &key(7), Scope::Exchange).expect("a recovery with a fresh key");
    for who in [&mut k1, &mut back] {
        assert!(
            w.authenticate(&alice(), who, Scope::Exchange, Intent::Login, None)
                .is_err(),
            "key 1 logs in after the recovery revoked it"
        );
    }
    assert_eq!(
        code(w.register(&mallory(), &same_key(1, 0x54), Scope::Exchange, factors())),
        "duplicate_credential"
    );
}

/// Keys revoked by a RECOVERY (not an operator) are refused on another account, in both
/// scopes, and on a brand-new account, for ES256, Ed25519 and RSA keys.
#[test]
fn keys_revoked_by_a_recovery_are_refused_everywhere_for_every_key_type() {
    let w = world();
    let ed = Authenticator::new(SoftKey::eddsa([0x33; 32]));
    let rsa = Authenticator::new(SoftKey::rs256());
    let ec = key(5);
    w.register(&alice(), &ec, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &ed, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &rsa, Scope::Exchange, factors())
        .unwrap();
    w.register(&mallory(), &key(20), Scope::Exchange, factors())
        .unwrap();
    recover(&w, &alice(), &key(6), Scope::Exchange).unwrap();
    assert!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .iter()
            .all(|c| c.id == id(&key(6)))
    );
    let mut accepted = Vec::new();
    for (what, authenticator) in [("es256", &ec), ("ed25519", &ed), ("rs256", &rsa)] {
        for (n, (account, scope)) in [
            (alice(), Scope::Exchange),
            (alice(), Scope::Pay),
            (mallory(), Scope::Exchange),
            (mallory(), Scope::Pay),
            (AccountId::new("fresh"), Scope::Exchange),
        ]
        .into_iter()
        .enumerate()
        {
            let again =
                authenticator
                    .clone()
                    .with_credential_id(vec![0x60 + u8::try_from(n).unwrap(); 20]);
            match w.register(&account, &again, scope, factors()) {
                Ok(_) => accepted.push(format!("{what} on {} {scope:?}", account.as_str())),
                Err(e) => assert_eq!(e.code(), "duplicate_credential", "{what}"),
            }
        }
    }
    assert!(accepted.is_empty(), "revoked keys came back: {accepted:?}");
}

/// A replacement on another account whose successor carries the revoked key.
#[test]
fn a_replacement_whose_successor_carries_a_revoked_key_is_refused() {
    let (w, _, _, _) = alice_world();
    let m = key(20);
    w.register(&mallory(), &m, Scope::Exchange, factors())
        .unwrap();
    w.register(&mallory(), &key(21), Scope::Exchange, factors())
        .unwrap();
    // Alice's Exchange passkeys revoked by a recovery; her Pay one by an operator.
    recover(&w, &alice(), &key(3), Scope::Exchange).unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&key(10)), "phished", &operator()),
    )
    .unwrap();
    for (n, victim) in [(0x70u8, 1u8), (0x71, 2), (0x72, 10)] {
        let options = block_on(w.passkeys.start_replacement(
            &mallory(),
            &user("mallory"),
            &id(&m),
            &factors(),
        ))
        .unwrap();
        let successor = same_key(victim, n);
        let response = RegistrationResponse::from_json(
            &successor.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        assert_eq!(
            code(block_on(w.passkeys.finish_replacement(
                FinishReplacement::new(&mallory(), &id(&m), &response, &factors(), &w.context,)
            ))),
            "duplicate_credential",
            "key of passkey {victim}"
        );
    }
    // Alice herself cannot replace her recovered passkey with a revoked key either.
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&key(3)), &factors()),
        )
        .unwrap();
    let response = RegistrationResponse::from_json(
        &same_key(1, 0x73).registration_json(&w.client, &options.challenge),
    )
    .unwrap();
    assert_eq!(
        code(block_on(w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&key(3)), &response, &factors(), &w.context,)
        ))),
        "duplicate_credential"
    );
}

/// A U2F import of a revoked key (revoked by recovery) on another account and on the same.
#[test]
fn a_u2f_import_of_a_revoked_key_is_refused() {
    const APP_ID: &str = "https://example.com/u2f/app-id.json";
    let clock = Arc::new(ManualClock::new(T0));
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .app_id(APP_ID)
        .build()
        .unwrap();
    let w = World {
        passkeys: Passkeys::new(rp, MemoryStore::new()).with_clock(clock.clone()),
        clock,
        client: latchkey_testkit::authenticator::Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    };
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &key(10), Scope::Pay, factors())
        .unwrap();
    recover(&w, &alice(), &key(3), Scope::Exchange).unwrap();
    let point = SoftKey::es256([0x91; 32]).uncompressed_point().unwrap();
    for (n, account, scope) in [
        (0x41u8, mallory(), Scope::Exchange),
        (0x42, alice(), Scope::Pay),
        (0x43, AccountId::new("fresh"), Scope::Pay),
    ] {
        let record = U2fCredential::new(&[n; 64], &point, APP_ID).unwrap();
        assert_eq!(
            code(block_on(w.passkeys.import_u2f(
                &account,
                scope,
                &record,
                7,
                &factors(),
                &RequestContext::default(),
            ))),
            "duplicate_credential",
            "{}",
            account.as_str()
        );
    }
}

/// Registrations of the key on two other accounts racing the operator's revocation on
/// two threads: whatever the order, once the revocation has committed no registration of
/// the key commits after it. Checked on the history: a `Registered` of the key on another
/// account must come no later than the revocation (same clock second aside, the store's
/// order is the one that counts: a later registration fails).
#[test]
fn registrations_racing_a_revocation_never_commit_after_it() {
    for round in 0..20u8 {
        let (w, _, _, _) = alice_world();
        let w = Arc::new(w);
        let accounts = [AccountId::new("b"), AccountId::new("c")];
        // Start both registrations first (challenges issued before the race).
        let responses: Vec<_> = accounts
            .iter()
            .enumerate()
            .map(|(i, account)| {
                let options = block_on(w.passkeys.start_registration(
                    account,
                    &user(account.as_str()),
                    Scope::Exchange,
                    &factors(),
                ))
                .unwrap();
                let a = same_key(1, 0x80 + u8::try_from(i).unwrap() + 2 * round);
                RegistrationResponse::from_json(&a.registration_json(&w.client, &options.challenge))
                    .unwrap()
            })
            .collect();
        let revoke = {
            let w = w.clone();
            std::thread::spawn(move || {
                block_on(w.passkeys.revoke_compromised(
                    &alice(),
                    &id(&key(1)),
                    "phished",
                    &operator(),
                ))
                .map(|_| ())
            })
        };
        let regs: Vec<_> = accounts
            .iter()
            .cloned()
            .zip(responses)
            .map(|(account, response)| {
                let w = w.clone();
                std::thread::spawn(move || {
                    block_on(w.passkeys.finish_registration(FinishRegistration::new(
                        &account,
                        &response,
                        &factors(),
                        &RequestContext::default(),
                    )))
                    .map(|_| ())
                })
            })
            .collect();
        revoke.join().unwrap().unwrap();
        let outcomes: Vec<_> = regs.into_iter().map(|h| h.join().unwrap()).collect();
        for outcome in &outcomes {
            if let Err(e) = outcome {
                assert_eq!(e.code(), "duplicate_credential", "round {round}");
            }
        }
        // After the race, a third registration is refused whatever happened.
        assert_eq!(
            code(w.register(
                &AccountId::new("d"),
                &same_key(1, 0xf0),
                Scope::Exchange,
                factors()
            )),
            "duplicate_credential"
        );
    }
}

/// The store trait itself: an append registering the revoked key re-encoded (COSE map in
/// another order) on a fresh account. `KeyFingerprint` says it canonicalises "another map
/// order", but it parses strictly, so a non-canonical encoding falls back to its raw bytes.
#[test]
fn the_store_refuses_the_revoked_key_re_encoded_with_another_map_order() {
    use latchkey::policy::KeyFingerprint;
    let (w, _, _, _) = alice_world();
    let history = block_on(w.passkeys.store().history(&alice())).unwrap();
    let registered = history
        .iter()
        .find_map(|e| match &e.kind {
            latchkey::EventKind::Registered { credential } if credential.id == id(&key(1)) => {
                Some(e.clone())
            }
            _ => None,
        })
        .expect("alice registered key 1");
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&key(1)), "phished", &operator()),
    )
    .unwrap();
    let latchkey::EventKind::Registered { credential } = &registered.kind else {
        unreachable!()
    };
    // Canonical: a5 01 02 03 26 20 01 21 58 20 <x> 22 58 20 <y>. Reorder: alg before kty.
    let cose = credential.public_key.clone();
    assert_eq!(&cose[..5], &[0xa5, 0x01, 0x02, 0x03, 0x26]);
    let reordered = [&[0xa5, 0x03, 0x26, 0x01, 0x02][..], &cose[5..]].concat();
    let mut copy = credential.clone();
    copy.id = latchkey::CredentialId::new(vec![0x99; 16]);
    copy.public_key = reordered.clone();
    let mut event = registered.clone();
    event.kind = latchkey::EventKind::Registered { credential: copy };
    let appended = block_on(
        w.passkeys
            .store()
            .append(&AccountId::new("fresh"), 0, &[event]),
    );
    let same_fingerprint = KeyFingerprint::of(&reordered) == KeyFingerprint::of(&cose);
    assert!(
        appended.is_err() && same_fingerprint,
        "store append of the revoked key with reordered map: {appended:?}; \
         KeyFingerprint equal to the canonical one: {same_fingerprint}"
    );
}

/// The same with an RSA key whose modulus carries a leading zero byte (a signed-integer
/// encoding `KeyFingerprint` documents as the same key). The strict COSE parser refuses
/// the padded modulus, so `KeyFingerprint::of` hashes the raw bytes instead.
#[test]
fn the_store_refuses_the_revoked_rsa_key_with_a_leading_zero_byte() {
    use latchkey::policy::KeyFingerprint;
    let w = world();
    let rsa = Authenticator::new(SoftKey::rs256());
    w.register(&alice(), &rsa, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
    let registered = block_on(w.passkeys.store().history(&alice()))
        .unwrap()
        .into_iter()
        .find(|e| {
            matches!(&e.kind, latchkey::EventKind::Registered { credential }
                if credential.id == id(&rsa))
        })
        .expect("alice registered the RSA key");
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&rsa), "phished", &operator()),
    )
    .unwrap();
    let latchkey::EventKind::Registered { credential } = &registered.kind else {
        unreachable!()
    };
    let cose = credential.public_key.clone();
    // n (-1 = 0x20) as a 256-byte string (0x59 0x01 0x00): make it 257 bytes, 0x00 first.
    let at = cose
        .windows(4)
        .position(|w| w == [0x20, 0x59, 0x01, 0x00])
        .expect("a 2048-bit modulus");
    let padded = [
        &cose[..at],
        &[0x20, 0x59, 0x01, 0x01, 0x00][..],
        &cose[at + 4..],
    ]
    .concat();
    let mut copy = credential.clone();
    copy.id = latchkey::CredentialId::new(vec![0x98; 16]);
    copy.public_key = padded.clone();
    let mut event = registered.clone();
    event.kind = latchkey::EventKind::Registered { credential: copy };
    let appended = block_on(
        w.passkeys
            .store()
            .append(&AccountId::new("fresh"), 0, &[event]),
    );
    let same_fingerprint = KeyFingerprint::of(&padded) == KeyFingerprint::of(&cose);
    assert!(
        appended.is_err() && same_fingerprint,
        "store append of the revoked RSA key with a leading zero: {appended:?}; \
         KeyFingerprint equal to the unpadded one: {same_fingerprint}"
    );
}

// =======================================================================================
// RULE B (P18): a step-up whose challenge was issued at or before the last freeze or
// unfreeze grants nothing
// =======================================================================================

/// Unfreeze done on an instance whose clock lags (or a clock stepped back): the unfreeze
/// records an EARLIER time than the freeze, so `freeze_changed_at` goes backwards and a
/// step-up issued before the freeze passes the `issued_at <= freeze_changed_at` check.
#[test]
fn a_step_up_issued_before_a_freeze_grants_nothing_when_the_unfreeze_clock_lags() {
    let (w, mut k1, k2, _) = alice_world();
    w.clock.set(T0.plus_seconds(100));
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ))
    .unwrap();
    w.clock.set(T0.plus_seconds(110));
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    // The unfreeze's clock is behind the freeze's (and the challenge's).
    w.clock.set(T0.plus_seconds(50));
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    assert!(!block_on(w.passkeys.is_frozen(&alice())).unwrap());
    w.clock.set(T0.plus_seconds(120));
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let finished = w.finish(&response);
    let deleted = finished.as_ref().ok().and_then(|done| {
        let token = done.step_up.clone()?;
        block_on(
            w.passkeys
                .delete(&alice(), &id(&k2), &StepUp::Passkey(token), &w.context),
        )
        .ok()
    });
    assert!(
        finished.is_err(),
        "a step-up issued at T0+100, before the freeze at T0+110, was granted after the \
         unfreeze (recorded at T0+50); the delete it served: {deleted:?}"
    );
    assert_eq!(code(finished), "step_up_required");
}

/// The whole freeze/unfreeze on a lagging instance: the challenge was issued (T0+100) on
/// one instance, the freeze and unfreeze recorded at T0+50 on another. In real order the
/// step-up began before the freeze: it must grant nothing.
#[test]
fn a_step_up_issued_before_a_freeze_grants_nothing_when_the_freeze_clock_lags() {
    let (w, mut k1, k2, _) = alice_world();
    w.clock.set(T0.plus_seconds(100));
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ))
    .unwrap();
    w.clock.set(T0.plus_seconds(50));
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    w.clock.set(T0.plus_seconds(101));
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let finished = w.finish(&response);
    assert_eq!(code(finished), "step_up_required");
}

/// A step-up started while frozen, a second (no-op) freeze, then the unfreeze: refused,
/// and so is one started in the same second just before the unfreeze; one started in
/// that second just after it serves (the freeze count orders them, not the clock).
#[test]
fn step_ups_started_while_frozen_or_just_before_the_unfreeze_grant_nothing() {
    let (w, mut k1, k2, _) = alice_world();
    let delete_k2 = Change::Delete(id(&k2));
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    later(&w, 10);
    let during = block_on(
        w.passkeys
            .start_step_up(&alice(), Scope::Exchange, &delete_k2),
    );
    later(&w, 10);
    block_on(w.passkeys.freeze(&alice(), "again", &w.context)).unwrap();
    later(&w, 10);
    let same_second_before = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &delete_k2,
    ))
    .unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    let same_second_after = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &delete_k2,
    ))
    .unwrap();
    later(&w, 10);
    let mut challenges = vec![same_second_before.challenge];
    if let Ok(during) = during {
        challenges.push(during.challenge);
    }
    for challenge in challenges {
        let response = w.answer(&mut k1, &challenge, &alice(), Scope::Exchange);
        assert_eq!(code(w.finish(&response)), "step_up_required");
    }
    // Non-vacuous: the one begun just after the unfreeze serves, and so does a later one.
    let response = w.answer(
        &mut k1,
        &same_second_after.challenge,
        &alice(),
        Scope::Exchange,
    );
    let granted = w.finish(&response).unwrap();
    assert!(granted.step_up.is_some());
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &delete_k2,
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&k2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
}

/// An unfreeze of an account that is not frozen, or a freeze-unfreeze cycle before a
/// step-up's finish in a LATER second: the step-up's challenge was still issued before the
/// last change, so it grants nothing, even in the Pay scope and for a DEX authorization.
#[test]
fn pay_and_dex_step_ups_begun_before_a_freeze_grant_nothing_after_it() {
    let (w, mut k1, _, mut k10) = alice_world();
    let pay = block_on(
        w.passkeys
            .start_step_up(&alice(), Scope::Pay, &Change::Delete(id(&k10))),
    )
    .unwrap();
    let dex = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::AuthorizeDex(id(&k1)),
    ))
    .unwrap();
    later(&w, 5);
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    later(&w, 5);
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    later(&w, 5);
    let response = w.answer(&mut k10, &pay.challenge, &alice(), Scope::Pay);
    assert_eq!(code(w.finish(&response)), "step_up_required");
    let response = w.answer(&mut k1, &dex.challenge, &alice(), Scope::Exchange);
    assert_eq!(code(w.finish(&response)), "step_up_required");
    assert!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .iter()
            .all(|c| !c.dex_authorized)
    );
}

/// P18 beyond step-ups: a withdrawal (and a Pay payment) whose challenge was issued before
/// a freeze is answered after the unfreeze: its challenge is void (`challenge_expired`),
/// whatever the clocks say. One begun after the unfreeze serves; a login begun before
/// still serves (login is allowed through a freeze).
#[test]
fn assertions_begun_before_a_freeze_serve_nothing_after_the_unfreeze() {
    let (w, mut k1, _, mut k10) = alice_world();
    let withdrawal = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let payment: &[u8] = b"pay 10 to bob";
    let pay = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::PaySign, Some(payment)),
    )
    .unwrap();
    let login = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    let response = w.answer(&mut k1, &withdrawal.challenge, &alice(), Scope::Exchange);
    assert_eq!(code(w.finish(&response)), "challenge_expired");
    let response = w.answer(&mut k10, &pay.challenge, &alice(), Scope::Pay);
    assert_eq!(
        code(block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(Some(payment))
        ))),
        "challenge_expired"
    );
    let response = w.answer(&mut k1, &login.challenge, &alice(), Scope::Exchange);
    w.finish(&response)
        .expect("a login begun before the freeze");
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Withdrawal, None)
        .expect("a withdrawal begun after the unfreeze");
    w.authenticate(
        &alice(),
        &mut k10,
        Scope::Pay,
        Intent::PaySign,
        Some(payment),
    )
    .expect("a payment begun after the unfreeze");
}
