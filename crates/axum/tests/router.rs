//! The router through its public API: every ceremony over HTTP on a memory store with
//! the test kit's software authenticator, the cross-site and body checks, errors by kind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse as _;
use latchkey::Scope;
use latchkey::json::b64;
use latchkey_axum::{ApiError, status_for};
use serde_json::{Value, json};
use support::{ANONYMOUS, ORIGIN, harness, user, with_factors};

#[tokio::test]
async fn every_ceremony_over_http() {
    let h = harness();
    let alice = user("alice");
    let mut laptop = support::authenticator(1);
    let mut phone = support::authenticator(2);
    let mut pay_key = support::authenticator(3);

    // The first passkey needs the other factors (P7); without them it never starts.
    let refused = h.register(alice, &laptop, "exchange", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "step_up_required");
    let first = h
        .register(with_factors("alice"), &laptop, "exchange", None)
        .await
        .ok();
    assert_eq!(first["credential"]["scope"], "exchange");
    let laptop_id = b64(laptop.credential_id());

    // Usernameless login: the session hook's cookie comes with the answer.
    let login = h
        .assert(
            "/login",
            ANONYMOUS,
            json!({}),
            &mut laptop,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(
        login.headers.get(header::SET_COOKIE).unwrap(),
        "session=alice"
    );
    let login = login.ok();
    assert_eq!(login["account"], "alice");
    assert_eq!(login["intent"], "login");
    // And with a username.
    h.assert(
        "/login",
        ANONYMOUS,
        json!({ "account": "alice" }),
        &mut laptop,
        "alice",
        Scope::Exchange,
        None,
    )
    .await
    .ok();

    // Step-up, then add a second passkey with the token.
    let token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "add_passkey" }),
        )
        .await;
    h.register(alice, &phone, "exchange", Some(&token))
        .await
        .ok();
    // The token was spent.
    let again = h
        .register(alice, &support::authenticator(9), "exchange", Some(&token))
        .await;
    assert_eq!(again.code(), "step_up_required");

    // A withdrawal.
    let withdrawal = h
        .assert(
            "/withdrawal",
            alice,
            json!({}),
            &mut phone,
            "alice",
            Scope::Exchange,
            None,
        )
        .await
        .ok();
    assert_eq!(withdrawal["intent"], "withdrawal");
    assert_eq!(withdrawal["userVerified"], true);

    // DEX: refused before authorization, then authorized by its own step-up, then signs.
    let trade = "buy 10 SOL @ 142.10";
    let early = h
        .assert(
            "/dex/trade",
            alice,
            json!({ "transaction": trade }),
            &mut laptop,
            "alice",
            Scope::Exchange,
            Some(trade),
        )
        .await;
    assert_eq!(early.status, StatusCode::FORBIDDEN);
    assert_eq!(early.code(), "dex_not_authorized");
    let dex_token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "authorize_dex", "credential": laptop_id }),
        )
        .await;
    h.post(
        "/dex/authorize",
        alice,
        json!({ "credential": laptop_id, "stepUpToken": dex_token, "termsAccepted": true }),
    )
    .await
    .ok();
    let signed = h
        .assert(
            "/dex/trade",
            alice,
            json!({ "transaction": trade }),
            &mut laptop,
            "alice",
            Scope::Exchange,
            Some(trade),
        )
        .await
        .ok();
    assert_eq!(signed["receipt"]["intent"], "dex_trade");

    // Pay: its own passkey (factors), and it signs a payment.
    h.register(with_factors("alice"), &pay_key, "pay", None)
        .await
        .ok();
    let payment = "pay 25.00 USDT to merchant 771";
    let paid = h
        .assert(
            "/pay/sign",
            alice,
            json!({ "transaction": payment }),
            &mut pay_key,
            "alice",
            Scope::Pay,
            Some(payment),
        )
        .await
        .ok();
    assert_eq!(paid["receipt"]["intent"], "pay_sign");
    assert_eq!(paid["scope"], "pay");

    // List, rename, delete with a step-up (and the Signal API payload).
    let list = h.get("/passkeys", alice).await.ok();
    assert_eq!(list["exchange"].as_array().unwrap().len(), 2);
    assert_eq!(list["pay"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["signalCurrentUserDetails"]["exchange"]["name"],
        "alice"
    );
    h.post(
        "/passkeys/rename",
        alice,
        json!({ "credential": laptop_id, "name": "Laptop" }),
    )
    .await
    .ok();
    let phone_id = b64(phone.credential_id());
    let delete_token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "delete", "credential": phone_id }),
        )
        .await;
    let deleted = h
        .post(
            "/passkeys/delete",
            alice,
            json!({ "credential": phone_id, "stepUpToken": delete_token }),
        )
        .await
        .ok();
    assert_eq!(
        deleted["signalAllAcceptedCredentials"]["allAcceptedCredentialIds"],
        json!([laptop_id])
    );
    // The last Exchange passkey stays (P3).
    let last_token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "delete", "credential": laptop_id }),
        )
        .await;
    let last = h
        .post(
            "/passkeys/delete",
            alice,
            json!({ "credential": laptop_id, "stepUpToken": last_token }),
        )
        .await;
    assert_eq!(last.status, StatusCode::FORBIDDEN);
    assert_eq!(last.code(), "last_passkey");

    // History, in pages.
    let all = h.get("/history", alice).await.ok();
    let total = all["events"].as_array().unwrap().len();
    assert!(total >= 10, "{total} events");
    let first_page = h.get("/history?start=0&limit=3", alice).await.ok();
    assert_eq!(first_page["events"].as_array().unwrap().len(), 3);
    assert_eq!(first_page["next"], 3);
    let bad_page = h.get("/history?start=x", alice).await;
    assert_eq!(bad_page.code(), "malformed");
}

