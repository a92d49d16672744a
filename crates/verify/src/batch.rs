//! Verifying many signatures at once: Ed25519 in a batch where the signatures allow, every
//! other algorithm one by one. The verdict per item is the same as
//! [`VerifyingKey::verify`]'s.

use std::collections::HashSet;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use latchkey_cose::Algorithm;

use crate::error::Result;
use crate::signature::{Material, SignatureOptions, VerifyingKey};

/// One signature to check: key, message parts (concatenated), signature.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The key.
    pub key: &'a VerifyingKey,
    /// The signed message, in parts.
    pub message: &'a [&'a [u8]],
    /// The signature.
    pub signature: &'a [u8],
}

/// Verifies every item; the result at index `i` is item `i`'s verdict, exactly what
/// [`VerifyingKey::verify`] gives for it alone.
///
/// Single Ed25519 verification is `verify_strict`: the cofactorless equation
/// `R == [s]B - [k]A` on canonical encodings, with R and A not of small order. The batch
/// equation only sees `sum z_i (R_i - [s_i]B + [k_i]A_i)` for random 128-bit `z_i`, which
/// cannot tell a term that is zero from one that is a small-order (torsion) point: a
/// signature whose R carries a torsion component, which `verify_strict` refuses, would
/// pass the batch whenever the torsion parts cancel. So an Ed25519 item joins the batch
/// only when R is canonically encoded, not of small order and torsion-free, S is
/// canonical, and A is torsion-free; then every term lies in the prime-order subgroup,
/// where the batch holds exactly when each single equation does (up to the batch's
/// 2^-128 soundness error). Every other item, and every batch member when the batch
/// fails, is checked alone, so a bad item is named and never taints the others.
///
/// The subgroup checks cost a scalar multiplication per signature (and per distinct key),
/// which is most of what batching saves; see PERFORMANCE.md.
#[must_use]
pub fn verify_batch(items: &[BatchItem<'_>], options: &SignatureOptions) -> Vec<Result<()>> {
    let mut batch: Vec<(usize, ed25519_dalek::VerifyingKey, ed25519_dalek::Signature)> = Vec::new();
    let mut keys = TorsionFreeKeys::default();
    for (index, item) in items.iter().enumerate() {
        if let Some((key, signature)) = batchable(item, &mut keys) {
            batch.push((index, key, signature));
        }
    }
    let batch_holds = batch.len() >= 2 && ed25519_batch_holds(items, &batch);
    let mut in_batch = batch.iter().map(|(index, ..)| *index).peekable();
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if batch_holds && in_batch.next_if_eq(&index).is_some() {
                Ok(())
            } else {
                item.key.verify(item.message, item.signature, options)
            }
        })
        .collect()
}

/// The dalek key and signature of an Ed25519 item that may join the batch: one whose
/// verdict the batch equation decides exactly as `verify_strict` does.
fn batchable(
    item: &BatchItem<'_>,
    keys: &mut TorsionFreeKeys,
) -> Option<(ed25519_dalek::VerifyingKey, ed25519_dalek::Signature)> {
    // Single verification picks the scheme from the algorithm: only EdDSA keys verify
    // Ed25519 signatures.
    if !matches!(item.key.algorithm(), Algorithm::EdDsa | Algorithm::Ed25519) {
        return None;
    }
    let Material::Ed25519(key) = item.key.material() else {
        return None;
    };
    let signature = ed25519_dalek::Signature::from_slice(item.signature).ok()?;
    let s_canonical = bool::from(Scalar::from_canonical_bytes(*signature.s_bytes()).is_some());
    (s_canonical && strict_r(&signature) && keys.torsion_free(key)).then_some((*key, signature))
}

/// Keys already found torsion-free, by encoding: an audit checks many signatures of the
/// same few keys, and the check costs a scalar multiplication.
#[derive(Default)]
struct TorsionFreeKeys {
    seen: HashSet<[u8; 32]>,
}

impl TorsionFreeKeys {
    fn torsion_free(&mut self, key: &ed25519_dalek::VerifyingKey) -> bool {
        let bytes = key.to_bytes();
        if self.seen.contains(&bytes) {
            return true;
        }
        let free = key.to_edwards().is_torsion_free();
        if free {
            self.seen.insert(bytes);
        }
        free
    }
}

fn ed25519_batch_holds(
    items: &[BatchItem<'_>],
    batch: &[(usize, ed25519_dalek::VerifyingKey, ed25519_dalek::Signature)],
) -> bool {
    let mut messages = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    for (index, key, signature) in batch {
        let Some(item) = items.get(*index) else {
            return false;
        };
        messages.push(item.message.concat());
        signatures.push(*signature);
        keys.push(*key);
    }
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// R decompresses, re-encodes to the same bytes (canonical), is not of small order and
/// has no torsion component: it lies in the prime-order subgroup and is not the identity.
fn strict_r(signature: &ed25519_dalek::Signature) -> bool {
    let compressed = CompressedEdwardsY(*signature.r_bytes());
    compressed
        .decompress()
        .is_some_and(|point| point.compress() == compressed && prime_order(&point))
}

fn prime_order(point: &EdwardsPoint) -> bool {
    !point.is_small_order() && point.is_torsion_free()
}
