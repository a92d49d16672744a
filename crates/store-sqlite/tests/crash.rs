//! A writer process killed in the middle of appends leaves every account consistent: its
//! version is its number of events, its state the fold of them, its credential index in
//! step. The test runs itself as the writer (`writer_process`, ignored unless asked for).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latchkey_cose::Aaguid;
use latchkey_policy::{
    AccountState, Command as PolicyCommand, CredentialId, Factor, NewCredential, PolicyConfig,
    RequestContext, Scope, StepUp, Timestamp, apply, decide,
};
use latchkey_store::{AccountId, Store, conformance::block_on};
use latchkey_store_sqlite::SqliteStore;

const DB_ENV: &str = "LATCHKEY_CRASH_TEST_DB";
const ACCOUNTS: u32 = 4;

/// The child: registers, renames and deletes passkeys on a few accounts until killed.
#[test]
#[ignore = "run by `a_killed_writer_leaves_every_account_consistent` as a child process"]
fn writer_process() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let store = SqliteStore::open_with(&path, 2).unwrap();
    let config = PolicyConfig::default();
    let step_up = StepUp::Factors(vec![Factor::Email]);
    println!("ready");
    for round in 0u32.. {
        let account = AccountId::new(format!("account-{}", round % ACCOUNTS));
        let loaded = block_on(store.load(&account)).unwrap();
        let id = CredentialId::new(round.to_be_bytes().repeat(4));
        let command = match (round / ACCOUNTS) % 3 {
            0 | 1 => PolicyCommand::Register {
                credential: NewCredential {
                    id,
                    scope: Scope::Exchange,
                    public_key: vec![1; 77],
                    aaguid: Aaguid::ZERO,
                    sign_count: 0,
                    backup_eligible: true,
                    backed_up: false,
                    transports: vec![],
                    name: None,
                },
                step_up: step_up.clone(),
            },
            _ => match loaded.value.credentials.first() {
                Some(first) => PolicyCommand::Delete {
                    credential: first.id.clone(),
                    step_up: step_up.clone(),
                },
                None => continue,
            },
        };
        let at = Timestamp(1_767_225_600 + i64::from(round));
        if let Ok(decision) = decide(
            &loaded.value,
            &command,
            at,
            &RequestContext::default(),
            &config,
        ) {
            block_on(store.append(&account, loaded.version, &decision.events)).unwrap();
        }
    }
}

#[test]
fn a_killed_writer_leaves_every_account_consistent() {
    let dir = std::env::temp_dir().join(format!("latchkey-sqlite-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("crash.sqlite");
    for attempt in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "writer_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DB_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it write for a while (a different moment each time), then kill it hard.
        std::thread::sleep(Duration::from_millis(300 + 170 * attempt));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    let mut total = 0;
    let started = Instant::now();
    for n in 0..ACCOUNTS {
        let account = AccountId::new(format!("account-{n}"));
        let loaded = block_on(store.load(&account)).unwrap();
        let history = block_on(store.history(&account)).unwrap();
        assert_eq!(
            loaded.version,
            history.len() as u64,
            "{account}: version and events disagree"
        );
        assert_eq!(
            loaded.value,
            apply(AccountState::default(), &history),
            "{account}: state is not the fold"
        );
        for credential in &loaded.value.credentials {
            assert_eq!(
                block_on(store.account_of(&credential.id)).unwrap(),
                Some(account.clone())
            );
        }
        total += history.len();
    }
    assert!(
        total > 0,
        "the writer wrote nothing in {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
