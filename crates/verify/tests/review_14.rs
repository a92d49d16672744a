//! Review 14: hostile and real-world inputs against the issue-14 verification layer (the
//! one JSON path, strict client data, RFC 5280 chains, packed subject, metadata `no`, the
//! CBOR decoder's reservations). A passing test documents a defence; a failing test is a
//! finding, left failing on purpose (see the review report for each).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_cose::cbor::{Map, Value as Cbor};
use latchkey_cose::{Aaguid, AttestationObject};
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, Registration, SoftKey};
use latchkey_testkit::jws;
use latchkey_testkit::x509::{CertificateBuilder, PRINTABLE_STRING, UTF8_STRING, der};
use latchkey_verify::json::{
    AuthenticationResponse, MAX_RESPONSE_JSON_LEN, RegistrationResponse, b64,
};
use latchkey_verify::{
    CeremonyType, ClientData, Error, LastAccepted, MetadataBlob, Origins, RegistrationBytes, Trust,
    TrustAnchors, VerifiedRegistration, Verifier, VerifierOptions,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, ROOT, in_2040, intermediate_key, leaf_key, root_key};

// ---------------------------------------------------------------------------------------
// The browser JSON envelope
// ---------------------------------------------------------------------------------------

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

fn registration() -> Value {
    let json =
        Authenticator::new(SoftKey::es256([1; 32])).registration_json(&client(), &b64(&[7; 32]));
    serde_json::from_str(&json).unwrap()
}

fn authentication() -> Value {
    let mut authenticator = Authenticator::new(SoftKey::es256([1; 32]));
    let json = authenticator.authentication_json(&client(), &b64(&[7; 32]), &[9; 16]);
    serde_json::from_str(&json).unwrap()
}

fn reg_text(text: &str) -> Result<(), &'static str> {
    RegistrationResponse::from_json(text)
        .and_then(|r| r.decode())
        .map(|_| ())
        .map_err(|e| e.code())
}

fn auth_text(text: &str) -> Result<(), &'static str> {
    AuthenticationResponse::from_json(text)
        .and_then(|r| r.decode())
        .map(|_| ())
        .map_err(|e| e.code())
}

fn reg(value: &Value) -> Result<(), &'static str> {
    reg_text(&value.to_string())
}

fn auth(value: &Value) -> Result<(), &'static str> {
    auth_text(&value.to_string())
}

/// The JSON text of `value` with `"<member>":` written once more, right before the first
/// occurrence, with `extra` as its value.
fn with_member_twice(text: &str, member: &str, extra: &str) -> String {
    let needle = format!("\"{member}\":");
    let at = text.find(&needle).unwrap();
    format!("{}\"{member}\":{extra},{}", &text[..at], &text[at..])
}

#[test]
fn envelope_duplicate_members_are_refused_even_with_equal_values() {
    let r = registration();
    let a = authentication();
    let id = format!("\"{}\"", r["id"].as_str().unwrap());
    let aid = format!("\"{}\"", a["id"].as_str().unwrap());
    // The same value twice, then a different one first: never first- or last-wins.
    for (member, extra) in [
        ("id", id.as_str()),
        ("rawId", id.as_str()),
        ("type", "\"public-key\""),
        ("type", "\"password\""),
        ("clientDataJSON", "\"e30\""),
        ("attestationObject", "\"oA\""),
        ("response", "{}"),
    ] {
        let text = with_member_twice(&r.to_string(), member, extra);
        assert_eq!(reg_text(&text), Err("malformed"), "{member} twice");
    }
    for (member, extra) in [
        ("id", aid.as_str()),
        ("rawId", aid.as_str()),
        ("signature", "\"AAAA\""),
        ("userHandle", "\"AAAA\""),
        ("authenticatorData", "\"AAAA\""),
    ] {
        let text = with_member_twice(&a.to_string(), member, extra);
        assert_eq!(auth_text(&text), Err("malformed"), "{member} twice");
    }
}

#[test]
fn envelope_duplicate_through_json_escapes_is_refused() {
    // `"\u0069d"` is `"id"` once decoded: a second `id` that a byte-level check would miss.
    let r = registration();
    let text = r.to_string();
    let other = b64(&[0xee; 16]);
    let escaped = text.replacen("{", &format!("{{\"\\u0069d\":\"{other}\","), 1);
    assert_eq!(reg_text(&escaped), Err("malformed"));
    let escaped_raw = text.replacen("{", &format!("{{\"r\\u0061wId\":\"{other}\","), 1);
    assert_eq!(reg_text(&escaped_raw), Err("malformed"));
    // An escaped member name alone is just that member (JSON semantics).
    let renamed = text.replacen(
        "\"type\":\"public-key\"",
        "\"\\u0074ype\":\"public\\u002dkey\"",
        1,
    );
    assert_ne!(renamed, text);
    assert_eq!(reg_text(&renamed), Ok(()));
}

