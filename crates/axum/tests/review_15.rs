//! Review of issue 15 (latchkey-axum): attacks on the router through its public API.
//! Each test is named after the attack; the ones that broke the rules were fixed and
//! now guard the fix, the others guard what already held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use latchkey::json::b64;
use latchkey::{AccountId, Factor, Passkeys, Scope};
use serde_json::{Value, json};
use support::{ANONYMOUS, Harness, ORIGIN, harness, user, with_factors};
use tower::ServiceExt as _;

/// Alice with two Exchange passkeys (laptop, phone) and a Pay passkey, bob with one
/// Exchange passkey.
struct World {
    h: Harness,
    laptop: latchkey_testkit::authenticator::Authenticator,
    phone: latchkey_testkit::authenticator::Authenticator,
    pay: latchkey_testkit::authenticator::Authenticator,
    bobs: latchkey_testkit::authenticator::Authenticator,
}

async fn world() -> World {
    let h = harness();
    let laptop = support::authenticator(1);
    let phone = support::authenticator(2);
    let pay = support::authenticator(3);
    let bobs = support::authenticator(4);
    h.register(with_factors("alice"), &laptop, "exchange", None)
        .await
        .ok();
    h.register(with_factors("alice"), &phone, "exchange", None)
        .await
        .ok();
    h.register(with_factors("alice"), &pay, "pay", None)
        .await
        .ok();
    h.register(with_factors("bob"), &bobs, "exchange", None)
        .await
        .ok();
    World {
        h,
        laptop,
        phone,
        pay,
        bobs,
    }
}

/// How many events `account`'s history holds.
async fn history_len(h: &Harness, account: &str) -> usize {
    let mut count = 0;
    let mut start = 0;
    loop {
        let page = h
            .get(&format!("/history?start={start}"), user(account))
            .await
            .ok();
        count += page["events"].as_array().unwrap().len();
        match page["next"].as_u64() {
            Some(next) => start = usize::try_from(next).unwrap(),
            None => return count,
        }
    }
}

/// Starts an assertion at `start` (body `start_body`), answers it with `authenticator`
/// and finishes it at `finish`: returns the answer of the finish.
#[allow(clippy::too_many_arguments)]
async fn cross(
    h: &Harness,
    who: support::As<'_>,
    start: &str,
    start_body: Value,
    finish: &str,
    finish_who: support::As<'_>,
    authenticator: &mut latchkey_testkit::authenticator::Authenticator,
    holder: &str,
    scope: Scope,
    transaction: Option<&str>,
) -> support::Answer {
    let options = h.post(start, who, start_body).await.ok();
    let response = h.answer(authenticator, &options, holder, scope);
    h.post(
        finish,
        finish_who,
        json!({ "response": response, "transaction": transaction }),
    )
    .await
}

// ---- findings (fixed) ------------------------------------------------------------------

/// A client that leaves out the transaction of a signing intent, or sends one to an
/// intent that signs nothing, sent bad input: 400 `malformed`, not a 500 `internal`
/// (which would page the service's on-call for a client's mistake).
#[tokio::test]
async fn signing_intent_without_transaction_is_input_not_internal() {
    let w = world().await;
    let alice = user("alice");
    for (path, body) in [
        ("/dex/trade/start", json!({})),
        ("/dex/transfer/start", json!({ "transaction": null })),
        ("/pay/sign/start", json!({})),
        ("/withdrawal/start", json!({ "transaction": "to: mallory" })),
        ("/security-change/start", json!({ "transaction": "x" })),
    ] {
        let answer = w.h.post(path, alice, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.code(), "malformed", "{path}");
    }
}

/// A step-up challenge (for one passkey change) finished at `/security-change/finish`:
/// another endpoint's challenge, refused before the use (a step-up grant) is recorded,
/// and the service's post-authentication hook never hears of it as a security change.
#[tokio::test]
async fn step_up_challenge_finished_as_security_change() {
    let mut w = world().await;
    let alice = user("alice");
    let phone_id = b64(w.phone.credential_id());
    let before = history_len(&w.h, "alice").await;
    let answer = cross(
        &w.h,
        alice,
        "/step-up/start",
        json!({ "change": { "change": "delete", "credential": phone_id } }),
        "/security-change/finish",
        alice,
        &mut w.laptop,
        "alice",
        Scope::Exchange,
        None,
    )
    .await;
    assert_eq!(answer.code(), "challenge_mismatch", "{}", answer.body);
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(history_len(&w.h, "alice").await, before, "nothing recorded");
}

