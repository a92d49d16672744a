//! The one way a state-changing request gets in: same-site `Origin`, a JSON body of
//! bounded size, parsed with a stable code on every rejection.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use latchkey::verify::Origins;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body accepted: a WebAuthn response is a few KiB.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// What an extractor needs of the router's state: the origins requests may come from.
pub(crate) trait AllowedOrigins {
    fn origins(&self) -> &Origins;
}

/// A POST with a JSON body from one of the relying party's origins: the request head
/// (for the session) and the body.
pub(crate) struct Call<T> {
    pub(crate) parts: Parts,
    pub(crate) body: T,
}

impl<St, T> FromRequest<St> for Call<T>
where
    St: AllowedOrigins + Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &St) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        check_origin(&parts, state.origins())?;
        check_json(&parts)?;
        let body = read_json(body).await?;
        Ok(Self { parts, body })
    }
}

/// Refuses a request whose `Origin` is missing or not one of the relying party's: a
/// cross-site form or `fetch` never changes anything.
pub(crate) fn check_origin(parts: &Parts, origins: &Origins) -> Result<(), ApiError> {
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(cross_site)?;
    origins.check(origin, false, None).map_err(|_| cross_site())
}

/// A cross-site request: `origin_mismatch`, answered 403 (a refusal, not bad input).
fn cross_site() -> ApiError {
    ApiError::new("origin_mismatch").with_status(StatusCode::FORBIDDEN)
}

/// Only `application/json` bodies (with parameters such as `charset`): a form post, which
/// a cross-site page can send without a preflight, is refused.
pub(crate) fn check_json(parts: &Parts) -> Result<(), ApiError> {
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new("malformed").with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE))
    }
}

/// Reads at most [`MAX_BODY`] bytes and parses them.
pub(crate) async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::new("limit_exceeded").with_status(StatusCode::PAYLOAD_TOO_LARGE))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::new("malformed"))
}

/// Query parameters, rejected with `malformed`.
pub(crate) struct Params<T>(pub(crate) T);

impl<St: Send + Sync, T: DeserializeOwned> FromRequestParts<St> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|_| ApiError::new("malformed"))
    }
}
