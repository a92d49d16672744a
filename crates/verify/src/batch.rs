//! Verifying many signatures at once: Ed25519 in a batch where the keys allow, every
//! other algorithm one by one. The verdict per item is the same as
//! [`VerifyingKey::verify`]'s.

use curve25519_dalek::edwards::CompressedEdwardsY;

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

/// Verifies every item; the result at index `i` is item `i`'s verdict.
///
/// Ed25519 items (two or more) go through one batch equation first. Batch verification
/// is cofactored and so slightly more lenient than `verify_strict`; a batch success is
/// accepted only when no signature's R is small-order or non-canonically encoded (keys
/// were already checked when built), which is exactly what separates the two. Any batch
/// failure falls back to checking the Ed25519 items one by one, so a bad item is named
/// and never taints the others.
#[must_use]
pub fn verify_batch(items: &[BatchItem<'_>], options: &SignatureOptions) -> Vec<Result<()>> {
    let mut results: Vec<Option<Result<()>>> = vec![None; items.len()];
    let mut ed25519 = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match item.key.material() {
            Material::Ed25519(key) => ed25519.push((index, *key)),
            _ => {
                if let Some(slot) = results.get_mut(index) {
                    *slot = Some(item.key.verify(item.message, item.signature, options));
                }
            }
        }
    }
    if ed25519.len() >= 2 && ed25519_batch_holds(items, &ed25519) {
        for (index, _) in &ed25519 {
            if let Some(slot) = results.get_mut(*index) {
                *slot = Some(Ok(()));
            }
        }
    }
    results
        .into_iter()
        .zip(items)
        .map(|(result, item)| {
            result.unwrap_or_else(|| item.key.verify(item.message, item.signature, options))
        })
        .collect()
}

fn ed25519_batch_holds(
    items: &[BatchItem<'_>],
    batch: &[(usize, ed25519_dalek::VerifyingKey)],
) -> bool {
    let mut messages = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    for (index, key) in batch {
        let Some(item) = items.get(*index) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(item.signature) else {
            return false;
        };
        if !strict_r(&signature) {
            return false;
        }
        messages.push(item.message.concat());
        signatures.push(signature);
        keys.push(*key);
    }
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// R decompresses, re-encodes to the same bytes (canonical) and is not of small order.
fn strict_r(signature: &ed25519_dalek::Signature) -> bool {
    let compressed = CompressedEdwardsY(*signature.r_bytes());
    compressed
        .decompress()
        .is_some_and(|point| point.compress() == compressed && !point.is_small_order())
}
