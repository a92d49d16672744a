//! Review 19: attacks on the rules of issue 19 (P17 labels, P18 freeze, P19
//! passkey-required mode, P20 revocation and recovery, the sharpened P6 and P14) through
//! the public API only. Each test asserts what PRODUCT.md demands; where PRODUCT.md
//! left the answer open, the test now asserts the stricter behaviour decided since (see
//! docs/policy.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;

use latchkey::json::{RegistrationResponse, b64};
use latchkey::{
    AccountId, Actor, Change, CredentialId, ErrorKind, Event, EventKind, Factor,
    FinishAuthentication, FinishRecovery, FinishRegistration, FinishReplacement, Intent,
    ManualClock, Passkeys, RequestContext, Scope, StepUp, StepUpToken, Store,
};
use latchkey_store_sqlite::SqliteStore;
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, World, factors, id, relying_party, user, world};

const DAY: i64 = 24 * 60 * 60;

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([0x90 + n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn mallory() -> AccountId {
    AccountId::new("mallory")
}

fn identity() -> StepUp {
    StepUp::Factors(vec![Factor::IdDocument, Factor::Face])
}

fn operator() -> RequestContext {
    RequestContext {
        actor: Actor::Operator("ops-7".into()),
        request_id: Some("req-19".into()),
        ..RequestContext::default()
    }
}

fn code<T: std::fmt::Debug>(result: latchkey::Result<T>) -> &'static str {
    result.expect_err("should be refused").code()
}

fn history<S: Store>(w: &World<S>, account: &AccountId) -> Vec<Event> {
    block_on(w.passkeys.store().history(account)).unwrap()
}

fn owner<S: Store>(w: &World<S>, credential: &CredentialId) -> Option<AccountId> {
    block_on(w.passkeys.store().account_of(credential)).unwrap()
}

/// Alice with Exchange passkeys 1 (DEX-authorized) and 2, and Pay passkey 10.
fn alice_world() -> (World, Authenticator, Authenticator, Authenticator) {
    let w = world();
    let (mut k1, k2, k10) = (key(1), key(2), key(10));
    setup(&w, &mut k1, &k2, &k10);
    (w, k1, k2, k10)
}

fn setup<S: Store>(w: &World<S>, k1: &mut Authenticator, k2: &Authenticator, k10: &Authenticator) {
    w.register(&alice(), k1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), k2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), k10, Scope::Pay, factors()).unwrap();
    let id1 = id(k1);
    let token = w
        .step_up(
            &alice(),
            k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(id1),
        )
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(k1), &token, true, &w.context),
    )
    .unwrap();
}

/// The creation options of a recovery of `scope`, answered by `authenticator`.
fn recovery_response<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &Authenticator,
    scope: Scope,
) -> RegistrationResponse {
    let options =
        block_on(
            w.passkeys
                .start_recovery(account, &user(account.as_str()), scope, &identity()),
        )
        .unwrap();
    RegistrationResponse::from_json(&authenticator.registration_json(&w.client, &options.challenge))
        .unwrap()
}

fn recover<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &Authenticator,
    scope: Scope,
    context: &RequestContext,
) -> latchkey::Result<latchkey::Registered> {
    let response = recovery_response(w, account, authenticator, scope);
    block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        account,
        &response,
        &identity(),
        context,
    )))
}

fn registration<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &Authenticator,
    scope: Scope,
    step_up: &StepUp,
) -> RegistrationResponse {
    let options =
        block_on(
            w.passkeys
                .start_registration(account, &user(account.as_str()), scope, step_up),
        )
        .unwrap();
    RegistrationResponse::from_json(&authenticator.registration_json(&w.client, &options.challenge))
        .unwrap()
}

fn advance<S: Store>(w: &World<S>, seconds: i64) {
    use latchkey::Clock as _;
    w.clock.set(w.clock.now().plus_seconds(seconds));
}

fn withdraw<S: Store>(w: &World<S>, k: &mut Authenticator) -> latchkey::Result<()> {
    w.authenticate(&alice(), k, Scope::Exchange, Intent::Withdrawal, None)
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------
// P17 labels
// ---------------------------------------------------------------------------------------

#[test]
fn a_pay_recovery_is_labelled_and_made_under_the_pay_handle() {
    let (w, _, _, _) = alice_world();
    let pay =
        block_on(
            w.passkeys
                .start_recovery(&alice(), &user("alice"), Scope::Pay, &identity()),
        )
        .unwrap();
    assert_eq!(pay.user.name, "alice (Pay)");
    assert_eq!(pay.user.display_name, "alice (Pay)");
    assert_eq!(
        pay.user.id,
        b64(&w.passkeys.user_handle(&alice(), Scope::Pay))
    );
    let exchange =
        block_on(
            w.passkeys
                .start_recovery(&alice(), &user("alice"), Scope::Exchange, &identity()),
        )
        .unwrap();
    assert_eq!(exchange.user.name, "alice");
    assert_eq!(
        exchange.user.id,
        b64(&w.passkeys.user_handle(&alice(), Scope::Exchange))
    );
    // A replacement of the Pay passkey is labelled too.
    let replacement =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&key(10)), &factors()),
        )
        .unwrap();
    assert_eq!(replacement.user.display_name, "alice (Pay)");
}

#[test]
fn the_pay_entry_never_logs_in_whatever_handle_or_account_it_claims() {
    let (w, _, _, mut k10) = alice_world();
    // Usernameless, with the Exchange handle instead of its own.
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k10, &options.challenge, &alice(), Scope::Exchange);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(code(refused), "unknown_credential");
    // A login named for Alice, answered by the Pay entry.
    assert_eq!(
        code(w.authenticate(&alice(), &mut k10, Scope::Pay, Intent::Login, None)),
        "scope_mismatch"
    );
    // Usernameless after a Pay recovery: the new Pay entry is refused the same way.
    let mut k11 = key(11);
    recover(&w, &alice(), &k11, Scope::Pay, &operator()).unwrap();
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k11, &options.challenge, &alice(), Scope::Pay);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(code(refused), "scope_mismatch");
    assert!(
        !history(&w, &alice()).iter().any(|e| matches!(
            e.kind,
            EventKind::Used {
                intent: Intent::Login,
                ref credential,
                ..
            } if credential == &id(&k11) || credential == &id(&k10)
        )),
        "a Pay passkey logged in"
    );
}

// ---------------------------------------------------------------------------------------
// P18 freeze: orderings
// ---------------------------------------------------------------------------------------

#[test]
fn ceremonies_started_before_a_freeze_are_refused_at_their_finish() {
    let (w, mut k1, mut k2, _) = alice_world();
    let k3 = key(3);
    // A registration, a replacement, a step-up and a DEX authorization, all started (or
    // stepped up) before the freeze.
    let added = registration(&w, &alice(), &k3, Scope::Exchange, &factors());
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&k2), &factors()),
        )
        .unwrap();
    let k4 = key(4);
    let successor =
        RegistrationResponse::from_json(&k4.registration_json(&w.client, &options.challenge))
            .unwrap();
    let step_up = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ))
    .unwrap();
    let step_up_response = w.answer(&mut k1, &step_up.challenge, &alice(), Scope::Exchange);
    let id2 = id(&k2);
    let dex_token = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(id2.clone()),
        )
        .unwrap();
    let before = history(&w, &alice()).len();
    block_on(w.passkeys.freeze(&alice(), "user_request", &w.context)).unwrap();

    assert_eq!(
        code(block_on(w.passkeys.finish_registration(
            FinishRegistration::new(&alice(), &added, &factors(), &w.context)
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&k2), &successor, &factors(), &w.context)
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&step_up_response, &w.context)
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.authorize_dex(
            &alice(),
            &id(&k2),
            &dex_token,
            true,
            &w.context
        ))),
        "account_frozen"
    );
    // Only the freeze was recorded, and neither new credential is owned by anyone.
    assert_eq!(history(&w, &alice()).len(), before + 1);
    assert_eq!(owner(&w, &id(&k3)), None);
    assert_eq!(owner(&w, &id(&k4)), None);
}

