//! `SqliteStore` passes the conformance suite, on files with several connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey_store_sqlite::SqliteStore;

static NEXT: AtomicUsize = AtomicUsize::new(0);

#[test]
fn sqlite_store_conforms() {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-sqlite-conformance-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    latchkey_store::conformance::check_all(|| {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        SqliteStore::open_with(dir.join(format!("store-{n}.sqlite")), 4).unwrap()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reopening_keeps_everything_and_migrations_are_idempotent() {
    use latchkey_store::{AccountId, ChallengeRecord, Store, Taken, conformance::block_on};
    let dir = std::env::temp_dir().join(format!("latchkey-sqlite-reopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reopen.sqlite");
    let record = ChallengeRecord {
        challenge: vec![7; 32],
        expires_at: latchkey_policy::Timestamp(10),
        binding: vec![1],
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        block_on(store.put_challenge(record.clone())).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[7; 32])).unwrap(),
        Taken::Fresh(record.clone())
    );
    drop(store);
    // The mark survives reopening.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[7; 32])).unwrap(),
        Taken::Used {
            expires_at: record.expires_at
        }
    );
    assert_eq!(
        block_on(store.load(&AccountId::new("x"))).unwrap().version,
        0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A database of schema 1 (challenges deleted when taken, and put back by the facade with
/// the binding `latchkey:used`) keeps its challenges through migration 2: the put-back
/// ones are used, the others fresh.
#[test]
fn migration_2_marks_put_back_challenges_used() {
    use latchkey_store::{Store, Taken, conformance::block_on};
    let dir =
        std::env::temp_dir().join(format!("latchkey-sqlite-migration-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v1.sqlite");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE accounts (
                     account TEXT PRIMARY KEY,
                     version INTEGER NOT NULL,
                     state   TEXT NOT NULL
                 ) STRICT;
                 CREATE TABLE events (
                     account TEXT NOT NULL,
                     seq     INTEGER NOT NULL,
                     event   TEXT NOT NULL,
                     PRIMARY KEY (account, seq)
                 ) STRICT;
                 CREATE TABLE credentials (
                     credential BLOB PRIMARY KEY,
                     account    TEXT NOT NULL
                 ) STRICT;
                 CREATE TABLE challenges (
                     challenge  BLOB PRIMARY KEY,
                     expires_at INTEGER NOT NULL,
                     binding    BLOB NOT NULL
                 ) STRICT;
                 INSERT INTO challenges VALUES (zeroblob(32), 10, CAST('latchkey:used' AS BLOB));
                 INSERT INTO challenges VALUES (X'01', 20, X'7b7d');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        block_on(store.take_challenge(&[0; 32])).unwrap(),
        Taken::Used {
            expires_at: latchkey_policy::Timestamp(10)
        }
    );
    assert_eq!(
        block_on(store.take_challenge(&[1])).unwrap(),
        Taken::Fresh(latchkey_store::ChallengeRecord {
            challenge: vec![1],
            expires_at: latchkey_policy::Timestamp(20),
            binding: b"{}".to_vec(),
        })
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A database of schema 2 (revoked keys kept only in each account's state) gets the
/// store-wide index of migration 3 filled from those states: the key revoked before the
/// upgrade is refused on another account after it (P20).
#[test]
fn migration_3_indexes_the_keys_revoked_before_it() {
    use latchkey_store::conformance::{block_on, register_and_revoke_a_key, registration_with_key};
    use latchkey_store::{AccountId, Store, StoreError};
    let dir = std::env::temp_dir().join(format!(
        "latchkey-sqlite-migration-3-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("v2.sqlite");
    let revoked =
        register_and_revoke_a_key(&SqliteStore::open(&path).unwrap(), &AccountId::new("alice"));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE revoked_keys; PRAGMA user_version = 2;")
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let bob = AccountId::new("bob");
    let (loaded, events) = registration_with_key(&store, &bob, &revoked);
    assert_eq!(
        block_on(store.append(&bob, loaded.version, &events)),
        Err(StoreError::DuplicateCredential)
    );
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
