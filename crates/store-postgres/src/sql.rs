//! The store's statements, each an async function over a pooled client.
//!
//! They run on the store's own runtime (see `PostgresStore::run`), so they take owned
//! arguments. Every operation is one statement, sent on its own and waited for: one round
//! trip and one (implicit) transaction, counted in [`Counters`]; preparing a statement the
//! first time on a connection is one more round trip, counted too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Object, Pool};
use latchkey_policy::{AccountState, Event, KeyFingerprint, Timestamp, apply};
use latchkey_store::{
    AccountId, ChallengeRecord, Owner, StoreError, TakeAndAppend, Taken, Versioned, key_changes,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

pub(crate) fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn version_column(version: i64) -> Result<u64, StoreError> {
    u64::try_from(version).map_err(corrupt)
}

fn version_param(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| unavailable("version out of range"))
}

/// What the store has asked of its server, counted as it goes (see
/// [`RoundTrips`](crate::RoundTrips)).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    round_trips: AtomicU64,
    prepared: AtomicU64,
    transactions: AtomicU64,
    synchronous_commits: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> crate::RoundTrips {
        crate::RoundTrips {
            round_trips: self.round_trips.load(Ordering::Relaxed),
            prepared: self.prepared.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            synchronous_commits: self.synchronous_commits.load(Ordering::Relaxed),
        }
    }
}

/// The pools and the store's counters, cloned into each operation.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// The primary: every decision and every write.
    pub(crate) pool: Pool,
    /// Read-only hosts, for reads that may be stale (`Options::standby_reads`).
    pub(crate) standby: Option<Pool>,
    pub(crate) counters: Arc<Counters>,
    /// Whether a challenge's put waits for the disk (`Options::synchronous_challenge_puts`).
    pub(crate) synchronous_puts: bool,
}

/// A pooled client that counts what it sends.
struct Conn {
    client: Object,
    counters: Arc<Counters>,
}

impl Db {
    async fn conn(&self) -> Result<Conn, StoreError> {
        Ok(Conn {
            client: self.pool.get().await.map_err(unavailable)?,
            counters: Arc::clone(&self.counters),
        })
    }

    /// A connection for a read that may be stale: to a standby when the store has a
    /// standby pool and one answers, else to the primary.
    async fn stale_conn(&self) -> Result<Conn, StoreError> {
        if let Some(standby) = &self.standby
            && let Ok(client) = standby.get().await
        {
            return Ok(Conn {
                client,
                counters: Arc::clone(&self.counters),
            });
        }
        self.conn().await
    }
}

impl Conn {
    /// A statement, prepared once per connection: the first time is a round trip.
    async fn prepare(&self, sql: &str) -> Result<Statement, StoreError> {
        let before = self.client.statement_cache.size();
        let statement = self.client.prepare_cached(sql).await.map_err(unavailable)?;
        if self.client.statement_cache.size() != before {
            self.counters.round_trips.fetch_add(1, Ordering::Relaxed);
            self.counters.prepared.fetch_add(1, Ordering::Relaxed);
        }
        Ok(statement)
    }