/// P18: a frozen account changes nothing, and a freeze voids every passkey step-up
/// granted before it: a token made before the freeze, still within its challenge's
/// deadline, serves no change after the unfreeze. A grant made after the unfreeze does.
#[test]
fn a_step_up_granted_before_a_freeze_is_void_after_the_unfreeze() {
    let (w, mut k1, k2, _) = alice_world();
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&k2)),
        )
        .unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    let step_up = StepUp::Passkey(token);
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k2),
            &step_up,
            &w.context
        ))),
        "account_frozen"
    );
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k2),
            &step_up,
            &w.context
        ))),
        "step_up_required"
    );
    assert!(
        block_on(w.passkeys.store().load(&alice()))
            .unwrap()
            .value
            .step_ups
            .is_empty()
    );
    let fresh = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&k2)),
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&k2), &StepUp::Passkey(fresh), &w.context),
    )
    .unwrap();
}

/// P18: a recovery registers a passkey, a change: refused while frozen, whether started
/// before the freeze or during it, and nothing is revoked. Unfreezing takes the identity
/// check (a recovery's proof is no substitute), and then the recovery goes through.
#[test]
fn a_recovery_on_a_frozen_account_is_refused_until_the_unfreeze() {
    let (w, mut k1, _, _) = alice_world();
    let k5 = key(5);
    let early = recovery_response(&w, &alice(), &k5, Scope::Exchange);
    block_on(w.passkeys.freeze(&alice(), "stolen phone", &w.context)).unwrap();
    assert_eq!(
        code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &alice(),
            &early,
            &identity(),
            &operator(),
        )))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.start_recovery(
            &alice(),
            &user("alice"),
            Scope::Exchange,
            &identity()
        ))),
        "account_frozen"
    );
    // Nothing was revoked: the old passkey still logs in (login goes through a freeze).
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    for step_up in [
        StepUp::Factors(vec![Factor::IdDocument]),
        StepUp::Factors(vec![Factor::Face, Factor::Email, Factor::Totp, Factor::Sms]),
    ] {
        assert_eq!(
            code(block_on(w.passkeys.unfreeze(
                &alice(),
                &step_up,
                &operator()
            ))),
            "step_up_required"
        );
    }
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    let mut k3 = key(3);
    recover(&w, &alice(), &k3, Scope::Exchange, &operator()).unwrap();
    w.authenticate(&alice(), &mut k3, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert_eq!(
        code(w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
}

#[test]
fn a_frozen_account_refuses_every_intent_but_login_in_both_scopes() {
    let (w, mut k1, _, mut k10) = alice_world();
    block_on(w.passkeys.freeze(&alice(), "user_request", &w.context)).unwrap();
    for intent in Intent::ALL {
        let (k, scope) = if intent.scope() == Scope::Pay {
            (&mut k10, Scope::Pay)
        } else {
            (&mut k1, Scope::Exchange)
        };
        let transaction = intent.is_signing().then_some(&b"tx"[..]);
        let done = w.authenticate(&alice(), k, scope, intent, transaction);
        if intent == Intent::Login {
            done.unwrap();
        } else {
            assert_eq!(code(done), "account_frozen", "{intent:?}");
        }
    }
    // The Pay scope's own step-ups too.
    assert_eq!(
        code(w.step_up(
            &alice(),
            &mut k10,
            Scope::Pay,
            Scope::Pay,
            &Change::AddPasskey
        )),
        "account_frozen"
    );
    // The passkey-required mode, either way.
    for on in [true, false] {
        assert_eq!(
            code(block_on(w.passkeys.set_passkey_required(
                &alice(),
                on,
                &identity(),
                &w.context
            ))),
            "account_frozen"
        );
    }
}

// ---------------------------------------------------------------------------------------
// P19 passkey-required mode
// ---------------------------------------------------------------------------------------

fn mode_on(w: &World) {
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), true, &factors(), &w.context),
    )
    .unwrap();
}

fn mode_off(w: &World, step_up: &StepUp) -> latchkey::Result<latchkey::Changed> {
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), false, step_up, &w.context),
    )
}

#[test]
fn the_mode_goes_off_only_with_a_fresh_exchange_grant_made_for_it() {
    let (w, mut k1, _, _) = alice_world();
    mode_on(&w);
    // Made for turning it on, for another change, or by a DEX assertion: no.
    let for_on = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOn,
        )
        .unwrap();
    let for_add = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    for token in [for_on, for_add] {
        assert_eq!(
            code(mode_off(&w, &StepUp::Passkey(token))),
            "step_up_required"
        );
    }
    let trade = w
        .authenticate(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Intent::DexTrade,
            Some(b"t"),
        )
        .unwrap();
    assert!(trade.step_up.is_none(), "a DEX trade made a step-up token");
    // Stale: past its challenge's deadline.
    let stale = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    advance(&w, 301);
    assert_eq!(
        code(mode_off(&w, &StepUp::Passkey(stale))),
        "step_up_required"
    );
    // A token that is no grant at all.
    let forged: StepUpToken = format!("{}A", "B".repeat(42)).parse().unwrap();
    assert_eq!(
        code(mode_off(&w, &StepUp::Passkey(forged))),
        "step_up_required"
    );
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
    // Fresh: off, once.
    let fresh = StepUp::Passkey(
        w.step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap(),
    );
    mode_off(&w, &fresh).unwrap();
    assert!(!block_on(w.passkeys.passkey_required(&alice())).unwrap());
    mode_on(&w);
    assert_eq!(code(mode_off(&w, &fresh)), "step_up_required");
    assert!(
        block_on(w.passkeys.status(&alice()))
            .unwrap()
            .passkey_required
    );
}

#[test]
fn a_mode_off_grant_dies_with_its_passkey_revoked_or_recovered() {
    let (w, mut k1, mut k2, _) = alice_world();
    mode_on(&w);
    let by_k1 = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    let by_k2 = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    assert_eq!(
        code(mode_off(&w, &StepUp::Passkey(by_k1))),
        "step_up_required"
    );
    recover(&w, &alice(), &key(3), Scope::Exchange, &w.context).unwrap();
    assert_eq!(
        code(mode_off(&w, &StepUp::Passkey(by_k2))),
        "step_up_required"
    );
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
}

#[test]
fn without_exchange_passkeys_the_mode_stays_on_and_pay_cannot_help() {
    let (w, _, _, mut k10) = alice_world();
    mode_on(&w);
    for k in [1, 2] {
        block_on(
            w.passkeys
                .revoke_compromised(&alice(), &id(&key(k)), "phished", &operator()),
        )
        .unwrap();
    }
    // No Exchange passkey: no step-up for it, and a Pay passkey answers none.
    assert_eq!(
        code(w.step_up(
            &alice(),
            &mut k10,
            Scope::Pay,
            Scope::Exchange,
            &Change::PasskeyRequiredOff
        )),
        "scope_mismatch"
    );
    let pay_token = w
        .step_up(
            &alice(),
            &mut k10,
            Scope::Pay,
            Scope::Pay,
            &Change::AddPasskey,
        )
        .unwrap();
    assert_eq!(
        code(mode_off(&w, &StepUp::Passkey(pay_token))),
        "step_up_required"
    );
    assert_eq!(code(mode_off(&w, &identity())), "step_up_required");
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
    // A recovered Exchange passkey turns it off, after its own step-up.
    let mut k3 = key(3);
    recover(&w, &alice(), &k3, Scope::Exchange, &w.context).unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut k3,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    mode_off(&w, &StepUp::Passkey(token)).unwrap();
    assert!(!block_on(w.passkeys.passkey_required(&alice())).unwrap());
}

// ---------------------------------------------------------------------------------------
// P20 revocation: in-flight ceremonies and what never comes back
// ---------------------------------------------------------------------------------------

