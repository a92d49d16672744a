#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod schema;
mod sql;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Metrics, Pool, RecyclingMethod, Runtime};
use latchkey_policy::{AccountState, CredentialId, Event, Timestamp};
use latchkey_store::{
    AccountId, ChallengeRecord, Owner, Store, StoreError, TakeAndAppend, Taken, Versioned,
    credential_changes,
};
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{NoTls, Socket};

use crate::sql::{Counters, Db, unavailable};

/// What a [`PostgresStore`] has asked of its server since it connected (migrations and
/// opening connections aside): see [`PostgresStore::round_trips`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTrips {
    /// Exchanges the store sent and waited for: each statement (Bind, Execute, Sync), and
    /// each preparation of a statement on a connection that had not prepared it yet.
    pub round_trips: u64,
    /// Of those, the preparations (each connection prepares each statement once).
    pub prepared: u64,
    /// Transactions: every statement the store sends runs alone, as one.
    pub transactions: u64,
    /// Of those, the ones that wrote and waited for their commit to reach the disk (a
    /// take, an append, a purge; a challenge's put only with
    /// [`Options::synchronous_challenge_puts`]).
    pub synchronous_commits: u64,
}

impl RoundTrips {
    /// The counts since `earlier`.
    #[must_use]
    pub fn since(self, earlier: Self) -> Self {
        Self {
            round_trips: self.round_trips.saturating_sub(earlier.round_trips),
            prepared: self.prepared.saturating_sub(earlier.prepared),
            transactions: self.transactions.saturating_sub(earlier.transactions),
            synchronous_commits: self
                .synchronous_commits
                .saturating_sub(earlier.synchronous_commits),
        }
    }
}

/// Connection settings besides the URL.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Most pooled connections (default 16).
    pub max_connections: usize,
    /// How long an operation waits to connect or for a free connection before it fails
    /// with [`StoreError::Unavailable`] (default 5 s).
    pub timeout: Duration,
    /// A PostgreSQL schema to keep the tables in, created if missing (default: the
    /// connection's `search_path`, usually `public`). ASCII letters, digits and `_`,
    /// starting with a letter or `_`, at most 63 bytes.
    pub schema: Option<String>,
    /// Threads of the store's own I/O runtime, started only when
    /// [`connect`](PostgresStore::connect) is called outside a tokio runtime (default 2).
    pub io_threads: usize,
    /// Longest time one operation may take end to end, server round trips included
    /// (default 30 s). Past it the operation fails with [`StoreError::Unavailable`]: a
    /// server that stops answering without closing connections (a network partition)
    /// never hangs a request. An append cut off this way is rolled back by the server.
    pub operation_timeout: Duration,
    /// Lets the reads that may be stale go to a standby (default `false`: every read goes
    /// to the primary). They are the ones made for display only:
    /// [`history`](Store::history) and [`load_for_display`](Store::load_for_display) (the
    /// facade's passkey list). They then use a pool of their own (up to
    /// [`max_connections`](Self::max_connections) more connections) to the first host of
    /// the URL that is read-only (`target_session_attrs=read-only`: a hot standby), and the
    /// primary when no such host answers in [`timeout`](Self::timeout). A standby lags: a
    /// change just acknowledged may be missing from them for a moment.
    ///
    /// Everything a decision depends on reads the primary whatever this says:
    /// [`load`](Store::load) (before every append, and every ceremony's start),
    /// [`account_of`](Store::account_of) (discoverable login),
    /// [`take_challenge`](Store::take_challenge) and every write.
    pub standby_reads: bool,
    /// Whether putting a challenge waits for its commit to reach the disk (and a
    /// synchronous standby) before a ceremony's start answers (default `false`). A put
    /// that does not wait may be lost in a crash or a failover: that one ceremony's finish
    /// is then refused (`challenge_mismatch`) and the user starts again. A lost put never
    /// lets a response pass, and every take and append waits for the disk whatever this
    /// says: P16's single use holds across crashes. Not waiting takes one of a login's two
    /// synchronous commits away.
    pub synchronous_challenge_puts: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_connections: 16,
            timeout: Duration::from_secs(5),
            schema: None,
            io_threads: 2,
            operation_timeout: Duration::from_secs(30),
            standby_reads: false,
            synchronous_challenge_puts: false,
        }
    }
}

