//! COSE_Key fixtures, field by field, and the hostile keys of checklist C.4.

use super::*;
use crate::error::CborError;
use crate::test_hex as hex;

/// The P-256 base point: a valid public key that anyone can recompute.
const P256_X: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const P256_Y: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
/// The Ed25519 base point encoding.
const ED25519_X: &str = "5866666666666666666666666666666666666666666666666666666666666666";

fn es256_hex() -> String {
    [
        "a5",    // map(5)
        "01 02", // kty: EC2
        "03 26", // alg: ES256 (-7)
        "20 01", // crv (-1): P-256
        "21 58 20", P256_X, // x (-2): 32 bytes
        "22 58 20", P256_Y, // y (-3): 32 bytes
    ]
    .join(" ")
}

/// A 2048-bit modulus (top bit set, odd) with e = 65537.
fn rsa_hex(alg: &str, modulus: &str, exponent: &str) -> String {
    [
        "a4",    // map(4)
        "01 03", // kty: RSA
        "03", alg, // alg
        "20", modulus, // n (-1)
        "21", exponent, // e (-2)
    ]
    .join(" ")
}

fn modulus_2048() -> String {
    format!("59 0100 c0{}01", "00".repeat(254))
}

fn parse_hex(text: &str) -> Result<CredentialPublicKey> {
    CredentialPublicKey::from_cose(&hex::decode(text))
}

fn cose_error(text: &str) -> CoseKeyError {
    match parse_hex(text) {
        Err(Error::CoseKey(e)) => e,
        other => panic!("expected a COSE key error for {text}, got {other:?}"),
    }
}

#[test]
fn es256_key_parses_and_round_trips() {
    let bytes = hex::decode(&es256_hex());
    let key = CredentialPublicKey::from_cose(&bytes).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es256);
    assert_eq!(key.key_type(), KeyType::Ec2);
    let KeyParams::Ec2 { curve, x, y } = key.params() else {
        panic!("not EC2")
    };
    assert_eq!(
        (*curve, x.clone(), y.clone()),
        (Curve::P256, hex::decode(P256_X), hex::decode(P256_Y))
    );
    assert_eq!(key.as_cose_bytes(), bytes);
    let built = CredentialPublicKey::new(Algorithm::Es256, key.params().clone()).unwrap();
    assert_eq!(built.as_cose_bytes(), bytes);
}

#[test]
fn ed25519_key_parses() {
    let text = [
        "a4",    // map(4)
        "01 01", // kty: OKP
        "03 27", // alg: EdDSA (-8)
        "20 06", // crv: Ed25519
        "21 58 20", ED25519_X, // x: 32 bytes
    ]
    .join(" ");
    let key = parse_hex(&text).unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDsa);
    assert!(matches!(
        key.params(),
        KeyParams::Okp {
            curve: Curve::Ed25519,
            ..
        }
    ));
}

#[test]
fn rsa_key_parses() {
    let key = parse_hex(&rsa_hex("39 0100", &modulus_2048(), "43 010001")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Rs256);
    let KeyParams::Rsa { n, e } = key.params() else {
        panic!("not RSA")
    };
    assert_eq!((n.len(), e.as_slice()), (256, &[1, 0, 1][..]));
    // RS1 parses too; whether it is accepted is verification policy.
    assert_eq!(
        parse_hex(&rsa_hex("39 fffe", &modulus_2048(), "41 03"))
            .unwrap()
            .algorithm(),
        Algorithm::Rs1
    );
}

#[test]
fn ml_dsa_key_parses() {
    let text = format!(
        "a3 01 07 03 38 2f 20 59 0520 {}", // kty AKP, alg ML-DSA-44 (-48), pub: 1312 bytes
        "ab".repeat(1312)
    );
    let key = parse_hex(&text).unwrap();
    assert_eq!(key.algorithm(), Algorithm::MlDsa44);
    assert_eq!(key.key_type(), KeyType::Akp);
}

#[test]
fn algorithm_table_round_trips() {
    for alg in Algorithm::ALL {
        assert_eq!(
            Algorithm::from_cose(alg.cose()),
            Some(alg),
            "{}",
            alg.name()
        );
    }
    assert_eq!(Algorithm::from_cose(-260), None);
}