#[test]
fn a_step_up_in_flight_when_its_passkey_is_revoked_grants_nothing() {
    let (w, mut k1, mut k2, _) = alice_world();
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::AddPasskey,
    ))
    .unwrap();
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    // And one for deleting k2, answered by k1, with k2 revoked meanwhile.
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ))
    .unwrap();
    let for_k2 = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    // And a withdrawal by k2 in flight.
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let withdrawal = w.answer(&mut k2, &options.challenge, &alice(), Scope::Exchange);
    let before = history(&w, &alice()).len();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "malware", &operator()),
    )
    .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k2), "malware", &operator()),
    )
    .unwrap();
    for response in [&response, &for_k2, &withdrawal] {
        let refused = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(response, &w.context)),
        );
        assert_eq!(code(refused), "unknown_credential");
    }
    assert!(!history(&w, &alice())[before..].iter().any(|e| matches!(
        &e.kind,
        EventKind::StepUpGranted { .. } | EventKind::Used { .. }
    )));
}

#[test]
fn tokens_granted_before_a_revocation_die_with_the_passkey_that_made_them() {
    let (w, mut k1, k2, _) = alice_world();
    let k3 = key(3);
    let add = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let delete = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&k2)),
        )
        .unwrap();
    let id1 = id(&k1);
    let revoke_dex = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::RevokeDex(id1.clone()),
        )
        .unwrap();
    // A registration started with k1's token, finished after k1's revocation.
    let response = registration(
        &w,
        &alice(),
        &k3,
        Scope::Exchange,
        &StepUp::Passkey(add.clone()),
    );
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    assert_eq!(
        code(block_on(w.passkeys.finish_registration(
            FinishRegistration::new(&alice(), &response, &StepUp::Passkey(add), &w.context)
        ))),
        "step_up_required"
    );
    assert_eq!(owner(&w, &id(&k3)), None);
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k2),
            &StepUp::Passkey(delete),
            &w.context
        ))),
        "step_up_required"
    );
    assert_eq!(
        code(block_on(w.passkeys.revoke_dex(
            &alice(),
            &id(&k1),
            &StepUp::Passkey(revoke_dex),
            &w.context
        ))),
        "unknown_credential"
    );
}

#[test]
fn a_replacement_in_flight_when_its_passkey_is_revoked_registers_nothing() {
    let (w, _, k2, _) = alice_world();
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&k2), &factors()),
        )
        .unwrap();
    let k4 = key(4);
    let response =
        RegistrationResponse::from_json(&k4.registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k2), "phished", &operator()),
    )
    .unwrap();
    let refused = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&k2),
        &response,
        &factors(),
        &w.context,
    )));
    assert_eq!(code(refused), "unknown_credential");
    assert_eq!(owner(&w, &id(&k4)), None);
    // Nor does a new replacement of it start.
    assert_eq!(
        code(block_on(w.passkeys.start_replacement(
            &alice(),
            &user("alice"),
            &id(&k2),
            &factors()
        ))),
        "unknown_credential"
    );
}

#[test]
fn a_revoked_credential_is_registered_again_by_no_path_on_no_account() {
    let (w, k1, k2, k10) = alice_world();
    let mallory_key = key(20);
    w.register(&mallory(), &mallory_key, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    // Pay recovery revokes k10.
    recover(&w, &alice(), &key(11), Scope::Pay, &operator()).unwrap();
    for revoked in [&k1, &k10] {
        for scope in [Scope::Exchange, Scope::Pay] {
            assert_eq!(
                code(w.register(&alice(), revoked, scope, factors())),
                "duplicate_credential"
            );
            assert_eq!(
                code(w.register(&mallory(), revoked, scope, factors())),
                "duplicate_credential"
            );
            assert_eq!(
                code(recover(&w, &alice(), revoked, scope, &operator())),
                "duplicate_credential"
            );
            assert_eq!(
                code(recover(&w, &mallory(), revoked, scope, &operator())),
                "duplicate_credential"
            );
        }
        // As the successor of a passkey Alice still holds.
        let options =
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(&k2), &factors()),
            )
            .unwrap();
        let response = RegistrationResponse::from_json(
            &revoked.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        assert_eq!(
            code(block_on(w.passkeys.finish_replacement(
                FinishReplacement::new(&alice(), &id(&k2), &response, &factors(), &w.context)
            ))),
            "duplicate_credential"
        );
        assert_eq!(owner(&w, &id(revoked)), Some(alice()));
    }
    let state = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    assert!(state.is_revoked(&id(&k1)) && state.is_revoked(&id(&k10)));
    assert!(state.credential(&id(&k1)).is_none() && state.credential(&id(&k10)).is_none());
}

#[test]
fn revoked_passkeys_are_in_no_accepted_list_and_get_a_delete_signal() {
    let (w, mut k1, k2, _) = alice_world();
    let k3 = key(3);
    w.register(&alice(), &k3, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    // The next accepted list of the scope leaves it out.
    let deleted = block_on(
        w.passkeys
            .delete(&alice(), &id(&k3), &factors(), &w.context),
    )
    .unwrap();
    assert_eq!(
        deleted.accepted.all_accepted_credential_ids,
        [b64(id(&k2).as_bytes())]
    );
    // A revoked passkey is never accepted again (P20): its login is refused as
    // `unknown_credential` with the `signalUnknownCredential` payload (P13), so the client
    // forgets it as it forgets a deleted one; its id stays owned, so nothing registers it.
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "unknown_credential");
    let signal = w.passkeys.signal_unknown_credential(&refused).unwrap();
    assert_eq!(signal.credential_id, b64(id(&k1).as_bytes()));
    assert_eq!(owner(&w, &id(&k1)), Some(alice()));
    // The same for an intent that names the account.
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "unknown_credential");
    assert!(w.passkeys.signal_unknown_credential(&refused).is_some());
}

#[test]
fn revoking_what_is_not_the_accounts_or_is_gone_is_refused_and_changes_nothing() {
    let (w, k1, _, _) = alice_world();
    let mallory_key = key(20);
    w.register(&mallory(), &mallory_key, Scope::Exchange, factors())
        .unwrap();
    let before = history(&w, &mallory()).len();
    assert_eq!(
        code(block_on(w.passkeys.revoke_compromised(
            &alice(),
            &id(&mallory_key),
            "x",
            &operator()
        ))),
        "unknown_credential"
    );
    assert_eq!(history(&w, &mallory()).len(), before);
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    let before = history(&w, &alice()).len();
    assert_eq!(
        code(block_on(w.passkeys.revoke_compromised(
            &alice(),
            &id(&k1),
            "again",
            &operator()
        ))),
        "unknown_credential"
    );
    assert_eq!(history(&w, &alice()).len(), before);
}

// ---------------------------------------------------------------------------------------
// P20 recovery
// ---------------------------------------------------------------------------------------

#[test]
fn an_old_passkey_logs_in_until_the_recovery_finishes_and_never_after() {
    let (w, mut k1, _, _) = alice_world();
    let k3 = key(3);
    let response = recovery_response(&w, &alice(), &k3, Scope::Exchange);
    // Between start and finish the old passkey still works, and a login started then
    // is finished after the recovery.
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    let named = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let named = w.answer(&mut k1, &named.challenge, &alice(), Scope::Exchange);
    let anonymous = block_on(w.passkeys.start_login(None)).unwrap();
    let anonymous = w.answer(&mut k1, &anonymous.challenge, &alice(), Scope::Exchange);
    let trade = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::DexTrade, Some(b"buy")),
    )
    .unwrap();
    let trade = w.answer(&mut k1, &trade.challenge, &alice(), Scope::Exchange);
    block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        &alice(),
        &response,
        &identity(),
        &w.context,
    )))
    .unwrap();
    for response in [&named, &anonymous] {
        let refused = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(response, &w.context)),
        );
        assert_eq!(code(refused), "unknown_credential");
    }
    let refused = block_on(w.passkeys.finish_authentication(
        FinishAuthentication::new(&trade, &w.context).transaction(&b"buy"[..]),
    ));
    assert_eq!(code(refused), "unknown_credential");
}

