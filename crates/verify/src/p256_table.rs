//! ES256 verification for keys seen before, on p256's public group API: no field
//! arithmetic of our own, only point doubling, mixed addition and batch normalization.
//!
//! ECDSA verification computes `R = u1·G + u2·Q` and compares `x(R) mod n` with `r`. Plain
//! p256 spends most of its time on `u2·Q`, for a `Q` it has never seen. A passkey's key is
//! seen at every login, so after its second use this module keeps, per key, the odd
//! multiples `1, 3, ..., 15` of `Q`, `2^32·Q`, ..., `2^224·Q` (64 affine points, about 4.6
//! KB), and the same once for `G`. Each scalar is cut into eight 32-bit limbs written in
//! width-5 NAF, so `R` takes 33 doublings shared by all sixteen limbs and one mixed
//! addition per non-zero digit (about 90), instead of some 256 doublings and additions.
//!
//! Every input the plain path refuses, this path refuses: the differential tests compare
//! both on random, tampered and edge-case signatures (tests/es256_table.rs, and the fuzz
//! target `es256_table`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use ecdsa::elliptic_curve::group::Group as _;
use ecdsa::elliptic_curve::point::AffineCoordinates as _;
use p256::elliptic_curve::BatchNormalize as _;
use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};

/// Limbs per scalar, and the bits of each.
const LIMBS: usize = 8;
const LIMB_BITS: usize = 32;
/// A width-5 NAF of a 32-bit limb has up to 33 digits, odd and in `-15..=15`.
const DIGITS: usize = LIMB_BITS + 1;
const ODD_MULTIPLES: usize = 8;

/// The uses before a key gets its table: the first login verifies the plain way.
const USES_BEFORE_TABLE: u32 = 1;

/// `table[i][j] = (2j + 1) · 2^(32 i) · P`, affine.
struct Table([[AffinePoint; ODD_MULTIPLES]; LIMBS]);

impl Table {
    fn new(point: ProjectivePoint) -> Self {
        let mut multiples = [ProjectivePoint::IDENTITY; LIMBS * ODD_MULTIPLES];
        let mut base = point;
        for limb in multiples.chunks_exact_mut(ODD_MULTIPLES) {
            let twice = base.double();
            let mut multiple = base;
            for slot in limb {
                *slot = multiple;
                multiple += twice;
            }
            for _ in 0..LIMB_BITS {
                base = base.double();
            }
        }
        let affine = ProjectivePoint::batch_normalize(&multiples);
        let mut table = [[AffinePoint::IDENTITY; ODD_MULTIPLES]; LIMBS];
        for (row, points) in table.iter_mut().zip(affine.chunks_exact(ODD_MULTIPLES)) {
            row.copy_from_slice(points);
        }
        Self(table)
    }

    /// Adds `digit · 2^(32 limb) · P` to `acc` (a digit is odd, or 0 for nothing).
    fn add(&self, acc: &mut ProjectivePoint, limb: usize, digit: i8) {
        let index = usize::from(digit.unsigned_abs() >> 1);
        if let Some(point) = self.0.get(limb).and_then(|row| row.get(index)) {
            if digit > 0 {
                *acc += point;
            } else if digit < 0 {
                *acc += -point;
            }
        }
    }
}

fn generator_table() -> &'static Table {
    static GENERATOR: OnceLock<Table> = OnceLock::new();
    GENERATOR.get_or_init(|| Table::new(ProjectivePoint::GENERATOR))
}

/// The per-key state a [`VerifyingKey`](crate::VerifyingKey) carries: how often it was
/// used, and its table once it has one.
#[derive(Debug, Default)]
pub(crate) struct Warm {
    uses: AtomicU32,
    table: OnceLock<Box<KeyTable>>,
}

/// A key's table (opaque outside this module).
pub(crate) struct KeyTable(Table);

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTable")
    }
}

