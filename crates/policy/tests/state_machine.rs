//! Random command sequences, valid and invalid, against the engine. After every step:
//! P1 (DEX passkeys are Exchange passkeys), P3 (an activated realm never empties), P5
//! (limits), unique ids and names, counters and locks that never go back; and a refused
//! command changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};

use latchkey_cose::Aaguid;
use latchkey_policy::*;
use proptest::prelude::*;

fn id(n: u8) -> CredentialId {
    CredentialId::new(vec![n; 16])
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Exchange), Just(Scope::Pay)]
}

fn facts() -> impl Strategy<Value = AssertionFacts> {
    (
        0u8..8,
        prop::bool::weighted(0.85),
        0u32..20,
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(n, user_verified, sign_count, backed_up, counter_regressed)| AssertionFacts {
                credential: id(n),
                user_verified,
                sign_count,
                backup_eligible: true,
                backed_up,
                counter_regressed,
            },
        )
}

fn step_up() -> impl Strategy<Value = StepUp> {
    prop_oneof![
        1 => Just(StepUp::None),
        2 => Just(StepUp::Factors(vec![Factor::Email])),
        1 => Just(StepUp::Factors(vec![])),
        4 => facts().prop_map(StepUp::Passkey),
    ]
}

fn new_credential() -> impl Strategy<Value = NewCredential> {
    (0u8..8, scope(), prop::option::of("[ a-zA-Z\t]{0,6}")).prop_map(|(n, scope, name)| {
        NewCredential {
            id: id(n),
            scope,
            public_key: vec![n],
            aaguid: Aaguid::ZERO,
            sign_count: 0,
            backup_eligible: true,
            backed_up: false,
            transports: vec![],
            name,
            cred_protect: None,
            app_id: None,
        }
    })
}

fn intent() -> impl Strategy<Value = Intent> {
    prop_oneof![
        Just(Intent::Login),
        Just(Intent::Withdrawal),
        Just(Intent::SecurityChange),
        Just(Intent::DexTrade),
        Just(Intent::DexTransfer),
        Just(Intent::PaySign),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        3 => (new_credential(), step_up()).prop_map(|(credential, step_up)| Command::Register { credential, step_up }),
        1 => (0u8..8, "[ a-z]{0,8}").prop_map(|(n, name)| Command::Rename { credential: id(n), name }),
        3 => (0u8..8, step_up()).prop_map(|(n, step_up)| Command::Delete { credential: id(n), step_up }),
        2 => (0u8..8, new_credential(), step_up()).prop_map(|(n, new, step_up)| Command::Replace { old: id(n), new, step_up }),
        2 => (facts(), prop::bool::weighted(0.9)).prop_map(|(assertion, terms_accepted)| Command::AuthorizeDex { assertion, terms_accepted }),
        2 => (0u8..8, step_up()).prop_map(|(n, step_up)| Command::RevokeDex { credential: id(n), step_up }),
        3 => (facts(), intent()).prop_map(|(assertion, intent)| Command::Use { assertion, intent, factors: vec![] }),
    ]
}

fn check_invariants(
    state: &AccountState,
    activated: &BTreeSet<Realm>,
    config: &PolicyConfig,
) -> Result<(), TestCaseError> {
    for realm in [Realm::Exchange, Realm::Dex, Realm::Pay] {
        let count = state.count(realm);
        prop_assert!(
            count <= config.limits.of(realm),
            "P5: {realm:?} holds {count}"
        );
        if activated.contains(&realm) {
            prop_assert!(count > 0, "P3: {realm:?} emptied");
        }
    }
    for credential in &state.credentials {
        prop_assert!(
            !credential.dex_authorized || credential.scope == Scope::Exchange,
            "P1: DEX outside Exchange"
        );
    }
    let ids: BTreeSet<_> = state.credentials.iter().map(|c| &c.id).collect();
    prop_assert_eq!(
        ids.len(),
        state.credentials.len(),
        "duplicate credential id"
    );
    for scope in [Scope::Exchange, Scope::Pay] {
        let names: Vec<_> = state
            .credentials
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| &c.name)
            .collect();
        let unique: BTreeSet<_> = names.iter().collect();
        prop_assert_eq!(
            unique.len(),
            names.len(),
            "P6: duplicate names in {:?}",
            scope
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_for_any_sequence(commands in prop::collection::vec(command(), 1..60), flag_counters in any::<bool>()) {
        let mut config = PolicyConfig::default();
        config.limits = Limits { exchange: 4, dex: 2, pay: 3 }; // small, so limits are reached
        if flag_counters {
            config.counter = CounterMode::Flag;
        }
        let mut state = AccountState::default();
        let mut activated = BTreeSet::new();
        let mut counters: HashMap<CredentialId, u32> = HashMap::new();
        let mut lock = None;
        let mut now = Timestamp(1_767_225_600);
        for command in &commands {
            now = now.plus_seconds(600);
            let before = state.clone();
            match decide(&state, command, now, &RequestContext::default(), &config) {
                Ok(decision) => {
                    // Deterministic: the same inputs decide the same way.
                    let again = decide(&before, command, now, &RequestContext::default(), &config).unwrap();
                    prop_assert_eq!(&again, &decision);
                    state = apply(state, &decision.events);
                }
                Err(_) => prop_assert_eq!(&state, &before, "a refusal changed state"),
            }
            for realm in [Realm::Exchange, Realm::Dex, Realm::Pay] {
                if state.count(realm) > 0 {
                    activated.insert(realm);
                }
            }
            check_invariants(&state, &activated, &config)?;
            for credential in &state.credentials {
                let previous = counters.insert(credential.id.clone(), credential.sign_count).unwrap_or(0);
                prop_assert!(credential.sign_count >= previous || !before.credentials.iter().any(|c| c.id == credential.id), "P12: counter went back");
            }
            prop_assert!(state.withdrawal_locked_until >= lock, "P8: lock shortened");
            lock = state.withdrawal_locked_until;
        }
    }
}