#[test]
fn two_recoveries_of_one_scope_leave_only_the_last_passkey() {
    let (w, _, _, _) = alice_world();
    let (mut k3, mut k4) = (key(3), key(4));
    let first = recovery_response(&w, &alice(), &k3, Scope::Exchange);
    let second = recovery_response(&w, &alice(), &k4, Scope::Exchange);
    for response in [&first, &second] {
        block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &alice(),
            response,
            &identity(),
            &w.context,
        )))
        .unwrap();
    }
    let exchange = block_on(w.passkeys.list(&alice(), Scope::Exchange)).unwrap();
    assert_eq!(
        exchange.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [id(&k4)]
    );
    assert_eq!(
        code(w.authenticate(&alice(), &mut k3, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
    w.authenticate(&alice(), &mut k4, Scope::Exchange, Intent::Login, None)
        .unwrap();
    // A recovery's challenge answers once.
    assert_eq!(
        code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &alice(),
            &second,
            &identity(),
            &w.context,
        )))),
        "challenge_reused"
    );
}

#[test]
fn a_passkey_added_between_a_recoverys_start_and_finish_is_revoked_by_it() {
    let (w, _, _, _) = alice_world();
    let (k3, mut k5) = (key(3), key(5));
    let response = recovery_response(&w, &alice(), &k3, Scope::Exchange);
    w.register(&alice(), &k5, Scope::Exchange, factors())
        .unwrap();
    let done = block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        &alice(),
        &response,
        &identity(),
        &w.context,
    )))
    .unwrap();
    assert!(done.events.iter().any(
        |e| matches!(&e.kind, EventKind::Revoked { credential, .. } if credential == &id(&k5))
    ));
    assert_eq!(
        code(w.authenticate(&alice(), &mut k5, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
}

#[test]
fn a_recovery_of_one_scope_leaves_the_other_alone() {
    let (w, mut k1, _, mut k10) = alice_world();
    // Pay: Exchange, DEX and withdrawals untouched.
    let mut k11 = key(11);
    let done = recover(&w, &alice(), &k11, Scope::Pay, &w.context).unwrap();
    assert!(done.events.iter().all(|e| e.scope == Scope::Pay));
    assert!(
        block_on(w.passkeys.status(&alice()))
            .unwrap()
            .withdrawals_locked_until
            .is_none()
    );
    withdraw(&w, &mut k1).unwrap();
    w.authenticate(
        &alice(),
        &mut k1,
        Scope::Exchange,
        Intent::DexTransfer,
        Some(b"t"),
    )
    .unwrap();
    assert_eq!(
        code(w.authenticate(&alice(), &mut k10, Scope::Pay, Intent::PaySign, Some(b"t"))),
        "unknown_credential"
    );
    w.authenticate(&alice(), &mut k11, Scope::Pay, Intent::PaySign, Some(b"t"))
        .unwrap();
    // Exchange: Pay untouched, DEX cleared, every money-out intent locked for a day.
    let mut k3 = key(3);
    recover(&w, &alice(), &k3, Scope::Exchange, &w.context).unwrap();
    w.authenticate(&alice(), &mut k11, Scope::Pay, Intent::PaySign, Some(b"u"))
        .unwrap();
    assert_eq!(code(withdraw(&w, &mut k3)), "withdrawal_locked");
    assert_eq!(
        code(w.authenticate(
            &alice(),
            &mut k3,
            Scope::Exchange,
            Intent::DexTransfer,
            Some(b"t")
        )),
        "dex_not_authorized"
    );
    let state = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    assert!(state.credentials.iter().all(|c| !c.dex_authorized));
    // The lock is P8's: a day, not shortened by a later recovery of Pay.
    recover(&w, &alice(), &key(12), Scope::Pay, &w.context).unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(T0.plus_seconds(DAY))
    );
    advance(&w, DAY);
    withdraw(&w, &mut k3).unwrap();
}

#[test]
fn recovery_takes_the_identity_check_and_nothing_else() {
    let (w, mut k1, _, _) = alice_world();
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    for step_up in [
        StepUp::Passkey(token.clone()),
        StepUp::Factors(vec![Factor::IdDocument]),
        StepUp::Factors(vec![Factor::Face, Factor::Face]),
        StepUp::Factors(vec![Factor::Email, Factor::Totp, Factor::Sms, Factor::Face]),
    ] {
        for scope in [Scope::Exchange, Scope::Pay] {
            assert_eq!(
                code(block_on(w.passkeys.start_recovery(
                    &alice(),
                    &user("alice"),
                    scope,
                    &step_up
                ))),
                "step_up_required"
            );
        }
        // A started recovery finished with it.
        let response = recovery_response(&w, &alice(), &key(3), Scope::Exchange);
        assert_eq!(
            code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
                &alice(),
                &response,
                &step_up,
                &operator()
            )))),
            "step_up_required"
        );
    }
    // The token was not spent by any of that.
    let response = registration(
        &w,
        &alice(),
        &key(4),
        Scope::Exchange,
        &StepUp::Passkey(token.clone()),
    );
    block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &StepUp::Passkey(token),
        &w.context,
    )))
    .unwrap();
}

#[test]
fn a_recovery_challenge_answers_only_a_recovery_of_its_account() {
    let (w, _, _, _) = alice_world();
    w.register(&mallory(), &key(20), Scope::Exchange, factors())
        .unwrap();
    let response = recovery_response(&w, &alice(), &key(3), Scope::Exchange);
    assert_eq!(
        code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &mallory(),
            &response,
            &identity(),
            &operator()
        )))),
        "challenge_mismatch"
    );
    // A registration challenge is no recovery either.
    let response = registration(&w, &alice(), &key(4), Scope::Exchange, &factors());
    assert_eq!(
        code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &alice(),
            &response,
            &identity(),
            &operator()
        )))),
        "challenge_mismatch"
    );
    assert_eq!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
}

// ---------------------------------------------------------------------------------------
// P14 who acted
// ---------------------------------------------------------------------------------------

#[test]
fn every_event_of_an_operators_call_names_the_operator_and_the_request() {
    let (w, _, _, _) = alice_world();
    let revoked =
        block_on(
            w.passkeys
                .revoke_compromised(&alice(), &id(&key(1)), "phished", &operator()),
        )
        .unwrap();
    let recovered = recover(&w, &alice(), &key(3), Scope::Exchange, &operator()).unwrap();
    let frozen = block_on(w.passkeys.freeze(&alice(), "risk rule 12", &operator())).unwrap();
    let unfrozen = block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    let events: Vec<Event> = [
        revoked.events,
        recovered.events,
        frozen.events,
        unfrozen.events,
    ]
    .concat();
    assert!(events.len() >= 6);
    for event in &events {
        assert_eq!(event.context.actor, Actor::Operator("ops-7".into()));
        assert_eq!(event.context.request_id.as_deref(), Some("req-19"));
    }
    // And the history says the same.
    let stored = history(&w, &alice());
    assert!(stored.ends_with(&events));
}

#[test]
fn an_operator_context_must_name_the_operator() {
    let (w, k1, _, _) = alice_world();
    let before = history(&w, &alice()).len();
    for nameless in ["", "   ", "\u{202E}7-spo", "ops\u{200B}-7", "ops\n7"] {
        let context = RequestContext {
            actor: Actor::Operator(nameless.into()),
            ..RequestContext::default()
        };
        let refused =
            block_on(
                w.passkeys
                    .revoke_compromised(&alice(), &id(&k1), "phished", &context),
            )
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Internal, "{nameless:?}");
        assert_eq!(refused.code(), "internal");
        // No call records a nameless operator.
        let refused = block_on(w.passkeys.freeze(&alice(), "risk", &context)).unwrap_err();
        assert_eq!(refused.code(), "internal", "{nameless:?}");
        let refused = block_on(w.passkeys.unfreeze(&alice(), &identity(), &context)).unwrap_err();
        assert_eq!(refused.code(), "internal", "{nameless:?}");
    }
    assert_eq!(history(&w, &alice()).len(), before);
    assert!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .iter()
            .any(|c| c.id == id(&k1))
    );
}

