//! The store's statements, each an async function over a pooled client.
//!
//! They run on the store's own runtime (see `PostgresStore::run`), so they take owned
//! arguments.

use deadpool_postgres::{GenericClient, Pool};
use latchkey_policy::{AccountState, Event, Timestamp, apply};
use latchkey_store::{AccountId, ChallengeRecord, StoreError, Taken, Versioned};
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;

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

/// A statement, prepared once per connection.
async fn prepare(client: &impl GenericClient, sql: &str) -> Result<Statement, StoreError> {
    client.prepare_cached(sql).await.map_err(unavailable)
}

async fn client(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(unavailable)
}

/// An account's version and folded state (version 0, empty, when unknown).
async fn read_account(
    client: &impl GenericClient,
    account: &str,
    for_update: bool,
) -> Result<Versioned<AccountState>, StoreError> {
    let query = if for_update {
        "SELECT version, state FROM accounts WHERE account = $1 FOR UPDATE"
    } else {
        "SELECT version, state FROM accounts WHERE account = $1"
    };
    let statement = prepare(client, query).await?;
    let row = client
        .query_opt(&statement, &[&account])
        .await
        .map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(Versioned {
            version: 0,
            value: AccountState::default(),
        });
    };
    let version: i64 = row.try_get(0).map_err(corrupt)?;
    let state: String = row.try_get(1).map_err(corrupt)?;
    Ok(Versioned {
        version: version_column(version)?,
        value: serde_json::from_str(&state).map_err(corrupt)?,
    })
}

/// A connection for a read that may be stale: to a standby when the store has a standby
/// pool and one answers, else to the primary.
async fn stale_client(
    primary: &Pool,
    standby: Option<&Pool>,
) -> Result<deadpool_postgres::Object, StoreError> {
    match standby {
        Some(standby) => match standby.get().await {
            Ok(client) => Ok(client),
            Err(_) => client(primary).await,
        },
        None => client(primary).await,
    }
}

pub(crate) async fn load(
    pool: Pool,
    account: AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let client = client(&pool).await?;
    read_account(&client, account.as_str(), false).await
}

pub(crate) async fn load_for_display(
    pool: Pool,
    standby: Option<Pool>,
    account: AccountId,
) -> Result<Versioned<AccountState>, StoreError> {
    let client = stale_client(&pool, standby.as_ref()).await?;
    read_account(&client, account.as_str(), false).await
}

/// What an append needs, owned: the credential index changes are derived by the caller.
pub(crate) struct Append {
    pub(crate) account: AccountId,
    pub(crate) expected: u64,
    pub(crate) events: Vec<Event>,
    /// (credential id, registered?) in event order.
    pub(crate) credentials: Vec<(Vec<u8>, bool)>,
}

pub(crate) async fn append(pool: Pool, append: Append) -> Result<u64, StoreError> {
    let mut client = client(&pool).await?;
    let tx = client.transaction().await.map_err(unavailable)?;
    let account = append.account.as_str();
    // Make sure the account row exists, then lock it: concurrent appends to one account
    // queue here, and the first writer of a new account is the only one at version 0.
    let empty = serde_json::to_string(&AccountState::default()).map_err(corrupt)?;
    let ensure = prepare(
        &tx,
        "INSERT INTO accounts (account, version, state) VALUES ($1, 0, $2)
             ON CONFLICT (account) DO NOTHING",
    )
    .await?;
    tx.execute(&ensure, &[&account, &empty])
        .await
        .map_err(transient(append.expected))?;
    let Versioned {
        version: actual,
        value: state,
    } = read_account(&tx, account, true).await?;
    if actual != append.expected {
        return Err(StoreError::Conflict {
            expected: append.expected,
            actual,
        });
    }

    let register = prepare(
        &tx,
        "INSERT INTO credentials (credential, account) VALUES ($1, $2)
             ON CONFLICT (credential) DO UPDATE SET account = excluded.account
             WHERE credentials.account = excluded.account
             RETURNING account",
    )
    .await?;
    let unregister = prepare(
        &tx,
        "DELETE FROM credentials WHERE credential = $1 AND account = $2",
    )
    .await?;
    for (id, registered) in &append.credentials {
        if *registered {
            // No row back: the id is another account's (P15).
            let owned = tx
                .query_opt(&register, &[id, &account])
                .await
                .map_err(transient(append.expected))?;
            if owned.is_none() {
                return Err(StoreError::DuplicateCredential);
            }
        } else {
            tx.execute(&unregister, &[id, &account])
                .await
                .map_err(transient(append.expected))?;
        }
    }

    let first = version_param(append.expected + 1)?;
    let seqs: Vec<i64> = (first..).take(append.events.len()).collect();
    let json = append
        .events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?;
    let insert = prepare(
        &tx,
        "INSERT INTO events (account, seq, event)
             SELECT $1, seq, event FROM UNNEST($2::BIGINT[], $3::TEXT[]) AS e (seq, event)",
    )
    .await?;
    tx.execute(&insert, &[&account, &seqs, &json])
        .await
        .map_err(transient(append.expected))?;

    let version = append.expected + append.events.len() as u64;
    let state = serde_json::to_string(&apply(state, &append.events)).map_err(corrupt)?;
    let update = prepare(
        &tx,
        "UPDATE accounts SET version = $2, state = $3 WHERE account = $1",
    )
    .await?;
    tx.execute(&update, &[&account, &version_param(version)?, &state])
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(transient(append.expected))?;
    Ok(version)
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
    pool: Pool,
    credential: Vec<u8>,
) -> Result<Option<AccountId>, StoreError> {
    let client = client(&pool).await?;
    let statement = prepare(
        &client,
        "SELECT account FROM credentials WHERE credential = $1",
    )
    .await?;
    let row = client
        .query_opt(&statement, &[&credential])
        .await
        .map_err(unavailable)?;
    row.map(|row| row.try_get::<_, String>(0).map(AccountId::new))
        .transpose()
        .map_err(corrupt)
}