/// A [`Store`] in a PostgreSQL database, shared by any number of service instances.
///
/// Every operation is one statement, so one round trip and one transaction. An append is
/// one call of the `latchkey_append` function, which locks the account row, checks the
/// expected version, updates the credential-owner index, inserts the events and the folded
/// state: the minimum-one rule, monotonic counters and the event log hold across
/// instances. A challenge is consumed by one statement that locks its row and marks it
/// used: of racing takers one gets it fresh, the others see it used. A login is one round
/// trip to start ([`Store::put_challenge_and_load`], whose commit does not wait for the
/// disk unless [`Options::synchronous_challenge_puts`]) and two to finish
/// ([`Store::peek_challenge_and_owner`], a read, then
/// [`Store::take_challenge_and_append`], the take and the append in one statement): one
/// commit that waits for the disk per login. [`round_trips`](Self::round_trips) counts
/// them.
///
/// Connected inside a tokio runtime, the store runs its connections and operations on that
/// runtime (one task spawn per operation) and stays bound to it: use it from that
/// runtime's lifetime. Connected anywhere else, it starts a small runtime of its own
/// ([`Options::io_threads`] threads), so that its futures can be awaited from any executor
/// (another runtime, or a plain `block_on`). [`has_own_runtime`](Self::has_own_runtime)
/// tells which.
#[derive(Debug)]
pub struct PostgresStore {
    /// The primary's pool, the standby pool ([`Options::standby_reads`]) and the
    /// round-trip counters.
    db: Db,
    schema: Option<String>,
    operation_timeout: Duration,
    /// `Some` until dropped.
    executor: Option<Executor>,
}

/// Where the store's operations run.
#[derive(Debug)]
enum Executor {
    /// The tokio runtime `connect` was called on.
    Caller(tokio::runtime::Handle),
    /// The store's own runtime, shut down in the background on drop so that dropping the
    /// store inside an async context never blocks or panics.
    Own(tokio::runtime::Runtime),
}

impl Executor {
    fn handle(&self) -> &tokio::runtime::Handle {
        match self {
            Self::Caller(handle) => handle,
            Self::Own(runtime) => runtime.handle(),
        }
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database` or a libpq
    /// key-value string) without TLS, and applies missing migrations.
    ///
    /// The URL may name several hosts, a primary and its standbys:
    /// `postgres://user@h1:5432,h2:5432/database?target_session_attrs=read-write`. Each new
    /// connection tries them in order and keeps the first that accepts writes, so after a
    /// failover (the primary dead, a standby promoted) the pool reconnects to the new
    /// primary (`read-write` is what the store asks for whatever the URL says: a standby
    /// named first is never taken for the primary): connections to the dead server are closed, discarded when they are next
    /// taken from the pool (deadpool's fast recycling checks `is_closed`), and replaced.
    /// An operation caught by the failure answers [`StoreError::Unavailable`] within
    /// [`Options::operation_timeout`] (it may or may not have committed); one started after
    /// the promotion runs on the new primary. Every operation reads and writes the primary, but for the display reads
    /// [`Options::standby_reads`] lets go to a standby.
    /// What survives a failover depends on the servers' replication settings: see the
    /// crate's README.
    ///
    /// ```no_run
    /// use latchkey_store::Store;
    /// use latchkey_store_postgres::{Options, PostgresStore};
    ///
    /// # async fn run() -> Result<(), latchkey_store::StoreError> {
    /// let store = PostgresStore::connect("postgres://latchkey@127.0.0.1/passkeys", Options::default()).await?;
    /// let alice = store.load(&latchkey_store::AccountId::new("alice")).await?;
    /// assert_eq!(alice.version, 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the URL or schema name is invalid, the database
    /// cannot be reached in time, or its schema is newer than this library.
    pub async fn connect(url: &str, options: Options) -> Result<Self, StoreError> {
        Self::connect_with_tls(url, options, NoTls).await
    }

    /// Connects with a TLS connector (for example from `tokio-postgres-rustls`).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_tls<T>(
        url: &str,
        options: Options,
        tls: T,
    ) -> Result<Self, StoreError>
    where
        T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
        T::Stream: Sync + Send,
        T::TlsConnect: Sync + Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| unavailable("invalid PostgreSQL connection string"))?;
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
            config.options(format!("-c search_path={schema}"));
        }
        config.connect_timeout(options.timeout);
        // Whatever the URL says (libpq's default is `any`): the store's own pool only ever
        // talks to a host that accepts writes, never to a standby listed first.
        let mut primary = config.clone();
        primary.target_session_attrs(TargetSessionAttrs::ReadWrite);
        let standby = if options.standby_reads {
            let mut standby = config.clone();
            standby.target_session_attrs(TargetSessionAttrs::ReadOnly);
            Some(pool(standby, tls.clone(), &options)?)
        } else {
            None
        };
        let pool = pool(primary, tls, &options)?;
        let executor = match tokio::runtime::Handle::try_current() {
            Ok(caller) => Executor::Caller(caller),
            Err(_) => Executor::Own(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(options.io_threads.max(1))
                    .thread_name("latchkey-postgres")
                    .enable_all()
                    .build()
                    .map_err(unavailable)?,
            ),
        };
        let store = Self {
            db: Db {
                pool,
                standby,
                counters: Arc::new(Counters::default()),
                synchronous_puts: options.synchronous_challenge_puts,
            },
            operation_timeout: options.operation_timeout,
            schema: options.schema,
            executor: Some(executor),
        };
        let schema = store.schema.clone();
        store
            .run(|db| async move {
                let mut client = db.pool.get().await.map_err(unavailable)?;
                schema::migrate(&mut client, schema.as_deref()).await
            })
            .await?;
        Ok(store)
    }

    /// Drops the store's schema and every table in it: for throwaway schemas in tests and
    /// scenario runs.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the store has no schema of its own (the tables of
    /// the default `search_path` are never dropped this way) or the database fails.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        let Some(schema) = self.schema.clone() else {
            return Err(unavailable("drop_schema needs Options::schema"));
        };
        self.run(|db| async move {
            let client = db.pool.get().await.map_err(unavailable)?;
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
                .map_err(unavailable)
        })
        .await
    }

    /// What the store has sent its server so far: the round trips and transactions its
    /// operations took. Each operation is one statement; the first use of a statement on a
    /// connection adds one round trip to prepare it.
    #[must_use]
    pub fn round_trips(&self) -> RoundTrips {
        self.db.counters.snapshot()
    }

    /// Whether the store started a runtime of its own (it was connected outside a tokio
    /// runtime) rather than running on the caller's.
    #[must_use]
    pub fn has_own_runtime(&self) -> bool {
        matches!(self.executor, Some(Executor::Own(_)))
    }

    /// Runs `operation` on the store's runtime, within the operation timeout, and waits
    /// for it from any executor.
    async fn run<T, F, Fut>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Db) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let executor = self
            .executor
            .as_ref()
            .ok_or_else(|| unavailable("store is shut down"))?;
        let (limit, operation) = (self.operation_timeout, operation(self.db.clone()));
        let pools = (self.db.pool.clone(), self.db.standby.clone());
        // The timer is created inside the task: it needs the store's runtime.
        executor
            .handle()
            .spawn(async move {
                let started = Instant::now();
                let outcome = tokio::time::timeout(limit, operation).await;
                if outcome.is_err() {
                    // The operation is dropped and its connection back in the pool, maybe
                    // one that stopped answering without closing (a partitioned server):
                    // it must not be handed to the next operation. Every connection taken
                    // since this operation started goes, the next ones are opened afresh
                    // (on whichever host is the primary now).
                    let used_before = |metrics: Metrics| metrics.last_used() > started.elapsed();
                    pools.0.retain(|_, metrics| used_before(metrics));
                    if let Some(standby) = &pools.1 {
                        standby.retain(|_, metrics| used_before(metrics));
                    }
                }
                outcome
            })
            .await
            .map_err(|e| unavailable(format!("store task failed: {e}")))?
            .map_err(|_| unavailable("operation timed out"))?
    }
}