#[test]
fn a_user_context_never_revokes_and_the_default_actor_is_the_user() {
    let (w, k1, _, _) = alice_world();
    let refused = block_on(w.passkeys.revoke_compromised(
        &alice(),
        &id(&k1),
        "phished",
        &RequestContext {
            request_id: Some("req-1".into()),
            ..RequestContext::default()
        },
    ))
    .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Internal);
    // Every event of a user's call names the user.
    assert!(
        history(&w, &alice())
            .iter()
            .all(|e| e.context.actor == Actor::User)
    );
}

// ---------------------------------------------------------------------------------------
// P6 names that imitate others
// ---------------------------------------------------------------------------------------

/// P6: names must not imitate one another with invisible characters, Cf or not: the
/// combining grapheme joiner (Mn), the Hangul fillers (Lo), the Braille blank (So), every
/// whitespace but U+0020 (the no-break spaces, Zs), the line and paragraph separators
/// (Zl, Zp), and a variation selector after an ASCII character are refused with
/// `invalid_name`. An emoji keeps its variation selector.
#[test]
fn invisible_characters_outside_cf_are_refused_in_names() {
    let (w, k1, k2, _) = alice_world();
    block_on(w.passkeys.rename(&alice(), &id(&k1), "Laptop", &w.context)).unwrap();
    for lookalike in [
        "Laptop\u{034F}",
        "Laptop\u{FE0F}",
        "\u{FE0F}Laptop",
        "Laptop\u{3164}",
        "Lap\u{115F}top",
        "Lap\u{1160}top",
        "Lap\u{FFA0}top",
        "Laptop\u{2800}",
        "Lap\u{00A0}top",
        "Lap\u{2009}top",
        "Lap\u{3000}top",
        "Lap\u{2028}top",
        "Lap\u{2029}top",
    ] {
        assert_eq!(
            code(block_on(w.passkeys.rename(
                &alice(),
                &id(&k2),
                lookalike,
                &w.context
            ))),
            "invalid_name",
            "{lookalike:?}"
        );
    }
    let changed =
        block_on(
            w.passkeys
                .rename(&alice(), &id(&k2), "Laptop \u{2764}\u{FE0F}", &w.context),
        )
        .unwrap();
    let EventKind::Renamed { name, .. } = &changed.events[0].kind else {
        panic!("not a rename");
    };
    assert_eq!(name, "Laptop \u{2764}\u{FE0F}");
    // Whereas every Cf character, at the start, inside or at the end, is refused.
    for c in [
        '\u{AD}',
        '\u{600}',
        '\u{61C}',
        '\u{6DD}',
        '\u{70F}',
        '\u{890}',
        '\u{8E2}',
        '\u{180E}',
        '\u{200B}',
        '\u{200E}',
        '\u{202A}',
        '\u{202E}',
        '\u{2060}',
        '\u{2066}',
        '\u{2069}',
        '\u{206F}',
        '\u{FEFF}',
        '\u{FFF9}',
        '\u{FFFB}',
        '\u{110BD}',
        '\u{110CD}',
        '\u{13430}',
        '\u{1343F}',
        '\u{1BCA0}',
        '\u{1D173}',
        '\u{1D17A}',
        '\u{E0001}',
        '\u{E0020}',
        '\u{E007F}',
    ] {
        for name in [
            format!("{c}Laptop"),
            format!("Lap{c}top"),
            format!("Laptop{c}"),
        ] {
            assert_eq!(
                code(block_on(w.passkeys.rename(
                    &alice(),
                    &id(&k2),
                    &name,
                    &w.context
                ))),
                "invalid_name",
                "{:X}",
                u32::from(c)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Across service instances (SQLite): recovery and revocation racing the old passkeys
// ---------------------------------------------------------------------------------------

struct Two {
    a: Arc<World<SqliteStore>>,
    b: Arc<World<SqliteStore>>,
    path: PathBuf,
}

impl Drop for Two {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

fn two_instances(tag: &str) -> Two {
    let path = std::env::temp_dir().join(format!(
        "latchkey-review19-{tag}-{}-{}.sqlite",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let clock = Arc::new(ManualClock::new(T0));
    let instance = || World {
        passkeys: Passkeys::new(relying_party(), SqliteStore::open(&path).unwrap())
            .with_clock(clock.clone()),
        clock: clock.clone(),
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    };
    let (a, b) = (Arc::new(instance()), Arc::new(instance()));
    Two { a, b, path }
}

type Outcome = Result<(), &'static str>;

fn race<A, B, F, G>(f: F, g: G) -> [Outcome; 2]
where
    F: FnOnce() -> latchkey::Result<A> + Send + 'static,
    G: FnOnce() -> latchkey::Result<B> + Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let (s1, s2) = (Arc::clone(&start), Arc::clone(&start));
    let h1 = thread::spawn(move || {
        s1.wait();
        f().map(|_| ()).map_err(|e| e.code())
    });
    let h2 = thread::spawn(move || {
        s2.wait();
        g().map(|_| ()).map_err(|e| e.code())
    });
    [h1.join().unwrap(), h2.join().unwrap()]
}

#[test]
fn a_recovery_racing_the_old_passkeys_step_up_and_withdrawal_on_two_instances() {
    for round in 0..4 {
        let two = two_instances(&format!("recovery-{round}"));
        let (mut k1, k2, k10) = (key(1), key(2), key(10));
        setup(&two.a, &mut k1, &k2, &k10);
        let k3 = key(3);
        let recovery = recovery_response(&two.a, &alice(), &k3, Scope::Exchange);
        // k1's step-up for turning the mode off, and a withdrawal, both answered.
        let options = block_on(two.b.passkeys.start_step_up(
            &alice(),
            Scope::Exchange,
            &Change::AddPasskey,
        ))
        .unwrap();
        let step_up = two
            .b
            .answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
        let a = Arc::clone(&two.a);
        let b = Arc::clone(&two.b);
        let outcome = race(
            move || {
                block_on(a.passkeys.finish_recovery(FinishRecovery::new(
                    &alice(),
                    &recovery,
                    &identity(),
                    &a.context,
                )))
            },
            move || {
                block_on(
                    b.passkeys
                        .finish_authentication(FinishAuthentication::new(&step_up, &b.context)),
                )
            },
        );
        assert!(outcome[0].is_ok(), "{outcome:?}");
        // Whichever came first, no grant by k1 is alive now.
        let state = block_on(two.a.passkeys.store().load(&alice()))
            .unwrap()
            .value;
        assert!(state.step_ups.iter().all(|p| p.credential != id(&k1)));
        assert!(state.credential(&id(&k1)).is_none());
        // And the history never shows k1 after its revocation.
        let events = history(&two.a, &alice());
        let revoked_at = events
            .iter()
            .position(|e| matches!(&e.kind, EventKind::Revoked { credential, .. } if credential == &id(&k1)))
            .unwrap();
        assert!(!events[revoked_at..].iter().any(|e| match &e.kind {
            EventKind::Used { credential, .. } => credential == &id(&k1),
            EventKind::StepUpGranted { grant } => grant.credential == id(&k1),
            _ => false,
        }));
    }
}

#[test]
fn an_operator_revocation_racing_a_deletion_of_the_other_passkey_on_two_instances() {
    for round in 0..4 {
        let two = two_instances(&format!("revoke-{round}"));
        let (mut k1, k2, k10) = (key(1), key(2), key(10));
        setup(&two.a, &mut k1, &k2, &k10);
        let (a, b) = (Arc::clone(&two.a), Arc::clone(&two.b));
        let (id1, id2) = (id(&k1), id(&k2));
        let outcome = race(
            move || {
                block_on(
                    a.passkeys
                        .revoke_compromised(&alice(), &id1, "phished", &operator()),
                )
            },
            move || block_on(b.passkeys.delete(&alice(), &id2, &factors(), &b.context)),
        );
        // The revocation always goes through; the user's deletion only when it came
        // first (then the revocation empties the scope, P20's exception); never both
        // by the user's hand.
        assert!(outcome[0].is_ok(), "{outcome:?}");
        let left = block_on(two.a.passkeys.list(&alice(), Scope::Exchange)).unwrap();
        match outcome[1] {
            Ok(()) => assert!(left.is_empty()),
            Err(code) => {
                assert_eq!(code, "last_passkey");
                assert_eq!(left.len(), 1);
            }
        }
    }
}

#[test]
fn the_engine_itself_records_no_nameless_operator() {
    use latchkey::policy::{AccountState, Command, PolicyConfig, PolicyError, decide};
    let command = Command::Freeze {
        reason: "risk".into(),
    };
    let state = AccountState::default();
    let config = PolicyConfig::default();
    for (actor, named) in [
        (Actor::User, true),
        (Actor::Operator("ops-7".into()), true),
        (Actor::Operator("Ana María".into()), true),
        (Actor::Operator(String::new()), false),
        (Actor::Operator(" \t".into()), false),
        (Actor::Operator("ops-7\u{2066}".into()), false),
        (Actor::Operator("ops\u{7}".into()), false),
    ] {
        assert_eq!(actor.is_named(), named, "{actor:?}");
        let context = RequestContext {
            actor: actor.clone(),
            ..RequestContext::default()
        };
        let decided = decide(&state, &command, T0, &context, &config);
        if named {
            assert!(decided.is_ok(), "{actor:?}");
        } else {
            assert_eq!(decided, Err(PolicyError::UnnamedActor), "{actor:?}");
            assert_eq!(PolicyError::UnnamedActor.code(), "internal");
        }
    }
}

// ---------------------------------------------------------------------------------------
// More orderings, locks and open questions
// ---------------------------------------------------------------------------------------

/// P20: "nothing that recovery (or revocation) revokes can be used again": the revoked
/// key under a new credential id is refused with `duplicate_credential` by every path
/// that registers a passkey (registration in either scope, replacement, recovery). A
/// genuine authenticator never reuses a key; a client that holds the stolen key can.
#[test]
fn a_revoked_key_under_a_new_credential_id_is_refused_on_every_path() {
    let (w, k1, k2, _) = alice_world();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
    )
    .unwrap();
    let same_key = Authenticator::new(SoftKey::es256([0x91; 32])).with_credential_id(vec![7; 16]);
    assert_ne!(id(&same_key), id(&k1));
    for scope in [Scope::Exchange, Scope::Pay] {
        assert_eq!(
            code(w.register(&alice(), &same_key, scope, factors())),
            "duplicate_credential"
        );
    }
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&k2), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&same_key.registration_json(&w.client, &options.challenge))
            .unwrap();
    assert_eq!(
        code(block_on(w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&k2), &response, &factors(), &w.context)
        ))),
        "duplicate_credential"
    );
    assert_eq!(
        code(recover(
            &w,
            &alice(),
            &same_key,
            Scope::Exchange,
            &operator()
        )),
        "duplicate_credential"
    );
    assert_eq!(owner(&w, &id(&same_key)), None);
    // The revoked key is in the state, taken from the passkey's own record.
    let state = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    let old = history(&w, &alice())
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Registered { credential } if credential.id == id(&k1) => Some(credential),
            _ => None,
        })
        .unwrap();
    assert!(state.is_revoked_key(&old.public_key));
}

