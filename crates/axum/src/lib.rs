//! Passkeys for axum services: every [`latchkey`] ceremony as a JSON endpoint, the browser
//! module `latchkey.js`, and errors mapped to HTTP by kind.
//!
//! ```
//! use axum::Router;
//! use axum::http::request::Parts;
//! use axum::routing::get;
//! use latchkey::{AccountId, MemoryStore, Passkeys, RelyingParty};
//!
//! /// The service's own session: here, an (unsigned!) cookie naming the account.
//! struct Cookie;
//!
//! impl latchkey_axum::Session for Cookie {
//!     async fn account(&self, request: &Parts) -> Option<AccountId> {
//!         let cookies = request.headers.get("cookie")?.to_str().ok()?;
//!         let account = cookies.split("; ").find_map(|c| c.strip_prefix("account="))?;
//!         Some(AccountId::new(account))
//!     }
//! }
//!
//! # fn main() -> Result<(), latchkey::Error> {
//! let rp = RelyingParty::builder("example.com", "Example")
//!     .origin("https://example.com")
//!     .build()?;
//! let passkeys = Passkeys::new(rp, MemoryStore::new());
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "<script type=module src=/latchkey.js></script>" }))
//!     .merge(latchkey_axum::router(passkeys, Cookie));
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! In the page, `latchkey.js` runs the browser's side:
//!
//! ```js
//! import * as latchkey from "/latchkey.js";
//! await latchkey.register("exchange");           // add a passkey
//! const me = await latchkey.login();              // usernameless login
//! await latchkey.approve("withdrawal");           // approve a withdrawal
//! ```
//!
//! # Endpoints
//!
//! Every `POST` takes and returns JSON (camelCase). The account is always the session's
//! ([`Session::account`]), never the body's, except the username a login may start with.
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /latchkey.js` | | the browser module |
//! | `GET /.well-known/webauthn` | | related origins (WebAuthn L3 §5.11) |
//! | `POST /registration/start` | `scope`, `stepUpToken?` | creation options |
//! | `POST /registration/finish` | `response`, `stepUpToken?`, `name?` | `credential`, `warnings`, `events` |
//! | `POST /replacement/start` | `credential`, `stepUpToken?` | creation options |
//! | `POST /replacement/finish` | `credential`, `response`, `stepUpToken?`, `dexTermsAccepted?` | as registration, and `signalAllAcceptedCredentials` |
//! | `POST /login/start` | `account?` (absent: usernameless or conditional) | request options |
//! | `POST /login/finish` | `response` | `account`, `scope`, `credential`, `userVerified`... and the session's headers ([`Session::authenticated`]) |
//! | `POST /step-up/start` | `scope?`, `change` | request options |
//! | `POST /step-up/finish` | `response` | ... and `stepUpToken` |
//! | `POST /withdrawal/start`, `/security-change/start` | | request options |
//! | `POST /dex/trade/start`, `/dex/transfer/start`, `/pay/sign/start` | `transaction` | request options |
//! | `POST /{intent}/finish` (each of the five above) | `response`, `transaction?` | ... and for signing intents the `receipt` |
//! | `POST /dex/authorize` | `credential`, `stepUpToken`, `termsAccepted` | `events`, `warnings` |
//! | `POST /dex/revoke` | `credential`, `stepUpToken?` | `events`, `warnings` |
//! | `GET /passkeys` | | `exchange`, `pay`, `withdrawalsLockedUntil`, `signalCurrentUserDetails` |
//! | `POST /passkeys/rename` | `credential`, `name` | `events`, `warnings` |
//! | `POST /passkeys/delete` | `credential`, `stepUpToken?` | `events`, `signalAllAcceptedCredentials` |
//! | `GET /history?start=&limit=` | | `events`, `next` |
//! | `GET /account/status` | | `frozen` (`{reason, since}` or null), `passkeyRequired`, `withdrawalsLockedUntil` (P8, P18, P19) |
//! | `POST /account/freeze` | `{}` | `events`: the user freezes their own account (`user_request`, P18) |
//! | `POST /account/passkey-required` | `on`, `stepUpToken?` | `events`: on with a step-up or the factors, off only with a `stepUpToken` of an Exchange passkey made for `{"change": "passkey_required_off"}` (P19) |
//!
//! A change's step-up is the `stepUpToken` of a passkey step-up made for that one change
//! when the body brings one, else the factors [`Session::factors`] reports. Transactions
//! are UTF-8 text; the receipt commits to their bytes (P10).
//!
//! # Operator calls are not on this router
//!
//! Unfreezing (P18), revoking a compromised passkey and recovering a scope (P20) are
//! operator calls: [`Passkeys::unfreeze`], [`Passkeys::revoke_compromised`] and
//! [`Passkeys::start_recovery`] / [`Passkeys::finish_recovery`]. They rest on the
//! service's identity check (`id_document` + `face`) and name an operator
//! ([`latchkey::Actor::Operator`]) in the history, which the facade takes on the
//! caller's word. They belong behind the service's own admin authentication (an
//! internal admin service, its own router and session), never on this public router,
//! whose [`Session`] attests only to the signed-in user. A service's risk engine
//! freezes with [`Passkeys::freeze`] and a reason of its own the same way.
//!
//! # Cross-site requests
//!
//! Every `POST` must carry an `Origin` header naming one of the relying party's origins
//! (its origin rules, related origins and subdomains included) and a
//! `Content-Type: application/json` body of at most 64 KiB; otherwise it is refused
//! before anything else (`origin_mismatch` 403, `malformed` 415, `limit_exceeded` 413).
//!
//! # Errors
//!
//! Every error is `{ "code": "...", "message": "..." }` with a status by kind
//! ([`status_for`]): the client's input 400, a policy refusal 403, a conflict 409 with
//! `Retry-After`, the store unavailable 503, internal 500, no session 401
//! ([`UNAUTHENTICATED`]). The message is fixed text per code ([`message_for`]). A login
//! with a passkey no account holds also carries `signalUnknownCredential` (P13).
//!
//! # State
//!
//! None of its own: ceremonies are latchkey store records and step-up tokens travel with
//! the client, so any instance of a service finishes what another started.
//!
//! # Rate limiting
//!
//! The router is a plain [`axum::Router`]: put a rate limiter from the `tower`
//! ecosystem (for example `tower_governor`, keyed on the client IP) in its layer slot,
//! `latchkey_axum::router(passkeys, session).layer(limiter)`, or per route group with
//! `route_layer`. The router has no limiter of its own.
//!
//! # Mounting under a prefix
//!
//! `Router::nest("/auth", latchkey_axum::router(..))` works: `latchkey.js` finds the
//! endpoints next to itself. Browsers look for `/.well-known/webauthn` at the root only,
//! so a nested service also routes it there with [`well_known_router`].
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod request;
mod routes;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use latchkey::{Intent, Passkeys, Store};

pub use error::{ApiError, RETRY_AFTER_SECONDS, UNAUTHENTICATED, message_for, status_for};
pub use session::Session;

use request::Call;
use routes::{App, AssertionFinish, IntentStart, Shared};

/// The browser module the router serves at `/latchkey.js`, for a service that serves it
/// another way (a CDN, a bundler).
pub const LATCHKEY_JS: &str = routes::LATCHKEY_JS;

/// The router with every endpoint (see the crate documentation), on `passkeys` and the
/// service's `session`.
pub fn router<S: Store + 'static, A: Session>(
    passkeys: impl Into<Arc<Passkeys<S>>>,
    session: A,
) -> Router {
    let passkeys = passkeys.into();
    let origins = passkeys.relying_party().origin_rules();
    let app: Shared<S, A> = Arc::new(App {
        passkeys,
        session,
        origins,
    });
    let mut router = Router::new()
        .route("/latchkey.js", get(routes::script))
        .route("/.well-known/webauthn", get(routes::well_known::<S, A>))
        .route(
            "/registration/start",
            post(routes::registration_start::<S, A>),
        )
        .route(
            "/registration/finish",
            post(routes::registration_finish::<S, A>),
        )
        .route(
            "/replacement/start",
            post(routes::replacement_start::<S, A>),
        )
        .route(
            "/replacement/finish",
            post(routes::replacement_finish::<S, A>),
        )
        .route("/login/start", post(routes::login_start::<S, A>))
        .route("/login/finish", post(routes::login_finish::<S, A>))
        .route("/step-up/start", post(routes::step_up_start::<S, A>))
        .route("/step-up/finish", post(routes::step_up_finish::<S, A>))
        .route("/dex/authorize", post(routes::authorize_dex::<S, A>))
        .route("/dex/revoke", post(routes::revoke_dex::<S, A>))
        .route("/passkeys", get(routes::list::<S, A>))
        .route("/passkeys/rename", post(routes::rename::<S, A>))
        .route("/passkeys/delete", post(routes::delete::<S, A>))
        .route("/history", get(routes::history::<S, A>))
        .route("/account/status", get(routes::status::<S, A>))
        .route("/account/freeze", post(routes::freeze::<S, A>))
        .route(
            "/account/passkey-required",
            post(routes::passkey_required::<S, A>),
        );
    for (path, intent) in [
        ("/withdrawal", Intent::Withdrawal),
        ("/security-change", Intent::SecurityChange),
        ("/dex/trade", Intent::DexTrade),
        ("/dex/transfer", Intent::DexTransfer),
        ("/pay/sign", Intent::PaySign),
    ] {
        router = router
            .route(
                &format!("{path}/start"),
                post(
                    move |State(app): State<Shared<S, A>>, call: Call<IntentStart>| {
                        routes::intent_start(app, call, intent)
                    },
                ),
            )
            .route(
                &format!("{path}/finish"),
                post(
                    move |State(app): State<Shared<S, A>>, call: Call<AssertionFinish>| {
                        routes::intent_finish(app, call, intent)
                    },
                ),
            );
    }
    router.with_state(app)
}

/// Only `GET /.well-known/webauthn`, for a service that nests [`router`] under a prefix
/// and must still answer browsers at the root.
pub fn well_known_router<S: Store + 'static>(passkeys: impl Into<Arc<Passkeys<S>>>) -> Router {
    let passkeys: Arc<Passkeys<S>> = passkeys.into();
    Router::new().route(
        "/.well-known/webauthn",
        get(move || {
            let passkeys = Arc::clone(&passkeys);
            async move { axum::Json(passkeys.relying_party().well_known_webauthn()) }
        }),
    )
}
