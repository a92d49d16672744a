//! The latchkey demo: an HTTP server with a small page to register Exchange and Pay
//! passkeys, log in, rename and delete, authorize a passkey for DEX and sign a DEX trade,
//! sign a payment, and read the history, on the embedded SQLite store.
//!
//! ```text
//! cargo run -p latchkey-examples --example demo
//! ```
//!
//! Environment: `LATCHKEY_DEMO_ADDR` (default `127.0.0.1:8080`), `LATCHKEY_DEMO_DB`
//! (default `latchkey-demo.sqlite`). Open the printed URL (`http://localhost:PORT`; the RP
//! ID is `localhost`, which browsers treat as a secure context).
//!
//! This is a demo: the account is whatever name the page sends, and "other factors" are
//! check boxes. A real service authenticates the session and checks e-mail / TOTP itself.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64, unb64};
use latchkey::{
    AccountId, Change, CredentialId, Factor, FinishAuthentication, FinishRegistration,
    FinishReplacement, Intent, Passkeys, RelyingParty, RequestContext, Scope, StepUp, StepUpToken,
    User,
};
use latchkey_store_sqlite::SqliteStore;
use serde::Deserialize;
use serde_json::{Value, json};

const PAGE: &str = include_str!("page.html");

/// Largest request body accepted: a WebAuthn response is a few KiB.
const MAX_BODY: usize = 64 * 1024;

/// The service holds nothing between requests: challenges and step-up grants are store
/// records, so several demo processes on one database would serve the same page.
struct App {
    passkeys: Passkeys<SqliteStore>,
}

type Shared = Arc<App>;

/// An error as the page sees it: the stable code and a message.
/// Its body: `{"error": code, "message": ...}`, and for a refused login with a credential
/// no account holds, the `signalUnknownCredential` payload.
struct ApiError(Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(self.0)).into_response()
    }
}

impl ApiError {
    /// An error answered with a body of its own.
    fn with_body(body: Value) -> Self {
        Self(body)
    }
}

impl From<latchkey::Error> for ApiError {
    fn from(error: latchkey::Error) -> Self {
        Self(json!({ "error": error.code(), "message": error.to_string() }))
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Query parameters, rejected with a stable code too.
struct Params<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let body = json!({ "error": "malformed", "message": rejection.body_text() });
                Err((StatusCode::BAD_REQUEST, Json(body)).into_response())
            }
        }
    }
}

/// A JSON body whose every rejection (not JSON, wrong shape, too large) is answered with
/// a stable code like every other error.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                let too_large = matches!(&rejection, JsonRejection::BytesRejection(_))
                    && rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
                let (status, code) = if too_large {
                    (StatusCode::PAYLOAD_TOO_LARGE, "limit_exceeded")
                } else {
                    (StatusCode::BAD_REQUEST, "malformed")
                };
                let body = json!({ "error": code, "message": rejection.body_text() });
                Err((status, Json(body)).into_response())
            }
        }
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::from(latchkey::Error::Malformed(message.to_owned()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("LATCHKEY_DEMO_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let db = std::env::var("LATCHKEY_DEMO_DB").unwrap_or_else(|_| "latchkey-demo.sqlite".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let port = listener.local_addr()?.port();
    let rp = RelyingParty::builder("localhost", "latchkey demo exchange")
        .origin(&format!("http://localhost:{port}"))
        .build()?;
    let app = Arc::new(App {
        passkeys: Passkeys::new(rp, SqliteStore::open(&db)?),
    });
    // Expired challenges (used or not) are swept every minute.
    let sweeper = Arc::clone(&app);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            let _ = sweeper.passkeys.purge_expired_challenges().await;
        }
    });
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/.well-known/webauthn", get(well_known))
        .route("/api/registration/options", post(registration_options))
        .route("/api/registration", post(registration))
        .route("/api/authentication/options", post(authentication_options))
        .route("/api/authentication", post(authentication))
        .route("/api/dex/authorize", post(authorize_dex))
        .route("/api/dex/revoke", post(revoke_dex))
        .route("/api/rename", post(rename))
        .route("/api/delete", post(delete))
        .route("/api/passkeys", get(passkeys))
        .route("/api/history", get(history))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    println!("latchkey demo listening on http://localhost:{port} (store: {db})");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The related-origins document (WebAuthn L3 §5.11), from the configuration.
async fn well_known(State(app): State<Shared>) -> Json<Value> {
    Json(app.passkeys.relying_party().well_known_webauthn())
}

fn context() -> RequestContext {
    RequestContext {
        ip: Some("127.0.0.1".into()),
        user_agent: Some("latchkey demo page".into()),
        ..RequestContext::default()
    }
}

fn scope(name: &str) -> Result<Scope, ApiError> {
    match name {
        "exchange" => Ok(Scope::Exchange),
        "pay" => Ok(Scope::Pay),
        _ => Err(bad("scope is exchange or pay")),
    }
}

