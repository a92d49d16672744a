//! Authenticator data: fixtures field by field, and the hostile inputs of checklist C.5.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{RP_ID_HASH, es256_key, registration_auth_data_hex};
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{
    Aaguid, AuthenticatorData, AuthenticatorDataError, CborError, Context, Error, Flags,
    MAX_CREDENTIAL_ID_LEN,
};
use latchkey_testkit::hex;

fn layout_error(bytes: &[u8]) -> AuthenticatorDataError {
    match AuthenticatorData::parse(bytes) {
        Err(Error::AuthenticatorData(e)) => e,
        other => panic!("expected an authenticator data error, got {other:?}"),
    }
}

fn assertion_hex() -> String {
    [
        RP_ID_HASH, // rpIdHash
        "05",       // flags: UP | UV
        "0000002a", // signCount: 42
    ]
    .join(" ")
}

#[test]
fn assertion_fixture_parses() {
    let bytes = hex::decode(&assertion_hex());
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert_eq!(data.rp_id_hash().as_slice(), hex::decode(RP_ID_HASH));
    assert_eq!(data.flags(), Flags::USER_PRESENT | Flags::USER_VERIFIED);
    assert_eq!(data.sign_count(), 42);
    assert!(data.attested_credential_data().is_none() && data.extensions().is_none());
    assert_eq!(data.as_bytes(), bytes);
}

#[test]
fn registration_fixture_parses_and_rebuilds() {
    let bytes = hex::decode(&registration_auth_data_hex());
    let data = AuthenticatorData::parse(&bytes).unwrap();
    let attested = data.attested_credential_data().unwrap();
    assert_eq!(attested.aaguid(), Aaguid::ZERO);
    assert_eq!(
        attested.credential_id(),
        hex::decode("000102030405060708090a0b0c0d0e0f")
    );
    assert_eq!(attested.public_key(), &es256_key());

    let key = es256_key();
    let rp_id_hash: [u8; 32] = hex::decode(RP_ID_HASH).try_into().unwrap();
    let rebuilt = AuthenticatorData::builder(rp_id_hash)
        .flags(Flags::USER_PRESENT)
        .attested_credential_data(Aaguid::ZERO, attested.credential_id(), &key)
        .build();
    assert_eq!(rebuilt, bytes);
}

#[test]
fn extensions_parse_and_rebuild() {
    let extensions = Map::new(vec![(Value::Text("credProtect"), Value::Integer(2))]).unwrap();
    let bytes = AuthenticatorData::builder([7; 32])
        .flags(Flags::USER_PRESENT)
        .extensions(&extensions)
        .build();
    assert_eq!(bytes.get(32), Some(&0x81), "ED set by the builder");
    let data = AuthenticatorData::parse(&bytes).unwrap();
    let parsed = data.extensions().unwrap();
    assert_eq!(parsed.get("credProtect"), Some(&Value::Integer(2)));
    assert_eq!(parsed.as_map(), &extensions);
    assert_eq!(
        parsed.as_bytes(),
        hex::decode("a1 6b 6372656450726f74656374 02")
    );
}

#[test]
fn shorter_than_37_bytes() {
    // C.45.
    let bytes = hex::decode(&assertion_hex());
    assert_eq!(
        layout_error(&bytes[..36]),
        AuthenticatorDataError::TooShort { len: 36 }
    );
    assert_eq!(
        layout_error(&[]),
        AuthenticatorDataError::TooShort { len: 0 }
    );
}

#[test]
fn at_set_without_attested_data() {
    // C.46: AT = 1 and only 37 bytes.
    let bytes = hex::decode(&assertion_hex().replace(" 05 ", " 45 "));
    assert_eq!(
        layout_error(&bytes),
        AuthenticatorDataError::AttestedDataTruncated { offset: 37 }
    );
}

#[test]
fn attested_data_without_at() {
    // C.47: AT = 0 but attested credential data present.
    let bytes = hex::decode(&registration_auth_data_hex().replacen(" 41 ", " 01 ", 1));
    assert!(matches!(
        layout_error(&bytes),
        AuthenticatorDataError::TrailingBytes { offset: 37, .. }
    ));
}

