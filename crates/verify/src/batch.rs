//! Verifying many signatures at once, with exactly the verdicts of verifying them one by
//! one.

use crate::error::Result;
use crate::signature::{SignatureOptions, VerifyingKey};

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

/// Verifies every item; the result at index `i` is exactly what [`VerifyingKey::verify`]
/// gives for item `i` alone, on every input.
///
/// Every item is checked alone, Ed25519 included. An Ed25519 batch equation cannot keep
/// that promise cheaply: single verification is `verify_strict`, the cofactorless
/// equation `R == [s]B - [k]A` on canonical encodings, while the batch only sees
/// `sum z_i (R_i - [s_i]B + [k_i]A_i)` for random `z_i` and cannot tell a zero term from
/// a small-order (torsion) one. A signature whose R carries a torsion component, which
/// `verify_strict` refuses, passes the batch whenever the torsion parts cancel (for a
/// point of order 2, whenever `z_i` is even). Refusing such R and A up front takes a
/// subgroup check, a scalar multiplication per signature; measured on 64 Ed25519
/// receipts, batch plus checks cost 1.3x checking one by one (PERFORMANCE.md), so there
/// is nothing left to gain.
#[must_use]
pub fn verify_batch(items: &[BatchItem<'_>], options: &SignatureOptions) -> Vec<Result<()>> {
    items
        .iter()
        .map(|item| item.key.verify(item.message, item.signature, options))
        .collect()
}
