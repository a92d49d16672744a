//! `verify_batch` gives exactly the verdicts one-by-one verification gives, on every input:
//! valid Ed25519 signatures, signatures whose R carries a torsion (small-order) component,
//! keys with a torsion component, non-canonical S, tampered messages and wrong keys.
//!
//! The signatures are built here from scalars (curve25519-dalek), since no honest signer
//! produces the hostile ones.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
use latchkey_testkit::authenticator::SoftKey;
use latchkey_verify::{BatchItem, Error, SignatureOptions, VerifyingKey, verify_batch};
use proptest::prelude::*;
use sha2::{Digest as _, Sha512};

/// The group order l, little-endian: adding it to S gives the same scalar, non-canonically.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn scalar_from(parts: &[&[u8]]) -> Scalar {
    let mut hash = Sha512::new();
    for part in parts {
        hash.update(part);
    }
    let wide: [u8; 64] = hash.finalize().into();
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// An Ed25519 key pair from scalars: `A = [a]B + T` with `T` a torsion point (the
/// identity for an honest key).
#[derive(Clone, Debug)]
struct Pair {
    secret: Scalar,
    torsion: EdwardsPoint,
    public: [u8; 32],
    key: VerifyingKey,
}

impl Pair {
    fn new(seed: u8, torsion: EdwardsPoint) -> Self {
        let secret = scalar_from(&[b"secret", &[seed]]);
        let public = (secret * ED25519_BASEPOINT_POINT + torsion)
            .compress()
            .to_bytes();
        let cose = CredentialPublicKey::new(
            Algorithm::EdDsa,
            KeyParams::Okp {
                curve: Curve::Ed25519,
                x: public.to_vec(),
            },
        )
        .unwrap();
        let key = VerifyingKey::from_credential_key(&cose).unwrap();
        Self {
            secret,
            torsion,
            public,
            key,
        }
    }

    /// Signs with nonce `r` and `R = [r]B + r_torsion`, hashing that R as a signer would:
    /// `k = H(R || A || M)`, `S = r + k a`.
    fn sign_with(&self, r: Scalar, r_torsion: EdwardsPoint, message: &[u8]) -> [u8; 64] {
        let big_r = (r * ED25519_BASEPOINT_POINT + r_torsion).compress();
        let k = scalar_from(&[big_r.as_bytes(), &self.public, message]);
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    fn sign(&self, nonce: &[u8], message: &[u8]) -> [u8; 64] {
        self.sign_with(
            scalar_from(&[b"nonce", nonce]),
            EdwardsPoint::default(),
            message,
        )
    }

    /// For a key with a torsion component: a signature `verify_strict` accepts, when the
    /// torsion of R can be made to cancel `-[k]T` (ground over a few nonces); `None`
    /// otherwise.
    fn sign_cancelling(&self, nonce: &[u8], message: &[u8]) -> Option<[u8; 64]> {
        for attempt in 0u8..64 {
            let r = scalar_from(&[b"nonce", nonce, &[attempt]]);
            let guess = EIGHT_TORSION[usize::from(attempt % 8)];
            let big_r = (r * ED25519_BASEPOINT_POINT + guess).compress();
            let k = scalar_from(&[big_r.as_bytes(), &self.public, message]);
            if -(k * self.torsion) == guess {
                return Some(self.sign_with(r, guess, message));
            }
        }
        None
    }
}

/// What one generated item is.
#[derive(Clone, Debug)]
enum Case {
    Valid,
    /// R = [r]B + T, T of order 2, 4 or 8: `verify_strict` refuses.
    TorsionR(usize),
    /// S + l: the same scalar, non-canonically encoded.
    NonCanonicalS,
    TamperedMessage,
    WrongKey,
    /// A key with a torsion component, and a signature `verify_strict` accepts.
    TorsionKey(usize),
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => Just(Case::Valid),
        2 => (1usize..8).prop_map(Case::TorsionR),
        1 => Just(Case::NonCanonicalS),
        1 => Just(Case::TamperedMessage),
        1 => Just(Case::WrongKey),
        1 => (1usize..8).prop_map(Case::TorsionKey),
    ]
}

