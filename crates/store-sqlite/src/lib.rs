#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod schema;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use latchkey_policy::{AccountState, CredentialId, Event, Timestamp, apply};
use latchkey_store::{
    AccountId, ChallengeRecord, Store, StoreError, Taken, Versioned, credential_changes,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Connections opened by [`SqliteStore::open`].
pub const DEFAULT_CONNECTIONS: usize = 4;

/// How long a connection waits for another's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] in one SQLite database file.
///
/// WAL mode, migrations applied on open, one `BEGIN IMMEDIATE` transaction per append:
/// a process killed at any point leaves every account at a consistent version.
///
/// SQLite calls block (on the disk, and on another connection's write lock for up to
/// the busy timeout). Inside a tokio runtime (feature `tokio`, on by default) they run on
/// tokio's blocking pool, so an async worker thread is never blocked; that hop costs a
/// thread hand-off per call (tens of microseconds). Outside a tokio runtime, or without
/// the feature, they run on the calling thread inside the returned future.
#[derive(Debug)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

/// The connections, shared with the blocking tasks that use them.
#[derive(Debug)]
struct Pool {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with
    /// [`DEFAULT_CONNECTIONS`] connections.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, DEFAULT_CONNECTIONS)
    }

    /// Opens the database with `connections` connections (at least one).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub fn open_with(path: impl AsRef<Path>, connections: usize) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut pool = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            let connection = Connection::open(path).map_err(unavailable)?;
            connection.busy_timeout(BUSY_TIMEOUT).map_err(unavailable)?;
            connection
                .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                .map_err(unavailable)?;
            pool.push(Mutex::new(connection));
        }
        let pool = Pool {
            connections: pool,
            next: AtomicUsize::new(0),
        };
        schema::migrate(&mut *pool.connection()?)?;
        Ok(Self {
            pool: Arc::new(pool),
        })
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
}

impl Pool {
    /// One connection of the pool, round robin.
    fn connection(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections
            .get(index)
            .ok_or_else(|| unavailable("no connection"))?
            .lock()
            .map_err(|_| unavailable("connection poisoned"))
    }

    fn load_sync(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        read_account(&*self.connection()?, account)
    }

    fn append_sync(
        &self,
        account: &AccountId,
        expected: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let mut connection = self.connection()?;
        // IMMEDIATE takes the write lock up front, so two appends serialise instead of
        // failing on a lock upgrade.
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let Versioned {
            version: actual,
            value: state,
        } = read_account(&tx, account)?;
        if actual != expected {
            return Err(StoreError::Conflict { expected, actual });
        }
        for (id, registered) in credential_changes(events) {
            if registered {
                let owner: Option<String> = tx
                    .query_row(
                        "SELECT account FROM credentials WHERE credential = ?1",
                        params![id.as_bytes()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if owner.is_some_and(|owner| owner != account.as_str()) {
                    return Err(StoreError::DuplicateCredential);
                }
                tx.execute(
                    "INSERT OR REPLACE INTO credentials (credential, account) VALUES (?1, ?2)",
                    params![id.as_bytes(), account.as_str()],
                )
                .map_err(unavailable)?;
            } else {
                tx.execute(
                    "DELETE FROM credentials WHERE credential = ?1",
                    params![id.as_bytes()],
                )
                .map_err(unavailable)?;
            }
        }
        let mut seq = expected;
        for event in events {
            seq += 1;
            let json = serde_json::to_string(event).map_err(corrupt)?;
            tx.execute(
                "INSERT INTO events (account, seq, event) VALUES (?1, ?2, ?3)",
                params![account.as_str(), i64::try_from(seq).map_err(corrupt)?, json],
            )
            .map_err(unavailable)?;
        }
        let state = serde_json::to_string(&apply(state, events)).map_err(corrupt)?;
        tx.execute(
            "INSERT INTO accounts (account, version, state) VALUES (?1, ?2, ?3)
             ON CONFLICT (account) DO UPDATE SET version = excluded.version, state = excluded.state",
            params![account.as_str(), i64::try_from(seq).map_err(corrupt)?, state],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(seq)
    }

    fn account_of_sync(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        let connection = self.connection()?;
        let owner: Option<String> = connection
            .query_row(
                "SELECT account FROM credentials WHERE credential = ?1",
                params![credential.as_bytes()],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        Ok(owner.map(AccountId::new))
    }

    fn history_sync(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        let connection = self.connection()?;
        let mut statement = connection
            .prepare("SELECT event FROM events WHERE account = ?1 ORDER BY seq")
            .map_err(unavailable)?;
        let rows = statement
            .query_map(params![account.as_str()], |row| row.get::<_, String>(0))
            .map_err(unavailable)?;
        rows.map(|row| serde_json::from_str(&row.map_err(unavailable)?).map_err(corrupt))
            .collect()
    }

    fn put_challenge_sync(&self, record: &ChallengeRecord) -> Result<(), StoreError> {
        // The first put wins: a second one must not make a used challenge fresh again.
        self.connection()?
            .execute(
                "INSERT INTO challenges (challenge, expires_at, binding) VALUES (?1, ?2, ?3)
                 ON CONFLICT (challenge) DO NOTHING",
                params![record.challenge, record.expires_at.0, record.binding],
            )
            .map_err(unavailable)?;
        Ok(())
    }

    fn take_challenge_sync(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        let mut connection = self.connection()?;
        // IMMEDIATE holds the write lock from the start: racing takers queue, and the
        // first one's mark is what the next one reads.
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let fresh: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "UPDATE challenges SET used = 1 WHERE challenge = ?1 AND used = 0
                 RETURNING expires_at, binding",
                params![challenge],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(unavailable)?;
        let taken = match fresh {
            Some((expires_at, binding)) => Taken::Fresh(ChallengeRecord {
                challenge: challenge.to_vec(),
                expires_at: Timestamp(expires_at),
                binding,
            }),
            None => tx
                .query_row(
                    "SELECT expires_at FROM challenges WHERE challenge = ?1",
                    params![challenge],
                    |row| row.get(0),
                )
                .optional()
                .map_err(unavailable)?
                .map_or(Taken::Unknown, |expires_at| Taken::Used {
                    expires_at: Timestamp(expires_at),
                }),
        };
        tx.commit().map_err(unavailable)?;
        Ok(taken)
    }
}

/// An account's version and folded state (version 0, empty, when unknown).
fn read_account(
    connection: &Connection,
    account: &AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let row: Option<(i64, String)> = connection
        .query_row(
            "SELECT version, state FROM accounts WHERE account = ?1",
            params![account.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
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
        self.run(move |pool| pool.append_sync(&account, expected_version, &events))
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
        self.run(move |pool| pool.put_challenge_sync(&record)).await
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        let challenge = challenge.to_vec();
        self.run(move |pool| pool.take_challenge_sync(&challenge))
            .await
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.run(move |pool| {
            pool.connection()?
                .execute(
                    "DELETE FROM challenges WHERE expires_at < ?1",
                    params![now.0],
                )
                .map_err(unavailable)
        })
        .await
    }
}
