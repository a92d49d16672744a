//! Attestation objects: shape rules of WebAuthn §6.5.4 and checklist C.3 / C.10.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{bytes_head, hex_len, registration_auth_data_hex};
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{
    AttestationObject, AttestationObjectError, AuthenticatorData, AuthenticatorDataError,
    CborError, Error, ParseOptions,
};
use latchkey_testkit::hex;

fn shape_error(bytes: &[u8]) -> AttestationObjectError {
    match AttestationObject::parse(bytes) {
        Err(Error::AttestationObject(e)) => e,
        other => panic!("expected an attestation object error, got {other:?}"),
    }
}

/// `{"fmt": <fmt>, "attStmt": <att_stmt>, "authData": <auth_data>}` in canonical order.
fn att_obj_hex(fmt: &str, att_stmt: &str, auth_data: &str) -> String {
    [
        "a3", // map(3)
        "63 666d74",
        fmt, // "fmt" => fmt
        "67 61747453746d74",
        att_stmt,                        // "attStmt" => att_stmt
        "68 6175746844617461",           // "authData" =>
        &bytes_head(hex_len(auth_data)), //   bytes(len)
        auth_data,
    ]
    .join(" ")
}

const NONE: &str = "64 6e6f6e65"; // "none"
const EMPTY_MAP: &str = "a0";

#[test]
fn none_fixture_parses_and_rebuilds() {
    let bytes = hex::decode(&att_obj_hex(NONE, EMPTY_MAP, &registration_auth_data_hex()));
    let att = AttestationObject::parse(&bytes).unwrap();
    assert_eq!(att.fmt(), "none");
    assert_eq!(att.att_stmt(), &Value::Map(Map::default()));
    assert_eq!(att.credential().credential_id().len(), 16);

    let auth_data = hex::decode(&registration_auth_data_hex());
    assert_eq!(
        AttestationObject::encode("none", att.att_stmt(), &auth_data),
        bytes
    );
}

#[test]
fn packed_statement_is_kept_as_a_value() {
    let att_stmt = [
        "a2",                  // map(2)
        "63 616c67 26",        // "alg" => -7
        "63 736967 43 010203", // "sig" => h'010203'
    ]
    .join(" ");
    let packed = "66 7061636b6564"; // "packed"
    let bytes = hex::decode(&att_obj_hex(
        packed,
        &att_stmt,
        &registration_auth_data_hex(),
    ));
    let att = AttestationObject::parse(&bytes).unwrap();
    let stmt = att.att_stmt().as_map().unwrap();
    assert_eq!(stmt.text_key("alg"), Some(&Value::Integer(-7)));
    assert_eq!(stmt.text_key("sig"), Some(&Value::Bytes(&[1, 2, 3])));
}

#[test]
fn members_missing_or_mistyped() {
    // C.24.
    let auth_data = registration_auth_data_hex();
    let head = bytes_head(hex_len(&auth_data));
    let without_fmt = format!("a2 67 61747453746d74 a0 68 6175746844617461 {head} {auth_data}");
    assert_eq!(
        shape_error(&hex::decode(&without_fmt)),
        AttestationObjectError::MissingMember("fmt")
    );
    assert_eq!(
        shape_error(&hex::decode(&att_obj_hex("01", EMPTY_MAP, &auth_data))),
        AttestationObjectError::WrongType {
            member: "fmt",
            expected: "a text string"
        }
    );
    assert_eq!(
        shape_error(&hex::decode(&att_obj_hex(NONE, "80", &auth_data))),
        AttestationObjectError::WrongType {
            member: "attStmt",
            expected: "a map"
        }
    );
    let text_auth_data =
        format!("a3 63 666d74 {NONE} 67 61747453746d74 a0 68 6175746844617461 61 41");
    assert_eq!(
        shape_error(&hex::decode(&text_auth_data)),
        AttestationObjectError::WrongType {
            member: "authData",
            expected: "a byte string"
        }
    );
    let empty_auth_data =
        format!("a3 63 666d74 {NONE} 67 61747453746d74 a0 68 6175746844617461 40");
    assert_eq!(
        AttestationObject::parse(&hex::decode(&empty_auth_data)),
        Err(Error::AuthenticatorData(AuthenticatorDataError::TooShort {
            len: 0
        }))
    );
    let only_two = format!("a2 63 666d74 {NONE} 67 61747453746d74 a0");
    assert_eq!(
        shape_error(&hex::decode(&only_two)),
        AttestationObjectError::MissingMember("authData")
    );
}