/// A `/security-change/start` challenge (for a change the service gates itself) finished
/// at `/step-up/finish`: refused before the use is recorded, not recorded and then
/// refused for want of a token.
#[tokio::test]
async fn security_change_challenge_finished_as_step_up() {
    let mut w = world().await;
    let alice = user("alice");
    let before = history_len(&w.h, "alice").await;
    let answer = cross(
        &w.h,
        alice,
        "/security-change/start",
        json!({}),
        "/step-up/finish",
        alice,
        &mut w.laptop,
        "alice",
        Scope::Exchange,
        None,
    )
    .await;
    assert_eq!(answer.code(), "challenge_mismatch", "{}", answer.body);
    assert_eq!(history_len(&w.h, "alice").await, before, "nothing recorded");
}

/// The conformance `/assertion/result` finishing a challenge the service started for
/// another intent (a withdrawal) refuses it before the use is recorded.
#[tokio::test]
async fn conformance_assertion_result_with_a_withdrawal_challenge() {
    let w = world().await;
    let conformance = latchkey_axum::conformance::router(
        Arc::clone(&w.h.passkeys),
        vec![Factor::Email, Factor::Totp],
    );
    let mut laptop = w.laptop;
    let before = history_len(&w.h, "alice").await;
    let options =
        w.h.post("/withdrawal/start", user("alice"), json!({}))
            .await
            .ok();
    let response = w.h.answer(&mut laptop, &options, "alice", Scope::Exchange);
    let request = Request::builder()
        .method("POST")
        .uri("/assertion/result")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(response.to_string()))
        .unwrap();
    let answer = conformance.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let bytes = axum::body::to_bytes(answer.into_body(), 4096)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("challenge_mismatch"),
        "{body}"
    );
    assert_eq!(history_len(&w.h, "alice").await, before, "nothing recorded");
}

// ---- challenges across endpoints and sessions (held) -----------------------------------

#[tokio::test]
async fn challenge_started_on_one_intent_finished_on_another() {
    let mut w = world().await;
    let alice = user("alice");
    let before = history_len(&w.h, "alice").await;
    let tx = Some("100 USDT to 0xabc");
    for (start, body, finish, transaction) in [
        ("/login/start", json!({}), "/withdrawal/finish", None),
        (
            "/login/start",
            json!({ "account": "alice" }),
            "/security-change/finish",
            None,
        ),
        ("/withdrawal/start", json!({}), "/login/finish", None),
        (
            "/withdrawal/start",
            json!({}),
            "/security-change/finish",
            None,
        ),
        (
            "/security-change/start",
            json!({}),
            "/withdrawal/finish",
            None,
        ),
        ("/withdrawal/start", json!({}), "/step-up/finish", None),
        (
            "/dex/trade/start",
            json!({ "transaction": tx }),
            "/dex/transfer/finish",
            tx,
        ),
        (
            "/dex/transfer/start",
            json!({ "transaction": tx }),
            "/dex/trade/finish",
            tx,
        ),
        (
            "/dex/trade/start",
            json!({ "transaction": tx }),
            "/login/finish",
            tx,
        ),
        (
            "/step-up/start",
            json!({ "change": { "change": "add_passkey" } }),
            "/login/finish",
            None,
        ),
        (
            "/step-up/start",
            json!({ "change": { "change": "add_passkey" } }),
            "/withdrawal/finish",
            None,
        ),
    ] {
        let answer = cross(
            &w.h,
            alice,
            start,
            body,
            finish,
            alice,
            &mut w.laptop,
            "alice",
            Scope::Exchange,
            transaction,
        )
        .await;
        assert_eq!(
            answer.code(),
            "challenge_mismatch",
            "{start} -> {finish}: {}",
            answer.body
        );
    }
    // Pay signing challenges do not serve DEX, nor a Pay step-up a login.
    for (start, body, finish, transaction) in [
        (
            "/pay/sign/start",
            json!({ "transaction": tx }),
            "/dex/trade/finish",
            tx,
        ),
        (
            "/step-up/start",
            json!({ "scope": "pay", "change": { "change": "add_passkey" } }),
            "/pay/sign/finish",
            None,
        ),
    ] {
        let answer = cross(
            &w.h,
            alice,
            start,
            body,
            finish,
            alice,
            &mut w.pay,
            "alice",
            Scope::Pay,
            transaction,
        )
        .await;
        assert_eq!(answer.code(), "challenge_mismatch", "{start} -> {finish}");
    }
    assert_eq!(history_len(&w.h, "alice").await, before, "nothing recorded");
}