/// `{"factors": ["email", ...]}`, `{"token": "..."}` (a passkey step-up's token, made
/// for the one change it comes with) or nothing.
///
/// The demo hands the token to the page, which is its session: a real service keeps it
/// in its own session instead. Either way the store holds only its hash, bound to the
/// account, the scope and the change, and redeems it once.
#[derive(Deserialize, Default)]
struct StepUpJson {
    #[serde(default)]
    factors: Vec<Factor>,
    #[serde(default)]
    token: Option<String>,
}

fn step_up(step_up: Option<StepUpJson>) -> Result<StepUp, ApiError> {
    let Some(step_up) = step_up else {
        return Ok(StepUp::None);
    };
    if let Some(token) = step_up.token {
        return token
            .parse::<StepUpToken>()
            .map(StepUp::Passkey)
            .map_err(|_| {
                // A token that is not one is no step-up.
                ApiError::from(latchkey::Error::from(
                    latchkey::policy::PolicyError::StepUpRequired,
                ))
            });
    }
    Ok(if step_up.factors.is_empty() {
        StepUp::None
    } else {
        StepUp::Factors(step_up.factors)
    })
}

fn credential(text: &str, what: &'static str) -> Result<CredentialId, ApiError> {
    Ok(CredentialId::new(
        unb64(text, what).map_err(latchkey::Error::from)?,
    ))
}

/// A registration's start names the step-up it will bring, so that what the finish
/// would refuse (a missing step-up, the limit) is refused before the browser creates a
/// passkey.
#[derive(Deserialize)]
struct RegistrationOptionsRequest {
    account: String,
    scope: String,
    step_up: Option<StepUpJson>,
    /// base64url id of the passkey the new one replaces.
    replace: Option<String>,
}

async fn registration_options(
    State(app): State<Shared>,
    Body(request): Body<RegistrationOptionsRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account.clone());
    let user = User {
        name: request.account.clone(),
        display_name: request.account,
    };
    let step_up = step_up(request.step_up)?;
    let options = match request.replace {
        Some(old) => {
            let old = credential(&old, "replace")?;
            app.passkeys
                .start_replacement(&account, &user, &old, &step_up)
                .await?
        }
        None => {
            app.passkeys
                .start_registration(&account, &user, scope(&request.scope)?, &step_up)
                .await?
        }
    };
    Ok(Json(serde_json::to_value(options).unwrap_or_default()))
}

#[derive(Deserialize)]
struct RegistrationRequest {
    account: String,
    response: RegistrationResponse,
    step_up: Option<StepUpJson>,
    name: Option<String>,
    /// base64url id of the passkey this one replaces.
    replace: Option<String>,
    /// For the successor of a DEX passkey: the DEX terms accepted (P2).
    #[serde(default)]
    dex_terms_accepted: bool,
}

async fn registration(
    State(app): State<Shared>,
    Body(request): Body<RegistrationRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account);
    let step_up = step_up(request.step_up)?;
    let done = match request.replace {
        Some(old) => {
            let old = credential(&old, "replace")?;
            app.passkeys
                .finish_replacement(
                    FinishReplacement::new(&account, &old, &request.response, &step_up, &context())
                        .dex_terms_accepted(request.dex_terms_accepted),
                )
                .await?
        }
        None => {
            app.passkeys
                .finish_registration(
                    FinishRegistration::new(&account, &request.response, &step_up, &context())
                        .name(request.name.as_deref()),
                )
                .await?
        }
    };
    let warnings: Vec<&str> = done.warnings.iter().map(|w| w.code()).collect();
    Ok(Json(json!({
        "credential": done.credential,
        "warnings": warnings,
        "events": done.events,
        "signalAllAcceptedCredentials": done.accepted,
    })))
}

#[derive(Deserialize)]
struct AuthenticationOptionsRequest {
    /// Absent only for a discoverable login.
    account: Option<String>,
    intent: Intent,
    transaction: Option<String>,
    /// For a step-up: the scope of the change (only its passkeys are offered)...
    scope: Option<String>,
    /// ...and the one change it is for.
    change: Option<Change>,
}

async fn authentication_options(
    State(app): State<Shared>,
    Body(request): Body<AuthenticationOptionsRequest>,
) -> ApiResult {
    let account = request
        .account
        .filter(|a| !a.is_empty())
        .map(AccountId::new);
    let transaction = request.transaction.as_deref().map(str::as_bytes);
    let options = match (request.scope.as_deref(), request.change, &account) {
        (Some(name), Some(change), Some(account)) => {
            app.passkeys
                .start_step_up(account, scope(name)?, &change)
                .await?
        }
        (_, _, Some(account)) => {
            app.passkeys
                .start_authentication(account, request.intent, transaction)
                .await?
        }
        (_, _, None) if request.intent == Intent::Login => app.passkeys.start_login(None).await?,
        (_, _, None) => return Err(bad("every intent but login names the account")),
    };
    Ok(Json(serde_json::to_value(options).unwrap_or_default()))
}

