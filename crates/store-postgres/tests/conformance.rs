//! `PostgresStore` passes the conformance suite, each check on a fresh schema; migrations
//! are idempotent and concurrent; bad settings are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use latchkey_store::{AccountId, ChallengeRecord, Store, Taken, conformance::block_on};
use latchkey_store_postgres::{Options, PostgresStore};

#[test]
fn postgres_store_conforms() {
    let Some(url) = common::url("postgres_store_conforms") else {
        return;
    };
    latchkey_store::conformance::check_all(|| {
        common::store_in(&url, &common::fresh_schema("conformance"))
    });
}

/// `Options::standby_reads` on one server, which is no standby: the display reads find no
/// read-only host and go to the primary, and the store conforms as it does without them.
#[test]
fn postgres_store_with_standby_reads_and_no_standby_conforms() {
    let Some(url) = common::url("postgres_store_with_standby_reads_conforms") else {
        return;
    };
    latchkey_store::conformance::check_all(|| {
        let mut options = Options::default();
        options.schema = Some(common::fresh_schema("standby_reads"));
        options.max_connections = 8;
        options.standby_reads = true;
        block_on(PostgresStore::connect(&url, options)).expect("connect to the test server")
    });
}

#[test]
fn reconnecting_keeps_everything_and_migrations_are_idempotent() {
    let Some(url) = common::url("reconnecting_keeps_everything") else {
        return;
    };
    let schema = common::fresh_schema("reconnect");
    // Several instances starting at once all migrate the same schema safely.
    let stores: Vec<PostgresStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| common::store_in(&url, &schema)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let record = ChallengeRecord {
        challenge: vec![7; 32],
        expires_at: latchkey_policy::Timestamp(10),
        binding: vec![1],
    };
    block_on(stores[0].put_challenge(record.clone())).unwrap();
    drop(stores);
    let store = common::store_in(&url, &schema);
    assert_eq!(
        block_on(store.take_challenge(&record.challenge)).unwrap(),
        Taken::Fresh(record.clone())
    );
    drop(store);
    // The mark survives reconnecting.
    let store = common::store_in(&url, &schema);
    assert_eq!(
        block_on(store.take_challenge(&record.challenge)).unwrap(),
        Taken::Used {
            expires_at: record.expires_at
        }
    );
    assert_eq!(
        block_on(store.load(&AccountId::new("nobody")))
            .unwrap()
            .version,
        0
    );
    block_on(store.drop_schema()).unwrap();
}

