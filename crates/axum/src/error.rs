//! Errors as HTTP: one status per kind of error, a body with the stable code and a
//! message that is safe to show.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey::ErrorKind;
use latchkey::json::SignalUnknownCredential;
use serde::Serialize;

/// The router's own code for a request that needs a signed-in account and has none
/// (status 401). Every other code is one of the facade's (`latchkey::Error::code`).
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// Seconds a client waits before retrying after `store_conflict` (the `Retry-After`
/// header of a 409).
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// An error answered over HTTP: `{ "code": "...", "message": "..." }` with the status of
/// its kind ([`status_for`]), and for a login with a passkey no account holds the
/// `signalUnknownCredential` payload (P13).
///
/// The message comes from a fixed table keyed on the code, never from the error's
/// `Display`: nothing the client sent (a token, a challenge) and nothing of the
/// service's internals (a database address) is ever echoed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    code: &'static str,
    status: StatusCode,
    signal: Option<SignalUnknownCredential>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal_unknown_credential: Option<&'a SignalUnknownCredential>,
}

impl ApiError {
    /// An error with a stable code; its status is [`status_for`] the code.
    #[must_use]
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            status: status_for(code),
            signal: None,
        }
    }

    /// A request that needs a signed-in account and has none (401).
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(UNAUTHENTICATED)
    }

    /// The same error answered with another status (the router uses it for 413 and 415,
    /// whose codes are `limit_exceeded` and `malformed`).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Attaches the `signalUnknownCredential` payload the facade returned (P13).
    #[must_use]
    pub fn with_signal(mut self, signal: Option<SignalUnknownCredential>) -> Self {
        self.signal = signal;
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message shown for this code.
    #[must_use]
    pub fn message(&self) -> &'static str {
        message_for(self.code)
    }
}

impl From<latchkey::Error> for ApiError {
    /// By the error's kind, which can differ from its code's (a corrupt store record is
    /// `store_unavailable` but internal).
    fn from(error: latchkey::Error) -> Self {
        Self::new(error.code()).with_status(status_of(error.kind()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: message_for(self.code),
            signal_unknown_credential: self.signal.as_ref(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::CONFLICT {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// The HTTP status of an error code, by its kind ([`ErrorKind::of_code`]): the client's
/// input 400, a policy refusal 403, a conflict worth retrying 409 (answered with
/// `Retry-After`), the store unavailable 503, internal 500; [`UNAUTHENTICATED`] 401. An
/// unknown code is internal.
///
/// This is the one place the router maps errors to HTTP.
#[must_use]
pub fn status_for(code: &str) -> StatusCode {
    if code == UNAUTHENTICATED {
        return StatusCode::UNAUTHORIZED;
    }
    status_of(ErrorKind::of_code(code).unwrap_or(ErrorKind::Internal))
}

/// The HTTP status of an error kind.
fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The message shown for an error code: fixed text, safe to show to the user.
#[must_use]
pub fn message_for(code: &str) -> &'static str {
    match code {
        "malformed" => "The request could not be read.",
        "limit_exceeded" => "The request is too large.",
        "invalid_name" => "Passkey names are 1 to 64 visible characters.",
        "challenge_mismatch" => "This answer is not for this request. Please try again.",
        "challenge_expired" => "The request timed out. Please try again.",
        "challenge_reused" => "This answer was already used. Please try again.",
        "origin_mismatch" => "This request did not come from this site.",
        "rp_id_mismatch" => "The passkey is for another site.",
        "type_mismatch" => "The browser answered another kind of request.",
        "signature_invalid" => "The passkey's signature did not verify.",
        "attestation_invalid" => "The authenticator's attestation did not verify.",
        "unsupported_algorithm" => "The passkey uses an algorithm this site does not accept.",
        "unsupported_format" => "The authenticator's attestation format is not supported.",
        "user_presence_required" => "The authenticator did not confirm your presence.",
        "last_passkey" => "This is your last passkey here: add another one first.",
        "limit_reached" => "You have as many passkeys here as allowed.",
        "scope_mismatch" => "This passkey cannot be used for this.",
        "dex_not_authorized" => "This passkey is not authorized for the DEX wallet.",
        "terms_not_accepted" => "Please accept the terms first.",
        "withdrawal_locked" => "Withdrawals are locked for now after a security change.",
        "user_verification_required" => "Please unlock your passkey (PIN or biometrics).",
        "step_up_required" => "Please confirm it is you first.",
        "unknown_credential" => "This passkey is not registered here.",
        "duplicate_credential" => "This passkey is already registered.",
        "provider_denied" => "Passkeys from this provider are not accepted here.",
        "counter_regression" => "This passkey may have been cloned; it was refused.",
        "attestation_untrusted" => "This authenticator model is not accepted here.",
        "account_frozen" => "This account is frozen.",
        "store_conflict" => "Your account changed at the same time. Please try again.",
        "store_unavailable" => "The service is unavailable. Please try again later.",
        UNAUTHENTICATED => "Please sign in first.",
        _ => "Something went wrong on our side.",
    }
}
