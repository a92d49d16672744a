//! Budgets and strictness: what a parser accepts before it does any work.

/// Explicit caps on untrusted input. Each cap has its own [`LimitExceeded`] variant.
///
/// The defaults fit every attestation format WebAuthn Level 3 defines, including `compound`
/// (attestationObject -> attStmt array -> statement map -> attStmt map -> x5c array: five
/// levels) and ML-DSA-87 keys and signatures.
///
/// [`LimitExceeded`]: crate::LimitExceeded
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes. Default 64 KiB.
    pub max_input_len: usize,
    /// Deepest nesting of arrays and maps; the top-level container is level 1. Default 5.
    pub max_depth: usize,
    /// Most data items in one CBOR document (every key, value and element counts).
    /// Default 1024.
    pub max_items: usize,
}

impl Limits {
    /// The default budget (see the field docs).
    pub const DEFAULT: Self = Self {
        max_input_len: 64 * 1024,
        max_depth: 5,
        max_items: 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How strictly CBOR encoding rules are applied.
///
/// Duplicate map keys, tags, floats, undefined, indefinite-length strings, truncation and
/// trailing bytes are rejected in every mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strictness {
    /// CTAP2 canonical CBOR, as WebAuthn §2.5 requires: shortest-form integers and
    /// lengths, definite lengths only, map keys sorted (shorter encoding first, then
    /// bytewise).
    #[default]
    Canonical,
    /// Also accepts non-shortest integers and lengths, indefinite-length arrays and maps,
    /// map keys in any order, and RSA moduli with leading zero bytes (a signed-integer
    /// encoding). Some clients have produced these (Firefox emitted
    /// attestationObject keys out of order; some test authenticators write indefinite
    /// maps). Decoding still advances by the bytes actually consumed, so the signed bytes
    /// are never re-encoded.
    Relaxed,
}

/// Everything a parser needs to know about the caller's tolerance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Size, depth and count caps.
    pub limits: Limits,
    /// Encoding strictness.
    pub strictness: Strictness,
}

impl ParseOptions {
    /// Default limits, CTAP2 canonical CBOR.
    pub const STRICT: Self = Self {
        limits: Limits::DEFAULT,
        strictness: Strictness::Canonical,
    };
    /// Default limits, [`Strictness::Relaxed`] encoding.
    pub const RELAXED: Self = Self {
        limits: Limits::DEFAULT,
        strictness: Strictness::Relaxed,
    };
}
