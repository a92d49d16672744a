//! The policy tried as an attacker would, through the facade's public API only: one
//! test per way in that issue #13 found, each asserting the refusal and that nothing
//! changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use latchkey::json::{RegistrationResponse, b64};
use latchkey::{
    AccountId, Change, EventKind, Factor, FinishAuthentication, FinishRegistration,
    FinishReplacement, Intent, PolicyConfig, RequestContext, Scope, StepUp,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, World, factors, id, user, world};

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

/// Alice with Exchange passkeys `e1`, `e2` and Pay passkey `p1`.
fn alice_with_three(w: &World) -> (Authenticator, Authenticator, Authenticator) {
    let (e1, e2, p1) = (key(1), key(2), key(10));
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &e2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &p1, Scope::Pay, factors()).unwrap();
    (e1, e2, p1)
}

fn history_len(w: &World, account: &AccountId) -> usize {
    block_on(w.passkeys.history(account, 0, 500))
        .unwrap()
        .events
        .len()
}

#[test]
fn a_pay_passkey_never_answers_an_exchange_security_change() {
    // P1, P9: a service gating its own e-mail change with security_change, and a
    // passkey change's step-up, both refuse a Pay passkey.
    let w = world();
    let (_, _, mut p1) = alice_with_three(&w);
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::SecurityChange, None),
    )
    .unwrap();
    assert_eq!(
        options.allow_credentials.len(),
        2,
        "only Exchange passkeys offered"
    );
    assert!(
        options
            .allow_credentials
            .iter()
            .all(|c| c.id != b64(p1.credential_id()))
    );
    let before = history_len(&w, &alice());
    let response = w.answer(&mut p1, &options.challenge, &alice(), Scope::Pay);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "scope_mismatch");
    let err = w
        .step_up(
            &alice(),
            &mut p1,
            Scope::Pay,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap_err();
    assert_eq!(err.code(), "scope_mismatch");
    assert_eq!(
        history_len(&w, &alice()),
        before,
        "a refusal records nothing"
    );
    // And back: an Exchange passkey never steps up a Pay change.
    let mut e1 = key(1);
    let err = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Pay,
            &Change::AddPasskey,
        )
        .unwrap_err();
    assert_eq!(err.code(), "scope_mismatch");
    // The Pay security change is answered by the Pay passkey.
    let done = w
        .authenticate(
            &alice(),
            &mut p1,
            Scope::Pay,
            Intent::PaySecurityChange,
            None,
        )
        .unwrap();
    assert_eq!(
        (done.scope, done.intent),
        (Scope::Pay, Intent::PaySecurityChange)
    );
    assert!(done.user_verified);
}

#[test]
fn a_step_up_token_serves_its_one_change_once() {
    // P7: named change, single use, expiry, account-bound.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    let bob = AccountId::new("bob");
    w.register(&bob, &key(20), Scope::Exchange, factors())
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
    // Not for another change: another passkey, another kind, another scope, another account.
    let passkey = StepUp::Passkey(token.clone());
    let refused = |result: latchkey::Result<latchkey::Registered>| result.unwrap_err().code();
    assert_eq!(
        refused(w.register(&alice(), &key(3), Scope::Exchange, passkey.clone())),
        "step_up_required"
    );
    assert_eq!(
        refused(w.register(&alice(), &key(11), Scope::Pay, passkey.clone())),
        "step_up_required"
    );
    assert_eq!(
        block_on(w.passkeys.delete(&alice(), &id(&e1), &passkey, &w.context))
            .unwrap_err()
            .code(),
        "step_up_required"
    );
    assert_eq!(
        block_on(w.passkeys.delete(&bob, &id(&key(20)), &passkey, &w.context))
            .unwrap_err()
            .code(),
        "step_up_required"
    );
    // Its change, once.
    let deleted = block_on(w.passkeys.delete(&alice(), &id(&e2), &passkey, &w.context)).unwrap();
    assert!(
        deleted
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::StepUpRedeemed { .. }))
    );
    w.register(&alice(), &e2, Scope::Exchange, factors())
        .unwrap();
    assert_eq!(
        block_on(w.passkeys.delete(&alice(), &id(&e2), &passkey, &w.context))
            .unwrap_err()
            .code(),
        "step_up_required",
        "a spent token is worthless"
    );
    // It expires with its challenge.
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e2)),
        )
        .unwrap();
    w.clock.set(T0.plus_seconds(301));
    assert_eq!(
        block_on(
            w.passkeys
                .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context)
        )
        .unwrap_err()
        .code(),
        "step_up_required"
    );
    // The token's text round-trips, and its Debug does not show it.
    let token = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let text = serde_json::to_string(&token).unwrap();
    assert!(!format!("{token:?}").contains(text.trim_matches('"')));
    let back: latchkey::StepUpToken = serde_json::from_str(&text).unwrap();
    w.register(&alice(), &key(4), Scope::Exchange, StepUp::Passkey(back))
        .unwrap();
}