#[test]
fn kty_alg_and_crv_must_agree() {
    // C.26: EC2 key type with RS256.
    let ec2_rs256 = es256_hex().replace("03 26", "03 39 0100");
    assert_eq!(
        cose_error(&ec2_rs256),
        CoseKeyError::AlgorithmMismatch("kty")
    );
    // C.27: ES256 on P-384 with 48-byte coordinates.
    let p384 = format!(
        "a5 01 02 03 26 20 02 21 58 30 {} 22 58 30 {}",
        "01".repeat(48),
        "02".repeat(48)
    );
    assert_eq!(cose_error(&p384), CoseKeyError::AlgorithmMismatch("crv"));
    // C.27: EdDSA with X25519 (4), and with Ed448 (7: WebAuthn binds -8 to Ed25519).
    let x25519 = format!("a4 01 01 03 27 20 04 21 58 20 {}", "09".repeat(32));
    assert_eq!(cose_error(&x25519), CoseKeyError::UnsupportedCurve(4));
    let ed448 = format!("a4 01 01 03 27 20 07 21 58 39 {}", "09".repeat(57));
    assert_eq!(cose_error(&ed448), CoseKeyError::AlgorithmMismatch("crv"));
    // secp256k1 (8) is not supported.
    let k1 = es256_hex().replace("20 01", "20 08");
    assert_eq!(cose_error(&k1), CoseKeyError::UnsupportedCurve(8));
}

#[test]
fn coordinates_must_have_the_curve_length() {
    // C.28: x of 31 and 33 bytes.
    let short = es256_hex().replace(
        &format!("21 58 20 {P256_X}"),
        &format!("21 58 1f {}", &P256_X[2..]),
    );
    assert_eq!(
        cose_error(&short),
        CoseKeyError::InvalidLength {
            param: "x",
            len: 31,
            expected: 32
        }
    );
    let long = es256_hex().replace(
        &format!("21 58 20 {P256_X}"),
        &format!("21 58 21 00{P256_X}"),
    );
    assert_eq!(
        cose_error(&long),
        CoseKeyError::InvalidLength {
            param: "x",
            len: 33,
            expected: 32
        }
    );
}

#[test]
fn compressed_points_are_refused() {
    // C.29: y given as a boolean.
    let compressed = format!("a5 01 02 03 26 20 01 21 58 20 {P256_X} 22 f5");
    assert_eq!(cose_error(&compressed), CoseKeyError::CompressedPoint);
}

#[test]
fn alg_is_required() {
    // C.33.
    let text = format!("a4 01 02 20 01 21 58 20 {P256_X} 22 58 20 {P256_Y}");
    assert_eq!(cose_error(&text), CoseKeyError::MissingParameter("alg"));
}

#[test]
fn optional_parameters_are_refused() {
    // C.34: kid (2) and key_ops (4) beside an otherwise valid key.
    let with_kid = es256_hex()
        .replacen("a5", "a6", 1)
        .replace("03 26", "02 41 00 03 26");
    assert_eq!(cose_error(&with_kid), CoseKeyError::UnexpectedParameter(2));
    let with_ops = es256_hex()
        .replacen("a5", "a6", 1)
        .replace("03 26", "03 26 04 81 01");
    assert_eq!(cose_error(&with_ops), CoseKeyError::UnexpectedParameter(4));
    // An AKP key must not carry its private part (-2).
    let akp_priv = format!(
        "a4 01 07 03 38 2f 20 59 0520 {} 21 41 00",
        "ab".repeat(1312)
    );
    assert_eq!(cose_error(&akp_priv), CoseKeyError::UnexpectedParameter(-2));
    // y on an OKP key.
    let okp_y = format!("a5 01 01 03 27 20 06 21 58 20 {ED25519_X} 22 41 00");
    assert_eq!(cose_error(&okp_y), CoseKeyError::UnexpectedParameter(-3));
}

#[test]
fn unknown_algorithms_fail_closed() {
    // C.35: -260 is not an algorithm latchkey knows.
    let text = es256_hex().replace("03 26", "03 39 0103");
    assert_eq!(parse_hex(&text), Err(Error::UnsupportedAlgorithm(-260)));
    assert_eq!(
        parse_hex(&text).unwrap_err().code(),
        "unsupported_algorithm"
    );
    // Symmetric keys (kty 4) are not signature keys.
    assert_eq!(
        cose_error("a3 01 04 03 26 20 41 00"),
        CoseKeyError::UnsupportedKeyType(4)
    );
}

#[test]
fn firefox_117_eddsa_key_is_refused() {
    // C.38: text kty "OKP", text crv "Ed25519", map of 3, x missing.
    let text = "a3 01 63 4f4b50 03 27 20 67 45643235353139";
    assert_eq!(
        cose_error(text),
        CoseKeyError::WrongType {
            param: "kty",
            expected: "an integer"
        }
    );
}

