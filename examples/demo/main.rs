//! The latchkey demo: a page to register Exchange and Pay passkeys, log in, approve a
//! withdrawal, authorize a passkey for DEX and sign a trade, sign a payment, rename and
//! delete passkeys and read the history. A thin service on `latchkey-axum` (every
//! endpoint) and `latchkey.js` (the browser side).
//!
//! ```text
//! cargo run -p latchkey-examples --example demo
//! ```
//!
//! Environment: `LATCHKEY_DEMO_ADDR` (default `127.0.0.1:8080`); `LATCHKEY_DEMO_DB`, a
//! SQLite file (default `latchkey-demo.sqlite`) or a `postgres://` URL, with
//! `LATCHKEY_DEMO_PG_SCHEMA` for a schema of its own; `LATCHKEY_DEMO_ORIGIN` when the
//! page is served through another origin (a load balancer in front of several
//! instances; default `http://localhost:PORT`). The RP ID is `localhost`, which
//! browsers treat as a secure context.
//!
//! The demo holds nothing between requests: any number of instances on one PostgreSQL
//! database serve the same page (the browser test runs two behind a proxy that
//! alternates between them).
//!
//! This is a demo: the session is an unsigned cookie naming the account, which the
//! page sets from its text field, and "other factors" are check boxes the page puts in
//! another cookie. A real service authenticates its session and checks e-mail / TOTP
//! itself.

use std::sync::Arc;

use axum::Router;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Html;
use axum::routing::get;
use latchkey::{AccountId, Authenticated, Factor, Intent, Passkeys, RelyingParty, Store};
use latchkey_store_postgres::{Options, PostgresStore};
use latchkey_store_sqlite::SqliteStore;

const PAGE: &str = include_str!("page.html");

/// The demo's session: cookies, unsigned (see the module documentation).
struct DemoSession;

fn cookie<'a>(request: &'a Parts, name: &str) -> Option<&'a str> {
    request
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

impl latchkey_axum::Session for DemoSession {
    async fn account(&self, request: &Parts) -> Option<AccountId> {
        cookie(request, "demo_account")
            .filter(|name| !name.is_empty())
            .map(AccountId::new)
    }

    async fn factors(&self, request: &Parts) -> Vec<Factor> {
        let names = cookie(request, "demo_factors").unwrap_or_default();
        names
            .split(',')
            .filter_map(|name| match name {
                "email" => Some(Factor::Email),
                "totp" => Some(Factor::Totp),
                _ => None,
            })
            .collect()
    }

    async fn authenticated(&self, _request: &Parts, done: &Authenticated) -> HeaderMap {
        // A login signs the page in as the account whose passkey answered.
        let mut headers = HeaderMap::new();
        let cookie = format!(
            "demo_account={}; Path=/; SameSite=Strict",
            done.account.as_str()
        );
        if done.intent == Intent::Login
            && let Ok(value) = HeaderValue::from_str(&cookie)
        {
            headers.insert(header::SET_COOKIE, value);
        }
        headers
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("LATCHKEY_DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let db = std::env::var("LATCHKEY_DEMO_DB").unwrap_or_else(|_| "latchkey-demo.sqlite".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    let origin = std::env::var("LATCHKEY_DEMO_ORIGIN")
        .unwrap_or_else(|_| format!("http://localhost:{port}"));
    let rp = RelyingParty::builder("localhost", "latchkey demo exchange")
        .origin(&origin)
        .build()?;
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        let mut options = Options::default();
        options.schema = std::env::var("LATCHKEY_DEMO_PG_SCHEMA").ok();
        let store = PostgresStore::connect(&db, options).await?;
        serve(listener, Passkeys::new(rp, store), "PostgreSQL").await
    } else {
        let store = SqliteStore::open(&db)?;
        serve(listener, Passkeys::new(rp, store), &db).await
    }
}

async fn serve<S: Store + 'static>(
    listener: tokio::net::TcpListener,
    passkeys: Passkeys<S>,
    store: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let passkeys = Arc::new(passkeys);
    // Expired challenges (used or not) are swept every minute.
    let sweeper = Arc::clone(&passkeys);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            let _ = sweeper.purge_expired_challenges().await;
        }
    });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .nest(
            "/api",
            latchkey_axum::router(Arc::clone(&passkeys), DemoSession),
        )
        .merge(latchkey_axum::well_known_router(passkeys));
    let port = listener.local_addr()?.port();
    println!("latchkey demo listening on http://localhost:{port} (store: {store})");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