#[derive(Deserialize)]
struct AuthenticationRequest {
    response: AuthenticationResponse,
    transaction: Option<String>,
}

async fn authentication(
    State(app): State<Shared>,
    Body(request): Body<AuthenticationRequest>,
) -> ApiResult {
    let transaction = request.transaction.as_deref().map(str::as_bytes);
    let result = app
        .passkeys
        .finish_authentication(
            FinishAuthentication::new(&request.response, &context()).transaction(transaction),
        )
        .await;
    let done = match result {
        Ok(done) => done,
        Err(error) => {
            // Only a passkey no account holds may be forgotten by the client (P13).
            let signal = app.passkeys.signal_unknown_credential(&error);
            return Err(ApiError::with_body(json!({
                "error": error.code(),
                "message": error.to_string(),
                "signalUnknownCredential": signal,
            })));
        }
    };
    let warnings: Vec<&str> = done.warnings.iter().map(|w| w.code()).collect();
    Ok(Json(json!({
        "account": done.account.as_str(),
        "scope": done.scope,
        "credential": b64(done.credential.as_bytes()),
        "intent": done.intent,
        "user_verified": done.user_verified,
        "warnings": warnings,
        "receipt": done.receipt,
        "step_up_token": done.step_up.map(|token| token.to_string()),
    })))
}

#[derive(Deserialize)]
struct AuthorizeDexRequest {
    account: String,
    /// base64url id of the passkey to authorize.
    credential: String,
    step_up: StepUpJson,
    terms_accepted: bool,
}

async fn authorize_dex(
    State(app): State<Shared>,
    Body(request): Body<AuthorizeDexRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account);
    let StepUp::Passkey(token) = step_up(Some(request.step_up))? else {
        return Err(latchkey::Error::from(latchkey::policy::PolicyError::StepUpRequired).into());
    };
    let passkey = credential(&request.credential, "credential")?;
    let changed = app
        .passkeys
        .authorize_dex(
            &account,
            &passkey,
            &token,
            request.terms_accepted,
            &context(),
        )
        .await?;
    Ok(changed_json(&changed))
}

/// A change in place: its events and the policy's warnings (P11, P14).
fn changed_json(changed: &latchkey::Changed) -> Json<Value> {
    let warnings: Vec<&str> = changed.warnings.iter().map(|w| w.code()).collect();
    Json(json!({ "events": changed.events, "warnings": warnings }))
}

#[derive(Deserialize)]
struct CredentialRequest {
    account: String,
    credential: String,
    step_up: Option<StepUpJson>,
    name: Option<String>,
}

async fn revoke_dex(
    State(app): State<Shared>,
    Body(request): Body<CredentialRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account);
    let passkey = credential(&request.credential, "credential")?;
    let step_up = step_up(request.step_up)?;
    let changed = app
        .passkeys
        .revoke_dex(&account, &passkey, &step_up, &context())
        .await?;
    Ok(changed_json(&changed))
}

async fn rename(State(app): State<Shared>, Body(request): Body<CredentialRequest>) -> ApiResult {
    let account = AccountId::new(request.account);
    let passkey = credential(&request.credential, "credential")?;
    let name = request.name.ok_or_else(|| bad("name is required"))?;
    let changed = app
        .passkeys
        .rename(&account, &passkey, &name, &context())
        .await?;
    Ok(changed_json(&changed))
}

async fn delete(State(app): State<Shared>, Body(request): Body<CredentialRequest>) -> ApiResult {
    let account = AccountId::new(request.account);
    let passkey = credential(&request.credential, "credential")?;
    let step_up = step_up(request.step_up)?;
    let deleted = app
        .passkeys
        .delete(&account, &passkey, &step_up, &context())
        .await?;
    Ok(Json(json!({
        "events": deleted.events,
        "signalAllAcceptedCredentials": deleted.accepted,
    })))
}

#[derive(Deserialize)]
struct AccountQuery {
    account: String,
}

/// A page of the history: `start` (default 0) and `limit` (default and most 500).
#[derive(Deserialize)]
struct HistoryQuery {
    account: String,
    #[serde(default)]
    start: usize,
    #[serde(default = "history_page")]
    limit: usize,
}

fn history_page() -> usize {
    latchkey::MAX_HISTORY_PAGE
}

async fn passkeys(State(app): State<Shared>, Params(query): Params<AccountQuery>) -> ApiResult {
    let account = AccountId::new(query.account);
    let exchange = app.passkeys.list(&account, Scope::Exchange).await?;
    let pay = app.passkeys.list(&account, Scope::Pay).await?;
    Ok(Json(json!({ "exchange": exchange, "pay": pay })))
}

async fn history(State(app): State<Shared>, Params(query): Params<HistoryQuery>) -> ApiResult {
    let account = AccountId::new(query.account);
    let page = app
        .passkeys
        .history(&account, query.start, query.limit)
        .await?;
    Ok(Json(json!({ "events": page.events, "next": page.next })))
}
