//! Failover (issue 17): the facade on a PostgreSQL primary with a synchronous standby,
//! connected with a multi-host URL. Writers register, log in (counters), delete near the
//! minimum, authorize DEX and run challenges; the primary's postmaster is killed with
//! `kill -9`, the standby promoted, and the writers go on. Then, on the new primary:
//! every acknowledged operation is there exactly once, no scope is left without a passkey,
//! no counter went backwards, no challenge or step-up token consumed on the old primary is
//! accepted again, and no operation that reported success is missing. Three rounds, a
//! fresh pair each, killed at different moments. The asynchronous case (no synchronous
//! standby) shows what a failover loses.
//!
//! Then `Options::standby_reads` (display reads on a lagging standby, decisions on the
//! primary), and attacks on the promises: a lost answer to a consumed challenge, conflict
//! retries across the kill, a 20 ms operation timeout, a server `statement_timeout`,
//! connections that stop answering, a URL without `target_session_attrs`, and what the
//! deployment must prevent (README): an unfenced old primary coming back (synchronous and
//! asynchronous), a hung old primary, cancelled waits for the standby.
//!
//! The pair comes from the script named by `LATCHKEY_POSTGRES_PAIR` (`.ci/postgres-pair`).
//! Without it the tests say so and pass, unless `LATCHKEY_REQUIRE_POSTGRES_PAIR=1` (set by
//! `.ci/run`) makes that a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use latchkey::json::AuthenticationResponse;
use latchkey::policy::{AccountState, EventKind, apply};
use latchkey::{
    AccountId, Change, CredentialId, Event, FinishAuthentication, Intent, Scope, StepUp,
    StepUpToken, Store,
};
use latchkey_store_postgres::{Options, PostgresStore};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, factors, id, world_on};

const PAIR_ENV: &str = "LATCHKEY_POSTGRES_PAIR";
const REQUIRE_ENV: &str = "LATCHKEY_REQUIRE_POSTGRES_PAIR";

/// One test at a time: each starts clusters and kills processes.
static PAIRS: Mutex<()> = Mutex::new(());

/// The pair script, or `None` (after saying why) when the test should skip.
fn pair_script(test: &str) -> Option<String> {
    match std::env::var(PAIR_ENV) {
        Ok(script) => Some(script),
        Err(_) if std::env::var_os(REQUIRE_ENV).is_some() => {
            panic!("{test}: {PAIR_ENV} is not set and {REQUIRE_ENV} is")
        }
        Err(_) => {
            eprintln!("{test}: skipped, {PAIR_ENV} is not set (see .ci/postgres-pair)");
            None
        }
    }
}

/// A running primary + standby, stopped and removed on drop.
struct Pair {
    env: HashMap<String, String>,
}

impl Pair {
    fn start(script: &str, mode: &str) -> Self {
        let output = Command::new(script).arg(mode).output().unwrap();
        assert!(
            output.status.success(),
            "{script} {mode} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let env = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| {
                let (key, value) = line.strip_prefix("export ")?.split_once('=')?;
                Some((key.to_owned(), value.trim_matches('\'').to_owned()))
            })
            .collect();
        Self { env }
    }

    fn var(&self, key: &str) -> &str {
        self.env.get(key).unwrap_or_else(|| panic!("{key} missing"))
    }

    fn run(&self, key: &str) {
        let status = Command::new(self.var(key)).status().unwrap();
        assert!(status.success(), "{key} failed");
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(stop) = self.env.get("LATCHKEY_PAIR_STOP_ALL") {
            let _ = Command::new(stop).status();
        }
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.max_connections = 8;
    options.timeout = Duration::from_secs(1);
    options.operation_timeout = Duration::from_secs(3);
    options
}

fn world(url: &str) -> World<PostgresStore> {
    world_on(block_on(PostgresStore::connect(url, options())).unwrap())
}

/// A software authenticator no other writer or round uses.
fn key(writer: u8, n: u16) -> Authenticator {
    let mut seed = [7u8; 32];
    seed[0] = writer;
    seed[1..3].copy_from_slice(&n.to_be_bytes());
    Authenticator::new(SoftKey::es256(seed))
}

/// What one facade call ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Success, or a refusal by the policy: an answer the service acts on.
    Acknowledged,
    Unavailable,
}

/// What the writers saw, for the checks on the new primary.
#[derive(Default)]
struct Log {
    /// (start, end, outcome) of every facade call.
    calls: Vec<(Instant, Instant, Outcome)>,
    /// The events of every acknowledged change, per account.
    events: Vec<(AccountId, Vec<Event>)>,
    /// Answers whose challenge the facade acknowledged as consumed.
    consumed: Vec<AuthenticationResponse>,
    /// Step-up tokens redeemed by an acknowledged change: (account, change, token).
    redeemed: Vec<(AccountId, Change, StepUpToken)>,
    /// The highest counter an acknowledged assertion carried, per passkey.
    counters: HashMap<CredentialId, u32>,
    /// Broken promises seen while running (an acknowledged start whose challenge is
    /// unknown afterwards, an unexpected refusal).
    violations: Vec<String>,
}

impl Log {
    /// Records a call and classifies its result; `None` when the store was unavailable.
    fn call<T>(
        &mut self,
        started: Instant,
        result: latchkey::Result<T>,
    ) -> Option<Result<T, latchkey::Error>> {
        let outcome = match &result {
            Err(e) if e.code() == "store_unavailable" => Outcome::Unavailable,
            _ => Outcome::Acknowledged,
        };
        self.calls.push((started, Instant::now(), outcome));
        match outcome {
            Outcome::Unavailable => None,
            Outcome::Acknowledged => Some(result),
        }
    }
}

