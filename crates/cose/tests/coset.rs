//! The coset bridge (feature `coset`): every key type latchkey parses round-trips through
//! `coset::CoseKey` unchanged, byte for byte, and what the strict parser refuses is
//! refused on the way in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use coset::cbor::Value;
use coset::{CborSerializable as _, CoseKey, CoseKeyBuilder, KeyOperation, Label, iana};
use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
use proptest::prelude::*;

/// Any key `CredentialPublicKey::new` accepts: every algorithm of `Algorithm::ALL` with
/// key material of the right shape (structure only: latchkey-cose checks no curve
/// equation, and neither does coset).
fn any_key() -> impl Strategy<Value = CredentialPublicKey> {
    (0..Algorithm::ALL.len(), any::<u64>()).prop_flat_map(|(index, seed)| {
        let algorithm = Algorithm::ALL[index];
        params_for(algorithm, seed).prop_map(move |params| {
            CredentialPublicKey::new(algorithm, params).expect("a well-shaped key")
        })
    })
}

fn params_for(algorithm: Algorithm, _seed: u64) -> BoxedStrategy<KeyParams> {
    let bytes = |len: usize| proptest::collection::vec(any::<u8>(), len);
    match algorithm {
        Algorithm::Es256 | Algorithm::Esp256 => ec(Curve::P256),
        Algorithm::Es384 | Algorithm::Esp384 => ec(Curve::P384),
        Algorithm::Es512 | Algorithm::Esp512 => ec(Curve::P521),
        Algorithm::EdDsa | Algorithm::Ed25519 => bytes(32)
            .prop_map(|x| KeyParams::Okp {
                curve: Curve::Ed25519,
                x,
            })
            .boxed(),
        Algorithm::Ed448 => bytes(57)
            .prop_map(|x| KeyParams::Okp {
                curve: Curve::Ed448,
                x,
            })
            .boxed(),
        Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => {
            let len = algorithm.ml_dsa_public_key_len().unwrap();
            bytes(len)
                .prop_map(|public| KeyParams::Akp { public })
                .boxed()
        }
        // RSA: a modulus of 2048..=4096 bits (top bit set), an odd
        // exponent from 3 to 2^33 - 1, minimally encoded.
        _ => (256usize..=512, 0x80u8..=0xff, any::<u64>(), 1u64..(1 << 32))
            .prop_flat_map(move |(len, top, _, half)| {
                (
                    proptest::collection::vec(any::<u8>(), len - 1),
                    Just(top),
                    Just(half),
                )
            })
            .prop_map(|(rest, top, half)| {
                let mut n = vec![top];
                n.extend(rest);
                let e = (half * 2 + 1).max(3);
                let e: Vec<u8> = e
                    .to_be_bytes()
                    .into_iter()
                    .skip_while(|&b| b == 0)
                    .collect();
                KeyParams::Rsa { n, e }
            })
            .boxed(),
    }
}

fn ec(curve: Curve) -> BoxedStrategy<KeyParams> {
    let len = curve.coordinate_len();
    (
        proptest::collection::vec(any::<u8>(), len),
        proptest::collection::vec(any::<u8>(), len),
    )
        .prop_map(move |(x, y)| KeyParams::Ec2 { curve, x, y })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// latchkey -> coset -> latchkey is the identity, and coset encodes the same bytes.
    #[test]
    fn every_key_round_trips(key in any_key()) {
        let coset_key = key.to_coset().unwrap();
        prop_assert_eq!(coset_key.clone().to_vec().unwrap(), key.as_cose_bytes());
        let back = CredentialPublicKey::try_from(&coset_key).unwrap();
        prop_assert_eq!(back.as_cose_bytes(), key.as_cose_bytes());
        prop_assert_eq!(back, key);
    }

    /// The order a coset key holds its parameters in does not matter.
    #[test]
    fn parameter_order_is_not_meaningful(key in any_key()) {
        let mut coset_key = key.to_coset().unwrap();
        coset_key.params.reverse();
        prop_assert_eq!(CredentialPublicKey::try_from(&coset_key).unwrap(), key);
    }

    /// Whatever the strict parser refuses in a key's bytes, the bridge refuses in the
    /// coset value: here a parameter dropped, or one of another CBOR type.
    #[test]
    fn a_damaged_key_is_refused_as_the_parser_refuses_it(key in any_key(), which in any::<prop::sample::Index>(), drop in any::<bool>()) {
        let mut coset_key = key.to_coset().unwrap();
        let at = which.index(coset_key.params.len());
        if drop {
            coset_key.params.remove(at);
        } else {
            coset_key.params[at].1 = Value::Text("x".into());
        }
        let bridged = CredentialPublicKey::try_from(&coset_key);
        let parsed = CredentialPublicKey::from_cose(&coset_key.to_vec().unwrap());
        prop_assert!(bridged.is_err());
        prop_assert_eq!(bridged.unwrap_err().code(), parsed.unwrap_err().code());
    }
}

