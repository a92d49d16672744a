//! `cargo run --release -p latchkey-benches --bin load`: whole logins per second and their
//! latency on each store, with many accounts and concurrent clients.
//!
//! Each store gets `--accounts` accounts (default 1000), each with one Ed25519 Exchange
//! passkey registered through the facade. `--clients` threads (default 16) then sign in
//! for `--seconds` (default 10): `start_authentication`, the test kit signs, then
//! `finish_authentication`. Latency is what the service spends (start + finish), without
//! the client's signing; the clients run in the same process and share its CPU.
//!
//! Stores: memory and SQLite (a temporary file) always; PostgreSQL with `--postgres URL`
//! or `LATCHKEY_POSTGRES_URL` (`.ci/postgres` starts a throwaway cluster).
//! Prints `load <store> logins_per_second = N p50_ms = X p99_ms = Y` lines.

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
}

fn settings() -> Settings {
    let mut settings = Settings {
        accounts: 1000,
        clients: 16,
        seconds: 10,
        postgres: std::env::var("LATCHKEY_POSTGRES_URL").ok(),
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

fn run<S: Store>(name: &str, store: S, settings: &Settings) {
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
    let latencies = Mutex::new(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(settings.seconds);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for c in 0..settings.clients {
            let (passkeys, latencies) = (&passkeys, &latencies);
            scope.spawn(move || {
                // Each client signs in to its own share of the accounts, so every
                // authenticator's counter only rises.
                let mine: Vec<usize> = (c..settings.accounts).step_by(settings.clients).collect();
                let mut keys: Vec<Authenticator> = mine.iter().map(|&n| authenticator(n)).collect();
                let mut local = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let slot = i % mine.len();
                    local.push(login(passkeys, &account(mine[slot]), &mut keys[slot]));
                    i += 1;
                }
                latencies.lock().unwrap().extend(local);
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort();
    // The nearest-rank percentile, per mille.
    let at = |per_mille: usize| {
        let index = (latencies.len() * per_mille)
            .div_ceil(1000)
            .saturating_sub(1);
        latencies[index].as_secs_f64() * 1e3
    };
    println!(
        "load {name} logins_per_second = {:.0} p50_ms = {:.2} p99_ms = {:.2}",
        latencies.len() as f64 / elapsed,
        at(500),
        at(990)
    );
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
    run("memory", MemoryStore::new(), &settings);

    let dir = std::env::temp_dir().join(format!("latchkey-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = SqliteStore::open(dir.join("load.sqlite")).unwrap();
    run("sqlite", sqlite, &settings);
    std::fs::remove_dir_all(&dir).unwrap();

    match &settings.postgres {
        Some(url) => {
            let schema = format!("latchkey_load_{}", std::process::id());
            let mut options = Options::default();
            options.schema = Some(schema);
            options.max_connections = settings.clients;
            let connect = || block_on(PostgresStore::connect(url, options.clone())).unwrap();
            run("postgres", connect(), &settings);
            block_on(connect().drop_schema()).unwrap();
        }
        None => eprintln!("# postgres: skipped (no --postgres URL or LATCHKEY_POSTGRES_URL)"),
    }
}
