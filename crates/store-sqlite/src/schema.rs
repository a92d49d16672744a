//! Embedded migrations, applied in order on open and tracked in `PRAGMA user_version`.

use latchkey_policy::{AccountState, KeyFingerprint};
use latchkey_store::StoreError;
use rusqlite::{Connection, TransactionBehavior};

/// Each entry moves the schema one version up. Never edit a released entry; add one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts with their folded state, the event log, the credential owner index
    //    (P15: one owner per credential id), single-use challenges (P16).
    "CREATE TABLE accounts (
         account TEXT PRIMARY KEY,
         version INTEGER NOT NULL,
         state   TEXT NOT NULL
     ) STRICT;
     CREATE TABLE events (
         account TEXT NOT NULL,
         seq     INTEGER NOT NULL,
         event   TEXT NOT NULL,
         PRIMARY KEY (account, seq)
     ) STRICT;
     CREATE TABLE credentials (
         credential BLOB PRIMARY KEY,
         account    TEXT NOT NULL
     ) STRICT;
     CREATE TABLE challenges (
         challenge  BLOB PRIMARY KEY,
         expires_at INTEGER NOT NULL,
         binding    BLOB NOT NULL
     ) STRICT;",
    // 2: challenges are marked used instead of deleted, in the same step that takes them
    //    (P16), and stay until purged. Before, the facade deleted a challenge and put it
    //    back with the binding `latchkey:used`: those rows are used ones.
    "ALTER TABLE challenges ADD COLUMN used INTEGER NOT NULL DEFAULT 0 CHECK (used IN (0, 1));
     UPDATE challenges SET used = 1 WHERE binding = X'6c617463686b65793a75736564';",
    // 3: the store-wide index of revoked public keys (P20), by `KeyFingerprint`: a key
    //    revoked in one account is registered again in none. `backfill` below fills it
    //    from the states already stored.
    "CREATE TABLE revoked_keys (
         fingerprint BLOB PRIMARY KEY CHECK (length(fingerprint) = 32)
     ) STRICT, WITHOUT ROWID;",
];

/// Work a migration needs that SQL cannot do, by the version it brings the schema to.
fn backfill(tx: &Connection, version: usize) -> Result<(), StoreError> {
    if version != 3 {
        return Ok(());
    }
    // The fingerprints are computed here, from the revoked keys each state kept.
    let unavailable = |e: rusqlite::Error| StoreError::Unavailable(format!("migration: {e}"));
    let mut statement = tx
        .prepare("SELECT account, state FROM accounts WHERE state LIKE '%\"revoked_keys\"%'")
        .map_err(unavailable)?;
    let states = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)?;
    for (account, json) in states {
        let state: AccountState = serde_json::from_str(&json).map_err(|e| {
            StoreError::Corrupt(format!("migration: state of account {account:?}: {e}"))
        })?;
        for key in state.revoked_key_fingerprints() {
            insert_revoked_key(tx, &key).map_err(unavailable)?;
        }
    }
    Ok(())
}

/// Adds a key to the index of revoked keys; one already there stays.
pub(crate) fn insert_revoked_key(
    tx: &Connection,
    key: &KeyFingerprint,
) -> Result<usize, rusqlite::Error> {
    tx.prepare_cached("INSERT INTO revoked_keys (fingerprint) VALUES (?1) ON CONFLICT DO NOTHING")
        .and_then(|mut s| s.execute([&key.as_bytes()[..]]))
}

pub(crate) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let unavailable = |e: rusqlite::Error| StoreError::Unavailable(format!("migration: {e}"));
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(unavailable)?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this latchkey ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(migration).map_err(unavailable)?;
        backfill(&tx, index + 1)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )
        .map_err(unavailable)?;
    }
    tx.commit().map_err(unavailable)
}