/// P20 says "the revocation locks withdrawals (P8)" and names no scope: revoking a Pay
/// passkey locks withdrawals too (a compromise of any passkey is a reason to stop money
/// going out).
#[test]
fn revoking_a_pay_passkey_locks_withdrawals() {
    let (w, mut k1, _, k10) = alice_world();
    let revoked =
        block_on(
            w.passkeys
                .revoke_compromised(&alice(), &id(&k10), "phished", &operator()),
        )
        .unwrap();
    assert!(
        revoked
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::WithdrawalLocked { .. }))
    );
    assert_eq!(code(withdraw(&w, &mut k1)), "withdrawal_locked");
    assert!(
        block_on(w.passkeys.status(&alice()))
            .unwrap()
            .withdrawals_locked_until
            .is_some()
    );
    // The Pay scope, now empty, takes its next passkey with the factors only.
    let mut k11 = key(11);
    assert_eq!(
        code(w.step_up(
            &alice(),
            &mut k11,
            Scope::Pay,
            Scope::Pay,
            &Change::AddPasskey
        )),
        "unknown_credential"
    );
    w.register(&alice(), &k11, Scope::Pay, factors()).unwrap();
    // The lock runs its day.
    advance(&w, DAY);
    withdraw(&w, &mut k1).unwrap();
}

#[test]
fn the_lock_of_a_revocation_yields_to_no_factor_intent_or_account_change() {
    let (w, mut k1, k2, mut k10) = alice_world();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k2), "phished", &operator()),
    )
    .unwrap();
    let all = [
        Factor::Email,
        Factor::Totp,
        Factor::Sms,
        Factor::Face,
        Factor::IdDocument,
    ];
    for (intent, transaction) in [
        (Intent::Withdrawal, None),
        (Intent::DexTransfer, Some(&b"out"[..])),
    ] {
        let options = block_on(
            w.passkeys
                .start_authentication(&alice(), intent, transaction),
        )
        .unwrap();
        let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
        let refused = block_on(
            w.passkeys.finish_authentication(
                FinishAuthentication::new(&response, &w.context)
                    .transaction(transaction)
                    .factors(&all),
            ),
        );
        assert_eq!(code(refused), "withdrawal_locked", "{intent:?}");
    }
    // Freezing and unfreezing, the mode on and off, a Pay recovery: still locked.
    block_on(w.passkeys.freeze(&alice(), "user_request", &w.context)).unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    mode_on(&w);
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    mode_off(&w, &StepUp::Passkey(token)).unwrap();
    recover(&w, &alice(), &key(11), Scope::Pay, &operator()).unwrap();
    assert_eq!(code(withdraw(&w, &mut k1)), "withdrawal_locked");
    // What does not move funds out still works.
    w.authenticate(
        &alice(),
        &mut k1,
        Scope::Exchange,
        Intent::DexTrade,
        Some(b"swap"),
    )
    .unwrap();
    assert_eq!(
        code(w.authenticate(&alice(), &mut k10, Scope::Pay, Intent::PaySign, Some(b"p"))),
        "unknown_credential"
    );
    advance(&w, DAY);
    withdraw(&w, &mut k1).unwrap();
}

#[test]
fn a_recovery_is_refused_stale_misnamed_or_with_a_key_held_elsewhere() {
    let (w, _, _, _) = alice_world();
    let mallory_key = key(20);
    w.register(&mallory(), &mallory_key, Scope::Exchange, factors())
        .unwrap();
    // Stale.
    let response = recovery_response(&w, &alice(), &key(3), Scope::Exchange);
    advance(&w, 301);
    assert_eq!(
        code(block_on(w.passkeys.finish_recovery(FinishRecovery::new(
            &alice(),
            &response,
            &identity(),
            &operator()
        )))),
        "challenge_expired"
    );
    // A name that hides a direction change.
    let response = recovery_response(&w, &alice(), &key(3), Scope::Exchange);
    assert_eq!(
        code(block_on(
            w.passkeys.finish_recovery(
                FinishRecovery::new(&alice(), &response, &identity(), &operator())
                    .name("Phone\u{202E}enohp")
            )
        )),
        "invalid_name"
    );
    // Mallory's passkey, or one of Alice's other scope.
    for held in [&mallory_key, &key(10)] {
        assert_eq!(
            code(recover(&w, &alice(), held, Scope::Exchange, &operator())),
            "duplicate_credential"
        );
    }
    // None of it touched Alice's passkeys.
    assert_eq!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
    assert!(
        !history(&w, &alice())
            .iter()
            .any(|e| matches!(e.kind, EventKind::Revoked { .. }))
    );
}