#[test]
fn envelope_client_extension_results_of_any_shape_are_ignored_without_panic() {
    for results in [
        json!({}),
        json!({"credProps": {"rk": true}}),
        json!({"prf": {"enabled": true, "results": {"first": "AAAA"}}}),
        json!({"appid": true, "largeBlob": {"supported": false}}),
        json!(null),
    ] {
        let mut r = registration();
        r["clientExtensionResults"] = results.clone();
        assert_eq!(reg(&r), Ok(()), "{results}");
        let mut a = authentication();
        a["clientExtensionResults"] = results.clone();
        assert_eq!(auth(&a), Ok(()), "{results}");
    }
    // Nested 10 000 deep: refused (serde_json's recursion limit), not a stack overflow.
    let r = registration().to_string();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = r.replacen(
        "\"clientExtensionResults\":{}",
        &format!("\"clientExtensionResults\":{deep}"),
        1,
    );
    assert_ne!(text, r);
    assert!(reg_text(&text).is_err());
}

#[test]
fn envelope_authenticator_attachment_values() {
    for attachment in [
        json!("platform"),
        json!("cross-platform"),
        json!(null),
        json!("some-future-value"),
    ] {
        let mut r = registration();
        r["authenticatorAttachment"] = attachment.clone();
        assert_eq!(reg(&r), Ok(()), "{attachment}");
    }
    let mut r = registration();
    r.as_object_mut().unwrap().remove("authenticatorAttachment");
    assert_eq!(reg(&r), Ok(()));
    let mut r = registration();
    r["authenticatorAttachment"] = json!(5);
    assert_eq!(reg(&r), Err("malformed"));
}

#[test]
fn envelope_real_chrome_registration_shape_is_accepted() {
    // Chrome's toJSON(): convenience members, every transport it reports, credProps.
    let mut r = registration();
    r["authenticatorAttachment"] = json!("cross-platform");
    r["clientExtensionResults"] = json!({"credProps": {"rk": true}});
    r["response"]["transports"] = json!(["ble", "hybrid", "internal", "nfc", "usb", "smart-card"]);
    r["response"]["publicKeyAlgorithm"] = json!(-7);
    r["response"]["publicKey"] = json!("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE");
    r["response"]["authenticatorData"] =
        json!("SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAA");
    let decoded = RegistrationResponse::from_json(&r.to_string())
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(
        decoded.transports(),
        ["ble", "hybrid", "internal", "nfc", "usb", "smart-card"]
    );
    // Firefox: empty transports; the FIDO tool: null; older clients: absent.
    for transports in [json!([]), json!(null)] {
        let mut r = registration();
        r["response"]["transports"] = transports.clone();
        assert_eq!(reg(&r), Ok(()), "{transports}");
    }
    let mut r = registration();
    r["response"].as_object_mut().unwrap().remove("transports");
    assert_eq!(reg(&r), Ok(()));
}

#[test]
fn envelope_safari_assertion_without_or_with_null_user_handle_is_accepted() {
    let mut a = authentication();
    a["response"].as_object_mut().unwrap().remove("userHandle");
    assert_eq!(auth(&a), Ok(()));
    let mut a = authentication();
    a["response"]["userHandle"] = json!(null);
    let decoded = AuthenticationResponse::from_json(&a.to_string())
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(decoded.user_handle(), None);
}

#[test]
fn envelope_empty_user_handle_decodes_and_is_never_a_user() {
    // Some clients return an empty ArrayBuffer instead of null for non-discoverable
    // credentials: decoding must not refuse it (a false refusal), and what it yields must
    // not name a user (C.135: discoverable login with "" must fail later).
    let mut a = authentication();
    a["response"]["userHandle"] = json!("");
    let decoded = AuthenticationResponse::from_json(&a.to_string())
        .unwrap()
        .decode()
        .unwrap();
    assert!(
        decoded.user_handle().is_none_or(<[u8]>::is_empty),
        "{:?}",
        decoded.user_handle()
    );
}

#[test]
fn envelope_size_caps_hold_exactly_at_their_limits() {
    // rawId: 1023 bytes read, 1024 refused.
    for (len, expected) in [(1023, Ok(())), (1024, Err("limit_exceeded"))] {
        let id = b64(&vec![0x5a; len]);
        let mut r = registration();
        r["id"] = json!(id);
        r["rawId"] = json!(id);
        assert_eq!(reg(&r), expected, "rawId {len}");
    }
    // userHandle: 64 read, 65 refused.
    for (len, ok) in [(64, true), (65, false)] {
        let mut a = authentication();
        a["response"]["userHandle"] = json!(b64(&vec![1; len]));
        assert_eq!(auth(&a).is_ok(), ok, "userHandle {len}");
    }
    // clientDataJSON: 8 KiB read, one byte more refused.
    for (len, expected) in [(8 * 1024, Ok(())), (8 * 1024 + 1, Err("limit_exceeded"))] {
        let mut r = registration();
        r["response"]["clientDataJSON"] = json!(b64(&vec![b' '; len]));
        assert_eq!(reg(&r), expected, "clientDataJSON {len}");
    }
    // signature: 8 KiB read, one byte more refused.
    for (len, expected) in [(8 * 1024, Ok(())), (8 * 1024 + 1, Err("limit_exceeded"))] {
        let mut a = authentication();
        a["response"]["signature"] = json!(b64(&vec![0x30; len]));
        assert_eq!(auth(&a), expected, "signature {len}");
    }
    // The whole JSON: exactly the cap read (padded with JSON whitespace), one more refused.
    let text = registration().to_string();
    let padded = format!("{text}{}", " ".repeat(MAX_RESPONSE_JSON_LEN - text.len()));
    assert_eq!(padded.len(), MAX_RESPONSE_JSON_LEN);
    assert_eq!(reg_text(&padded), Ok(()));
    assert_eq!(reg_text(&format!("{padded} ")), Err("limit_exceeded"));
}

