//! Embedded migrations, applied in order on connect and tracked in `latchkey_schema`.
//!
//! Many instances may start at once: a transaction-scoped advisory lock lets one of them
//! migrate while the others wait, then find nothing left to do.

use deadpool_postgres::{Client, Transaction};
use latchkey_policy::AccountState;
use latchkey_store::StoreError;

use crate::sql::unavailable;

/// Each entry moves the schema one version up. Never edit a released entry; add one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts with their folded state, the event log, the credential owner index
    //    (P15: one owner per credential id), single-use challenges (P16).
    "CREATE TABLE accounts (
         account TEXT PRIMARY KEY,
         version BIGINT NOT NULL CHECK (version >= 0),
         state   TEXT NOT NULL
     );
     CREATE TABLE events (
         account TEXT NOT NULL,
         seq     BIGINT NOT NULL CHECK (seq > 0),
         event   TEXT NOT NULL,
         PRIMARY KEY (account, seq)
     );
     CREATE TABLE credentials (
         credential BYTEA PRIMARY KEY,
         account    TEXT NOT NULL
     );
     CREATE TABLE challenges (
         challenge  BYTEA PRIMARY KEY,
         expires_at BIGINT NOT NULL,
         binding    BYTEA NOT NULL
     );
     CREATE INDEX challenges_by_deadline ON challenges (expires_at);",
    // 2: challenges are marked used instead of deleted, in the same statement that takes
    //    them (P16), and stay until purged. Before, the facade deleted a challenge and put
    //    it back with the binding `latchkey:used`: those rows are used ones.
    "ALTER TABLE challenges ADD COLUMN used BOOLEAN NOT NULL DEFAULT false;
     UPDATE challenges SET used = true
         WHERE binding = decode('6c617463686b65793a75736564', 'hex');",
    // 3: an append in one statement (one round trip, one transaction): lock the account
    //    row (creating it for a new account), check the expected version, update the
    //    credential-owner index (a credential another account owns raises LK001, which
    //    rolls everything back), insert the events and store the state the client folded.
    "CREATE FUNCTION latchkey_append(
         p_account TEXT, p_expected BIGINT, p_state TEXT, p_events TEXT[],
         p_credentials BYTEA[], p_registered BOOLEAN[],
         OUT appended BOOLEAN, OUT version BIGINT
     ) LANGUAGE plpgsql AS $fn$
     DECLARE
         actual BIGINT;
         n INTEGER := coalesce(array_length(p_events, 1), 0);
     BEGIN
         SELECT a.version INTO actual FROM accounts a WHERE a.account = p_account FOR UPDATE;
         IF NOT FOUND THEN
             IF p_expected <> 0 THEN
                 appended := false; version := 0; RETURN;
             END IF;
             INSERT INTO accounts (account, version, state) VALUES (p_account, 0, p_state)
                 ON CONFLICT (account) DO NOTHING;
             IF FOUND THEN
                 actual := 0;
             ELSE
                 -- Created by a concurrent append, now committed: queue behind it.
                 SELECT a.version INTO actual FROM accounts a
                     WHERE a.account = p_account FOR UPDATE;
             END IF;
         END IF;
         IF actual <> p_expected THEN
             appended := false; version := actual; RETURN;
         END IF;
         FOR i IN 1 .. coalesce(array_length(p_credentials, 1), 0) LOOP
             IF p_registered[i] THEN
                 INSERT INTO credentials (credential, account) VALUES (p_credentials[i], p_account)
                     ON CONFLICT (credential) DO UPDATE SET account = excluded.account
                     WHERE credentials.account = excluded.account;
                 IF NOT FOUND THEN
                     RAISE EXCEPTION 'credential already registered to another account'
                         USING ERRCODE = 'LK001';
                 END IF;
             ELSE
                 DELETE FROM credentials c
                     WHERE c.credential = p_credentials[i] AND c.account = p_account;
             END IF;
         END LOOP;
         IF n > 0 THEN
             INSERT INTO events (account, seq, event)
                 SELECT p_account, p_expected + e.ord, e.event
                 FROM unnest(p_events) WITH ORDINALITY AS e (event, ord);
             UPDATE accounts a SET version = p_expected + n, state = p_state
                 WHERE a.account = p_account;
         END IF;
         appended := true; version := p_expected + n;
     END
     $fn$;",
    // 4: the store-wide index of revoked public keys (P20), by `KeyFingerprint`, filled
    //    from the stored states by `backfill` below, and `latchkey_append` with two more
    //    arguments: the fingerprints of the keys the append registers (LK001 if one is
    //    revoked) and of those it revokes. A registration and a revocation of one key take
    //    the same transaction-scoped advisory lock (class 'lkrv', the fingerprint's first
    //    four bytes), so that a registration racing a revocation either sees it or
    //    commits before it. The six-argument function of migration 3 stays for instances
    //    not yet upgraded during a rolling deploy; they do not consult the index.
    "CREATE TABLE revoked_keys (
         fingerprint BYTEA PRIMARY KEY CHECK (length(fingerprint) = 32)
     );
     CREATE FUNCTION latchkey_append(
         p_account TEXT, p_expected BIGINT, p_state TEXT, p_events TEXT[],
         p_credentials BYTEA[], p_registered BOOLEAN[],
         p_keys BYTEA[], p_revoked_keys BYTEA[],
         OUT appended BOOLEAN, OUT version BIGINT
     ) LANGUAGE plpgsql AS $fn$
     DECLARE
         key BYTEA;
     BEGIN
         IF coalesce(array_length(p_keys, 1), 0) + coalesce(array_length(p_revoked_keys, 1), 0) > 0 THEN
             -- Before the account row lock that migration 3's function takes: the keys, in
             -- one order, so that racing appends queue instead of deadlocking.
             FOR key IN SELECT DISTINCT k FROM unnest(p_keys || p_revoked_keys) AS t (k) ORDER BY 1 LOOP
                 PERFORM pg_advisory_xact_lock(1818980982,
                     ('x' || encode(substr(key, 1, 4), 'hex'))::bit(32)::integer);
             END LOOP;
             IF p_keys && p_revoked_keys
                 OR EXISTS (SELECT 1 FROM revoked_keys r WHERE r.fingerprint = ANY (p_keys)) THEN
                 RAISE EXCEPTION 'public key revoked' USING ERRCODE = 'LK001';
             END IF;
         END IF;
         SELECT a.appended, a.version INTO appended, version
             FROM latchkey_append(p_account, p_expected, p_state, p_events,
                                  p_credentials, p_registered) a;
         IF appended THEN
             INSERT INTO revoked_keys (fingerprint)
                 SELECT k FROM unnest(p_revoked_keys) AS t (k)
                 ON CONFLICT DO NOTHING;
         END IF;
     END
     $fn$;",
    // 5: a login's finish in one commit: `latchkey_take_and_append` locks the challenge's
    //    row (racing calls queue; each after the first finds it used) and, if it was unused,
    //    marks it used and appends as `latchkey_append` does. A challenge that was not
    //    fresh changes nothing; a version conflict keeps the take and appends nothing;
    //    LK001 rolls both back.
    "CREATE FUNCTION latchkey_take_and_append(
         p_challenge BYTEA, p_account TEXT, p_expected BIGINT, p_state TEXT, p_events TEXT[],
         p_credentials BYTEA[], p_registered BOOLEAN[],
         p_keys BYTEA[], p_revoked_keys BYTEA[],
         OUT o_outcome TEXT, OUT o_expires_at BIGINT, OUT o_version BIGINT
     ) LANGUAGE plpgsql AS $fn$
     DECLARE
         was_used BOOLEAN;
         done BOOLEAN;
     BEGIN
         SELECT c.used, c.expires_at INTO was_used, o_expires_at
             FROM challenges c WHERE c.challenge = p_challenge FOR UPDATE;
         IF NOT FOUND THEN
             o_outcome := 'unknown'; RETURN;
         END IF;
         IF was_used THEN
             o_outcome := 'used'; RETURN;
         END IF;
         UPDATE challenges c SET used = true WHERE c.challenge = p_challenge;
         SELECT a.appended, a.version INTO done, o_version
             FROM latchkey_append(p_account, p_expected, p_state, p_events, p_credentials,
                                  p_registered, p_keys, p_revoked_keys) a;
         o_outcome := CASE WHEN done THEN 'appended' ELSE 'conflict' END;
     END
     $fn$;",
];

