//! Black-box attacks on P16, P18, P20, scope isolation and step-up tokens, through the
//! public API only. Each test asserts what the rule demands: it fails if the rule broke.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;

use latchkey::Event;
use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::policy::AccountState;
use latchkey::store::{ChallengeRecord, Owner, StoreError, TakeAndAppend, Taken, Versioned};
use latchkey::{
    AccountId, Change, CredentialId, FinishAuthentication, FinishRecovery, FinishRegistration,
    FinishReplacement, Intent, MemoryStore, Passkeys, RelyingParty, Scope, StepUp, Store,
    U2fCredential,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, code, factors, id, identity, operator, user, world_on};

/// A store shared by several service instances.
#[derive(Clone, Default)]
struct Shared(Arc<MemoryStore>);

impl Store for Shared {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.0.load(account).await
    }
    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.0.append(account, expected_version, events).await
    }
    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        self.0.account_of(credential).await
    }
    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        self.0.history(account).await
    }
    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.0.put_challenge(record).await
    }
    async fn purge_challenges(&self, now: latchkey::Timestamp) -> Result<usize, StoreError> {
        self.0.purge_challenges(now).await
    }
    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        self.0.take_challenge(challenge).await
    }
    async fn load_for_display(
        &self,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        self.0.load_for_display(account).await
    }
    async fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        self.0.put_challenge_and_load(record, account).await
    }
    async fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<(Taken, Option<Owner>), StoreError> {
        self.0.take_challenge_and_owner(challenge, credential).await
    }
    async fn append_loaded(
        &self,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.0.append_loaded(account, loaded, events).await
    }
    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
        self.0.peek_challenge_and_owner(challenge, credential).await
    }
    async fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<TakeAndAppend, StoreError> {
        self.0
            .take_challenge_and_append(challenge, account, loaded, events)
            .await
    }
}

/// Two service instances on one store.
fn two() -> (World<Shared>, World<Shared>) {
    let store = Shared::default();
    (world_on(store.clone()), world_on(store))
}

fn key(seed: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
}

/// The same key under another credential id.
fn same_key(seed: u8, new_id: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32])).with_credential_id(vec![new_id; 20])
}

fn acct(name: &str) -> AccountId {
    AccountId::new(name)
}

fn finish_auth<S: Store>(
    w: &World<S>,
    response: &AuthenticationResponse,
) -> latchkey::Result<latchkey::Authenticated> {
    block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(response, &w.context)),
    )
}

fn recover<S: Store>(
    w: &World<S>,
    account: &AccountId,
    scope: Scope,
    new: &Authenticator,
) -> latchkey::Result<latchkey::Registered> {
    let options =
        block_on(
            w.passkeys
                .start_recovery(account, &user(account.as_str()), scope, &identity()),
        )?;
    let response =
        RegistrationResponse::from_json(&new.registration_json(&w.client, &options.challenge))?;
    let ctx = operator();
    block_on(
        w.passkeys
            .finish_recovery(FinishRecovery::new(account, &response, &identity(), &ctx)),
    )
}

fn replace<S: Store>(
    w: &World<S>,
    account: &AccountId,
    old: &CredentialId,
    new: &Authenticator,
    step_up: &StepUp,
) -> latchkey::Result<latchkey::Registered> {
    let options =
        block_on(
            w.passkeys
                .start_replacement(account, &user(account.as_str()), old, step_up),
        )?;
    let response =
        RegistrationResponse::from_json(&new.registration_json(&w.client, &options.challenge))?;
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        account, old, &response, step_up, &w.context,
    )))
}

// ---------------------------------------------------------------- P16

#[test]
fn p16_login_replay_on_second_instance_is_reused() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(a.passkeys.start_login(Some(&alice))).unwrap();
    let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    finish_auth(&a, &response).unwrap();
    assert_eq!(code(finish_auth(&b, &response)), "challenge_reused");
    assert_eq!(code(finish_auth(&a, &response)), "challenge_reused");
}

#[test]
fn p16_refused_answer_spends_the_challenge_for_every_instance() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .or_else(|_| block_on(a.passkeys.start_login(Some(&alice))))
    .unwrap();
    // A stranger's key answers first: refused, but the challenge is spent.
    let mut stranger = key(9);
    let bad = a.answer(&mut stranger, &options.challenge, &alice, Scope::Exchange);
    assert!(finish_auth(&b, &bad).is_err());
    let good = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    assert_eq!(code(finish_auth(&a, &good)), "challenge_reused");
    assert_eq!(code(finish_auth(&b, &good)), "challenge_reused");
}

