//! P17-P20 and the sharpened P6 and P14 through the facade: labels in the creation
//! options, freeze, passkey-required mode, an operator's revocation and the recovery of
//! a scope, names that cannot spoof, and who acted in the history.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use latchkey::json::RegistrationResponse;
use latchkey::{
    AccountId, Actor, Change, ErrorKind, EventKind, Factor, FinishAuthentication, FinishRecovery,
    FinishRegistration, Intent, MAX_HISTORY_PAGE, RequestContext, Scope, StepUp, Store,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, factors, id, user, world};

const DAY: i64 = 24 * 60 * 60;

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
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

/// Alice with Exchange passkeys 1 (DEX-authorized) and 2, and Pay passkey 10.
fn alice_world() -> (World, Authenticator, Authenticator, Authenticator) {
    let w = world();
    let (mut k1, k2, k10) = (key(1), key(2), key(10));
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k10, Scope::Pay, factors()).unwrap();
    let k1_id = id(&k1);
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(k1_id),
        )
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&k1), &token, true, &w.context),
    )
    .unwrap();
    (w, k1, k2, k10)
}

#[test]
fn p17_the_pay_entry_is_labelled_and_never_logs_in() {
    let (w, _, _, mut k10) = alice_world();
    let pay =
        block_on(
            w.passkeys
                .start_registration(&alice(), &user("alice"), Scope::Pay, &factors()),
        )
        .unwrap();
    assert_eq!(pay.user.name, "alice (Pay)");
    assert_eq!(pay.user.display_name, "alice (Pay)");
    // A usernameless login where the user picks the Pay entry.
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k10, &options.challenge, &alice(), Scope::Pay);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(code(refused), "scope_mismatch");
}

#[test]
fn p17_labels_are_configurable() {
    let mut config = latchkey::PolicyConfig::default();
    config.labels.insert(Scope::Exchange, "Exchange".into());
    config.labels.insert(Scope::Pay, "OKX Pay".into());
    let w = world();
    let passkeys = latchkey::Passkeys::new(support::relying_party(), latchkey::MemoryStore::new())
        .with_policy(config)
        .with_clock(w.clock.clone());
    let start = |scope| {
        block_on(passkeys.start_registration(&alice(), &user("alice"), scope, &factors())).unwrap()
    };
    assert_eq!(start(Scope::Exchange).user.name, "alice (Exchange)");
    assert_eq!(start(Scope::Pay).user.display_name, "alice (OKX Pay)");
}

#[test]
fn p18_a_frozen_account_only_logs_in_until_the_identity_check() {
    let (w, mut k1, k2, mut k10) = alice_world();
    let frozen = block_on(w.passkeys.freeze(&alice(), "user_request", &w.context)).unwrap();
    assert!(frozen.events.iter().all(latchkey::Event::notify));
    assert!(matches!(frozen.events[0].kind, EventKind::Frozen { .. }));
    let status = block_on(w.passkeys.status(&alice())).unwrap();
    assert_eq!(
        status.frozen.map(|f| f.reason),
        Some("user_request".to_owned())
    );
    assert!(block_on(w.passkeys.is_frozen(&alice())).unwrap());
    // Changes.
    let refused = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ));
    assert_eq!(code(refused), "account_frozen");
    let refused = block_on(w.passkeys.rename(&alice(), &id(&k2), "Mine", &w.context));
    assert_eq!(
        refused.as_ref().map_err(latchkey::Error::kind).err(),
        Some(ErrorKind::Refused)
    );
    assert_eq!(code(refused), "account_frozen");
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k2),
            &factors(),
            &w.context
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.revoke_dex(
            &alice(),
            &id(&k1),
            &factors(),
            &w.context
        ))),
        "account_frozen"
    );
    assert_eq!(
        code(block_on(w.passkeys.set_passkey_required(
            &alice(),
            true,
            &factors(),
            &w.context
        ))),
        "account_frozen"
    );
    // A step-up is an intent too.
    assert_eq!(
        code(w.step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey
        )),
        "account_frozen"
    );
    // Intents: all but login.
    for intent in [Intent::Withdrawal, Intent::SecurityChange] {
        assert_eq!(
            code(w.authenticate(&alice(), &mut k1, Scope::Exchange, intent, None)),
            "account_frozen"
        );
    }
    assert_eq!(
        code(w.authenticate(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Intent::DexTrade,
            Some(b"t")
        )),
        "account_frozen"
    );
    assert_eq!(
        code(w.authenticate(&alice(), &mut k10, Scope::Pay, Intent::PaySign, Some(b"t"))),
        "account_frozen"
    );
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    // Unfreezing: never a passkey, never ordinary factors.
    let token: latchkey::StepUpToken = "A".repeat(43).parse().unwrap();
    for step_up in [StepUp::None, factors(), StepUp::Passkey(token)] {
        assert_eq!(
            code(block_on(w.passkeys.unfreeze(
                &alice(),
                &step_up,
                &operator()
            ))),
            "step_up_required"
        );
    }
    let unfrozen = block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    assert!(matches!(unfrozen.events[0].kind, EventKind::Unfrozen));
    assert!(unfrozen.events[0].notify());
    assert!(!block_on(w.passkeys.is_frozen(&alice())).unwrap());
    w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Withdrawal, None)
        .unwrap();
}

