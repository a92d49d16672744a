//! Faults: a writer process killed mid-append, and the server stopped with `-m immediate`
//! under load and started again, leave every account consistent (its version is its
//! number of events, its state their fold, its credential index in step); while the server
//! is down, or silent behind a partition, every operation answers `store_unavailable` in
//! time, never a panic or a verdict.
//!
//! Stopping the server needs `LATCHKEY_POSTGRES_CTL` (a pg_ctl for the test cluster, set by
//! `.ci/postgres`). The tests of this file share the server, so they run one at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The same helpers as the store's own tests: one file serves both crates.
#[path = "../../store-postgres/tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use latchkey_policy::{CredentialId, Scope, Timestamp};
use latchkey_store::{AccountId, ChallengeRecord, Store, conformance::block_on, crash};
use latchkey_store_postgres::{Options, PostgresStore};

const SCHEMA_ENV: &str = "LATCHKEY_FAULT_SCHEMA";

/// One test at a time: stopping the server must not hit another test of this file.
static SERVER: Mutex<()> = Mutex::new(());

/// The child: writes until killed.
#[test]
#[ignore = "run by `a_killed_writer_leaves_every_account_consistent` as a child process"]
fn writer_process() {
    let (Ok(url), Ok(schema)) = (std::env::var(common::URL_ENV), std::env::var(SCHEMA_ENV)) else {
        return;
    };
    let store = common::store_in(&url, &schema);
    println!("ready");
    for round in 0u32.. {
        crash::write_step(&store, std::process::id(), round).unwrap();
    }
}

#[test]
fn a_killed_writer_leaves_every_account_consistent() {
    let Some(url) = common::url("a_killed_writer_leaves_every_account_consistent") else {
        return;
    };
    let _server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let schema = common::fresh_schema("killed");
    crash::kill_writer_repeatedly("writer_process", (SCHEMA_ENV, schema.as_ref()));
    let store = common::store_in(&url, &schema);
    assert!(
        crash::assert_consistent(&store) > 0,
        "the writer wrote nothing"
    );
    block_on(store.drop_schema()).unwrap();
}

/// Runs the cluster's pg_ctl with `args`.
fn pg_ctl(ctl: &str, args: &[&str]) {
    let status = Command::new(ctl)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args:?} failed");
}

