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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64, unb64};
use latchkey::{
    AccountId, CredentialId, Factor, Intent, Passkeys, RelyingParty, RequestContext, Scope, StepUp,
    StepUpProof, User,
};
use latchkey_store_sqlite::SqliteStore;
use serde::Deserialize;
use serde_json::{Value, json};

const PAGE: &str = include_str!("page.html");

/// Largest request body accepted: a WebAuthn response is a few KiB.
const MAX_BODY: usize = 64 * 1024;

struct App {
    passkeys: Passkeys<SqliteStore>,
    /// Step-up proofs handed to the page as opaque tokens, for the change that follows.
    proofs: Mutex<HashMap<String, StepUpProof>>,
}

type Shared = Arc<App>;

/// An error as the page sees it: the stable code and a message.
struct ApiError(latchkey::Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.0.code(), "message": self.0.to_string() });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

impl From<latchkey::Error> for ApiError {
    fn from(error: latchkey::Error) -> Self {
        Self(error)
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
    ApiError(latchkey::Error::Malformed(message.to_owned()))
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
        proofs: Mutex::new(HashMap::new()),
    });
    // Expired challenges and replay tombstones are swept every minute.
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
        device: None,
    }
}

fn scope(name: &str) -> Result<Scope, ApiError> {
    match name {
        "exchange" => Ok(Scope::Exchange),
        "pay" => Ok(Scope::Pay),
        _ => Err(bad("scope is exchange or pay")),
    }
}

/// `{"factors": ["email", ...]}`, `{"token": "..."}` (a step-up proof) or nothing.
#[derive(Deserialize, Default)]
struct StepUpJson {
    #[serde(default)]
    factors: Vec<Factor>,
    #[serde(default)]
    token: Option<String>,
}

impl App {
    fn step_up(&self, step_up: Option<StepUpJson>) -> Result<StepUp, ApiError> {
        let Some(step_up) = step_up else {
            return Ok(StepUp::None);
        };
        if let Some(token) = step_up.token {
            let proof = self.proofs.lock().ok().and_then(|mut p| p.remove(&token));
            return proof
                .map(StepUp::Passkey)
                .ok_or_else(|| ApiError(latchkey::policy::PolicyError::StepUpRequired.into()));
        }
        Ok(if step_up.factors.is_empty() {
            StepUp::None
        } else {
            StepUp::Factors(step_up.factors)
        })
    }
}

#[derive(Deserialize)]
struct RegistrationOptionsRequest {
    account: String,
    scope: String,
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
    let options = app
        .passkeys
        .start_registration(&account, &user, scope(&request.scope)?)
        .await?;
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
}

async fn registration(
    State(app): State<Shared>,
    Body(request): Body<RegistrationRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account);
    let step_up = app.step_up(request.step_up)?;
    let done = match request.replace {
        Some(old) => {
            let old = CredentialId::new(unb64(&old, "replace")?);
            app.passkeys
                .finish_replacement(&account, &old, &request.response, &step_up, &context())
                .await?
        }
        None => {
            app.passkeys
                .finish_registration(
                    &account,
                    &request.response,
                    &step_up,
                    request.name.as_deref(),
                    &context(),
                )
                .await?
        }
    };
    let warnings: Vec<&str> = done.warnings.iter().map(|w| w.code()).collect();
    Ok(Json(
        json!({ "credential": done.credential, "warnings": warnings }),
    ))
}

#[derive(Deserialize)]
struct AuthenticationOptionsRequest {
    account: Option<String>,
    intent: Intent,
    transaction: Option<String>,
    /// For a step-up: the scope of the change (only its passkeys are offered).
    scope: Option<String>,
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
    let options = match (request.scope.as_deref(), &account) {
        (Some(name), Some(account)) => app.passkeys.start_step_up(account, scope(name)?).await?,
        _ => {
            app.passkeys
                .start_authentication(account.as_ref(), request.intent, transaction)
                .await?
        }
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
    let done = app
        .passkeys
        .finish_authentication(&request.response, transaction, &[], &context())
        .await?;
    let token = match done.step_up {
        Some(proof) => {
            let mut bytes = [0u8; 16];
            latchkey::Random::fill(&latchkey::OsRandom, &mut bytes)?;
            let token = b64(&bytes);
            if let Ok(mut proofs) = app.proofs.lock() {
                proofs.insert(token.clone(), proof);
            }
            Some(token)
        }
        None => None,
    };
    let warnings: Vec<&str> = done.warnings.iter().map(|w| w.code()).collect();
    Ok(Json(json!({
        "account": done.account.as_str(),
        "credential": b64(done.credential.as_bytes()),
        "intent": done.intent,
        "warnings": warnings,
        "receipt": done.receipt,
        "step_up_token": token,
    })))
}

#[derive(Deserialize)]
struct AuthorizeDexRequest {
    account: String,
    step_up: StepUpJson,
    terms_accepted: bool,
}

async fn authorize_dex(
    State(app): State<Shared>,
    Body(request): Body<AuthorizeDexRequest>,
) -> ApiResult {
    let account = AccountId::new(request.account);
    let StepUp::Passkey(proof) = app.step_up(Some(request.step_up))? else {
        return Err(bad(
            "DEX authorization needs the passkey's own step-up token",
        ));
    };
    let warnings = app
        .passkeys
        .authorize_dex(&account, &proof, request.terms_accepted, &context())
        .await?;
    let warnings: Vec<&str> = warnings.iter().map(|w| w.code()).collect();
    Ok(Json(json!({ "warnings": warnings })))
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
    let credential = CredentialId::new(unb64(&request.credential, "credential")?);
    let step_up = app.step_up(request.step_up)?;
    app.passkeys
        .revoke_dex(&account, &credential, &step_up, &context())
        .await?;
    Ok(Json(json!({})))
}

async fn rename(State(app): State<Shared>, Body(request): Body<CredentialRequest>) -> ApiResult {
    let account = AccountId::new(request.account);
    let credential = CredentialId::new(unb64(&request.credential, "credential")?);
    let name = request.name.ok_or_else(|| bad("name is required"))?;
    app.passkeys
        .rename(&account, &credential, &name, &context())
        .await?;
    Ok(Json(json!({})))
}

async fn delete(State(app): State<Shared>, Body(request): Body<CredentialRequest>) -> ApiResult {
    let account = AccountId::new(request.account);
    let credential = CredentialId::new(unb64(&request.credential, "credential")?);
    let step_up = app.step_up(request.step_up)?;
    let signal = app
        .passkeys
        .delete(&account, &credential, &step_up, &context())
        .await?;
    Ok(Json(json!({ "signalAllAcceptedCredentials": signal })))
}

#[derive(Deserialize)]
struct AccountQuery {
    account: String,
}

async fn passkeys(State(app): State<Shared>, Params(query): Params<AccountQuery>) -> ApiResult {
    let account = AccountId::new(query.account);
    let exchange = app.passkeys.list(&account, Scope::Exchange).await?;
    let pay = app.passkeys.list(&account, Scope::Pay).await?;
    Ok(Json(json!({ "exchange": exchange, "pay": pay })))
}

async fn history(State(app): State<Shared>, Params(query): Params<AccountQuery>) -> ApiResult {
    let events = app.passkeys.history(&AccountId::new(query.account)).await?;
    Ok(Json(serde_json::to_value(events).unwrap_or_default()))
}
