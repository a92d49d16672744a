//! The FIDO Alliance server conformance test API (feature `conformance`): the four
//! endpoints the FIDO conformance tools call, so that a test deployment can be checked
//! by the official tool.
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | `POST /attestation/options` | `ServerPublicKeyCredentialCreationOptionsRequest`: `username`, `displayName`, `attestation?`, `authenticatorSelection?`, `extensions?` | `ServerPublicKeyCredentialCreationOptionsResponse`: the creation options with `status`, `errorMessage` |
//! | `POST /attestation/result` | `ServerPublicKeyCredential` with a `ServerAuthenticatorAttestationResponse` | `ServerResponse`: `status`, `errorMessage` |
//! | `POST /assertion/options` | `ServerPublicKeyCredentialGetOptionsRequest`: `username`, `userVerification?`, `extensions?` | `ServerPublicKeyCredentialGetOptionsResponse`: the request options with `status`, `errorMessage` |
//! | `POST /assertion/result` | `ServerPublicKeyCredential` with a `ServerAuthenticatorAssertionResponse` | `ServerResponse` |
//!
//! `status` is `"ok"` (HTTP 200, `errorMessage` empty) or `"failed"` (HTTP 400, with
//! `errorMessage` naming the stable code and its safe message).
//!
//! The username is the account. `/attestation/result` carries no username, so
//! `/attestation/options` hands it to the tool in a cookie (`latchkey-conformance`,
//! base64url) that the tool sends back, as it does for any server's session. Passkeys
//! are Exchange passkeys; a registration is stepped up with the factors the service
//! configures, since the tool shows none: mount this router on test deployments only,
//! never where real accounts live. The tool's `userVerification` and
//! `authenticatorSelection` are not honoured (latchkey requires user verification at
//! registration and chooses it per intent); `attestation` (`none`, `indirect`, `direct`)
//! is echoed, and any attestation is verified whatever the conveyance.
//!
//! ```
//! use latchkey::{Factor, MemoryStore, Passkeys, RelyingParty};
//!
//! let rp = RelyingParty::builder("localhost", "conformance")
//!     .origin("http://localhost:3000")
//!     .build()?;
//! let passkeys = Passkeys::new(rp, MemoryStore::new());
//! let app: axum::Router = latchkey_axum::conformance::router(passkeys, vec![Factor::Email, Factor::Totp]);
//! # let _ = app;
//! # Ok::<(), latchkey::Error>(())
//! ```

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use latchkey::json::{
    AttestationConveyance, AuthenticationResponse, RegistrationResponse, b64, unb64,
};
use latchkey::{
    AccountId, Factor, FinishAuthentication, FinishRegistration, Intent, Passkeys, RequestContext,
    Scope, StepUp, Store, User,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, message_for};
use crate::request::read_json;

/// The cookie that carries the username from `/attestation/options` to
/// `/attestation/result`.
pub const COOKIE: &str = "latchkey-conformance";

struct Conformance<S> {
    passkeys: Arc<Passkeys<S>>,
    factors: Vec<Factor>,
}

type Shared<S> = Arc<Conformance<S>>;

/// The four conformance endpoints on `passkeys`; registrations are stepped up with
/// `factors` (see the module documentation: test deployments only).
pub fn router<S: Store + 'static>(
    passkeys: impl Into<Arc<Passkeys<S>>>,
    factors: Vec<Factor>,
) -> axum::Router {
    let state: Shared<S> = Arc::new(Conformance {
        passkeys: passkeys.into(),
        factors,
    });
    axum::Router::new()
        .route("/attestation/options", post(attestation_options::<S>))
        .route("/attestation/result", post(attestation_result::<S>))
        .route("/assertion/options", post(assertion_options::<S>))
        .route("/assertion/result", post(assertion_result::<S>))
        .with_state(state)
}

