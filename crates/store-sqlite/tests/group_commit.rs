//! Concurrent writes share transactions (group commit), and a write that fails in a group
//! fails alone: the others of its group commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};

use latchkey_policy::{AccountState, Event, EventKind, RequestContext, Timestamp};
use latchkey_store::conformance::block_on;
use latchkey_store::{AccountId, Store, StoreError};
use latchkey_store_sqlite::SqliteStore;

/// A harmless event for account `n`: a rename of a passkey it does not hold folds to
/// nothing, so any number of them can be appended.
fn event(n: usize) -> Event {
    Event {
        at: Timestamp(1),
        scope: latchkey_policy::Scope::Exchange,
        context: RequestContext::default(),
        kind: EventKind::Renamed {
            credential: latchkey_policy::CredentialId::new(vec![1; 16]),
            name: format!("key {n}"),
        },
    }
}

#[test]
fn concurrent_appends_share_commits_and_a_conflict_fails_alone() {
    let dir = std::env::temp_dir().join(format!("latchkey-sqlite-group-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Arc::new(SqliteStore::open(dir.join("group.sqlite")).unwrap());
    const WRITERS: usize = 16;
    let mut grouped = false;
    for round in 0..20u64 {
        let before = store.stats();
        let start = Arc::new(Barrier::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    // Writers 0 and 1 race on one shared account at the same version: one
                    // of them conflicts. The others each append to their own account.
                    let (account, expected) = if w < 2 {
                        (AccountId::new("shared"), round)
                    } else {
                        (AccountId::new(format!("own-{w}")), round)
                    };
                    (w, block_on(store.append(&account, expected, &[event(w)])))
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        let mut shared_ok = 0;
        for (w, result) in results {
            match (w < 2, result) {
                (true, Ok(version)) => {
                    assert_eq!(version, round + 1);
                    shared_ok += 1;
                }
                (true, Err(StoreError::Conflict { expected, actual })) => {
                    assert_eq!((expected, actual), (round, round + 1));
                }
                (false, Ok(version)) => assert_eq!(version, round + 1, "writer {w}"),
                (_, other) => panic!("writer {w}: {other:?}"),
            }
        }
        assert_eq!(
            shared_ok, 1,
            "round {round}: exactly one shared append wins"
        );
        for w in 2..WRITERS {
            let loaded = block_on(store.load(&AccountId::new(format!("own-{w}")))).unwrap();
            assert_eq!(loaded.version, round + 1, "an acknowledged append was lost");
        }
        let shared = block_on(store.history(&AccountId::new("shared"))).unwrap();
        assert_eq!(shared.len() as u64, round + 1);
        assert_eq!(
            block_on(store.load(&AccountId::new("shared")))
                .unwrap()
                .value,
            latchkey_policy::apply(AccountState::default(), &shared)
        );
        let done = store.stats().since(before);
        assert_eq!(done.writes, WRITERS as u64);
        if done.transactions < done.writes {
            grouped = true;
        }
    }
    assert!(
        grouped,
        "16 racing writers never shared a transaction in 20 rounds"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