/// A schema at version 1 (challenges deleted when taken, and put back by the facade with
/// the binding `latchkey:used`) keeps its challenges through migration 2: the put-back
/// ones are used, the others fresh.
#[test]
fn migration_2_marks_put_back_challenges_used() {
    let Some(url) = common::url("migration_2_marks_put_back_challenges_used") else {
        return;
    };
    let schema = common::fresh_schema("migration");
    batch(
        &url,
        &format!(
            "CREATE SCHEMA \"{schema}\";
                 SET search_path = \"{schema}\";
                 CREATE TABLE accounts (
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
                 CREATE INDEX challenges_by_deadline ON challenges (expires_at);
                 CREATE TABLE latchkey_schema (version INTEGER NOT NULL);
                 INSERT INTO latchkey_schema (version) VALUES (1);
                 INSERT INTO challenges VALUES
                     (decode(repeat('00', 32), 'hex'), 10, convert_to('latchkey:used', 'UTF8')),
                     ('\\x01', 20, convert_to('{{}}', 'UTF8'));"
        ),
    );
    let store = common::store_in(&url, &schema);
    assert_eq!(
        block_on(store.take_challenge(&[0; 32])).unwrap(),
        Taken::Used {
            expires_at: latchkey_policy::Timestamp(10)
        }
    );
    assert_eq!(
        block_on(store.take_challenge(&[1])).unwrap(),
        Taken::Fresh(ChallengeRecord {
            challenge: vec![1],
            expires_at: latchkey_policy::Timestamp(20),
            binding: b"{}".to_vec(),
        })
    );
    block_on(store.drop_schema()).unwrap();
}

/// A schema at version 3 (revoked keys kept only in each account's state) gets the
/// store-wide index of migration 4 filled from those states: the key revoked before the
/// upgrade is refused on another account after it (P20).
#[test]
fn migration_4_indexes_the_keys_revoked_before_it() {
    use latchkey_store::StoreError;
    use latchkey_store::conformance::{register_and_revoke_a_key, registration_with_key};
    let Some(url) = common::url("migration_4_indexes_the_keys_revoked_before_it") else {
        return;
    };
    let schema = common::fresh_schema("migration_4");
    let revoked =
        register_and_revoke_a_key(&common::store_in(&url, &schema), &AccountId::new("alice"));
    batch(
        &url,
        &format!(
            "SET search_path = \"{schema}\";
                 DROP TABLE revoked_keys;
                 DROP FUNCTION latchkey_append(TEXT, BIGINT, TEXT, TEXT[], BYTEA[], BOOLEAN[],
                                               BYTEA[], BYTEA[]);
                 DROP FUNCTION latchkey_take_and_append(BYTEA, TEXT, BIGINT, TEXT, TEXT[],
                                                        BYTEA[], BOOLEAN[], BYTEA[], BYTEA[]);
                 UPDATE latchkey_schema SET version = 3;"
        ),
    );
    let store = common::store_in(&url, &schema);
    let bob = AccountId::new("bob");
    let (loaded, events) = registration_with_key(&store, &bob, &revoked);
    assert_eq!(
        block_on(store.append(&bob, loaded.version, &events)),
        Err(StoreError::DuplicateCredential)
    );
    block_on(store.drop_schema()).unwrap();
}

#[test]
fn bad_settings_are_refused_without_panicking() {
    for schema in ["", "1abc", "a-b", "a\"; DROP TABLE x; --", &"a".repeat(64)] {
        let mut options = Options::default();
        options.schema = Some(schema.to_owned());
        let err = block_on(PostgresStore::connect("postgres://127.0.0.1/x", options)).unwrap_err();
        assert_eq!(err.code(), "store_unavailable", "{schema:?}");
    }
    let err = block_on(PostgresStore::connect("not a url ::", Options::default())).unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
    // Nothing listens on port 1: refused within the timeout, not a hang or a panic.
    let mut options = Options::default();
    options.timeout = std::time::Duration::from_secs(2);
    let err = block_on(PostgresStore::connect(
        "postgres://latchkey@127.0.0.1:1/x",
        options,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "store_unavailable");
}

#[test]
fn inside_a_tokio_runtime_the_store_runs_on_it_and_outside_on_its_own() {
    let Some(url) = common::url("runtime_choice") else {
        return;
    };
    let schema = common::fresh_schema("runtime");
    let mut options = Options::default();
    options.schema = Some(schema.clone());
    // Outside tokio: a runtime of its own, usable from a plain block_on.
    let own = block_on(PostgresStore::connect(&url, options.clone())).unwrap();
    assert!(own.has_own_runtime());
    let alice = AccountId::new("alice");
    assert_eq!(block_on(own.load(&alice)).unwrap().version, 0);
    // Inside a (single-threaded) tokio runtime: no thread of its own, operations on it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let caller = PostgresStore::connect(&url, options).await.unwrap();
        assert!(!caller.has_own_runtime());
        let record = ChallengeRecord {
            challenge: vec![9; 32],
            expires_at: latchkey_policy::Timestamp(10),
            binding: vec![1],
        };
        caller.put_challenge(record).await.unwrap();
        assert!(matches!(
            caller.take_challenge(&[9; 32]).await.unwrap(),
            Taken::Fresh(_)
        ));
        drop(caller);
    });
    block_on(own.drop_schema()).unwrap();
}

/// Runs `sql` (several statements) on a connection of its own, outside any store: to set a
/// schema up as an older latchkey left it.
fn batch(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(sql).await.unwrap();
    });
}
