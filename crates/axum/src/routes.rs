//! The endpoints: one handler per ceremony step, each going session -> facade -> JSON.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64, unb64};
use latchkey::verify::Origins;
use latchkey::{
    AccountId, Authenticated, Change, CredentialId, Error, FinishAuthentication,
    FinishRegistration, FinishReplacement, Intent, Passkeys, Registered, Scope, StepUp,
    StepUpToken, Store,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::request::{AllowedOrigins, Call, Params};
use crate::session::Session;

/// The browser module.
pub(crate) const LATCHKEY_JS: &str = include_str!("latchkey.js");

/// The router's state: the facade and the service's session. Nothing else.
pub(crate) struct App<S, A> {
    pub(crate) passkeys: Arc<Passkeys<S>>,
    pub(crate) session: A,
    pub(crate) origins: Origins,
}

pub(crate) type Shared<S, A> = Arc<App<S, A>>;

impl<S, A> AllowedOrigins for Shared<S, A> {
    fn origins(&self) -> &Origins {
        &self.origins
    }
}

type Answer = Result<Response, ApiError>;

fn ok(value: Value) -> Answer {
    Ok(Json(value).into_response())
}

/// The signed-in account, or 401.
async fn account<S, A: Session>(app: &App<S, A>, parts: &Parts) -> Result<AccountId, ApiError> {
    app.session
        .account(parts)
        .await
        .ok_or_else(ApiError::unauthenticated)
}

/// A passkey step-up's token when the body brings one; otherwise the factors the
/// session has passed; otherwise none.
async fn step_up<S, A: Session>(
    app: &App<S, A>,
    parts: &Parts,
    token: Option<&str>,
) -> Result<StepUp, ApiError> {
    if let Some(token) = token {
        // A string that is not a token is no step-up.
        return token
            .parse::<StepUpToken>()
            .map(StepUp::Passkey)
            .map_err(|_| ApiError::new("step_up_required"));
    }
    let factors = app.session.factors(parts).await;
    Ok(if factors.is_empty() {
        StepUp::None
    } else {
        StepUp::Factors(factors)
    })
}

fn credential_id(text: &str) -> Result<CredentialId, ApiError> {
    unb64(text, "credential")
        .map(CredentialId::new)
        .map_err(|_| ApiError::new("malformed"))
}

fn warnings(list: &[latchkey::Warning]) -> Vec<&'static str> {
    list.iter().map(latchkey::Warning::code).collect()
}

fn registered_json(done: &Registered) -> Value {
    json!({
        "credential": done.credential,
        "warnings": warnings(&done.warnings),
        "events": done.events,
        "signalAllAcceptedCredentials": done.accepted,
    })
}

fn authenticated_json(done: &Authenticated) -> Value {
    json!({
        "account": done.account.as_str(),
        "scope": done.scope,
        "credential": b64(done.credential.as_bytes()),
        "intent": done.intent,
        "userVerified": done.user_verified,
        "warnings": warnings(&done.warnings),
        "events": done.events,
        "receipt": done.receipt,
    })
}

/// The headers the session adds, on a JSON answer.
fn with_headers(value: Value, headers: HeaderMap) -> Response {
    let mut response = Json(value).into_response();
    response.headers_mut().extend(headers);
    response
}

// ---- related origins and the browser module --------------------------------------------

pub(crate) async fn well_known<S: Store, A>(State(app): State<Shared<S, A>>) -> Json<Value> {
    Json(app.passkeys.relying_party().well_known_webauthn())
}

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        LATCHKEY_JS,
    )
}

// ---- registration and replacement ------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RegistrationStart {
    scope: Scope,
    #[serde(default)]
    step_up_token: Option<String>,
}

