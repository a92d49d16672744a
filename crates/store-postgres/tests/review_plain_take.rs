//! Attacks on `take_challenge_and_append`'s plain-SQL path (`TAKE_AND_APPEND_EVENTS`,
//! chosen when an append only adds events) and its mix with the PL/pgSQL function path
//! (`latchkey_take_and_append`), through the `Store` trait on `PostgresStore`.
//!
//! Each test asserts a rule (P16 single use, optimistic appends, one event per version,
//! `state` = fold of the log, no panic, no error reported as success), not the current
//! behaviour. Without `LATCHKEY_POSTGRES_URL` they say so and pass, unless
//! `LATCHKEY_REQUIRE_POSTGRES` is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use latchkey_policy::{
    AccountState, Actor, Command, CredentialId, Event, EventKind, Intent, PolicyConfig,
    RequestContext, Scope, StepUpKind, Timestamp, apply, decide,
};
use latchkey_store::conformance::{block_on, registration_with_key};
use latchkey_store::{
    AccountId, ChallengeRecord, Store, StoreError, TakeAndAppend, Taken, Versioned,
};
use latchkey_store_postgres::{Options, PostgresStore};

const T0: Timestamp = Timestamp(1_767_225_600);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A store on a fresh schema with room for racers, and the schema's name.
fn fresh(url: &str, test: &str, connections: usize) -> (Arc<PostgresStore>, String) {
    let schema = common::fresh_schema(test);
    let mut options = Options::default();
    options.schema = Some(schema.clone());
    options.max_connections = connections;
    let store = block_on(PostgresStore::connect(url, options)).expect("connect to the server");
    (Arc::new(store), schema)
}

fn drop_store(store: Arc<PostgresStore>) {
    let store = Arc::try_unwrap(store).expect("no racer holds the store any more");
    block_on(store.drop_schema()).expect("drop the test schema");
}

fn challenge(bytes: [u8; 32], expires_at: Timestamp) -> ChallengeRecord {
    ChallengeRecord {
        challenge: bytes.to_vec(),
        expires_at,
        binding: b"review".to_vec(),
    }
}

/// 32 bytes naming challenge `n` of `round`.
fn ch(round: u32, n: u32) -> [u8; 32] {
    let mut bytes = [0xc5; 32];
    bytes[..4].copy_from_slice(&round.to_be_bytes());
    bytes[4..8].copy_from_slice(&n.to_be_bytes());
    bytes
}

fn cred(n: u32) -> CredentialId {
    let mut id = vec![0x5a; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    CredentialId::new(id)
}

/// A `Registered` event for credential `n` with its own public key, made from the
/// conformance suite's registration (the store does not judge it: no policy here).
fn registered(template: &Event, n: u32) -> Event {
    let mut event = template.clone();
    match &mut event.kind {
        EventKind::Registered { credential } => {
            credential.id = cred(n);
            let mut key = b"review-key-".to_vec();
            key.extend_from_slice(&n.to_be_bytes());
            credential.public_key = key;
        }
        other => panic!("template is not a registration: {other:?}"),
    }
    event
}

/// The `Registered` event template (credential id 8 in the conformance suite).
fn template(store: &PostgresStore) -> Event {
    let (_, events) = registration_with_key(store, &AccountId::new("template-scratch"), b"tpl");
    events
        .into_iter()
        .find(|e| matches!(e.kind, EventKind::Registered { .. }))
        .expect("a registration event")
}

/// A login's `Used` event for credential `n`.
fn used(n: u32, sign_count: u32) -> Event {
    Event {
        at: T0,
        scope: Scope::Exchange,
        context: RequestContext::default(),
        kind: EventKind::Used {
            credential: cred(n),
            intent: Intent::Login,
            sign_count,
            backed_up: true,
        },
    }
}

fn renamed(n: u32, name: &str) -> Event {
    Event {
        at: T0,
        scope: Scope::Exchange,
        context: RequestContext::default(),
        kind: EventKind::Renamed {
            credential: cred(n),
            name: name.to_owned(),
        },
    }
}

fn deleted(n: u32) -> Event {
    Event {
        at: T0,
        scope: Scope::Exchange,
        context: RequestContext::default(),
        kind: EventKind::Deleted {
            credential: cred(n),
            step_up: StepUpKind::Factors,
            replaced_by: None,
        },
    }
}

fn operator() -> RequestContext {
    RequestContext {
        actor: Actor::Operator("ops-review".into()),
        ..RequestContext::default()
    }
}

/// The events an operator's revocation of credential `n` decides on `state`.
fn revocation(state: &AccountState, n: u32) -> Vec<Event> {
    decide(
        state,
        &Command::RevokeCompromised {
            credential: cred(n),
            reason: "phished".into(),
        },
        T0,
        &operator(),
        &PolicyConfig::default(),
    )
    .expect("the revocation is decided")
    .events
}

/// Appends `events` at the current version (setup, no race).
fn setup_append(
    store: &PostgresStore,
    who: &AccountId,
    events: &[Event],
) -> Versioned<AccountState> {
    let loaded = block_on(store.load(who)).expect("load");
    block_on(store.append_loaded(who, &loaded, events)).expect("setup append");
    block_on(store.load(who)).expect("load after setup")
}

fn version_of(events: usize) -> u64 {
    u64::try_from(events).unwrap()
}

/// (count, min seq, max seq) of the account's rows in `events`, read with SQL.
fn seqs(url: &str, schema: &str, who: &AccountId) -> (i64, i64, i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("raw connection");
        let task = tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path TO \"{schema}\""))
            .await
            .unwrap();
        let row = client
            .query_one(
                "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0)
                     FROM events WHERE account = $1",
                &[&who.as_str()],
            )
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
        (row.get(0), row.get(1), row.get(2))
    })
}