/// One writer on its own account until `stop`: each step reads the account, then changes
/// it in one of five ways. Every facade call is logged.
fn writer(w: &World<PostgresStore>, writer: u8, stop: &AtomicBool) -> Log {
    let account = AccountId::new(format!("writer-{writer}"));
    let mut log = Log::default();
    let mut keys: HashMap<CredentialId, Authenticator> = HashMap::new();
    let mut next_key = 0u16;
    let mut new_key = |keys: &mut HashMap<CredentialId, Authenticator>| {
        next_key += 1;
        let authenticator = key(writer, next_key);
        let credential = id(&authenticator);
        keys.insert(credential.clone(), authenticator);
        credential
    };
    // Two Exchange passkeys and one Pay passkey, before the clock starts.
    // A registration that answers store_unavailable may have happened: the next try is
    // with another passkey.
    for scope in [Scope::Exchange, Scope::Exchange, Scope::Pay] {
        let done = loop {
            let credential = new_key(&mut keys);
            match w.register(&account, &keys[&credential], scope, factors()) {
                Ok(done) => break done,
                Err(e) if e.code() == "store_unavailable" => {}
                Err(e) => panic!("registration refused: {e}"),
            }
        };
        log.events.push((account.clone(), done.events));
    }

    let mut step = 0u32;
    while !stop.load(Ordering::Relaxed) {
        step += 1;
        let t = Instant::now();
        let Some(exchange) = log.call(t, block_on(w.passkeys.list(&account, Scope::Exchange)))
        else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let exchange = exchange.unwrap();
        let t = Instant::now();
        let Some(pay) = log.call(t, block_on(w.passkeys.list(&account, Scope::Pay))) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let pay = pay.unwrap();
        let pick = |n: usize| (step as usize / 5) % n.max(1);
        match step % 5 {
            // A login by one of the Exchange passkeys: its challenge is consumed, its
            // counter goes up.
            0 | 1 => {
                let credential = exchange[pick(exchange.len())].id.clone();
                let t = Instant::now();
                let Some(options) = log.call(
                    t,
                    block_on(
                        w.passkeys
                            .start_authentication(&account, Intent::Login, None),
                    ),
                ) else {
                    continue;
                };
                let options = options.unwrap();
                let authenticator = keys.get_mut(&credential).unwrap();
                let response =
                    w.answer(authenticator, &options.challenge, &account, Scope::Exchange);
                let counter = authenticator.sign_count().unwrap_or(0);
                let t = Instant::now();
                let result = block_on(
                    w.passkeys
                        .finish_authentication(FinishAuthentication::new(&response, &w.context)),
                );
                match log.call(t, result) {
                    None => {}
                    Some(Ok(done)) => {
                        log.consumed.push(response);
                        log.events.push((account.clone(), done.events));
                        let max = log.counters.entry(credential).or_insert(0);
                        *max = (*max).max(counter);
                    }
                    Some(Err(e)) => {
                        log.consumed.push(response);
                        log.violations.push(format!("login refused: {e}"));
                    }
                }
            }
            // Register an Exchange passkey (other factors), up to three.
            2 if exchange.len() < 3 => {
                let credential = new_key(&mut keys);
                let t = Instant::now();
                match log.call(
                    t,
                    w.register(&account, &keys[&credential], Scope::Exchange, factors()),
                ) {
                    None => {}
                    Some(Ok(done)) => log.events.push((account.clone(), done.events)),
                    Some(Err(e)) => log.violations.push(format!("registration refused: {e}")),
                }
            }
            // Delete an Exchange passkey: with another one's step-up while there are two
            // or more (refused when it is the last DEX one), with the other factors when
            // it is the last (always refused: P3).
            2 | 3 => {
                let victim = exchange[pick(exchange.len())].clone();
                let (step_up, token) = if exchange.len() >= 2 {
                    let helper = exchange
                        .iter()
                        .find(|c| c.id != victim.id)
                        .unwrap()
                        .id
                        .clone();
                    let change = Change::Delete(victim.id.clone());
                    let t = Instant::now();
                    let Some(options) = log.call(
                        t,
                        block_on(w.passkeys.start_step_up(&account, Scope::Exchange, &change)),
                    ) else {
                        continue;
                    };
                    let options = options.unwrap();
                    let response = w.answer(
                        keys.get_mut(&helper).unwrap(),
                        &options.challenge,
                        &account,
                        Scope::Exchange,
                    );
                    let t = Instant::now();
                    let result =
                        block_on(w.passkeys.finish_authentication(FinishAuthentication::new(
                            &response, &w.context,
                        )));
                    let token = match log.call(t, result) {
                        None => continue,
                        Some(Ok(done)) => {
                            log.consumed.push(response);
                            log.events.push((account.clone(), done.events));
                            done.step_up.unwrap()
                        }
                        Some(Err(e)) => {
                            log.consumed.push(response);
                            log.violations.push(format!("step-up refused: {e}"));
                            continue;
                        }
                    };
                    (StepUp::Passkey(token.clone()), Some((change, token)))
                } else {
                    (factors(), None)
                };
                let last_dex = victim.dex_authorized
                    && exchange.iter().filter(|c| c.dex_authorized).count() == 1;
                let t = Instant::now();
                let result = block_on(
                    w.passkeys
                        .delete(&account, &victim.id, &step_up, &w.context),
                );
                match log.call(t, result) {
                    None => {}
                    Some(Ok(done)) => {
                        if exchange.len() < 2 || last_dex {
                            log.violations.push("deleted the last passkey".into());
                        }
                        log.events.push((account.clone(), done.events));
                        if let Some((change, token)) = token {
                            log.redeemed.push((account.clone(), change, token));
                        }
                    }
                    Some(Err(e))
                        if e.code() == "last_passkey" && (exchange.len() < 2 || last_dex) => {}
                    Some(Err(e)) => log.violations.push(format!("delete refused: {e}")),
                }
            }
            // Authorize a passkey for DEX, stepped up by its own assertion.
            _ if step.is_multiple_of(2) => {
                let Some(candidate) = exchange.iter().find(|c| !c.dex_authorized) else {
                    continue;
                };
                let change = Change::AuthorizeDex(candidate.id.clone());
                let t = Instant::now();
                let Some(options) = log.call(
                    t,
                    block_on(w.passkeys.start_step_up(&account, Scope::Exchange, &change)),
                ) else {
                    continue;
                };
                let options = options.unwrap();
                let response = w.answer(
                    keys.get_mut(&candidate.id).unwrap(),
                    &options.challenge,
                    &account,
                    Scope::Exchange,
                );
                let t = Instant::now();
                let result = block_on(
                    w.passkeys
                        .finish_authentication(FinishAuthentication::new(&response, &w.context)),
                );
                let token = match log.call(t, result) {
                    None => continue,
                    Some(Ok(done)) => {
                        log.consumed.push(response);
                        log.events.push((account.clone(), done.events));
                        done.step_up.unwrap()
                    }
                    Some(Err(e)) => {
                        log.consumed.push(response);
                        log.violations.push(format!("step-up refused: {e}"));
                        continue;
                    }
                };
                let t = Instant::now();
                let result = block_on(w.passkeys.authorize_dex(
                    &account,
                    &candidate.id,
                    &token,
                    true,
                    &w.context,
                ));
                match log.call(t, result) {
                    None => {}
                    Some(Ok(done)) => {
                        log.events.push((account.clone(), done.events));
                        log.redeemed.push((account.clone(), change, token));
                    }
                    Some(Err(e)) => log.violations.push(format!("authorize_dex refused: {e}")),
                }
            }
            // Pay near its minimum: a second Pay passkey, or delete one (refused when it is
            // the last).
            _ => {
                let t = Instant::now();
                if pay.len() < 2 {
                    let credential = new_key(&mut keys);
                    match log.call(
                        t,
                        w.register(&account, &keys[&credential], Scope::Pay, factors()),
                    ) {
                        None => {}
                        Some(Ok(done)) => log.events.push((account.clone(), done.events)),
                        Some(Err(e)) => log
                            .violations
                            .push(format!("Pay registration refused: {e}")),
                    }
                } else {
                    let victim = pay[pick(pay.len())].id.clone();
                    let result =
                        block_on(w.passkeys.delete(&account, &victim, &factors(), &w.context));
                    match log.call(t, result) {
                        None => {}
                        Some(Ok(done)) => log.events.push((account.clone(), done.events)),
                        Some(Err(e)) => log.violations.push(format!("Pay delete refused: {e}")),
                    }
                }
            }
        }
    }
    log
}

/// Every event of an account, from all its history pages.
fn history(w: &World<PostgresStore>, account: &AccountId) -> Vec<Event> {
    let mut events = Vec::new();
    let mut start = 0;
    loop {
        let page = block_on(w.passkeys.history(account, start, 500)).unwrap();
        events.extend(page.events);
        match page.next {
            Some(next) => start = next,
            None => return events,
        }
    }
}

/// The figures of one round.
#[derive(Debug)]
struct Figures {
    acknowledged: usize,
    in_flight: usize,
    unavailable: usize,
    recovery: Duration,
}