#[test]
fn a_step_up_token_is_redeemed_once_under_concurrency() {
    // Eight requests race to add eight passkeys with one token: one wins.
    let w = Arc::new(world());
    let (mut e1, _, _) = alice_with_three(&w);
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let racers = 8u8;
    let responses: Vec<RegistrationResponse> = (0..racers)
        .map(|n| {
            let options = block_on(w.passkeys.start_registration(
                &alice(),
                &user("alice"),
                Scope::Exchange,
                &StepUp::Passkey(token.clone()),
            ))
            .unwrap();
            RegistrationResponse::from_json(
                &key(30 + n).registration_json(&w.client, &options.challenge),
            )
            .unwrap()
        })
        .collect();
    let start = Arc::new(Barrier::new(usize::from(racers)));
    let handles: Vec<_> = responses
        .into_iter()
        .map(|response| {
            let (w, start, token) = (Arc::clone(&w), Arc::clone(&start), token.clone());
            thread::spawn(move || {
                start.wait();
                block_on(w.passkeys.finish_registration(FinishRegistration::new(
                    &alice(),
                    &response,
                    &StepUp::Passkey(token),
                    &w.context,
                )))
                .map_err(|e| e.code())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|code| *code == "step_up_required")
    );
    assert_eq!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn one_factor_does_not_step_up_an_exchange_change() {
    // P7: two distinct factors for Exchange by default, one for Pay.
    let w = world();
    let sms = StepUp::Factors(vec![Factor::Sms]);
    let sms_twice = StepUp::Factors(vec![Factor::Sms, Factor::Sms]);
    for step_up in [sms.clone(), sms_twice] {
        let err = w
            .register(&alice(), &key(1), Scope::Exchange, step_up)
            .unwrap_err();
        assert_eq!(err.code(), "step_up_required");
    }
    w.register(&alice(), &key(10), Scope::Pay, sms).unwrap();
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
}

#[test]
fn a_replaced_dex_passkey_hands_over_nothing_by_itself() {
    // P2, P3, P4: the successor of the last DEX passkey needs the terms (and its own UV).
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let change = Change::AuthorizeDex(id(&e1));
    let token = w
        .step_up(&alice(), &mut e1, Scope::Exchange, Scope::Exchange, &change)
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&e1), &token, true, &w.context),
    )
    .unwrap();

    let successor = key(5);
    let replace = |terms: bool| {
        let options =
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(&e1), &factors()),
            )
            .unwrap();
        let response = RegistrationResponse::from_json(
            &successor.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        block_on(
            w.passkeys.finish_replacement(
                FinishReplacement::new(&alice(), &id(&e1), &response, &factors(), &w.context)
                    .dex_terms_accepted(terms),
            ),
        )
    };
    assert_eq!(replace(false).unwrap_err().code(), "last_passkey");
    let done = replace(true).unwrap();
    assert!(done.credential.dex_authorized);
    assert!(
        done.events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::DexAuthorized { credential } if *credential == id(&successor)))
    );
    let accepted = done
        .accepted
        .expect("a replacement tells the client what to keep");
    assert!(
        !accepted
            .all_accepted_credential_ids
            .contains(&b64(e1.credential_id()))
    );
    assert!(
        accepted
            .all_accepted_credential_ids
            .contains(&b64(successor.credential_id()))
    );
}

#[test]
fn the_lock_covers_every_money_out_intent() {
    // P8: a reset locks withdrawals and DEX transfers; DEX trades and logins go on.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    let change = Change::AuthorizeDex(id(&e1));
    let token = w
        .step_up(&alice(), &mut e1, Scope::Exchange, Scope::Exchange, &change)
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&e1), &token, true, &w.context),
    )
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
    // Deleting e2 with the factors instead of a passkey locks.
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    let until = block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap();
    assert_eq!(until, Some(T0.plus_seconds(24 * 3600)));
    let err = w
        .authenticate(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Intent::DexTransfer,
            Some(b"move 5 SOL"),
        )
        .unwrap_err();
    assert_eq!(err.code(), "withdrawal_locked");
    let err = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Withdrawal, None)
        .unwrap_err();
    assert_eq!(err.code(), "withdrawal_locked");
    w.authenticate(
        &alice(),
        &mut e1,
        Scope::Exchange,
        Intent::DexTrade,
        Some(b"buy 1 SOL"),
    )
    .unwrap();
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    w.clock.set(T0.plus_seconds(24 * 3600));
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
    w.authenticate(
        &alice(),
        &mut e1,
        Scope::Exchange,
        Intent::DexTransfer,
        Some(b"move 5 SOL"),
    )
    .unwrap();
    let _ = &mut e2;
}