#[test]
fn rsa_sizes_and_exponents() {
    // C.39: a 1024-bit modulus.
    let small = rsa_hex(
        "39 0100",
        &format!("58 80 c0{}01", "00".repeat(126)),
        "43 010001",
    );
    assert_eq!(
        cose_error(&small),
        CoseKeyError::RsaModulusTooSmall {
            bits: 1024,
            min: 2048
        }
    );
    // C.40: a 16384-bit modulus is a resource limit.
    let huge = rsa_hex(
        "39 0100",
        &format!("59 0800 c0{}01", "00".repeat(2046)),
        "43 010001",
    );
    let err = parse_hex(&huge).unwrap_err();
    assert_eq!(
        err,
        Error::CoseKey(CoseKeyError::RsaModulusTooLarge {
            bits: 16384,
            max: 8192
        })
    );
    assert_eq!(err.code(), "limit_exceeded");
    // C.41: exponents 1, 2, 65536 and 2^64 + 1.
    for e in [
        "41 01",
        "41 02",
        "43 010000",
        "49 010000000000000001",
        "40",
        "43 000003",
    ] {
        let text = rsa_hex("39 0100", &modulus_2048(), e);
        assert_eq!(
            cose_error(&text),
            CoseKeyError::InvalidRsaExponent,
            "e = {e}"
        );
    }
    // C.42: a leading zero byte, refused in strict mode, measured without it when relaxed.
    let padded = rsa_hex(
        "39 0100",
        &format!("59 0101 00c0{}01", "00".repeat(254)),
        "43 010001",
    );
    assert_eq!(cose_error(&padded), CoseKeyError::RsaModulusLeadingZero);
    let relaxed =
        CredentialPublicKey::from_cose_with(&hex::decode(&padded), &ParseOptions::RELAXED);
    assert_eq!(relaxed.unwrap().algorithm(), Algorithm::Rs256);
}

#[test]
fn labels_and_kty_must_be_integers() {
    // C.44: label "1" as text, and kty "EC2" as text.
    let text_label = es256_hex().replace("01 02", "61 31 02");
    // Text keys sort after integer keys canonically, so check in relaxed mode too.
    let relaxed =
        CredentialPublicKey::from_cose_with(&hex::decode(&text_label), &ParseOptions::RELAXED);
    assert_eq!(relaxed, Err(Error::CoseKey(CoseKeyError::LabelNotInteger)));
    let text_kty = es256_hex().replace("01 02", "01 63 454332");
    assert_eq!(
        cose_error(&text_kty),
        CoseKeyError::WrongType {
            param: "kty",
            expected: "an integer"
        }
    );
    // C.13: {1: 2, true: 3, ...}: the boolean label is refused, never merged with 1.
    let bool_label = format!("a6 01 02 03 26 20 01 21 58 20 {P256_X} 22 58 20 {P256_Y} f5 03");
    assert_eq!(cose_error(&bool_label), CoseKeyError::LabelNotInteger);
    // C.21: alg of -2^64 is out of range, not wrapped.
    let huge_alg = es256_hex().replace("03 26", "03 3b ffffffffffffffff");
    assert_eq!(
        cose_error(&huge_alg),
        CoseKeyError::WrongType {
            param: "alg",
            expected: "an integer"
        }
    );
}

#[test]
fn float_alg_is_refused() {
    // C.20: alg -7.0 as a half float.
    let text = es256_hex().replace("03 26", "03 f9 c700");
    assert!(matches!(
        parse_hex(&text),
        Err(Error::Cbor {
            context: Context::CoseKey,
            kind: CborError::FloatNotAllowed,
            ..
        })
    ));
}

#[test]
fn trailing_bytes_after_a_stored_key_are_refused() {
    let text = format!("{} 00", es256_hex());
    assert!(matches!(
        parse_hex(&text),
        Err(Error::Cbor {
            kind: CborError::TrailingBytes(1),
            ..
        })
    ));
}

#[test]
fn new_validates_like_the_parser() {
    let bad = KeyParams::Ec2 {
        curve: Curve::P256,
        x: vec![1; 31],
        y: vec![2; 32],
    };
    assert_eq!(
        CredentialPublicKey::new(Algorithm::Es256, bad),
        Err(Error::CoseKey(CoseKeyError::InvalidLength {
            param: "x",
            len: 31,
            expected: 32
        }))
    );
}