    /// Counts one statement sent on its own (Bind, Execute, Sync) and waited for: one
    /// round trip, one implicit transaction.
    fn sent(&self) {
        self.counters.round_trips.fetch_add(1, Ordering::Relaxed);
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a statement whose transaction writes and waits for its commit to reach the
    /// disk (and a synchronous standby): the cost that bounds a login's rate.
    fn waits_for_disk(&self) {
        self.counters
            .synchronous_commits
            .fetch_add(1, Ordering::Relaxed);
    }

    async fn query_opt(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.sent();
        self.client.query_opt(statement, params).await
    }

    async fn query(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.sent();
        self.client.query(statement, params).await
    }

    async fn execute(
        &self,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.sent();
        self.client.execute(statement, params).await
    }
}

/// A version and folded state read from `version` and `state` columns at `at` and
/// `at + 1` (version 0, empty, when both are NULL: an account never written).
fn versioned(row: &Row, at: usize) -> Result<Versioned<AccountState>, StoreError> {
    let version: Option<i64> = row.try_get(at).map_err(corrupt)?;
    let state: Option<String> = row.try_get(at + 1).map_err(corrupt)?;
    Ok(match (version, state) {
        (Some(version), Some(state)) => Versioned {
            version: version_column(version)?,
            value: serde_json::from_str(&state).map_err(corrupt)?,
        },
        _ => Versioned {
            version: 0,
            value: AccountState::default(),
        },
    })
}

const LOAD: &str = "SELECT version, state FROM accounts WHERE account = $1";

pub(crate) async fn load(
    db: Db,
    account: AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(LOAD).await?;
    let row = conn
        .query_opt(&statement, &[&account.as_str()])
        .await
        .map_err(unavailable)?;
    match row {
        Some(row) => versioned(&row, 0),
        None => Ok(Versioned {
            version: 0,
            value: AccountState::default(),
        }),
    }
}

/// [`load`], from a standby when the store reads display data there (it may be stale).
pub(crate) async fn load_for_display(
    db: Db,
    account: AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let conn = db.stale_conn().await?;
    let statement = conn.prepare(LOAD).await?;
    let row = conn
        .query_opt(&statement, &[&account.as_str()])
        .await
        .map_err(unavailable)?;
    match row {
        Some(row) => versioned(&row, 0),
        None => Ok(Versioned {
            version: 0,
            value: AccountState::default(),
        }),
    }
}

/// What an append needs, owned: the credential index changes are derived by the caller.
pub(crate) struct Append {
    pub(crate) account: AccountId,
    pub(crate) expected: u64,
    pub(crate) events: Vec<Event>,
    /// (credential id, registered?) in event order.
    pub(crate) credentials: Vec<(Vec<u8>, bool)>,
}

/// An append without the state it is made on: read it, then append on it (two round
/// trips; the second checks the version under the row lock).
pub(crate) async fn append(db: Db, append: Append) -> Result<u64, StoreError> {
    let loaded = load(db.clone(), append.account.clone()).await?;
    if loaded.version != append.expected {
        return Err(StoreError::Conflict {
            expected: append.expected,
            actual: loaded.version,
        });
    }
    append_loaded(db, append, loaded.value).await
}

/// The eight arguments of `latchkey_append` (and the last eight of
/// `latchkey_take_and_append`), owned: the account, the expected version, the state after
/// the events as the client folds it, the events, the credential-index changes, and the
/// fingerprints of the keys registered and revoked.
struct AppendArgs {
    account: String,
    expected: i64,
    after: String,
    events: Vec<String>,
    ids: Vec<Vec<u8>>,
    registered: Vec<bool>,
    registered_keys: Vec<Vec<u8>>,
    revoked_keys: Vec<Vec<u8>>,
}

impl AppendArgs {
    /// `append` on `state`, the account's state at `append.expected`.
    fn new(append: Append, state: AccountState) -> Result<Self, StoreError> {
        let events = append
            .events
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let keys = key_changes(&state, &append.events);
        let fingerprints = |keys: &[KeyFingerprint]| -> Vec<Vec<u8>> {
            keys.iter().map(|key| key.as_bytes().to_vec()).collect()
        };
        let after = serde_json::to_string(&apply(state, &append.events)).map_err(corrupt)?;
        let (ids, registered) = append.credentials.into_iter().unzip();
        Ok(Self {
            account: append.account.as_str().to_owned(),
            expected: version_param(append.expected)?,
            after,
            events,
            ids,
            registered,
            registered_keys: fingerprints(&keys.registered),
            revoked_keys: fingerprints(&keys.revoked),
        })
    }

    /// Whether the append only adds events to an account that exists: no credential
    /// registered or removed, no key registered or revoked. A login's `Used` event is
    /// one. Such an append needs none of `latchkey_append`'s checks beyond the version,
    /// so it can run as plain SQL ([`TAKE_AND_APPEND_EVENTS`]).
    fn only_events(&self) -> bool {
        self.expected > 0
            && !self.events.is_empty()
            && self.ids.is_empty()
            && self.registered_keys.is_empty()
            && self.revoked_keys.is_empty()
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.account,
            &self.expected,
            &self.after,
            &self.events,
            &self.ids,
            &self.registered,
            &self.registered_keys,
            &self.revoked_keys,
        ]
    }
}

