//! Hex tables: each accepted encoding decodes to its value and re-encodes to the same bytes;
//! each refused one gets its specific error. Numbers in `C.n` refer to the hostile-input
//! catalog of the security checklist.

use super::{Map, Value, decode, decode_prefix};
use crate::error::{CborError, Context, Error, LimitExceeded};
use crate::options::{Limits, ParseOptions};
use crate::test_hex as hex;

fn strict(bytes: &[u8]) -> crate::Result<Value<'_>> {
    decode(bytes, &ParseOptions::STRICT)
}

fn relaxed(bytes: &[u8]) -> crate::Result<Value<'_>> {
    decode(bytes, &ParseOptions::RELAXED)
}

fn cbor_error(result: crate::Result<Value<'_>>) -> CborError {
    match result {
        Err(Error::Cbor { kind, .. }) => kind,
        other => panic!("expected a CBOR error, got {other:?}"),
    }
}

fn limit_error(result: crate::Result<Value<'_>>) -> LimitExceeded {
    match result {
        Err(Error::Limit { limit, .. }) => limit,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

fn map<'a>(entries: Vec<(Value<'a>, Value<'a>)>) -> Value<'a> {
    Value::Map(Map::new(entries).unwrap())
}

#[test]
fn canonical_items_round_trip() {
    let cases: Vec<(&str, Value<'_>)> = vec![
        ("00", Value::Integer(0)),
        ("17", Value::Integer(23)),
        ("18 18", Value::Integer(24)),
        ("19 0100", Value::Integer(256)),
        ("1a 00010000", Value::Integer(65536)),
        ("1b 0000000100000000", Value::Integer(1 << 32)),
        ("1b ffffffffffffffff", Value::Integer(u64::MAX.into())),
        ("20", Value::Integer(-1)),
        ("26", Value::Integer(-7)),          // ES256
        ("39 0100", Value::Integer(-257)),   // RS256
        ("39 fffe", Value::Integer(-65535)), // RS1
        ("3b ffffffffffffffff", Value::Integer(-(1 << 64))),
        ("40", Value::Bytes(b"")),
        ("43 010203", Value::Bytes(&[1, 2, 3])),
        ("63 666d74", Value::Text("fmt")),
        ("80", Value::Array(vec![])),
        (
            "82 01 20",
            Value::Array(vec![Value::Integer(1), Value::Integer(-1)]),
        ),
        ("a0", map(vec![])),
        (
            concat!(
                "a3",    // map(3), keys in canonical order:
                "01 02", // 1 => 2
                "03 26", // 3 => -7
                "20 01", // -1 => 1
            ),
            map(vec![
                (Value::Integer(1), Value::Integer(2)),
                (Value::Integer(3), Value::Integer(-7)),
                (Value::Integer(-1), Value::Integer(1)),
            ]),
        ),
        (
            concat!(
                "a2",             // map(2): shorter key first
                "63 666d74 f5",   // "fmt" => true
                "64 61757468 f6", // "auth" => null
            ),
            map(vec![
                (Value::Text("fmt"), Value::Bool(true)),
                (Value::Text("auth"), Value::Null),
            ]),
        ),
        ("f4", Value::Bool(false)),
    ];
    for (text, expected) in cases {
        let bytes = hex::decode(text);
        let value = strict(&bytes).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(value, expected, "{text}");
        assert_eq!(value.to_vec(), bytes, "{text} re-encodes");
    }
}

#[test]
fn encoder_sorts_map_keys_canonically() {
    // Given in the wrong order, written in CTAP2 order: -1 (0x20) after 3 (0x03).
    let value = map(vec![
        (Value::Integer(-1), Value::Integer(1)),
        (Value::Text("a"), Value::Null),
        (Value::Integer(3), Value::Integer(-7)),
    ]);
    assert_eq!(value.to_vec(), hex::decode("a3 03 26 20 01 61 61 f6"));
}

#[test]
fn map_new_rejects_duplicates() {
    let entries = vec![
        (Value::Integer(1), Value::Null),
        (Value::Integer(1), Value::Bool(true)),
    ];
    assert!(Map::new(entries).is_err());
}

#[test]
fn refuses_malformed_items_in_every_mode() {
    let cases: &[(&str, CborError)] = &[
        // C.8: empty input and a truncated attestation object.
        ("", CborError::Truncated),
        ("a3 63 666d74", CborError::Truncated),
        // C.9: one extra byte after a complete item.
        ("a0 00", CborError::TrailingBytes(1)),
        // C.11: "fmt" twice.
        (
            "a2 63666d74 646e6f6e65 63666d74 667061636b6564",
            CborError::DuplicateMapKey,
        ),
        // C.18: declared lengths far beyond the input; nothing is allocated for them.
        ("5b 7fffffffffffffff 000000", CborError::Truncated),
        ("9a ffffffff", CborError::Truncated),
        ("bb ffffffffffffffff", CborError::Truncated),
        // C.14: indefinite-length byte string.
        ("5f 41 00 ff", CborError::IndefiniteString),
        ("7f 61 61 ff", CborError::IndefiniteString),
        // C.19: tags.
        ("d8 18 41 00", CborError::TagNotAllowed(24)),
        ("c2 41 01", CborError::TagNotAllowed(2)),
        ("d8 1c 00", CborError::TagNotAllowed(28)),
        // C.20: floats and simple values where an int is expected.
        ("f9 c700", CborError::FloatNotAllowed),
        ("f9 7e00", CborError::FloatNotAllowed),
        ("fa 00000000", CborError::FloatNotAllowed),
        ("fb 0000000000000000", CborError::FloatNotAllowed),
        ("f7", CborError::SimpleValueNotAllowed(23)),
        ("f8 20", CborError::SimpleValueNotAllowed(32)),
        ("e0", CborError::SimpleValueNotAllowed(0)),
        // C.22: invalid UTF-8 in a text string.
        ("64 706163ff", CborError::InvalidUtf8),
        // Reserved additional information and misplaced breaks.
        ("1c", CborError::ReservedAdditionalInfo(28)),
        ("5d", CborError::ReservedAdditionalInfo(29)),
        ("1f", CborError::ReservedAdditionalInfo(31)),
        ("ff", CborError::UnexpectedBreak),
        ("82 01 ff", CborError::UnexpectedBreak),
        // Truncated heads.
        ("19 01", CborError::Truncated),
    ];
    for (text, expected) in cases {
        let bytes = hex::decode(text);
        assert_eq!(cbor_error(strict(&bytes)), *expected, "strict {text:?}");
        assert_eq!(cbor_error(relaxed(&bytes)), *expected, "relaxed {text:?}");
    }
    // An indefinite-length array without its break.
    assert_eq!(
        cbor_error(relaxed(&hex::decode("9f 01"))),
        CborError::Truncated
    );
}

#[test]
fn refuses_non_canonical_items_in_strict_mode_only() {
    let cases: &[(&str, CborError)] = &[
        // C.15: non-shortest integers and lengths.
        ("38 06", CborError::NonMinimalEncoding), // -7 as 38 06
        ("18 02", CborError::NonMinimalEncoding), // 2 as 18 02
        ("19 0017", CborError::NonMinimalEncoding), // 23 in two bytes
        ("78 03 666d74", CborError::NonMinimalEncoding),
        ("1b 00000000ffffffff", CborError::NonMinimalEncoding),
        // C.14: indefinite-length containers.
        ("bf 01 02 ff", CborError::IndefiniteLength),
        ("9f 01 ff", CborError::IndefiniteLength),
        // C.16: keys out of canonical order (COSE -1 before 3; "authData" before "fmt").
        ("a2 20 01 03 26", CborError::UnsortedMapKeys),
        (
            "a2 68 6175746844617461 40 63 666d74 60",
            CborError::UnsortedMapKeys,
        ),
    ];
    for (text, expected) in cases {
        let bytes = hex::decode(text);
        assert_eq!(cbor_error(strict(&bytes)), *expected, "strict {text:?}");
        let value = relaxed(&bytes).unwrap_or_else(|e| panic!("relaxed {text}: {e}"));
        // The relaxed reading re-encodes canonically, and that encoding is strict-valid.
        assert_eq!(strict(&value.to_vec()).unwrap(), value, "{text}");
    }
}

#[test]
fn duplicate_keys_are_compared_by_decoded_value() {
    // C.12: "authData" once with a shortest length and once with 78 08. Strict mode stops
    // at the non-shortest length; relaxed mode still sees the duplicate.
    let bytes = hex::decode(concat!(
        "a2",
        "68 6175746844617461 41 01",    // "authData" => h'01'
        "78 08 6175746844617461 41 02", // "authData" (non-shortest length) => h'02'
    ));
    assert_eq!(cbor_error(strict(&bytes)), CborError::NonMinimalEncoding);
    assert_eq!(cbor_error(relaxed(&bytes)), CborError::DuplicateMapKey);

    // Same key in canonical form twice: a duplicate, not an ordering problem.
    assert_eq!(
        cbor_error(strict(&hex::decode("a2 01 02 01 03"))),
        CborError::DuplicateMapKey
    );
    // Out of order and duplicated: relaxed mode still refuses.
    let unsorted_duplicate = hex::decode("a3 03 26 01 02 03 27");
    assert_eq!(
        cbor_error(relaxed(&unsorted_duplicate)),
        CborError::DuplicateMapKey
    );
    // 1 and -2 (0x21) differ; 1 and 1 encoded as 18 01 do not.
    assert_eq!(
        cbor_error(relaxed(&hex::decode("a2 01 00 18 01 00"))),
        CborError::DuplicateMapKey
    );
}

#[test]
fn cross_type_keys_are_distinct_not_collapsed() {
    // C.13: {1: 2, true: 3} stays two entries (Python's cbor2 once collapsed them);
    // the COSE layer then refuses the non-integer label.
    let bytes = hex::decode("a2 01 02 f5 03");
    let value = strict(&bytes).unwrap();
    assert_eq!(value.as_map().unwrap().len(), 2);
}

#[test]
fn depth_bombs_hit_the_limit_without_recursing() {
    // C.17: 100 000 nested one-element arrays, and nested tags.
    let mut bomb = vec![0x81; 100_000];
    bomb.push(0x00);
    let options = ParseOptions {
        limits: Limits {
            max_input_len: 1 << 20,
            ..Limits::DEFAULT
        },
        ..ParseOptions::STRICT
    };
    assert_eq!(
        limit_error(decode(&bomb, &options)),
        LimitExceeded::NestingTooDeep { max: 5 }
    );
    let tags: Vec<u8> = [0xd9, 0xd9, 0xf7].repeat(100_000);
    assert_eq!(
        cbor_error(decode(&tags, &options)),
        CborError::TagNotAllowed(0xd9f7)
    );
}

#[test]
fn depth_limit_counts_containers() {
    // Five levels are allowed: [[[[[0]]]]]; six are not.
    assert!(strict(&hex::decode("81 81 81 81 81 00")).is_ok());
    assert_eq!(
        limit_error(strict(&hex::decode("81 81 81 81 81 81 00"))),
        LimitExceeded::NestingTooDeep { max: 5 }
    );
}

#[test]
fn item_and_size_limits() {
    let options = ParseOptions {
        limits: Limits {
            max_items: 3,
            ..Limits::DEFAULT
        },
        ..ParseOptions::STRICT
    };
    assert!(decode(&hex::decode("82 01 02"), &options).is_ok());
    assert_eq!(
        limit_error(decode(&hex::decode("83 01 02 03"), &options)),
        LimitExceeded::TooManyItems { max: 3 }
    );

    let big = vec![0u8; Limits::DEFAULT.max_input_len + 1];
    assert_eq!(
        limit_error(strict(&big)),
        LimitExceeded::InputTooLarge {
            len: big.len(),
            max: Limits::DEFAULT.max_input_len
        }
    );
}

#[test]
fn errors_carry_context_and_offset() {
    let err = strict(&hex::decode("82 01 f9 0000")).unwrap_err();
    assert_eq!(
        err,
        Error::Cbor {
            context: Context::Document,
            offset: 2,
            kind: CborError::FloatNotAllowed
        }
    );
    assert_eq!(err.code(), "malformed");
    assert_eq!(
        err.to_string(),
        "malformed CBOR in CBOR document at byte 2: floating-point value"
    );
}

#[test]
fn decode_prefix_reports_bytes_consumed() {
    // C.15: the consumed length is what was read, never the length of a re-encoding.
    let bytes = hex::decode("a1 01 38 06 ffff");
    let (value, used) = decode_prefix(&bytes, &ParseOptions::RELAXED).unwrap();
    assert_eq!(used, 4);
    assert_eq!(value.to_vec().len(), 3);
}