#[test]
fn a_freeze_racing_a_registration_on_two_instances_never_records_it_after_the_freeze() {
    for round in 0..4 {
        let two = two_instances(&format!("freeze-{round}"));
        let (mut k1, k2, k10) = (key(1), key(2), key(10));
        setup(&two.a, &mut k1, &k2, &k10);
        let k3 = key(3);
        let response = registration(&two.b, &alice(), &k3, Scope::Exchange, &factors());
        let (a, b) = (Arc::clone(&two.a), Arc::clone(&two.b));
        let outcome = race(
            move || block_on(a.passkeys.freeze(&alice(), "risk", &a.context)),
            move || {
                block_on(b.passkeys.finish_registration(FinishRegistration::new(
                    &alice(),
                    &response,
                    &factors(),
                    &b.context,
                )))
            },
        );
        assert!(outcome[0].is_ok(), "{outcome:?}");
        let events = history(&two.a, &alice());
        let frozen_at = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Frozen { .. }))
            .unwrap();
        assert!(
            !events[frozen_at..]
                .iter()
                .any(|e| matches!(e.kind, EventKind::Registered { .. }))
        );
        match outcome[1] {
            Ok(()) => assert_eq!(owner(&two.a, &id(&k3)), Some(alice())),
            Err(code) => {
                assert_eq!(code, "account_frozen");
                assert_eq!(owner(&two.a, &id(&k3)), None);
            }
        }
    }
}

#[test]
fn two_recoveries_with_one_key_on_two_instances_register_it_once() {
    for round in 0..4 {
        let two = two_instances(&format!("recover-twice-{round}"));
        let (mut k1, k2, k10) = (key(1), key(2), key(10));
        setup(&two.a, &mut k1, &k2, &k10);
        let k3 = key(3);
        let first = recovery_response(&two.a, &alice(), &k3, Scope::Exchange);
        let second = recovery_response(&two.b, &alice(), &k3, Scope::Exchange);
        let (a, b) = (Arc::clone(&two.a), Arc::clone(&two.b));
        let outcome = race(
            move || {
                block_on(a.passkeys.finish_recovery(FinishRecovery::new(
                    &alice(),
                    &first,
                    &identity(),
                    &a.context,
                )))
            },
            move || {
                block_on(b.passkeys.finish_recovery(FinishRecovery::new(
                    &alice(),
                    &second,
                    &identity(),
                    &b.context,
                )))
            },
        );
        assert_eq!(
            outcome.iter().filter(|o| o.is_ok()).count(),
            1,
            "{outcome:?}"
        );
        assert!(
            outcome
                .iter()
                .filter_map(|o| o.err())
                .all(|c| c == "duplicate_credential"),
            "{outcome:?}"
        );
        let exchange = block_on(two.a.passkeys.list(&alice(), Scope::Exchange)).unwrap();
        assert_eq!(
            exchange.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
            [id(&k3)]
        );
    }
}

// ---------------------------------------------------------------------------------------
// A revocation landing between a registration's append and the call's answer
// ---------------------------------------------------------------------------------------

/// A memory store on which an operator's revocation of `armed` lands right after the
/// append that registered it: another instance's call, interleaved at the worst moment.
struct RevokedRightAfter {
    inner: latchkey::MemoryStore,
    armed: std::sync::Mutex<Option<CredentialId>>,
    /// Revoked right after a read that still holds it: the reader decides on a stale
    /// state.
    after_read: std::sync::Mutex<Option<CredentialId>>,
}

impl RevokedRightAfter {
    fn new() -> Self {
        Self {
            inner: latchkey::MemoryStore::new(),
            armed: std::sync::Mutex::new(None),
            after_read: std::sync::Mutex::new(None),
        }
    }

    fn arm_after_read(&self, credential: CredentialId) {
        *self.after_read.lock().unwrap() = Some(credential);
    }

    async fn revoke(
        &self,
        account: &AccountId,
        credential: CredentialId,
    ) -> Result<(), latchkey::store::StoreError> {
        let loaded = self.inner.load(account).await?;
        let decision = latchkey::policy::decide(
            &loaded.value,
            &latchkey::policy::Command::RevokeCompromised {
                credential,
                reason: "phished".into(),
            },
            T0,
            &operator(),
            &latchkey::PolicyConfig::default(),
        )
        .unwrap();
        self.inner
            .append(account, loaded.version, &decision.events)
            .await
            .map(|_| ())
    }

    fn arm(&self, credential: CredentialId) {
        *self.armed.lock().unwrap() = Some(credential);
    }
}

impl Store for RevokedRightAfter {
    async fn load(
        &self,
        account: &AccountId,
    ) -> Result<
        latchkey::store::Versioned<latchkey::policy::AccountState>,
        latchkey::store::StoreError,
    > {
        let loaded = self.inner.load(account).await?;
        let target = {
            let mut armed = self.after_read.lock().unwrap();
            if armed
                .as_ref()
                .is_some_and(|id| loaded.value.credential(id).is_some())
            {
                armed.take()
            } else {
                None
            }
        };
        if let Some(credential) = target {
            self.revoke(account, credential).await?;
        }
        Ok(loaded)
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, latchkey::store::StoreError> {
        let version = self.inner.append(account, expected_version, events).await?;
        let registers = |id: &CredentialId| {
            events.iter().any(
                |e| matches!(&e.kind, EventKind::Registered { credential } if &credential.id == id),
            )
        };
        let target = {
            let mut armed = self.armed.lock().unwrap();
            if armed.as_ref().is_some_and(registers) {
                armed.take()
            } else {
                None
            }
        };
        if let Some(credential) = target {
            self.revoke(account, credential).await?;
        }
        Ok(version)
    }

    async fn account_of(
        &self,
        credential: &CredentialId,
    ) -> Result<Option<AccountId>, latchkey::store::StoreError> {
        self.inner.account_of(credential).await
    }

    async fn history(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Event>, latchkey::store::StoreError> {
        self.inner.history(account).await
    }

    async fn put_challenge(
        &self,
        record: latchkey::store::ChallengeRecord,
    ) -> Result<(), latchkey::store::StoreError> {
        self.inner.put_challenge(record).await
    }

    async fn purge_challenges(
        &self,
        now: latchkey::Timestamp,
    ) -> Result<usize, latchkey::store::StoreError> {
        self.inner.purge_challenges(now).await
    }

    async fn take_challenge(
        &self,
        challenge: &[u8],
    ) -> Result<latchkey::store::Taken, latchkey::store::StoreError> {
        self.inner.take_challenge(challenge).await
    }
}

/// P14: a call that appended returns what it appended, even when another instance
/// revokes the new passkey before the call answers. Otherwise the service reads a
/// failure (`internal`) for a registration, replacement or recovery that happened - for
/// a recovery, one that revoked every passkey of the scope - and notifies no one.
#[test]
fn a_registration_revoked_before_its_call_answers_still_returns_its_events() {
    let w = support::world_on(RevokedRightAfter::new());
    let (mut k1, k2, k10) = (key(1), key(2), key(10));
    setup(&w, &mut k1, &k2, &k10);
    // A registration.
    let k3 = key(3);
    w.passkeys.store().arm(id(&k3));
    let registered = w
        .register(&alice(), &k3, Scope::Exchange, factors())
        .unwrap();
    assert_eq!(registered.credential.id, id(&k3));
    assert!(registered.events.iter().any(
        |e| matches!(&e.kind, EventKind::Registered { credential } if credential.id == id(&k3))
    ));
    // A replacement.
    let k4 = key(4);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&k2), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&k4.registration_json(&w.client, &options.challenge))
            .unwrap();
    w.passkeys.store().arm(id(&k4));
    let replaced = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&k2),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    assert_eq!(replaced.credential.id, id(&k4));
    assert!(replaced.accepted.is_some());
    // A recovery: the revocations and the lock are in what it returns.
    let k5 = key(5);
    let response = recovery_response(&w, &alice(), &k5, Scope::Exchange);
    w.passkeys.store().arm(id(&k5));
    let recovered = block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        &alice(),
        &response,
        &identity(),
        &operator(),
    )))
    .unwrap();
    // (The lock the interleaved revocations set already runs as long as the recovery's.)
    assert_eq!(recovered.credential.id, id(&k5));
    assert!(recovered.accepted.is_some());
    assert!(recovered.events.iter().any(
        |e| matches!(&e.kind, EventKind::Revoked { credential, .. } if credential == &id(&k1))
    ));
    // And the interleaved revocation did happen: none of them is held now.
    let state = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    for k in [&k3, &k4, &k5] {
        assert!(state.is_revoked(&id(k)));
    }
}