/// An append on `state`, the account's state at `append.expected`: one statement
/// (`latchkey_append`, migrations 3 and 4) checks the registered keys against the index of
/// revoked ones, locks the row, checks the version, updates the credential index, inserts
/// the events, stores `apply(state, events)` and indexes the keys it revokes.
pub(crate) async fn append_loaded(
    db: Db,
    append: Append,
    state: AccountState,
) -> Result<u64, StoreError> {
    let conn = db.conn().await?;
    let expected = append.expected;
    let args = AppendArgs::new(append, state)?;
    let statement = conn
        .prepare("SELECT appended, version FROM latchkey_append($1, $2, $3, $4, $5, $6, $7, $8)")
        .await?;
    conn.waits_for_disk();
    let row = conn
        .query_opt(&statement, &args.params())
        .await
        .map_err(append_error(expected))?
        .ok_or_else(|| unavailable("latchkey_append returned no row"))?;
    let appended: bool = row.try_get(0).map_err(corrupt)?;
    let version = version_column(row.try_get(1).map_err(corrupt)?)?;
    if !appended {
        return Err(StoreError::Conflict {
            expected,
            actual: version,
        });
    }
    Ok(version)
}

/// A take and an append that [only adds events](AppendArgs::only_events), as one plain
/// SQL statement: what `latchkey_take_and_append` does in that case, without its two
/// nested PL/pgSQL calls (which cost about three times the statements they run; measured
/// with `pg_stat_statements`, see PERFORMANCE.md).
///
/// - `prior` locks the challenge `$1`'s row and `taken` marks it used if it was unused, as
///   [`TAKE`] does: racing takers queue on the lock, and in READ COMMITTED each one after
///   the first reads the row as the first left it (used), or finds it gone if a purge
///   deleted it meanwhile.
/// - `current` then locks the account `$2`'s row, only if `taken` did (the challenge's row
///   first, then the account's, as the function locks them), and reads its version as the
///   last commit left it: what a conflict reports.
/// - `appended` updates that row if its version is the expected `$3` (checked again on the
///   row it updates): an append that committed since the statement began makes it update
///   nothing, a conflict that keeps the take, as the function does. It stores the state
///   `$4` the client folded and the version `$6`.
/// - `added` inserts the events `$5` numbered from `$3 + 1`, only if `appended` did.
/// - A challenge that was not taken was used (its deadline answers) or is not stored.
const TAKE_AND_APPEND_EVENTS: &str = "WITH prior AS (
         SELECT used, expires_at FROM challenges WHERE challenge = $1 FOR UPDATE
     ), taken AS (
         UPDATE challenges SET used = true
             WHERE challenge = $1 AND EXISTS (SELECT 1 FROM prior WHERE NOT prior.used)
             RETURNING 1
     ), current AS (
         SELECT version FROM accounts
             WHERE account = $2 AND EXISTS (SELECT 1 FROM taken)
             FOR UPDATE
     ), appended AS (
         UPDATE accounts SET version = $6, state = $4
             WHERE account = $2 AND version = $3
                 AND EXISTS (SELECT 1 FROM current WHERE current.version = $3)
             RETURNING version
     ), added AS (
         INSERT INTO events (account, seq, event)
             SELECT $2, $3 + e.ord, e.event
             FROM appended, unnest($5::text[]) WITH ORDINALITY AS e (event, ord)
     )
     SELECT (SELECT count(*) FROM taken), (SELECT version FROM appended),
            (SELECT expires_at FROM prior), (SELECT version FROM current)";