#[test]
fn a_passkeys_own_step_up_for_its_deletion_locks_like_factors() {
    // P7, P8: the passkey being removed vouching for its own removal is no second factor.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    let change = Change::Delete(id(&e2));
    let token = w
        .step_up(&alice(), &mut e2, Scope::Exchange, Scope::Exchange, &change)
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
    assert!(
        block_on(w.passkeys.withdrawals_locked_until(&alice()))
            .unwrap()
            .is_some()
    );
    // Another passkey's step-up does not lock.
    let w = world();
    let (_, e2b, _) = alice_with_three(&w);
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e2b)),
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2b), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
}

#[test]
fn a_challenge_named_for_one_account_is_never_answered_by_another() {
    // P9, P13, P15: Bob's valid passkey on Alice's withdrawal challenge.
    let w = world();
    let _ = alice_with_three(&w);
    let bob = AccountId::new("bob");
    let mut b1 = key(20);
    w.register(&bob, &b1, Scope::Exchange, factors()).unwrap();
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut b1, &options.challenge, &bob, Scope::Exchange);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknown_credential");
    assert_eq!(
        w.passkeys.signal_unknown_credential(&err),
        None,
        "Bob's passkey is valid: no signal may delete it"
    );
    // A passkey no account holds does get the signal.
    let mut stray = key(99);
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut stray, &options.challenge, &alice(), Scope::Exchange);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    let signal = w.passkeys.signal_unknown_credential(&err).unwrap();
    assert_eq!(signal.credential_id, b64(stray.credential_id()));
}

#[test]
fn a_response_from_another_session_is_refused() {
    // P16: the service binds the ceremony to its session.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let theirs = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Login, None),
    )
    .unwrap();
    let ours = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Login, None),
    )
    .unwrap();
    let response = w.answer(&mut e1, &theirs.challenge, &alice(), Scope::Exchange);
    let context = RequestContext {
        session_challenge: Some(ours.challenge.clone()),
        ..RequestContext::default()
    };
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    // The challenge it named was consumed all the same.
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_reused");
    let response = w.answer(&mut e1, &ours.challenge, &alice(), Scope::Exchange);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &context)),
    )
    .unwrap();
    assert!(
        done.events
            .iter()
            .all(|e| e.context.session_challenge.is_none()),
        "the session challenge is never recorded"
    );
}

#[test]
fn a_registration_the_finish_would_refuse_never_starts() {
    // P7 pre-flight: limit, step-up, a denied scope; and the token is not spent.
    let w = world();
    let mut policy = PolicyConfig::default();
    policy.limits.pay = 1;
    let w = World {
        passkeys: w.passkeys.with_policy(policy),
        ..w
    };
    let (mut e1, _, _) = alice_with_three(&w);
    let start = |scope, step_up: &StepUp| {
        block_on(
            w.passkeys
                .start_registration(&alice(), &user("alice"), scope, step_up),
        )
        .map_err(|e| e.code())
    };
    assert_eq!(start(Scope::Pay, &factors()).unwrap_err(), "limit_reached");
    assert_eq!(
        start(Scope::Exchange, &StepUp::None).unwrap_err(),
        "step_up_required"
    );
    assert_eq!(
        start(Scope::Exchange, &StepUp::Factors(vec![Factor::Sms])).unwrap_err(),
        "step_up_required"
    );
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let passkey = StepUp::Passkey(token);
    start(Scope::Exchange, &passkey).unwrap();
    start(Scope::Exchange, &passkey).unwrap();
    assert_eq!(start(Scope::Pay, &passkey).unwrap_err(), "step_up_required");
    w.register(&alice(), &key(3), Scope::Exchange, passkey)
        .unwrap();
}

#[test]
fn every_change_returns_the_events_it_appended() {
    // P14: what a call returns is what the history gained, once, in pages.
    let w = world();
    let alice = alice();
    let mut seen = Vec::new();
    let e1 = key(1);
    seen.extend(
        w.register(&alice, &e1, Scope::Exchange, factors())
            .unwrap()
            .events,
    );
    let e2 = key(2);
    seen.extend(
        w.register(&alice, &e2, Scope::Exchange, factors())
            .unwrap()
            .events,
    );
    seen.extend(
        block_on(w.passkeys.rename(&alice, &id(&e2), "Blue key", &w.context))
            .unwrap()
            .events,
    );
    seen.extend(
        block_on(w.passkeys.delete(&alice, &id(&e2), &factors(), &w.context))
            .unwrap()
            .events,
    );
    let mut e1 = e1;
    seen.extend(
        w.authenticate(&alice, &mut e1, Scope::Exchange, Intent::Login, None)
            .unwrap()
            .events,
    );
    let mut paged = Vec::new();
    let mut start = 0;
    loop {
        let page = block_on(w.passkeys.history(&alice, start, 2)).unwrap();
        assert!(page.events.len() <= 2);
        paged.extend(page.events);
        match page.next {
            Some(next) => start = next,
            None => break,
        }
    }
    assert_eq!(paged, seen);
}
