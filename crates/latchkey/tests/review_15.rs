//! Review of issue 15 (the facade's request structs): a challenge for another kind of
//! ceremony, account or intent is refused before its use is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use latchkey::{AccountId, Change, FinishAuthentication, Intent, Scope};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{factors, id, world};

fn history_len(w: &support::World, account: &AccountId) -> usize {
    block_on(w.passkeys.history(account, 0, latchkey::MAX_HISTORY_PAGE))
        .unwrap()
        .events
        .len()
}

fn key(seed: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
}

/// A step-up's challenge (same intent as a service-gated security change) offered to a
/// caller that finishes only plain security changes, and the other way round: refused,
/// nothing recorded; with the right flag it serves.
#[test]
fn step_up_and_security_change_challenges_swapped() {
    let w = world();
    let alice = AccountId::new("alice");
    let mut laptop = key(1);
    let phone = key(2);
    w.register(&alice, &laptop, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let before = history_len(&w, &alice);

    let change = Change::Delete(id(&phone));
    let options = block_on(w.passkeys.start_step_up(&alice, Scope::Exchange, &change)).unwrap();
    let response = w.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    let refused = block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context)
                .intents(&[Intent::SecurityChange])
                .account(&alice)
                .step_up(false),
        ),
    );
    assert_eq!(refused.unwrap_err().code(), "challenge_mismatch");

    let options = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::SecurityChange, None),
    )
    .unwrap();
    let response = w.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    let refused = block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context)
                .intents(&[Intent::SecurityChange])
                .account(&alice)
                .step_up(true),
        ),
    );
    assert_eq!(refused.unwrap_err().code(), "challenge_mismatch");
    assert_eq!(history_len(&w, &alice), before, "nothing recorded");

    // The right kind serves.
    let options = block_on(w.passkeys.start_step_up(&alice, Scope::Exchange, &change)).unwrap();
    let response = w.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    let done = block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context)
                .intents(&[Intent::SecurityChange])
                .account(&alice)
                .step_up(true),
        ),
    )
    .unwrap();
    assert!(done.step_up.is_some());
    let options = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::SecurityChange, None),
    )
    .unwrap();
    let response = w.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    let done = block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context)
                .intents(&[Intent::SecurityChange])
                .step_up(false),
        ),
    )
    .unwrap();
    assert!(done.step_up.is_none());
}

/// A challenge for another intent or account, passed to a finish that names what it
/// serves: refused before the use is recorded, and the challenge is spent (P16).
#[test]
fn challenge_for_another_intent_or_account_is_not_recorded() {
    let w = world();
    let alice = AccountId::new("alice");
    let bob = AccountId::new("bob");
    let mut laptop = key(1);
    let bobs = key(3);
    w.register(&alice, &laptop, Scope::Exchange, factors())
        .unwrap();
    w.register(&bob, &bobs, Scope::Exchange, factors()).unwrap();
    let before = history_len(&w, &alice);
    let options = block_on(
        w.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    for request in [
        FinishAuthentication::new(&response, &w.context).intents(&[Intent::Login]),
        FinishAuthentication::new(&response, &w.context)
            .intents(&[Intent::Withdrawal])
            .account(&bob),
    ] {
        let error = block_on(w.passkeys.finish_authentication(request)).unwrap_err();
        assert!(
            ["challenge_mismatch", "challenge_reused"].contains(&error.code()),
            "{error:?}"
        );
    }
    // Spent: the right finish afterwards is a replay.
    let error = block_on(
        w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context)
                .intents(&[Intent::Withdrawal])
                .account(&alice),
        ),
    )
    .unwrap_err();
    assert_eq!(error.code(), "challenge_reused");
    assert_eq!(history_len(&w, &alice), before);
    assert_eq!(history_len(&w, &bob), 1);
}
