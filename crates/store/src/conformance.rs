//! The conformance suite: every [`Store`] backend's tests call [`check_all`].
//!
//! ```
//! use latchkey_store::{MemoryStore, conformance};
//!
//! conformance::check_all(MemoryStore::new);
//! ```
//!
//! Each check runs on a fresh store from the factory and panics with the name of the
//! contract that was broken. Concurrency checks run real threads against one shared
//! store, each driving the async API with a minimal executor, so no runtime is needed.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::missing_panics_doc
)]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use latchkey_cose::Aaguid;
use latchkey_policy::{
    AccountState, Command, CredentialId, Event, Factor, NewCredential, PolicyConfig, PolicyError,
    Realm, RequestContext, Scope, StepUp, Timestamp, apply, decide,
};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Taken};
use crate::store::Store;

/// A named contract check.
type Check<S> = (&'static str, fn(Arc<S>));

/// Runs every check, each on a fresh store from `new_store`.
///
/// # Panics
///
/// When a backend breaks a contract of [`Store`]; the message names it.
pub fn check_all<S, F>(new_store: F)
where
    S: Store + 'static,
    F: Fn() -> S,
{
    let checks: [Check<S>; 23] = [
        (
            "unknown accounts are empty at version 0",
            unknown_account_is_empty,
        ),
        (
            "append then load gives the fold at the new version",
            append_and_load,
        ),
        (
            "a stale version conflicts and changes nothing",
            stale_append_conflicts,
        ),
        ("appends are all or nothing", append_is_atomic),
        (
            "a credential id has one owner",
            duplicate_credential_across_accounts,
        ),
        (
            "credential index follows registers and deletes",
            credential_index,
        ),
        ("history is every event in order", history_in_order),
        (
            "a challenge is taken fresh once, then used",
            challenges_single_use,
        ),
        (
            "putting a challenge again changes nothing",
            put_again_changes_nothing,
        ),
        (
            "expired challenges are purged, used or not, live ones kept",
            purge_challenges,
        ),
        (
            "of concurrent takes exactly one is fresh, the others used",
            concurrent_takes,
        ),
        (
            "concurrent deletes keep one passkey and lose no event",
            concurrent_changes,
        ),
        (
            "freeze, passkey-required mode, revocation and recovery round-trip; revoked ids stay owned",
            account_events_round_trip,
        ),
        (
            "put_challenge_and_load keeps the challenge once and reads the account",
            put_challenge_and_load,
        ),
        (
            "take_challenge_and_owner takes once and reads the owner only when fresh",
            take_challenge_and_owner,
        ),
        (
            "of concurrent takes with the owner exactly one is fresh",
            concurrent_takes_with_owner,
        ),
        (
            "append_loaded checks the version, refuses duplicates, all or nothing",
            append_loaded,
        ),
        (
            "concurrent deletes through append_loaded keep one passkey and lose no event",
            concurrent_changes_loaded,
        ),
        (
            "a revoked key is registered again by no account, a fresh one included",
            revoked_keys_store_wide,
        ),
        (
            "a peek consumes nothing; take_challenge_and_append takes and appends at once",
            peek_then_take_and_append,
        ),
        (
            "of concurrent take_challenge_and_append calls for one challenge exactly one appends",
            concurrent_take_and_append,
        ),
        (
            "of concurrent take_challenge_and_append calls on one state exactly one appends, \
             and every other keeps its take",
            concurrent_appends_each_with_its_challenge,
        ),
        (
            "take_challenge_and_append registering a credential: the index, and all or nothing",
            take_and_append_with_credential_changes,
        ),
    ];
    for (name, check) in checks {
        eprintln!("conformance: {name}");
        check(Arc::new(new_store()));
    }
}

/// Drives a future to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

const T0: Timestamp = Timestamp(1_767_225_600);

fn account(name: &str) -> AccountId {
    AccountId::new(name)
}

fn credential_id(n: u8) -> CredentialId {
    CredentialId::new(vec![n; 16])
}

/// Even-numbered credentials carry the optional fields, so that every store is seen to
/// round-trip them.
fn new_credential(n: u8, scope: Scope) -> NewCredential {
    let even = n.is_multiple_of(2);
    NewCredential {
        id: credential_id(n),
        scope,
        public_key: vec![n],
        aaguid: Aaguid::ZERO,
        sign_count: 0,
        backup_eligible: true,
        backed_up: true,
        transports: vec![],
        name: None,
        cred_protect: even.then_some(3),
        app_id: even.then(|| "https://example.com/app-id.json".to_owned()),
        user_verified: true,
        attestation: latchkey_policy::AttestationFacts::default(),
    }
}

fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

/// The events `command` decides on `state` at `T0`, by `context`; panics on a refusal.
fn decided(state: &AccountState, command: &Command, context: &RequestContext) -> Vec<Event> {
    decide(state, command, T0, context, &PolicyConfig::default())
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
        .events
}

/// Decides a command against the stored account and appends the result once.
fn run<S: Store>(store: &S, who: &AccountId, command: &Command) -> Result<Vec<Event>, Failure> {
    run_with(store, who, command, Append::Plain)
}

/// Which append method a check drives.
#[derive(Clone, Copy, Debug)]
enum Append {
    Plain,
    Loaded,
}

fn run_with<S: Store>(
    store: &S,
    who: &AccountId,
    command: &Command,
    how: Append,
) -> Result<Vec<Event>, Failure> {
    let loaded = block_on(store.load(who)).map_err(Failure::Store)?;
    let decision = decide(
        &loaded.value,
        command,
        T0,
        &RequestContext::default(),
        &PolicyConfig::default(),
    )
    .map_err(Failure::Policy)?;
    match how {
        Append::Plain => block_on(store.append(who, loaded.version, &decision.events)),
        Append::Loaded => block_on(store.append_loaded(who, &loaded, &decision.events)),
    }
    .map_err(Failure::Store)?;
    Ok(decision.events)
}

#[derive(Debug)]
enum Failure {
    Policy(PolicyError),
    Store(StoreError),
}

fn register<S: Store>(store: &S, who: &AccountId, n: u8, scope: Scope) -> Vec<Event> {
    let command = Command::Register {
        credential: new_credential(n, scope),
        step_up: factors(),
    };
    run(store, who, &command).unwrap_or_else(|e| panic!("registering {n}: {e:?}"))
}

fn unknown_account_is_empty<S: Store>(store: Arc<S>) {
    let loaded = block_on(store.load(&account("nobody"))).unwrap();
    assert_eq!(loaded.version, 0);
    assert_eq!(loaded.value, AccountState::default());
    assert!(
        block_on(store.history(&account("nobody")))
            .unwrap()
            .is_empty()
    );
}

fn append_and_load<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    let first = register(&*store, &alice, 1, Scope::Exchange);
    let second = register(&*store, &alice, 2, Scope::Pay);
    let loaded = block_on(store.load(&alice)).unwrap();
    assert_eq!(loaded.version, (first.len() + second.len()) as u64);
    let expected = apply(apply(AccountState::default(), &first), &second);
    assert_eq!(loaded.value, expected);
    // Appending nothing at the current version is a no-op.
    assert_eq!(
        block_on(store.append(&alice, loaded.version, &[])).unwrap(),
        loaded.version
    );
}