/// The take and the append in one statement, one round trip and one commit: plain SQL
/// ([`TAKE_AND_APPEND_EVENTS`]) when the append [only adds events](AppendArgs::only_events),
/// as a login's does, else `latchkey_take_and_append` (migration 5).
pub(crate) async fn take_challenge_and_append(
    db: Db,
    challenge: Vec<u8>,
    append: Append,
    state: AccountState,
) -> Result<TakeAndAppend, StoreError> {
    let conn = db.conn().await?;
    let expected = append.expected;
    let args = AppendArgs::new(append, state)?;
    if args.only_events() {
        return take_and_append_events(&conn, &challenge, &args).await;
    }
    let statement = conn
        .prepare(
            "SELECT o_outcome, o_expires_at, o_version
                 FROM latchkey_take_and_append($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&challenge];
    params.extend(args.params());
    conn.waits_for_disk();
    let row = conn
        .query_opt(&statement, &params)
        .await
        .map_err(append_error(expected))?
        .ok_or_else(|| unavailable("latchkey_take_and_append returned no row"))?;
    let outcome: String = row.try_get(0).map_err(corrupt)?;
    let expires_at: Option<i64> = row.try_get(1).map_err(corrupt)?;
    let version: Option<i64> = row.try_get(2).map_err(corrupt)?;
    match (outcome.as_str(), expires_at, version) {
        ("appended", _, Some(version)) => Ok(TakeAndAppend::Appended(version_column(version)?)),
        ("conflict", _, Some(version)) => Ok(TakeAndAppend::Conflict {
            expected,
            actual: version_column(version)?,
        }),
        ("used", Some(expires_at), _) => Ok(TakeAndAppend::NotFresh(Taken::Used {
            expires_at: Timestamp(expires_at),
        })),
        ("unknown", _, _) => Ok(TakeAndAppend::NotFresh(Taken::Unknown)),
        _ => Err(corrupt(format!(
            "latchkey_take_and_append answered {outcome:?}"
        ))),
    }
}

/// [`TAKE_AND_APPEND_EVENTS`] with `args`, which [only add events](AppendArgs::only_events).
async fn take_and_append_events(
    conn: &Conn,
    challenge: &Vec<u8>,
    args: &AppendArgs,
) -> Result<TakeAndAppend, StoreError> {
    let count = i64::try_from(args.events.len()).map_err(|_| unavailable("too many events"))?;
    let next = args
        .expected
        .checked_add(count)
        .ok_or_else(|| unavailable("version out of range"))?;
    let statement = conn.prepare(TAKE_AND_APPEND_EVENTS).await?;
    let expected = version_column(args.expected)?;
    conn.waits_for_disk();
    let row = conn
        .query_opt(
            &statement,
            &[
                challenge,
                &args.account,
                &args.expected,
                &args.after,
                &args.events,
                &next,
            ],
        )
        .await
        .map_err(transient(expected))?
        .ok_or_else(|| unavailable("take and append returned no row"))?;
    let taken: i64 = row.try_get(0).map_err(corrupt)?;
    let appended: Option<i64> = row.try_get(1).map_err(corrupt)?;
    let prior: Option<i64> = row.try_get(2).map_err(corrupt)?;
    let actual: Option<i64> = row.try_get(3).map_err(corrupt)?;
    match (taken, appended, prior) {
        (1, Some(version), _) => Ok(TakeAndAppend::Appended(version_column(version)?)),
        // Taken, not appended: the version moved (or the account is gone: 0).
        (1, None, _) => Ok(TakeAndAppend::Conflict {
            expected,
            actual: version_column(actual.unwrap_or(0))?,
        }),
        (0, _, Some(expires_at)) => Ok(TakeAndAppend::NotFresh(Taken::Used {
            expires_at: Timestamp(expires_at),
        })),
        (0, _, None) => Ok(TakeAndAppend::NotFresh(Taken::Unknown)),
        _ => Err(corrupt(format!(
            "take and append marked {taken} challenges"
        ))),
    }
}

/// `latchkey_append` raises LK001 for a credential another account owns or a revoked key:
/// the statement, so the whole append, is rolled back.
fn append_error(expected: u64) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| {
        if error.code().map(SqlState::code) == Some("LK001") {
            StoreError::DuplicateCredential
        } else {
            transient(expected)(error)
        }
    }
}

/// Deadlocks and serialisation failures (two appends registering the same new credential
/// ids in different orders) roll back with nothing changed: they are reported as a
/// conflict, which callers already answer by reloading and retrying. The actual version
/// is unknown then, and given as the expected one.
fn transient(expected: u64) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| match error.code() {
        Some(code)
            if *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            StoreError::Conflict {
                expected,
                actual: expected,
            }
        }
        _ => unavailable(error),
    }
}

pub(crate) async fn account_of(
    db: Db,
    credential: Vec<u8>,
) -> Result<Option<AccountId>, StoreError> {
    let conn = db.conn().await?;
    let statement = conn
        .prepare("SELECT account FROM credentials WHERE credential = $1")
        .await?;
    let row = conn
        .query_opt(&statement, &[&credential])
        .await
        .map_err(unavailable)?;
    row.map(|row| row.try_get::<_, String>(0).map(AccountId::new))
        .transpose()
        .map_err(corrupt)
}

