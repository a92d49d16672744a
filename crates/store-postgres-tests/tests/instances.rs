//! Several OS processes, each its own service instance with its own pool, hammer the same
//! accounts through the `latchkey` facade: logins, renames, deletes, registrations,
//! replacements and DEX authorizations, while racing to take the same challenges.
//!
//! Afterwards every account must show: no activated scope ever at zero passkeys, every
//! change an instance reported exactly once in the history (none lost, none duplicated),
//! counters that never go backwards, and every challenge taken exactly once.
//!
//! The test runs itself as the instances (`instance_process`, ignored unless asked for).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The same helpers as the store's own tests: one file serves both crates.
#[path = "../../store-postgres/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::policy::{AccountState, EventKind, apply};
use latchkey::store::{ChallengeRecord, Taken};
use latchkey::{
    AccountId, Change, CredentialId, Factor, FinishAuthentication, FinishRegistration,
    FinishReplacement, Intent, Passkeys, RelyingParty, RequestContext, Scope, StepUp, Store,
    Timestamp, User,
};
use latchkey_store_postgres::PostgresStore;
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use latchkey_testkit::hex;

const SCHEMA_ENV: &str = "LATCHKEY_INSTANCE_SCHEMA";
const ID_ENV: &str = "LATCHKEY_INSTANCE_ID";
const INSTANCES: u8 = 4;
const ROUNDS: u32 = 60;
const ACCOUNTS: u8 = 3;
/// Passkeys registered per account before the instances start.
const SLOTS: u8 = 3;
/// The keys an account's passkeys are drawn from: every instance knows them all, so any
/// instance can sign in with any passkey another one registered.
const KEYS_PER_ACCOUNT: u8 = 24;
const CHALLENGES: u32 = 180;
const TAKES_PER_ROUND: u32 = CHALLENGES / ROUNDS;

fn passkeys(store: PostgresStore) -> Passkeys<PostgresStore> {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    Passkeys::new(rp, store)
}

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

fn account(n: u8) -> AccountId {
    AccountId::new(format!("account-{n}"))
}

fn key(account: u8, n: u8) -> Authenticator {
    let mut seed = [0xA5; 32];
    seed[0] = account;
    seed[1] = n;
    Authenticator::new(SoftKey::es256(seed))
}

/// The authenticator holding `credential`, among the account's possible keys.
fn key_of(account: u8, credential: &CredentialId) -> Authenticator {
    (0..KEYS_PER_ACCOUNT)
        .map(|n| key(account, n))
        .find(|k| k.credential_id() == credential.as_bytes())
        .expect("every passkey comes from the account's keys")
}

fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

fn pooled_challenge(n: u32) -> Vec<u8> {
    [b"pooled-challenge".as_slice(), &n.to_be_bytes()].concat()
}

/// A registration response for `authenticator`, on a fresh ceremony: a new passkey, or
/// the successor of `replacing`.
fn register_response(
    passkeys: &Passkeys<PostgresStore>,
    who: &AccountId,
    authenticator: &Authenticator,
    replacing: Option<&CredentialId>,
) -> latchkey::Result<RegistrationResponse> {
    let user = User {
        name: who.to_string(),
        display_name: who.to_string(),
    };
    let options = match replacing {
        Some(old) => block_on(passkeys.start_replacement(who, &user, old, &factors()))?,
        None => block_on(passkeys.start_registration(who, &user, Scope::Exchange, &factors()))?,
    };
    let json = authenticator.registration_json(&client(), &options.challenge);
    Ok(RegistrationResponse::from_json(&json)?)
}

/// Signs in with `authenticator`, for a login or for a step-up of `change`; its counter
/// is the wall clock in milliseconds, so the instances' counters for one key rise
/// together but may arrive out of order.
fn sign_in(
    passkeys: &Passkeys<PostgresStore>,
    who: &AccountId,
    authenticator: &mut Authenticator,
    change: Option<&Change>,
) -> latchkey::Result<latchkey::Authenticated> {
    let options = match change {
        Some(change) => block_on(passkeys.start_step_up(who, Scope::Exchange, change))?,
        None => block_on(passkeys.start_authentication(who, Intent::Login, None))?,
    };
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    authenticator.set_sign_count(Some((millis % 4_000_000_000) as u32));
    let json = authenticator.authentication_json(
        &client(),
        &options.challenge,
        &passkeys.user_handle(who, Scope::Exchange),
    );
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &AuthenticationResponse::from_json(&json)?,
        &RequestContext::default(),
    )))
}

