//! Inside a tokio runtime, a SQLite call that waits (here on another connection's write
//! lock) leaves the async worker free: other tasks on the same single-threaded runtime
//! go on meanwhile.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_policy::Timestamp;
use latchkey_store::{ChallengeRecord, Store};
use latchkey_store_sqlite::SqliteStore;

#[test]
fn a_write_waiting_for_the_lock_does_not_block_the_async_worker() {
    let dir = std::env::temp_dir().join(format!("latchkey-sqlite-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("passkeys.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    // Another writer holds the lock for a while, then lets go.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        other.execute_batch("COMMIT").unwrap();
    });
    let order = Arc::new(Mutex::new(Vec::new()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let write = async {
            let record = ChallengeRecord {
                challenge: vec![7; 32],
                expires_at: Timestamp(1),
                binding: Vec::new(),
            };
            store.put_challenge(record).await.unwrap();
            order.lock().unwrap().push("write");
        };
        let tick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            order.lock().unwrap().push("tick");
        };
        tokio::join!(write, tick);
    });
    holder.join().unwrap();
    // Blocking the worker would have held the tick back until the write was done.
    assert_eq!(*order.lock().unwrap(), ["tick", "write"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