#[test]
fn bytes_after_the_key() {
    // C.49: 32 bytes after the COSE key with ED = 0.
    let text = format!("{} {}", registration_auth_data_hex(), "ab".repeat(32));
    let bytes = hex::decode(&text);
    let offset = bytes.len() - 32;
    assert_eq!(
        layout_error(&bytes),
        AuthenticatorDataError::TrailingBytes { offset, count: 32 }
    );
    // C.50: an assertion of 37 bytes plus ab cd.
    let bytes = hex::decode(&format!("{} abcd", assertion_hex()));
    assert_eq!(
        layout_error(&bytes),
        AuthenticatorDataError::TrailingBytes {
            offset: 37,
            count: 2
        }
    );
}

#[test]
fn extension_flag_and_data_disagree() {
    // C.51: ED = 1 with nothing after; ED = 0 with a map appended.
    let ed_only = hex::decode(&assertion_hex().replace(" 05 ", " 85 "));
    assert_eq!(
        layout_error(&ed_only),
        AuthenticatorDataError::ExtensionsMissing
    );
    let appended = hex::decode(&format!("{} a0", assertion_hex()));
    assert_eq!(
        layout_error(&appended),
        AuthenticatorDataError::TrailingBytes {
            offset: 37,
            count: 1
        }
    );
}

#[test]
fn extensions_must_be_one_text_keyed_map() {
    // C.23: not a map, integer keys, bytes after the map.
    let with = |ext: &str| {
        hex::decode(&format!(
            "{} {ext}",
            assertion_hex().replace(" 05 ", " 85 ")
        ))
    };
    assert_eq!(
        layout_error(&with("01")),
        AuthenticatorDataError::ExtensionsNotTextMap
    );
    assert_eq!(
        layout_error(&with("a1 01 02")),
        AuthenticatorDataError::ExtensionsNotTextMap
    );
    assert!(matches!(
        AuthenticatorData::parse(&with("a0 00")),
        Err(Error::Cbor {
            context: Context::Extensions,
            kind: CborError::TrailingBytes(1),
            ..
        })
    ));
}

#[test]
fn credential_id_length_bounds() {
    let with_length = |len: &str, id: &str| {
        let text = registration_auth_data_hex().replace(
            "0010 000102030405060708090a0b0c0d0e0f",
            &format!("{len} {id}"),
        );
        hex::decode(&text)
    };
    // C.52: zero length.
    assert_eq!(
        layout_error(&with_length("0000", "")),
        AuthenticatorDataError::CredentialIdEmpty
    );
    // C.53: 1024 bytes, present.
    assert_eq!(
        layout_error(&with_length("0400", &"aa".repeat(1024))),
        AuthenticatorDataError::CredentialIdTooLong { len: 1024 }
    );
    // C.54: 0xffff declared, or the 1023 maximum declared, with 40 bytes present.
    let short_tail = format!(
        "{} {}",
        RP_ID_HASH,
        ["41", "00000000", &"00".repeat(16)].join(" ")
    );
    let declared = |len: &str| hex::decode(&format!("{short_tail} {len} {}", "bb".repeat(40)));
    assert_eq!(
        layout_error(&declared("ffff")),
        AuthenticatorDataError::CredentialIdTooLong { len: 0xffff }
    );
    assert_eq!(
        layout_error(&declared("03ff")),
        AuthenticatorDataError::CredentialIdTruncated {
            len: 1023,
            available: 40
        }
    );
    // 1023 bytes is the largest id accepted.
    let max = with_length("03ff", &"cc".repeat(MAX_CREDENTIAL_ID_LEN));
    let data = AuthenticatorData::parse(&max).unwrap();
    assert_eq!(
        data.attested_credential_data()
            .unwrap()
            .credential_id()
            .len(),
        1023
    );
}

#[test]
fn reserved_flag_bits_are_kept_but_not_interpreted() {
    // C.56: RFU bits 0x02 and 0x20.
    let bytes = hex::decode(&assertion_hex().replace(" 05 ", " 27 "));
    let data = AuthenticatorData::parse(&bytes).unwrap();
    assert_eq!(data.flags().bits(), 0x27);
    assert!(data.flags().user_present() && data.flags().user_verified());
}

#[test]
fn a_bad_key_inside_auth_data_is_reported_as_a_key_error() {
    // The COSE key with alg -260 (unsupported): fail closed.
    let bytes = hex::decode(&registration_auth_data_hex().replace("03 26", "03 39 0103"));
    assert_eq!(
        AuthenticatorData::parse(&bytes),
        Err(Error::UnsupportedAlgorithm(-260))
    );
}