/// A small deterministic generator per instance (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The child: one service instance. Prints a line per change it made.
#[test]
#[ignore = "run by `many_instances_keep_every_invariant` as a child process"]
fn instance_process() {
    let (Ok(url), Ok(schema), Ok(id)) = (
        std::env::var(common::URL_ENV),
        std::env::var(SCHEMA_ENV),
        std::env::var(ID_ENV),
    ) else {
        return;
    };
    let id: u8 = id.parse().unwrap();
    let passkeys = passkeys(common::store_in(&url, &schema));
    let context = RequestContext::default();
    let mut rng = Lcg(u64::from(id) + 1);
    let mut out = Vec::new();
    for round in 0..ROUNDS {
        for j in 0..TAKES_PER_ROUND {
            let n =
                (u32::from(id) * CHALLENGES / u32::from(INSTANCES) + round * TAKES_PER_ROUND + j)
                    % CHALLENGES;
            match block_on(passkeys.store().take_challenge(&pooled_challenge(n))).unwrap() {
                Taken::Fresh(_) => out.push(format!("took {n}")),
                Taken::Used { .. } => {}
                Taken::Unknown => panic!("challenge {n} was lost"),
            }
        }
        let a = u8::try_from(rng.below(ACCOUNTS.into())).unwrap();
        let who = account(a);
        let listed = block_on(passkeys.list(&who, Scope::Exchange)).unwrap();
        let some_passkey = listed[rng.below(listed.len())].id.clone();
        let used = |out: &mut Vec<String>, done: &latchkey::Authenticated, count: u32| {
            out.push(format!(
                "used {a} {} {count}",
                hex::encode(done.credential.as_bytes())
            ));
        };
        match rng.below(6) {
            0 | 1 => {
                let mut key = key_of(a, &some_passkey);
                if let Ok(done) = sign_in(&passkeys, &who, &mut key, None) {
                    used(&mut out, &done, key_count(&key));
                }
            }
            2 => {
                let name = format!("w{id}r{round}");
                if block_on(passkeys.rename(&who, &some_passkey, &name, &context)).is_ok() {
                    out.push(format!("renamed {a} {name}"));
                }
            }
            3 => {
                if block_on(passkeys.delete(&who, &some_passkey, &factors(), &context)).is_ok() {
                    out.push(format!(
                        "deleted {a} {}",
                        hex::encode(some_passkey.as_bytes())
                    ));
                }
            }
            4 => {
                // Possibly one the account holds already: then refused, and not reported.
                let key = key(a, u8::try_from(rng.below(KEYS_PER_ACCOUNT.into())).unwrap());
                let new = hex::encode(key.credential_id());
                if rng.below(2) == 0 {
                    let response = register_response(&passkeys, &who, &key, None).unwrap();
                    let result = block_on(passkeys.finish_registration(FinishRegistration::new(
                        &who,
                        &response,
                        &factors(),
                        &context,
                    )));
                    if result.is_ok() {
                        out.push(format!("registered {a} {new}"));
                    }
                } else {
                    let response =
                        register_response(&passkeys, &who, &key, Some(&some_passkey)).unwrap();
                    // With the terms: the successor of a DEX passkey is authorized too (P2).
                    let result = block_on(
                        passkeys.finish_replacement(
                            FinishReplacement::new(
                                &who,
                                &some_passkey,
                                &response,
                                &factors(),
                                &context,
                            )
                            .dex_terms_accepted(true),
                        ),
                    );
                    if let Ok(done) = result {
                        out.push(format!("registered {a} {new}"));
                        out.push(format!(
                            "deleted {a} {}",
                            hex::encode(some_passkey.as_bytes())
                        ));
                        if done
                            .events
                            .iter()
                            .any(|e| matches!(e.kind, EventKind::DexAuthorized { .. }))
                        {
                            out.push(format!("dex {a} {new}"));
                        }
                    }
                }
            }
            _ => {
                let mut key = key_of(a, &some_passkey);
                let change = Change::AuthorizeDex(some_passkey.clone());
                if let Ok(done) = sign_in(&passkeys, &who, &mut key, Some(&change)) {
                    used(&mut out, &done, key_count(&key));
                    let token = done.step_up.unwrap();
                    let authorized = block_on(passkeys.authorize_dex(
                        &who,
                        &some_passkey,
                        &token,
                        true,
                        &context,
                    ));
                    if authorized.is_ok() {
                        out.push(format!(
                            "dex {a} {}",
                            hex::encode(done.credential.as_bytes())
                        ));
                    }
                }
            }
        }
    }
    // On lines of their own: the test harness prints its "test ... " prefix unterminated.
    println!("\n{}", out.join("\n"));
}