#[tokio::test]
async fn one_sessions_challenge_finished_in_another_session() {
    let mut w = world().await;
    let (alice, bob) = (user("alice"), user("bob"));
    let bobs_before = history_len(&w.h, "bob").await;
    // Alice's step-up challenge, answered by alice's passkey, sent in bob's session.
    let answer = cross(
        &w.h,
        alice,
        "/step-up/start",
        json!({ "change": { "change": "add_passkey" } }),
        "/step-up/finish",
        bob,
        &mut w.laptop,
        "alice",
        Scope::Exchange,
        None,
    )
    .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // Bob's withdrawal challenge answered by bob's passkey, sent in alice's session.
    let answer = cross(
        &w.h,
        bob,
        "/withdrawal/start",
        json!({}),
        "/withdrawal/finish",
        alice,
        &mut w.bobs,
        "bob",
        Scope::Exchange,
        None,
    )
    .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // Bob's own challenge answered by alice's passkey (with alice's user handle).
    let answer = cross(
        &w.h,
        bob,
        "/security-change/start",
        json!({}),
        "/security-change/finish",
        bob,
        &mut w.laptop,
        "alice",
        Scope::Exchange,
        None,
    )
    .await;
    assert_eq!(answer.code(), "unknown_credential");
    assert!(
        answer.body.get("signalUnknownCredential").is_none(),
        "a valid passkey of another account is never signalled: {}",
        answer.body
    );
    assert_eq!(history_len(&w.h, "bob").await, bobs_before);
}

