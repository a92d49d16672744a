//! How many times a login goes to its store, per backend (issue 16): start one call,
//! finish two. Where the store can read a challenge without consuming it (memory,
//! PostgreSQL), the finish peeks at the challenge with the owner's state, then takes it and
//! appends in one step: one commit. Elsewhere (SQLite) it takes the challenge with the
//! owner's state, then appends. Each test counts a second login, after a first has warmed
//! caches (prepared statements), and fails if a login makes one more round trip,
//! statement or commit than it does today.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use latchkey::store::{Calls, Counted};
use latchkey::{AccountId, FinishAuthentication, MemoryStore, Scope, Store};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, factors, world_on};

/// Registers Alice's passkey and signs her in once, so that what follows is warm.
fn alice_registered<S: Store>(world: &World<S>) -> (AccountId, Authenticator) {
    let alice = AccountId::new("alice");
    let mut key = Authenticator::new(SoftKey::es256([1; 32]));
    world
        .register(&alice, &key, Scope::Exchange, factors())
        .unwrap();
    start_and_finish(world, &alice, &mut key, |_| {}, |_| {});
    (alice, key)
}

/// One login; `after_start` and `after_finish` look at the store in between.
fn start_and_finish<S: Store>(
    world: &World<S>,
    who: &AccountId,
    key: &mut Authenticator,
    after_start: impl FnOnce(&S),
    after_finish: impl FnOnce(&S),
) {
    let options = block_on(world.passkeys.start_login(Some(who))).unwrap();
    after_start(world.passkeys.store());
    let response = world.answer(key, &options.challenge, who, Scope::Exchange);
    let done = block_on(
        world
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &world.context)),
    )
    .unwrap();
    assert_eq!(&done.account, who);
    after_finish(world.passkeys.store());
}

fn since(now: Calls, before: Calls) -> [u64; 6] {
    [
        now.put_challenge_and_load - before.put_challenge_and_load,
        now.take_challenge_and_owner - before.take_challenge_and_owner,
        now.append_loaded - before.append_loaded,
        now.peek_challenge_and_owner - before.peek_challenge_and_owner,
        now.take_challenge_and_append - before.take_challenge_and_append,
        now.total() - before.total(),
    ]
}

#[test]
fn memory_login_is_one_store_call_to_start_and_two_to_finish() {
    let world = world_on(Counted::new(MemoryStore::new()));
    let (alice, mut key) = alice_registered(&world);
    let before = world.passkeys.store().calls();
    let (mut started, mut finished) = (before, before);
    start_and_finish(
        &world,
        &alice,
        &mut key,
        |store| started = store.calls(),
        |store| finished = store.calls(),
    );
    // [put_challenge_and_load, take_challenge_and_owner, append_loaded,
    //  peek_challenge_and_owner, take_challenge_and_append, total]
    assert_eq!(since(started, before), [1, 0, 0, 0, 0, 1], "start");
    assert_eq!(since(finished, started), [0, 0, 0, 1, 1, 2], "finish");
}

/// `LATCHKEY_POSTGRES_URL` (`eval "$(.ci/postgres)"`), or `None` after saying why the
/// test skips; `LATCHKEY_REQUIRE_POSTGRES` makes a missing server a failure.
fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("LATCHKEY_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_some() => {
            panic!("{test}: LATCHKEY_POSTGRES_URL is not set and LATCHKEY_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("{test}: skipped, LATCHKEY_POSTGRES_URL is not set (see .ci/postgres)");
            None
        }
    }
}

