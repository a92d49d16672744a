//! Errors: one enum for the crate, one sub-enum per layer, each with a stable code.
//!
//! Messages say what was wrong and where (a byte offset into the structure being parsed);
//! they never echo the input itself.

use core::fmt;

/// Everything that can go wrong while parsing or encoding WebAuthn binary structures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not CBOR as WebAuthn requires it (§2.5: CTAP2 canonical, no tags...).
    #[error("malformed CBOR in {context} at byte {offset}: {kind}")]
    Cbor {
        /// The structure being decoded.
        context: Context,
        /// Byte offset into that structure where decoding failed.
        offset: usize,
        /// What was wrong.
        kind: CborError,
    },
    /// A size, depth or count cap of [`Limits`](crate::Limits) was exceeded.
    #[error("{context}: {limit}")]
    Limit {
        /// The structure being decoded.
        context: Context,
        /// Which cap, and its value.
        limit: LimitExceeded,
    },
    /// The authenticator data layout (WebAuthn §6.1) is violated.
    #[error("authenticator data: {0}")]
    AuthenticatorData(#[from] AuthenticatorDataError),
    /// The attestation object (WebAuthn §6.5.4) has the wrong shape.
    #[error("attestation object: {0}")]
    AttestationObject(#[from] AttestationObjectError),
    /// The COSE_Key is invalid for WebAuthn (§5.8.5, §6.5.1, RFC 9053).
    #[error("COSE key: {0}")]
    CoseKey(#[from] CoseKeyError),
    /// The COSE algorithm is not one latchkey knows. Fail closed.
    #[error("unsupported COSE algorithm {0}")]
    UnsupportedAlgorithm(i64),
}

impl Error {
    /// The stable error code from PRODUCT.md: `malformed`, `limit_exceeded` or
    /// `unsupported_algorithm`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Limit { .. } => "limit_exceeded",
            Self::CoseKey(CoseKeyError::RsaModulusTooLarge { .. }) => "limit_exceeded",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::Cbor { .. }
            | Self::AuthenticatorData(_)
            | Self::AttestationObject(_)
            | Self::CoseKey(_) => "malformed",
        }
    }
}

/// The structure a CBOR or limit error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Context {
    /// A bare CBOR document ([`crate::cbor::decode`]).
    Document,
    /// The attestationObject map (including attStmt).
    AttestationObject,
    /// The authenticator data bytes.
    AuthenticatorData,
    /// The credential public key (COSE_Key).
    CoseKey,
    /// The authenticator extension outputs map inside authenticator data.
    Extensions,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Document => "CBOR document",
            Self::AttestationObject => "attestation object",
            Self::AuthenticatorData => "authenticator data",
            Self::CoseKey => "COSE key",
            Self::Extensions => "authenticator extensions",
        })
    }
}

/// Ways CBOR bytes violate RFC 8949 or the CTAP2 canonical form WebAuthn requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CborError {
    /// A map holds the same key twice (compared by decoded value, never first- or last-wins).
    #[error("duplicate map key")]
    DuplicateMapKey,
    /// Floats are never valid in WebAuthn structures; they are not coerced to integers.
    #[error("floating-point value")]
    FloatNotAllowed,
    /// An indefinite-length array or map in strict mode ([`crate::Strictness::Relaxed`]
    /// allows them).
    #[error("indefinite-length item")]
    IndefiniteLength,
    /// An indefinite-length byte or text string. Rejected in every mode.
    #[error("indefinite-length string")]
    IndefiniteString,
    /// A text string that is not UTF-8.
    #[error("text string is not UTF-8")]
    InvalidUtf8,
    /// An integer or length not in its shortest form (strict mode only).
    #[error("integer or length not in shortest form")]
    NonMinimalEncoding,
    /// Additional information 28-30, which RFC 8949 reserves.
    #[error("reserved additional information {0}")]
    ReservedAdditionalInfo(u8),
    /// A simple value other than false, true and null (undefined included).
    #[error("simple value {0} not allowed")]
    SimpleValueNotAllowed(u8),
    /// A semantic tag (major type 6). WebAuthn structures carry none.
    #[error("tag {0} not allowed")]
    TagNotAllowed(u64),
    /// Bytes left after the one item that was expected.
    #[error("{0} trailing byte(s) after the item")]
    TrailingBytes(usize),
    /// The input ends inside an item.
    #[error("unexpected end of input")]
    Truncated,
    /// A "break" byte (0xff) outside an indefinite-length item.
    #[error("unexpected break")]
    UnexpectedBreak,
    /// Map keys are not in CTAP2 canonical order (strict mode only).
    #[error("map keys not in canonical order")]
    UnsortedMapKeys,
}

/// A cap of [`Limits`](crate::Limits) that the input exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The input is longer than allowed.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    InputTooLarge {
        /// Length of the input.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Arrays and maps are nested deeper than allowed.
    #[error("nesting deeper than {max}")]
    NestingTooDeep {
        /// The cap.
        max: usize,
    },
    /// The document holds more data items than allowed.
    #[error("more than {max} data items")]
    TooManyItems {
        /// The cap.
        max: usize,
    },
}