#[tokio::test]
async fn registration_challenge_finished_as_replacement_or_in_another_session() {
    let w = world().await;
    let alice = with_factors("alice");
    let newcomer = support::authenticator(9);
    let laptop_id = b64(w.laptop.credential_id());
    let register = |options: &Value| -> Value {
        serde_json::from_str(
            &newcomer.registration_json(&w.h.client, options["challenge"].as_str().unwrap()),
        )
        .unwrap()
    };
    // A registration challenge at /replacement/finish.
    let options =
        w.h.post("/registration/start", alice, json!({ "scope": "exchange" }))
            .await
            .ok();
    let answer =
        w.h.post(
            "/replacement/finish",
            alice,
            json!({ "credential": laptop_id, "response": register(&options) }),
        )
        .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // A replacement challenge at /registration/finish.
    let options =
        w.h.post(
            "/replacement/start",
            alice,
            json!({ "credential": laptop_id }),
        )
        .await
        .ok();
    let answer =
        w.h.post(
            "/registration/finish",
            alice,
            json!({ "response": register(&options) }),
        )
        .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // A replacement challenge for the laptop used to replace the phone.
    let options =
        w.h.post(
            "/replacement/start",
            alice,
            json!({ "credential": laptop_id }),
        )
        .await
        .ok();
    let answer =
        w.h.post(
            "/replacement/finish",
            alice,
            json!({ "credential": b64(w.phone.credential_id()), "response": register(&options) }),
        )
        .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // Alice's registration challenge finished in bob's session.
    let options =
        w.h.post("/registration/start", alice, json!({ "scope": "exchange" }))
            .await
            .ok();
    let answer =
        w.h.post(
            "/registration/finish",
            with_factors("bob"),
            json!({ "response": register(&options) }),
        )
        .await;
    assert_eq!(answer.code(), "challenge_mismatch");
    // A registration challenge at an assertion endpoint.
    let options =
        w.h.post("/registration/start", alice, json!({ "scope": "pay" }))
            .await
            .ok();
    let mut other = support::authenticator(10);
    let response = w.h.answer(&mut other, &options, "alice", Scope::Pay);
    let answer =
        w.h.post("/login/finish", ANONYMOUS, json!({ "response": response }))
            .await;
    assert!(answer.status.is_client_error(), "{}", answer.body);
    let listed = w.h.get("/passkeys", user("alice")).await.ok();
    assert_eq!(listed["exchange"].as_array().unwrap().len(), 2);
    assert_eq!(listed["pay"].as_array().unwrap().len(), 1);
    assert_eq!(
        w.h.get("/passkeys", user("bob")).await.ok()["exchange"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

// ---- step-up tokens (held) -------------------------------------------------------------

#[tokio::test]
async fn step_up_token_reused_or_used_for_another_change_account_or_scope() {
    let mut w = world().await;
    let alice = user("alice");
    let phone_id = b64(w.phone.credential_id());
    let laptop_id = b64(w.laptop.credential_id());
    let pay_id = b64(w.pay.credential_id());
    let bobs_id = b64(w.bobs.credential_id());

    // A token for deleting the phone does not delete the laptop, bob's passkey, or the
    // Pay passkey; it does not add a passkey or revoke DEX.
    let token =
        w.h.step_up(
            alice,
            &mut w.laptop,
            Scope::Exchange,
            json!({ "change": "delete", "credential": phone_id }),
        )
        .await;
    for (path, who, body) in [
        (
            "/passkeys/delete",
            alice,
            json!({ "credential": laptop_id, "stepUpToken": token }),
        ),
        (
            "/passkeys/delete",
            alice,
            json!({ "credential": pay_id, "stepUpToken": token }),
        ),
        (
            "/passkeys/delete",
            user("bob"),
            json!({ "credential": phone_id, "stepUpToken": token }),
        ),
        (
            "/passkeys/delete",
            user("bob"),
            json!({ "credential": bobs_id, "stepUpToken": token }),
        ),
        (
            "/dex/revoke",
            alice,
            json!({ "credential": phone_id, "stepUpToken": token }),
        ),
        (
            "/replacement/start",
            alice,
            json!({ "credential": phone_id, "stepUpToken": token }),
        ),
        (
            "/registration/start",
            alice,
            json!({ "scope": "exchange", "stepUpToken": token }),
        ),
        (
            "/dex/authorize",
            alice,
            json!({ "credential": phone_id, "stepUpToken": token, "termsAccepted": true }),
        ),
    ] {
        let answer = w.h.post(path, who, body).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.body);
        assert_ne!(answer.status, StatusCode::OK);
        assert!(!answer.body.to_string().contains(&token), "token echoed");
    }
    // The token is nowhere in the history (only a hash of it is stored).
    let history = w.h.get("/history", alice).await.ok();
    assert!(!history.to_string().contains(&token));
    // It does delete the phone, once.
    w.h.post(
        "/passkeys/delete",
        alice,
        json!({ "credential": phone_id, "stepUpToken": token }),
    )
    .await
    .ok();
    w.h.register(with_factors("alice"), &w.phone, "exchange", None)
        .await
        .ok();
    let again =
        w.h.post(
            "/passkeys/delete",
            alice,
            json!({ "credential": phone_id, "stepUpToken": token }),
        )
        .await;
    assert_eq!(again.code(), "step_up_required");

    // An Exchange step-up for adding a passkey adds no Pay passkey (P1, P7).
    let token =
        w.h.step_up(
            alice,
            &mut w.laptop,
            Scope::Exchange,
            json!({ "change": "add_passkey" }),
        )
        .await;
    let second_pay = support::authenticator(11);
    let answer = w.h.register(alice, &second_pay, "pay", Some(&token)).await;
    assert_eq!(answer.code(), "step_up_required", "{}", answer.body);
    // Nor does it serve bob.
    let bobs_second = support::authenticator(12);
    let answer =
        w.h.register(user("bob"), &bobs_second, "exchange", Some(&token))
            .await;
    assert_eq!(answer.code(), "step_up_required");
    assert_eq!(
        w.h.get("/passkeys", user("alice")).await.ok()["pay"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn pay_passkey_where_an_exchange_one_is_needed() {
    let mut w = world().await;
    let alice = user("alice");
    let tx = Some("swap 1 ETH");
    for (path, body, transaction) in [
        ("/login", json!({ "account": "alice" }), None),
        ("/withdrawal", json!({}), None),
        ("/security-change", json!({}), None),
        ("/dex/trade", json!({ "transaction": tx }), tx),
        (
            "/step-up",
            json!({ "change": { "change": "add_passkey" } }),
            None,
        ),
    ] {
        let answer =
            w.h.assert(
                path,
                alice,
                body,
                &mut w.pay,
                "alice",
                Scope::Pay,
                transaction,
            )
            .await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.body);
        assert!(answer.body.get("stepUpToken").is_none());
    }
    // And an Exchange passkey does not sign Pay, nor step up a Pay change.
    for (path, body, transaction) in [
        ("/pay/sign", json!({ "transaction": tx }), tx),
        (
            "/step-up",
            json!({ "scope": "pay", "change": { "change": "add_passkey" } }),
            None,
        ),
    ] {
        let answer =
            w.h.assert(
                path,
                alice,
                body,
                &mut w.laptop,
                "alice",
                Scope::Exchange,
                transaction,
            )
            .await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.body);
    }
    // A step-up for a Pay change of an Exchange passkey is refused at the start.
    let answer = w
        .h
        .post(
            "/step-up/start",
            alice,
            json!({ "scope": "pay", "change": { "change": "delete", "credential": b64(w.laptop.credential_id()) } }),
        )
        .await;
    assert_eq!(answer.code(), "scope_mismatch");
}

/// A step-up for authorizing the laptop for DEX answered by the phone does not
/// authorize the laptop (P2: only its own assertion).
#[tokio::test]
async fn dex_authorization_step_up_answered_by_another_passkey() {
    let mut w = world().await;
    let alice = user("alice");
    let laptop_id = b64(w.laptop.credential_id());
    let options =
        w.h.post(
            "/step-up/start",
            alice,
            json!({ "change": { "change": "authorize_dex", "credential": laptop_id } }),
        )
        .await
        .ok();
    let response = w.h.answer(&mut w.phone, &options, "alice", Scope::Exchange);
    let finished =
        w.h.post("/step-up/finish", alice, json!({ "response": response }))
            .await;
    // Refused at the finish: no token to redeem.
    assert_eq!(finished.status, StatusCode::FORBIDDEN, "{}", finished.body);
    assert_eq!(finished.code(), "step_up_required");
    assert!(finished.body.get("stepUpToken").is_none());
    // Signing a DEX trade with either passkey is still refused.
    let tx = Some("buy");
    let answer =
        w.h.assert(
            "/dex/trade",
            alice,
            json!({ "transaction": tx }),
            &mut w.laptop,
            "alice",
            Scope::Exchange,
            tx,
        )
        .await;
    assert_eq!(answer.code(), "dex_not_authorized", "{}", answer.body);
}

// ---- cross-site requests and bodies (held) ---------------------------------------------

fn raw(path: &str, origin: Option<&str>, content_types: &[&str], body: String) -> Request<Body> {
    let mut builder = Request::builder()
        .method("POST")
        .uri(path)
        .header("x-account", "alice")
        .header("x-factors", "email,totp");
    for content_type in content_types {
        builder = builder.header(header::CONTENT_TYPE, *content_type);
    }
    if let Some(origin) = origin {
        builder = builder.header(header::ORIGIN, origin);
    }
    builder.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn cross_site_origin_variants() {
    let w = world().await;
    let phone_id = b64(w.phone.credential_id());
    let body = json!({ "credential": phone_id }).to_string();
    for origin in [
        "https://example.com/",
        "https://example.com:8443",
        "https://example.com:443",
        "http://example.com",
        "https://EXAMPLE.com",
        "https://sub.example.com",
        "https://example.com.evil.example",
        "https://evilexample.com",
        "https://example.co.uk.evil.example",
        "null",
        "",
        " https://example.com",
        "https://example.com, https://evil.example",
        "https://example.com https://evil.example",
    ] {
        let answer =
            w.h.send(raw(
                "/passkeys/delete",
                Some(origin),
                &["application/json"],
                body.clone(),
            ))
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{origin:?}");
        assert_eq!(answer.code(), "origin_mismatch");
        assert!(!answer.body.to_string().contains("evil"));
    }
    // Two Origin headers, the first foreign.
    let mut request = raw(
        "/passkeys/delete",
        None,
        &["application/json"],
        body.clone(),
    );
    request
        .headers_mut()
        .append(header::ORIGIN, "https://evil.example".parse().unwrap());
    request
        .headers_mut()
        .append(header::ORIGIN, ORIGIN.parse().unwrap());
    let answer = w.h.send(request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Nothing was deleted.
    let listed = w.h.get("/passkeys", user("alice")).await.ok();
    assert_eq!(listed["exchange"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn non_json_content_type_variants() {
    let w = world().await;
    let phone_id = b64(w.phone.credential_id());
    let body = json!({ "credential": phone_id }).to_string();
    for content_types in [
        &[][..],
        &["text/plain"][..],
        &["text/plain; application/json"][..],
        &["text/plain, application/json"][..],
        &["application/json, text/plain"][..],
        &["application/jsonp"][..],
        &["application/json-patch+json"][..],
        &["application/x-www-form-urlencoded"][..],
        &["multipart/form-data; boundary=application/json"][..],
        &["text/plain", "application/json"][..],
    ] {
        let answer =
            w.h.send(raw(
                "/passkeys/delete",
                Some(ORIGIN),
                content_types,
                body.clone(),
            ))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_types:?}"
        );
        assert_eq!(answer.code(), "malformed");
    }
    // Parameters and case are fine for the real type.
    let renamed =
        w.h.send(raw(
            "/passkeys/rename",
            Some(ORIGIN),
            &["Application/JSON; charset=UTF-8"],
            json!({ "credential": phone_id, "name": "Phone" }).to_string(),
        ))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let listed = w.h.get("/passkeys", user("alice")).await.ok();
    assert_eq!(listed["exchange"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn state_changing_routes_by_get_head_options() {
    let w = world().await;
    let phone_id = b64(w.phone.credential_id());
    for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"] {
        for path in [
            "/passkeys/delete",
            "/passkeys/rename",
            "/registration/start",
            "/dex/revoke",
            "/step-up/finish",
        ] {
            let request = Request::builder()
                .method(method)
                .uri(format!("{path}?credential={phone_id}&name=x"))
                .header("x-account", "alice")
                .header("x-factors", "email,totp")
                .header(header::ORIGIN, ORIGIN)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "credential": phone_id }).to_string()))
                .unwrap();
            let answer = w.h.send(request).await;
            assert_eq!(
                answer.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
    let listed = w.h.get("/passkeys", user("alice")).await.ok();
    assert_eq!(listed["exchange"].as_array().unwrap().len(), 2);
    assert!(
        listed["exchange"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "x")
    );
}

#[tokio::test]
async fn oversized_nested_duplicate_and_unknown_json() {
    let w = world().await;
    let phone_id = b64(w.phone.credential_id());
    let post = |body: String| {
        raw(
            "/passkeys/rename",
            Some(ORIGIN),
            &["application/json"],
            body,
        )
    };
    // Deeply nested.
    let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let answer = w.h.send(post(deep)).await;
    assert!(answer.status.is_client_error());
    let deep = format!(
        "{{\"credential\":\"{phone_id}\",\"name\":\"x\",\"extra\":{}1{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let answer = w.h.send(post(deep)).await;
    assert_eq!(answer.code(), "malformed");
    // Nested inside the WebAuthn response, whose extension results are free-form.
    let nested = format!(
        "{{\"response\":{{\"id\":\"AA\",\"rawId\":\"AA\",\"type\":\"public-key\",\"response\":{{}},\"clientExtensionResults\":{}1{}}}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let answer =
        w.h.send(raw(
            "/login/finish",
            Some(ORIGIN),
            &["application/json"],
            nested,
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    // Just over the cap, with a small Content-Length lie.
    let big = json!({ "credential": phone_id, "name": "a".repeat(70 * 1024) }).to_string();
    let mut request = post(big);
    request
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "10".parse().unwrap());
    let answer = w.h.send(request).await;
    assert!(answer.status.is_client_error());
    // Duplicate keys: the second name must not slip past a check made on the first.
    let duplicate =
        format!("{{\"credential\":\"{phone_id}\",\"name\":\"Phone\",\"name\":\"\\u202eenohP\"}}");
    let answer = w.h.send(post(duplicate)).await;
    assert_eq!(answer.code(), "malformed");
    // Unknown fields (an attempt to pick the account in the body).
    let unknown = json!({ "credential": phone_id, "name": "x", "account": "bob" }).to_string();
    let answer = w.h.send(post(unknown)).await;
    assert_eq!(answer.code(), "malformed");
    let answer =
        w.h.post(
            "/registration/start",
            with_factors("alice"),
            json!({ "scope": "exchange", "account": "bob" }),
        )
        .await;
    assert_eq!(answer.code(), "malformed");
    let listed = w.h.get("/passkeys", user("alice")).await.ok();
    assert!(
        listed["exchange"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "x")
    );
}

// ---- answers: echoes, statuses, signals (held) ----------------------------------------

#[tokio::test]
async fn error_bodies_and_headers_never_echo_input() {
    let w = world().await;
    let alice = user("alice");
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ";
    for (path, body) in [
        (
            "/passkeys/delete",
            json!({ "credential": secret, "stepUpToken": secret }),
        ),
        (
            "/passkeys/rename",
            json!({ "credential": secret, "name": secret }),
        ),
        (
            "/passkeys/rename",
            json!({ "credential": b64(w.phone.credential_id()), "name": format!("{secret}\u{202e}") }),
        ),
        (
            "/dex/authorize",
            json!({ "credential": secret, "stepUpToken": secret, "termsAccepted": true }),
        ),
        (
            "/replacement/start",
            json!({ "credential": secret, "stepUpToken": secret }),
        ),
        ("/login/start", json!({ "account": 7 })),
        ("/step-up/start", json!({ "change": secret })),
    ] {
        let answer = w.h.post(path, alice, body).await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.body);
        assert!(!answer.body.to_string().contains(secret), "{path}");
        for (name, value) in &answer.headers {
            assert!(
                !value.to_str().unwrap_or_default().contains(secret),
                "{path}: {name}"
            );
        }
        let object = answer.body.as_object().unwrap();
        assert!(
            object.keys().all(|k| k == "code" || k == "message"),
            "{path}"
        );
        assert_eq!(
            object["message"],
            latchkey_axum::message_for(answer.code()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn signal_unknown_credential_never_names_another_accounts_passkey() {
    let mut w = world().await;
    // Bob's passkey at a login started for alice.
    let answer =
        w.h.assert(
            "/login",
            ANONYMOUS,
            json!({ "account": "alice" }),
            &mut w.bobs,
            "bob",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(answer.code(), "unknown_credential");
    assert!(answer.body.get("signalUnknownCredential").is_none());
    // Bob's passkey presenting alice's user handle in a usernameless login.
    let answer =
        w.h.assert(
            "/login",
            ANONYMOUS,
            json!({}),
            &mut w.bobs,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(answer.code(), "unknown_credential");
    assert!(answer.body.get("signalUnknownCredential").is_none());
    // Alice's Pay passkey presenting her Exchange user handle in a login.
    let answer =
        w.h.assert(
            "/login",
            ANONYMOUS,
            json!({}),
            &mut w.pay,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert!(answer.status.is_client_error());
    assert!(answer.body.get("signalUnknownCredential").is_none());
    // A passkey no account holds is signalled, by its own id.
    let mut stranger = support::authenticator(20);
    let answer =
        w.h.assert(
            "/withdrawal",
            user("alice"),
            json!({}),
            &mut stranger,
            "alice",
            Scope::Exchange,
            None,
        )
        .await;
    assert_eq!(answer.code(), "unknown_credential");
    assert_eq!(
        answer.body["signalUnknownCredential"]["credentialId"],
        b64(stranger.credential_id())
    );
    assert_eq!(
        w.h.get("/passkeys", user("bob")).await.ok()["exchange"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn history_paging_across_accounts_and_bounds() {
    let w = world().await;
    let alice_len = history_len(&w.h, "alice").await;
    let bob_len = history_len(&w.h, "bob").await;
    assert!(alice_len > 0 && bob_len > 0);
    // Paging past the end, with huge numbers, is an empty page, never a panic.
    for query in [
        format!("start={}", usize::MAX),
        format!("start={}&limit={}", usize::MAX, usize::MAX),
        format!("start=1&limit={}", usize::MAX),
        "limit=0".to_owned(),
    ] {
        let page =
            w.h.get(&format!("/history?{query}"), user("bob"))
                .await
                .ok();
        assert!(
            page["events"].as_array().unwrap().len() <= bob_len,
            "{query}"
        );
    }
    for query in ["start=-1", "start=x", "account=alice", "limit=1e3"] {
        let answer = w.h.get(&format!("/history?{query}"), user("bob")).await;
        assert_eq!(answer.code(), "malformed", "{query}");
    }
    // Bob's pages never show alice's events.
    let page = w.h.get("/history", user("bob")).await.ok();
    let text = page.to_string();
    assert!(!text.contains(&b64(w.laptop.credential_id())));
    assert!(!text.contains(&b64(w.pay.credential_id())));
    assert_eq!(
        w.h.get("/history", ANONYMOUS).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rename_to_spoofing_names() {
    let w = world().await;
    let alice = user("alice");
    let phone_id = b64(w.phone.credential_id());
    for name in [
        "iCloud\u{202e}niahcyeK",
        "Phone\u{200b}",
        "\u{feff}Phone",
        "Phone\u{2066}x\u{2069}",
        "Phone\nLaptop",
        "\u{0000}",
        "   ",
        "",
        &"a".repeat(65),
    ] {
        let answer =
            w.h.post(
                "/passkeys/rename",
                alice,
                json!({ "credential": phone_id, "name": name }),
            )
            .await;
        assert_eq!(answer.code(), "invalid_name", "{name:?}");
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    // Renaming bob's passkey from alice's session does nothing.
    let answer =
        w.h.post(
            "/passkeys/rename",
            alice,
            json!({ "credential": b64(w.bobs.credential_id()), "name": "pwned" }),
        )
        .await;
    assert!(answer.status.is_client_error());
    let bobs = w.h.get("/passkeys", user("bob")).await.ok();
    assert_ne!(bobs["exchange"][0]["name"], "pwned");
}

/// The conformance `/attestation/result` with a cookie naming another user: the
/// registration challenge was issued for the options' user, so the cookie cannot pick
/// another account.
#[tokio::test]
async fn conformance_cookie_picks_another_account() {
    let w = world().await;
    let conformance = latchkey_axum::conformance::router(
        Arc::clone(&w.h.passkeys),
        vec![Factor::Email, Factor::Totp],
    );
    let request = Request::builder()
        .method("POST")
        .uri("/attestation/options")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "username": "mallory", "displayName": "m" }).to_string(),
        ))
        .unwrap();
    let answer = conformance.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    let options: Value = serde_json::from_slice(&bytes).unwrap();
    let key = support::authenticator(30);
    let credential: Value = serde_json::from_str(
        &key.registration_json(&w.h.client, options["challenge"].as_str().unwrap()),
    )
    .unwrap();
    let request = Request::builder()
        .method("POST")
        .uri("/attestation/result")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::COOKIE,
            format!("{}={}", latchkey_axum::conformance::COOKIE, b64(b"alice")),
        )
        .body(Body::from(credential.to_string()))
        .unwrap();
    let answer = conformance.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let alice =
        w.h.passkeys
            .list(&AccountId::new("alice"), Scope::Exchange)
            .await
            .unwrap();
    assert_eq!(alice.len(), 2, "no passkey added to alice");
}

/// A store outage is 503 and a policy refusal 403 through the router (not 400/500).
#[tokio::test]
async fn statuses_by_kind_through_the_router() {
    let w = world().await;
    // Policy refusal: deleting without a step-up.
    let answer =
        w.h.post(
            "/passkeys/delete",
            user("alice"),
            json!({ "credential": b64(w.phone.credential_id()) }),
        )
        .await;
    assert_eq!(
        (answer.status, answer.code()),
        (StatusCode::FORBIDDEN, "step_up_required")
    );
    // Unavailable store: a store that refuses everything.
    let passkeys: Arc<Passkeys<Down>> = Arc::new(Passkeys::new(support::relying_party(), Down));
    let router = latchkey_axum::router(passkeys, support::TestSession);
    let request = Request::builder()
        .method("POST")
        .uri("/login/start")
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let answer = router.clone().oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = axum::body::to_bytes(answer.into_body(), 4096)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("10.0.0.5"), "{text}");
    let request = Request::builder()
        .method("GET")
        .uri("/passkeys")
        .header("x-account", "alice")
        .body(Body::empty())
        .unwrap();
    let answer = router.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// A store whose database is down.
struct Down;

fn down() -> latchkey::store::StoreError {
    latchkey::store::StoreError::Unavailable("postgres://latchkey:pw@10.0.0.5/db".into())
}

use latchkey::policy::{AccountState, CredentialId, Event, Timestamp};
use latchkey::store::{ChallengeRecord, StoreError, Taken, Versioned};

impl latchkey::Store for Down {
    async fn load(&self, _: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        Err(down())
    }
    async fn append(&self, _: &AccountId, _: u64, _: &[Event]) -> Result<u64, StoreError> {
        Err(down())
    }
    async fn account_of(&self, _: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        Err(down())
    }
    async fn history(&self, _: &AccountId) -> Result<Vec<Event>, StoreError> {
        Err(down())
    }
    async fn put_challenge(&self, _: ChallengeRecord) -> Result<(), StoreError> {
        Err(down())
    }
    async fn purge_challenges(&self, _: Timestamp) -> Result<usize, StoreError> {
        Err(down())
    }
    async fn take_challenge(&self, _: &[u8]) -> Result<Taken, StoreError> {
        Err(down())
    }
}
