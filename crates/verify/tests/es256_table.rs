//! ES256 keys verify through per-key tables from their second use (src/p256_table.rs).
//! Differential tests: a warm key (second use on) and a fresh one (first use, plain p256)
//! give the same verdict on genuine, tampered and edge-case signatures, through the
//! public `VerifyingKey::verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use latchkey_testkit::authenticator::SoftKey;
use latchkey_verify::{SignatureOptions, VerifyingKey};
use p256::ecdsa::Signature;
use p256::elliptic_curve::PrimeField as _;
use p256::{FieldBytes, Scalar};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

/// The order of P-256 minus one, big-endian.
const N_MINUS_1: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x50,
];

fn one() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[31] = 1;
    bytes
}

/// A key warmed past its first use, and a way to get a fresh one.
struct Keys {
    cose: Vec<u8>,
    warm: VerifyingKey,
}

impl Keys {
    fn new(soft: &SoftKey) -> Self {
        let cose = soft.public_key().as_cose_bytes().to_vec();
        let warm = VerifyingKey::from_cose(&cose).unwrap();
        // First use: plain; from the second: the table.
        let _ = warm.verify(&[b"warm up"], b"", &SignatureOptions::default());
        Self { cose, warm }
    }

    /// (table path, plain path) verdicts.
    fn verdicts(&self, message: &[&[u8]], signature: &[u8]) -> (bool, bool) {
        let options = SignatureOptions::default();
        let fresh = VerifyingKey::from_cose(&self.cose).unwrap();
        (
            self.warm.verify(message, signature, &options).is_ok(),
            fresh.verify(message, signature, &options).is_ok(),
        )
    }
}

fn der(r: &[u8; 32], s: &[u8; 32]) -> Option<Vec<u8>> {
    Signature::from_scalars(FieldBytes::from(*r), FieldBytes::from(*s))
        .ok()
        .map(|sig| sig.to_der().as_bytes().to_vec())
}

fn scalars(signature: &[u8]) -> ([u8; 32], [u8; 32]) {
    let sig = Signature::from_der(signature).unwrap();
    let (r, s) = sig.split_bytes();
    (r.into(), s.into())
}

fn negate(bytes: &[u8; 32]) -> [u8; 32] {
    let scalar = Scalar::from_repr(FieldBytes::from(*bytes)).unwrap();
    (-scalar).to_repr().into()
}

fn variants(signature: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let (r, s) = scalars(signature);
    let mut out = vec![("genuine", signature.to_vec())];
    for (name, r, s) in [
        ("high-s", r, negate(&s)),
        ("swapped", s, r),
        ("r = 1", one(), s),
        ("s = 1", r, one()),
        ("r = n - 1", N_MINUS_1, s),
        ("s = n - 1", r, N_MINUS_1),
        ("negated r", negate(&r), s),
    ] {
        if let Some(der) = der(&r, &s) {
            out.push((name, der));
        }
    }
    let mut flipped = signature.to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    out.push(("last byte flipped", flipped));
    out
}

#[test]
fn genuine_and_tampered_signatures_get_the_same_verdict_on_both_paths() {
    let soft = SoftKey::es256([0x42; 32]);
    let keys = Keys::new(&soft);
    let message: [&[u8]; 2] = [b"authenticator data", b"client data hash"];
    let signature = soft.sign(&message.concat());
    for (name, candidate) in variants(&signature) {
        let (table, plain) = keys.verdicts(&message, &candidate);
        assert_eq!(table, plain, "{name}");
        if name == "genuine" || name == "high-s" {
            assert!(table, "{name} must verify");
        }
    }
}

#[test]
fn a_signature_whose_r_point_is_at_infinity_is_refused_on_both_paths() {
    // With Q = dG, R = u1 G + u2 Q = (z + r d) / s · G is the identity when r = -z / d.
    let d = [0x17u8; 32];
    let soft = SoftKey::es256(d);
    let keys = Keys::new(&soft);
    let message: [&[u8]; 1] = [b"to infinity"];
    let z =
        <Scalar as p256::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&FieldBytes::from(<[u8;
            32]>::from(
            Sha256::digest(message[0]),
        )));
    let d = Scalar::from_repr(FieldBytes::from(d)).unwrap();
    let r = -z * Option::<Scalar>::from(d.invert()).unwrap();
    let r: [u8; 32] = r.to_repr().into();
    for s in [one(), N_MINUS_1, [0x33; 32]] {
        let signature = der(&r, &s).unwrap();
        assert_eq!(keys.verdicts(&message, &signature), (false, false));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_keys_messages_and_signatures_agree(
        seed in proptest::array::uniform32(1u8..),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        other in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let soft = SoftKey::es256(seed);
        let keys = Keys::new(&soft);
        let signature = soft.sign(&message);
        for (name, candidate) in variants(&signature) {
            let (table, plain) = keys.verdicts(&[&message], &candidate);
            prop_assert_eq!(table, plain, "{}", name);
        }
        // Another message under the genuine signature.
        let (table, plain) = keys.verdicts(&[&other], &signature);
        prop_assert_eq!(table, plain);
        prop_assert!(keys.verdicts(&[&message], &signature).0);
    }
}
