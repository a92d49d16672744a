//! `PostgresStore` passes the conformance suite, each check on a fresh schema; migrations
//! are idempotent and concurrent; bad settings are refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use latchkey_store::{AccountId, ChallengeRecord, Store, conformance::block_on};
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
        Some(record)
    );
    assert_eq!(
        block_on(store.load(&AccountId::new("nobody")))
            .unwrap()
            .version,
        0
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
