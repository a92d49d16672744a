//! The server the tests use: `LATCHKEY_POSTGRES_URL` (`.ci/run` starts a throwaway
//! cluster with `.ci/postgres` and sets it). Without it the tests say so and pass, unless
//! `LATCHKEY_REQUIRE_POSTGRES=1` (set in CI) makes that a failure.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey_store::conformance::block_on;
use latchkey_store_postgres::{Options, PostgresStore};

pub const URL_ENV: &str = "LATCHKEY_POSTGRES_URL";
pub const CTL_ENV: &str = "LATCHKEY_POSTGRES_CTL";

/// The server's URL, or `None` (after saying why) when the test should skip.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_some() => {
            panic!("{test}: {URL_ENV} is not set and LATCHKEY_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("{test}: skipped, {URL_ENV} is not set (see .ci/postgres)");
            None
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A schema name no other test or process uses.
pub fn fresh_schema(test: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t_{test}_{}_{nanos}_{n}", std::process::id())
}

/// A store on its own fresh schema.
pub fn store_in(url: &str, schema: &str) -> PostgresStore {
    let mut options = Options::default();
    options.schema = Some(schema.to_owned());
    options.max_connections = 8;
    block_on(PostgresStore::connect(url, options)).expect("connect to the test server")
}