fn stale_append_conflicts<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    let events = register(&*store, &alice, 1, Scope::Exchange);
    let before = block_on(store.load(&alice)).unwrap();
    let err = block_on(store.append(&alice, 0, &events)).unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            expected: 0,
            actual: before.version
        }
    );
    assert_eq!(err.code(), "store_conflict");
    let err = block_on(store.append(&alice, before.version + 1, &events)).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    assert_eq!(block_on(store.load(&alice)).unwrap(), before);
}

fn append_is_atomic<S: Store>(store: Arc<S>) {
    let (alice, bob) = (account("alice"), account("bob"));
    register(&*store, &alice, 1, Scope::Exchange);
    // Bob's append holds a fine registration followed by Alice's credential id.
    let mut events = decided(
        &AccountState::default(),
        &Command::Register {
            credential: new_credential(2, Scope::Exchange),
            step_up: factors(),
        },
        &RequestContext::default(),
    );
    let mut stolen = events[0].clone();
    if let latchkey_policy::EventKind::Registered { credential } = &mut stolen.kind {
        credential.id = credential_id(1);
    }
    events.push(stolen);
    let err = block_on(store.append(&bob, 0, &events)).unwrap_err();
    assert_eq!(err, StoreError::DuplicateCredential);
    let loaded = block_on(store.load(&bob)).unwrap();
    assert_eq!((loaded.version, loaded.value), (0, AccountState::default()));
    assert_eq!(block_on(store.account_of(&credential_id(2))).unwrap(), None);
}

fn duplicate_credential_across_accounts<S: Store>(store: Arc<S>) {
    let (alice, bob) = (account("alice"), account("bob"));
    register(&*store, &alice, 1, Scope::Exchange);
    let command = Command::Register {
        credential: new_credential(1, Scope::Exchange),
        step_up: factors(),
    };
    let err = run(&*store, &bob, &command).unwrap_err();
    assert!(
        matches!(err, Failure::Store(StoreError::DuplicateCredential)),
        "{err:?}"
    );
    assert_eq!(
        block_on(store.account_of(&credential_id(1))).unwrap(),
        Some(alice)
    );
}

fn credential_index<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    register(&*store, &alice, 2, Scope::Exchange);
    assert_eq!(
        block_on(store.account_of(&credential_id(2))).unwrap(),
        Some(alice.clone())
    );
    let delete = Command::Delete {
        credential: credential_id(2),
        step_up: factors(),
    };
    run(&*store, &alice, &delete).unwrap();
    assert_eq!(block_on(store.account_of(&credential_id(2))).unwrap(), None);
    assert_eq!(block_on(store.account_of(&credential_id(9))).unwrap(), None);
    // A freed id may be registered again, by anyone.
    register(&*store, &account("bob"), 2, Scope::Pay);
    assert_eq!(
        block_on(store.account_of(&credential_id(2))).unwrap(),
        Some(account("bob"))
    );
}

