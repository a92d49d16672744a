//! What the service plugs in: who the user is, and what else it has checked.

use std::future::Future;

use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use latchkey::{AccountId, Authenticated, Factor, RequestContext, User};

/// Longest `X-Request-Id` the default [`Session::context`] records, in characters.
const MAX_REQUEST_ID_CHARS: usize = 128;

/// The client's `X-Request-Id`, as the history may record it: trimmed, printable ASCII
/// only (a value with a control, format or any non-ASCII character is dropped whole,
/// since stripping could make one id read as another), cut at [`MAX_REQUEST_ID_CHARS`];
/// `None` when missing, blank or refused.
fn request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("x-request-id")?.to_str().ok()?.trim();
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return None;
    }
    Some(value.chars().take(MAX_REQUEST_ID_CHARS).collect())
}

/// The service's session, as the router asks about it.
///
/// Only [`account`](Self::account) is required. The router keeps nothing between
/// requests itself: the session is the service's (a cookie, a JWT, a server-side
/// session store), and ceremonies live in the latchkey store.
///
/// ```
/// use axum::http::request::Parts;
/// use latchkey::{AccountId, Factor};
///
/// /// The account is in a header set by the service's gateway.
/// struct Gateway;
///
/// impl latchkey_axum::Session for Gateway {
///     async fn account(&self, request: &Parts) -> Option<AccountId> {
///         let value = request.headers.get("x-account")?.to_str().ok()?;
///         Some(AccountId::new(value))
///     }
///
///     async fn factors(&self, _request: &Parts) -> Vec<Factor> {
///         Vec::new() // this service checks no e-mail or app codes
///     }
/// }
/// ```
pub trait Session: Send + Sync + 'static {
    /// The account signed in on this request, if any. Every endpoint but the login
    /// ceremony, `/.well-known/webauthn` and `/latchkey.js` needs one.
    fn account(&self, request: &Parts) -> impl Future<Output = Option<AccountId>> + Send;

    /// The factors other than a passkey this request's session has passed recently
    /// enough for a security change: e-mail or SMS codes, an authenticator app (P7).
    /// The router offers them as the step-up of a change that brings no passkey step-up
    /// token, and to intents the policy asks extra factors for (P9). Default: none.
    fn factors(&self, request: &Parts) -> impl Future<Output = Vec<Factor>> + Send {
        let _ = request;
        async { Vec::new() }
    }

    /// The user as a new passkey shows them in the password manager. Default: the
    /// account id as both names.
    fn user(&self, account: &AccountId, request: &Parts) -> impl Future<Output = User> + Send {
        let _ = request;
        let name = account.as_str().to_owned();
        async move {
            User {
                display_name: name.clone(),
                name,
            }
        }
    }

    /// What the history records of the request (P14). Default: the `User-Agent` header
    /// (at most 256 characters) and the `X-Request-Id` header, which the client controls:
    /// kept only when it is printable ASCII (no control, format or other non-ASCII
    /// character that could make one id read as another in the history), cut at
    /// 128 characters. A service behind a proxy adds the client IP it trusts.
    fn context(&self, request: &Parts) -> RequestContext {
        RequestContext {
            user_agent: request
                .headers
                .get(USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.chars().take(256).collect::<String>()),
            request_id: request_id(&request.headers),
            ..RequestContext::default()
        }
    }

    /// Called after every accepted assertion (a login, a step-up, an approved
    /// withdrawal or transaction), before the router answers. A login establishes the
    /// service's session here: the headers returned (a `Set-Cookie`, say) go into the
    /// response. A service that runs the approved operation itself reads
    /// `authenticated.intent` and `authenticated.receipt`. Default: nothing.
    fn authenticated(
        &self,
        request: &Parts,
        authenticated: &Authenticated,
    ) -> impl Future<Output = HeaderMap> + Send {
        let _ = (request, authenticated);
        async { HeaderMap::new() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::http::{HeaderValue, Request};

    use super::*;

    struct Anyone;

    impl Session for Anyone {
        async fn account(&self, _request: &Parts) -> Option<AccountId> {
            None
        }
    }

    fn recorded(value: HeaderValue) -> Option<String> {
        let mut request = Request::new(());
        request.headers_mut().insert("x-request-id", value);
        let (parts, ()) = request.into_parts();
        Anyone.context(&parts).request_id
    }

    #[test]
    fn the_client_request_id_is_recorded_only_clean_and_bounded() {
        assert_eq!(
            recorded(HeaderValue::from_static("req-42 a/b")),
            Some("req-42 a/b".to_owned())
        );
        let long = "r".repeat(300);
        assert_eq!(
            recorded(HeaderValue::from_str(&long).unwrap()),
            Some("r".repeat(MAX_REQUEST_ID_CHARS))
        );
        for refused in [
            HeaderValue::from_static("req\t42"),
            HeaderValue::from_static("   "),
            // U+200B ZERO WIDTH SPACE and U+202E RIGHT-TO-LEFT OVERRIDE (Cf), raw UTF-8.
            HeaderValue::from_bytes("req\u{200B}42".as_bytes()).unwrap(),
            HeaderValue::from_bytes("req\u{202E}24".as_bytes()).unwrap(),
            // Other non-ASCII text.
            HeaderValue::from_bytes("r\u{E9}q".as_bytes()).unwrap(),
        ] {
            assert_eq!(recorded(refused.clone()), None, "{refused:?}");
        }
        let (parts, ()) = Request::new(()).into_parts();
        assert_eq!(Anyone.context(&parts).request_id, None);
    }
}