#[test]
fn p18_frozen_login_can_be_refused() {
    let mut config = latchkey::PolicyConfig::default();
    config.frozen_login = latchkey::FrozenLogin::Refuse;
    let w = world();
    let mut w = World {
        passkeys: latchkey::Passkeys::new(support::relying_party(), latchkey::MemoryStore::new())
            .with_policy(config)
            .with_clock(w.clock.clone()),
        ..w
    };
    w.context = RequestContext::default();
    let mut k1 = key(1);
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .freeze(&alice(), "risk: impossible travel", &w.context),
    )
    .unwrap();
    assert_eq!(
        code(w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)),
        "account_frozen"
    );
}

#[test]
fn p19_passkey_required_mode_needs_an_exchange_passkey_to_turn_off() {
    let (w, mut k1, _, mut k10) = alice_world();
    assert!(!block_on(w.passkeys.passkey_required(&alice())).unwrap());
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), true, &factors(), &w.context),
    )
    .unwrap();
    assert!(block_on(w.passkeys.passkey_required(&alice())).unwrap());
    assert!(
        block_on(w.passkeys.status(&alice()))
            .unwrap()
            .passkey_required
    );
    let all = StepUp::Factors(vec![
        Factor::Email,
        Factor::Totp,
        Factor::Face,
        Factor::IdDocument,
    ]);
    assert_eq!(
        code(block_on(w.passkeys.set_passkey_required(
            &alice(),
            false,
            &all,
            &w.context
        ))),
        "step_up_required"
    );
    // A Pay passkey cannot even start the step-up.
    assert_eq!(
        code(block_on(w.passkeys.start_step_up(
            &alice(),
            Scope::Pay,
            &Change::PasskeyRequiredOff
        ))),
        "scope_mismatch"
    );
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
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::PasskeyRequiredOff,
        )
        .unwrap();
    let off = StepUp::Passkey(token);
    let changed = block_on(
        w.passkeys
            .set_passkey_required(&alice(), false, &off, &w.context),
    )
    .unwrap();
    assert!(
        changed
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::PasskeyRequiredSet { on: false }))
    );
    assert!(!block_on(w.passkeys.passkey_required(&alice())).unwrap());
    // The token was spent.
    block_on(
        w.passkeys
            .set_passkey_required(&alice(), true, &factors(), &w.context),
    )
    .unwrap();
    assert_eq!(
        code(block_on(w.passkeys.set_passkey_required(
            &alice(),
            false,
            &off,
            &w.context
        ))),
        "step_up_required"
    );
}

#[test]
fn p20_an_operator_revokes_the_last_passkey_for_good() {
    let w = world();
    let (mut k1, mut k10) = (key(1), key(10));
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k10, Scope::Pay, factors()).unwrap();
    // Only an operator's context may revoke.
    let misuse = block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&k1), "phished", &w.context),
    );
    assert_eq!(
        misuse.as_ref().map_err(latchkey::Error::kind).err(),
        Some(ErrorKind::Internal)
    );
    let revoked =
        block_on(
            w.passkeys
                .revoke_compromised(&alice(), &id(&k1), "phished", &operator()),
        )
        .unwrap();
    assert!(
        revoked
            .events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Revoked { reason, .. } if reason == "phished"))
    );
    assert!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .is_empty()
    );
    let locked = block_on(w.passkeys.status(&alice()))
        .unwrap()
        .withdrawals_locked_until;
    assert_eq!(locked, Some(support::T0.plus_seconds(DAY)));
    // Never accepted again: login, step-up, registration (here or for anyone else).
    assert_eq!(
        code(w.authenticate(&alice(), &mut k1, Scope::Exchange, Intent::Login, None)),
        "unknown_credential"
    );
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(code(refused), "unknown_credential");
    assert_eq!(
        code(w.register(&alice(), &k1, Scope::Exchange, factors())),
        "duplicate_credential"
    );
    assert_eq!(
        code(w.register(&AccountId::new("mallory"), &k1, Scope::Exchange, factors())),
        "duplicate_credential"
    );
    // The next Exchange passkey needs the factors, as the first one did.
    w.register(&alice(), &key(2), Scope::Exchange, factors())
        .unwrap();
    // History: who acted, and the request.
    let page = block_on(w.passkeys.history(&alice(), 0, MAX_HISTORY_PAGE)).unwrap();
    let event = page
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Revoked { .. }))
        .unwrap();
    assert_eq!(event.context.actor, Actor::Operator("ops-7".into()));
    assert_eq!(event.context.request_id.as_deref(), Some("req-19"));
    assert!(event.notify());
    // The Pay passkey is untouched and still signs.
    w.authenticate(
        &alice(),
        &mut k10,
        Scope::Pay,
        Intent::PaySign,
        Some(b"coffee"),
    )
    .unwrap();
}

