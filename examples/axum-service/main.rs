//! An existing axum service that adds passkeys: the lines between `// passkeys:` and
//! `// end` are all it takes (see README.md). Run it with
//! `cargo run -p latchkey-examples --example axum-service` and open http://localhost:3000.

use axum::Router;
use axum::http::request::Parts;
use axum::response::Html;
use axum::routing::get;
use latchkey::{AccountId, Factor, Passkeys, RelyingParty};
use latchkey_store_sqlite::SqliteStore;

/// The service's existing pages.
async fn home() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

// passkeys: who the user is, from the service's own session (here an unsigned cookie).
struct MySession;

impl latchkey_axum::Session for MySession {
    async fn account(&self, request: &Parts) -> Option<AccountId> {
        let cookies = request.headers.get("cookie")?.to_str().ok()?;
        let name = cookies.split("; ").find_map(|c| c.strip_prefix("user="))?;
        Some(AccountId::new(name))
    }

    async fn factors(&self, _request: &Parts) -> Vec<Factor> {
        vec![Factor::Email, Factor::Totp] // what your sign-in checked (P7)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rp = RelyingParty::builder("localhost", "My Service")
        .origin("http://localhost:3000")
        .build()?;
    let passkeys = Passkeys::new(rp, SqliteStore::open("my-service.sqlite")?);
    let app = Router::new()
        .route("/", get(home))
        .merge(latchkey_axum::router(passkeys, MySession));
    // end
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://localhost:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