/// The log rules: one event per version, numbered 1..=version with no gap, and the stored
/// state equal to the fold of the history.
fn assert_log_consistent(
    url: &str,
    schema: &str,
    store: &PostgresStore,
    who: &AccountId,
    what: &str,
) {
    let loaded = block_on(store.load(who)).expect("load");
    let history = block_on(store.history(who)).expect("history");
    assert_eq!(
        version_of(history.len()),
        loaded.version,
        "{what}: one event per version"
    );
    let (count, min, max) = seqs(url, schema, who);
    let version = i64::try_from(loaded.version).unwrap();
    assert_eq!(
        (count, min, max),
        (version, i64::from(version > 0), version),
        "{what}: events numbered 1..=version without gaps"
    );
    assert_eq!(
        apply(AccountState::default(), &history),
        loaded.value,
        "{what}: the state column is the fold of the events"
    );
}

fn is_used(taken: &Taken) -> bool {
    matches!(taken, Taken::Used { .. })
}

// ---------------------------------------------------------------------------------------
// Attacks
// ---------------------------------------------------------------------------------------

/// P16 across both paths: many racers answer ONE challenge on one state, some with an
/// append that only adds events (plain SQL: a login's `Used`, a rename, two uses), some
/// registering a passkey (the PL/pgSQL function), one appending nothing (the function
/// with no events). Exactly one may find the challenge fresh; every other must get
/// `NotFresh(Used)`; the winner's events alone are appended and the log stays whole.
#[test]
fn mixed_path_racers_on_one_challenge_exactly_one_wins() {
    let Some(url) = common::url("mixed_path_racers_on_one_challenge") else {
        return;
    };
    const RACERS: u32 = 10;
    let (store, schema) = fresh(&url, "mixone", 16);
    let tpl = template(&store);
    let mut failures = Vec::new();
    for round in 0..12u32 {
        let who = AccountId::new(format!("mixone-{round}"));
        // Credential ids are store-wide (P15): each account has its own.
        let c1 = (round + 1) * 100_000;
        setup_append(&store, &who, &[registered(&tpl, c1)]);
        let loaded = block_on(store.load(&who)).unwrap();
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, who, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    who.clone(),
                    loaded.clone(),
                );
                let events = match n % 5 {
                    0 | 3 => vec![used(c1, n + 1)],
                    1 => vec![registered(&tpl, c1 + 1 + n)],
                    2 => vec![renamed(c1, &format!("racer {n}"))],
                    _ if n == 4 => Vec::new(),
                    _ => vec![used(c1, n + 1), used(c1, n + 2)],
                };
                thread::spawn(move || {
                    start.wait();
                    let got = block_on(store.take_challenge_and_append(
                        &ch(round, 0),
                        &who,
                        &loaded,
                        &events,
                    ));
                    (events, got)
                })
            })
            .collect();
        let results: Vec<(Vec<Event>, Result<TakeAndAppend, StoreError>)> =
            racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(TakeAndAppend::Appended(_))))
            .collect();
        let others_used = results.iter().all(|(_, r)| {
            matches!(
                r,
                Ok(TakeAndAppend::Appended(_) | TakeAndAppend::NotFresh(Taken::Used { .. }))
            )
        });
        if winners.len() != 1 || !others_used {
            let outcomes: Vec<_> = results.iter().map(|(_, r)| r.clone()).collect();
            failures.push(format!("round {round}: {outcomes:?}"));
            continue;
        }
        let (events, _) = winners[0];
        let after = block_on(store.load(&who)).unwrap();
        if after.version != loaded.version + version_of(events.len())
            || after.value != apply(loaded.value.clone(), events)
        {
            failures.push(format!(
                "round {round}: winner appended {} events but version {} -> {}",
                events.len(),
                loaded.version,
                after.version
            ));
        }
        for (events, _) in &results {
            for event in events {
                if let EventKind::Registered { credential } = &event.kind {
                    let owner = block_on(store.account_of(&credential.id)).unwrap();
                    let won = std::ptr::eq(events, &winners[0].0);
                    if owner.is_some() != won {
                        failures.push(format!(
                            "round {round}: credential index says {owner:?} for a racer that won={won}"
                        ));
                    }
                }
            }
        }
        assert_log_consistent(&url, &schema, &store, &who, &format!("round {round}"));
        assert!(is_used(
            &block_on(store.take_challenge(&ch(round, 0))).unwrap()
        ));
    }
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// P16 across the three ways to consume a challenge: bare takes (`take_challenge`, as a
/// refusal spends it), takes with the owner, and plain take-and-appends, all racing on
/// ONE challenge. Exactly one may find it fresh (`Fresh` or `Appended`); the append
/// happens only if a take-and-append was that one.
#[test]
fn bare_takes_racing_plain_take_and_appends_on_one_challenge() {
    let Some(url) = common::url("bare_takes_racing_plain_take_and_appends") else {
        return;
    };
    const RACERS: u32 = 9;
    let (store, schema) = fresh(&url, "bare", 16);
    let tpl = template(&store);
    let who = AccountId::new("bare");
    setup_append(&store, &who, &[registered(&tpl, 1)]);
    let mut failures = Vec::new();
    let mut appends_won = 0;
    for round in 0..20u32 {
        let loaded = block_on(store.load(&who)).unwrap();
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, who, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    who.clone(),
                    loaded.clone(),
                );
                thread::spawn(move || {
                    start.wait();
                    match n % 3 {
                        0 => match block_on(store.take_challenge(&ch(round, 0))).unwrap() {
                            Taken::Fresh(_) => "fresh",
                            Taken::Used { .. } => "used",
                            Taken::Unknown => "unknown",
                        },
                        1 => {
                            match block_on(store.take_challenge_and_owner(&ch(round, 0), &cred(1)))
                                .unwrap()
                            {
                                (Taken::Fresh(_), Some(_)) => "fresh",
                                (Taken::Fresh(_), None) => "fresh without owner",
                                (Taken::Used { .. }, _) => "used",
                                (Taken::Unknown, _) => "unknown",
                            }
                        }
                        _ => match block_on(store.take_challenge_and_append(
                            &ch(round, 0),
                            &who,
                            &loaded,
                            &[used(1, round * 10 + n)],
                        ))
                        .unwrap()
                        {
                            TakeAndAppend::Appended(_) => "appended",
                            TakeAndAppend::Conflict { .. } => "conflict",
                            TakeAndAppend::NotFresh(Taken::Used { .. }) => "used",
                            TakeAndAppend::NotFresh(_) => "unknown",
                        },
                    }
                })
            })
            .collect();
        let results: Vec<&str> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results
            .iter()
            .filter(|r| matches!(**r, "fresh" | "appended"))
            .count();
        let appended = results.iter().filter(|r| **r == "appended").count();
        appends_won += appended;
        if winners != 1
            || results
                .iter()
                .any(|r| !matches!(*r, "fresh" | "appended" | "used"))
        {
            failures.push(format!("round {round}: {results:?}"));
        }
        let after = block_on(store.load(&who)).unwrap();
        if after.version != loaded.version + version_of(appended) {
            failures.push(format!(
                "round {round}: version {} -> {}",
                loaded.version, after.version
            ));
        }
    }
    eprintln!("a take-and-append won {appends_won} of 20 rounds");
    assert_log_consistent(&url, &schema, &store, &who, "bare");
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Optimistic appends across both paths: racers each with a challenge of their own
/// append on the SAME loaded state (plain: uses and renames; function: registrations and
/// deletions). Exactly one may append; every other must take its challenge and get
/// `Conflict` (never `Appended` on a stale version, never `NotFresh`), and the log must
/// hold exactly the winner's events.
#[test]
fn racers_each_with_own_challenge_on_one_state_one_appends() {
    let Some(url) = common::url("racers_each_with_own_challenge") else {
        return;
    };
    const RACERS: u32 = 10;
    let (store, schema) = fresh(&url, "ownch", 16);
    let tpl = template(&store);
    let who = AccountId::new("ownch");
    setup_append(&store, &who, &[registered(&tpl, 1), registered(&tpl, 2)]);
    let mut failures = Vec::new();
    for round in 0..15u32 {
        let loaded = block_on(store.load(&who)).unwrap();
        for n in 0..RACERS {
            block_on(store.put_challenge(challenge(ch(round, n), Timestamp(T0.0 + 300)))).unwrap();
        }
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, who, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    who.clone(),
                    loaded.clone(),
                );
                let events = match n % 4 {
                    0 => vec![used(1, round * 100 + n)],
                    1 => vec![registered(&tpl, 1000 + round * RACERS + n)],
                    2 => vec![renamed(2, &format!("r{round}n{n}"))],
                    // A deletion only of a passkey the state holds; else a use.
                    _ if loaded.value.credential(&cred(2)).is_some() && n == 3 => {
                        vec![deleted(2)]
                    }
                    _ => vec![used(1, round * 100 + n), used(1, round * 100 + n + 1)],
                };
                thread::spawn(move || {
                    start.wait();
                    let got = block_on(store.take_challenge_and_append(
                        &ch(round, n),
                        &who,
                        &loaded,
                        &events,
                    ));
                    (events, got)
                })
            })
            .collect();
        let results: Vec<(Vec<Event>, Result<TakeAndAppend, StoreError>)> =
            racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(TakeAndAppend::Appended(_))))
            .collect();
        let rest_conflict = results.iter().all(|(_, r)| {
            matches!(
                r,
                Ok(TakeAndAppend::Appended(_) | TakeAndAppend::Conflict { .. })
            )
        });
        if winners.len() != 1 || !rest_conflict {
            let outcomes: Vec<_> = results.iter().map(|(_, r)| r.clone()).collect();
            failures.push(format!("round {round}: {outcomes:?}"));
        }
        if let Some((events, _)) = winners.first() {
            let after = block_on(store.load(&who)).unwrap();
            if after.version != loaded.version + version_of(events.len()) {
                failures.push(format!(
                    "round {round}: version {} -> {} for a winner of {} events",
                    loaded.version,
                    after.version,
                    events.len()
                ));
            }
        }
        for n in 0..RACERS {
            let taken = block_on(store.take_challenge(&ch(round, n))).unwrap();
            if !is_used(&taken) {
                failures.push(format!("round {round}: racer {n}'s challenge is {taken:?}"));
            }
        }
        assert_log_consistent(&url, &schema, &store, &who, &format!("round {round}"));
    }
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Runs `rounds` optimistic races of `RACERS` takers, each with its own challenge, on one
/// state; `events(round, n, loaded)` is racer n's append. Returns (conflicts, the
/// conflicts that claimed `actual == expected`).
fn conflicts_claiming_no_move(
    url: &str,
    tag: &str,
    rounds: u32,
    events: fn(&Event, u32, u32) -> Vec<Event>,
) -> (usize, Vec<String>) {
    const RACERS: u32 = 8;
    let (store, schema) = fresh(url, tag, 16);
    let tpl = template(&store);
    let who = AccountId::new(tag);
    setup_append(&store, &who, &[registered(&tpl, 1)]);
    let mut wrong = Vec::new();
    let mut conflicts = 0usize;
    for round in 0..rounds {
        let loaded = block_on(store.load(&who)).unwrap();
        for n in 0..RACERS {
            block_on(store.put_challenge(challenge(ch(round, n), Timestamp(T0.0 + 300)))).unwrap();
        }
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, who, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    who.clone(),
                    loaded.clone(),
                );
                let events = events(&tpl, round, n);
                thread::spawn(move || {
                    start.wait();
                    block_on(store.take_challenge_and_append(&ch(round, n), &who, &loaded, &events))
                        .unwrap()
                })
            })
            .collect();
        for result in racers.into_iter().map(|t| t.join().unwrap()) {
            if let TakeAndAppend::Conflict { expected, actual } = result {
                conflicts += 1;
                if actual == expected {
                    wrong.push(format!(
                        "round {round}: Conflict {{ expected: {expected}, actual: {actual} }} \
                         while the store holds {}",
                        block_on(store.load(&who)).unwrap().version
                    ));
                }
            }
        }
    }
    assert_log_consistent(url, &schema, &store, &who, "after the races");
    drop_store(store);
    (conflicts, wrong)
}