pub(crate) async fn registration_start<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<RegistrationStart>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let user = app.session.user(&account, &call.parts).await;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let options = app
        .passkeys
        .start_registration(&account, &user, call.body.scope, &step_up)
        .await?;
    Ok(Json(options).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RegistrationFinish {
    response: RegistrationResponse,
    #[serde(default)]
    step_up_token: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn registration_finish<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<RegistrationFinish>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let context = app.session.context(&call.parts);
    let done = app
        .passkeys
        .finish_registration(
            FinishRegistration::new(&account, &call.body.response, &step_up, &context)
                .name(call.body.name.as_deref()),
        )
        .await?;
    ok(registered_json(&done))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplacementStart {
    credential: String,
    #[serde(default)]
    step_up_token: Option<String>,
}

pub(crate) async fn replacement_start<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<ReplacementStart>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let old = credential_id(&call.body.credential)?;
    let user = app.session.user(&account, &call.parts).await;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let options = app
        .passkeys
        .start_replacement(&account, &user, &old, &step_up)
        .await?;
    Ok(Json(options).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplacementFinish {
    credential: String,
    response: RegistrationResponse,
    #[serde(default)]
    step_up_token: Option<String>,
    #[serde(default)]
    dex_terms_accepted: bool,
}

pub(crate) async fn replacement_finish<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<ReplacementFinish>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let old = credential_id(&call.body.credential)?;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let context = app.session.context(&call.parts);
    let done = app
        .passkeys
        .finish_replacement(
            FinishReplacement::new(&account, &old, &call.body.response, &step_up, &context)
                .dex_terms_accepted(call.body.dex_terms_accepted),
        )
        .await?;
    ok(registered_json(&done))
}

// ---- assertions: login, step-up, intents ------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LoginStart {
    /// The account typed in; absent for a usernameless or conditional (autofill) login.
    #[serde(default)]
    account: Option<String>,
}

pub(crate) async fn login_start<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<LoginStart>,
) -> Answer {
    let account = call
        .body
        .account
        .filter(|name| !name.is_empty())
        .map(AccountId::new);
    let options = app.passkeys.start_login(account.as_ref()).await?;
    Ok(Json(options).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AssertionFinish {
    response: AuthenticationResponse,
    /// For signing intents: the transaction approved, as UTF-8 text.
    #[serde(default)]
    transaction: Option<String>,
}

/// Finishes an assertion that must serve what this endpoint is for: `intents`, and
/// (unless it is a login) the session's account. A P13 refusal carries its signal.
async fn finish_assertion<S: Store + 'static, A: Session>(
    app: &App<S, A>,
    parts: &Parts,
    body: &AssertionFinish,
    intents: &[Intent],
    signed_in: Option<&AccountId>,
    step_up: bool,
) -> Result<(Authenticated, HeaderMap), ApiError> {
    let factors = app.session.factors(parts).await;
    let context = app.session.context(parts);
    let transaction = body.transaction.as_deref().map(str::as_bytes);
    let done = match app
        .passkeys
        .finish_authentication(
            // A challenge started for another purpose, or for another session's
            // account, does not serve here: refused before the use is recorded.
            FinishAuthentication::new(&body.response, &context)
                .transaction(transaction)
                .factors(&factors)
                .intents(intents)
                .account(signed_in)
                // A step-up and a security change share the intent: only
                // `/step-up/finish` serves a step-up's challenge, and only it.
                .step_up(step_up),
        )
        .await
    {
        Ok(done) => done,
        Err(error) => {
            let signal = app.passkeys.signal_unknown_credential(&error);
            return Err(ApiError::from(error).with_signal(signal));
        }
    };
    let headers = app.session.authenticated(parts, &done).await;
    Ok((done, headers))
}

pub(crate) async fn login_finish<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<AssertionFinish>,
) -> Answer {
    let (done, headers) =
        finish_assertion(&app, &call.parts, &call.body, &[Intent::Login], None, false).await?;
    Ok(with_headers(authenticated_json(&done), headers))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StepUpStart {
    /// The scope of the change (default `exchange`; DEX changes are Exchange's).
    #[serde(default)]
    scope: Option<Scope>,
    /// The one change: `{"change": "add_passkey"}` or `{"change": "delete" | "replace" |
    /// "revoke_dex" | "authorize_dex", "credential": id}`.
    change: Change,
}

pub(crate) async fn step_up_start<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<StepUpStart>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let scope = call.body.scope.unwrap_or(Scope::Exchange);
    let options = app
        .passkeys
        .start_step_up(&account, scope, &call.body.change)
        .await?;
    Ok(Json(options).into_response())
}