#[test]
fn an_immediate_server_stop_under_load_loses_nothing_committed() {
    let Some(url) = common::url("an_immediate_server_stop_under_load") else {
        return;
    };
    let Ok(ctl) = std::env::var(common::CTL_ENV) else {
        assert!(
            std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_none(),
            "{} is needed to stop the server",
            common::CTL_ENV
        );
        eprintln!("skipped: {} is not set", common::CTL_ENV);
        return;
    };
    let _server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let schema = common::fresh_schema("stopped");
    let mut options = Options::default();
    options.schema = Some(schema.clone());
    options.timeout = Duration::from_secs(2);
    let store = block_on(PostgresStore::connect(&url, options.clone())).unwrap();
    // A service instance on the same database, for the facade's answers while it is down.
    let rp = latchkey::RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let facade =
        latchkey::Passkeys::new(rp, block_on(PostgresStore::connect(&url, options)).unwrap());

    // Two writer threads; the server goes down under them and comes back.
    let stop = AtomicBool::new(false);
    let (written, unavailable) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for writer in 0..2u32 {
            let (store, stop, written, unavailable) = (&store, &stop, &written, &unavailable);
            scope.spawn(move || {
                let mut round = writer;
                while !stop.load(Ordering::Relaxed) {
                    match crash::write_step(store, writer, round) {
                        Ok(true) => {
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(error) => {
                            assert_eq!(error.code(), "store_unavailable", "{error}");
                            unavailable.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                    round += 2;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        pg_ctl(&ctl, &["stop", "-m", "immediate"]);
        // Down: every operation fails in time with store_unavailable.
        let started = Instant::now();
        let account = AccountId::new("crash-account-0");
        let errors = [
            block_on(store.load(&account)).err(),
            block_on(store.append(&account, 0, &[])).err(),
            block_on(store.history(&account)).err(),
            block_on(store.account_of(&CredentialId::new(vec![1; 16]))).err(),
            block_on(store.take_challenge(&[1; 32])).err(),
            block_on(store.put_challenge(ChallengeRecord {
                challenge: vec![1; 32],
                expires_at: Timestamp(0),
                binding: vec![],
            }))
            .err(),
            block_on(store.purge_challenges(Timestamp(0))).err(),
        ];
        for error in errors {
            let error = error.expect("an operation succeeded on a stopped server");
            assert_eq!(error.code(), "store_unavailable", "{error}");
        }
        let login = block_on(facade.start_login(Some(&account)));
        assert_eq!(login.unwrap_err().code(), "store_unavailable");
        let listed = block_on(facade.list(&account, Scope::Exchange));
        assert_eq!(listed.unwrap_err().code(), "store_unavailable");
        assert!(started.elapsed() < Duration::from_secs(30), "not in time");
        pg_ctl(&ctl, &["start", "-w"]);
        std::thread::sleep(Duration::from_millis(800));
        stop.store(true, Ordering::Relaxed);
    });
    let before = written.load(Ordering::Relaxed);
    assert!(before > 0, "nothing was written");
    assert!(
        unavailable.load(Ordering::Relaxed) > 0,
        "the writers never saw the server down"
    );
    // The same pool recovers, and every account is whole.
    let mut round = 10_000;
    while !crash::write_step(&store, 9, round).unwrap() {
        round += 1;
    }
    assert!(crash::assert_consistent(&store) > 0);
    block_on(store.drop_schema()).unwrap();
}

/// A TCP proxy to `target` that stops forwarding (without closing anything) once `frozen`
/// is set: a server that has gone silent, as behind a network partition.
fn freezing_proxy(target: std::net::SocketAddr) -> (u16, std::sync::Arc<AtomicBool>) {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let frozen = Arc::new(AtomicBool::new(false));
    let pipe = |mut from: TcpStream, mut to: TcpStream, frozen: Arc<AtomicBool>| {
        std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            loop {
                while frozen.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                match from.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        while frozen.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        if to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    };
    let accepting = Arc::clone(&frozen);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                Arc::clone(&accepting),
            );
            pipe(server, client, Arc::clone(&accepting));
        }
    });
    (port, frozen)
}

#[test]
fn a_server_that_goes_silent_gives_store_unavailable_in_time() {
    let Some(url) = common::url("a_server_that_goes_silent") else {
        return;
    };
    let _server = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    // postgres://user@127.0.0.1:PORT/db -> the same through the proxy.
    let (head, tail) = url.rsplit_once(':').unwrap();
    let (port, path) = tail.split_once('/').unwrap();
    let target = format!("127.0.0.1:{port}").parse().unwrap();
    let (proxy_port, frozen) = freezing_proxy(target);
    let schema = common::fresh_schema("silent");
    let mut options = Options::default();
    options.schema = Some(schema.clone());
    options.timeout = Duration::from_secs(2);
    options.operation_timeout = Duration::from_secs(2);
    let store = block_on(PostgresStore::connect(
        &format!("{head}:{proxy_port}/{path}"),
        options,
    ))
    .unwrap();
    let account = AccountId::new("crash-account-0");
    assert_eq!(block_on(store.load(&account)).unwrap().version, 0);

    frozen.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let err = block_on(store.load(&account)).unwrap_err();
    assert_eq!(err.code(), "store_unavailable", "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "not in time");
    // An append too (its transaction, if begun, is rolled back by the server).
    let err = crash::write_step(&store, 1, 0).unwrap_err();
    assert_eq!(err.code(), "store_unavailable", "{err}");
    frozen.store(false, Ordering::Relaxed);
    drop(store);
    block_on(common::store_in(&url, schema.as_str()).drop_schema()).unwrap();
}
