//! ES256 verification for keys seen before, on p256's public group API: no field
//! arithmetic of our own, only point doubling, mixed addition and batch normalization.
//!
//! ECDSA verification computes `R = u1·G + u2·Q` and compares `x(R) mod n` with `r`. Plain
//! p256 spends most of its time on `u2·Q`, for a `Q` it has never seen. A passkey's key is
//! seen at every login, so after its second use this module keeps, per key, a table of
//! 33 rows: row `i` holds the odd multiples `1, 3, ..., 15` of `2^(8 i)·Q` (264 affine
//! points, [`KEY_TABLE_BYTES`], about 19 KB). The generator gets the same once,
//! process-wide, with wider rows (`1, 3, ..., 127`: 2,112 points, about 150 KB).
//!
//! Each scalar is written once in width-w NAF (257 digits, at most one non-zero in any w
//! consecutive), and the digit at position `8 i + j` is added from row `i` after the
//! accumulator has been doubled down to `j`. So `R` takes 8 doublings shared by every row
//! and one mixed addition per non-zero digit: about 257/6 for `u2` and 257/9 for `u1`,
//! some 80 operations where plain p256 needs about 256 doublings and 100 additions. Rows
//! of 16 bits (half the memory, 8 more doublings) measured 1.48x-1.54x of AWS-LC's raw
//! verify in `ratios`; rows of 8 bits 1.38x-1.40x.
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

/// Digits of a scalar's NAF: 256 bits and the carry out of the top.
const DIGITS: usize = 257;
/// Bits per row: the accumulator is doubled this many times, once for all rows.
const ROW_BITS: usize = 8;
/// Rows of a table: enough to place all [`DIGITS`] (the last row holds the carry).
const ROWS: usize = DIGITS.div_ceil(ROW_BITS);
/// The key's NAF width: digits odd in `-15..=15`, so 8 odd multiples per row.
const KEY_WIDTH: u32 = 5;
/// The generator's NAF width: digits odd in `-127..=127`, 64 odd multiples per row. Wider
/// costs only static memory, built once per process.
const GENERATOR_WIDTH: u32 = 8;

/// The uses before a key gets its table: the first login verifies the plain way.
const USES_BEFORE_TABLE: u32 = 1;

/// The heap bytes of one key's table, for caches that budget memory.
pub(crate) const KEY_TABLE_BYTES: usize =
    ROWS * odd_multiples(KEY_WIDTH) * core::mem::size_of::<AffinePoint>();

/// How many odd multiples a width-w NAF digit can name: `1, 3, ..., 2^(w-1) - 1`.
const fn odd_multiples(width: u32) -> usize {
    1 << (width - 2)
}

/// `points[i · M + j] = (2j + 1) · 2^(ROW_BITS · i) · P`, affine, for `M` odd multiples.
struct Table {
    multiples: usize,
    points: Vec<AffinePoint>,
}

impl Table {
    fn new(point: ProjectivePoint, width: u32) -> Self {
        let multiples = odd_multiples(width);
        let mut projective = Vec::with_capacity(ROWS * multiples);
        let mut base = point;
        for _ in 0..ROWS {
            let twice = base.double();
            let mut multiple = base;
            for _ in 0..multiples {
                projective.push(multiple);
                multiple += twice;
            }
            for _ in 0..ROW_BITS {
                base = base.double();
            }
        }
        Self {
            multiples,
            points: ProjectivePoint::batch_normalize(projective.as_slice()),
        }
    }

    /// Adds `digit · 2^(ROW_BITS · row) · P` to `acc` (a digit is odd, or 0 for nothing).
    fn add(&self, acc: &mut ProjectivePoint, row: usize, digit: i8) {
        if digit == 0 {
            return;
        }
        let index = row * self.multiples + usize::from(digit.unsigned_abs() >> 1);
        if let Some(point) = self.points.get(index) {
            if digit > 0 {
                *acc += point;
            } else {
                *acc += -point;
            }
        }
    }
}

fn generator_table() -> &'static Table {
    static GENERATOR: OnceLock<Table> = OnceLock::new();
    GENERATOR.get_or_init(|| Table::new(ProjectivePoint::GENERATOR, GENERATOR_WIDTH))
}

/// The per-key state a [`VerifyingKey`](crate::VerifyingKey) carries: how often it was
/// used, and its table once it has one.
#[derive(Debug, Default)]
pub(crate) struct Warm {
    uses: AtomicU32,
    table: OnceLock<KeyTable>,
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
                .get_or_init(|| KeyTable(Table::new(point, KEY_WIDTH))),
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
    let g_digits = naf(&(z * s_inv), GENERATOR_WIDTH);
    let q_digits = naf(&(*r * s_inv), KEY_WIDTH);
    let generator = generator_table();
    let mut acc = ProjectivePoint::IDENTITY;
    for bit in (0..ROW_BITS).rev() {
        acc = acc.double();
        for row in 0..ROWS {
            let position = row * ROW_BITS + bit;
            let digit = |digits: &[i8; DIGITS]| digits.get(position).copied().unwrap_or(0);
            generator.add(&mut acc, row, digit(&g_digits));
            table.0.add(&mut acc, row, digit(&q_digits));
        }
    }
    if bool::from(acc.is_identity()) {
        return false;
    }
    let x = acc.to_affine().x();
    *r == <Scalar as ecdsa::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&x)
}