pub(crate) async fn history(db: Db, account: AccountId) -> Result<Vec<Event>, StoreError> {
    let conn = db.stale_conn().await?;
    let statement = conn
        .prepare("SELECT event FROM events WHERE account = $1 ORDER BY seq")
        .await?;
    let rows = conn
        .query(&statement, &[&account.as_str()])
        .await
        .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let json: String = row.try_get(0).map_err(corrupt)?;
            serde_json::from_str(&json).map_err(corrupt)
        })
        .collect()
}

/// The put, as two CTEs: the first put wins, so that a second one never makes a used
/// challenge fresh again. Its commit does not wait for the disk unless `$4` (the store's
/// `Options::synchronous_challenge_puts`): a put lost in a crash or a failover refuses
/// that one login (`challenge_mismatch`, never issued) and the user starts again; it can
/// never make a response pass. `set_config(..., true)` lasts until the statement's own
/// transaction ends, so it applies to that one commit. A data-modifying CTE runs to
/// completion whether or not the main query reads it.
macro_rules! put_ctes {
    () => {
        "WITH lax AS (
             SELECT CASE WHEN $4 THEN '' ELSE set_config('synchronous_commit', 'off', true) END
         ), put AS (
             INSERT INTO challenges (challenge, expires_at, binding)
                 SELECT $1, $2, $3 FROM lax
                 ON CONFLICT (challenge) DO NOTHING
         )"
    };
}

const PUT: &str = concat!(put_ctes!(), " SELECT 1");

/// [`PUT`], then the account `$5`'s version and state.
const PUT_AND_LOAD: &str = concat!(
    put_ctes!(),
    " SELECT a.version, a.state FROM (VALUES (1)) AS one (x)
          LEFT JOIN accounts a ON a.account = $5"
);

pub(crate) async fn put_challenge(db: Db, record: ChallengeRecord) -> Result<(), StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(PUT).await?;
    if db.synchronous_puts {
        conn.waits_for_disk();
    }
    conn.execute(
        &statement,
        &[
            &record.challenge,
            &record.expires_at.0,
            &record.binding,
            &db.synchronous_puts,
        ],
    )
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// `put_challenge` and `load` in one statement.
pub(crate) async fn put_challenge_and_load(
    db: Db,
    record: ChallengeRecord,
    account: AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(PUT_AND_LOAD).await?;
    if db.synchronous_puts {
        conn.waits_for_disk();
    }
    let row = conn
        .query_opt(
            &statement,
            &[
                &record.challenge,
                &record.expires_at.0,
                &record.binding,
                &db.synchronous_puts,
                &account.as_str(),
            ],
        )
        .await
        .map_err(unavailable)?
        .ok_or_else(|| unavailable("put_challenge_and_load returned no row"))?;
    versioned(&row, 0)
}

/// Locks the challenge row (`prior`, `FOR UPDATE`: racing takers queue on the lock, and in
/// READ COMMITTED each one after the first reads the row as the first left it, used) and
/// marks it used if it was not. One row back: the challenge as it was before this take;
/// none: never stored, or purged.
const TAKE: &str = "WITH prior AS (
         SELECT used, expires_at, binding FROM challenges WHERE challenge = $1 FOR UPDATE
     ), taken AS (
         UPDATE challenges SET used = true
             WHERE challenge = $1 AND EXISTS (SELECT 1 FROM prior WHERE NOT prior.used)
             RETURNING 1
     )
     SELECT p.used, p.expires_at, p.binding, (SELECT count(*) FROM taken) FROM prior p";

/// The owner of credential `$2` with its version and state: none when no account owns it.
macro_rules! owner_of_credential {
    () => {
        "SELECT c.account, a.version, a.state FROM credentials c
             LEFT JOIN accounts a ON a.account = c.account
             WHERE c.credential = $2"
    };
}

/// [`TAKE`], and in the same statement the owner of credential `$2` with its state.
const TAKE_WITH_OWNER: &str = concat!(
    "WITH prior AS (
         SELECT used, expires_at, binding FROM challenges WHERE challenge = $1 FOR UPDATE
     ), taken AS (
         UPDATE challenges SET used = true
             WHERE challenge = $1 AND EXISTS (SELECT 1 FROM prior WHERE NOT prior.used)
             RETURNING 1
     ), owner AS (",
    owner_of_credential!(),
    ")
     SELECT p.used, p.expires_at, p.binding, (SELECT count(*) FROM taken),
            o.account, o.version, o.state
         FROM prior p LEFT JOIN owner o ON true"
);