/// `TakeAndAppend::Conflict::actual` is documented as "the version the store holds". A
/// racer that loses an optimistic race on the plain path only conflicts once the winner
/// has committed (it queued on the row lock, or saw the new row), so the store then
/// holds `expected + 1`: a conflict claiming `actual == expected` is a false report (the
/// function path reads the locked row: see the next test).
#[test]
fn plain_path_conflict_reports_the_version_the_store_holds() {
    let Some(url) = common::url("plain_path_conflict_reports_actual") else {
        return;
    };
    let (conflicts, wrong) = conflicts_claiming_no_move(&url, "actualplain", 25, |_, round, n| {
        vec![used(1, round * 10 + n)]
    });
    // A conflict whose account does not exist at all says 0, as the function path does.
    let (store, _) = fresh(&url, "actualghost", 2);
    block_on(store.put_challenge(challenge(ch(999, 0), Timestamp(T0.0 + 300)))).unwrap();
    let stale = Versioned {
        version: 4,
        value: AccountState::default(),
    };
    let got = block_on(store.take_challenge_and_append(
        &ch(999, 0),
        &AccountId::new("ghost"),
        &stale,
        &[used(1, 1)],
    ))
    .unwrap();
    assert_eq!(
        got,
        TakeAndAppend::Conflict {
            expected: 4,
            actual: 0
        }
    );
    drop_store(store);
    eprintln!(
        "{conflicts} conflicts, {} claiming actual == expected",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {conflicts}: {wrong:#?}",
        wrong.len()
    );
}

/// The control for the test above: the same races through the PL/pgSQL function (each
/// racer registers a passkey) report the version the store holds.
#[test]
fn function_path_conflict_reports_the_version_the_store_holds() {
    let Some(url) = common::url("function_path_conflict_reports_actual") else {
        return;
    };
    let (conflicts, wrong) = conflicts_claiming_no_move(&url, "actualfn", 25, |tpl, round, n| {
        vec![registered(tpl, 10_000 + round * 10 + n)]
    });
    eprintln!(
        "{conflicts} conflicts, {} claiming actual == expected",
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {conflicts}: {wrong:#?}",
        wrong.len()
    );
}

/// P16 with the purge: a purge racing takes of expired challenges. Each take either wins
/// before the purge (appended, challenge then purged) or finds it gone (`Unknown`, nothing
/// appended); never `Used` for a challenge nobody else answered, never an append without
/// its take, never two. A purge never removes a challenge whose deadline has not passed.
#[test]
fn purge_racing_plain_takes() {
    let Some(url) = common::url("purge_racing_plain_takes") else {
        return;
    };
    const TAKERS: u32 = 8;
    let (store, schema) = fresh(&url, "purge", 16);
    let tpl = template(&store);
    let mut failures = Vec::new();
    let mut unknown = 0usize;
    for round in 0..15u32 {
        let accounts: Vec<AccountId> = (0..TAKERS)
            .map(|n| AccountId::new(format!("purge-{round}-{n}")))
            .collect();
        for (n, who) in (0..TAKERS).zip(&accounts) {
            setup_append(&store, who, &[registered(&tpl, (round + 1) * 100_000 + n)]);
            // Odd takers' challenges are not expired: the purge must leave them.
            let deadline = if n % 2 == 0 { T0.0 - 1 } else { T0.0 + 300 };
            block_on(store.put_challenge(challenge(ch(round, n), Timestamp(deadline)))).unwrap();
        }
        let start = Arc::new(Barrier::new(TAKERS as usize + 1));
        let purger = {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                block_on(store.purge_challenges(T0)).unwrap()
            })
        };
        let takers: Vec<_> = (0..TAKERS)
            .map(|n| {
                let (store, start, who) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    accounts[n as usize].clone(),
                );
                thread::spawn(move || {
                    let loaded = block_on(store.load(&who)).unwrap();
                    start.wait();
                    block_on(store.take_challenge_and_append(
                        &ch(round, n),
                        &who,
                        &loaded,
                        &[used((round + 1) * 100_000 + n, n + 1)],
                    ))
                })
            })
            .collect();
        let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        let purged = purger.join().unwrap();
        unknown += results
            .iter()
            .filter(|r| matches!(r, Ok(TakeAndAppend::NotFresh(Taken::Unknown))))
            .count();
        for ((n, who), result) in (0..TAKERS).zip(&accounts).zip(&results) {
            let version = block_on(store.load(who)).unwrap().version;
            let fine = match result {
                Ok(TakeAndAppend::Appended(v)) => *v == 2 && version == 2,
                Ok(TakeAndAppend::NotFresh(Taken::Unknown)) => n % 2 == 0 && version == 1,
                _ => false,
            };
            if !fine {
                failures.push(format!(
                    "round {round} taker {n}: {result:?}, version now {version}, purged {purged}"
                ));
            }
            assert_log_consistent(
                &url,
                &schema,
                &store,
                who,
                &format!("round {round} taker {n}"),
            );
        }
        // Every challenge is spent or gone: a second answer never passes.
        for n in 0..TAKERS {
            let again = block_on(store.take_challenge(&ch(round, n))).unwrap();
            let expected_kind = if n % 2 == 0 {
                matches!(again, Taken::Unknown | Taken::Used { .. })
            } else {
                is_used(&again)
            };
            if !expected_kind {
                failures.push(format!("round {round} taker {n}: then {again:?}"));
            }
        }
    }
    eprintln!("{unknown} of 60 expired challenges were purged before their take");
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An append that "only adds events" on an account that does not exist, with an expected
/// version above 0 (the plain path): nothing may be created (no account row, no events),
/// the answer must be a conflict (never `Appended`), and the challenge is spent.
#[test]
fn plain_append_on_a_missing_account_creates_nothing() {
    let Some(url) = common::url("plain_append_on_a_missing_account") else {
        return;
    };
    let (store, schema) = fresh(&url, "ghost", 4);
    let ghost = AccountId::new("ghost");
    for (i, expected) in [1u64, 2, 7, 1 << 40].into_iter().enumerate() {
        let round = u32::try_from(i).unwrap();
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        // A state that claims passkeys, as a forged or stale caller could pass.
        let mut state = AccountState::default();
        state = apply(state, &[registered(&template(&store), 1)]);
        let loaded = Versioned {
            version: expected,
            value: state,
        };
        let got = block_on(store.take_challenge_and_append(
            &ch(round, 0),
            &ghost,
            &loaded,
            &[used(1, 1), used(1, 2)],
        ));
        assert!(
            matches!(got, Ok(TakeAndAppend::Conflict { expected: e, .. }) if e == expected),
            "expected {expected}: {got:?}"
        );
        assert_eq!(
            block_on(store.load(&ghost)).unwrap(),
            Versioned {
                version: 0,
                value: AccountState::default()
            },
            "expected {expected}: nothing created"
        );
        assert!(block_on(store.history(&ghost)).unwrap().is_empty());
        assert!(
            is_used(&block_on(store.take_challenge(&ch(round, 0))).unwrap()),
            "expected {expected}: the challenge is spent by the conflict"
        );
    }
    assert_log_consistent(&url, &schema, &store, &ghost, "ghost");
    drop_store(store);
}