pub(crate) async fn history(
    pool: Pool,
    standby: Option<Pool>,
    account: AccountId,
) -> Result<Vec<Event>, StoreError> {
    let client = stale_client(&pool, standby.as_ref()).await?;
    let statement = prepare(
        &client,
        "SELECT event FROM events WHERE account = $1 ORDER BY seq",
    )
    .await?;
    let rows = client
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

pub(crate) async fn put_challenge(pool: Pool, record: ChallengeRecord) -> Result<(), StoreError> {
    let client = client(&pool).await?;
    // The first put wins: a second one must not make a used challenge fresh again.
    let statement = prepare(
        &client,
        "INSERT INTO challenges (challenge, expires_at, binding) VALUES ($1, $2, $3)
             ON CONFLICT (challenge) DO NOTHING",
    )
    .await?;
    client
        .execute(
            &statement,
            &[&record.challenge, &record.expires_at.0, &record.binding],
        )
        .await
        .map_err(unavailable)?;
    Ok(())
}

pub(crate) async fn take_challenge(pool: Pool, challenge: Vec<u8>) -> Result<Taken, StoreError> {
    let client = client(&pool).await?;
    // One statement checks and marks: racing takers queue on the row lock, and each one
    // after the first finds the row used (READ COMMITTED re-checks the updated row).
    let consume = prepare(
        &client,
        "UPDATE challenges SET used = true WHERE challenge = $1 AND NOT used
             RETURNING expires_at, binding",
    )
    .await?;
    let row = client
        .query_opt(&consume, &[&challenge])
        .await
        .map_err(unavailable)?;
    if let Some(row) = row {
        return Ok(Taken::Fresh(ChallengeRecord {
            challenge,
            expires_at: Timestamp(row.try_get(0).map_err(corrupt)?),
            binding: row.try_get(1).map_err(corrupt)?,
        }));
    }
    // Nothing consumed, so nothing changed: tell a used challenge from one never stored or
    // already purged.
    let find = prepare(
        &client,
        "SELECT expires_at FROM challenges WHERE challenge = $1 AND used",
    )
    .await?;
    let row = client
        .query_opt(&find, &[&challenge])
        .await
        .map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(Taken::Unknown);
    };
    Ok(Taken::Used {
        expires_at: Timestamp(row.try_get(0).map_err(corrupt)?),
    })
}

pub(crate) async fn purge_challenges(pool: Pool, now: Timestamp) -> Result<usize, StoreError> {
    let client = client(&pool).await?;
    let statement = prepare(&client, "DELETE FROM challenges WHERE expires_at < $1").await?;
    let deleted = client
        .execute(&statement, &[&now.0])
        .await
        .map_err(unavailable)?;
    usize::try_from(deleted).map_err(corrupt)
}