impl Warm {
    /// The key's table: `None` on its first use, built on the second and kept after.
    pub(crate) fn table(&self, key: &p256::ecdsa::VerifyingKey) -> Option<&KeyTable> {
        if let Some(table) = self.table.get() {
            return Some(table);
        }
        if self.uses.fetch_add(1, Ordering::Relaxed) < USES_BEFORE_TABLE {
            return None;
        }
        let point = ProjectivePoint::from(*key.as_affine());
        Some(
            self.table
                .get_or_init(|| Box::new(KeyTable(Table::new(point)))),
        )
    }
}

/// Verifies an ECDSA P-256 signature `(r, s)` over the digest `z` with the key whose
/// table this is; the same verdict as `ecdsa::hazmat::verify_prehashed`.
pub(crate) fn verify_prehashed(
    table: &KeyTable,
    z: &[u8; 32],
    signature: &p256::ecdsa::Signature,
) -> bool {
    let (r, s) = signature.split_scalars();
    let z =
        <Scalar as ecdsa::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&FieldBytes::from(*z));
    let Some(s_inv) = Option::<Scalar>::from(s.invert_vartime()) else {
        return false;
    };
    let u1 = z * s_inv;
    let u2 = *r * s_inv;
    let (g_digits, q_digits) = (naf_limbs(&u1), naf_limbs(&u2));
    let generator = generator_table();
    let mut acc = ProjectivePoint::IDENTITY;
    for position in (0..DIGITS).rev() {
        acc = acc.double();
        for limb in 0..LIMBS {
            let digit = |digits: &[[i8; DIGITS]; LIMBS]| {
                digits
                    .get(limb)
                    .and_then(|d| d.get(position))
                    .copied()
                    .unwrap_or(0)
            };
            generator.add(&mut acc, limb, digit(&g_digits));
            table.0.add(&mut acc, limb, digit(&q_digits));
        }
    }
    if bool::from(acc.is_identity()) {
        return false;
    }
    let x = acc.to_affine().x();
    *r == <Scalar as ecdsa::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&x)
}

/// A scalar's eight 32-bit limbs (least significant first), each in width-5 NAF.
fn naf_limbs(scalar: &Scalar) -> [[i8; DIGITS]; LIMBS] {
    let bytes = scalar.to_bytes();
    let mut limbs = [[0i8; DIGITS]; LIMBS];
    for (index, chunk) in bytes.rchunks_exact(4).enumerate() {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        if let Some(limb) = limbs.get_mut(index) {
            *limb = naf(u32::from_be_bytes(word));
        }
    }
    limbs
}

/// The width-5 NAF of `value`: digits odd in `-15..=15` or 0, no two non-zero within
/// five positions, `value = Σ digit_i · 2^i`.
fn naf(value: u32) -> [i8; DIGITS] {
    let mut digits = [0i8; DIGITS];
    let mut rest = u64::from(value);
    let mut position = 0;
    while rest != 0 {
        if rest & 1 == 1 {
            let low = i8::try_from(rest & 31).unwrap_or(0);
            let digit = if low >= 16 { low - 32 } else { low };
            // rest - digit, for a digit in -15..=15.
            let magnitude = u64::from(digit.unsigned_abs());
            rest = if digit > 0 {
                rest - magnitude
            } else {
                rest + magnitude
            };
            if let Some(slot) = digits.get_mut(position) {
                *slot = digit;
            }
        }
        rest >>= 1;
        position += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::naf;

    #[test]
    fn naf_digits_sum_back_and_are_sparse() {
        for value in [
            0,
            1,
            15,
            16,
            31,
            0x8000_0000,
            0xffff_ffff,
            0x1234_5678,
            0xaaaa_aaaa,
        ] {
            let digits = naf(value);
            let sum: i128 = digits
                .iter()
                .enumerate()
                .map(|(i, d)| i128::from(*d) << i)
                .sum();
            assert_eq!(sum, i128::from(value));
            for (i, d) in digits.iter().enumerate() {
                assert!(*d == 0 || (d % 2 != 0 && d.abs() <= 15));
                if *d != 0 {
                    assert!(digits.iter().skip(i + 1).take(4).all(|x| *x == 0));
                }
            }
        }
    }
}
