//! A writer process killed in the middle of appends leaves every account consistent: its
//! version is its number of events, its state the fold of them, its credential index in
//! step. The test runs itself as the writer (`writer_process`, ignored unless asked for).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_store::crash;
use latchkey_store_sqlite::SqliteStore;

const DB_ENV: &str = "LATCHKEY_CRASH_TEST_DB";

/// The child: runs the crash workload until killed.
#[test]
#[ignore = "run by `a_killed_writer_leaves_every_account_consistent` as a child process"]
fn writer_process() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let store = SqliteStore::open_with(&path, 2).unwrap();
    println!("ready");
    for round in 0u32.. {
        crash::write_step(&store, std::process::id(), round).unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_every_account_consistent() {
    let dir = std::env::temp_dir().join(format!("latchkey-sqlite-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("crash.sqlite");
    crash::kill_writer_repeatedly("writer_process", (DB_ENV, path.as_os_str()));

    let store = SqliteStore::open(&path).unwrap();
    assert!(
        crash::assert_consistent(&store) > 0,
        "the writer wrote nothing"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