/// What a take's row says: `Fresh` only when this statement marked it.
fn taken(challenge: Vec<u8>, row: Option<&Row>) -> Result<Taken, StoreError> {
    let Some(row) = row else {
        return Ok(Taken::Unknown);
    };
    let used: bool = row.try_get(0).map_err(corrupt)?;
    let expires_at = Timestamp(row.try_get(1).map_err(corrupt)?);
    let marked: i64 = row.try_get(3).map_err(corrupt)?;
    match (used, marked) {
        (true, _) => Ok(Taken::Used { expires_at }),
        (false, 1) => Ok(Taken::Fresh(ChallengeRecord {
            challenge,
            expires_at,
            binding: row.try_get(2).map_err(corrupt)?,
        })),
        // Unused and not marked cannot happen under the lock; never call it fresh.
        (false, _) => Err(unavailable("challenge could not be marked used")),
    }
}

pub(crate) async fn take_challenge(db: Db, challenge: Vec<u8>) -> Result<Taken, StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(TAKE).await?;
    conn.waits_for_disk();
    let row = conn
        .query_opt(&statement, &[&challenge])
        .await
        .map_err(unavailable)?;
    taken(challenge, row.as_ref())
}

pub(crate) async fn take_challenge_and_owner(
    db: Db,
    challenge: Vec<u8>,
    credential: Vec<u8>,
) -> Result<(Taken, Option<Owner>), StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(TAKE_WITH_OWNER).await?;
    conn.waits_for_disk();
    let row = conn
        .query_opt(&statement, &[&challenge, &credential])
        .await
        .map_err(unavailable)?;
    let taken = taken(challenge, row.as_ref())?;
    let owner = match (&taken, row) {
        (Taken::Fresh(_), Some(row)) => owner_at(&row, 4)?,
        _ => None,
    };
    Ok((taken, owner))
}

/// The owner read at column `at` (account), `at + 1` and `at + 2` (its version and
/// state); `None` when no account owns the credential.
fn owner_at(row: &Row, at: usize) -> Result<Option<Owner>, StoreError> {
    let account: Option<String> = row.try_get(at).map_err(corrupt)?;
    account
        .map(|account| {
            Ok(Owner {
                account: AccountId::new(account),
                state: versioned(row, at + 1)?,
            })
        })
        .transpose()
}

/// The challenge `$1` as it is, and the owner of credential `$2` with its state: a read,
/// nothing locked or marked.
const PEEK_WITH_OWNER: &str = concat!(
    "SELECT ch.used, ch.expires_at, ch.binding, o.account, o.version, o.state
     FROM challenges ch LEFT JOIN (",
    owner_of_credential!(),
    ") o ON true
     WHERE ch.challenge = $1"
);

pub(crate) async fn peek_challenge_and_owner(
    db: Db,
    challenge: Vec<u8>,
    credential: Vec<u8>,
) -> Result<(Taken, Option<Owner>), StoreError> {
    let conn = db.conn().await?;
    let statement = conn.prepare(PEEK_WITH_OWNER).await?;
    let Some(row) = conn
        .query_opt(&statement, &[&challenge, &credential])
        .await
        .map_err(unavailable)?
    else {
        return Ok((Taken::Unknown, None));
    };
    let used: bool = row.try_get(0).map_err(corrupt)?;
    let expires_at = Timestamp(row.try_get(1).map_err(corrupt)?);
    if used {
        return Ok((Taken::Used { expires_at }, None));
    }
    let record = ChallengeRecord {
        challenge,
        expires_at,
        binding: row.try_get(2).map_err(corrupt)?,
    };
    Ok((Taken::Fresh(record), owner_at(&row, 3)?))
}

pub(crate) async fn purge_challenges(db: Db, now: Timestamp) -> Result<usize, StoreError> {
    let conn = db.conn().await?;
    let statement = conn
        .prepare("DELETE FROM challenges WHERE expires_at < $1")
        .await?;
    conn.waits_for_disk();
    let deleted = conn
        .execute(&statement, &[&now.0])
        .await
        .map_err(unavailable)?;
    usize::try_from(deleted).map_err(corrupt)
}
