#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod schema;

use std::any::Any;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use latchkey_policy::{AccountState, CredentialId, Event, Timestamp, apply};
use latchkey_store::{
    AccountId, ChallengeRecord, Owner, Store, StoreError, Taken, Versioned, credential_changes,
    key_changes,
};
use rusqlite::{Connection, OptionalExtension, params};

/// Connections opened by [`SqliteStore::open`].
pub const DEFAULT_CONNECTIONS: usize = 4;

/// How long a connection waits for another's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] in one SQLite database file.
///
/// WAL mode, `synchronous = FULL`, migrations applied on open. Every write (append,
/// challenge put, take and purge) goes through one writer connection that commits groups:
/// writes that arrive while a transaction is committing wait, and the next `BEGIN
/// IMMEDIATE` transaction carries all of them, each in its own savepoint, so that one that
/// fails (a conflicting append, a duplicate credential) is rolled back alone and the
/// others commit. A write is answered only after the transaction that carries it has
/// committed (and, with `synchronous = FULL`, reached the disk): one fsync serves a whole
/// group. A process killed at any point leaves every account at a consistent version.
/// Reads (`load`, `account_of`, `history`) use a pool of other connections.
///
/// SQLite calls block (on the disk, and on another connection's write lock for up to
/// the busy timeout). Inside a tokio runtime (feature `tokio`, on by default) they run on
/// tokio's blocking pool, so an async worker thread is never blocked; that hop costs a
/// thread hand-off per call (tens of microseconds). Outside a tokio runtime, or without
/// the feature, they run on the calling thread inside the returned future.
///
/// [`stats`](SqliteStore::stats) counts the statements and transactions.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

/// What a [`SqliteStore`] has run since it was opened (migrations aside): see
/// [`SqliteStore::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteStats {
    /// SQL statements run, `BEGIN`, `COMMIT` and savepoints included.
    pub statements: u64,
    /// Write transactions committed (or rolled back): one per group.
    pub transactions: u64,
    /// Writes (appends, challenge puts, takes, purges) those transactions carried.
    pub writes: u64,
}

impl SqliteStats {
    /// The counts since `earlier`.
    #[must_use]
    pub fn since(self, earlier: Self) -> Self {
        Self {
            statements: self.statements.saturating_sub(earlier.statements),
            transactions: self.transactions.saturating_sub(earlier.transactions),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    statements: AtomicU64,
    transactions: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    fn statements(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }
}

/// The connections, shared with the blocking tasks that use them.
struct Pool {
    /// Readers, round robin.
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    /// The one connection that writes, used by the leader of each group.
    writer: Mutex<Connection>,
    group: Mutex<Group>,
    /// Signalled when a group is done (its results are in `Group::done`).
    committed: Condvar,
    counters: Counters,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

/// A write waiting for its group: it runs on the writer connection inside the group's
/// transaction and returns its result, type-erased.
type Work =
    Box<dyn FnOnce(&Connection, &Counters) -> Result<Box<dyn Any + Send>, StoreError> + Send>;

/// A write's result, type-erased until its writer collects it.
type Done = Result<Box<dyn Any + Send>, StoreError>;

#[derive(Default)]
struct Group {
    /// Writes not yet taken by a leader, with their tickets.
    pending: Vec<(u64, Work)>,
    /// Whether a thread is running a group now.
    leading: bool,
    /// Results of committed groups, by ticket, until their writers collect them.
    done: HashMap<u64, Done>,
    next_ticket: u64,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(unavailable)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(unavailable)?;
    Ok(connection)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with
    /// [`DEFAULT_CONNECTIONS`] reading connections and one writing connection.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, DEFAULT_CONNECTIONS)
    }

    /// Opens the database with `connections` reading connections (at least one) and one
    /// writing connection.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub fn open_with(path: impl AsRef<Path>, connections: usize) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut writer = open_connection(path)?;
        schema::migrate(&mut writer)?;
        let mut pool = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            pool.push(Mutex::new(open_connection(path)?));
        }
        Ok(Self {
            pool: Arc::new(Pool {
                connections: pool,
                next: AtomicUsize::new(0),
                writer: Mutex::new(writer),
                group: Mutex::new(Group::default()),
                committed: Condvar::new(),
                counters: Counters::default(),
            }),
        })
    }