fn mode_off_on<S: Store>(w: &World<S>, step_up: &StepUp) -> latchkey::Result<latchkey::Changed> {
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), false, step_up, &w.context),
    )
}

/// A revocation that lands right after the facade read the account: the use it then
/// verifies and decides on the stale state must not go through (P20), nor any token the
/// passkey made.
#[test]
fn a_revocation_landing_right_after_the_facades_read_stops_the_call() {
    let w = support::world_on(RevokedRightAfter::new());
    let (mut k1, mut k2, k10) = (key(1), key(2), key(10));
    setup(&w, &mut k1, &k2, &k10);
    let k3 = key(3);
    w.register(&alice(), &k3, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), true, &factors(), &w.context),
    )
    .unwrap();
    let id2 = id(&k2);
    let off = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    let dex = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(id2.clone()),
        )
        .unwrap();
    let delete = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&k3)),
        )
        .unwrap();
    // A withdrawal by k2: k2 is revoked between the facade's read and its append.
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut k2, &options.challenge, &alice(), Scope::Exchange);
    let before = history(&w, &alice()).len();
    w.passkeys.store().arm_after_read(id2.clone());
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "unknown_credential");
    // Revoked, so dead: the client is told to forget it, as when the revocation came
    // before the read (P13, P20).
    assert_eq!(
        w.passkeys
            .signal_unknown_credential(&refused)
            .map(|signal| signal.credential_id),
        Some(b64(id2.as_bytes()))
    );
    // Every token k2 made died with it, whichever call brings it.
    assert_eq!(
        code(mode_off_on(&w, &StepUp::Passkey(off))),
        "step_up_required"
    );
    assert_eq!(
        code(block_on(w.passkeys.authorize_dex(
            &alice(),
            &id2,
            &dex,
            true,
            &w.context
        ))),
        "unknown_credential"
    );
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k3),
            &StepUp::Passkey(delete),
            &w.context
        ))),
        "step_up_required"
    );
    let after = history(&w, &alice());
    assert!(
        after[before..].iter().all(|e| matches!(
            e.kind,
            EventKind::Revoked { .. } | EventKind::WithdrawalLocked { .. }
        )),
        "{:?}",
        &after[before..]
    );
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
}

/// Same for a command: the revocation lands after the read it is first decided on.
#[test]
fn a_revocation_landing_right_after_a_commands_read_voids_its_token() {
    let w = support::world_on(RevokedRightAfter::new());
    let (mut k1, mut k2, k10) = (key(1), key(2), key(10));
    setup(&w, &mut k1, &k2, &k10);
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), true, &factors(), &w.context),
    )
    .unwrap();
    let off = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    w.passkeys.store().arm_after_read(id(&k2));
    assert_eq!(
        code(mode_off_on(&w, &StepUp::Passkey(off))),
        "step_up_required"
    );
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
    assert!(
        block_on(w.passkeys.store().load(&alice()))
            .unwrap()
            .value
            .is_revoked(&id(&k2))
    );
}

/// The facade lets only an operator's context revoke (P20's exception to P3), and the
/// engine itself refuses any other context too (defence in depth): a service that calls
/// it directly cannot record a revocation of the last passkey under the user's name.
/// The refusal is the service's misuse, not the client's input: code `internal`.
#[test]
fn the_engine_called_directly_refuses_a_users_revocation() {
    use latchkey::policy::{AccountState, Command, PolicyConfig, PolicyError, decide};
    let w = world();
    let k1 = key(1);
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    let state: AccountState = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    let command = Command::RevokeCompromised {
        credential: id(&k1),
        reason: "mine".into(),
    };
    let refused = decide(
        &state,
        &command,
        T0,
        &RequestContext::default(),
        &PolicyConfig::default(),
    );
    assert_eq!(refused, Err(PolicyError::OperatorRequired));
    assert_eq!(PolicyError::OperatorRequired.code(), "internal");
    // An operator's context goes through, and the history names the operator.
    let decision = decide(&state, &command, T0, &operator(), &PolicyConfig::default()).unwrap();
    assert!(
        decision
            .events
            .iter()
            .all(|e| e.context.actor == Actor::Operator("ops-7".into()))
    );
}

#[test]
fn a_recovery_racing_a_replacement_of_an_old_passkey_on_two_instances_leaves_only_its_own() {
    for round in 0..4 {
        let two = two_instances(&format!("recover-replace-{round}"));
        let (mut k1, k2, k10) = (key(1), key(2), key(10));
        setup(&two.a, &mut k1, &k2, &k10);
        let (k3, k4) = (key(3), key(4));
        let recovery = recovery_response(&two.a, &alice(), &k3, Scope::Exchange);
        let options = block_on(two.b.passkeys.start_replacement(
            &alice(),
            &user("alice"),
            &id(&k2),
            &factors(),
        ))
        .unwrap();
        let successor = RegistrationResponse::from_json(
            &k4.registration_json(&two.b.client, &options.challenge),
        )
        .unwrap();
        let (a, b) = (Arc::clone(&two.a), Arc::clone(&two.b));
        let id2 = id(&k2);
        let outcome = race(
            move || {
                block_on(a.passkeys.finish_recovery(FinishRecovery::new(
                    &alice(),
                    &recovery,
                    &identity(),
                    &a.context,
                )))
            },
            move || {
                block_on(b.passkeys.finish_replacement(FinishReplacement::new(
                    &alice(),
                    &id2,
                    &successor,
                    &factors(),
                    &b.context,
                )))
            },
        );
        assert!(outcome[0].is_ok(), "{outcome:?}");
        assert!(
            matches!(outcome[1], Ok(()) | Err("unknown_credential")),
            "{outcome:?}"
        );
        let exchange = block_on(two.a.passkeys.list(&alice(), Scope::Exchange)).unwrap();
        assert_eq!(
            exchange.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
            [id(&k3)],
            "{outcome:?}"
        );
    }
}

/// P17 answers the Pay entry's usernameless login with `scope_mismatch`, P18 a frozen
/// account's login with `account_frozen` when `frozen_login` refuses it. When both
/// apply, the freeze is judged first, and that is kept on purpose: either way nothing
/// logs in, and `account_frozen` is the more useful answer (the user learns why every
/// passkey is refused, and the freeze is what must be lifted) while disclosing nothing
/// the Pay passkey's holder could not learn from the account's other entries.
#[test]
fn the_pay_entry_on_a_frozen_account_that_refuses_login_gets_account_frozen() {
    let mut config = latchkey::PolicyConfig::default();
    config.frozen_login = latchkey::FrozenLogin::Refuse;
    let base = world();
    let w = World {
        passkeys: Passkeys::new(relying_party(), latchkey::MemoryStore::new())
            .with_policy(config)
            .with_clock(base.clock.clone()),
        ..base
    };
    let mut k10 = key(10);
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k10, Scope::Pay, factors()).unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k10, &options.challenge, &alice(), Scope::Pay);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(code(refused), "account_frozen");
}