/// A pool of connections made with `config`.
fn pool<T>(config: tokio_postgres::Config, tls: T, options: &Options) -> Result<Pool, StoreError>
where
    T: MakeTlsConnect<Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.max_connections.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        .recycle_timeout(Some(options.timeout))
        .build()
        .map_err(unavailable)
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(Executor::Own(runtime)) = self.executor.take() {
            runtime.shutdown_background();
        }
    }
}

/// Schema names are spliced into SQL and the connection options, so they are held to a
/// plain identifier.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(unavailable(
            "schema name must be ASCII letters, digits and _, at most 63 bytes",
        ))
    }
}

fn append_of(account: &AccountId, expected: u64, events: &[Event]) -> sql::Append {
    sql::Append {
        account: account.clone(),
        expected,
        events: events.to_vec(),
        credentials: credential_changes(events)
            .map(|(id, registered)| (id.as_bytes().to_vec(), registered))
            .collect(),
    }
}

impl Store for PostgresStore {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        let account = account.clone();
        self.run(|db| sql::load(db, account)).await
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let append = append_of(account, expected_version, events);
        self.run(|db| sql::append(db, append)).await
    }

    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        let credential = credential.as_bytes().to_vec();
        self.run(|db| sql::account_of(db, credential)).await
    }

    async fn load_for_display(
        &self,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        let account = account.clone();
        self.run(|db| sql::load_for_display(db, account)).await
    }

    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        let account = account.clone();
        self.run(|db| sql::history(db, account)).await
    }

    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.run(|db| sql::put_challenge(db, record)).await
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.run(|db| sql::purge_challenges(db, now)).await
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        let challenge = challenge.to_vec();
        self.run(|db| sql::take_challenge(db, challenge)).await
    }

    async fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        let account = account.clone();
        self.run(|db| sql::put_challenge_and_load(db, record, account))
            .await
    }

    async fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<(Taken, Option<Owner>), StoreError> {
        let (challenge, credential) = (challenge.to_vec(), credential.as_bytes().to_vec());
        self.run(|db| sql::take_challenge_and_owner(db, challenge, credential))
            .await
    }

    async fn append_loaded(
        &self,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let append = append_of(account, loaded.version, events);
        let state = loaded.value.clone();
        self.run(|db| sql::append_loaded(db, append, state)).await
    }

    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
        let (challenge, credential) = (challenge.to_vec(), credential.as_bytes().to_vec());
        self.run(|db| sql::peek_challenge_and_owner(db, challenge, credential))
            .await
            .map(Some)
    }

    async fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<TakeAndAppend, StoreError> {
        let challenge = challenge.to_vec();
        let append = append_of(account, loaded.version, events);
        let state = loaded.value.clone();
        self.run(|db| sql::take_challenge_and_append(db, challenge, append, state))
            .await
    }
}