#[test]
fn envelope_non_canonical_base64url_is_refused_everywhere() {
    // Non-zero trailing bits ("AB" for 0x00), padding, whitespace, standard alphabet.
    for bad in ["AB", "AA==", "AA A", "+w", "/w", "AAA\n"] {
        let mut a = authentication();
        a["response"]["signature"] = json!(bad);
        assert_eq!(auth(&a), Err("malformed"), "signature {bad:?}");
        let mut a = authentication();
        a["response"]["userHandle"] = json!(bad);
        assert_eq!(auth(&a), Err("malformed"), "userHandle {bad:?}");
        let mut r = registration();
        r["response"]["attestationObject"] = json!(bad);
        assert_eq!(reg(&r), Err("malformed"), "attestationObject {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Client data
// ---------------------------------------------------------------------------------------

const CHALLENGE_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn client_data(rest: &str) -> String {
    format!(
        r#"{{"type":"webauthn.get","challenge":"{CHALLENGE_B64}","origin":"https://example.com"{rest}}}"#
    )
}

fn parses(bytes: &[u8]) -> bool {
    ClientData::parse(bytes).is_ok()
}

#[test]
fn client_data_leading_whitespace_and_bom_before_the_object() {
    let plain = client_data("");
    assert!(parses(plain.as_bytes()));
    // JSON whitespace before `{` is still an object.
    for prefix in [" ", "\n", "\r\n\t "] {
        assert!(parses(format!("{prefix}{plain}").as_bytes()), "{prefix:?}");
    }
    // BOM, then whitespace, then the object.
    let bom_ws = [b"\xef\xbb\xbf \n".as_slice(), plain.as_bytes()].concat();
    assert!(parses(&bom_ws));
    // Not objects, whatever comes before them.
    let array = format!(r#"["webauthn.get","{CHALLENGE_B64}","https://example.com"]"#);
    for bad in [
        array.clone(),
        format!(" \n{array}"),
        "null".to_owned(),
        " null".to_owned(),
        "\"x\"".to_owned(),
        // Form feed is ASCII whitespace to Rust but not JSON whitespace.
        format!("\x0c{plain}"),
    ] {
        assert!(!parses(bad.as_bytes()), "{bad:?}");
    }
    let bom_array = [b"\xef\xbb\xbf".as_slice(), array.as_bytes()].concat();
    assert!(!parses(&bom_array));
    // One BOM is stripped, not two; and not after whitespace.
    let two_boms = [b"\xef\xbb\xbf\xef\xbb\xbf".as_slice(), plain.as_bytes()].concat();
    assert!(!parses(&two_boms));
    let ws_bom = [b" \xef\xbb\xbf".as_slice(), plain.as_bytes()].concat();
    assert!(!parses(&ws_bom));
    // Trailing content after the object.
    assert!(!parses(format!("{plain}{{}}").as_bytes()));
    assert!(!parses(format!("{plain}]").as_bytes()));
}

#[test]
fn client_data_null_and_mistyped_cross_origin_and_top_origin_are_refused() {
    for rest in [
        r#","crossOrigin":null"#,
        r#","topOrigin":null"#,
        r#","crossOrigin":"false""#,
        r#","crossOrigin":0"#,
        r#","topOrigin":1"#,
        r#","crossOrigin":false,"crossOrigin":true"#,
        r#","crossOrigin":false,"crossOrig\u0069n":true"#,
    ] {
        assert!(!parses(client_data(rest).as_bytes()), "{rest}");
    }
    assert!(parses(client_data(r#","crossOrigin":false"#).as_bytes()));
}

#[test]
fn client_data_duplicate_members_through_escapes_are_refused() {
    let old = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";
    for rest in [
        format!(r#","\u0063hallenge":"{old}""#),
        r#","typ\u0065":"webauthn.create""#.to_owned(),
        r#","\u006frigin":"https://evil.example""#.to_owned(),
    ] {
        assert!(!parses(client_data(&rest).as_bytes()), "{rest}");
    }
    // The challenge is read from the top level only (C.68).
    let nested = client_data(&format!(
        r#","x":{{"challenge":"{old}"}},"y":"\"challenge\":\"{old}\"""#
    ));
    let parsed = ClientData::parse(nested.as_bytes()).unwrap();
    assert_eq!(parsed.challenge(), CHALLENGE_B64);
}

#[test]
fn client_data_invalid_utf8_in_an_ignored_member_is_refused_c71() {
    // C.71: invalid UTF-8 → MAL-JSON. ClientData::parse documents "not UTF-8 JSON" as an
    // error; serde_json skips ignored strings without validating them.
    let text = client_data(r#","other_keys_can_be_added_here":"XX""#);
    let bytes = text.replace("\"XX\"", "\"\u{1}\u{1}\"").into_bytes();
    let bytes: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == 1 { 0xff } else { b })
        .collect();
    assert!(std::str::from_utf8(&bytes).is_err());
    assert!(
        ClientData::parse(&bytes).is_err(),
        "clientDataJSON that is not UTF-8 was accepted"
    );
}

#[test]
fn client_data_lone_surrogate_in_an_ignored_member_is_refused_c71() {
    // C.71: lone surrogates `\ud800` → MAL-JSON, wherever they are.
    let text = client_data(r#","other_keys_can_be_added_here":"\ud800""#);
    assert!(
        ClientData::parse(text.as_bytes()).is_err(),
        "a lone surrogate in an unknown member was accepted"
    );
    // A high half followed by another high half, by a plain character or by the end of
    // the string, and a low half on its own; a whole pair is text and parses.
    for escapes in [r"\ud800\ud800", r"\ud800x", r"\udc00", r"\\\ud800"] {
        let text = client_data(&format!(r#","other_keys_can_be_added_here":"{escapes}""#));
        assert!(ClientData::parse(text.as_bytes()).is_err(), "{escapes}");
    }
    for escapes in [r"\ud83d\ude00", r"\\ud800", r#"\"\ud83d\udE00\""#] {
        let text = client_data(&format!(r#","other_keys_can_be_added_here":"{escapes}""#));
        assert!(ClientData::parse(text.as_bytes()).is_ok(), "{escapes}");
    }
    // In a member latchkey reads it is refused.
    let in_origin =
        r#"{"type":"webauthn.get","challenge":"AA","origin":"https://example.com\ud800"}"#;
    assert!(ClientData::parse(in_origin.as_bytes()).is_err());
}

#[test]
fn client_data_cross_origin_needs_top_origin_when_top_origins_are_configured() {
    let framed = Origins::new(["https://example.com"]).allow_cross_origin(["https://shop.example"]);
    let check = |origins: &Origins, rest: &str| {
        ClientData::parse(client_data(rest).as_bytes())
            .unwrap()
            .check(CeremonyType::Get, &[0; 32], origins)
            .map_err(|e| e.code())
    };
    assert_eq!(
        check(&framed, r#","crossOrigin":true"#),
        Err("origin_mismatch")
    );
    assert_eq!(
        check(
            &framed,
            r#","crossOrigin":true,"topOrigin":"https://shop.example""#
        ),
        Ok(())
    );
    assert_eq!(
        check(
            &framed,
            r#","crossOrigin":true,"topOrigin":"https://shop.example.evil""#
        ),
        Err("origin_mismatch")
    );
    let old_browsers = framed.clone().allow_cross_origin_without_top_origin();
    assert_eq!(check(&old_browsers, r#","crossOrigin":true"#), Ok(()));
    // Same-origin RP: any topOrigin is refused.
    let same = Origins::new(["https://example.com"]);
    assert_eq!(
        check(
            &same,
            r#","crossOrigin":false,"topOrigin":"https://example.com""#
        ),
        Err("origin_mismatch")
    );
    // Chrome's same-origin client data (crossOrigin false, no topOrigin) passes everywhere.
    assert_eq!(check(&same, r#","crossOrigin":false"#), Ok(()));
    assert_eq!(check(&framed, r#","crossOrigin":false"#), Ok(()));
}

// ---------------------------------------------------------------------------------------
// X.509 paths
// ---------------------------------------------------------------------------------------

const CHALLENGE: &[u8] = b"review-14-registration-challenge";

const PACKED_SUBJECT: [(&str, u8, &str); 4] = [
    ("2.5.4.6", PRINTABLE_STRING, "US"),
    ("2.5.4.10", UTF8_STRING, "Latchkey Test"),
    ("2.5.4.11", UTF8_STRING, "Authenticator Attestation"),
    ("2.5.4.3", UTF8_STRING, "Latchkey Review Batch"),
];

fn packed_leaf_with(subject: &[(&str, u8, &str)]) -> CertificateBuilder {
    CertificateBuilder::with_typed_subject(subject).extension(
        "2.5.29.19",
        false,
        &der::sequence(&[]),
    )
}

fn packed_leaf() -> CertificateBuilder {
    packed_leaf_with(&PACKED_SUBJECT)
}

fn packed_registration(x5c: &[&[u8]]) -> Registration {
    Authenticator::new(SoftKey::es256([5; 32]))
        .with_aaguid(Aaguid::from_bytes([7; 16]))
        .with_attestation(Attestation::Packed {
            key: leaf_key(),
            x5c: x5c.iter().map(|c| c.to_vec()).collect(),
        })
        .register(&client(), CHALLENGE)
}

fn verify_with(
    anchors: TrustAnchors,
    registration: &Registration,
) -> Result<VerifiedRegistration, Error> {
    Verifier::new("example.com", Origins::new(["https://example.com"]))
        .with_trust_anchors(anchors)
        .verify_registration(
            &registration_bytes(registration),
            &latchkey_verify::Ceremony::new(CHALLENGE),
            in_2040(),
        )
}

fn registration_bytes(registration: &Registration) -> RegistrationBytes<'_> {
    RegistrationBytes {
        client_data_json: &registration.client_data_json,
        attestation_object: &registration.attestation_object,
        raw_id: &registration.credential_id,
    }
}

fn anchors(fmt: &str, root: &[u8]) -> TrustAnchors {
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format(fmt, root).unwrap();
    anchors
}

fn packed_trust_under(anchor: &[u8], x5c: &[&[u8]]) -> Trust {
    verify_with(anchors("packed", anchor), &packed_registration(x5c))
        .unwrap()
        .trust()
}

fn ca_key(seed: u8) -> SoftKey {
    SoftKey::es256([seed; 32])
}

/// A CA under the test root whose subject is `subject` (typed), key `ca_key(seed)`.
fn typed_ca_under_root(subject: &[(&str, u8, &str)], seed: u8) -> Vec<u8> {
    CertificateBuilder::with_typed_subject(subject)
        .ca()
        .serial(u64::from(seed))
        .issued_by(ROOT, &root_key())
        .sign(&ca_key(seed))
        .unwrap()
}

/// A packed leaf issued by `ca_key(seed)` under the issuer name that `name_source`'s
/// subject carries (a certificate used only for its subject bytes).
fn leaf_naming(name_source: &[u8], seed: u8) -> Vec<u8> {
    packed_leaf()
        .issued_by(name_source, &ca_key(seed))
        .sign(&leaf_key())
        .unwrap()
}

#[test]
fn names_chain_across_printable_and_utf8_string_rfc5280_7_1() {
    // RFC 5280 §7.1: PrintableString and UTF8String attribute values are compared after
    // RFC 4518 preparation, so CN=PrintableString "X" and CN=UTF8String "X" are the same
    // name. A CA that writes its subject as UTF8String while the issuer field of what it
    // signs says PrintableString (seen when issuers are re-encoded) still chains.
    let ca = typed_ca_under_root(&[("2.5.4.3", UTF8_STRING, "Latchkey Review CA")], 0x51);
    let twin = CertificateBuilder::with_typed_subject(&[(
        "2.5.4.3",
        PRINTABLE_STRING,
        "Latchkey Review CA",
    )])
    .self_signed(&ca_key(0x51))
    .unwrap();
    let leaf = leaf_naming(&twin, 0x51);
    // Control: the same leaf with the byte-identical issuer name is trusted.
    assert_eq!(
        packed_trust_under(ROOT, &[&leaf_naming(&ca, 0x51), &ca]),
        Trust::Trusted
    );
    assert_eq!(packed_trust_under(ROOT, &[&leaf, &ca]), Trust::Trusted);
}

#[test]
fn names_chain_case_insensitively_rfc5280_7_1() {
    // RFC 5280 §7.1 / RFC 4518: caseIgnoreMatch, insignificant spaces collapsed.
    let ca = typed_ca_under_root(&[("2.5.4.3", UTF8_STRING, "Latchkey Review CA")], 0x52);
    let twin =
        CertificateBuilder::with_typed_subject(&[("2.5.4.3", UTF8_STRING, "LATCHKEY  review ca")])
            .self_signed(&ca_key(0x52))
            .unwrap();
    assert_eq!(
        packed_trust_under(ROOT, &[&leaf_naming(&twin, 0x52), &ca]),
        Trust::Trusted
    );
}

#[test]
fn names_that_differ_in_value_never_chain() {
    // The defence behind the two tests above: a different name is refused even though
    // the issuer's key signed it.
    let ca = typed_ca_under_root(&[("2.5.4.3", UTF8_STRING, "Latchkey Review CA")], 0x53);
    for other in [
        "Latchkey Review CB",
        // Spaces are insignificant only at the ends and in runs (RFC 4518 §2.6.1).
        "Latchkey ReviewCA",
        "Latchkey Review",
    ] {
        let twin = CertificateBuilder::with_typed_subject(&[("2.5.4.3", UTF8_STRING, other)])
            .self_signed(&ca_key(0x53))
            .unwrap();
        let trust = packed_trust_under(ROOT, &[&leaf_naming(&twin, 0x53), &ca]);
        assert!(matches!(trust, Trust::Untrusted(_)), "{other:?}: {trust:?}");
    }
    // The same text under another attribute type (O instead of CN), or with an extra
    // attribute, is another name.
    for subject in [
        vec![("2.5.4.10", UTF8_STRING, "Latchkey Review CA")],
        vec![
            ("2.5.4.3", UTF8_STRING, "Latchkey Review CA"),
            ("2.5.4.10", UTF8_STRING, "Latchkey"),
        ],
    ] {
        let twin = CertificateBuilder::with_typed_subject(&subject)
            .self_signed(&ca_key(0x53))
            .unwrap();
        let trust = packed_trust_under(ROOT, &[&leaf_naming(&twin, 0x53), &ca]);
        assert!(
            matches!(trust, Trust::Untrusted(_)),
            "{subject:?}: {trust:?}"
        );
    }
}

fn leaf_under_intermediate() -> Vec<u8> {
    packed_leaf()
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(&leaf_key())
        .unwrap()
}

#[test]
fn x5c_with_the_anchor_included_is_untrusted_in_the_conformance_mode_c109() {
    // Checklist C.109 / conformance Resp-5 F-10 and A.6 item 4: "x5c of leaf,
    // intermediate and root (anchor included) → ATT-UNTRUSTED in conformance mode"; a
    // leaf that is itself the anchor (Resp-5 P-3) is accepted in both modes. By default
    // the path ends at the anchor wherever x5c carries it (RFC 5280 path building).
    let leaf = leaf_under_intermediate();
    let conformance = |anchor: &[u8], x5c: &[&[u8]]| {
        let mut options = VerifierOptions::default();
        options.refuse_anchor_in_x5c = true;
        Verifier::new("example.com", Origins::new(["https://example.com"]))
            .with_options(options)
            .with_trust_anchors(anchors("packed", anchor))
            .verify_registration(
                &registration_bytes(&packed_registration(x5c)),
                &latchkey_verify::Ceremony::new(CHALLENGE),
                in_2040(),
            )
            .unwrap()
            .trust()
    };
    let with_root: [&[u8]; 3] = [&leaf, INTERMEDIATE, ROOT];
    assert_eq!(packed_trust_under(ROOT, &with_root), Trust::Trusted);
    assert_eq!(
        conformance(ROOT, &with_root),
        Trust::Untrusted("trust anchor included in x5c")
    );
    assert_eq!(conformance(ROOT, &[&leaf, INTERMEDIATE]), Trust::Trusted);
    assert_eq!(conformance(INTERMEDIATE, &[&leaf]), Trust::Trusted);
    assert!(matches!(
        conformance(INTERMEDIATE, &[&leaf, INTERMEDIATE]),
        Trust::Untrusted(_)
    ));
    // Resp-5 P-3: the leaf itself configured as the anchor.
    assert_eq!(conformance(&leaf, &[&leaf]), Trust::Trusted);
    assert_eq!(packed_trust_under(&leaf, &[&leaf]), Trust::Trusted);
}

#[test]
fn intermediate_anchor_with_its_root_appended_in_x5c_is_trusted() {
    // WebAuthn §7.1 step 23: the attestation key must chain up to an acceptable root. With
    // the intermediate configured as the anchor (MDS statements list intermediates as
    // attestationRootCertificates), [leaf, intermediate, vendor root] chains to it at the
    // second certificate; the certificate after the anchor is irrelevant.
    let leaf = leaf_under_intermediate();
    assert_eq!(packed_trust_under(INTERMEDIATE, &[&leaf]), Trust::Trusted);
    assert_eq!(
        packed_trust_under(INTERMEDIATE, &[&leaf, INTERMEDIATE]),
        Trust::Trusted
    );
    assert_eq!(
        packed_trust_under(INTERMEDIATE, &[&leaf, INTERMEDIATE, ROOT]),
        Trust::Trusted
    );
}

#[test]
fn anchor_verdict_does_not_depend_on_whether_x5c_repeats_the_anchor() {
    // trust.rs: "The anchor is configuration, not part of the path (§6.1.1 (d)): only x5c
    // is read". A configured root carrying nameConstraints is accepted when x5c stops
    // below it; the same root repeated at the end of x5c must give the same verdict.
    let root_key = ca_key(0x54);
    let name_constraints = der::sequence(&[&der::tlv(
        0xa0,
        &der::sequence(&[&der::tlv(0x82, b"example.com")]),
    )]);
    let root = CertificateBuilder::new("Latchkey Review Constrained Root")
        .ca()
        .extension("2.5.29.30", false, &name_constraints)
        .serial(0x54)
        .self_signed(&root_key)
        .unwrap();
    let ca = CertificateBuilder::new("Latchkey Review CA Under Constrained Root")
        .ca()
        .serial(0x55)
        .issued_by(&root, &root_key)
        .sign(&ca_key(0x55))
        .unwrap();
    let leaf = leaf_naming(&ca, 0x55);
    let without = packed_trust_under(&root, &[&leaf, &ca]);
    let with = packed_trust_under(&root, &[&leaf, &ca, &root]);
    assert_eq!(
        without, with,
        "without the anchor in x5c: {without:?}, with: {with:?}"
    );
}

#[test]
fn nameconstraints_on_an_x5c_intermediate_refuse_the_chain() {
    let name_constraints = der::sequence(&[&der::tlv(
        0xa0,
        &der::sequence(&[&der::tlv(0x82, b"example.com")]),
    )]);
    for critical in [false, true] {
        let ca = CertificateBuilder::new("Latchkey Review Constrained CA")
            .ca()
            .extension("2.5.29.30", critical, &name_constraints)
            .serial(0x56)
            .issued_by(ROOT, &root_key())
            .sign(&ca_key(0x56))
            .unwrap();
        let trust = packed_trust_under(ROOT, &[&leaf_naming(&ca, 0x56), &ca]);
        assert!(
            matches!(trust, Trust::Untrusted(_)),
            "critical {critical}: {trust:?}"
        );
    }
}

#[test]
fn packed_subject_country_xx_is_refused_c78() {
    // Checklist C.78: leaf C "USA" or "XX" → ATT-INVALID under strict §8.2.1.
    for country in ["XX", "USA"] {
        let subject: Vec<(&str, u8, &str)> = PACKED_SUBJECT
            .iter()
            .map(|&(o, t, v)| {
                if o == "2.5.4.6" {
                    (o, t, country)
                } else {
                    (o, t, v)
                }
            })
            .collect();
        let leaf = packed_leaf_with(&subject)
            .issued_by(INTERMEDIATE, &intermediate_key())
            .sign(&leaf_key())
            .unwrap();
        let result = verify_with(
            anchors("packed", ROOT),
            &packed_registration(&[&leaf, INTERMEDIATE]),
        );
        assert_eq!(
            result.map(|_| ()).map_err(|e| e.code()),
            Err("attestation_invalid"),
            "C={country}"
        );
    }
}

#[test]
fn packed_subject_empty_organization_is_refused_c78() {
    let subject: Vec<(&str, u8, &str)> = PACKED_SUBJECT
        .iter()
        .map(|&(o, t, v)| {
            if o == "2.5.4.10" {
                (o, t, "")
            } else {
                (o, t, v)
            }
        })
        .collect();
    let leaf = packed_leaf_with(&subject)
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(&leaf_key())
        .unwrap();
    let err = verify_with(
        anchors("packed", ROOT),
        &packed_registration(&[&leaf, INTERMEDIATE]),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
}

// ---------------------------------------------------------------------------------------
// SafetyNet host
// ---------------------------------------------------------------------------------------

fn safetynet(signer: &[u8]) -> Result<VerifiedRegistration, Error> {
    let registration = Authenticator::new(SoftKey::es256([9; 32])).register(&client(), CHALLENGE);
    let nonce = STANDARD.encode(Sha256::digest(
        [
            registration.authenticator_data.as_slice(),
            &Sha256::digest(&registration.client_data_json),
        ]
        .concat(),
    ));
    let payload = serde_json::json!({
        "nonce": nonce,
        "timestampMs": 2_208_988_790_000_i64,
        "apkPackageName": "com.google.android.gms",
        "ctsProfileMatch": true,
        "basicIntegrity": true,
    });
    let response = jws::sign(
        &SoftKey::rs256(),
        &[signer, INTERMEDIATE],
        &serde_json::json!({}),
        &payload,
    );
    let statement = Map::new(vec![
        (Cbor::Text("ver"), Cbor::Text("14366018")),
        (Cbor::Text("response"), Cbor::Bytes(response.as_bytes())),
    ])
    .unwrap();
    let mut changed = registration.clone();
    changed.attestation_object = AttestationObject::encode(
        "android-safetynet",
        &Cbor::Map(statement),
        &registration.authenticator_data,
    );
    verify_with(anchors("android-safetynet", ROOT), &changed)
}

fn safetynet_signer(cn: &str, dns_names: &[&[u8]]) -> Vec<u8> {
    let builder = CertificateBuilder::with_subject(&[
        ("2.5.4.6", "US"),
        ("2.5.4.10", "Latchkey Test"),
        ("2.5.4.3", cn),
    ])
    .extension("2.5.29.19", false, &der::sequence(&[]));
    let builder = if dns_names.is_empty() {
        builder
    } else {
        let names: Vec<Vec<u8>> = dns_names.iter().map(|n| der::tlv(0x82, n)).collect();
        let parts: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        builder.extension("2.5.29.17", false, &der::sequence(&parts))
    };
    builder
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(&SoftKey::rs256())
        .unwrap()
}

#[test]
fn safetynet_wildcards_and_look_alikes_never_name_the_host() {
    // Exact matching only: no wildcard widens the name, no suffix or prefix trick counts,
    // and a CN beside a dNSName no longer counts (RFC 6125 §6.4.4).
    for dns in [
        b"*".as_slice(),
        b"*.com",
        b"*.android.com",
        b"attest.android.com.evil.com",
        b"evilattest.android.com",
        b"attest.android.com.",
        b"attest.android.com\0.evil.com",
    ] {
        let result = safetynet(&safetynet_signer("attest.android.com", &[dns]));
        assert_eq!(
            result.map(|_| ()).map_err(|e| e.code()),
            Err("attestation_untrusted"),
            "{}",
            String::from_utf8_lossy(dns)
        );
    }
    // The host among other dNSNames is enough; a CN alone also is.
    assert!(
        safetynet(&safetynet_signer(
            "other",
            &[b"a.example", b"attest.android.com"]
        ))
        .is_ok()
    );
    assert!(safetynet(&safetynet_signer("attest.android.com", &[])).is_ok());
    assert!(safetynet(&safetynet_signer("*.android.com", &[])).is_err());
}

// ---------------------------------------------------------------------------------------
// Metadata `no`
// ---------------------------------------------------------------------------------------

fn mds_signer_key() -> SoftKey {
    SoftKey::es256([0x61; 32])
}

fn mds_intermediate_key() -> SoftKey {
    SoftKey::es256([0x62; 32])
}

fn mds_blob_text(payload_text: &str) -> String {
    let intermediate = CertificateBuilder::new("Latchkey Test Metadata CA")
        .serial(0x62)
        .ca()
        .issued_by(ROOT, &root_key())
        .sign(&mds_intermediate_key())
        .unwrap();
    let signer = CertificateBuilder::new("Latchkey Test Metadata Signer")
        .serial(0x61)
        .issued_by(&intermediate, &mds_intermediate_key())
        .sign(&mds_signer_key())
        .unwrap();
    // Sign a placeholder, then splice the raw payload text in: jws::sign takes a Value,
    // and the edge cases here (duplicate keys, big numbers) are not Values.
    let header = URL(&serde_json::to_vec(&json!({
        "alg": "ES256",
        "typ": "JWT",
        "x5c": [STANDARD.encode(&signer), STANDARD.encode(&intermediate)],
    }))
    .unwrap());
    let body = URL(payload_text.as_bytes());
    let signing_input = format!("{header}.{body}");
    let signature = mds_signer_key().sign(signing_input.as_bytes());
    let raw = der_to_raw(&signature);
    format!("{signing_input}.{}", URL(&raw))
}

#[allow(non_snake_case)]
fn URL(bytes: &[u8]) -> String {
    b64(bytes)
}

/// An ES256 DER signature as JWS's r‖s.
fn der_to_raw(signature: &[u8]) -> Vec<u8> {
    let (_, seq, _) = der::split(signature).unwrap();
    let (_, r, rest) = der::split(seq).unwrap();
    let (_, s, _) = der::split(rest).unwrap();
    let pad = |v: &[u8]| {
        let v = v
            .strip_prefix(&[0][..])
            .filter(|t| t.len() >= 32)
            .unwrap_or(v);
        let mut out = vec![0; 32 - v.len()];
        out.extend_from_slice(v);
        out
    };
    [pad(r), pad(s)].concat()
}

fn mds_verify(payload_text: &str) -> Result<MetadataBlob, Error> {
    MetadataBlob::verify_without_revocation(&mds_blob_text(payload_text), &[ROOT], in_2040())
}

#[test]
fn metadata_no_edge_values() {
    let payload = |no: &str| format!(r#"{{"no":{no},"nextUpdate":"2040-02-01","entries":[]}}"#);
    // The signature splice works (control), and the extremes of u64 read.
    let zero = mds_verify(&payload("0")).unwrap();
    assert_eq!(zero.number(), 0);
    assert_eq!(zero.accept_after(LastAccepted::Never).unwrap(), 0);
    assert!(zero.accept_after(LastAccepted::Number(0)).is_err());
    assert_eq!(zero.accept_after(LastAccepted::Reload(0)).unwrap(), 0);
    let max = mds_verify(&payload("18446744073709551615")).unwrap();
    assert_eq!(max.number(), u64::MAX);
    assert!(max.accept_after(LastAccepted::Number(u64::MAX)).is_err());
    assert!(max.accept_after(LastAccepted::Number(u64::MAX - 1)).is_ok());
    // Not a non-negative integer: malformed, never wrapped, truncated or defaulted.
    for bad in [
        "-1",
        "\"42\"",
        "42.5",
        "1e2",
        "18446744073709551616",
        "null",
        "true",
    ] {
        let err = mds_verify(&payload(bad)).unwrap_err();
        assert_eq!(err.code(), "malformed", "no = {bad}");
    }
    // `no` twice (a rollback hidden behind a fresh number): refused, not first/last-wins.
    let twice = r#"{"no":99,"no":1,"nextUpdate":"2040-02-01","entries":[]}"#;
    assert!(mds_verify(twice).is_err());
    let escaped = r#"{"no":99,"n\u006f":1,"nextUpdate":"2040-02-01","entries":[]}"#;
    assert!(mds_verify(escaped).is_err());
}

// ---------------------------------------------------------------------------------------
// CBOR reservations
// ---------------------------------------------------------------------------------------

#[test]
fn cbor_nested_huge_heads_fail_without_panic() {
    let huge_array = [0x9b, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff];
    let huge_map = [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    for head in [&huge_array, &huge_map] {
        let mut input = Vec::new();
        for _ in 0..(64 * 1024 / head.len()) {
            input.extend_from_slice(head);
        }
        assert!(AttestationObject::parse(&input).is_err());
    }
    // Inside a well-formed attestationObject prefix.
    let mut input = vec![0xa3, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e'];
    input.extend_from_slice(&[0x67, b'a', b't', b't', b'S', b't', b'm', b't']);
    input.extend_from_slice(&huge_map);
    assert!(AttestationObject::parse(&input).is_err());
}