/// Expected versions far ahead of the account (and at the edge of i64 / u64): never
/// `Appended`, never a panic, nothing changed; a plain conflict names the real version.
#[test]
fn expected_version_far_ahead_or_out_of_range() {
    let Some(url) = common::url("expected_version_far_ahead") else {
        return;
    };
    let (store, schema) = fresh(&url, "ahead", 4);
    let tpl = template(&store);
    let who = AccountId::new("ahead");
    let base = setup_append(&store, &who, &[registered(&tpl, 1), used(1, 1)]);
    let edges = [
        base.version + 1,
        base.version + 100,
        u64::try_from(i64::MAX).unwrap() - 1,
        u64::try_from(i64::MAX).unwrap(),
        u64::try_from(i64::MAX).unwrap() + 1,
        u64::MAX,
    ];
    for (i, expected) in edges.into_iter().enumerate() {
        let round = u32::try_from(i).unwrap();
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        let loaded = Versioned {
            version: expected,
            value: base.value.clone(),
        };
        let got =
            block_on(store.take_challenge_and_append(&ch(round, 0), &who, &loaded, &[used(1, 7)]));
        match &got {
            Ok(TakeAndAppend::Conflict {
                expected: e,
                actual,
            }) => {
                assert_eq!(*e, expected, "{got:?}");
                assert_eq!(*actual, base.version, "expected {expected}: {got:?}");
            }
            Err(StoreError::Unavailable(_) | StoreError::Conflict { .. }) => {}
            other => panic!("expected {expected}: {other:?}"),
        }
        assert_eq!(
            block_on(store.load(&who)).unwrap(),
            base,
            "expected {expected}"
        );
        // Also the plain append (no challenge).
        let plain = block_on(store.append_loaded(&who, &loaded, &[used(1, 8)]));
        assert!(
            matches!(
                plain,
                Err(StoreError::Conflict { .. } | StoreError::Unavailable(_))
            ),
            "append_loaded at {expected}: {plain:?}"
        );
        assert_eq!(
            block_on(store.load(&who)).unwrap(),
            base,
            "expected {expected}"
        );
    }
    assert_log_consistent(&url, &schema, &store, &who, "ahead");
    drop_store(store);
}