/// P14, P18-P20: the account-wide events and the state they fold to survive the store,
/// with the operator who acted; a revoked credential id stays its account's in the index,
/// so no account can register it again.
fn account_events_round_trip<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    let mut expected = register(&*store, &alice, 1, Scope::Exchange);
    expected.extend(register(&*store, &alice, 2, Scope::Exchange));
    expected.extend(register(&*store, &alice, 3, Scope::Pay));
    let operator = RequestContext {
        actor: latchkey_policy::Actor::Operator("ops-1".into()),
        request_id: Some("req-1".into()),
        ..RequestContext::default()
    };
    let identity = StepUp::Factors(vec![Factor::IdDocument, Factor::Face]);
    let commands = [
        (
            Command::SetPasskeyRequired {
                on: true,
                step_up: factors(),
            },
            RequestContext::default(),
        ),
        (
            Command::Freeze {
                reason: "user_request".into(),
            },
            RequestContext::default(),
        ),
        (
            Command::RevokeCompromised {
                credential: credential_id(2),
                reason: "phished".into(),
            },
            operator.clone(),
        ),
        (
            Command::Unfreeze {
                step_up: identity.clone(),
            },
            operator.clone(),
        ),
        (
            Command::Recover {
                new: new_credential(4, Scope::Pay),
                step_up: identity,
            },
            operator,
        ),
    ];
    for (command, context) in commands {
        let loaded = block_on(store.load(&alice)).unwrap();
        let decision = decide(
            &loaded.value,
            &command,
            T0,
            &context,
            &PolicyConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        assert!(!decision.events.is_empty(), "{command:?}");
        block_on(store.append(&alice, loaded.version, &decision.events)).unwrap();
        expected.extend(decision.events);
    }
    let history = block_on(store.history(&alice)).unwrap();
    assert_eq!(history, expected, "the new events come back as appended");
    let revoked = history
        .iter()
        .find(|e| matches!(e.kind, latchkey_policy::EventKind::Revoked { .. }))
        .unwrap();
    assert_eq!(
        revoked.context.actor,
        latchkey_policy::Actor::Operator("ops-1".into())
    );
    let loaded = block_on(store.load(&alice)).unwrap();
    assert_eq!(loaded.value, apply(AccountState::default(), &expected));
    assert!(loaded.value.passkey_required);
    assert!(!loaded.value.is_frozen());
    for n in [2, 3] {
        assert!(loaded.value.is_revoked(&credential_id(n)), "{n}");
        // Still owned: never registered again, by anyone.
        assert_eq!(
            block_on(store.account_of(&credential_id(n))).unwrap(),
            Some(alice.clone())
        );
        let again = Command::Register {
            credential: new_credential(n, Scope::Exchange),
            step_up: factors(),
        };
        assert!(run(&*store, &account("bob"), &again).is_err(), "{n}");
    }
    assert_eq!(
        block_on(store.account_of(&credential_id(4))).unwrap(),
        Some(alice)
    );
}

fn history_in_order<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    let mut expected = register(&*store, &alice, 1, Scope::Exchange);
    expected.extend(register(&*store, &alice, 2, Scope::Exchange));
    let rename = Command::Rename {
        credential: credential_id(2),
        name: "Laptop".into(),
    };
    expected.extend(run(&*store, &alice, &rename).unwrap());
    assert_eq!(block_on(store.history(&alice)).unwrap(), expected);
}

fn challenge(n: u8) -> ChallengeRecord {
    ChallengeRecord {
        challenge: vec![n; 32],
        expires_at: T0.plus_seconds(300),
        binding: vec![1, 2, n],
    }
}

fn challenges_single_use<S: Store>(store: Arc<S>) {
    block_on(store.put_challenge(challenge(1))).unwrap();
    block_on(store.put_challenge(challenge(2))).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Fresh(challenge(1))
    );
    let used = Taken::Used {
        expires_at: challenge(1).expires_at,
    };
    assert_eq!(block_on(store.take_challenge(&[1; 32])).unwrap(), used);
    assert_eq!(block_on(store.take_challenge(&[1; 32])).unwrap(), used);
    assert_eq!(
        block_on(store.take_challenge(&[3; 32])).unwrap(),
        Taken::Unknown
    );
    assert_eq!(
        block_on(store.take_challenge(&[2; 32])).unwrap(),
        Taken::Fresh(challenge(2))
    );
    // The store does not judge deadlines: a challenge long expired is still Fresh once.
    let expired = ChallengeRecord {
        expires_at: Timestamp(0),
        ..challenge(4)
    };
    block_on(store.put_challenge(expired.clone())).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[4; 32])).unwrap(),
        Taken::Fresh(expired)
    );
    assert_eq!(
        block_on(store.take_challenge(&[4; 32])).unwrap(),
        Taken::Used {
            expires_at: Timestamp(0)
        }
    );
}

fn put_again_changes_nothing<S: Store>(store: Arc<S>) {
    let other = |n: u8| ChallengeRecord {
        expires_at: T0.plus_seconds(9_000),
        binding: vec![9, 9],
        ..challenge(n)
    };
    // Put twice before use: the first record is the one taken.
    block_on(store.put_challenge(challenge(1))).unwrap();
    block_on(store.put_challenge(other(1))).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Fresh(challenge(1))
    );
    // Put again after use: still used, with the first deadline.
    block_on(store.put_challenge(challenge(1))).unwrap();
    block_on(store.put_challenge(other(1))).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Used {
            expires_at: challenge(1).expires_at
        }
    );
    // ...and it is purged at the first deadline, not the second.
    assert_eq!(
        block_on(store.purge_challenges(T0.plus_seconds(301))).unwrap(),
        1
    );
    assert_eq!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Unknown
    );
}

