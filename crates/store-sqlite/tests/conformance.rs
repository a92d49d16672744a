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
    use latchkey_store::{AccountId, ChallengeRecord, Store, conformance::block_on};
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
        Some(record)
    );
    assert_eq!(
        block_on(store.load(&AccountId::new("x"))).unwrap().version,
        0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