#[test]
fn p16_refused_step_up_spends_the_challenge() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_step_up(&alice, Scope::Exchange, &Change::AddPasskey),
    )
    .unwrap();
    // Answered first with a bad user handle (another account's): refused.
    let bad = a.answer(
        &mut phone,
        &options.challenge,
        &acct("mallory"),
        Scope::Exchange,
    );
    assert!(finish_auth(&b, &bad).is_err());
    let good = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    assert_eq!(code(finish_auth(&a, &good)), "challenge_reused");
}

#[test]
fn p16_racing_finishes_on_two_instances_one_wins() {
    for round in 0..20u8 {
        let (a, b) = two();
        let alice = acct("alice");
        let mut phone = key(1);
        a.register(&alice, &phone, Scope::Exchange, factors())
            .unwrap();
        let options = block_on(a.passkeys.start_step_up(
            &alice,
            Scope::Exchange,
            &Change::AddPasskey,
        ))
        .unwrap();
        let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
        let (ra, rb) = std::thread::scope(|s| {
            let ha = s.spawn(|| finish_auth(&a, &response).map(|d| d.step_up.is_some()));
            let hb = s.spawn(|| finish_auth(&b, &response).map(|d| d.step_up.is_some()));
            (ha.join().unwrap(), hb.join().unwrap())
        });
        let oks = usize::from(ra.is_ok()) + usize::from(rb.is_ok());
        assert_eq!(oks, 1, "round {round}: exactly one wins: {ra:?} {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert_eq!(loser.unwrap_err().code(), "challenge_reused");
    }
}

#[test]
fn p16_registration_response_replay_on_second_instance() {
    let (a, b) = two();
    let alice = acct("alice");
    let phone = key(1);
    let step_up = factors();
    let options =
        block_on(
            a.passkeys
                .start_registration(&alice, &user("alice"), Scope::Exchange, &step_up),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&phone.registration_json(&a.client, &options.challenge))
            .unwrap();
    block_on(a.passkeys.finish_registration(FinishRegistration::new(
        &alice, &response, &step_up, &a.context,
    )))
    .unwrap();
    // Replayed on another instance for another account: the challenge is spent.
    let bob = acct("bob");
    let replay = block_on(b.passkeys.finish_registration(FinishRegistration::new(
        &bob, &response, &step_up, &b.context,
    )));
    assert_eq!(code(replay), "challenge_reused");
}

#[test]
fn p16_withdrawal_replay_is_reused() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .unwrap();
    let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    let first = finish_auth(&a, &response);
    // Whatever the first answer got (the lock after a first passkey may refuse it), a
    // replay on either instance is never accepted.
    let _ = first;
    assert_eq!(code(finish_auth(&b, &response)), "challenge_reused");
}

// ---------------------------------------------------------------- P18

#[test]
fn p18_step_up_token_granted_before_freeze_is_void_after_unfreeze() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let token = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    block_on(a.passkeys.freeze(&alice, "user asked", &a.context)).unwrap();
    let ops = operator();
    block_on(b.passkeys.unfreeze(&alice, &identity(), &ops)).unwrap();
    assert!(!block_on(b.passkeys.is_frozen(&alice)).unwrap());
    let laptop = key(2);
    let result = b.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(token));
    assert_eq!(code(result), "step_up_required");
}