fn purge_challenges<S: Store>(store: Arc<S>) {
    let early = |n: u8| ChallengeRecord {
        expires_at: T0,
        ..challenge(n)
    };
    let late = |n: u8| ChallengeRecord {
        expires_at: T0.plus_seconds(600),
        ..challenge(n)
    };
    // 1 and 3 stay unused, 2 and 4 are used: purging ignores that.
    for record in [early(1), early(2), late(3), late(4)] {
        block_on(store.put_challenge(record)).unwrap();
    }
    for n in [2, 4] {
        assert!(matches!(
            block_on(store.take_challenge(&[n; 32])).unwrap(),
            Taken::Fresh(_)
        ));
    }
    // A deadline is the last moment a challenge is valid: it is kept through it.
    assert_eq!(block_on(store.purge_challenges(T0)).unwrap(), 0);
    assert_eq!(
        block_on(store.purge_challenges(T0.plus_seconds(1))).unwrap(),
        2
    );
    assert_eq!(
        block_on(store.purge_challenges(T0.plus_seconds(1))).unwrap(),
        0
    );
    for n in [1, 2] {
        assert_eq!(
            block_on(store.take_challenge(&[n; 32])).unwrap(),
            Taken::Unknown,
            "challenge {n} was not purged"
        );
    }
    assert_eq!(
        block_on(store.take_challenge(&[3; 32])).unwrap(),
        Taken::Fresh(late(3))
    );
    assert_eq!(
        block_on(store.take_challenge(&[4; 32])).unwrap(),
        Taken::Used {
            expires_at: late(4).expires_at
        }
    );
}

fn concurrent_takes<S: Store + 'static>(store: Arc<S>) {
    const TAKERS: usize = 8;
    const ROUNDS: u8 = 20;
    for round in 0..ROUNDS {
        block_on(store.put_challenge(challenge(round))).unwrap();
        // All takers are released at once, so that they really race.
        let start = Arc::new(Barrier::new(TAKERS));
        let takers: Vec<_> = (0..TAKERS)
            .map(|_| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    block_on(store.take_challenge(&[round; 32])).unwrap()
                })
            })
            .collect();
        let results: Vec<Taken> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        let fresh = results
            .iter()
            .filter(|t| matches!(t, Taken::Fresh(_)))
            .count();
        assert_eq!(
            fresh, 1,
            "round {round}: {fresh} of {TAKERS} racing takes got the challenge fresh"
        );
        for taken in &results {
            match taken {
                Taken::Fresh(record) => assert_eq!(record, &challenge(round)),
                Taken::Used { expires_at } => {
                    assert_eq!(*expires_at, challenge(round).expires_at);
                }
                Taken::Unknown => panic!("round {round}: a racing take found no challenge"),
            }
        }
        // Putting it again does not make it fresh.
        block_on(store.put_challenge(challenge(round))).unwrap();
        assert!(matches!(
            block_on(store.take_challenge(&[round; 32])).unwrap(),
            Taken::Used { .. }
        ));
    }
    assert_eq!(
        block_on(store.purge_challenges(T0.plus_seconds(301))).unwrap(),
        usize::from(ROUNDS)
    );
    for round in 0..ROUNDS {
        assert_eq!(
            block_on(store.take_challenge(&[round; 32])).unwrap(),
            Taken::Unknown
        );
    }
}

fn concurrent_changes<S: Store + 'static>(store: Arc<S>) {
    concurrent_changes_with(store, Append::Plain);
}

fn concurrent_changes_loaded<S: Store + 'static>(store: Arc<S>) {
    concurrent_changes_with(store, Append::Loaded);
}

fn concurrent_changes_with<S: Store + 'static>(store: Arc<S>, how: Append) {
    let alice = account("alice");
    for n in 1..=6 {
        register(&*store, &alice, n, Scope::Exchange);
    }
    register(&*store, &alice, 50, Scope::Pay);
    let workers: Vec<_> = (0..8u8)
        .map(|worker| {
            let store = Arc::clone(&store);
            let alice = alice.clone();
            thread::spawn(move || {
                let mut appended = 0usize;
                for step in 0..12u8 {
                    // Half the workers delete, half replace; all fight over the same passkeys.
                    let target = credential_id(1 + (worker + step) % 6);
                    let command = if worker % 2 == 0 {
                        Command::Delete {
                            credential: target,
                            step_up: factors(),
                        }
                    } else {
                        let fresh = 100 + worker * 12 + step;
                        Command::Replace {
                            old: target,
                            new: new_credential(fresh, Scope::Exchange),
                            step_up: factors(),
                            dex_terms_accepted: false,
                        }
                    };
                    // Optimistic concurrency: reload and decide again on conflict.
                    for _attempt in 0..50 {
                        match run_with(&*store, &alice, &command, how) {
                            Ok(events) => {
                                appended += events.len();
                                break;
                            }
                            Err(Failure::Store(StoreError::Conflict { .. })) => continue,
                            // Another worker got there first: the passkey is gone, or it
                            // is the last one.
                            Err(Failure::Policy(refusal)) => {
                                let code = refusal.code();
                                assert!(
                                    matches!(code, "last_passkey" | "unknown_credential"),
                                    "{code}"
                                );
                                break;
                            }
                            Err(Failure::Store(other)) => panic!("store failed: {other}"),
                        }
                    }
                }
                appended
            })
        })
        .collect();
    let appended: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let loaded = block_on(store.load(&alice)).unwrap();
    let history = block_on(store.history(&alice)).unwrap();
    assert_eq!(
        history.len(),
        7 + appended,
        "an event was lost or duplicated"
    );
    assert_eq!(loaded.version, history.len() as u64);
    assert_eq!(loaded.value, apply(AccountState::default(), &history));
    assert!(
        loaded.value.count(Realm::Exchange) >= 1,
        "the last Exchange passkey was deleted"
    );
    assert_eq!(
        loaded.value.count(Realm::Pay),
        1,
        "Pay was touched by Exchange changes"
    );
}