fn es256() -> CoseKey {
    CredentialPublicKey::new(
        Algorithm::Es256,
        KeyParams::Ec2 {
            curve: Curve::P256,
            x: vec![1; 32],
            y: vec![2; 32],
        },
    )
    .unwrap()
    .to_coset()
    .unwrap()
}

#[test]
fn an_es256_key_reads_as_coset_builds_it() {
    let built =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, vec![1; 32], vec![2; 32])
            .algorithm(iana::Algorithm::ES256)
            .build();
    assert_eq!(built, es256());
    assert_eq!(
        CredentialPublicKey::try_from(&built).unwrap().algorithm(),
        Algorithm::Es256
    );
}

/// §6.5.1: no `kid`, `key_ops`, `Base IV` in a credential key; `alg` is required.
#[test]
fn optional_cose_parameters_are_refused() {
    let mut kid = es256();
    kid.key_id = vec![1, 2, 3];
    let mut ops = es256();
    ops.key_ops
        .insert(KeyOperation::Assigned(iana::KeyOperation::Verify));
    let mut iv = es256();
    iv.base_iv = vec![0; 12];
    let mut no_alg = es256();
    no_alg.alg = None;
    for key in [kid, ops, iv, no_alg] {
        assert_eq!(
            CredentialPublicKey::try_from(&key).unwrap_err().code(),
            "malformed"
        );
    }
}

/// Labels are integers; a compressed point (`y` a boolean) is refused (§5.8.5); `crv`
/// must agree with `alg`; a duplicated parameter is refused.
#[test]
fn what_the_strict_parser_refuses_is_refused() {
    let mut text_label = es256();
    text_label
        .params
        .push((Label::Text("note".into()), Value::from(1)));
    let compressed =
        CoseKeyBuilder::new_ec2_pub_key_y_sign(iana::EllipticCurve::P_256, vec![1; 32], true)
            .algorithm(iana::Algorithm::ES256)
            .build();
    let wrong_curve =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_384, vec![1; 48], vec![2; 48])
            .algorithm(iana::Algorithm::ES256)
            .build();
    let mut duplicated = es256();
    let first = duplicated.params[0].clone();
    duplicated.params.push(first);
    let short =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, vec![1; 31], vec![2; 32])
            .algorithm(iana::Algorithm::ES256)
            .build();
    let secp256k1 =
        CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::Secp256k1, vec![1; 32], vec![2; 32])
            .algorithm(iana::Algorithm::ES256K)
            .build();
    let small_rsa = CoseKeyBuilder::new()
        .key_type(iana::KeyType::RSA)
        .algorithm(iana::Algorithm::RS256)
        .param(
            iana::RsaKeyParameter::N as i64,
            Value::Bytes(vec![0xc5; 128]),
        )
        .param(iana::RsaKeyParameter::E as i64, Value::Bytes(vec![1, 0, 1]))
        .build();
    for (name, key) in [
        ("text label", text_label),
        ("compressed point", compressed),
        ("curve of another algorithm", wrong_curve),
        ("duplicated parameter", duplicated),
        ("short coordinate", short),
        ("secp256k1", secp256k1),
        ("1024-bit RSA", small_rsa),
    ] {
        assert!(
            CredentialPublicKey::try_from(&key).is_err(),
            "{name} accepted"
        );
        // coset itself will not encode a duplicated label; every other case is refused
        // by latchkey's parser in its bytes too.
        if let Ok(bytes) = key.clone().to_vec() {
            assert!(
                CredentialPublicKey::from_cose(&bytes).is_err(),
                "{name} parsed"
            );
        }
    }
}