#[test]
fn postgres_login_is_one_round_trip_to_start_and_two_to_finish() {
    use latchkey_store_postgres::{Options, PostgresStore, RoundTrips};
    let Some(url) = postgres_url("postgres_login_round_trips") else {
        return;
    };
    let schema = format!("t_round_trips_{}", std::process::id());
    let mut options = Options::default();
    options.schema = Some(schema);
    // One connection: every statement the warm-up login prepared is prepared on it.
    options.max_connections = 1;
    let cleanup = options.clone();
    let world = world_on(block_on(PostgresStore::connect(&url, options)).unwrap());
    let (alice, mut key) = alice_registered(&world);
    let before = world.passkeys.store().round_trips();
    let mut started = before;
    let mut finished = before;
    start_and_finish(
        &world,
        &alice,
        &mut key,
        |store| started = store.round_trips(),
        |store| finished = store.round_trips(),
    );
    let (start, finish): (RoundTrips, RoundTrips) =
        (started.since(before), finished.since(started));
    // The start's put does not wait for the disk; the finish peeks (a read), then takes
    // and appends in one statement: one commit waits for the disk per login.
    assert_eq!(
        (
            start.round_trips,
            start.transactions,
            start.synchronous_commits,
            start.prepared
        ),
        (1, 1, 0, 0),
        "start: {start:?}"
    );
    assert_eq!(
        (
            finish.round_trips,
            finish.transactions,
            finish.synchronous_commits,
            finish.prepared
        ),
        (2, 2, 1, 0),
        "finish: {finish:?}"
    );
    drop(world);
    block_on(
        block_on(PostgresStore::connect(&url, cleanup))
            .unwrap()
            .drop_schema(),
    )
    .unwrap();
}

#[test]
fn sqlite_login_is_one_transaction_to_start_and_two_to_finish() {
    use latchkey_store_sqlite::{SqliteStats, SqliteStore};
    let dir = std::env::temp_dir().join(format!("latchkey-round-trips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = world_on(SqliteStore::open(dir.join("login.sqlite")).unwrap());
    let (alice, mut key) = alice_registered(&world);
    let before = world.passkeys.store().stats();
    let (mut started, mut finished) = (before, before);
    start_and_finish(
        &world,
        &alice,
        &mut key,
        |store| started = store.stats(),
        |store| finished = store.stats(),
    );
    let (start, finish): (SqliteStats, SqliteStats) =
        (started.since(before), finished.since(started));
    // Start: BEGIN, put the challenge, read the account, COMMIT.
    assert_eq!(
        (start.transactions, start.writes, start.statements),
        (1, 1, 4),
        "start: {start:?}"
    );
    // Finish: BEGIN, take, owner, account, COMMIT; then BEGIN, version, event, state,
    // COMMIT.
    assert_eq!(
        (finish.transactions, finish.writes, finish.statements),
        (2, 2, 10),
        "finish: {finish:?}"
    );
    drop(world);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a store that peeks, a refused answer still spends its challenge (P16): a forged
/// signature is refused, and the real answer to the same challenge that comes after it
/// is `challenge_reused`. The refusal consumed it with one `take_challenge`.
#[test]
fn a_refused_answer_spends_its_challenge_on_a_store_that_peeks() {
    let world = world_on(Counted::new(MemoryStore::new()));
    let (alice, mut key) = alice_registered(&world);
    let options = block_on(world.passkeys.start_login(Some(&alice))).unwrap();
    let mut forger = Authenticator::new(SoftKey::es256([2; 32]))
        .with_credential_id(key.credential_id().to_vec());
    let forged = world.answer(&mut forger, &options.challenge, &alice, Scope::Exchange);
    let before = world.passkeys.store().calls();
    let refused = block_on(
        world
            .passkeys
            .finish_authentication(FinishAuthentication::new(&forged, &world.context)),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "signature_invalid");
    let after = world.passkeys.store().calls();
    assert_eq!(
        (
            after.peek_challenge_and_owner - before.peek_challenge_and_owner,
            after.take_challenge - before.take_challenge,
            after.take_challenge_and_append - before.take_challenge_and_append,
        ),
        (1, 1, 0)
    );
    let real = world.answer(&mut key, &options.challenge, &alice, Scope::Exchange);
    let replayed = block_on(
        world
            .passkeys
            .finish_authentication(FinishAuthentication::new(&real, &world.context)),
    )
    .unwrap_err();
    assert_eq!(replayed.code(), "challenge_reused");
}