/// A `"failed"` answer.
fn failed(error: &ApiError) -> Response {
    let message = format!("{}: {}", error.code(), message_for(error.code()));
    let body = serde_json::json!({ "status": "failed", "errorMessage": message });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// An `"ok"` answer with the fields of `value` (an options object, or nothing).
fn ok(value: Value) -> Response {
    let mut object = match value {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("status".into(), Value::String("ok".into()));
    object.insert("errorMessage".into(), Value::String(String::new()));
    Json(Value::Object(object)).into_response()
}

fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|error| failed(&error))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::new("internal"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreationOptionsRequest {
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    attestation: Option<String>,
}

async fn attestation_options<S: Store + 'static>(
    State(state): State<Shared<S>>,
    request: Request,
) -> Response {
    answer(
        async {
            let body: CreationOptionsRequest = read_json(request.into_body()).await?;
            if body.username.is_empty() {
                return Err(ApiError::new("malformed"));
            }
            let account = AccountId::new(body.username.clone());
            let user = User {
                display_name: if body.display_name.is_empty() {
                    body.username.clone()
                } else {
                    body.display_name
                },
                name: body.username.clone(),
            };
            let step_up = StepUp::Factors(state.factors.clone());
            let mut options = state
                .passkeys
                .start_registration(&account, &user, Scope::Exchange, &step_up)
                .await?;
            let echoed = match body.attestation.as_deref() {
                Some("indirect") => Some(AttestationConveyance::Indirect),
                Some("direct") => Some(AttestationConveyance::Direct),
                Some("none") => Some(AttestationConveyance::None),
                _ => None,
            };
            if let Some(conveyance) = echoed {
                options.attestation = conveyance;
            }
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                b64(body.username.as_bytes())
            );
            let mut response = ok(to_value(&options)?);
            let cookie = HeaderValue::from_str(&cookie).map_err(|_| ApiError::new("malformed"))?;
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(response)
        }
        .await,
    )
}

/// The username the `/attestation/options` cookie carries.
fn cookie_account(parts: &Parts) -> Result<AccountId, ApiError> {
    let value = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .ok_or_else(|| ApiError::new("challenge_mismatch"))?;
    let name = unb64(value, "cookie").map_err(|_| ApiError::new("malformed"))?;
    String::from_utf8(name)
        .map(AccountId::new)
        .map_err(|_| ApiError::new("malformed"))
}

/// A `ServerPublicKeyCredential` as `toJSON()` would have produced it: `rawId` from `id`
/// when missing, `getClientExtensionResults` as `clientExtensionResults`, an empty
/// `userHandle` as none.
fn normalized(mut credential: Value) -> Result<Value, ApiError> {
    let object = credential
        .as_object_mut()
        .ok_or_else(|| ApiError::new("malformed"))?;
    if !object.contains_key("rawId")
        && let Some(id) = object.get("id").cloned()
    {
        object.insert("rawId".into(), id);
    }
    let extensions = object
        .remove("getClientExtensionResults")
        .unwrap_or_else(|| Value::Object(Map::new()));
    object.entry("clientExtensionResults").or_insert(extensions);
    if let Some(response) = object.get_mut("response").and_then(Value::as_object_mut)
        && response.get("userHandle").and_then(Value::as_str) == Some("")
    {
        response.remove("userHandle");
    }
    Ok(credential)
}

async fn attestation_result<S: Store + 'static>(
    State(state): State<Shared<S>>,
    request: Request,
) -> Response {
    answer(
        async {
            let (parts, body) = request.into_parts();
            let credential = normalized(read_json(body).await?)?;
            let account = cookie_account(&parts)?;
            let response: RegistrationResponse =
                serde_json::from_value(credential).map_err(|_| ApiError::new("malformed"))?;
            let step_up = StepUp::Factors(state.factors.clone());
            state
                .passkeys
                .finish_registration(FinishRegistration::new(
                    &account,
                    &response,
                    &step_up,
                    &RequestContext::default(),
                ))
                .await?;
            Ok(ok(Value::Null))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct GetOptionsRequest {
    username: String,
}

async fn assertion_options<S: Store + 'static>(
    State(state): State<Shared<S>>,
    request: Request,
) -> Response {
    answer(
        async {
            let body: GetOptionsRequest = read_json(request.into_body()).await?;
            let account = AccountId::new(body.username);
            // A user without passkeys is an error the tool expects.
            if state
                .passkeys
                .list(&account, Scope::Exchange)
                .await?
                .is_empty()
            {
                return Err(ApiError::new("unknown_credential"));
            }
            let options = state.passkeys.start_login(Some(&account)).await?;
            Ok(ok(to_value(&options)?))
        }
        .await,
    )
}

async fn assertion_result<S: Store + 'static>(
    State(state): State<Shared<S>>,
    request: Request,
) -> Response {
    answer(
        async {
            let credential = normalized(read_json(request.into_body()).await?)?;
            let response: AuthenticationResponse =
                serde_json::from_value(credential).map_err(|_| ApiError::new("malformed"))?;
            state
                .passkeys
                .finish_authentication(
                    // Only a login's challenge, refused before any other use is
                    // recorded.
                    FinishAuthentication::new(&response, &RequestContext::default())
                        .intents(&[Intent::Login])
                        .step_up(false),
                )
                .await?;
            Ok(ok(Value::Null))
        }
        .await,
    )
}