#[test]
fn p18_step_up_token_for_delete_void_after_freeze_cycle() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    let laptop = key(2);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let t = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    a.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(t))
        .unwrap();
    let del = Change::Delete(id(&laptop));
    let token = a
        .step_up(&alice, &mut phone, Scope::Exchange, Scope::Exchange, &del)
        .unwrap();
    block_on(b.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    // While frozen the token serves nothing.
    let frozen = block_on(a.passkeys.delete(
        &alice,
        &id(&laptop),
        &StepUp::Passkey(token.clone()),
        &a.context,
    ));
    assert_eq!(code(frozen), "account_frozen");
    block_on(a.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
    let after =
        block_on(
            b.passkeys
                .delete(&alice, &id(&laptop), &StepUp::Passkey(token), &b.context),
        );
    assert!(
        after.is_err(),
        "a pre-freeze grant served after the unfreeze"
    );
    assert_eq!(
        block_on(a.passkeys.list(&alice, Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn p18_step_up_begun_before_freeze_serves_nothing_after_unfreeze() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_step_up(&alice, Scope::Exchange, &Change::AddPasskey),
    )
    .unwrap();
    block_on(a.passkeys.freeze(&alice, "user asked", &a.context)).unwrap();
    block_on(b.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
    let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    let done = finish_auth(&b, &response);
    assert!(
        done.is_err(),
        "a step-up begun before the freeze finished after it"
    );
}

#[test]
fn p18_step_up_begun_while_frozen_serves_nothing_after_unfreeze() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    block_on(a.passkeys.freeze(&alice, "user asked", &a.context)).unwrap();
    // If a start while frozen is allowed at all, its finish must serve nothing after
    // the unfreeze.
    let options = block_on(
        a.passkeys
            .start_step_up(&alice, Scope::Exchange, &Change::AddPasskey),
    );
    block_on(b.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
    if let Ok(options) = options {
        let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
        let done = finish_auth(&b, &response);
        assert!(
            done.is_err(),
            "a step-up begun while frozen served after the unfreeze"
        );
    } else {
        assert_eq!(code(options), "account_frozen");
    }
}

#[test]
fn p18_withdrawal_begun_before_freeze_serves_nothing() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    // Let any first-passkey withdrawal lock pass.
    a.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    b.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    // Control: a withdrawal works now.
    a.authenticate(
        &alice,
        &mut phone,
        Scope::Exchange,
        Intent::Withdrawal,
        None,
    )
    .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    assert!(
        finish_auth(&b, &response).is_err(),
        "withdrawal while frozen"
    );

    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    );
    assert!(
        options.is_err() || {
            // Started while frozen: must not serve after unfreeze.
            block_on(b.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
            let r = a.answer(
                &mut phone,
                &options.unwrap().challenge,
                &alice,
                Scope::Exchange,
            );
            finish_auth(&b, &r).is_err()
        }
    );
}

#[test]
fn p18_withdrawal_begun_before_freeze_unfreeze_cycle() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    a.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    b.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    a.authenticate(
        &alice,
        &mut phone,
        Scope::Exchange,
        Intent::Withdrawal,
        None,
    )
    .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::Withdrawal, None),
    )
    .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    block_on(b.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
    let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
    assert!(
        finish_auth(&b, &response).is_err(),
        "pre-freeze withdrawal served"
    );
}

#[test]
fn p18_pay_signing_begun_before_freeze_cycle_serves_nothing() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut pay = key(3);
    a.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    a.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    b.clock
        .set(latchkey::Timestamp(support::T0.0 + 30 * 86_400));
    let tx: &[u8] = b"pay 5 EUR";
    a.authenticate(&alice, &mut pay, Scope::Pay, Intent::PaySign, Some(tx))
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice, Intent::PaySign, Some(tx)),
    )
    .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    block_on(b.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
    let response = a.answer(&mut pay, &options.challenge, &alice, Scope::Pay);
    assert!(
        finish_auth(&b, &response).is_err(),
        "pre-freeze payment served"
    );
}

#[test]
fn p18_unfreeze_needs_the_identity_check() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    let ops = operator();
    assert_eq!(
        code(block_on(b.passkeys.unfreeze(&alice, &factors(), &ops))),
        "step_up_required"
    );
    assert_eq!(
        code(block_on(b.passkeys.unfreeze(&alice, &StepUp::None, &ops))),
        "step_up_required"
    );
    let one = StepUp::Factors(vec![latchkey::Factor::IdDocument]);
    assert_eq!(
        code(block_on(b.passkeys.unfreeze(&alice, &one, &ops))),
        "step_up_required"
    );
    let doubled = StepUp::Factors(vec![latchkey::Factor::Face, latchkey::Factor::Face]);
    assert_eq!(
        code(block_on(b.passkeys.unfreeze(&alice, &doubled, &ops))),
        "step_up_required"
    );
    // A passkey alone: a step-up token, if one can even be had while frozen.
    if let Ok(token) = b.step_up(
        &alice,
        &mut phone,
        Scope::Exchange,
        Scope::Exchange,
        &Change::AddPasskey,
    ) {
        let r = block_on(b.passkeys.unfreeze(&alice, &StepUp::Passkey(token), &ops));
        assert_eq!(code(r), "step_up_required");
    }
    assert!(block_on(a.passkeys.is_frozen(&alice)).unwrap());
}