/// Empty event lists (the function path, with no events): at the current version the
/// challenge is spent and nothing is appended (the version stays); at a stale version a
/// conflict; never a version moved without an event.
#[test]
fn empty_event_lists_append_nothing() {
    let Some(url) = common::url("empty_event_lists") else {
        return;
    };
    let (store, schema) = fresh(&url, "empty", 4);
    let tpl = template(&store);
    let who = AccountId::new("empty");
    let base = setup_append(&store, &who, &[registered(&tpl, 1), used(1, 1)]);
    block_on(store.put_challenge(challenge(ch(0, 0), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 0), &who, &base, &[])).unwrap();
    assert_eq!(got, TakeAndAppend::Appended(base.version));
    assert!(is_used(&block_on(store.take_challenge(&ch(0, 0))).unwrap()));
    let stale = Versioned {
        version: base.version - 1,
        value: AccountState::default(),
    };
    block_on(store.put_challenge(challenge(ch(0, 1), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 1), &who, &stale, &[])).unwrap();
    assert!(matches!(got, TakeAndAppend::Conflict { .. }), "{got:?}");
    // An empty append on an account that does not exist creates nothing visible.
    let ghost = AccountId::new("empty-ghost");
    block_on(store.put_challenge(challenge(ch(0, 2), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(
        &ch(0, 2),
        &ghost,
        &Versioned {
            version: 3,
            value: AccountState::default(),
        },
        &[],
    ))
    .unwrap();
    assert!(matches!(got, TakeAndAppend::Conflict { .. }), "{got:?}");
    assert_eq!(block_on(store.load(&who)).unwrap(), base);
    assert_log_consistent(&url, &schema, &store, &who, "empty");
    assert_log_consistent(&url, &schema, &store, &ghost, "empty ghost");
    drop_store(store);
}

/// Very many events in one plain append (a login's uses, 20 000 of them) and then one
/// more: versions, numbering and the folded state must follow exactly.
#[test]
fn very_many_events_in_one_plain_append() {
    let Some(url) = common::url("very_many_events") else {
        return;
    };
    const MANY: u32 = 20_000;
    let (store, schema) = fresh(&url, "many", 4);
    let tpl = template(&store);
    let who = AccountId::new("many");
    let base = setup_append(&store, &who, &[registered(&tpl, 1)]);
    let events: Vec<Event> = (0..MANY).map(|n| used(1, n)).collect();
    block_on(store.put_challenge(challenge(ch(0, 0), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 0), &who, &base, &events))
        .expect("a large append");
    assert_eq!(got, TakeAndAppend::Appended(base.version + u64::from(MANY)));
    let after = block_on(store.load(&who)).unwrap();
    block_on(store.put_challenge(challenge(ch(0, 1), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 1), &who, &after, &[used(1, MANY)]))
        .unwrap();
    assert_eq!(got, TakeAndAppend::Appended(after.version + 1));
    // The same large batch again on the now stale state: a conflict, nothing added.
    block_on(store.put_challenge(challenge(ch(0, 2), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 2), &who, &after, &events)).unwrap();
    assert!(matches!(got, TakeAndAppend::Conflict { .. }), "{got:?}");
    assert_log_consistent(&url, &schema, &store, &who, "many");
    drop_store(store);
}

/// P20 at the store: an operator's revocation (function path: it revokes a key) and a
/// login's use of the same passkey (plain path) decided on the same state race, many
/// rounds. Both cannot commit: the one that loses must conflict, and the history never
/// shows the passkey used after its revocation.
#[test]
fn revocation_racing_plain_use_of_the_same_passkey() {
    let Some(url) = common::url("revocation_racing_plain_use") else {
        return;
    };
    let (store, schema) = fresh(&url, "revrace", 8);
    let tpl = template(&store);
    let mut failures = Vec::new();
    for round in 0..30u32 {
        let who = AccountId::new(format!("revrace-{round}"));
        let c1 = (round + 1) * 100_000;
        let loaded = setup_append(
            &store,
            &who,
            &[registered(&tpl, c1), registered(&tpl, c1 + 1)],
        );
        let revoke = revocation(&loaded.value, c1);
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        block_on(store.put_challenge(challenge(ch(round, 1), Timestamp(T0.0 + 300)))).unwrap();
        let start = Arc::new(Barrier::new(2));
        // The revocation sometimes goes through take_and_append (function path), sometimes
        // through append_loaded.
        let revoker = {
            let (store, start, who, loaded) = (
                Arc::clone(&store),
                Arc::clone(&start),
                who.clone(),
                loaded.clone(),
            );
            thread::spawn(move || {
                start.wait();
                if round % 2 == 0 {
                    block_on(store.take_challenge_and_append(&ch(round, 1), &who, &loaded, &revoke))
                        .map(|r| matches!(r, TakeAndAppend::Appended(_)))
                } else {
                    block_on(store.append_loaded(&who, &loaded, &revoke)).map(|_| true)
                }
            })
        };
        let login = {
            let (store, start, who, loaded) = (
                Arc::clone(&store),
                Arc::clone(&start),
                who.clone(),
                loaded.clone(),
            );
            thread::spawn(move || {
                start.wait();
                block_on(store.take_challenge_and_append(
                    &ch(round, 0),
                    &who,
                    &loaded,
                    &[used(c1, 5)],
                ))
            })
        };
        let revoked = revoker.join().unwrap();
        let logged_in = login.join().unwrap();
        let revoked_ok = matches!(revoked, Ok(true));
        let login_ok = matches!(logged_in, Ok(TakeAndAppend::Appended(_)));
        if revoked_ok == login_ok {
            failures.push(format!(
                "round {round}: revocation {revoked:?}, login {logged_in:?}"
            ));
        }
        let history = block_on(store.history(&who)).unwrap();
        let revoked_at = history.iter().position(
            |e| matches!(&e.kind, EventKind::Revoked { credential, .. } if *credential == cred(c1)),
        );
        let used_at = history.iter().rposition(
            |e| matches!(&e.kind, EventKind::Used { credential, .. } if *credential == cred(c1)),
        );
        if let (Some(r), Some(u)) = (revoked_at, used_at)
            && u > r
        {
            failures.push(format!("round {round}: used at {u} after revoked at {r}"));
        }
        assert_log_consistent(&url, &schema, &store, &who, &format!("round {round}"));
    }
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A function-path take whose append is refused (LK001: it registers a credential id
/// another account owns, which rolls the take back) racing plain-path answers to the
/// same challenge: at most one `Appended` ever, nothing of the refused append lands, and
/// when the refusal's rollback frees the challenge exactly one plain racer gets it.
#[test]
fn refused_function_take_racing_plain_takes_on_one_challenge() {
    let Some(url) = common::url("refused_function_take_racing_plain") else {
        return;
    };
    const RACERS: u32 = 6;
    let (store, schema) = fresh(&url, "lk001", 16);
    let tpl = template(&store);
    let bob = AccountId::new("lk001-bob");
    setup_append(&store, &bob, &[registered(&tpl, 77)]);
    let mut failures = Vec::new();
    for round in 0..15u32 {
        let who = AccountId::new(format!("lk001-{round}"));
        let c1 = (round + 1) * 100_000;
        let loaded = setup_append(&store, &who, &[registered(&tpl, c1)]);
        block_on(store.put_challenge(challenge(ch(round, 0), Timestamp(T0.0 + 300)))).unwrap();
        let start = Arc::new(Barrier::new(RACERS as usize));
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let (store, start, who, loaded) = (
                    Arc::clone(&store),
                    Arc::clone(&start),
                    who.clone(),
                    loaded.clone(),
                );
                // Half steal Bob's credential id (refused whole), half only add a use.
                let events = if n % 2 == 0 {
                    vec![registered(&tpl, 77)]
                } else {
                    vec![used(c1, n)]
                };
                thread::spawn(move || {
                    start.wait();
                    block_on(store.take_challenge_and_append(&ch(round, 0), &who, &loaded, &events))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let appended = results
            .iter()
            .filter(|r| matches!(r, Ok(TakeAndAppend::Appended(_))))
            .count();
        let sane = results.iter().all(|r| {
            matches!(
                r,
                Ok(TakeAndAppend::Appended(_) | TakeAndAppend::NotFresh(Taken::Used { .. }))
                    | Err(StoreError::DuplicateCredential)
            )
        });
        if appended != 1 || !sane {
            failures.push(format!("round {round}: {results:?}"));
        }
        let after = block_on(store.load(&who)).unwrap();
        if after.version != loaded.version + version_of(appended) {
            failures.push(format!(
                "round {round}: version {} -> {}",
                loaded.version, after.version
            ));
        }
        if block_on(store.account_of(&cred(77))).unwrap() != Some(bob.clone()) {
            failures.push(format!("round {round}: Bob's credential moved"));
        }
        assert_log_consistent(&url, &schema, &store, &who, &format!("round {round}"));
    }
    drop_store(store);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Heavy mixed racing on one account: threads log in (plain take_and_append with their
/// own challenge, re-deciding with `append_loaded` after a conflict as the facade does),
/// rename (plain), register and delete passkeys (function path), revoke (function path)
/// and append uses without a challenge. Afterwards: one event per version, numbered
/// without gaps, the state column equal to the fold of the log, every success's events
/// in the log exactly once, the credential index following the log, every challenge
/// spent.
#[test]
fn heavy_mixed_racing_keeps_log_state_and_index_consistent() {
    let Some(url) = common::url("heavy_mixed_racing") else {
        return;
    };
    const THREADS: u32 = 6;
    const OPS: u32 = 30;
    let (store, schema) = fresh(&url, "heavy", 16);
    let tpl = template(&store);
    let who = AccountId::new("heavy");
    setup_append(&store, &who, &[registered(&tpl, 1)]);
    let start = Arc::new(Barrier::new(THREADS as usize));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, start, who, tpl) = (
                Arc::clone(&store),
                Arc::clone(&start),
                who.clone(),
                tpl.clone(),
            );
            thread::spawn(move || {
                start.wait();
                let mut appended_events = 0u64;
                let mut problems = Vec::new();
                let mut mine: Option<u32> = None;
                for i in 0..OPS {
                    let op = (t + i) % 5;
                    let challenge_bytes = ch(10_000 + t, i);
                    block_on(
                        store.put_challenge(challenge(challenge_bytes, Timestamp(T0.0 + 300))),
                    )
                    .unwrap();
                    let mut taken = false;
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        let loaded = block_on(store.load(&who)).unwrap();
                        let events = match op {
                            0 | 4 => vec![used(1, t * 1000 + i)],
                            1 => vec![renamed(1, &format!("t{t}i{i}"))],
                            2 => match mine {
                                // Delete the passkey this thread registered, if it has one.
                                Some(n) if loaded.value.credential(&cred(n)).is_some() => {
                                    vec![deleted(n)]
                                }
                                _ => vec![registered(&tpl, 500 + t * 100 + i)],
                            },
                            _ => match mine {
                                // Revoke it instead, through the policy.
                                Some(n) if loaded.value.credential(&cred(n)).is_some() => {
                                    revocation(&loaded.value, n)
                                }
                                _ => vec![used(1, t * 1000 + i)],
                            },
                        };
                        let result = if taken || op == 4 {
                            block_on(store.append_loaded(&who, &loaded, &events))
                                .map(TakeAndAppend::Appended)
                        } else {
                            block_on(store.take_challenge_and_append(
                                &challenge_bytes,
                                &who,
                                &loaded,
                                &events,
                            ))
                        };
                        match result {
                            Ok(TakeAndAppend::Appended(version)) => {
                                appended_events += version_of(events.len());
                                if version < loaded.version + version_of(events.len()) {
                                    problems.push(format!("t{t} i{i}: appended at {version}"));
                                }
                                if let Some(EventKind::Registered { credential }) =
                                    events.first().map(|e| &e.kind)
                                {
                                    mine = Some(u32::from_be_bytes(
                                        credential.id.as_bytes()[..4].try_into().unwrap(),
                                    ));
                                }
                                break;
                            }
                            Ok(TakeAndAppend::Conflict { .. }) => taken = true,
                            Err(StoreError::Conflict { .. }) => {}
                            other => {
                                problems.push(format!("t{t} i{i} attempt {attempts}: {other:?}"));
                                break;
                            }
                        }
                        if attempts > 200 {
                            problems.push(format!("t{t} i{i}: no progress"));
                            break;
                        }
                    }
                    if op != 4 {
                        let after = block_on(store.take_challenge(&challenge_bytes)).unwrap();
                        if !is_used(&after) {
                            problems.push(format!("t{t} i{i}: challenge then {after:?}"));
                        }
                    }
                }
                (appended_events, problems)
            })
        })
        .collect();
    let mut total = 1u64;
    let mut problems = Vec::new();
    for worker in workers {
        let (events, mut p) = worker.join().unwrap();
        total += events;
        problems.append(&mut p);
    }
    let loaded = block_on(store.load(&who)).unwrap();
    assert_eq!(
        loaded.version, total,
        "every success's events, once: {problems:#?}"
    );
    assert_log_consistent(&url, &schema, &store, &who, "heavy");
    // The credential index follows the folded state.
    let history = block_on(store.history(&who)).unwrap();
    for event in &history {
        if let EventKind::Registered { credential } = &event.kind {
            let owner = block_on(store.account_of(&credential.id)).unwrap();
            let held = loaded.value.credential(&credential.id).is_some()
                || loaded.value.is_revoked(&credential.id);
            assert_eq!(
                owner.is_some(),
                held,
                "index for {:?}: {owner:?}",
                credential.id
            );
        }
    }
    drop_store(store);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Odd input through the plain path must never panic and never be reported as a
/// success that did not happen: an account id with a NUL byte (PostgreSQL text cannot
/// hold it), a huge account id, an empty and a huge challenge, event text full of NULs,
/// quotes and non-BMP characters (stored as JSON text: the history must give back the
/// same events).
#[test]
fn odd_input_on_the_plain_path() {
    let Some(url) = common::url("odd_input_on_the_plain_path") else {
        return;
    };
    let (store, schema) = fresh(&url, "odd", 4);
    let tpl = template(&store);
    // An account id PostgreSQL cannot store.
    let nul = AccountId::new("odd\0account");
    let loaded = Versioned {
        version: 1,
        value: apply(AccountState::default(), &[registered(&tpl, 1)]),
    };
    block_on(store.put_challenge(challenge(ch(0, 0), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 0), &nul, &loaded, &[used(1, 1)]));
    assert!(
        !matches!(got, Ok(TakeAndAppend::Appended(_))),
        "NUL account: {got:?}"
    );
    // The challenge was not spent by an error, or was: either way a later take is sane.
    let again = block_on(store.take_challenge(&ch(0, 0))).unwrap();
    assert!(!matches!(again, Taken::Unknown), "{again:?}");

    // A huge account id that does not exist: a conflict, nothing created.
    let huge = AccountId::new("h".repeat(1 << 20));
    block_on(store.put_challenge(challenge(ch(0, 1), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 1), &huge, &loaded, &[used(1, 1)]));
    assert!(
        matches!(got, Ok(TakeAndAppend::Conflict { .. }) | Err(_)),
        "huge account: {got:?}"
    );
    assert_eq!(block_on(store.load(&huge)).unwrap().version, 0);

    // Empty and huge challenges that were never put: unknown, nothing appended.
    let who = AccountId::new("odd");
    let base = setup_append(&store, &who, &[registered(&tpl, 1)]);
    for bytes in [Vec::new(), vec![0u8; 1 << 20]] {
        let got = block_on(store.take_challenge_and_append(&bytes, &who, &base, &[used(1, 1)]));
        assert_eq!(
            got,
            Ok(TakeAndAppend::NotFresh(Taken::Unknown)),
            "challenge of {} bytes",
            bytes.len()
        );
        assert_eq!(block_on(store.load(&who)).unwrap(), base);
    }
    // A huge challenge that was put: it is found, once.
    let big = vec![0xabu8; 1 << 16];
    block_on(store.put_challenge(ChallengeRecord {
        challenge: big.clone(),
        expires_at: Timestamp(T0.0 + 300),
        binding: Vec::new(),
    }))
    .unwrap();
    let got = block_on(store.take_challenge_and_append(&big, &who, &base, &[used(1, 2)])).unwrap();
    assert_eq!(got, TakeAndAppend::Appended(base.version + 1));
    let base = block_on(store.load(&who)).unwrap();
    let got = block_on(store.take_challenge_and_append(&big, &who, &base, &[used(1, 3)])).unwrap();
    assert!(
        matches!(got, TakeAndAppend::NotFresh(Taken::Used { .. })),
        "{got:?}"
    );

    // Names full of NULs, quotes, backslashes and non-BMP characters round-trip.
    let weird = [
        "\0".to_owned(),
        "a\0b\\u0000\"'".to_owned(),
        "🔑".repeat(1000),
        "\u{202e}\u{feff}\r\n\t".to_owned(),
        "x".repeat(100_000),
    ];
    let events: Vec<Event> = weird.iter().map(|name| renamed(1, name)).collect();
    block_on(store.put_challenge(challenge(ch(0, 2), Timestamp(T0.0 + 300)))).unwrap();
    let got = block_on(store.take_challenge_and_append(&ch(0, 2), &who, &base, &events));
    match got {
        Ok(TakeAndAppend::Appended(v)) => {
            assert_eq!(v, base.version + version_of(events.len()));
            let history = block_on(store.history(&who)).unwrap();
            assert_eq!(&history[history.len() - events.len()..], &events[..]);
        }
        Err(StoreError::Unavailable(_)) => {
            assert_eq!(
                block_on(store.load(&who)).unwrap(),
                base,
                "an error changed nothing"
            );
        }
        other => panic!("weird names: {other:?}"),
    }
    assert_log_consistent(&url, &schema, &store, &who, "odd");
    drop_store(store);
}