/// One item to verify, owned.
struct Owned {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn build(case: &Case, key_index: u8, nonce: &[u8], message: &[u8]) -> Owned {
    let pair = Pair::new(key_index, EdwardsPoint::default());
    let honest = |signature: [u8; 64]| Owned {
        key: pair.key.clone(),
        message: message.to_vec(),
        signature: signature.to_vec(),
    };
    match case {
        Case::Valid => honest(pair.sign(nonce, message)),
        Case::TorsionR(order_index) => honest(pair.sign_with(
            scalar_from(&[b"nonce", nonce]),
            EIGHT_TORSION[*order_index],
            message,
        )),
        Case::NonCanonicalS => {
            let mut signature = pair.sign(nonce, message);
            let mut carry = 0u16;
            for (byte, l) in signature[32..].iter_mut().zip(L) {
                let sum = u16::from(*byte) + u16::from(l) + carry;
                *byte = sum.to_le_bytes()[0];
                carry = sum >> 8;
            }
            honest(signature)
        }
        Case::TamperedMessage => {
            let mut owned = honest(pair.sign(nonce, message));
            owned.message.push(0x01);
            owned
        }
        Case::WrongKey => Owned {
            key: Pair::new(key_index.wrapping_add(100), EdwardsPoint::default()).key,
            message: message.to_vec(),
            signature: pair.sign(nonce, message).to_vec(),
        },
        Case::TorsionKey(order_index) => {
            let weird = Pair::new(key_index, EIGHT_TORSION[*order_index]);
            let signature = weird
                .sign_cancelling(nonce, message)
                .unwrap_or_else(|| weird.sign(nonce, message));
            Owned {
                key: weird.key.clone(),
                message: message.to_vec(),
                signature: signature.to_vec(),
            }
        }
    }
}

type Verdicts = Vec<Result<(), Error>>;

/// The batch's verdicts and the one-by-one verdicts.
fn both(owned: &[Owned]) -> (Verdicts, Verdicts) {
    let messages: Vec<[&[u8]; 1]> = owned.iter().map(|o| [o.message.as_slice()]).collect();
    let items: Vec<BatchItem<'_>> = owned
        .iter()
        .zip(&messages)
        .map(|(o, message)| BatchItem {
            key: &o.key,
            message,
            signature: &o.signature,
        })
        .collect();
    let options = SignatureOptions::default();
    let single = items
        .iter()
        .map(|item| item.key.verify(item.message, item.signature, &options))
        .collect();
    (verify_batch(&items, &options), single)
}

#[test]
fn batch_refuses_r_with_a_two_torsion_component() {
    // C.125 (a signature `verify_strict` refuses), in a batch: R' = R + T, T the point of order 2, with k computed over R'. The cofactorless
    // single check refuses it; the batch equation only sees [z]T, which vanishes for every
    // even z, so without the subgroup check about half of these slipped through.
    let pair = Pair::new(1, EdwardsPoint::default());
    let order_two = EIGHT_TORSION[4];
    assert!(
        order_two != EdwardsPoint::default() && (order_two + order_two) == EdwardsPoint::default()
    );
    for n in 0u8..16 {
        let message = [b"pay 25.00 USDT to merchant 771 #".as_slice(), &[n]].concat();
        let forged = pair.sign_with(scalar_from(&[b"forged", &[n]]), order_two, &message);
        let owned = [
            Owned {
                key: pair.key.clone(),
                message: b"another".to_vec(),
                signature: pair.sign(&[n], b"another").to_vec(),
            },
            Owned {
                key: pair.key.clone(),
                message,
                signature: forged.to_vec(),
            },
        ];
        let (batch, single) = both(&owned);
        assert_eq!(single, [Ok(()), Err(Error::SignatureInvalid)], "#{n}");
        assert_eq!(batch, single, "#{n}");
    }
}

#[test]
fn a_key_with_a_torsion_component_is_judged_alone() {
    // C.125, the other way round: `verify_strict` only refuses small-order keys, so a key A = [a]B + T with a
    // signature whose R cancels the torsion verifies alone; the batch must say the same.
    let weird = Pair::new(2, EIGHT_TORSION[4]);
    let signature = weird
        .sign_cancelling(b"n", b"message")
        .expect("half of the nonces cancel an order-2 torsion");
    let honest = Pair::new(3, EdwardsPoint::default());
    let owned = [
        Owned {
            key: weird.key.clone(),
            message: b"message".to_vec(),
            signature: signature.to_vec(),
        },
        Owned {
            key: honest.key.clone(),
            message: b"other".to_vec(),
            signature: honest.sign(b"n", b"other").to_vec(),
        },
    ];
    let (batch, single) = both(&owned);
    assert_eq!(single, [Ok(()), Ok(())]);
    assert_eq!(batch, single);
}

#[test]
fn other_algorithms_mix_with_ed25519() {
    let es256 = SoftKey::es256([5; 32]);
    let key = VerifyingKey::from_credential_key(&es256.public_key()).unwrap();
    let mut owned = vec![
        build(&Case::Valid, 1, b"a", b"one"),
        Owned {
            key: key.clone(),
            message: b"two".to_vec(),
            signature: es256.sign(b"two"),
        },
        build(&Case::TorsionR(4), 1, b"b", b"three"),
        build(&Case::Valid, 2, b"c", b"four"),
    ];
    owned.push(Owned {
        key,
        message: b"five".to_vec(),
        signature: es256.sign(b"not five"),
    });
    let (batch, single) = both(&owned);
    assert_eq!(
        single,
        [
            Ok(()),
            Ok(()),
            Err(Error::SignatureInvalid),
            Ok(()),
            Err(Error::SignatureInvalid)
        ]
    );
    assert_eq!(batch, single);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batch_verdicts_equal_single_verdicts(
        cases in prop::collection::vec(
            (case(), 0u8..3, any::<[u8; 8]>(), prop::collection::vec(any::<u8>(), 0..48)),
            0..10,
        )
    ) {
        let owned: Vec<Owned> = cases
            .iter()
            .map(|(case, key, nonce, message)| build(case, *key, nonce, message))
            .collect();
        let (batch, single) = both(&owned);
        for ((case, ..), verdict) in cases.iter().zip(&single) {
            match case {
                Case::Valid => prop_assert_eq!(verdict, &Ok(())),
                Case::TorsionR(_) | Case::NonCanonicalS | Case::TamperedMessage | Case::WrongKey => {
                    prop_assert_eq!(verdict, &Err(Error::SignatureInvalid));
                }
                Case::TorsionKey(_) => {}
            }
        }
        prop_assert_eq!(batch, single);
    }
}