#[test]
fn p18_frozen_refuses_everything_but_login() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    let laptop = key(2);
    let mut pay = key(3);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let t = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    a.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(t))
        .unwrap();
    a.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    block_on(a.passkeys.freeze(&alice, "user asked", &a.context)).unwrap();
    // Login still works.
    b.authenticate(&alice, &mut phone, Scope::Exchange, Intent::Login, None)
        .unwrap();
    let ctx = b.context.clone();
    assert_eq!(
        code(b.register(&alice, &key(4), Scope::Exchange, factors())),
        "account_frozen"
    );
    assert_eq!(
        code(b.register(&alice, &key(5), Scope::Pay, factors())),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(b.passkeys.rename(&alice, &id(&laptop), "x", &ctx))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(b.passkeys.delete(
            &alice,
            &id(&laptop),
            &factors(),
            &ctx
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(replace(&b, &alice, &id(&laptop), &key(6), &factors())),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(b.passkeys.set_passkey_required(
            &alice,
            true,
            &factors(),
            &ctx
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(b.authenticate(&alice, &mut pay, Scope::Pay, Intent::PaySign, Some(b"p"))),
        "account_frozen"
    );
    assert_eq!(
        code(b.authenticate(
            &alice,
            &mut phone,
            Scope::Exchange,
            Intent::Withdrawal,
            None
        )),
        "account_frozen"
    );
    assert_eq!(
        code(b.authenticate(
            &alice,
            &mut phone,
            Scope::Exchange,
            Intent::SecurityChange,
            None
        )),
        "account_frozen"
    );
    assert_eq!(
        code(b.step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey
        )),
        "account_frozen"
    );
    assert_eq!(
        block_on(a.passkeys.list(&alice, Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn p18_recovery_is_a_change_refused_while_frozen() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    assert!(block_on(b.passkeys.is_frozen(&alice)).unwrap());
    // Recovery revokes every passkey of the scope and adds one: a change.
    let r = recover(&b, &alice, Scope::Exchange, &key(7));
    let still_frozen = block_on(b.passkeys.is_frozen(&alice)).unwrap();
    let listed = block_on(a.passkeys.list(&alice, Scope::Exchange))
        .unwrap()
        .len();
    let old_login = b
        .authenticate(&alice, &mut phone, Scope::Exchange, Intent::Login, None)
        .is_ok();
    assert_eq!(
        r.as_ref().map(|_| ()).map_err(latchkey::Error::code),
        Err("account_frozen"),
        "recovery while frozen: frozen={still_frozen}, passkeys={listed}, old login ok={old_login}"
    );
}

#[test]
fn p18_registration_begun_before_freeze_refused_while_frozen() {
    let (a, b) = two();
    let alice = acct("alice");
    let phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let pay = key(3);
    let step_up = factors();
    let options =
        block_on(
            a.passkeys
                .start_registration(&alice, &user("alice"), Scope::Pay, &step_up),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&pay.registration_json(&a.client, &options.challenge))
            .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    let r = block_on(b.passkeys.finish_registration(FinishRegistration::new(
        &alice, &response, &step_up, &b.context,
    )));
    assert_eq!(code(r), "account_frozen");
}

#[test]
fn p18_recovery_begun_before_freeze_refused_while_frozen() {
    let (a, b) = two();
    let alice = acct("alice");
    let phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let new = key(7);
    let options =
        block_on(
            a.passkeys
                .start_recovery(&alice, &user("alice"), Scope::Exchange, &identity()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&new.registration_json(&a.client, &options.challenge))
            .unwrap();
    block_on(a.passkeys.freeze(&alice, "risk", &operator())).unwrap();
    let ctx = operator();
    let r = block_on(b.passkeys.finish_recovery(FinishRecovery::new(
        &alice,
        &response,
        &identity(),
        &ctx,
    )));
    assert!(
        r.is_err(),
        "a recovery begun before the freeze finished while frozen"
    );
}

#[test]
fn p18_step_up_racing_a_freeze_serves_nothing_after_unfreeze() {
    for round in 0..20u8 {
        let (a, b) = two();
        let alice = acct("alice");
        let mut phone = key(1);
        a.register(&alice, &phone, Scope::Exchange, factors())
            .unwrap();
        let options = block_on(a.passkeys.start_step_up(
            &alice,
            Scope::Exchange,
            &Change::AddPasskey,
        ))
        .unwrap();
        let response = a.answer(&mut phone, &options.challenge, &alice, Scope::Exchange);
        let (done, frozen) = std::thread::scope(|s| {
            let h1 = s.spawn(|| finish_auth(&b, &response));
            let h2 = s.spawn(|| block_on(a.passkeys.freeze(&alice, "risk", &operator())));
            (h1.join().unwrap(), h2.join().unwrap())
        });
        frozen.unwrap();
        block_on(a.passkeys.unfreeze(&alice, &identity(), &operator())).unwrap();
        if let Ok(done) = done {
            let token = done.step_up.expect("a token");
            let r = b.register(&alice, &key(2), Scope::Exchange, StepUp::Passkey(token));
            assert!(
                r.is_err(),
                "round {round}: a grant racing the freeze served after it"
            );
        }
    }
}

#[test]
#[ignore = "open (P20, strict reading): a copy of the key registered on another account before the revocation keeps working; refusing it needs the stores to index registered keys, not only revoked ones"]
fn p20_registration_racing_revocation_never_keeps_the_key() {
    for round in 0..20u8 {
        let (a, b) = two();
        let alice = acct("alice");
        let bob = acct("bob");
        let phone = key(1);
        a.register(&alice, &phone, Scope::Exchange, factors())
            .unwrap();
        let step_up = factors();
        let options =
            block_on(
                b.passkeys
                    .start_registration(&bob, &user("bob"), Scope::Exchange, &step_up),
            )
            .unwrap();
        let clone = same_key(1, 0x81);
        let response = RegistrationResponse::from_json(
            &clone.registration_json(&b.client, &options.challenge),
        )
        .unwrap();
        let (reg, rev) = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                block_on(b.passkeys.finish_registration(FinishRegistration::new(
                    &bob, &response, &step_up, &b.context,
                )))
            });
            let h2 = s.spawn(|| {
                block_on(
                    a.passkeys
                        .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
                )
            });
            (h1.join().unwrap(), h2.join().unwrap())
        });
        rev.unwrap();
        let mut bobs = same_key(1, 0x81);
        let usable = b
            .authenticate(&bob, &mut bobs, Scope::Exchange, Intent::Login, None)
            .is_ok();
        assert!(
            !usable,
            "round {round}: the revoked key stayed usable on bob (registration {:?})",
            reg.map(|_| ())
        );
    }
}

// ---------------------------------------------------------------- P20

#[test]
fn p20_revoked_key_never_registered_again_anywhere() {
    let (a, b) = two();
    let alice = acct("alice");
    let bob = acct("bob");
    let mut phone = key(1);
    let laptop = key(2);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let t = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    a.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(t))
        .unwrap();
    block_on(
        a.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    // The revoked passkey logs in nowhere.
    assert_eq!(
        code(b.authenticate(&alice, &mut phone, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
    // Same id, same key again.
    assert!(
        b.register(&alice, &phone, Scope::Exchange, factors())
            .is_err()
    );
    // Same key, new id: this account (either scope), another account (either scope).
    assert!(
        b.register(&alice, &same_key(1, 0x31), Scope::Exchange, factors())
            .is_err()
    );
    assert!(
        b.register(&alice, &same_key(1, 0x32), Scope::Pay, factors())
            .is_err()
    );
    assert!(
        b.register(&bob, &same_key(1, 0x33), Scope::Exchange, factors())
            .is_err()
    );
    assert!(
        b.register(&bob, &same_key(1, 0x34), Scope::Pay, factors())
            .is_err()
    );
    // Replacement and recovery.
    assert!(replace(&b, &alice, &id(&laptop), &same_key(1, 0x35), &factors()).is_err());
    assert!(recover(&b, &bob, Scope::Exchange, &same_key(1, 0x36)).is_err());
    assert!(recover(&b, &alice, Scope::Pay, &same_key(1, 0x37)).is_err());
    assert!(
        b.register(&acct("carol"), &phone, Scope::Exchange, factors())
            .is_err()
    );
    // Controls: a fresh key is still accepted.
    b.register(&bob, &key(8), Scope::Exchange, factors())
        .unwrap();
}

#[test]
fn p20_revoked_key_never_imported_through_u2f() {
    let store = Shared::default();
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .app_id("https://example.com/app-id.json")
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, store.clone());
    let a = world_on(store);
    let alice = acct("alice");
    let bob = acct("bob");
    let phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    block_on(
        a.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    let point = phone.key().uncompressed_point().unwrap();
    // Control: a U2F import of another key works.
    let other = key(9).key().uncompressed_point().unwrap();
    let ok = U2fCredential::new(&[0x77; 64], &other, "https://example.com/app-id.json").unwrap();
    block_on(passkeys.import_u2f(
        &acct("dave"),
        Scope::Exchange,
        &ok,
        0,
        &factors(),
        &operator(),
    ))
    .unwrap();
    for (who, scope, handle) in [
        (&bob, Scope::Exchange, 0x41u8),
        (&bob, Scope::Pay, 0x42),
        (&alice, Scope::Exchange, 0x43),
        (&alice, Scope::Pay, 0x44),
    ] {
        let u2f =
            U2fCredential::new(&[handle; 64], &point, "https://example.com/app-id.json").unwrap();
        let r = block_on(passkeys.import_u2f(who, scope, &u2f, 0, &factors(), &operator()));
        assert!(
            r.is_err(),
            "revoked key imported via U2F into {who:?} {scope:?}"
        );
    }
    // The revoked id itself as a key handle.
    let u2f = U2fCredential::new(
        phone.credential_id(),
        &point,
        "https://example.com/app-id.json",
    )
    .unwrap();
    assert!(
        block_on(passkeys.import_u2f(&bob, Scope::Exchange, &u2f, 0, &factors(), &operator()))
            .is_err()
    );
}

#[test]
fn p20_registration_begun_before_revocation_on_other_instance_is_refused() {
    let (a, b) = two();
    let alice = acct("alice");
    let bob = acct("bob");
    let phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    // Bob's instance starts registering the same key under a new id.
    let step_up = factors();
    let options =
        block_on(
            b.passkeys
                .start_registration(&bob, &user("bob"), Scope::Exchange, &step_up),
        )
        .unwrap();
    let clone = same_key(1, 0x51);
    let response =
        RegistrationResponse::from_json(&clone.registration_json(&b.client, &options.challenge))
            .unwrap();
    block_on(
        a.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    let r = block_on(b.passkeys.finish_registration(FinishRegistration::new(
        &bob, &response, &step_up, &b.context,
    )));
    assert!(
        r.is_err(),
        "a revoked key registered by a ceremony begun before the revocation"
    );
}

#[test]
fn p20_recovery_revoked_passkeys_never_used_or_registered_again() {
    let (a, b) = two();
    let alice = acct("alice");
    let bob = acct("bob");
    let mut phone = key(1);
    let mut pay = key(3);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    a.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    // A step-up begun with the old passkey before the recovery.
    let pending = block_on(
        a.passkeys
            .start_step_up(&alice, Scope::Exchange, &Change::AddPasskey),
    )
    .unwrap();
    let token_before = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    recover(&a, &alice, Scope::Exchange, &key(10)).unwrap();
    recover(&b, &alice, Scope::Pay, &key(11)).unwrap();
    assert_eq!(
        code(b.authenticate(&alice, &mut phone, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
    assert!(
        b.authenticate(&alice, &mut pay, Scope::Pay, Intent::PaySign, Some(b"p"))
            .is_err()
    );
    let late = a.answer(&mut phone, &pending.challenge, &alice, Scope::Exchange);
    assert!(
        finish_auth(&b, &late).is_err(),
        "revoked passkey finished a step-up"
    );
    // A grant the revoked passkey made before the recovery.
    assert!(
        b.register(
            &alice,
            &key(12),
            Scope::Exchange,
            StepUp::Passkey(token_before)
        )
        .is_err()
    );
    // Never registered again: same ids, or same keys under new ids, anywhere.
    assert!(
        b.register(&bob, &phone, Scope::Exchange, factors())
            .is_err()
    );
    assert!(b.register(&bob, &pay, Scope::Pay, factors()).is_err());
    assert!(
        b.register(&bob, &same_key(1, 0x61), Scope::Pay, factors())
            .is_err()
    );
    assert!(
        b.register(&bob, &same_key(3, 0x62), Scope::Exchange, factors())
            .is_err()
    );
    assert!(recover(&b, &alice, Scope::Exchange, &same_key(1, 0x63)).is_err());
    assert!(recover(&b, &bob, Scope::Pay, &same_key(3, 0x64)).is_err());
}

#[test]
fn p20_same_key_other_scope_same_account_goes_with_revocation() {
    let (a, b) = two();
    let alice = acct("alice");
    let phone = key(1);
    let mut pay_twin = same_key(1, 0x71);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let twin = a.register(&alice, &pay_twin, Scope::Pay, factors());
    // Either one key per account is enforced, or the twin goes with the revocation.
    if let Err(e) = twin {
        eprintln!("twin refused: {}", e.code());
        return;
    }
    block_on(
        a.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    assert!(
        b.authenticate(
            &alice,
            &mut pay_twin,
            Scope::Pay,
            Intent::PaySign,
            Some(b"p")
        )
        .is_err(),
        "the revoked key still signs payments under another id"
    );
}

// ---------------------------------------------------------------- scopes and tokens

#[test]
fn scopes_never_cross() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    let mut pay = key(3);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    a.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    // Controls: each passkey serves its own scope.
    b.authenticate(&alice, &mut phone, Scope::Exchange, Intent::Login, None)
        .unwrap();
    b.authenticate(&alice, &mut pay, Scope::Pay, Intent::PaySign, Some(b"p"))
        .unwrap();
    // Pay passkey answering Exchange intents, with either scope's user handle.
    for held in [Scope::Pay, Scope::Exchange] {
        assert!(
            b.authenticate(&alice, &mut pay, held, Intent::Login, None)
                .is_err()
        );
        assert!(
            b.authenticate(&alice, &mut pay, held, Intent::Withdrawal, None)
                .is_err()
        );
        assert!(
            b.authenticate(&alice, &mut pay, held, Intent::SecurityChange, None)
                .is_err()
        );
        assert!(
            b.step_up(&alice, &mut pay, held, Scope::Exchange, &Change::AddPasskey)
                .is_err()
        );
        // Exchange passkey answering Pay intents.
        assert!(
            b.authenticate(&alice, &mut phone, held, Intent::PaySign, Some(b"p"))
                .is_err()
        );
        assert!(
            b.authenticate(&alice, &mut phone, held, Intent::PaySecurityChange, None)
                .is_err()
        );
        assert!(
            b.step_up(&alice, &mut phone, held, Scope::Pay, &Change::AddPasskey)
                .is_err()
        );
    }
    // Discoverable login with a Pay passkey.
    let options = block_on(b.passkeys.start_login(None)).unwrap();
    let r = b.answer(&mut pay, &options.challenge, &alice, Scope::Pay);
    assert!(finish_auth(&a, &r).is_err(), "Pay passkey logged in");
}

#[test]
fn step_up_token_is_single_use_and_for_its_change() {
    let (a, b) = two();
    let alice = acct("alice");
    let bob = acct("bob");
    let mut phone = key(1);
    let mut pay = key(3);
    let laptop = key(2);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    a.register(&alice, &pay, Scope::Pay, factors()).unwrap();
    b.register(&bob, &key(20), Scope::Exchange, factors())
        .unwrap();

    let token = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    // Not for another account, nor the other scope, nor another change.
    assert!(
        b.register(
            &bob,
            &key(21),
            Scope::Exchange,
            StepUp::Passkey(token.clone())
        )
        .is_err()
    );
    assert!(
        b.register(&alice, &key(22), Scope::Pay, StepUp::Passkey(token.clone()))
            .is_err()
    );
    assert!(
        block_on(b.passkeys.set_passkey_required(
            &alice,
            true,
            &StepUp::Passkey(token.clone()),
            &b.context
        ))
        .is_err()
    );
    // Once, on any instance.
    b.register(
        &alice,
        &laptop,
        Scope::Exchange,
        StepUp::Passkey(token.clone()),
    )
    .unwrap();
    assert_eq!(
        code(a.register(
            &alice,
            &key(23),
            Scope::Exchange,
            StepUp::Passkey(token.clone())
        )),
        "step_up_required"
    );
    // A token for deleting one passkey does not delete another.
    let del = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&laptop)),
        )
        .unwrap();
    assert!(
        block_on(b.passkeys.delete(
            &alice,
            &id(&phone),
            &StepUp::Passkey(del.clone()),
            &b.context
        ))
        .is_err()
    );
    assert!(
        replace(
            &b,
            &alice,
            &id(&laptop),
            &key(24),
            &StepUp::Passkey(del.clone())
        )
        .is_err()
    );
    block_on(b.passkeys.delete(
        &alice,
        &id(&laptop),
        &StepUp::Passkey(del.clone()),
        &b.context,
    ))
    .unwrap();
    // Pay step-up serves no Exchange change; Exchange token serves no Pay change.
    let pay_token = a
        .step_up(
            &alice,
            &mut pay,
            Scope::Pay,
            Scope::Pay,
            &Change::AddPasskey,
        )
        .unwrap();
    assert!(
        b.register(
            &alice,
            &key(25),
            Scope::Exchange,
            StepUp::Passkey(pay_token.clone())
        )
        .is_err()
    );
    assert!(
        block_on(b.passkeys.set_passkey_required(
            &alice,
            true,
            &StepUp::Passkey(pay_token.clone()),
            &b.context
        ))
        .is_err()
    );
    b.register(&alice, &key(26), Scope::Pay, StepUp::Passkey(pay_token))
        .unwrap();
    // A token in a start is judged, not spent; the finish spends it once only.
    let t2 = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let su = StepUp::Passkey(t2);
    let o1 = block_on(
        a.passkeys
            .start_registration(&alice, &user("alice"), Scope::Exchange, &su),
    )
    .unwrap();
    let o2 = block_on(
        b.passkeys
            .start_registration(&alice, &user("alice"), Scope::Exchange, &su),
    )
    .unwrap();
    let k1 = key(27);
    let k2 = key(28);
    let r1 =
        RegistrationResponse::from_json(&k1.registration_json(&a.client, &o1.challenge)).unwrap();
    let r2 =
        RegistrationResponse::from_json(&k2.registration_json(&b.client, &o2.challenge)).unwrap();
    let (x, y) = std::thread::scope(|s| {
        let hx = s.spawn(|| {
            block_on(
                a.passkeys
                    .finish_registration(FinishRegistration::new(&alice, &r1, &su, &a.context)),
            )
        });
        let hy = s.spawn(|| {
            block_on(
                b.passkeys
                    .finish_registration(FinishRegistration::new(&alice, &r2, &su, &b.context)),
            )
        });
        (hx.join().unwrap(), hy.join().unwrap())
    });
    assert_eq!(
        usize::from(x.is_ok()) + usize::from(y.is_ok()),
        1,
        "one token added two passkeys: {x:?} {y:?}"
    );
}

/// The sequential form of the race above: the same key is registered on another account
/// under another id first, then revoked on the first account as compromised. Read
/// strictly ("a revoked passkey's key is never usable again"), the copy must go too.
#[test]
#[ignore = "open (P20, strict reading): a copy of the key registered on another account before the revocation keeps working; refusing it needs the stores to index registered keys, not only revoked ones"]
fn p20_same_key_on_other_account_registered_before_revocation() {
    let (a, b) = two();
    let alice = acct("alice");
    let bob = acct("bob");
    let phone = key(1);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let mut copy = same_key(1, 0x91);
    b.register(&bob, &copy, Scope::Exchange, factors()).unwrap();
    b.authenticate(&bob, &mut copy, Scope::Exchange, Intent::Login, None)
        .unwrap();
    block_on(
        a.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    assert!(
        b.authenticate(&bob, &mut copy, Scope::Exchange, Intent::Login, None)
            .is_err(),
        "the compromised key still logs in to bob under another id"
    );
}

#[test]
fn p20_operator_revoked_passkey_serves_nothing_it_started_or_granted() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    let mut laptop = key(2);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let t = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    a.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(t))
        .unwrap();
    let granted = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let pending = block_on(a.passkeys.start_login(None)).unwrap();
    let pending_su = block_on(a.passkeys.start_step_up(
        &alice,
        Scope::Exchange,
        &Change::AddPasskey,
    ))
    .unwrap();
    block_on(
        b.passkeys
            .revoke_compromised(&alice, &id(&phone), "stolen", &operator()),
    )
    .unwrap();
    let r = a.answer(&mut phone, &pending.challenge, &alice, Scope::Exchange);
    assert_eq!(code(finish_auth(&b, &r)), "unknown_credential");
    let r = a.answer(&mut phone, &pending_su.challenge, &alice, Scope::Exchange);
    assert!(
        finish_auth(&b, &r).is_err(),
        "revoked passkey finished a step-up"
    );
    // The laptop still works (the setup is sound).
    b.authenticate(&alice, &mut laptop, Scope::Exchange, Intent::Login, None)
        .unwrap();
    // A grant the compromised passkey made before the revocation adds no passkey.
    let r = b.register(&alice, &key(30), Scope::Exchange, StepUp::Passkey(granted));
    assert!(
        r.is_err(),
        "a compromised passkey's grant served after its revocation"
    );
}

#[test]
fn dex_authorization_token_only_for_its_own_passkey() {
    let (a, b) = two();
    let alice = acct("alice");
    let mut phone = key(1);
    let mut laptop = key(2);
    a.register(&alice, &phone, Scope::Exchange, factors())
        .unwrap();
    let t = a
        .step_up(
            &alice,
            &mut phone,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    a.register(&alice, &laptop, Scope::Exchange, StepUp::Passkey(t))
        .unwrap();
    let laptop_id = id(&laptop);
    let phone_id = id(&phone);
    let token = a
        .step_up(
            &alice,
            &mut laptop,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(laptop_id.clone()),
        )
        .unwrap();
    let r = block_on(
        b.passkeys
            .authorize_dex(&alice, &phone_id, &token, true, &b.context),
    );
    assert!(r.is_err(), "the laptop's DEX token authorized the phone");
    block_on(
        b.passkeys
            .authorize_dex(&alice, &laptop_id, &token, true, &b.context),
    )
    .unwrap();
    let again = block_on(
        a.passkeys
            .authorize_dex(&alice, &laptop_id, &token, true, &a.context),
    );
    // Re-authorizing an authorized passkey may append nothing; the token must not be
    // reusable for the other passkey either.
    let _ = again;
    let r = block_on(
        a.passkeys
            .authorize_dex(&alice, &phone_id, &token, true, &a.context),
    );
    assert!(r.is_err(), "a spent DEX token authorized another passkey");
    // A step-up by the phone for the phone, answered by the laptop.
    let options = block_on(a.passkeys.start_step_up(
        &alice,
        Scope::Exchange,
        &Change::AuthorizeDex(phone_id.clone()),
    ))
    .unwrap();
    let r = a.answer(&mut laptop, &options.challenge, &alice, Scope::Exchange);
    assert!(
        finish_auth(&b, &r).is_err(),
        "another passkey stepped up a DEX authorization"
    );
    let _ = &mut phone;
}