fn put_challenge_and_load<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    // An unknown account: the empty state, and the challenge is kept all the same.
    let loaded = block_on(store.put_challenge_and_load(challenge(1), &alice)).unwrap();
    assert_eq!((loaded.version, loaded.value), (0, AccountState::default()));
    let events = register(&*store, &alice, 1, Scope::Exchange);
    let loaded = block_on(store.put_challenge_and_load(challenge(2), &alice)).unwrap();
    assert_eq!(loaded, block_on(store.load(&alice)).unwrap());
    assert_eq!(loaded.version, events.len() as u64);
    for n in [1, 2] {
        assert_eq!(
            block_on(store.take_challenge(&[n; 32])).unwrap(),
            Taken::Fresh(challenge(n))
        );
    }
    // Putting a used challenge again changes nothing.
    let other = ChallengeRecord {
        expires_at: T0.plus_seconds(9_000),
        binding: vec![9],
        ..challenge(1)
    };
    block_on(store.put_challenge_and_load(other, &alice)).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Used {
            expires_at: challenge(1).expires_at
        }
    );
}

fn take_challenge_and_owner<S: Store>(store: Arc<S>) {
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    for n in 1..=3 {
        block_on(store.put_challenge(challenge(n))).unwrap();
    }
    let (taken, owner) =
        block_on(store.take_challenge_and_owner(&[1; 32], &credential_id(1))).unwrap();
    assert_eq!(taken, Taken::Fresh(challenge(1)));
    let owner = owner.expect("the owner of a registered credential");
    assert_eq!(owner.account, alice);
    assert_eq!(owner.state, block_on(store.load(&alice)).unwrap());
    // Used: no owner read, and still used.
    let used = Taken::Used {
        expires_at: challenge(1).expires_at,
    };
    assert_eq!(
        block_on(store.take_challenge_and_owner(&[1; 32], &credential_id(1))).unwrap(),
        (used.clone(), None)
    );
    assert_eq!(block_on(store.take_challenge(&[1; 32])).unwrap(), used);
    // A credential no account owns: fresh, no owner; the challenge is consumed anyway.
    assert_eq!(
        block_on(store.take_challenge_and_owner(&[2; 32], &credential_id(9))).unwrap(),
        (Taken::Fresh(challenge(2)), None)
    );
    assert!(matches!(
        block_on(store.take_challenge(&[2; 32])).unwrap(),
        Taken::Used { .. }
    ));
    // A challenge never put: unknown, no owner.
    assert_eq!(
        block_on(store.take_challenge_and_owner(&[7; 32], &credential_id(1))).unwrap(),
        (Taken::Unknown, None)
    );
    // A plain take marks it used for the combined one too.
    assert!(matches!(
        block_on(store.take_challenge(&[3; 32])).unwrap(),
        Taken::Fresh(_)
    ));
    assert!(matches!(
        block_on(store.take_challenge_and_owner(&[3; 32], &credential_id(1))).unwrap(),
        (Taken::Used { .. }, None)
    ));
    // Purged: unknown.
    block_on(store.purge_challenges(T0.plus_seconds(301))).unwrap();
    assert_eq!(
        block_on(store.take_challenge_and_owner(&[1; 32], &credential_id(1))).unwrap(),
        (Taken::Unknown, None)
    );
}

fn concurrent_takes_with_owner<S: Store + 'static>(store: Arc<S>) {
    const TAKERS: usize = 8;
    const ROUNDS: u8 = 20;
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    let state = block_on(store.load(&alice)).unwrap();
    for round in 0..ROUNDS {
        block_on(store.put_challenge(challenge(round))).unwrap();
        let start = Arc::new(Barrier::new(TAKERS));
        let takers: Vec<_> = (0..TAKERS)
            .map(|i| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    // Half the racers take with the owner, half plainly.
                    if i % 2 == 0 {
                        block_on(store.take_challenge_and_owner(&[round; 32], &credential_id(1)))
                            .unwrap()
                    } else {
                        (block_on(store.take_challenge(&[round; 32])).unwrap(), None)
                    }
                })
            })
            .collect();
        let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        let fresh = results
            .iter()
            .filter(|(t, _)| matches!(t, Taken::Fresh(_)))
            .count();
        assert_eq!(fresh, 1, "round {round}: {fresh} of {TAKERS} got it fresh");
        for (taken, owner) in &results {
            match taken {
                Taken::Fresh(record) => {
                    assert_eq!(record, &challenge(round));
                    if let Some(owner) = owner {
                        assert_eq!((&owner.account, &owner.state), (&alice, &state));
                    }
                }
                Taken::Used { expires_at } => {
                    assert_eq!(*expires_at, challenge(round).expires_at);
                    assert_eq!(owner, &None, "round {round}: an owner for a used take");
                }
                Taken::Unknown => panic!("round {round}: a racing take found no challenge"),
            }
        }
    }
}