const WRITERS: u8 = 3;

fn round(script: &str, round: u8, kill_after: Duration) -> Figures {
    let pair = Pair::start(script, "sync");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let stop = AtomicBool::new(false);
    let (logs, killed_at, promoted_at) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                let (w, stop) = (&w, &stop);
                scope.spawn(move || writer(w, round * 10 + n, stop))
            })
            .collect();
        std::thread::sleep(kill_after);
        let killed_at = Instant::now();
        pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
        // A failover manager's detection time, shortened.
        std::thread::sleep(Duration::from_millis(200));
        pair.run("LATCHKEY_PAIR_PROMOTE");
        let promoted_at = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<Log> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        (logs, killed_at, promoted_at)
    });

    // The figures: calls that began before the kill and ended after it were in flight.
    let calls = logs.iter().flat_map(|l| l.calls.iter());
    let acknowledged = calls
        .clone()
        .filter(|c| c.2 == Outcome::Acknowledged)
        .count();
    let unavailable = calls
        .clone()
        .filter(|c| c.2 == Outcome::Unavailable)
        .count();
    let in_flight = calls
        .clone()
        .filter(|(start, end, _)| *start < killed_at && *end > killed_at)
        .count();
    // Recovered: the first answer from a call that began after the last unavailable one.
    let last_unavailable = calls
        .clone()
        .filter(|c| c.2 == Outcome::Unavailable)
        .map(|c| c.1)
        .max()
        .unwrap_or(killed_at);
    let recovered = calls
        .clone()
        .filter(|(start, _, outcome)| {
            *start > last_unavailable && *outcome == Outcome::Acknowledged
        })
        .map(|(_, end, _)| *end)
        .min()
        .expect("the writers never recovered after the failover");
    let figures = Figures {
        acknowledged,
        in_flight,
        unavailable,
        recovery: recovered.duration_since(killed_at),
    };
    assert!(
        calls.clone().any(|c| c.1 < killed_at),
        "nothing was written before the kill"
    );
    assert!(
        calls
            .clone()
            .any(|c| c.0 > promoted_at && c.2 == Outcome::Acknowledged),
        "nothing was written after the promotion"
    );
    for log in &logs {
        assert!(log.violations.is_empty(), "{:?}", log.violations);
    }

    // On the new primary alone (the old one is dead; this URL names the promoted standby).
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let replayed = check(&after, &logs, round * 10);
    println!(
        "failover round {round}: kill after {kill_after:?}: {} calls acknowledged, {} in flight at the kill, \
         {} refused as store_unavailable, recovered {:?} after the kill (promotion took {:?}); \
         replayed {} consumed challenges (all challenge_reused) and {} redeemed step-up tokens (all refused, {} as step_up_required, the others' passkeys deleted since)",
        figures.acknowledged,
        figures.in_flight,
        figures.unavailable,
        figures.recovery,
        promoted_at.duration_since(killed_at),
        replayed.0,
        replayed.1,
        replayed.2,
    );
    drop((w, after));
    figures
}

/// The promises, checked on `after` for the writers numbered from `first`: every
/// acknowledged change exactly once, no scope emptied, counters never back, the folded
/// state the history's fold, and nothing consumed or redeemed accepted again. Returns how
/// many consumed challenges and redeemed tokens were replayed (and how many of the tokens
/// were refused as `step_up_required`).
fn check(after: &World<PostgresStore>, logs: &[Log], first: u8) -> (usize, usize, usize) {
    for n in 0..WRITERS {
        let account = AccountId::new(format!("writer-{}", first + n));
        let events = history(after, &account);
        // Every acknowledged change, exactly once.
        for (_, acknowledged) in logs
            .iter()
            .flat_map(|l| &l.events)
            .filter(|(a, _)| *a == account)
        {
            for event in acknowledged {
                let found = events.iter().filter(|e| *e == event).count();
                assert_eq!(
                    found, 1,
                    "{account}: acknowledged {event:?} found {found} times"
                );
            }
        }
        // No scope ever left without a passkey once it had one, at any point of the history;
        // counters never went backwards.
        let mut state = AccountState::default();
        let mut had = [false; 3];
        let mut last_counter: HashMap<CredentialId, u32> = HashMap::new();
        for event in &events {
            if let EventKind::Used { credential, .. } = &event.kind {
                let counter = state.credential(credential).map_or(0, |c| c.sign_count);
                let previous = last_counter
                    .insert(credential.clone(), counter)
                    .unwrap_or(0);
                assert!(counter >= previous, "{account}: counter went back");
            }
            state = apply(state, std::slice::from_ref(event));
            let counts = [
                state
                    .credentials
                    .iter()
                    .filter(|c| c.scope == Scope::Exchange)
                    .count(),
                state
                    .credentials
                    .iter()
                    .filter(|c| c.scope == Scope::Pay)
                    .count(),
                state
                    .credentials
                    .iter()
                    .filter(|c| c.dex_authorized)
                    .count(),
            ];
            for (had, count) in had.iter_mut().zip(counts) {
                assert!(
                    !*had || count > 0,
                    "{account}: a scope was left without a passkey"
                );
                *had |= count > 0;
            }
        }
        // Counters: the stored one is at least the highest acknowledged.
        for log in logs {
            for (credential, counter) in &log.counters {
                if let Some(stored) = state.credential(credential) {
                    assert!(
                        stored.sign_count >= *counter,
                        "{account}: counter {counter} lost"
                    );
                }
            }
        }
        let stored = block_on(after.passkeys.store().load(&account))
            .unwrap()
            .value;
        assert_eq!(
            stored, state,
            "{account}: the folded state is not the history's fold"
        );
    }
    // Nothing consumed on the old primary is accepted on the new one.
    let mut replayed = (0, 0, 0);
    for log in logs {
        for response in &log.consumed {
            let result = block_on(
                after
                    .passkeys
                    .finish_authentication(FinishAuthentication::new(response, &after.context)),
            );
            assert_eq!(result.unwrap_err().code(), "challenge_reused");
            replayed.0 += 1;
        }
        for (account, change, token) in &log.redeemed {
            let result = match change {
                Change::AuthorizeDex(credential) => block_on(after.passkeys.authorize_dex(
                    account,
                    credential,
                    token,
                    true,
                    &after.context,
                ))
                .map(|_| ()),
                Change::Delete(credential) => block_on(after.passkeys.delete(
                    account,
                    credential,
                    &StepUp::Passkey(token.clone()),
                    &after.context,
                ))
                .map(|_| ()),
                _ => unreachable!(),
            };
            // A token for a passkey deleted since is refused as unknown_credential.
            let error = result.unwrap_err();
            assert!(
                ["step_up_required", "unknown_credential"].contains(&error.code()),
                "a redeemed token replayed: {error}"
            );
            replayed.1 += 1;
            if error.code() == "step_up_required" {
                replayed.2 += 1;
            }
        }
    }
    replayed
}

#[test]
fn a_failover_to_a_synchronous_standby_loses_nothing_acknowledged() {
    let Some(script) = pair_script("a_failover_to_a_synchronous_standby") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    for (n, kill_after) in [(1, 300), (2, 700), (3, 1100)] {
        let figures = round(&script, n, Duration::from_millis(kill_after));
        assert!(
            figures.acknowledged > 0 && figures.unavailable > 0,
            "{figures:?}"
        );
    }
}