#[test]
fn fmt_must_be_short_printable_ascii() {
    // C.25: 33 characters, empty, and a space. Unknown or differently cased names parse
    // here; verification refuses them as unsupported formats.
    let auth_data = registration_auth_data_hex();
    for fmt in [
        format!("78 21 {}", "61".repeat(33)),
        "60".into(),
        "65 6e6f206e65".into(),
    ] {
        assert_eq!(
            shape_error(&hex::decode(&att_obj_hex(&fmt, EMPTY_MAP, &auth_data))),
            AttestationObjectError::InvalidFmt,
            "{fmt}"
        );
    }
    let banana = "6d 42616e616e6150616e63616b65"; // "BananaPancake"
    let att_obj = hex::decode(&att_obj_hex(banana, EMPTY_MAP, &auth_data));
    assert_eq!(
        AttestationObject::parse(&att_obj).unwrap().fmt(),
        "BananaPancake"
    );
}

#[test]
fn compound_statements_are_arrays() {
    let auth_data = registration_auth_data_hex();
    let compound = "68 636f6d706f756e64"; // "compound"
    let statement = "a2 63 666d74 64 6e6f6e65 67 61747453746d74 a0"; // {fmt: "none", attStmt: {}}
    let array = format!("82 {statement} {statement}");
    let bytes = hex::decode(&att_obj_hex(compound, &array, &auth_data));
    assert_eq!(
        AttestationObject::parse(&bytes)
            .unwrap()
            .att_stmt()
            .as_array()
            .map(<[Value<'_>]>::len),
        Some(2)
    );
    assert_eq!(
        shape_error(&hex::decode(&att_obj_hex(compound, EMPTY_MAP, &auth_data))),
        AttestationObjectError::WrongType {
            member: "attStmt",
            expected: "an array"
        }
    );
}

#[test]
fn registration_needs_attested_credential_data() {
    // authData with AT clear: a well-formed assertion-style authData is not a registration.
    let auth_data = AuthenticatorData::builder([0; 32]).build();
    let bytes = AttestationObject::encode("none", &Value::Map(Map::default()), &auth_data);
    assert_eq!(
        shape_error(&bytes),
        AttestationObjectError::MissingAttestedCredentialData
    );
}

#[test]
fn not_a_map_or_extra_members() {
    // C.10: a top-level array, and random ASCII in front of a valid object.
    assert_eq!(
        shape_error(&hex::decode("83 01 02 03")),
        AttestationObjectError::NotAMap
    );
    let valid = att_obj_hex(NONE, EMPTY_MAP, &registration_auth_data_hex());
    let prefixed = hex::decode(&format!("41424344 {valid}")); // "ABCD"
    assert!(matches!(
        AttestationObject::parse(&prefixed),
        Err(Error::Cbor { .. })
    ));
    // A fourth member.
    let extra = format!(
        "{} 6a 657874656e73696f6e73 a0",
        valid.replacen("a3", "a4", 1)
    );
    assert_eq!(
        shape_error(&hex::decode(&extra)),
        AttestationObjectError::UnexpectedMember
    );
}

#[test]
fn duplicate_and_reordered_members() {
    // C.11: fmt twice.
    let dup = hex::decode("a4 63666d74 646e6f6e65 63666d74 667061636b6564 00 00");
    assert!(matches!(
        AttestationObject::parse(&dup),
        Err(Error::Cbor {
            kind: CborError::DuplicateMapKey,
            ..
        })
    ));
    // C.16: authData, fmt, attStmt order, as Firefox once sent: strict refuses, relaxed reads.
    let auth_data = registration_auth_data_hex();
    let head = bytes_head(hex_len(&auth_data));
    let reordered = hex::decode(&format!(
        "a3 68 6175746844617461 {head} {auth_data} 63 666d74 {NONE} 67 61747453746d74 a0"
    ));
    assert!(matches!(
        AttestationObject::parse(&reordered),
        Err(Error::Cbor {
            kind: CborError::UnsortedMapKeys,
            ..
        })
    ));
    let relaxed = AttestationObject::parse_with(&reordered, &ParseOptions::RELAXED).unwrap();
    assert_eq!(relaxed.fmt(), "none");
}

#[test]
fn trailing_byte_after_the_object() {
    // C.9.
    let bytes = hex::decode(&format!(
        "{} 00",
        att_obj_hex(NONE, EMPTY_MAP, &registration_auth_data_hex())
    ));
    assert!(matches!(
        AttestationObject::parse(&bytes),
        Err(Error::Cbor {
            kind: CborError::TrailingBytes(1),
            ..
        })
    ));
}