/// The counter the authenticator signed last.
fn key_count(key: &Authenticator) -> u32 {
    key.sign_count().unwrap_or(0)
}

#[test]
fn many_instances_keep_every_invariant() {
    let Some(url) = common::url("many_instances_keep_every_invariant") else {
        return;
    };
    let schema = common::fresh_schema("instances");
    let setup = passkeys(common::store_in(&url, &schema));
    let context = RequestContext::default();
    let mut expected_registered: BTreeSet<(u8, String)> = BTreeSet::new();
    for a in 0..ACCOUNTS {
        for slot in 0..SLOTS {
            let key = key(a, slot);
            let response = register_response(&setup, &account(a), &key, None).unwrap();
            block_on(setup.finish_registration(FinishRegistration::new(
                &account(a),
                &response,
                &factors(),
                &context,
            )))
            .unwrap();
            expected_registered.insert((a, hex::encode(key.credential_id())));
        }
    }
    for n in 0..CHALLENGES {
        let record = ChallengeRecord {
            challenge: pooled_challenge(n),
            expires_at: Timestamp(i64::MAX),
            binding: vec![],
        };
        block_on(setup.store().put_challenge(record)).unwrap();
    }

    let children: Vec<_> = (0..INSTANCES)
        .map(|id| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "instance_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(SCHEMA_ENV, &schema)
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut lines = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "an instance failed");
        let text = String::from_utf8(output.stdout).unwrap();
        lines.extend(
            text.lines()
                .filter(|l| {
                    [
                        "took ",
                        "used ",
                        "renamed ",
                        "deleted ",
                        "registered ",
                        "dex ",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
                })
                .map(str::to_owned),
        );
    }

    // Every challenge taken exactly once, across all instances.
    let taken: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("took "))
        .collect();
    let distinct: BTreeSet<&str> = taken.iter().copied().collect();
    assert_eq!(taken.len(), distinct.len(), "a challenge was taken twice");
    let missing: Vec<u32> = (0..CHALLENGES)
        .filter(|n| !distinct.contains(n.to_string().as_str()))
        .collect();
    assert!(missing.is_empty(), "challenges never taken: {missing:?}");

    // What the instances say they did, per account.
    let mut reported: BTreeMap<(u8, &str), Vec<String>> = BTreeMap::new();
    for line in lines.iter().filter(|l| !l.starts_with("took ")) {
        let mut parts = line.splitn(3, ' ');
        let (kind, a, rest) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        reported
            .entry((a.parse().unwrap(), kind))
            .or_default()
            .push(rest.to_owned());
    }
    for kind in ["used", "renamed", "deleted", "registered", "dex"] {
        let count: usize = reported
            .iter()
            .filter(|((_, k), _)| *k == kind)
            .map(|(_, v)| v.len())
            .sum();
        eprintln!("instances reported {count} {kind}");
        assert!(
            reported.keys().any(|(_, k)| *k == kind),
            "no instance ever succeeded at {kind}: the test proves nothing"
        );
    }
    let sorted = |a: u8, kind: &str| {
        let mut v = reported.get(&(a, kind)).cloned().unwrap_or_default();
        v.sort();
        v
    };

    let store = setup.store();
    for a in 0..ACCOUNTS {
        let who = account(a);
        let loaded = block_on(store.load(&who)).unwrap();
        let history = block_on(store.history(&who)).unwrap();
        assert_eq!(loaded.version, history.len() as u64, "{who}: version");
        assert_eq!(
            loaded.value,
            apply(AccountState::default(), &history),
            "{who}: fold"
        );

        // Never zero Exchange passkeys once the first was registered; counters only rise.
        let mut state = AccountState::default();
        let mut counters: BTreeMap<CredentialId, u32> = BTreeMap::new();
        let (mut used, mut renamed, mut deleted, mut registered, mut dex) =
            (vec![], vec![], vec![], vec![], vec![]);
        for event in &history {
            state = apply(state, std::slice::from_ref(event));
            if matches!(
                event.kind,
                EventKind::Registered { .. } | EventKind::Deleted { .. }
            ) {
                assert!(
                    state.credentials.iter().any(|c| c.scope == Scope::Exchange),
                    "{who}: Exchange reached zero passkeys"
                );
            }
            match &event.kind {
                EventKind::Used {
                    credential,
                    sign_count,
                    ..
                } => {
                    let before = counters
                        .insert(credential.clone(), *sign_count)
                        .unwrap_or(0);
                    assert!(*sign_count >= before, "{who}: counter went backwards");
                    used.push(format!(
                        "{} {sign_count}",
                        hex::encode(credential.as_bytes())
                    ));
                }
                EventKind::Renamed { name, .. } => renamed.push(name.clone()),
                EventKind::Deleted { credential, .. } => {
                    deleted.push(hex::encode(credential.as_bytes()));
                }
                EventKind::Registered { credential } => {
                    // A key registered again (after a delete) starts a new lifetime.
                    counters.insert(credential.id.clone(), credential.sign_count);
                    registered.push(hex::encode(credential.id.as_bytes()));
                    assert!(
                        !credential.dex_authorized,
                        "{who}: DEX only by its own event"
                    );
                }
                EventKind::DexAuthorized { credential } => {
                    dex.push(hex::encode(credential.as_bytes()));
                }
                _ => {}
            }
        }
        for credential in &state.credentials {
            assert_eq!(
                credential.sign_count,
                counters.get(&credential.id).copied().unwrap_or(0),
                "{who}: stored counter"
            );
            assert_eq!(
                block_on(store.account_of(&credential.id)).unwrap(),
                Some(who.clone())
            );
        }

        // Each reported change exactly once in the history, and nothing else.
        let mut setup_ids: Vec<String> = expected_registered
            .iter()
            .filter(|(owner, _)| *owner == a)
            .map(|(_, id)| id.clone())
            .collect();
        setup_ids.extend(sorted(a, "registered"));
        setup_ids.sort();
        for (kind, mut found, expected) in [
            ("renamed", renamed, sorted(a, "renamed")),
            ("deleted", deleted, sorted(a, "deleted")),
            ("registered", registered, setup_ids),
        ] {
            found.sort();
            assert_eq!(found, expected, "{who}: {kind} events and reports differ");
        }
        // Authorizing an already authorized passkey succeeds without an event, so DEX
        // authorizations compare as sets: every event reported, every report authorized.
        let dex: BTreeSet<String> = dex.into_iter().collect();
        let dex_reported: BTreeSet<String> = sorted(a, "dex").into_iter().collect();
        assert!(
            dex.is_subset(&dex_reported),
            "{who}: unreported DEX authorization"
        );
        assert!(
            dex_reported.is_subset(&dex),
            "{who}: lost DEX authorization"
        );
        // Every reported use is in the history exactly once, and nothing else: a DEX
        // authorization spends its step-up, whose use was reported when it was made.
        let mut unreported = used;
        for report in sorted(a, "used") {
            let at = unreported.iter().position(|u| *u == report);
            let at = at.unwrap_or_else(|| panic!("{who}: reported use {report} was lost"));
            unreported.swap_remove(at);
        }
        assert!(
            unreported.is_empty(),
            "{who}: unreported uses {unreported:?}"
        );
    }
    drop(setup);
    block_on(common::store_in(&url, &schema).drop_schema()).unwrap();
}
