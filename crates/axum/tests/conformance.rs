//! The FIDO conformance test API driven with the test kit: registrations and logins
//! answered `ok`, and the failures the tool checks answered `failed` with a message.
#![cfg(feature = "conformance")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use latchkey::{AccountId, Factor, MemoryStore, Passkeys, RelyingParty, Scope};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Tool {
    router: Router,
    passkeys: Arc<Passkeys<MemoryStore>>,
    client: Client,
    cookie: Option<String>,
}

impl Tool {
    fn new() -> Self {
        let rp = RelyingParty::builder("localhost", "conformance")
            .origin("http://localhost:3000")
            .build()
            .unwrap();
        let passkeys = Arc::new(Passkeys::new(rp, MemoryStore::new()));
        Self {
            router: latchkey_axum::conformance::router(
                Arc::clone(&passkeys),
                vec![Factor::Email, Factor::Totp],
            ),
            passkeys,
            client: Client::new("localhost", "http://localhost:3000"),
            cookie: None,
        }
    }

    /// POSTs like the tool: JSON, with the cookie it was given; returns status and body.
    async fn post(&mut self, path: &str, body: &Value) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method("POST")
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.body(Body::from(body.to_string())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        if let Some(cookie) = response.headers().get(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        }
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// The `ServerPublicKeyCredential` the tool sends for a registration: no `rawId`,
    /// extensions as `getClientExtensionResults`.
    fn attestation(&self, authenticator: &Authenticator, options: &Value) -> Value {
        let json =
            authenticator.registration_json(&self.client, options["challenge"].as_str().unwrap());
        let mut credential: Value = serde_json::from_str(&json).unwrap();
        let object = credential.as_object_mut().unwrap();
        object.remove("rawId");
        object.remove("clientExtensionResults");
        object.insert("getClientExtensionResults".into(), json!({}));
        credential
    }

    fn assertion(&self, authenticator: &mut Authenticator, options: &Value, user: &str) -> Value {
        let handle = self
            .passkeys
            .user_handle(&AccountId::new(user), Scope::Exchange);
        let json = authenticator.authentication_json(
            &self.client,
            options["challenge"].as_str().unwrap(),
            &handle,
        );
        serde_json::from_str(&json).unwrap()
    }
}

fn is_ok(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["errorMessage"], "");
}

fn is_failed(status: StatusCode, body: &Value, code: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], "failed");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(message.starts_with(code), "{message}");
}

#[tokio::test]
async fn registers_and_logs_in_as_the_tool_does() {
    let mut tool = Tool::new();
    let mut key = Authenticator::new(SoftKey::es256([7; 32]));

    let request = json!({
        "username": "johndoe@example.com",
        "displayName": "John Doe",
        "authenticatorSelection": { "requireResidentKey": false, "userVerification": "preferred" },
        "attestation": "direct",
    });
    let (status, options) = tool.post("/attestation/options", &request).await;
    is_ok(status, &options);
    assert_eq!(options["attestation"], "direct");
    assert_eq!(options["user"]["name"], "johndoe@example.com");
    assert_eq!(options["user"]["displayName"], "John Doe");
    assert_eq!(options["rp"]["id"], "localhost");
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    assert!(
        tool.cookie
            .as_deref()
            .unwrap()
            .starts_with("latchkey-conformance=")
    );

    let credential = tool.attestation(&key, &options);
    let (status, body) = tool.post("/attestation/result", &credential).await;
    is_ok(status, &body);

    // The same answer again: its challenge is spent.
    let (status, body) = tool.post("/attestation/result", &credential).await;
    is_failed(status, &body, "challenge_reused");

    let request = json!({ "username": "johndoe@example.com", "userVerification": "required" });
    let (status, options) = tool.post("/assertion/options", &request).await;
    is_ok(status, &options);
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    let assertion = tool.assertion(&mut key, &options, "johndoe@example.com");
    let (status, body) = tool.post("/assertion/result", &assertion).await;
    is_ok(status, &body);
    let (status, body) = tool.post("/assertion/result", &assertion).await;
    is_failed(status, &body, "challenge_reused");
}

#[tokio::test]
async fn answers_failures_as_the_tool_expects() {
    let mut tool = Tool::new();
    let mut key = Authenticator::new(SoftKey::es256([8; 32]));

    // A user who has no passkey.
    let (status, body) = tool
        .post("/assertion/options", &json!({ "username": "nobody" }))
        .await;
    is_failed(status, &body, "unknown_credential");
    // Not the request shape.
    let (status, body) = tool
        .post("/attestation/options", &json!({ "name": 7 }))
        .await;
    is_failed(status, &body, "malformed");
    let (status, body) = tool
        .post("/attestation/options", &json!({ "username": "" }))
        .await;
    is_failed(status, &body, "malformed");

    // A result without the options' cookie names no user.
    let (status, options) = tool
        .post(
            "/attestation/options",
            &json!({ "username": "alice", "displayName": "Alice" }),
        )
        .await;
    is_ok(status, &options);
    let credential = tool.attestation(&key, &options);
    let cookie = tool.cookie.take();
    let (status, body) = tool.post("/attestation/result", &credential).await;
    is_failed(status, &body, "challenge_mismatch");
    tool.cookie = cookie;

    // A tampered client data (another origin) fails verification.
    let (_, options) = tool
        .post(
            "/attestation/options",
            &json!({ "username": "alice", "displayName": "Alice" }),
        )
        .await;
    let mut evil = Tool::new();
    evil.client = Client::new("localhost", "http://evil.example");
    let credential = evil.attestation(&key, &options);
    let (status, body) = tool.post("/attestation/result", &credential).await;
    is_failed(status, &body, "origin_mismatch");

    // Registered properly, then an assertion with a broken signature.
    let (_, options) = tool
        .post(
            "/attestation/options",
            &json!({ "username": "alice", "displayName": "Alice" }),
        )
        .await;
    let credential = tool.attestation(&key, &options);
    let (status, body) = tool.post("/attestation/result", &credential).await;
    is_ok(status, &body);
    let (_, options) = tool
        .post("/assertion/options", &json!({ "username": "alice" }))
        .await;
    let mut assertion = tool.assertion(&mut key, &options, "alice");
    assertion["response"]["signature"] = json!("MEUCIQDZ");
    let (status, body) = tool.post("/assertion/result", &assertion).await;
    assert_eq!(body["status"], "failed", "{body}");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An assertion by a key the server never saw, with an empty user handle as the tool
    // sends it.
    let (_, options) = tool
        .post("/assertion/options", &json!({ "username": "alice" }))
        .await;
    let mut stranger = Authenticator::new(SoftKey::es256([9; 32]));
    let mut assertion = tool.assertion(&mut stranger, &options, "alice");
    assertion["response"]["userHandle"] = json!("");
    let (status, body) = tool.post("/assertion/result", &assertion).await;
    is_failed(status, &body, "unknown_credential");
}