pub(crate) async fn step_up_finish<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<AssertionFinish>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let intents = [Intent::SecurityChange, Intent::PaySecurityChange];
    let (done, headers) = finish_assertion(
        &app,
        &call.parts,
        &call.body,
        &intents,
        Some(&account),
        true,
    )
    .await?;
    let token = done
        .step_up
        .as_ref()
        .ok_or(Error::ChallengeMismatch)?
        .to_string();
    let mut value = authenticated_json(&done);
    if let Some(object) = value.as_object_mut() {
        object.insert("stepUpToken".into(), Value::String(token));
    }
    Ok(with_headers(value, headers))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IntentStart {
    /// For signing intents: the transaction to approve, as UTF-8 text.
    #[serde(default)]
    transaction: Option<String>,
}

pub(crate) async fn intent_start<S: Store + 'static, A: Session>(
    app: Shared<S, A>,
    call: Call<IntentStart>,
    intent: Intent,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let transaction = call.body.transaction.as_deref().map(str::as_bytes);
    // The client's input: a signing intent without its transaction, or another with one,
    // is malformed (the facade would call it the service's own fault).
    if intent.is_signing() != transaction.is_some() {
        return Err(ApiError::new("malformed"));
    }
    let options = app
        .passkeys
        .start_authentication(&account, intent, transaction)
        .await?;
    Ok(Json(options).into_response())
}

pub(crate) async fn intent_finish<S: Store + 'static, A: Session>(
    app: Shared<S, A>,
    call: Call<AssertionFinish>,
    intent: Intent,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let (done, headers) = finish_assertion(
        &app,
        &call.parts,
        &call.body,
        &[intent],
        Some(&account),
        false,
    )
    .await?;
    Ok(with_headers(authenticated_json(&done), headers))
}

// ---- management ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AuthorizeDex {
    credential: String,
    step_up_token: String,
    #[serde(default)]
    terms_accepted: bool,
}