    /// The statements and transactions the store has run so far.
    #[must_use]
    pub fn stats(&self) -> SqliteStats {
        let counters = &self.pool.counters;
        SqliteStats {
            statements: counters.statements.load(Ordering::Relaxed),
            transactions: counters.transactions.load(Ordering::Relaxed),
            writes: counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` on the connections: on tokio's blocking pool inside a tokio runtime,
    /// else on the calling thread.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Pool) -> Result<T, StoreError> + Send + 'static,
    {
        #[cfg(feature = "tokio")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pool = Arc::clone(&self.pool);
            return runtime
                .spawn_blocking(move || work(&pool))
                .await
                .map_err(|e| unavailable(format!("store task failed: {e}")))?;
        }
        work(&self.pool)
    }

    /// Runs `write` in the next group transaction and returns its result once that
    /// transaction has committed.
    async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Counters) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |pool| {
            let work: Work = Box::new(move |connection, counters| {
                write(connection, counters).map(|t| Box::new(t) as Box<dyn Any + Send>)
            });
            let result = pool.commit(work)?;
            result
                .downcast::<T>()
                .map(|t| *t)
                .map_err(|_| unavailable("group commit: result of another type"))
        })
        .await
    }
}

impl Pool {
    /// One reading connection of the pool, round robin.
    fn connection(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections
            .get(index)
            .ok_or_else(|| unavailable("no connection"))?
            .lock()
            .map_err(|_| unavailable("connection poisoned"))
    }

    fn group(&self) -> Result<MutexGuard<'_, Group>, StoreError> {
        self.group
            .lock()
            .map_err(|_| unavailable("group commit poisoned"))
    }

    /// Queues `work` and waits until a group carrying it has committed: the first writer
    /// to find no group running leads the next one, with every write queued by then.
    fn commit(&self, work: Work) -> Done {
        let mut group = self.group()?;
        let ticket = group.next_ticket;
        group.next_ticket += 1;
        group.pending.push((ticket, work));
        loop {
            if let Some(result) = group.done.remove(&ticket) {
                return result;
            }
            if group.leading {
                group = self
                    .committed
                    .wait(group)
                    .map_err(|_| unavailable("group commit poisoned"))?;
                continue;
            }
            group.leading = true;
            let works = std::mem::take(&mut group.pending);
            drop(group);
            let results = self.run_group(works);
            group = self.group()?;
            group.leading = false;
            group.done.extend(results);
            self.committed.notify_all();
        }
    }

    /// One transaction carrying `works`, each in a savepoint when there are several.
    fn run_group(&self, works: Vec<(u64, Work)>) -> Vec<(u64, Done)> {
        let tickets: Vec<u64> = works.iter().map(|(ticket, _)| *ticket).collect();
        let fail_all = |error: StoreError| {
            tickets
                .iter()
                .map(|ticket| (*ticket, Err(error.clone())))
                .collect::<Vec<_>>()
        };
        let writer = match self.writer.lock() {
            Ok(writer) => writer,
            Err(_) => return fail_all(unavailable("writer connection poisoned")),
        };
        let counters = &self.counters;
        counters.transactions.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(works.len() as u64, Ordering::Relaxed);
        // IMMEDIATE takes the write lock up front: another process's writer queues on the
        // busy timeout instead of failing on a lock upgrade.
        counters.statements(1);
        if let Err(e) = writer.execute_batch("BEGIN IMMEDIATE") {
            return fail_all(unavailable(e));
        }
        let alone = works.len() == 1;
        let mut results = Vec::with_capacity(works.len());
        for (ticket, work) in works {
            if !alone {
                counters.statements(1);
                if let Err(e) = writer.execute_batch("SAVEPOINT write") {
                    return rollback(&writer, counters, fail_all(unavailable(e)));
                }
            }
            let result = work(&writer, counters);
            if !alone {
                // A failed write is undone alone; the group goes on.
                let undo = if result.is_err() {
                    counters.statements(2);
                    writer.execute_batch("ROLLBACK TO write; RELEASE write")
                } else {
                    counters.statements(1);
                    writer.execute_batch("RELEASE write")
                };
                if let Err(e) = undo {
                    return rollback(&writer, counters, fail_all(unavailable(e)));
                }
            }
            results.push((ticket, result));
        }
        if alone && results.iter().any(|(_, result)| result.is_err()) {
            // Nothing of the one failed write may stay.
            return rollback(&writer, counters, results);
        }
        counters.statements(1);
        match writer.execute_batch("COMMIT") {
            Ok(()) => results,
            Err(e) => rollback(&writer, counters, fail_all(unavailable(e))),
        }
    }

    fn load_sync(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.counters.statements(1);
        read_account(&*self.connection()?, account)
    }

    fn account_of_sync(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        self.counters.statements(1);
        owner_of(&*self.connection()?, credential)
    }

    fn history_sync(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        let connection = self.connection()?;
        self.counters.statements(1);
        let mut statement = connection
            .prepare_cached("SELECT event FROM events WHERE account = ?1 ORDER BY seq")
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![account.as_str()], |row| row.get::<_, String>(0))
            .map_err(unavailable)?;
        rows.map(|row| serde_json::from_str(&row.map_err(unavailable)?).map_err(corrupt))
            .collect()
    }
}

/// Ends the group's transaction without committing it; `results` are what its writers
/// are told.
fn rollback<T>(writer: &Connection, counters: &Counters, results: T) -> T {
    counters.statements(1);
    // Nothing to do if the failure already ended the transaction.
    let _ = writer.execute_batch("ROLLBACK");
    results
}

fn owner_of(
    connection: &Connection,
    credential: &CredentialId,
) -> Result<Option<AccountId>, StoreError> {
    let owner: Option<String> = connection
        .prepare_cached("SELECT account FROM credentials WHERE credential = ?1")
        .and_then(|mut s| {
            s.query_row(params![credential.as_bytes()], |r| r.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    Ok(owner.map(AccountId::new))
}

/// An append inside the group transaction. With `loaded` (the state at `expected`, as the
/// caller read it) only the version is read back; without, the state too.
fn append_in(
    tx: &Connection,
    counters: &Counters,
    account: &AccountId,
    expected: u64,
    events: &[Event],
    loaded: Option<AccountState>,
) -> Result<u64, StoreError> {
    counters.statements(1);
    let (actual, state) = match loaded {
        Some(state) => {
            let version: Option<i64> = tx
                .prepare_cached("SELECT version FROM accounts WHERE account = ?1")
                .and_then(|mut s| {
                    s.query_row(params![account.as_str()], |r| r.get(0))
                        .optional()
                })
                .map_err(unavailable)?;
            let version = version.map_or(Ok(0), u64::try_from).map_err(corrupt)?;
            (version, state)
        }
        None => {
            let Versioned { version, value } = read_account(tx, account)?;
            (version, value)
        }
    };
    if actual != expected {
        return Err(StoreError::Conflict { expected, actual });
    }
    let keys = key_changes(&state, events);
    let in_index = |key: &latchkey_policy::KeyFingerprint| {
        counters.statements(1);
        tx.prepare_cached("SELECT 1 FROM revoked_keys WHERE fingerprint = ?1")
            .and_then(|mut s| {
                s.query_row(params![&key.as_bytes()[..]], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(unavailable)
    };
    if keys.registers_revoked(in_index)? {
        return Err(StoreError::DuplicateCredential);
    }
    for key in &keys.revoked {
        counters.statements(1);
        schema::insert_revoked_key(tx, key).map_err(unavailable)?;
    }
    for (id, registered) in credential_changes(events) {
        if registered {
            counters.statements(2);
            if owner_of(tx, id)?.is_some_and(|owner| owner != *account) {
                return Err(StoreError::DuplicateCredential);
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO credentials (credential, account) VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute(params![id.as_bytes(), account.as_str()]))
            .map_err(unavailable)?;
        } else {
            counters.statements(1);
            tx.prepare_cached("DELETE FROM credentials WHERE credential = ?1")
                .and_then(|mut s| s.execute(params![id.as_bytes()]))
                .map_err(unavailable)?;
        }
    }
    let mut seq = expected;
    for event in events {
        seq += 1;
        let json = serde_json::to_string(event).map_err(corrupt)?;
        counters.statements(1);
        tx.prepare_cached("INSERT INTO events (account, seq, event) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| {
                s.execute(params![
                    account.as_str(),
                    i64::try_from(seq).unwrap_or(i64::MAX),
                    json
                ])
            })
            .map_err(unavailable)?;
    }
    if events.is_empty() {
        return Ok(seq);
    }
    let state = serde_json::to_string(&apply(state, events)).map_err(corrupt)?;
    counters.statements(1);
    tx.prepare_cached(
        "INSERT INTO accounts (account, version, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (account) DO UPDATE SET version = excluded.version, state = excluded.state",
    )
    .and_then(|mut s| {
        s.execute(params![
            account.as_str(),
            i64::try_from(seq).unwrap_or(i64::MAX),
            state
        ])
    })
    .map_err(unavailable)?;
    Ok(seq)
}

fn put_challenge_in(
    tx: &Connection,
    counters: &Counters,
    record: &ChallengeRecord,
) -> Result<(), StoreError> {
    // The first put wins: a second one must not make a used challenge fresh again.
    counters.statements(1);
    tx.prepare_cached(
        "INSERT INTO challenges (challenge, expires_at, binding) VALUES (?1, ?2, ?3)
         ON CONFLICT (challenge) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.challenge,
            record.expires_at.0,
            record.binding
        ])
    })
    .map_err(unavailable)?;
    Ok(())
}

/// Takes a challenge inside the group transaction: the writer holds the write lock, so
/// racing takers are serialised and the first one's mark is what the next one reads.
fn take_challenge_in(
    tx: &Connection,
    counters: &Counters,
    challenge: &[u8],
) -> Result<Taken, StoreError> {
    counters.statements(1);
    let fresh: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "UPDATE challenges SET used = 1 WHERE challenge = ?1 AND used = 0
             RETURNING expires_at, binding",
        )
        .and_then(|mut s| {
            s.query_row(params![challenge], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(unavailable)?;
    Ok(match fresh {
        Some((expires_at, binding)) => Taken::Fresh(ChallengeRecord {
            challenge: challenge.to_vec(),
            expires_at: Timestamp(expires_at),
            binding,
        }),
        None => {
            counters.statements(1);
            tx.prepare_cached("SELECT expires_at FROM challenges WHERE challenge = ?1")
                .and_then(|mut s| s.query_row(params![challenge], |row| row.get(0)).optional())
                .map_err(unavailable)?
                .map_or(Taken::Unknown, |expires_at| Taken::Used {
                    expires_at: Timestamp(expires_at),
                })
        }
    })
}

/// An account's version and folded state (version 0, empty, when unknown).
fn read_account(
    connection: &Connection,
    account: &AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let row: Option<(i64, String)> = connection
        .prepare_cached("SELECT version, state FROM accounts WHERE account = ?1")
        .and_then(|mut s| {
            s.query_row(params![account.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .map_err(unavailable)?;
    Ok(match row {
        None => Versioned {
            version: 0,
            value: AccountState::default(),
        },
        Some((version, state)) => Versioned {
            version: u64::try_from(version).map_err(corrupt)?,
            value: serde_json::from_str(&state).map_err(corrupt)?,
        },
    })
}

// The blocking pool needs owned arguments: each call copies its (small) inputs once.
impl Store for SqliteStore {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        let account = account.clone();
        self.run(move |pool| pool.load_sync(&account)).await
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let (account, events) = (account.clone(), events.to_vec());
        self.write(move |tx, counters| {
            append_in(tx, counters, &account, expected_version, &events, None)
        })
        .await
    }

    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        let credential = credential.clone();
        self.run(move |pool| pool.account_of_sync(&credential))
            .await
    }

    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        let account = account.clone();
        self.run(move |pool| pool.history_sync(&account)).await
    }

    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.write(move |tx, counters| put_challenge_in(tx, counters, &record))
            .await
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        let challenge = challenge.to_vec();
        self.write(move |tx, counters| take_challenge_in(tx, counters, &challenge))
            .await
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.write(move |tx, counters| {
            counters.statements(1);
            tx.execute(
                "DELETE FROM challenges WHERE expires_at < ?1",
                params![now.0],
            )
            .map_err(unavailable)
        })
        .await
    }

    async fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        let account = account.clone();
        self.write(move |tx, counters| {
            put_challenge_in(tx, counters, &record)?;
            counters.statements(1);
            read_account(tx, &account)
        })
        .await
    }

    async fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<(Taken, Option<Owner>), StoreError> {
        let (challenge, credential) = (challenge.to_vec(), credential.clone());
        self.write(move |tx, counters| {
            let taken = take_challenge_in(tx, counters, &challenge)?;
            if !matches!(taken, Taken::Fresh(_)) {
                return Ok((taken, None));
            }
            counters.statements(1);
            let Some(account) = owner_of(tx, &credential)? else {
                return Ok((taken, None));
            };
            counters.statements(1);
            let state = read_account(tx, &account)?;
            Ok((taken, Some(Owner { account, state })))
        })
        .await
    }

    async fn append_loaded(
        &self,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let (account, events) = (account.clone(), events.to_vec());
        let (expected, state) = (loaded.version, loaded.value.clone());
        self.write(move |tx, counters| {
            append_in(tx, counters, &account, expected, &events, Some(state))
        })
        .await
    }
}
