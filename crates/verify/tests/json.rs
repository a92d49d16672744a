//! The browser JSON envelope (checklist C.1-C.7), through `latchkey_verify::json`: the
//! one path the facade, `latchkey vectors`, `latchkey inspect`, the benchmarks and the
//! fuzz targets all take from `PublicKeyCredential.toJSON()` to bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_verify::json::{
    AuthenticationResponse, MAX_RESPONSE_JSON_LEN, MAX_TRANSPORTS, RegistrationResponse, b64,
};
use serde_json::{Value, json};

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

fn registration_code(value: &Value) -> Result<(), &'static str> {
    RegistrationResponse::from_json(&value.to_string())
        .and_then(|r| r.decode())
        .map(|_| ())
        .map_err(|e| e.code())
}

fn authentication_code(value: &Value) -> Result<(), &'static str> {
    AuthenticationResponse::from_json(&value.to_string())
        .and_then(|r| r.decode())
        .map(|_| ())
        .map_err(|e| e.code())
}

/// Applies `edit` to a copy of both responses and returns both verdicts.
fn both(edit: impl Fn(&mut Value)) -> [Result<(), &'static str>; 2] {
    let (mut reg, mut auth) = (registration(), authentication());
    edit(&mut reg);
    edit(&mut auth);
    [registration_code(&reg), authentication_code(&auth)]
}

#[test]
fn well_formed_responses_decode_to_their_bytes() {
    let reg = registration();
    let decoded = RegistrationResponse::from_json(&reg.to_string())
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(b64(decoded.credential_id()), reg["rawId"].as_str().unwrap());
    assert_eq!(
        b64(decoded.bytes().client_data_json),
        reg["response"]["clientDataJSON"].as_str().unwrap()
    );
    let auth = authentication();
    let decoded = AuthenticationResponse::from_json(&auth.to_string())
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(decoded.user_handle(), Some([9u8; 16].as_slice()));
    assert_eq!(
        b64(decoded.bytes().signature),
        auth["response"]["signature"].as_str().unwrap()
    );
}

#[test]
fn c1_id_in_standard_or_padded_base64_is_malformed() {
    for id in ["AAAA==", "+/+/", "AA AA"] {
        let verdicts = both(|r| {
            r["id"] = json!(id);
            r["rawId"] = json!(id);
        });
        assert_eq!(verdicts, [Err("malformed"); 2], "{id}");
    }
    assert_eq!(both(|r| r["id"] = json!(7)), [Err("malformed"); 2]);
    assert_eq!(
        both(|r| {
            r.as_object_mut().unwrap().remove("id");
        }),
        [Err("malformed"); 2]
    );
}

#[test]
fn c2_type_other_than_public_key_is_malformed() {
    for kind in [
        json!("avocado-toast"),
        json!("password"),
        json!(1),
        json!(null),
    ] {
        assert_eq!(
            both(|r| r["type"] = kind.clone()),
            [Err("malformed"); 2],
            "{kind}"
        );
    }
}

#[test]
fn c3_id_and_raw_id_must_agree_and_both_be_present() {
    assert_eq!(both(|r| r["id"] = json!("AAAA")), [Err("malformed"); 2]);
    assert_eq!(
        both(|r| {
            r.as_object_mut().unwrap().remove("rawId");
        }),
        [Err("malformed"); 2]
    );
}

#[test]
fn c4_non_canonical_trailing_bits_are_malformed() {
    // "AB" decodes to 0x00 with non-zero padding bits; "AA" is canonical.
    assert_eq!(
        both(|r| {
            r["id"] = json!("AB");
            r["rawId"] = json!("AB");
        }),
        [Err("malformed"); 2]
    );
    assert_eq!(
        both(|r| {
            let text = r["response"]["clientDataJSON"].as_str().unwrap().to_owned();
            r["response"]["clientDataJSON"] = json!(format!("{text}="));
        }),
        [Err("malformed"); 2]
    );
}

#[test]
fn c5_a_number_where_base64url_is_expected_is_malformed() {
    assert_eq!(
        both(|r| r["response"]["clientDataJSON"] = json!(123)),
        [Err("malformed"); 2]
    );
    let mut auth = authentication();
    auth["response"]["signature"] = json!(true);
    assert_eq!(authentication_code(&auth), Err("malformed"));
}

#[test]
fn c7_user_handle_not_a_string_or_over_64_bytes_is_malformed() {
    for handle in [json!(5), json!(b64(&[1; 65])), json!("AB")] {
        let mut auth = authentication();
        auth["response"]["userHandle"] = handle.clone();
        assert_eq!(authentication_code(&auth), Err("malformed"), "{handle}");
    }
    let mut auth = authentication();
    auth["response"]["userHandle"] = json!(b64(&[1; 64]));
    assert_eq!(authentication_code(&auth), Ok(()));
    auth["response"]["userHandle"] = json!(null);
    assert_eq!(authentication_code(&auth), Ok(()));
}

#[test]
fn caps_on_the_json_and_its_members_are_limit_exceeded() {
    // C.25: a credential id of more than 1023 bytes.
    let long = b64(&[1; 1024]);
    assert_eq!(
        both(|r| {
            r["id"] = json!(long);
            r["rawId"] = json!(long);
        }),
        [Err("limit_exceeded"); 2]
    );
    // C.72: clientDataJSON over 8 KiB.
    assert_eq!(
        both(|r| r["response"]["clientDataJSON"] = json!(b64(&[b' '; 8 * 1024 + 1]))),
        [Err("limit_exceeded"); 2]
    );
    // The whole JSON.
    assert_eq!(
        both(|r| r["clientExtensionResults"] = json!({ "pad": "x".repeat(MAX_RESPONSE_JSON_LEN) })),
        [Err("limit_exceeded"); 2]
    );
    let mut auth = authentication();
    auth["response"]["signature"] = json!(b64(&[1; 8 * 1024 + 1]));
    assert_eq!(authentication_code(&auth), Err("limit_exceeded"));
}

#[test]
fn empty_binary_members_are_malformed() {
    assert_eq!(
        both(|r| {
            r["id"] = json!("");
            r["rawId"] = json!("");
        }),
        [Err("malformed"); 2]
    );
    assert_eq!(
        both(|r| r["response"]["clientDataJSON"] = json!("")),
        [Err("malformed"); 2]
    );
}

#[test]
fn transports_are_capped_checked_and_stored_once() {
    let decode = |transports: Value| {
        let mut reg = registration();
        reg["response"]["transports"] = transports;
        RegistrationResponse::from_json(&reg.to_string())
            .and_then(|r| r.decode())
            .map(|d| d.transports().to_vec())
            .map_err(|e| e.code())
    };
    assert_eq!(
        decode(json!(["usb", "hybrid", "usb", "future-transport"])),
        Ok(vec![
            "usb".to_owned(),
            "hybrid".into(),
            "future-transport".into()
        ])
    );
    assert_eq!(
        decode(json!(vec!["usb"; MAX_TRANSPORTS + 1])),
        Err("limit_exceeded")
    );
    assert_eq!(decode(json!(["USB"])), Err("malformed"));
    assert_eq!(decode(json!(["x".repeat(33)])), Err("malformed"));
    // The FIDO conformance tool sends null: informational, read as none.
    assert_eq!(decode(json!(null)), Ok(vec![]));
}