pub(crate) async fn authorize_dex<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<AuthorizeDex>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let passkey = credential_id(&call.body.credential)?;
    let token = call
        .body
        .step_up_token
        .parse::<StepUpToken>()
        .map_err(|_| ApiError::new("step_up_required"))?;
    let context = app.session.context(&call.parts);
    let changed = app
        .passkeys
        .authorize_dex(
            &account,
            &passkey,
            &token,
            call.body.terms_accepted,
            &context,
        )
        .await?;
    ok(json!({ "events": changed.events, "warnings": warnings(&changed.warnings) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CredentialChange {
    credential: String,
    #[serde(default)]
    step_up_token: Option<String>,
}

pub(crate) async fn revoke_dex<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<CredentialChange>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let passkey = credential_id(&call.body.credential)?;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let context = app.session.context(&call.parts);
    let changed = app
        .passkeys
        .revoke_dex(&account, &passkey, &step_up, &context)
        .await?;
    ok(json!({ "events": changed.events, "warnings": warnings(&changed.warnings) }))
}

pub(crate) async fn delete<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<CredentialChange>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let passkey = credential_id(&call.body.credential)?;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let context = app.session.context(&call.parts);
    let deleted = app
        .passkeys
        .delete(&account, &passkey, &step_up, &context)
        .await?;
    ok(json!({
        "events": deleted.events,
        "signalAllAcceptedCredentials": deleted.accepted,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Rename {
    credential: String,
    name: String,
}

pub(crate) async fn rename<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<Rename>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let passkey = credential_id(&call.body.credential)?;
    let context = app.session.context(&call.parts);
    let changed = app
        .passkeys
        .rename(&account, &passkey, &call.body.name, &context)
        .await?;
    ok(json!({ "events": changed.events, "warnings": warnings(&changed.warnings) }))
}

pub(crate) async fn list<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    parts: Parts,
) -> Answer {
    let account = account(&app, &parts).await?;
    let exchange = app.passkeys.list(&account, Scope::Exchange).await?;
    let pay = app.passkeys.list(&account, Scope::Pay).await?;
    let locked = app.passkeys.withdrawals_locked_until(&account).await?;
    ok(json!({
        "account": account.as_str(),
        "exchange": exchange,
        "pay": pay,
        "withdrawalsLockedUntil": locked,
        "signalCurrentUserDetails": current_user_details(&app, &account, &parts).await,
    }))
}

/// The `signalCurrentUserDetails` payloads, one per scope (each scope has its own user
/// handle), with the names registrations use: the scope's label included (P17).
async fn current_user_details<S: Store + 'static, A: Session>(
    app: &App<S, A>,
    account: &AccountId,
    parts: &Parts,
) -> Value {
    let user = app.session.user(account, parts).await;
    let rp_id = app.passkeys.relying_party().id();
    let one = |scope: Scope| {
        json!({
            "rpId": rp_id,
            "userId": b64(&app.passkeys.user_handle(account, scope)),
            "name": app.passkeys.policy().labelled(&user.name, scope),
            "displayName": app.passkeys.policy().labelled(&user.display_name, scope),
        })
    };
    json!({ "exchange": one(Scope::Exchange), "pay": one(Scope::Pay) })
}

/// A page of the history: `start` (default 0) and `limit` (default and at most
/// [`latchkey::MAX_HISTORY_PAGE`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    start: usize,
    #[serde(default = "max_page")]
    limit: usize,
}

fn max_page() -> usize {
    latchkey::MAX_HISTORY_PAGE
}

pub(crate) async fn history<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    Params(query): Params<HistoryQuery>,
    parts: Parts,
) -> Answer {
    let account = account(&app, &parts).await?;
    let page = app
        .passkeys
        .history(&account, query.start, query.limit)
        .await?;
    ok(json!({ "events": page.events, "next": page.next }))
}

// ---- the account: status, freeze, passkey-required mode (P8, P18, P19) ----------------

pub(crate) async fn status<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    parts: Parts,
) -> Answer {
    let account = account(&app, &parts).await?;
    let status = app.passkeys.status(&account).await?;
    ok(json!({
        "frozen": status.frozen,
        "passkeyRequired": status.passkey_required,
        "withdrawalsLockedUntil": status.withdrawals_locked_until,
    }))
}

/// The user's own freeze takes no reason from the client: it is `user_request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Freeze {}

pub(crate) async fn freeze<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<Freeze>,
) -> Answer {
    let Freeze {} = call.body;
    let account = account(&app, &call.parts).await?;
    let context = app.session.context(&call.parts);
    let changed = app
        .passkeys
        .freeze(&account, "user_request", &context)
        .await?;
    ok(json!({ "events": changed.events }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasskeyRequired {
    on: bool,
    #[serde(default)]
    step_up_token: Option<String>,
}

pub(crate) async fn passkey_required<S: Store + 'static, A: Session>(
    State(app): State<Shared<S, A>>,
    call: Call<PasskeyRequired>,
) -> Answer {
    let account = account(&app, &call.parts).await?;
    let step_up = step_up(&app, &call.parts, call.body.step_up_token.as_deref()).await?;
    let context = app.session.context(&call.parts);
    let changed = app
        .passkeys
        .set_passkey_required(&account, call.body.on, &step_up, &context)
        .await?;
    ok(json!({ "events": changed.events }))
}
