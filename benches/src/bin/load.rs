//! `cargo run --release -p latchkey-benches --bin load`: whole logins per second and their
//! latency on each store, with many accounts and concurrent clients.
//!
//! Each store gets `--accounts` accounts (default 1000), each with one Ed25519 Exchange
//! passkey registered through the facade. `--clients` threads (default 16) then sign in
//! for `--seconds` (default 10): `start_authentication`, the test kit signs, then
//! `finish_authentication`. Latency is what the service spends (start + finish), without
//! the client's signing; the clients run in the same process and share its CPU.
//!
//! Stores: memory and SQLite (a temporary file); PostgreSQL with `--postgres URL` or
//! `LATCHKEY_POSTGRES_URL` (`.ci/postgres` starts a throwaway cluster). `--stores
//! postgres` (a comma-separated list) measures only those named.
//! Prints `load <store> logins_per_second = N p50_ms = X p99_ms = Y` lines.
//!
//! Against the database's own limit: right after the logins, the same number of clients
//! run for the same time the smallest write transaction the database has, pgbench-style:
//! `UPDATE bench SET v = v + 1 WHERE id = $1` on a random one of 1000 rows, one
//! transaction each, in a table of the same database (PostgreSQL: one connection per
//! client, autocommit, prepared; SQLite: `BEGIN IMMEDIATE; UPDATE; COMMIT` with the same
//! `journal_mode = WAL` and `synchronous = FULL` as the store, on one connection the
//! clients take turns on, since SQLite has one writer at a time and busy waits on several
//! connections would only slow it). Prints
//! `bare <store> tx_per_second = B p50_ms = X p99_ms = Y` and
//! `ratio <store> logins/bare_tx = R`.

// A measuring tool: a failed operation must stop the run loudly.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_precision_loss,
    clippy::indexing_slicing
)]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Factor, FinishAuthentication, FinishRegistration, MemoryStore, Passkeys,
    RelyingParty, RequestContext, Scope, StepUp, Store, User,
};
use latchkey_store_postgres::{Options, PostgresStore};
use latchkey_store_sqlite::SqliteStore;
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;

struct Settings {
    accounts: usize,
    clients: usize,
    seconds: u64,
    postgres: Option<String>,
    /// The stores to measure (`--stores memory,sqlite,postgres`, the default).
    stores: Vec<String>,
}

fn settings() -> Settings {
    let mut settings = Settings {
        accounts: 1000,
        clients: 16,
        seconds: 10,
        postgres: std::env::var("LATCHKEY_POSTGRES_URL").ok(),
        stores: vec!["memory".into(), "sqlite".into(), "postgres".into()],
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--accounts" => settings.accounts = value.parse().expect("--accounts N"),
            "--clients" => settings.clients = value.parse().expect("--clients N"),
            "--seconds" => settings.seconds = value.parse().expect("--seconds N"),
            "--postgres" => settings.postgres = Some(value),
            "--stores" => settings.stores = value.split(',').map(str::to_owned).collect(),
            other => panic!("unknown option {other}"),
        }
    }
    settings
}

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

fn account(n: usize) -> AccountId {
    AccountId::new(format!("load-{n}"))
}

fn authenticator(n: usize) -> Authenticator {
    let mut seed = [7; 32];
    seed[..8].copy_from_slice(&(n as u64).to_be_bytes());
    Authenticator::new(SoftKey::eddsa(seed))
}

/// Registers one passkey per account.
fn populate<S: Store>(passkeys: &Passkeys<S>, accounts: usize) {
    let context = RequestContext::default();
    for n in 0..accounts {
        let who = account(n);
        let user = User {
            name: who.to_string(),
            display_name: who.to_string(),
        };
        let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
        let options =
            block_on(passkeys.start_registration(&who, &user, Scope::Exchange, &step_up)).unwrap();
        let json = authenticator(n).registration_json(&client(), &options.challenge);
        let response = RegistrationResponse::from_json(&json).unwrap();
        block_on(
            passkeys
                .finish_registration(FinishRegistration::new(&who, &response, &step_up, &context)),
        )
        .unwrap();
    }
}

/// One login as the service sees it; returns its latency without the client's signing.
fn login<S: Store>(passkeys: &Passkeys<S>, who: &AccountId, key: &mut Authenticator) -> Duration {
    let started = Instant::now();
    let options = block_on(passkeys.start_login(Some(who))).unwrap();
    let server = started.elapsed();
    let json = key.authentication_json(
        &client(),
        &options.challenge,
        &passkeys.user_handle(who, Scope::Exchange),
    );
    let started = Instant::now();
    let response = AuthenticationResponse::from_json(&json).unwrap();
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &response,
        &RequestContext::default(),
    )))
    .unwrap();
    server + started.elapsed()
}