#[tokio::test]
async fn replacement_revocation_and_other_session_checks() {
    let h = harness();
    let alice = user("alice");
    let mut laptop = support::authenticator(1);
    let successor = support::authenticator(2);
    h.register(with_factors("alice"), &laptop, "exchange", None)
        .await
        .ok();
    let laptop_id = b64(laptop.credential_id());

    // Replace the only passkey with a successor, stepped up by its own assertion.
    let token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "replace", "credential": laptop_id }),
        )
        .await;
    let options = h
        .post(
            "/replacement/start",
            alice,
            json!({ "credential": laptop_id, "stepUpToken": token }),
        )
        .await
        .ok();
    let response: Value = serde_json::from_str(
        &successor.registration_json(&h.client, options["challenge"].as_str().unwrap()),
    )
    .unwrap();
    let replaced = h
        .post(
            "/replacement/finish",
            alice,
            json!({ "credential": laptop_id, "response": response, "stepUpToken": token }),
        )
        .await
        .ok();
    assert_eq!(
        replaced["signalAllAcceptedCredentials"]["allAcceptedCredentialIds"],
        json!([b64(successor.credential_id())])
    );

    // The replaced passkey is unknown now: the client is told to forget it (P13).
    let stale = h
        .assert(
            "/login",
            ANONYMOUS,
            json!({}),
            &mut laptop,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert_eq!(stale.code(), "unknown_credential");
    assert_eq!(
        stale.body["signalUnknownCredential"]["credentialId"],
        laptop_id
    );

    // The replacement locked withdrawals (P8).
    let mut successor = successor;
    let locked = h
        .assert(
            "/withdrawal",
            alice,
            json!({}),
            &mut successor,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(locked.code(), "withdrawal_locked");
    assert!(h.get("/passkeys", alice).await.ok()["withdrawalsLockedUntil"].is_number());

    // Revoking DEX from a passkey that has none is a policy answer, not a crash.
    let successor_id = b64(successor.credential_id());
    let revoke = h
        .post(
            "/dex/revoke",
            with_factors("alice"),
            json!({ "credential": successor_id }),
        )
        .await;
    assert!(revoke.status.is_client_error(), "{}", revoke.body);
}

#[tokio::test]
async fn a_challenge_serves_only_its_endpoint_and_session() {
    let h = harness();
    let alice = user("alice");
    let mut successor = support::authenticator(1);
    h.register(with_factors("alice"), &successor, "exchange", None)
        .await
        .ok();
    // A security-change challenge is not a login: answered at /login/finish it is refused.
    let options = h
        .post("/security-change/start", alice, json!({}))
        .await
        .ok();
    let response = h.answer(&mut successor, &options, "alice", Scope::Exchange);
    let mixed = h
        .post("/login/finish", ANONYMOUS, json!({ "response": response }))
        .await;
    assert_eq!(mixed.code(), "challenge_mismatch");

    // A challenge started for alice does not finish in bob's session.
    let options = h.post("/withdrawal/start", alice, json!({})).await.ok();
    let response = h.answer(&mut successor, &options, "alice", Scope::Exchange);
    let other = h
        .post(
            "/withdrawal/finish",
            user("bob"),
            json!({ "response": response.clone() }),
        )
        .await;
    assert_eq!(other.code(), "challenge_mismatch");
    // And replayed, it is spent.
    let replay = h
        .post(
            "/security-change/finish",
            alice,
            json!({ "response": response }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.code(), "challenge_reused");
}

#[tokio::test]
async fn refuses_cross_site_and_non_json_requests() {
    let h = harness();
    let body = json!({ "scope": "exchange" }).to_string();
    let post = |origin: Option<&str>, content_type: &str, body: String| {
        let mut builder = Request::builder()
            .method("POST")
            .uri("/registration/start")
            .header("x-account", "alice")
            .header("x-factors", "email,totp")
            .header(header::CONTENT_TYPE, content_type);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(Body::from(body)).unwrap()
    };
    for origin in [
        None,
        Some("https://evil.example"),
        Some("null"),
        Some("http://example.com"),
    ] {
        let answer = h.send(post(origin, "application/json", body.clone())).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{origin:?}");
        assert_eq!(answer.code(), "origin_mismatch");
    }
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let answer = h.send(post(Some(ORIGIN), content_type, body.clone())).await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(answer.code(), "malformed");
    }
    // A related origin is one of the relying party's.
    let related = h
        .send(post(
            Some("https://example.co.uk"),
            "application/json; charset=utf-8",
            body.clone(),
        ))
        .await;
    assert_eq!(related.status, StatusCode::OK, "{}", related.body);
    // Too large, not JSON, the wrong shape, no session.
    let large = h
        .send(post(
            Some(ORIGIN),
            "application/json",
            "x".repeat(100 * 1024),
        ))
        .await;
    assert_eq!(large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(large.code(), "limit_exceeded");
    let not_json = h
        .send(post(Some(ORIGIN), "application/json", "{nope".into()))
        .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.code(), "malformed");
    let shape = h
        .post(
            "/registration/start",
            with_factors("alice"),
            json!({ "scope": "bank" }),
        )
        .await;
    assert_eq!(shape.code(), "malformed");
    let anonymous = h
        .post(
            "/registration/start",
            ANONYMOUS,
            json!({ "scope": "exchange" }),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.code(), "unauthenticated");
    assert_eq!(
        h.get("/passkeys", ANONYMOUS).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A forged step-up token is no step-up, and the message never echoes it.
    let forged = h
        .post(
            "/dex/authorize",
            user("alice"),
            json!({ "credential": "AAAA", "stepUpToken": "secret-forged-token", "termsAccepted": true }),
        )
        .await;
    assert_eq!(forged.code(), "step_up_required");
    assert!(!forged.body.to_string().contains("secret-forged-token"));
}

#[tokio::test]
async fn serves_the_module_and_related_origins() {
    let h = harness();
    let script = h.get("/latchkey.js", ANONYMOUS).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers.get(header::CONTENT_TYPE).unwrap(),
        "text/javascript; charset=utf-8"
    );
    let text = script.body.as_str().unwrap();
    for name in [
        "export async function register",
        "export async function login",
        "export async function stepUp",
        "export async function approve",
        "parseCreationOptionsFromJSON",
        "parseRequestOptionsFromJSON",
        "signalUnknownCredential",
        "signalAllAcceptedCredentials",
        "signalCurrentUserDetails",
        "mediation: \"conditional\"",
    ] {
        assert!(text.contains(name), "{name}");
    }
    assert!(
        !text.lines().any(|line| line.starts_with("import")),
        "no dependencies"
    );
    let well_known = h.get("/.well-known/webauthn", ANONYMOUS).await.ok();
    assert_eq!(well_known, json!({ "origins": ["https://example.co.uk"] }));
}

#[tokio::test]
async fn errors_map_to_http_by_kind() {
    for (code, status) in [
        ("malformed", 400),
        ("signature_invalid", 400),
        ("challenge_reused", 400),
        ("last_passkey", 403),
        ("step_up_required", 403),
        ("withdrawal_locked", 403),
        ("store_conflict", 409),
        ("store_unavailable", 503),
        ("internal", 500),
        ("unauthenticated", 401),
        ("something_new", 500),
    ] {
        assert_eq!(status_for(code).as_u16(), status, "{code}");
    }
    let conflict = ApiError::from(latchkey::Error::from(
        latchkey::store::StoreError::Conflict {
            expected: 1,
            actual: 2,
        },
    ))
    .into_response();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    assert_eq!(conflict.headers().get(header::RETRY_AFTER).unwrap(), "1");
    // Out of retries is a conflict too; a corrupt record is the service's fault.
    let contention = ApiError::from(latchkey::Error::Contention { attempts: 8 });
    assert_eq!(contention.status(), StatusCode::CONFLICT);
    let corrupt = ApiError::from(latchkey::Error::from(latchkey::store::StoreError::Corrupt(
        "row 7".into(),
    )));
    assert_eq!(
        (corrupt.code(), corrupt.status()),
        ("store_unavailable", StatusCode::INTERNAL_SERVER_ERROR)
    );
    // Store details never reach the client.
    let unavailable = ApiError::from(latchkey::Error::from(
        latchkey::store::StoreError::Unavailable("postgres://admin:hunter2@db".into()),
    ))
    .into_response();
    assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = axum::body::to_bytes(unavailable.into_body(), 4096)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "store_unavailable");
    assert!(!body.to_string().contains("hunter2"));
}