/// Violations of the authenticator data layout (WebAuthn §6.1, §6.5.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticatorDataError {
    /// The attested credential data is shorter than its fixed 18-byte header.
    #[error("attested credential data truncated at byte {offset}")]
    AttestedDataTruncated {
        /// Where the header starts.
        offset: usize,
    },
    /// credentialIdLength is zero.
    #[error("credential id is empty")]
    CredentialIdEmpty,
    /// credentialIdLength exceeds 1023 (§6.5.1, §7.1 step 25).
    #[error("credential id of {len} bytes exceeds 1023")]
    CredentialIdTooLong {
        /// The declared length.
        len: usize,
    },
    /// credentialIdLength is larger than the bytes that follow.
    #[error("credential id of {len} bytes, only {available} present")]
    CredentialIdTruncated {
        /// The declared length.
        len: usize,
        /// The bytes left.
        available: usize,
    },
    /// The ED flag is set but no extension map follows.
    #[error("ED flag set but no extensions follow")]
    ExtensionsMissing,
    /// The extension outputs are not a CBOR map with text keys.
    #[error("extensions are not a map with text keys")]
    ExtensionsNotTextMap,
    /// Shorter than the 37-byte minimum (rpIdHash, flags, signCount).
    #[error("{len} bytes, at least 37 required")]
    TooShort {
        /// The length found.
        len: usize,
    },
    /// Bytes left that no flag accounts for (AT or ED clear, or data after the extensions).
    #[error("{count} unexpected byte(s) at offset {offset}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
}

/// Violations of the attestation object shape (WebAuthn §6.5.4).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationObjectError {
    /// authData was parsed but has no attested credential data (AT clear).
    #[error("authData has no attested credential data")]
    MissingAttestedCredentialData,
    /// `fmt` is not 1 to 32 printable US-ASCII characters (§8.1).
    #[error("fmt is not 1-32 printable ASCII characters")]
    InvalidFmt,
    /// A required member is absent.
    #[error("missing {0}")]
    MissingMember(&'static str),
    /// The top-level item is not a map.
    #[error("not a CBOR map")]
    NotAMap,
    /// A member other than fmt, attStmt and authData.
    #[error("unexpected member")]
    UnexpectedMember,
    /// A member has the wrong CBOR type.
    #[error("{member} is not {expected}")]
    WrongType {
        /// The member.
        member: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

/// A COSE_Key that WebAuthn does not allow (§5.8.5, §6.5.1; RFC 9053 §7, RFC 8230).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoseKeyError {
    /// `alg` does not belong to the key type, or `crv` to the algorithm.
    #[error("{0} does not agree with the algorithm")]
    AlgorithmMismatch(&'static str),
    /// EC2 `y` is a boolean: compressed points are not allowed (§5.8.5).
    #[error("compressed EC point")]
    CompressedPoint,
    /// A coordinate or public key has the wrong length for its curve or parameter set.
    #[error("{param} is {len} bytes, {expected} required")]
    InvalidLength {
        /// The parameter.
        param: &'static str,
        /// Its length.
        len: usize,
        /// The length the curve requires.
        expected: usize,
    },
    /// The RSA public exponent is even, below 3, above 2^33 - 1 or not minimally encoded.
    #[error("invalid RSA public exponent")]
    InvalidRsaExponent,
    /// A label that is a text string or not an integer (labels of WebAuthn keys are ints).
    #[error("label is not an integer")]
    LabelNotInteger,
    /// A required parameter is absent.
    #[error("missing {0}")]
    MissingParameter(&'static str),
    /// The top-level item is not a map.
    #[error("not a CBOR map")]
    NotAMap,
    /// The RSA modulus has a leading zero byte (strict encoding).
    #[error("RSA modulus has a leading zero byte")]
    RsaModulusLeadingZero,
    /// The RSA modulus is larger than 8192 bits.
    #[error("RSA modulus of {bits} bits exceeds {max}")]
    RsaModulusTooLarge {
        /// Its size.
        bits: usize,
        /// The cap.
        max: usize,
    },
    /// The RSA modulus is smaller than 2048 bits.
    #[error("RSA modulus of {bits} bits is below {min}")]
    RsaModulusTooSmall {
        /// Its size.
        bits: usize,
        /// The floor.
        min: usize,
    },
    /// A parameter this key type does not allow (kid, key_ops, ... §6.5.1).
    #[error("parameter {0} not allowed")]
    UnexpectedParameter(i64),
    /// A `coset::CoseKey` that coset cannot encode as CBOR, or a key coset cannot read
    /// (feature `coset`).
    #[error("coset: {0}")]
    Coset(&'static str),
    /// The key type (`kty`) is not OKP, EC2, RSA or AKP.
    #[error("unsupported key type {0}")]
    UnsupportedKeyType(i64),
    /// The curve is not one the algorithm family allows (X25519, secp256k1, ...).
    #[error("unsupported curve {0}")]
    UnsupportedCurve(i64),
    /// A parameter has the wrong CBOR type.
    #[error("{param} is not {expected}")]
    WrongType {
        /// The parameter.
        param: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