/// One statement through `psql`; its output, trimmed.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-Atc", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The standby's maintenance database (it may not have replayed `createdb` yet, and
/// `latchkey` is the one under test).
fn standby_maintenance(pair: &Pair) -> String {
    format!(
        "{}/postgres",
        pair.var("LATCHKEY_PAIR_STANDBY_URL")
            .trim_end_matches("/latchkey")
    )
}

/// Waits until the standby has replayed everything the primary has written, commits that
/// did not wait for the disk (challenge puts) included: those may still sit in the WAL
/// buffers, past `pg_current_wal_lsn()`, so the target is the insert position.
fn wait_for_standby(pair: &Pair) {
    let target = psql(
        pair.var("LATCHKEY_PAIR_PRIMARY_URL"),
        "SELECT pg_current_wal_insert_lsn()",
    );
    let query = format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn");
    let started = Instant::now();
    let standby = standby_maintenance(pair);
    while psql(&standby, &query) != "t" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the standby did not catch up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Without a synchronous standby, a commit is acknowledged before the standby has it. Here
/// the standby is stopped (lagging: the deterministic worst case) while the primary
/// acknowledges a login, a delete and a DEX authorization; the primary dies and the
/// standby is promoted. All three are gone: the consumed challenge is accepted again (P16),
/// the counter is back where it was (P12), the deleted passkey is back, and the step-up
/// token redeemed on the old primary authorizes DEX a second time (P7).
#[test]
fn a_failover_to_an_asynchronous_standby_loses_acknowledged_writes() {
    let Some(script) = pair_script("a_failover_to_an_asynchronous_standby") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "async");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("async");
    let (mut e1, e2, p1) = (key(200, 1), key(200, 2), key(200, 3));
    for (authenticator, scope) in [
        (&e1, Scope::Exchange),
        (&e2, Scope::Exchange),
        (&p1, Scope::Pay),
    ] {
        w.register(&account, authenticator, scope, factors())
            .unwrap();
    }
    // Replicated: a login challenge started, and a DEX step-up granted.
    let login = block_on(
        w.passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    let dex = Change::AuthorizeDex(id(&e1));
    let token = w
        .step_up(&account, &mut e1, Scope::Exchange, Scope::Exchange, &dex)
        .unwrap();
    wait_for_standby(&pair);
    let before = history(&w, &account).len();
    let counter_before =
        block_on(w.passkeys.list(&account, Scope::Exchange)).unwrap()[0].sign_count;

    // The standby stops; the primary acknowledges three changes alone.
    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let response = w.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let counter = e1.sign_count().unwrap();
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    assert!(!done.events.is_empty());
    block_on(
        w.passkeys
            .delete(&account, &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&account, &id(&e1), &token, true, &w.context),
    )
    .unwrap();
    let acknowledged = history(&w, &account).len() - before;
    // On the old primary the login's challenge is spent and the token redeemed.
    let replay = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(replay.unwrap_err().code(), "challenge_reused");

    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));

    // Lost: the history is back to where the standby stopped.
    let lost = acknowledged;
    assert_eq!(
        history(&after, &account).len(),
        before,
        "the acknowledged events survived"
    );
    let exchange = block_on(after.passkeys.list(&account, Scope::Exchange)).unwrap();
    // The deleted passkey is back, and nothing is DEX-authorized.
    assert!(
        exchange.iter().any(|c| c.id == id(&e2)),
        "the delete survived"
    );
    assert!(exchange.iter().all(|c| !c.dex_authorized));
    // The counter went back below what the login acknowledged.
    let e1_now = exchange.iter().find(|c| c.id == id(&e1)).unwrap();
    assert_eq!(e1_now.sign_count, counter_before);
    assert!(e1_now.sign_count < counter);
    // The consumed challenge is fresh again: the same answer logs in a second time.
    let replayed = block_on(
        after
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &after.context)),
    )
    .unwrap();
    assert_eq!(replayed.credential, id(&e1));
    // The redeemed step-up token authorizes DEX a second time.
    block_on(
        after
            .passkeys
            .authorize_dex(&account, &id(&e1), &token, true, &after.context),
    )
    .unwrap();
    println!(
        "asynchronous failover: {lost} acknowledged events lost (a login, a delete, a DEX \
         authorization); the consumed login challenge was accepted again, the counter went \
         back from {counter} to {}, the deleted passkey returned, the redeemed step-up token \
         authorized DEX again",
        e1_now.sign_count
    );
    drop((w, after));
}

