//! A router on a memory store, a test session, and a software authenticator answering
//! through `tower::ServiceExt::oneshot`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use latchkey::{
    AccountId, Authenticated, Factor, Intent, MemoryStore, Passkeys, RelyingParty, Scope,
};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub const ORIGIN: &str = "https://example.com";

/// The service's session: the account in `x-account`, the factors it checked in
/// `x-factors` (comma separated); a login sets a cookie.
pub struct TestSession;

impl latchkey_axum::Session for TestSession {
    async fn account(&self, request: &Parts) -> Option<AccountId> {
        let value = request.headers.get("x-account")?.to_str().ok()?;
        Some(AccountId::new(value))
    }

    async fn factors(&self, request: &Parts) -> Vec<Factor> {
        let Some(value) = request.headers.get("x-factors") else {
            return Vec::new();
        };
        value
            .to_str()
            .unwrap_or_default()
            .split(',')
            .filter_map(|name| serde_json::from_value(Value::String(name.into())).ok())
            .collect()
    }

    async fn authenticated(&self, _request: &Parts, done: &Authenticated) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if done.intent == Intent::Login {
            let cookie = format!("session={}", done.account.as_str());
            headers.insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).unwrap());
        }
        headers
    }
}

pub struct Harness {
    pub router: Router,
    pub passkeys: Arc<Passkeys<MemoryStore>>,
    pub client: Client,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body
    }
}

pub fn relying_party() -> RelyingParty {
    RelyingParty::builder("example.com", "Example")
        .origin(ORIGIN)
        .related_origin("https://example.co.uk")
        .build()
        .unwrap()
}

pub fn harness() -> Harness {
    let passkeys = Arc::new(Passkeys::new(relying_party(), MemoryStore::new()));
    Harness {
        router: latchkey_axum::router(Arc::clone(&passkeys), TestSession),
        passkeys,
        client: Client::new("example.com", ORIGIN),
    }
}

pub fn authenticator(seed: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
}

/// Who is calling: the session's account and whether it passed e-mail and app codes.
#[derive(Clone, Copy)]
pub struct As<'a> {
    pub account: Option<&'a str>,
    pub factors: bool,
}

pub const ANONYMOUS: As<'static> = As {
    account: None,
    factors: false,
};

pub fn user(account: &str) -> As<'_> {
    As {
        account: Some(account),
        factors: false,
    }
}

pub fn with_factors(account: &str) -> As<'_> {
    As {
        account: Some(account),
        factors: true,
    }
}

impl Harness {
    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn request(&self, method: &str, path: &str, who: As<'_>) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(account) = who.account {
            builder = builder.header("x-account", account);
        }
        if who.factors {
            builder = builder.header("x-factors", "email,totp");
        }
        builder
    }

    pub async fn post(&self, path: &str, who: As<'_>, body: Value) -> Answer {
        let request = self
            .request("POST", path, who)
            .header(header::ORIGIN, ORIGIN)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn get(&self, path: &str, who: As<'_>) -> Answer {
        let request = self.request("GET", path, who).body(Body::empty()).unwrap();
        self.send(request).await
    }

    /// Registers `authenticator` in `scope` with `step_up` (a token, or the factors).
    pub async fn register(
        &self,
        who: As<'_>,
        authenticator: &Authenticator,
        scope: &str,
        token: Option<&str>,
    ) -> Answer {
        let options = self
            .post(
                "/registration/start",
                who,
                json!({ "scope": scope, "stepUpToken": token }),
            )
            .await;
        if options.status != StatusCode::OK {
            return options;
        }
        let challenge = options.body["challenge"].as_str().unwrap();
        let response: Value =
            serde_json::from_str(&authenticator.registration_json(&self.client, challenge))
                .unwrap();
        self.post(
            "/registration/finish",
            who,
            json!({ "response": response, "stepUpToken": token }),
        )
        .await
    }

    /// The response `authenticator` (a passkey of `holder` in `scope`) gives to `options`.
    pub fn answer(
        &self,
        authenticator: &mut Authenticator,
        options: &Value,
        holder: &str,
        scope: Scope,
    ) -> Value {
        let challenge = options["challenge"].as_str().unwrap();
        let handle = self.passkeys.user_handle(&AccountId::new(holder), scope);
        serde_json::from_str(&authenticator.authentication_json(&self.client, challenge, &handle))
            .unwrap()
    }

    /// A whole assertion: `/{path}/start` with `start`, then `/{path}/finish`.
    #[allow(clippy::too_many_arguments)]
    pub async fn assert(
        &self,
        path: &str,
        who: As<'_>,
        start: Value,
        authenticator: &mut Authenticator,
        holder: &str,
        scope: Scope,
        transaction: Option<&str>,
    ) -> Answer {
        let options = self.post(&format!("{path}/start"), who, start).await;
        if options.status != StatusCode::OK {
            return options;
        }
        let response = self.answer(authenticator, &options.body, holder, scope);
        self.post(
            &format!("{path}/finish"),
            who,
            json!({ "response": response, "transaction": transaction }),
        )
        .await
    }

    /// A passkey step-up for `change`, returning its token.
    pub async fn step_up(
        &self,
        who: As<'_>,
        authenticator: &mut Authenticator,
        scope: Scope,
        change: Value,
    ) -> String {
        let holder = who.account.unwrap();
        let scope_name = serde_json::to_value(scope).unwrap();
        let done = self
            .assert(
                "/step-up",
                who,
                json!({ "scope": scope_name, "change": change }),
                authenticator,
                holder,
                scope,
                None,
            )
            .await
            .ok();
        done["stepUpToken"].as_str().unwrap().to_owned()
    }
}