/// For a backend's migration test: registers passkeys 5 and 6 on `account` (keys `[5]`
/// and `[6]`: bytes, not COSE, which the store does not parse) and revokes 5 as
/// compromised, with an operator. Returns the revoked key.
pub fn register_and_revoke_a_key<S: Store>(store: &S, account: &AccountId) -> Vec<u8> {
    register(store, account, 5, Scope::Exchange);
    register(store, account, 6, Scope::Exchange);
    let operator = RequestContext {
        actor: latchkey_policy::Actor::Operator("ops-1".into()),
        ..RequestContext::default()
    };
    let loaded = block_on(store.load(account)).unwrap();
    let revoke = decided(
        &loaded.value,
        &Command::RevokeCompromised {
            credential: credential_id(5),
            reason: "phished".into(),
        },
        &operator,
    );
    block_on(store.append(account, loaded.version, &revoke)).unwrap();
    vec![5]
}

/// The events that register a new passkey (id 8) carrying `public_key` on `account`, and
/// the state they were decided on; the policy's own check of revoked keys is bypassed
/// by setting the key after the decision, so that the store's index is what refuses.
pub fn registration_with_key<S: Store>(
    store: &S,
    account: &AccountId,
    public_key: &[u8],
) -> (crate::model::Versioned<AccountState>, Vec<Event>) {
    let loaded = block_on(store.load(account)).unwrap();
    let mut events = decided(
        &loaded.value,
        &Command::Register {
            credential: new_credential(8, Scope::Pay),
            step_up: factors(),
        },
        &RequestContext::default(),
    );
    for event in &mut events {
        if let latchkey_policy::EventKind::Registered { credential } = &mut event.kind {
            credential.public_key = public_key.to_vec();
        }
    }
    (loaded, events)
}

/// P20: once revoked, a public key comes back in no `Registered` event, whatever its
/// credential id, whichever account, by either append method, and the refused append
/// changes nothing. The events are built by hand where the policy would refuse first.
fn revoked_keys_store_wide<S: Store>(store: Arc<S>) {
    let (alice, bob, carol) = (account("alice"), account("bob"), account("carol"));
    register(&*store, &bob, 7, Scope::Exchange);
    let revoked = register_and_revoke_a_key(&*store, &alice);
    for who in [&bob, &carol, &alice] {
        let (loaded, events) = registration_with_key(&*store, who, &revoked);
        let plain = block_on(store.append(who, loaded.version, &events));
        assert_eq!(plain, Err(StoreError::DuplicateCredential), "{who}, append");
        let on_loaded = block_on(store.append_loaded(who, &loaded, &events));
        assert_eq!(
            on_loaded,
            Err(StoreError::DuplicateCredential),
            "{who}, append_loaded"
        );
        assert_eq!(block_on(store.load(who)).unwrap(), loaded, "{who}");
    }
    assert_eq!(block_on(store.account_of(&credential_id(8))).unwrap(), None);
    // A key that was not revoked is not refused by the index.
    let (loaded, events) = registration_with_key(&*store, &carol, &[9]);
    block_on(store.append_loaded(&carol, &loaded, &events)).unwrap();
    // One append that revokes passkey 6 and registers its key under id 8: refused whole.
    let loaded = block_on(store.load(&alice)).unwrap();
    let operator = RequestContext {
        actor: latchkey_policy::Actor::Operator("ops-1".into()),
        ..RequestContext::default()
    };
    let mut events = decided(
        &loaded.value,
        &Command::RevokeCompromised {
            credential: credential_id(6),
            reason: "phished".into(),
        },
        &operator,
    );
    events.extend(registration_with_key(&*store, &alice, &[6]).1);
    assert_eq!(
        block_on(store.append_loaded(&alice, &loaded, &events)),
        Err(StoreError::DuplicateCredential),
        "revoked and registered in one append"
    );
    assert_eq!(block_on(store.load(&alice)).unwrap(), loaded);
}

/// A rename of passkey `n` decided on `loaded`: one event, nothing else changed.
fn rename(loaded: &crate::model::Versioned<AccountState>, n: u8, name: &str) -> Vec<Event> {
    decided(
        &loaded.value,
        &Command::Rename {
            credential: credential_id(n),
            name: name.into(),
        },
        &RequestContext::default(),
    )
}