/// The width-`width` NAF of a scalar: digits odd in `±(2^(width-1) - 1)` or 0, at most one
/// non-zero in any `width` consecutive positions, `scalar = Σ digit_i · 2^i`.
fn naf(scalar: &Scalar, width: u32) -> [i8; DIGITS] {
    // The scalar as five little-endian words: the fifth takes the carry of `rest + |d|`.
    let bytes = scalar.to_bytes();
    let mut rest = [0u64; 5];
    for (word, chunk) in rest.iter_mut().zip(bytes.rchunks_exact(8)) {
        let mut be = [0u8; 8];
        be.copy_from_slice(chunk);
        *word = u64::from_be_bytes(be);
    }
    naf_words(rest, width)
}

/// [`naf`] of a 320-bit little-endian number below `2^257`.
fn naf_words(mut rest: [u64; 5], width: u32) -> [i8; DIGITS] {
    let window = 1u64 << width;
    let half = window >> 1;
    let mut digits = [0i8; DIGITS];
    for slot in &mut digits {
        let [low, ..] = rest;
        if low & 1 == 1 {
            let bits = low & (window - 1);
            if bits >= half {
                // A negative digit: rest += window - bits, carried up the words.
                add_small(&mut rest, window - bits);
                *slot = -i8::try_from(window - bits).unwrap_or(0);
            } else {
                // A positive digit: rest -= bits, which only clears low bits.
                rest[0] = low - bits;
                *slot = i8::try_from(bits).unwrap_or(0);
            }
        }
        shift_right(&mut rest);
    }
    digits
}

fn add_small(words: &mut [u64; 5], value: u64) {
    let mut carry = value;
    for word in words.iter_mut() {
        let (sum, overflow) = word.overflowing_add(carry);
        *word = sum;
        carry = u64::from(overflow);
    }
}

fn shift_right(words: &mut [u64; 5]) {
    for index in 0..words.len() {
        let high = words.get(index + 1).map_or(0, |next| next << 63);
        if let Some(word) = words.get_mut(index) {
            *word = (*word >> 1) | high;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DIGITS, GENERATOR_WIDTH, KEY_WIDTH, naf, naf_words};
    use p256::Scalar;

    fn assert_sparse(digits: &[i8; DIGITS], width: u32) {
        let bound = (1i16 << (width - 1)) - 1;
        let gap = (width as usize) - 1;
        for (i, d) in digits.iter().enumerate() {
            assert!(
                *d == 0 || (d % 2 != 0 && i16::from(d.abs()) <= bound),
                "{d} at {i}"
            );
            if *d != 0 {
                assert!(digits.iter().skip(i + 1).take(gap).all(|x| *x == 0));
            }
        }
    }

    #[test]
    fn naf_digits_of_small_values_sum_back_and_are_sparse() {
        for width in [KEY_WIDTH, GENERATOR_WIDTH] {
            for value in [
                0u64,
                1,
                15,
                16,
                31,
                127,
                128,
                255,
                0x8000_0000,
                u64::MAX,
                0xaaaa_aaaa,
            ] {
                let digits = naf_words([value, 0, 0, 0, 0], width);
                let sum: i128 = digits
                    .iter()
                    .take(100)
                    .enumerate()
                    .map(|(i, d)| i128::from(*d) << i)
                    .sum();
                assert_eq!(sum, i128::from(value));
                assert_sparse(&digits, width);
            }
        }
    }

    #[test]
    fn naf_digits_of_scalars_sum_back_mod_n() {
        let mut scalar = Scalar::from(0x1234_5678_9abc_def0u64);
        for round in 0..64u64 {
            // Walk through scalars with every bit pattern: squares, and the edges.
            scalar = scalar.square() + Scalar::from(round);
            for value in [scalar, -Scalar::ONE, -scalar, Scalar::ONE] {
                for width in [KEY_WIDTH, GENERATOR_WIDTH] {
                    let digits = naf(&value, width);
                    let mut sum = Scalar::ZERO;
                    for d in digits.iter().rev() {
                        sum = sum.double();
                        let magnitude = Scalar::from(u64::from(d.unsigned_abs()));
                        sum += if *d < 0 { -magnitude } else { magnitude };
                    }
                    assert_eq!(sum, value);
                    assert_sparse(&digits, width);
                }
            }
        }
    }
}