/// With a synchronous standby that is down, the primary acknowledges nothing: a change
/// answers `store_unavailable` within the operation timeout, and goes through once the
/// standby is back.
#[test]
fn without_its_synchronous_standby_the_primary_acknowledges_nothing() {
    let Some(script) = pair_script("without_its_synchronous_standby") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("waiting");
    let (e1, e2) = (key(201, 1), key(201, 2));
    w.register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let started = Instant::now();
    let error = w
        .register(&account, &e2, Scope::Exchange, factors())
        .unwrap_err();
    assert_eq!(error.code(), "store_unavailable", "{error}");
    assert!(started.elapsed() < options().operation_timeout + Duration::from_secs(2));
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    // The cut-off transaction committed locally and reached the standby when it came
    // back; registering again is refused as a duplicate or succeeds, never lost halfway.
    let listed = block_on(w.passkeys.list(&account, Scope::Exchange)).unwrap();
    if listed.len() == 1 {
        w.register(&account, &e2, Scope::Exchange, factors())
            .unwrap();
    }
    assert_eq!(
        block_on(w.passkeys.list(&account, Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
}

/// The client connections to the database under test on one server (`url` names any of
/// its databases).
fn latchkey_sessions(url: &str) -> usize {
    psql(
        url,
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = 'latchkey' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    .parse()
    .unwrap()
}

/// `Options::standby_reads`: the history and the passkey list (display only) come from
/// the standby, and lag when it does; every decision reads the primary. The standby's
/// replay is paused, so that it holds an older state than the primary: a registration
/// acknowledged on the primary (flushed on the standby, not replayed) is missing from the
/// displayed list and history, and present in every decision (a discoverable login by it,
/// a delete that is allowed only because it exists). Without the opt-in nothing reads the
/// standby. With the standby gone, the display reads fall back to the primary.
#[test]
fn standby_reads_serve_display_only_and_never_a_decision() {
    let Some(script) = pair_script("standby_reads_serve_display_only") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let url = pair.var("LATCHKEY_PAIR_URL");
    let account = AccountId::new("display");
    let (mut e1, mut e2) = (key(202, 1), key(202, 2));

    // Without the opt-in: writes, decisions and display reads, none on the standby (which
    // has the database by then).
    wait_for_standby(&pair);
    let plain = world(url);
    plain
        .register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    let _ = history(&plain, &account);
    let _ = block_on(plain.passkeys.list(&account, Scope::Exchange)).unwrap();
    assert_eq!(
        latchkey_sessions(&standby_maintenance(&pair)),
        0,
        "a store without standby_reads connected to the standby"
    );

    let mut opted = options();
    opted.standby_reads = true;
    let reader = world_on(block_on(PostgresStore::connect(url, opted)).unwrap());
    wait_for_standby(&pair);
    let replicated = history(&reader, &account).len();
    assert!(
        latchkey_sessions(&standby_maintenance(&pair)) > 0,
        "standby_reads: the history was not read on the standby"
    );

    // The standby stops replaying (it still receives and flushes: commits go on).
    psql(&standby_maintenance(&pair), "SELECT pg_wal_replay_pause()");
    reader
        .register(&account, &e2, Scope::Exchange, factors())
        .unwrap();
    // Display: the standby's older state.
    let shown = block_on(reader.passkeys.list(&account, Scope::Exchange)).unwrap();
    assert_eq!(
        shown.len(),
        1,
        "the list was not read on the lagging standby"
    );
    assert_eq!(history(&reader, &account).len(), replicated);
    // Without the opt-in, the primary's.
    assert_eq!(
        block_on(plain.passkeys.list(&account, Scope::Exchange))
            .unwrap()
            .len(),
        2
    );
    assert!(history(&plain, &account).len() > replicated);

    // Decisions, on the primary: a discoverable login by the new passkey (account_of,
    // then load) ...
    let options = block_on(reader.passkeys.start_login(None)).unwrap();
    let response = reader.answer(&mut e2, &options.challenge, &account, Scope::Exchange);
    let done = block_on(
        reader
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &reader.context)),
    )
    .unwrap();
    assert_eq!(done.credential, id(&e2));
    // ... a login challenge that allows it ...
    let options = block_on(
        reader
            .passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    assert_eq!(options.allow_credentials.len(), 2);
    // ... and the delete of the other one, allowed because the new one exists (on the
    // standby's state it would be the last: refused).
    block_on(
        reader
            .passkeys
            .delete(&account, &id(&e1), &factors(), &reader.context),
    )
    .unwrap();
    let _ = &mut e1;

    // Replay resumes: the display catches up.
    psql(&standby_maintenance(&pair), "SELECT pg_wal_replay_resume()");
    wait_for_standby(&pair);
    let shown = block_on(reader.passkeys.list(&account, Scope::Exchange)).unwrap();
    assert_eq!(
        shown.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [id(&e2)]
    );
    assert_eq!(history(&reader, &account), history(&plain, &account));

    // No standby: display reads go to the primary.
    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    assert_eq!(history(&reader, &account), history(&plain, &account));
    assert_eq!(
        block_on(reader.passkeys.list(&account, Scope::Exchange))
            .unwrap()
            .len(),
        1
    );
    println!(
        "standby reads: list and history served by the paused standby ({replicated} events \
         shown, the primary had more); login, start and delete decided on the primary; \
         without a standby, display reads fell back to the primary"
    );
    drop((plain, reader));
}

/// Attack: a `statement_timeout` set on the server (a common safety net, here on the
/// database). A query cancel during a commit's wait for the synchronous standby ends the
/// wait and reports the commit as successful ("the transaction has already committed
/// locally, but might not have been replicated"): were the statement timeout to fire
/// there, the store would acknowledge what a failover loses. It does not: PostgreSQL stops
/// the statement timer before it commits, so with the standby gone a registration and a
/// login answer `store_unavailable` (at `Options::operation_timeout`), and whatever was
/// acknowledged survives the failover. (A `pg_cancel_backend` of a waiting session does
/// acknowledge: the README forbids it.)
#[test]
fn a_server_statement_timeout_never_acknowledges_an_unreplicated_commit() {
    let Some(script) = pair_script("a_server_statement_timeout") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    psql(
        pair.var("LATCHKEY_PAIR_PRIMARY_URL"),
        "ALTER DATABASE latchkey SET statement_timeout = '300ms'",
    );
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("timeout");
    let (mut e1, e2) = (key(203, 1), key(203, 2));
    w.register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    let login = block_on(
        w.passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    wait_for_standby(&pair);

    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let registered = w.register(&account, &e2, Scope::Exchange, factors());
    let response = w.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let logged_in = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    let outcomes = [
        registered.as_ref().map(|_| ()).map_err(|e| e.code()),
        logged_in.as_ref().map(|_| ()).map_err(|e| e.code()),
    ];

    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let listed = block_on(after.passkeys.list(&account, Scope::Exchange)).unwrap();
    if registered.is_ok() {
        assert!(
            listed.iter().any(|c| c.id == id(&e2)),
            "an acknowledged registration is lost"
        );
    }
    if logged_in.is_ok() {
        let replay = block_on(
            after
                .passkeys
                .finish_authentication(FinishAuthentication::new(&response, &after.context)),
        );
        assert_eq!(
            replay.map(|_| ()).map_err(|e| e.code()),
            Err("challenge_reused"),
            "a challenge acknowledged as consumed is fresh on the new primary"
        );
    }
    assert_eq!(
        outcomes,
        [Err("store_unavailable"), Err("store_unavailable")],
        "acknowledged without the synchronous standby"
    );
    println!("statement_timeout on the server: outcomes without the standby {outcomes:?}");
    drop((w, after));
}

/// Attack: a consumption whose answer was lost. With the synchronous standby down, a
/// login's `take_challenge` commits on the primary and waits for the standby; the store
/// gives up at `operation_timeout` (`store_unavailable`). The standby comes back, the
/// commit completes: the caller retries the same answer and gets `challenge_reused`, never
/// a second success. The take and the login's append are one statement: the lost answer
/// left either nothing or that one login's own event (its commit completed when the
/// standby came back, unacknowledged, as any timed-out commit may), never more. The same
/// after a failover.
#[test]
fn a_consumption_whose_answer_was_lost_is_never_accepted_again() {
    let Some(script) = pair_script("a_consumption_whose_answer_was_lost") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("lost-answer");
    let mut e1 = key(204, 1);
    w.register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    let login = block_on(
        w.passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    wait_for_standby(&pair);
    let before = history(&w, &account);

    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let response = w.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let first = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(
        first.map(|_| ()).map_err(|e| e.code()),
        Err("store_unavailable")
    );
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    // The retry, once the store answers again.
    let started = Instant::now();
    let retry = loop {
        let retry = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        );
        match retry {
            Err(e)
                if e.code() == "store_unavailable"
                    && started.elapsed() < Duration::from_secs(20) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => break other,
        }
    };
    assert_eq!(
        retry.map(|_| ()).map_err(|e| e.code()),
        Err("challenge_reused"),
        "a consumption whose answer was lost was accepted on retry"
    );
    let lost = history(&w, &account);
    let extra = lost.get(before.len()..).unwrap_or_default();
    assert!(
        lost.starts_with(&before)
            && (extra.is_empty()
                || matches!(
                    extra,
                    [Event {
                        kind: EventKind::Used {
                            intent: Intent::Login,
                            ..
                        },
                        ..
                    }]
                )),
        "the lost login left more than its own use: {extra:?}"
    );

    wait_for_standby(&pair);
    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let replay = block_on(
        after
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &after.context)),
    );
    assert_eq!(
        replay.map(|_| ()).map_err(|e| e.code()),
        Err("challenge_reused")
    );
    assert_eq!(history(&after, &account), lost);
    drop((w, after));
}

/// Attack: split brain. After the failover the killed primary is started again as it
/// was, a primary, unfenced. The multi-host URL names it first and
/// `target_session_attrs=read-write` accepts it: every connection the store opens from
/// then on lands on it (a restarted service instance cannot even start: its migration
/// check writes). With `synchronous_standby_names` set on it (as required) it
/// acknowledges no write, having no standby: a challenge consumed on the new primary is
/// not accepted there (`store_unavailable`), nor is a registration. But its reads are
/// stale: a passkey deleted on the new primary is listed again, and a decision that only
/// reads (`withdrawals_locked_until`, `status`) would be made on an old state. Hence the
/// deployment requirement (README): the old primary is fenced before the standby is
/// promoted.
#[test]
fn an_unfenced_old_primary_acknowledges_nothing_but_serves_stale_reads() {
    let Some(script) = pair_script("an_unfenced_old_primary") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let url = pair.var("LATCHKEY_PAIR_URL");
    let w = world(url);
    let account = AccountId::new("split");
    let (mut e1, e2, e3) = (key(205, 1), key(205, 2), key(205, 3));
    for authenticator in [&e1, &e2] {
        w.register(&account, authenticator, Scope::Exchange, factors())
            .unwrap();
    }
    let login = block_on(
        w.passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    // The put's commit does not wait for the standby: let it arrive, so that the login can
    // finish on the new primary (a put lost in the failover refuses its login, which is
    // not what this test is about).
    wait_for_standby(&pair);

    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    // On the new primary, through the same multi-host store: the login consumes its
    // challenge, and e2 is deleted.
    let response = w.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let started = Instant::now();
    loop {
        match block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        ) {
            Ok(_) => break,
            Err(e)
                if e.code() == "store_unavailable"
                    && started.elapsed() < Duration::from_secs(20) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("login on the new primary: {e}"),
        }
    }
    block_on(
        w.passkeys
            .delete(&account, &id(&e2), &factors(), &w.context),
    )
    .unwrap();

    // A store connected now, while the old primary is dead, holds one connection, to the
    // new primary.
    let fresh = world(url);
    pair.run("LATCHKEY_PAIR_RESTART_PRIMARY");
    let restarted = PostgresStore::connect(url, options());
    let restarted = block_on(restarted).map(|_| ()).map_err(|e| e.to_string());
    // Concurrent reads need more connections: the new ones land on the old primary.
    let lists: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (fresh, account) = (&fresh, &account);
                scope.spawn(move || {
                    block_on(fresh.passkeys.list(account, Scope::Exchange)).map_or(0, |l| l.len())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stale = lists.iter().filter(|n| **n == 2).count();
    let replay = block_on(
        fresh
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &fresh.context)),
    );
    assert!(
        matches!(&replay, Err(e) if ["store_unavailable", "challenge_reused"].contains(&e.code())),
        "a challenge consumed on the new primary was accepted on the old one: {:?}",
        replay.map(|_| ())
    );
    let registered = fresh.register(&account, &e3, Scope::Exchange, factors());
    println!(
        "unfenced old primary back: a service instance starting then: {restarted:?}; \
         {stale} of 6 concurrent lists read the old primary (a deleted passkey listed again); \
         replaying a consumed challenge answered {:?}; a registration answered {:?}",
        replay.map(|_| ()).map_err(|e| e.code()),
        registered.as_ref().map(|_| ()).map_err(|e| e.code()),
    );
    // Whatever the old primary took, the new one does not have it.
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    assert!(
        registered.is_err()
            || block_on(after.passkeys.list(&account, Scope::Exchange))
                .unwrap()
                .iter()
                .any(|c| c.id == id(&e3)),
        "a registration acknowledged by the old primary is not on the new one"
    );
    drop((w, fresh, after));
}

/// Attack: connections that stop answering without closing (a partitioned primary whose
/// sockets stay open; here its backends are stopped with SIGSTOP while the server goes on
/// accepting new connections). An operation on such a connection times out
/// (`store_unavailable`); the connection must not go back into the pool for the next
/// operation to hang on, or the store never reaches a server that answers. Within a few
/// operation timeouts the same store answers again, on new connections.
#[test]
fn a_connection_that_stopped_answering_is_not_reused() {
    let Some(script) = pair_script("a_connection_that_stopped_answering") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let primary = pair.var("LATCHKEY_PAIR_PRIMARY_URL");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("hung");
    w.register(&account, &key(206, 1), Scope::Exchange, factors())
        .unwrap();
    let pids = psql(
        primary,
        "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity \
         WHERE datname = 'latchkey' AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    let signal = |signal: &str| {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args([signal, pid]).status();
        }
    };
    signal("-STOP");
    let started = Instant::now();
    let mut outcomes = Vec::new();
    let recovered = loop {
        let result = block_on(w.passkeys.list(&account, Scope::Exchange));
        outcomes.push(result.as_ref().map(|_| ()).map_err(|e| e.code()));
        if result.is_ok() {
            break Some(started.elapsed());
        }
        if started.elapsed() > options().operation_timeout * 4 {
            break None;
        }
    };
    signal("-CONT");
    println!(
        "hung connections (backends {pids} stopped): outcomes {outcomes:?}, answered again after {recovered:?}"
    );
    let recovered = recovered.expect("the store kept reusing connections that stopped answering");
    assert!(recovered < options().operation_timeout * 3, "{recovered:?}");
    drop(w);
}

/// Attack: an operation timeout shorter than the store's round trips. Many operations
/// answer `store_unavailable` after they committed (the ambiguity every caller of a remote
/// store lives with), the facade's conflict retries run on top, writers go on after each
/// one. No promise may depend on the timeout: every acknowledged change is there exactly
/// once, no scope emptied, no counter back, nothing consumed accepted again.
#[test]
fn a_short_operation_timeout_breaks_no_promise() {
    let Some(script) = pair_script("a_short_operation_timeout") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let url = pair.var("LATCHKEY_PAIR_URL");
    // Connected (and migrated) with the usual timeout first.
    drop(world(url));
    let mut short = options();
    short.operation_timeout = Duration::from_millis(20);
    // Connecting checks the schema in a transaction that writes: it may take a few tries.
    let store = (0..100)
        .find_map(|_| block_on(PostgresStore::connect(url, short.clone())).ok())
        .expect("never connected within 20 ms");
    let w = world_on(store);
    let stop = AtomicBool::new(false);
    let logs: Vec<Log> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                let (w, stop) = (&w, &stop);
                scope.spawn(move || writer(w, 150 + n, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_secs(4));
        stop.store(true, Ordering::Relaxed);
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for log in &logs {
        assert!(log.violations.is_empty(), "{:?}", log.violations);
    }
    let calls = logs.iter().flat_map(|l| l.calls.iter());
    let acknowledged = calls
        .clone()
        .filter(|c| c.2 == Outcome::Acknowledged)
        .count();
    let unavailable = calls.filter(|c| c.2 == Outcome::Unavailable).count();
    let after = world(url);
    let replayed = check(&after, &logs, 150);
    println!(
        "operation_timeout 20 ms: {acknowledged} calls acknowledged, {unavailable} store_unavailable; \
         every acknowledged change found once; replayed {} consumed challenges and {} redeemed \
         tokens, all refused",
        replayed.0, replayed.1
    );
    assert!(acknowledged > 0);
    drop((w, after));
}

/// Attack: a multi-host URL without `target_session_attrs=read-write` (libpq's default is
/// `any`: the first host that answers), naming the standby first, as it is after a failover
/// once the old primary has been rewound into a standby. Were the store to take the
/// standby, it would decide on a lagging state and fail every write. It connects to the
/// host that accepts writes whatever the URL says: the first registration is listed at
/// once, with the standby's replay paused.
#[test]
fn a_url_without_target_session_attrs_still_reaches_the_primary() {
    let Some(script) = pair_script("a_url_without_target_session_attrs") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let host = |key: &str| {
        let url = pair.var(key);
        let start = url.find('@').unwrap() + 1;
        let end = url[start..].find('/').unwrap() + start;
        url[start..end].to_owned()
    };
    let url = format!(
        "postgres://latchkey@{},{}/latchkey",
        host("LATCHKEY_PAIR_STANDBY_URL"),
        host("LATCHKEY_PAIR_PRIMARY_URL")
    );
    wait_for_standby(&pair);
    psql(&standby_maintenance(&pair), "SELECT pg_wal_replay_pause()");
    let store = block_on(PostgresStore::connect(&url, options()));
    let w = world_on(store.expect("connected to the standby, not the primary"));
    let account = AccountId::new("no-attrs");
    w.register(&account, &key(207, 1), Scope::Exchange, factors())
        .unwrap();
    assert_eq!(
        block_on(w.passkeys.list(&account, Scope::Exchange))
            .unwrap()
            .len(),
        1
    );
    psql(&standby_maintenance(&pair), "SELECT pg_wal_replay_resume()");
    drop(w);
}

/// Attack: an operator (or a tool) cancels the sessions waiting for the synchronous
/// standby, which is down. PostgreSQL then ends the wait and reports the commit as
/// successful ("might not have been replicated"): the store cannot tell, and the facade
/// acknowledges a registration the standby never had, which the failover loses. A
/// deployment requirement (README: never cancel a session waiting for the standby), shown
/// here.
#[test]
fn cancelling_a_session_waiting_for_the_standby_acknowledges_what_a_failover_loses() {
    let Some(script) = pair_script("cancelling_a_session_waiting_for_the_standby") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let primary = pair.var("LATCHKEY_PAIR_PRIMARY_URL");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("cancelled");
    let (e1, e2) = (key(208, 1), key(208, 2));
    w.register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    wait_for_standby(&pair);
    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let done = AtomicBool::new(false);
    let (registered, cancelled) = std::thread::scope(|scope| {
        let registration = scope.spawn(|| {
            let result = w.register(&account, &e2, Scope::Exchange, factors());
            done.store(true, Ordering::Relaxed);
            result
        });
        let mut cancelled = 0;
        while !done.load(Ordering::Relaxed) {
            cancelled += psql(
                primary,
                "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity \
                 WHERE wait_event = 'SyncRep'",
            )
            .parse::<usize>()
            .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        (registration.join().unwrap(), cancelled)
    });
    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let listed = block_on(after.passkeys.list(&account, Scope::Exchange)).unwrap();
    let kept = listed.iter().any(|c| c.id == id(&e2));
    println!(
        "cancelled {cancelled} waits for the standby: the registration answered {:?}, and is \
         on the new primary: {kept}",
        registered.as_ref().map(|_| ()).map_err(|e| e.code())
    );
    assert!(cancelled > 0);
    assert!(
        registered.is_ok() && !kept,
        "cancelled waits no longer acknowledge (update the README)"
    );
    drop((w, after));
}

/// Attack: the facade's conflict retries across the kill. Four writers log in to one
/// account, each with its own passkey, so appends conflict and the facade reloads and
/// decides again (up to 8 attempts); the primary is killed and the standby promoted
/// meanwhile. A retry must never turn one login into two events, nor one acknowledged
/// login into none: every acknowledged login's events are on the new primary exactly once,
/// each passkey's counter only goes up, and no consumed challenge is accepted again.
#[test]
fn conflict_retries_across_a_failover_never_double_or_drop_a_login() {
    let Some(script) = pair_script("conflict_retries_across_a_failover") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let mut w = world(pair.var("LATCHKEY_PAIR_URL"));
    w.passkeys = w
        .passkeys
        .with_pause(std::sync::Arc::new(latchkey::NoPause));
    let account = AccountId::new("crowd");
    let keys: Vec<Authenticator> = (1..=4).map(|n| key(209, n)).collect();
    for authenticator in &keys {
        w.register(&account, authenticator, Scope::Exchange, factors())
            .unwrap();
    }
    let stop = AtomicBool::new(false);
    let (logs, killed_at) = std::thread::scope(|scope| {
        let writers: Vec<_> = keys
            .into_iter()
            .map(|mut authenticator| {
                let (w, stop, account) = (&w, &stop, &account);
                scope.spawn(move || {
                    let mut log = Log::default();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let started = w
                            .passkeys
                            .start_authentication(account, Intent::Login, None);
                        let Some(options) = log.call(t, block_on(started)) else {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        };
                        let options = options.unwrap();
                        let response = w.answer(
                            &mut authenticator,
                            &options.challenge,
                            account,
                            Scope::Exchange,
                        );
                        let counter = authenticator.sign_count().unwrap_or(0);
                        let t = Instant::now();
                        let finished = w.passkeys.finish_authentication(FinishAuthentication::new(
                            &response, &w.context,
                        ));
                        match log.call(t, block_on(finished)) {
                            None => {}
                            Some(Ok(done)) => {
                                log.consumed.push(response);
                                log.events.push((account.clone(), done.events));
                                let max = log.counters.entry(id(&authenticator)).or_insert(0);
                                *max = (*max).max(counter);
                            }
                            Some(Err(e)) if e.code() == "store_conflict" => {
                                log.consumed.push(response);
                            }
                            Some(Err(e)) => {
                                log.consumed.push(response);
                                log.violations.push(format!("login refused: {e}"));
                            }
                        }
                    }
                    log
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(600));
        let killed_at = Instant::now();
        pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
        std::thread::sleep(Duration::from_millis(200));
        pair.run("LATCHKEY_PAIR_PROMOTE");
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        let logs: Vec<Log> = writers.into_iter().map(|h| h.join().unwrap()).collect();
        (logs, killed_at)
    });
    for log in &logs {
        assert!(log.violations.is_empty(), "{:?}", log.violations);
    }
    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let events = history(&after, &account);
    let mut logins = 0;
    for (_, acknowledged) in logs.iter().flat_map(|l| &l.events) {
        for event in acknowledged {
            let found = events.iter().filter(|e| *e == event).count();
            assert_eq!(found, 1, "acknowledged {event:?} found {found} times");
            logins += 1;
        }
    }
    // Counters: each passkey's only go up along the history, and end at least at the
    // highest acknowledged.
    let mut state = AccountState::default();
    let mut last: HashMap<CredentialId, u32> = HashMap::new();
    for event in &events {
        state = apply(state, std::slice::from_ref(event));
        if let EventKind::Used { credential, .. } = &event.kind {
            let counter = state.credential(credential).map_or(0, |c| c.sign_count);
            let previous = last.insert(credential.clone(), counter).unwrap_or(0);
            assert!(counter >= previous, "a counter went back");
        }
    }
    for log in &logs {
        for (credential, counter) in &log.counters {
            assert!(state.credential(credential).unwrap().sign_count >= *counter);
        }
        for response in &log.consumed {
            let replay = block_on(
                after
                    .passkeys
                    .finish_authentication(FinishAuthentication::new(response, &after.context)),
            );
            assert_eq!(replay.unwrap_err().code(), "challenge_reused");
        }
    }
    let calls = logs.iter().flat_map(|l| l.calls.iter());
    let unavailable = calls
        .clone()
        .filter(|c| c.2 == Outcome::Unavailable)
        .count();
    let in_flight = calls
        .clone()
        .filter(|(start, end, _)| *start < killed_at && *end > killed_at)
        .count();
    println!(
        "conflict retries across a failover: {} calls, {logins} acknowledged login events found \
         once each, {in_flight} in flight at the kill, {unavailable} store_unavailable",
        calls.count()
    );
    assert!(unavailable > 0);
    drop((w, after));
}

/// The same split brain with asynchronous replication: the unfenced old primary has no
/// synchronous standby to wait for, so it acknowledges writes. A store connecting after
/// it came back lands on it: a login challenge consumed on the new primary is accepted
/// there a second time (P16). Fencing is the deployment's job (README).
#[test]
fn an_unfenced_asynchronous_old_primary_accepts_what_the_new_one_consumed() {
    let Some(script) = pair_script("an_unfenced_asynchronous_old_primary") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "async");
    let url = pair.var("LATCHKEY_PAIR_URL");
    let w = world(url);
    let account = AccountId::new("split-async");
    let (mut e1, e2) = (key(210, 1), key(210, 2));
    for authenticator in [&e1, &e2] {
        w.register(&account, authenticator, Scope::Exchange, factors())
            .unwrap();
    }
    let login = block_on(
        w.passkeys
            .start_authentication(&account, Intent::Login, None),
    )
    .unwrap();
    wait_for_standby(&pair);
    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let response = w.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let started = Instant::now();
    loop {
        match block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        ) {
            Ok(_) => break,
            Err(e)
                if e.code() == "store_unavailable"
                    && started.elapsed() < Duration::from_secs(20) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("login on the new primary: {e}"),
        }
    }
    pair.run("LATCHKEY_PAIR_RESTART_PRIMARY");
    let fresh = world(url);
    let replay = block_on(
        fresh
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &fresh.context)),
    );
    println!(
        "unfenced asynchronous old primary: a challenge consumed on the new primary, replayed \
         through a store connected afterwards, answered {:?}",
        replay.as_ref().map(|_| ()).map_err(|e| e.code())
    );
    assert!(
        replay.is_ok(),
        "the unfenced old primary refused the replay (update the README)"
    );
    drop((w, fresh));
}

/// Attack: the old primary hangs instead of dying (SIGSTOP: its sockets stay open, it
/// accepts connections and answers nothing) and the standby is promoted. Nothing is
/// acknowledged meanwhile, but the store cannot reach the new primary either: it names the
/// old one first, and tokio-postgres's `connect_timeout` covers the socket-level connection,
/// not the startup that never gets an answer, so every new connection waits out
/// `Options::timeout` on the old primary and never tries the next host. Once the old
/// primary is fenced (killed), the same store answers again. A deployment requirement
/// (README): fence the old primary.
#[test]
fn a_hung_old_primary_must_be_fenced_before_the_store_reaches_the_new_one() {
    let Some(script) = pair_script("a_hung_old_primary") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("hung-primary");
    w.register(&account, &key(211, 1), Scope::Exchange, factors())
        .unwrap();
    // The primary's postmaster and its children, from the pair's directory.
    let dir = std::path::Path::new(pair.var("LATCHKEY_PAIR_KILL_PRIMARY"))
        .parent()
        .unwrap()
        .to_owned();
    let pid_file = std::fs::read_to_string(dir.join("primary/postmaster.pid")).unwrap();
    let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
    let children = Command::new("ps")
        .args(["-o", "pid=", "--ppid", &postmaster])
        .output()
        .unwrap();
    let mut pids: Vec<String> = String::from_utf8(children.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    pids.push(postmaster);
    let signal = |signal: &str| {
        for pid in &pids {
            let _ = Command::new("kill").args([signal, pid]).status();
        }
    };
    signal("-STOP");
    pair.run("LATCHKEY_PAIR_PROMOTE");
    let frozen = Instant::now();
    let mut while_hung = Vec::new();
    while frozen.elapsed() < options().operation_timeout * 2 {
        let result = block_on(w.passkeys.list(&account, Scope::Exchange));
        while_hung.push(result.map(|_| ()).map_err(|e| e.code()));
    }
    // Fenced: killed (a stopped process dies of SIGKILL, its sockets close).
    signal("-KILL");
    let fenced = Instant::now();
    let recovered = loop {
        if block_on(w.passkeys.list(&account, Scope::Exchange)).is_ok() {
            break Some(fenced.elapsed());
        }
        if fenced.elapsed() > options().operation_timeout * 3 {
            break None;
        }
    };
    println!(
        "hung old primary: {} calls while it hung after the promotion, {} acknowledged; \
         fenced, the store answered again after {recovered:?}",
        while_hung.len(),
        while_hung.iter().filter(|r| r.is_ok()).count()
    );
    assert!(
        while_hung.iter().all(|r| *r == Err("store_unavailable")),
        "reached the new primary past a hung old one (update the README): {while_hung:?}"
    );
    assert!(recovered.is_some(), "fenced, the old primary still blocks");
    drop(w);
}

/// The trade-off of a challenge put that does not wait (`Options::synchronous_challenge_puts`
/// off, the default): with the synchronous standby stopped, a login's start is still
/// answered at once (the put waits for nobody) while every take and append waits. The
/// primary dies before the standby has the put; on the promoted standby the challenge was
/// never issued, so the finish is refused `challenge_mismatch`, leaves no event, and the
/// user starts again and signs in. With synchronous puts the start itself is refused
/// (`store_unavailable`) while the standby is away.
#[test]
fn a_challenge_put_lost_in_a_failover_refuses_its_login_and_nothing_else() {
    let Some(script) = pair_script("a_challenge_put_lost_in_a_failover") else {
        return;
    };
    let _pairs = PAIRS.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::start(&script, "sync");
    let w = world(pair.var("LATCHKEY_PAIR_URL"));
    let account = AccountId::new("lost-put");
    let mut e1 = key(206, 1);
    w.register(&account, &e1, Scope::Exchange, factors())
        .unwrap();
    // Connected now: connecting runs the migration check, a write.
    let mut strict = options();
    strict.synchronous_challenge_puts = true;
    let careful = world_on(
        block_on(PostgresStore::connect(
            pair.var("LATCHKEY_PAIR_URL"),
            strict,
        ))
        .unwrap(),
    );
    wait_for_standby(&pair);
    let before = history(&w, &account);

    pair.run("LATCHKEY_PAIR_STOP_STANDBY");
    let login = block_on(w.passkeys.start_login(Some(&account)))
        .expect("a put that does not wait is answered without the standby");
    let waited = block_on(careful.passkeys.start_login(Some(&account)));
    assert_eq!(
        waited.map(|_| ()).map_err(|e| e.code()),
        Err("store_unavailable"),
        "a synchronous put was acknowledged without the standby"
    );
    pair.run("LATCHKEY_PAIR_KILL_PRIMARY");
    pair.run("LATCHKEY_PAIR_START_STANDBY");
    pair.run("LATCHKEY_PAIR_PROMOTE");

    let after = world(pair.var("LATCHKEY_PAIR_STANDBY_URL"));
    let response = after.answer(&mut e1, &login.challenge, &account, Scope::Exchange);
    let finished = block_on(
        after
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &after.context)),
    );
    assert_eq!(
        finished.map(|_| ()).map_err(|e| e.code()),
        Err("challenge_mismatch"),
        "a challenge the new primary never had"
    );
    assert_eq!(history(&after, &account), before);
    after
        .authenticate(&account, &mut e1, Scope::Exchange, Intent::Login, None)
        .expect("starting again signs in");
    drop((w, careful, after));
}