fn peek_then_take_and_append<S: Store>(store: Arc<S>) {
    use crate::model::TakeAndAppend;
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    let loaded = block_on(store.load(&alice)).unwrap();
    block_on(store.put_challenge(challenge(1))).unwrap();
    // A peek, where the backend has one, reads without consuming, as often as asked.
    for _ in 0..2 {
        if let Some((taken, owner)) =
            block_on(store.peek_challenge_and_owner(&[1; 32], &credential_id(1))).unwrap()
        {
            assert_eq!(taken, Taken::Fresh(challenge(1)));
            let owner = owner.expect("the credential's owner");
            assert_eq!(
                (owner.account, owner.state),
                (alice.clone(), loaded.clone())
            );
        }
    }
    if let Some((taken, owner)) =
        block_on(store.peek_challenge_and_owner(&[9; 32], &credential_id(1))).unwrap()
    {
        assert_eq!((taken, owner), (Taken::Unknown, None));
    }
    // The take and the append, at once.
    let events = rename(&loaded, 1, "Laptop");
    assert_eq!(
        block_on(store.take_challenge_and_append(&[1; 32], &alice, &loaded, &events)).unwrap(),
        TakeAndAppend::Appended(loaded.version + 1)
    );
    let after = block_on(store.load(&alice)).unwrap();
    assert_eq!(after.version, loaded.version + 1);
    assert!(matches!(
        block_on(store.take_challenge(&[1; 32])).unwrap(),
        Taken::Used { .. }
    ));
    if let Some((taken, owner)) =
        block_on(store.peek_challenge_and_owner(&[1; 32], &credential_id(1))).unwrap()
    {
        assert!(matches!(taken, Taken::Used { .. }) && owner.is_none());
    }
    // A used or unknown challenge changes nothing.
    let again = rename(&after, 1, "Phone");
    for unfresh in [[1u8; 32], [9; 32]] {
        let result =
            block_on(store.take_challenge_and_append(&unfresh, &alice, &after, &again)).unwrap();
        assert!(matches!(result, TakeAndAppend::NotFresh(_)), "{result:?}");
    }
    assert_eq!(block_on(store.load(&alice)).unwrap(), after);
    // A stale state: the challenge is consumed, nothing appended.
    block_on(store.put_challenge(challenge(2))).unwrap();
    assert_eq!(
        block_on(store.take_challenge_and_append(&[2; 32], &alice, &loaded, &events)).unwrap(),
        TakeAndAppend::Conflict {
            expected: loaded.version,
            actual: after.version
        }
    );
    assert_eq!(block_on(store.load(&alice)).unwrap(), after);
    assert!(matches!(
        block_on(store.take_challenge(&[2; 32])).unwrap(),
        Taken::Used { .. }
    ));
    // A refused append (Bob registering Alice's credential id) appends nothing.
    let bob = account("bob");
    block_on(store.put_challenge(challenge(3))).unwrap();
    let bob_loaded = block_on(store.load(&bob)).unwrap();
    let stolen = decided(
        &bob_loaded.value,
        &Command::Register {
            credential: new_credential(1, Scope::Exchange),
            step_up: factors(),
        },
        &RequestContext::default(),
    );
    assert_eq!(
        block_on(store.take_challenge_and_append(&[3; 32], &bob, &bob_loaded, &stolen)),
        Err(StoreError::DuplicateCredential)
    );
    assert_eq!(block_on(store.load(&bob)).unwrap(), bob_loaded);
}

fn concurrent_take_and_append<S: Store + 'static>(store: Arc<S>) {
    use crate::model::TakeAndAppend;
    const RACERS: usize = 8;
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    for round in 0..10u8 {
        block_on(store.put_challenge(challenge(round))).unwrap();
        let loaded = block_on(store.load(&alice)).unwrap();
        let start = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, alice, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    alice.clone(),
                    loaded.clone(),
                );
                thread::spawn(move || {
                    let events = rename(&loaded, 1, &format!("Racer {n}"));
                    start.wait();
                    block_on(store.take_challenge_and_append(
                        &[round; 32],
                        &alice,
                        &loaded,
                        &events,
                    ))
                    .unwrap()
                })
            })
            .collect();
        let results: Vec<TakeAndAppend> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let appended = results
            .iter()
            .filter(|r| matches!(r, TakeAndAppend::Appended(_)))
            .count();
        assert_eq!(appended, 1, "round {round}: {results:?}");
        assert!(
            results.iter().all(|r| matches!(
                r,
                TakeAndAppend::Appended(_) | TakeAndAppend::NotFresh(Taken::Used { .. })
            )),
            "round {round}: {results:?}"
        );
        assert_eq!(
            block_on(store.load(&alice)).unwrap().version,
            loaded.version + 1
        );
    }
}

/// Racers each take a challenge of their own and append on the same state: one appends,
/// every other takes its challenge and gets a conflict (the version moved under it).
fn concurrent_appends_each_with_its_challenge<S: Store + 'static>(store: Arc<S>) {
    use crate::model::TakeAndAppend;
    const RACERS: u8 = 8;
    let alice = account("alice");
    register(&*store, &alice, 1, Scope::Exchange);
    for round in 0..5u8 {
        let loaded = block_on(store.load(&alice)).unwrap();
        let mine = move |n: u8| [round * RACERS + n + 1; 32];
        for n in 0..RACERS {
            block_on(store.put_challenge(ChallengeRecord {
                challenge: mine(n).to_vec(),
                ..challenge(n)
            }))
            .unwrap();
        }
        let start = Arc::new(Barrier::new(usize::from(RACERS)));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, alice, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    alice.clone(),
                    loaded.clone(),
                );
                thread::spawn(move || {
                    let events = rename(&loaded, 1, &format!("Racer {n}"));
                    start.wait();
                    block_on(store.take_challenge_and_append(&mine(n), &alice, &loaded, &events))
                        .unwrap()
                })
            })
            .collect();
        let results: Vec<TakeAndAppend> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let appended = results
            .iter()
            .filter(|r| matches!(r, TakeAndAppend::Appended(_)))
            .count();
        assert_eq!(appended, 1, "round {round}: {results:?}");
        assert!(
            results.iter().all(|r| matches!(
                r,
                TakeAndAppend::Appended(_) | TakeAndAppend::Conflict { .. }
            )),
            "round {round}: {results:?}"
        );
        let after = block_on(store.load(&alice)).unwrap();
        assert_eq!(after.version, loaded.version + 1, "round {round}");
        assert_eq!(
            block_on(store.history(&alice)).unwrap().len(),
            usize::try_from(after.version).unwrap(),
            "round {round}: one event per version"
        );
        for n in 0..RACERS {
            assert!(
                matches!(
                    block_on(store.take_challenge(&mine(n))).unwrap(),
                    Taken::Used { .. }
                ),
                "round {round}: racer {n}'s challenge is spent, appended or not"
            );
        }
    }
}

