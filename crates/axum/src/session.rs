//! What the service plugs in: who the user is, and what else it has checked.

use std::future::Future;

use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use latchkey::{AccountId, Authenticated, Factor, RequestContext, User};

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

    /// What the history records of the request (P14). Default: the `User-Agent` and
    /// `X-Request-Id` headers; a service behind a proxy adds the client IP it trusts.
    fn context(&self, request: &Parts) -> RequestContext {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(|value| value.chars().take(256).collect::<String>())
        };
        RequestContext {
            user_agent: header(USER_AGENT.as_str()),
            request_id: header("x-request-id"),
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