/// Work a migration needs that SQL cannot do, by the version it brings the schema to.
async fn backfill(tx: &Transaction<'_>, version: usize) -> Result<(), StoreError> {
    if version != 4 {
        return Ok(());
    }
    // The fingerprints are computed here, from the revoked keys each state kept.
    let fail = |e: tokio_postgres::Error| unavailable(format!("migration: {e}"));
    let rows = tx
        .query(
            "SELECT account, state FROM accounts WHERE state LIKE '%\"revoked_keys\"%'",
            &[],
        )
        .await
        .map_err(fail)?;
    for row in rows {
        let (account, json): (String, String) =
            (row.try_get(0).map_err(fail)?, row.try_get(1).map_err(fail)?);
        let state: AccountState = serde_json::from_str(&json).map_err(|e| {
            StoreError::Corrupt(format!("migration: state of account {account:?}: {e}"))
        })?;
        for key in state.revoked_key_fingerprints() {
            tx.execute(
                "INSERT INTO revoked_keys (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&&key.as_bytes()[..]],
            )
            .await
            .map_err(fail)?;
        }
    }
    Ok(())
}

/// The advisory lock key migrations hold ("latchkey" in ASCII).
const MIGRATION_LOCK: i64 = 0x6c61_7463_686b_6579;

/// Creates `schema` if given, then applies the migrations it lacks.
pub(crate) async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let fail = |e: tokio_postgres::Error| unavailable(format!("migration: {e}"));
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    if let Some(schema) = schema {
        // `schema` is a checked identifier (see `Options::schema`), quoted anyway.
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await
            .map_err(fail)?;
    }
    tx.batch_execute("CREATE TABLE IF NOT EXISTS latchkey_schema (version INTEGER NOT NULL)")
        .await
        .map_err(fail)?;
    let current: Option<i32> = tx
        .query_opt("SELECT version FROM latchkey_schema", &[])
        .await
        .map_err(fail)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(fail)?;
    let current = usize::try_from(current.unwrap_or(0)).unwrap_or(usize::MAX);
    if current > MIGRATIONS.len() {
        return Err(unavailable(format!(
            "database schema version {current} is newer than this latchkey ({})",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.batch_execute(migration).await.map_err(fail)?;
        backfill(&tx, index + 1).await?;
    }
    let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute("DELETE FROM latchkey_schema", &[])
        .await
        .map_err(fail)?;
    tx.execute(
        "INSERT INTO latchkey_schema (version) VALUES ($1)",
        &[&latest],
    )
    .await
    .map_err(fail)?;
    tx.commit().await.map_err(fail)
}