/// A take with an append that registers: the credential index follows, and a refused
/// registration (an id another account owns) leaves the account and the index as they
/// were.
fn take_and_append_with_credential_changes<S: Store>(store: Arc<S>) {
    use crate::model::TakeAndAppend;
    let (alice, bob) = (account("alice"), account("bob"));
    register(&*store, &alice, 1, Scope::Exchange);
    register(&*store, &bob, 2, Scope::Exchange);
    let loaded = block_on(store.load(&alice)).unwrap();
    let register_as = |loaded: &crate::model::Versioned<AccountState>, n: u8| {
        decided(
            &loaded.value,
            &Command::Register {
                credential: new_credential(n, Scope::Exchange),
                step_up: factors(),
            },
            &RequestContext::default(),
        )
    };
    block_on(store.put_challenge(challenge(1))).unwrap();
    assert_eq!(
        block_on(store.take_challenge_and_append(
            &[1; 32],
            &alice,
            &loaded,
            &register_as(&loaded, 3)
        ))
        .unwrap(),
        TakeAndAppend::Appended(loaded.version + 1)
    );
    assert_eq!(
        block_on(store.account_of(&credential_id(3))).unwrap(),
        Some(alice.clone())
    );
    let after = block_on(store.load(&alice)).unwrap();
    block_on(store.put_challenge(challenge(2))).unwrap();
    assert_eq!(
        block_on(store.take_challenge_and_append(
            &[2; 32],
            &alice,
            &after,
            &register_as(&after, 2)
        )),
        Err(StoreError::DuplicateCredential)
    );
    assert_eq!(block_on(store.load(&alice)).unwrap(), after);
    assert_eq!(
        block_on(store.account_of(&credential_id(2))).unwrap(),
        Some(bob)
    );
    // Whether the challenge was consumed is the backend's (the trait allows both): the
    // caller spends it with `take_challenge` after an error.
}

fn append_loaded<S: Store>(store: Arc<S>) {
    let (alice, bob) = (account("alice"), account("bob"));
    // A new account, then a second change, each on the state just loaded.
    let first = run_with(
        &*store,
        &alice,
        &Command::Register {
            credential: new_credential(1, Scope::Exchange),
            step_up: factors(),
        },
        Append::Loaded,
    )
    .unwrap();
    let second = run_with(
        &*store,
        &alice,
        &Command::Register {
            credential: new_credential(2, Scope::Pay),
            step_up: factors(),
        },
        Append::Loaded,
    )
    .unwrap();
    let loaded = block_on(store.load(&alice)).unwrap();
    assert_eq!(loaded.version, (first.len() + second.len()) as u64);
    let mut all = first.clone();
    all.extend(second.iter().cloned());
    assert_eq!(loaded.value, apply(AccountState::default(), &all));
    assert_eq!(block_on(store.history(&alice)).unwrap(), all);
    assert_eq!(
        block_on(store.account_of(&credential_id(2))).unwrap(),
        Some(alice.clone())
    );
    // A stale load conflicts and changes nothing.
    let stale = crate::model::Versioned {
        version: first.len() as u64,
        value: apply(AccountState::default(), &first),
    };
    let rename = decided(
        &loaded.value,
        &Command::Rename {
            credential: credential_id(1),
            name: "Laptop".into(),
        },
        &RequestContext::default(),
    );
    let err = block_on(store.append_loaded(&alice, &stale, &rename)).unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            expected: stale.version,
            actual: loaded.version
        }
    );
    assert_eq!(block_on(store.load(&alice)).unwrap(), loaded);
    // A new account loaded at 0 while another append created it: conflict.
    register(&*store, &bob, 3, Scope::Exchange);
    let empty = crate::model::Versioned {
        version: 0,
        value: AccountState::default(),
    };
    let err = block_on(store.append_loaded(&bob, &empty, &first)).unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: 0, .. }),
        "{err:?}"
    );
    // Bob registering Alice's credential: refused, all or nothing.
    let bob_loaded = block_on(store.load(&bob)).unwrap();
    let mut events = decided(
        &bob_loaded.value,
        &Command::Register {
            credential: new_credential(4, Scope::Exchange),
            step_up: factors(),
        },
        &RequestContext::default(),
    );
    let mut stolen = events[0].clone();
    if let latchkey_policy::EventKind::Registered { credential } = &mut stolen.kind {
        credential.id = credential_id(1);
    }
    events.push(stolen);
    let err = block_on(store.append_loaded(&bob, &bob_loaded, &events)).unwrap_err();
    assert_eq!(err, StoreError::DuplicateCredential);
    assert_eq!(block_on(store.load(&bob)).unwrap(), bob_loaded);
    assert_eq!(block_on(store.account_of(&credential_id(4))).unwrap(), None);
    assert_eq!(
        block_on(store.account_of(&credential_id(1))).unwrap(),
        Some(alice.clone())
    );
    // Appending nothing at the current version is a no-op.
    assert_eq!(
        block_on(store.append_loaded(&alice, &loaded, &[])).unwrap(),
        loaded.version
    );
    assert_eq!(block_on(store.load(&alice)).unwrap(), loaded);
}