/// Logins per second and their latency percentiles.
struct Measured {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Machine-wide CPU time per operation, in microseconds (Linux only).
    cpu_us: Option<f64>,
}

/// CPU time the whole machine has spent working (user, nice, system, irq, softirq; not
/// idle, I/O wait or steal), in seconds, from `/proc/stat` (`USER_HZ` is 100 on Linux).
/// `None` elsewhere.
fn busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| ticks.get(i).copied())
        .sum::<Option<u64>>()?;
    Some(busy as f64 / 100.0)
}

/// `clients` threads each run `one` until the deadline; `one` returns its latency.
fn measure<C, F>(clients: usize, seconds: u64, client: C) -> Measured
where
    C: Fn(usize) -> F + Sync,
    F: FnMut() -> Duration,
{
    let latencies = Mutex::new(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let busy_before = busy_seconds();
    std::thread::scope(|scope| {
        for c in 0..clients {
            let (latencies, client) = (&latencies, &client);
            scope.spawn(move || {
                let mut one = client(c);
                let mut local = Vec::new();
                while Instant::now() < deadline {
                    local.push(one());
                }
                latencies.lock().unwrap().extend(local);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let busy = busy_seconds()
        .zip(busy_before)
        .map(|(after, before)| after - before);
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort();
    // The nearest-rank percentile, per mille.
    let at = |per_mille: usize| {
        let index = (latencies.len() * per_mille)
            .div_ceil(1000)
            .saturating_sub(1);
        latencies[index].as_secs_f64() * 1e3
    };
    Measured {
        per_second: latencies.len() as f64 / elapsed,
        cpu_us: busy.map(|busy| busy * 1e6 / latencies.len() as f64),
        p50_ms: at(500),
        p99_ms: at(990),
    }
}

/// A small deterministic generator: which bench row a client updates next.
fn next_row(state: &mut u64) -> i64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    i64::try_from(*state % BENCH_ROWS).unwrap_or(0)
}

const BENCH_ROWS: u64 = 1000;

/// The bare write-transaction loop on SQLite, on `path` (the store's file).
fn bare_sqlite(path: &std::path::Path, settings: &Settings) -> Measured {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS bench (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
             INSERT OR IGNORE INTO bench SELECT i, 0 FROM n;",
        )
        .unwrap();
    let connection = Mutex::new(connection);
    measure(settings.clients, settings.seconds, |c| {
        let connection = &connection;
        let mut state = 0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1);
        move || {
            let id = next_row(&mut state);
            let started = Instant::now();
            let connection = connection.lock().unwrap();
            connection.execute_batch("BEGIN IMMEDIATE").unwrap();
            connection
                .prepare_cached("UPDATE bench SET v = v + 1 WHERE id = ?1")
                .unwrap()
                .execute([id])
                .unwrap();
            connection.execute_batch("COMMIT").unwrap();
            drop(connection);
            started.elapsed()
        }
    })
}

/// The bare write-transaction loop on PostgreSQL: one connection per client, on a
/// runtime of two threads (the store's own runtime has two too).
fn bare_postgres(url: &str, schema: &str, settings: &Settings) -> Measured {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let connect = || {
        let (client, connection) = runtime
            .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
            .unwrap();
        runtime.spawn(connection);
        client
    };
    let setup = connect();
    runtime
        .block_on(setup.batch_execute(&format!(
            "CREATE TABLE \"{schema}\".bench (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);
             INSERT INTO \"{schema}\".bench SELECT i, 0 FROM generate_series(0, 999) AS i;"
        )))
        .unwrap();
    let sql = format!("UPDATE \"{schema}\".bench SET v = v + 1 WHERE id = $1");
    let clients: Vec<_> = (0..settings.clients)
        .map(|_| {
            let client = connect();
            let statement = runtime.block_on(client.prepare(&sql)).unwrap();
            (client, statement)
        })
        .collect();
    measure(settings.clients, settings.seconds, |c| {
        let (client, statement) = &clients[c];
        let runtime = &runtime;
        let mut state = 0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1);
        move || {
            let id = next_row(&mut state);
            let started = Instant::now();
            runtime.block_on(client.execute(statement, &[&id])).unwrap();
            started.elapsed()
        }
    })
}

fn print(line: &str, name: &str, measured: &Measured, what: &str) {
    println!(
        "{line} {name} {what} = {:.0} p50_ms = {:.2} p99_ms = {:.2}",
        measured.per_second, measured.p50_ms, measured.p99_ms
    );
}

/// Logins on `store`; `counts` reads the store's own counters, and what it returns for
/// the measured logins (not the registrations) is printed after them.
fn run<S: Store, C: std::fmt::Display>(
    name: &str,
    store: S,
    settings: &Settings,
    counts: impl Fn(&S) -> C,
) -> Measured {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let passkeys = Passkeys::new(rp, store);
    let setup = Instant::now();
    populate(&passkeys, settings.accounts);
    eprintln!(
        "# {name}: {} accounts registered in {:.1} s",
        settings.accounts,
        setup.elapsed().as_secs_f64()
    );
    let passkeys = &passkeys;
    let before = counts(passkeys.store());
    let measured = measure(settings.clients, settings.seconds, |c| {
        // Each client signs in to its own share of the accounts, so every authenticator's
        // counter only rises.
        let mine: Vec<usize> = (c..settings.accounts).step_by(settings.clients).collect();
        let mut keys: Vec<Authenticator> = mine.iter().map(|&n| authenticator(n)).collect();
        let mut i = 0;
        move || {
            let slot = i % mine.len();
            i += 1;
            login(passkeys, &account(mine[slot]), &mut keys[slot])
        }
    });
    print("load", name, &measured, "logins_per_second");
    println!(
        "# {name}: before the logins {before}; after about {:.0} logins {}",
        measured.per_second * settings.seconds as f64,
        counts(passkeys.store())
    );
    measured
}

fn ratio(name: &str, logins: &Measured, bare: &Measured) {
    print("bare", name, bare, "tx_per_second");
    println!(
        "ratio {name} logins/bare_tx = {:.2}",
        logins.per_second / bare.per_second
    );
    // What each costs the machine, whatever else (another VM's steal, other processes'
    // idle waits) bounded the rates: the rate ratio when both loops keep the CPU busy.
    if let (Some(login), Some(tx)) = (logins.cpu_us, bare.cpu_us) {
        println!(
            "cpu {name} us_per_login = {login:.0} us_per_bare_tx = {tx:.0} bare_tx/login = {:.2}",
            tx / login
        );
    }
}

fn main() {
    let settings = settings();
    assert!(
        settings.clients > 0 && settings.accounts >= settings.clients,
        "need at least one client and an account per client"
    );
    println!(
        "# {} accounts, {} concurrent clients, {} s per store; latency = start + finish \
         as the service sees it",
        settings.accounts, settings.clients, settings.seconds
    );
    for store in &settings.stores {
        assert!(
            ["memory", "sqlite", "postgres"].contains(&store.as_str()),
            "unknown store {store:?} in --stores"
        );
    }
    let wanted = |store: &str| settings.stores.iter().any(|s| s == store);
    if wanted("memory") {
        run("memory", MemoryStore::new(), &settings, |_| "");
    }
    if wanted("sqlite") {
        sqlite(&settings);
    }
    if wanted("postgres") {
        postgres(&settings);
    }
}

/// Logins on SQLite, then its bare loop on the same file.
fn sqlite(settings: &Settings) {
    let dir = std::env::temp_dir().join(format!("latchkey-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("load.sqlite");
    let sqlite = SqliteStore::open(&path).unwrap();
    let logins = run("sqlite", sqlite, settings, |store| {
        let stats = store.stats();
        format!(
            "{} writes in {} transactions, {} statements",
            stats.writes, stats.transactions, stats.statements
        )
    });
    let bare = bare_sqlite(&path, settings);
    ratio("sqlite", &logins, &bare);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Logins on PostgreSQL in a schema of their own, then its bare loop beside them.
fn postgres(settings: &Settings) {
    match &settings.postgres {
        Some(url) => {
            let schema = format!("latchkey_load_{}", std::process::id());
            let mut options = Options::default();
            options.schema = Some(schema.clone());
            options.max_connections = settings.clients;
            let connect = || block_on(PostgresStore::connect(url, options.clone())).unwrap();
            let logins = run("postgres", connect(), settings, |store| {
                let trips = store.round_trips();
                format!(
                    "{} round trips ({} preparations), {} transactions, {} waited for the disk",
                    trips.round_trips,
                    trips.prepared,
                    trips.transactions,
                    trips.synchronous_commits
                )
            });
            let bare = bare_postgres(url, &schema, settings);
            ratio("postgres", &logins, &bare);
            block_on(connect().drop_schema()).unwrap();
        }
        None => eprintln!("# postgres: skipped (no --postgres URL or LATCHKEY_POSTGRES_URL)"),
    }
}