/// P17-P19 over HTTP: the status, the user's own freeze, passkey-required mode; the
/// operator calls (unfreeze, revoke, recover) are not routes.
#[tokio::test]
async fn account_status_freeze_and_passkey_required_mode() {
    let h = harness();
    let alice = user("alice");
    let mut laptop = support::authenticator(1);
    let phone = support::authenticator(3);
    h.register(with_factors("alice"), &laptop, "exchange", None)
        .await
        .ok();
    h.register(with_factors("alice"), &phone, "pay", None)
        .await
        .ok();
    let status = h.get("/account/status", alice).await.ok();
    assert_eq!(status["frozen"], Value::Null);
    assert_eq!(status["passkeyRequired"], json!(false));
    // P17: the Pay entry is labelled in what the browser is told about the user.
    let listed = h.get("/passkeys", alice).await.ok();
    assert_eq!(
        listed["signalCurrentUserDetails"]["pay"]["name"],
        json!("alice (Pay)")
    );
    assert_eq!(
        listed["signalCurrentUserDetails"]["exchange"]["name"],
        json!("alice")
    );

    // P19: on with the factors; off never with factors, only an Exchange passkey.
    h.post(
        "/account/passkey-required",
        with_factors("alice"),
        json!({ "on": true }),
    )
    .await
    .ok();
    assert_eq!(
        h.get("/account/status", alice).await.ok()["passkeyRequired"],
        json!(true)
    );
    let refused = h
        .post(
            "/account/passkey-required",
            with_factors("alice"),
            json!({ "on": false }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "step_up_required");
    let token = h
        .step_up(
            alice,
            &mut laptop,
            Scope::Exchange,
            json!({ "change": "passkey_required_off" }),
        )
        .await;
    h.post(
        "/account/passkey-required",
        alice,
        json!({ "on": false, "stepUpToken": token }),
    )
    .await
    .ok();
    assert_eq!(
        h.get("/account/status", alice).await.ok()["passkeyRequired"],
        json!(false)
    );

    // P18: the user freezes; no reason of the client's is taken.
    let bad = h
        .post("/account/freeze", alice, json!({ "reason": "anything" }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let frozen = h.post("/account/freeze", alice, json!({})).await.ok();
    assert_eq!(frozen["events"][0]["kind"]["type"], json!("frozen"));
    let status = h.get("/account/status", alice).await.ok();
    assert_eq!(status["frozen"]["reason"], json!("user_request"));
    let withdrawal = h
        .assert(
            "/withdrawal",
            alice,
            json!({}),
            &mut laptop,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(withdrawal.status, StatusCode::FORBIDDEN);
    assert_eq!(withdrawal.code(), "account_frozen");
    // Unfreezing, revoking and recovering are operator calls, not on the public router.
    for path in ["/account/unfreeze", "/passkeys/revoke", "/recovery/start"] {
        let answer = h.post(path, with_factors("alice"), json!({})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(
        h.get("/account/status", ANONYMOUS)
            .await
            .status
            .is_client_error()
    );
}