#[test]
fn p20_recovery_revokes_every_passkey_of_the_scope_in_one_step() {
    let (w, mut k1, mut k2, mut k10) = alice_world();
    let k3 = key(3);
    // Without the identity check, nothing starts.
    for step_up in [StepUp::None, factors()] {
        assert_eq!(
            code(block_on(w.passkeys.start_recovery(
                &alice(),
                &user("alice"),
                Scope::Exchange,
                &step_up
            ))),
            "step_up_required"
        );
    }
    let options =
        block_on(
            w.passkeys
                .start_recovery(&alice(), &user("alice"), Scope::Exchange, &identity()),
        )
        .unwrap();
    assert!(options.exclude_credentials.is_empty());
    let response =
        RegistrationResponse::from_json(&k3.registration_json(&w.client, &options.challenge))
            .unwrap();
    // A recovery challenge is no ordinary registration.
    let misuse = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &factors(),
        &w.context,
    )));
    assert_eq!(code(misuse), "challenge_mismatch");
    let options =
        block_on(
            w.passkeys
                .start_recovery(&alice(), &user("alice"), Scope::Exchange, &identity()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&k3.registration_json(&w.client, &options.challenge))
            .unwrap();
    // The finish judges the identity check again.
    let weak = block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        &alice(),
        &response,
        &factors(),
        &w.context,
    )));
    assert_eq!(code(weak), "step_up_required");
    let options =
        block_on(
            w.passkeys
                .start_recovery(&alice(), &user("alice"), Scope::Exchange, &identity()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&k3.registration_json(&w.client, &options.challenge))
            .unwrap();
    let recovered = block_on(w.passkeys.finish_recovery(
        FinishRecovery::new(&alice(), &response, &identity(), &w.context).name("New phone"),
    ))
    .unwrap();
    let revoked: Vec<_> = recovered
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Revoked { .. }))
        .collect();
    assert_eq!(revoked.len(), 2);
    assert_eq!(recovered.credential.name, "New phone");
    assert!(!recovered.credential.dex_authorized);
    let accepted = recovered.accepted.unwrap().all_accepted_credential_ids;
    assert_eq!(accepted, [latchkey::json::b64(id(&k3).as_bytes())]);
    let exchange = block_on(w.passkeys.list(&alice(), Scope::Exchange)).unwrap();
    assert_eq!(exchange.len(), 1);
    assert!(
        block_on(w.passkeys.status(&alice()))
            .unwrap()
            .withdrawals_locked_until
            .is_some()
    );
    // Nothing recovery revoked is accepted again.
    for k in [&mut k1, &mut k2] {
        assert_eq!(
            code(w.authenticate(&alice(), k, Scope::Exchange, Intent::Login, None)),
            "unknown_credential"
        );
    }
    // DEX only by P2; Pay untouched.
    let mut k3 = k3;
    assert_eq!(
        code(w.authenticate(
            &alice(),
            &mut k3,
            Scope::Exchange,
            Intent::DexTrade,
            Some(b"t")
        )),
        "dex_not_authorized"
    );
    w.authenticate(&alice(), &mut k10, Scope::Pay, Intent::PaySign, Some(b"t"))
        .unwrap();
    let store_state = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    assert!(store_state.is_revoked(&id(&k1)) && store_state.is_revoked(&id(&k2)));
}

#[test]
fn p6_names_with_format_characters_are_refused() {
    let (w, k1, _, _) = alice_world();
    for bad in [
        "Work\u{202E}yek",
        "Wo\u{200B}rk",
        "\u{FEFF}Work",
        "a\u{2067}b\u{2069}",
    ] {
        assert_eq!(
            code(block_on(w.passkeys.rename(
                &alice(),
                &id(&k1),
                bad,
                &w.context
            ))),
            "invalid_name",
            "{bad:?}"
        );
    }
    let options = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let k4 = key(4);
    let response =
        RegistrationResponse::from_json(&k4.registration_json(&w.client, &options.challenge))
            .unwrap();
    let refused = block_on(w.passkeys.finish_registration(
        FinishRegistration::new(&alice(), &response, &factors(), &w.context).name("Lap\u{200D}top"),
    ));
    assert_eq!(code(refused), "invalid_name");
}
