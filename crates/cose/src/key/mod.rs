//! The credential public key: a COSE_Key as WebAuthn narrows it.

mod algorithm;
#[cfg(test)]
mod tests;

pub use algorithm::{Algorithm, Curve, KeyType};

use crate::cbor::{Map, Value, decode_prefix_in};
use crate::error::{Context, CoseKeyError, Error, Result};
use crate::options::{ParseOptions, Strictness};

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (a larger one is a resource limit).
pub const RSA_MAX_BITS: usize = 8192;

const KTY: i64 = 1;
const ALG: i64 = 3;

/// A credential public key, parsed from a COSE_Key (RFC 9052 §7) as WebAuthn restricts it.
///
/// ```cddl
/// COSE_Key = {
///     1 => tstr / int,          ; kty
///     ? 2 => bstr,              ; kid
///     ? 3 => tstr / int,        ; alg
///     ? 4 => [+ (tstr / int) ], ; key_ops
///     ? 5 => bstr,              ; Base IV
///     * label => values
/// }
/// ```
///
/// WebAuthn §6.5.1 and §5.8.5 narrow this: `alg` MUST be present, no other OPTIONAL
/// parameter may be (no `kid`, `key_ops`, `Base IV`), labels and `kty`/`alg`/`crv` are
/// integers, `kty`, `alg` and `crv` agree, EC points are uncompressed. latchkey adds:
/// coordinates exactly the curve's length, RSA moduli of 2048-8192 bits without a leading
/// zero byte and odd exponents from 3 to 2^33 - 1. Whether a point lies on its curve, or an
/// Ed25519 key is weak, is checked by `latchkey-verify` when it builds the verifying key.
///
/// The exact COSE bytes are kept ([`as_cose_bytes`](Self::as_cose_bytes)) for storage:
/// what a service stores is what the authenticator signed.
///
/// ```
/// use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
///
/// // The P-256 base point, a valid public key for examples.
/// let x = hex(b"6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
/// let y = hex(b"4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
/// let key = CredentialPublicKey::new(Algorithm::Es256, KeyParams::Ec2 { curve: Curve::P256, x, y })?;
///
/// let stored = key.as_cose_bytes().to_vec();
/// assert_eq!(&stored[..7], &[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]); // kty 2, alg -7, crv 1
/// assert_eq!(CredentialPublicKey::from_cose(&stored)?, key);
/// # fn hex(s: &[u8]) -> Vec<u8> {
/// #     s.chunks(2).filter_map(|p| std::str::from_utf8(p).ok()).filter_map(|p| u8::from_str_radix(p, 16).ok()).collect()
/// # }
/// # Ok::<(), latchkey_cose::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialPublicKey {
    cose: Vec<u8>,
    algorithm: Algorithm,
    params: KeyParams,
}

/// The key material of a [`CredentialPublicKey`], by key type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyParams {
    /// An elliptic-curve point (`kty` 2): `x` (-2) and `y` (-3), each exactly
    /// [`Curve::coordinate_len`] bytes.
    Ec2 {
        /// The curve (`crv`, -1).
        curve: Curve,
        /// The x coordinate, big-endian.
        x: Vec<u8>,
        /// The y coordinate, big-endian.
        y: Vec<u8>,
    },
    /// An Edwards-curve public key (`kty` 1): `x` (-2).
    Okp {
        /// The curve (`crv`, -1).
        curve: Curve,
        /// The encoded public key.
        x: Vec<u8>,
    },
    /// An RSA public key (`kty` 3, RFC 8230): `n` (-1) and `e` (-2), big-endian.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// An ML-DSA public key (`kty` 7, AKP): `pub` (-1).
    Akp {
        /// The encoded public key (FIPS 204 pkEncode).
        public: Vec<u8>,
    },
}

impl CredentialPublicKey {
    /// Parses a COSE_Key that fills `bytes`, with strict CBOR and default limits.
    ///
    /// # Errors
    ///
    /// [`Error::CoseKey`] when the key breaks a rule above, [`Error::UnsupportedAlgorithm`]
    /// for an unknown `alg`, [`Error::Cbor`] / [`Error::Limit`] for the encoding.
    pub fn from_cose(bytes: &[u8]) -> Result<Self> {
        Self::from_cose_with(bytes, &ParseOptions::STRICT)
    }

    /// Parses a COSE_Key that fills `bytes`, with the given options.
    ///
    /// # Errors
    ///
    /// As [`from_cose`](Self::from_cose).
    pub fn from_cose_with(bytes: &[u8], options: &ParseOptions) -> Result<Self> {
        let (key, used) = Self::from_cose_prefix(bytes, options)?;
        match bytes.len().saturating_sub(used) {
            0 => Ok(key),
            trailing => Err(Error::Cbor {
                context: Context::CoseKey,
                offset: used,
                kind: crate::CborError::TrailingBytes(trailing),
            }),
        }
    }

    /// Parses the COSE_Key at the start of `bytes`; returns it and its length.
    pub(crate) fn from_cose_prefix(bytes: &[u8], options: &ParseOptions) -> Result<(Self, usize)> {
        let (value, used) = decode_prefix_in(bytes, options, Context::CoseKey)?;
        let map = value.as_map().ok_or(CoseKeyError::NotAMap)?;
        let (algorithm, params) = interpret(map, options.strictness)?;
        let cose = bytes.get(..used).unwrap_or_default().to_vec();
        Ok((
            Self {
                cose,
                algorithm,
                params,
            },
            used,
        ))
    }

    /// Builds a key from its parts and encodes it as canonical COSE.
    ///
    /// # Errors
    ///
    /// The same validation as [`from_cose`](Self::from_cose): the encoded key is parsed back,
    /// so a key built here is exactly a key that would be accepted from the wire.
    pub fn new(algorithm: Algorithm, params: KeyParams) -> Result<Self> {
        let mut entries = vec![
            (
                Value::Integer(KTY.into()),
                Value::Integer(KeyType::of(&params).cose().into()),
            ),
            (
                Value::Integer(ALG.into()),
                Value::Integer(algorithm.cose().into()),
            ),
        ];
        match &params {
            KeyParams::Ec2 { curve, x, y } => {
                entries.push((Value::Integer(-1), Value::Integer(curve.cose().into())));
                entries.push((Value::Integer(-2), Value::Bytes(x)));
                entries.push((Value::Integer(-3), Value::Bytes(y)));
            }
            KeyParams::Okp { curve, x } => {
                entries.push((Value::Integer(-1), Value::Integer(curve.cose().into())));
                entries.push((Value::Integer(-2), Value::Bytes(x)));
            }
            KeyParams::Rsa { n, e } => {
                entries.push((Value::Integer(-1), Value::Bytes(n)));
                entries.push((Value::Integer(-2), Value::Bytes(e)));
            }
            KeyParams::Akp { public } => {
                entries.push((Value::Integer(-1), Value::Bytes(public)));
            }
        }
        let bytes = Value::Map(Map::new(entries)?).to_vec();
        Self::from_cose(&bytes)
    }

    /// The signature algorithm (`alg`).
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key type (`kty`).
    #[must_use]
    pub fn key_type(&self) -> KeyType {
        KeyType::of(&self.params)
    }

    /// The key material.
    #[must_use]
    pub fn params(&self) -> &KeyParams {
        &self.params
    }

    /// The COSE_Key exactly as received (or as encoded by [`new`](Self::new)).
    #[must_use]
    pub fn as_cose_bytes(&self) -> &[u8] {
        &self.cose
    }
}

impl KeyType {
    fn of(params: &KeyParams) -> Self {
        match params {
            KeyParams::Ec2 { .. } => Self::Ec2,
            KeyParams::Okp { .. } => Self::Okp,
            KeyParams::Rsa { .. } => Self::Rsa,
            KeyParams::Akp { .. } => Self::Akp,
        }
    }
}

/// The labelled parameters of a COSE_Key, before interpretation by key type.
#[derive(Default)]
struct Labels<'m, 'a> {
    kty: Option<&'m Value<'a>>,
    alg: Option<&'m Value<'a>>,
    minus1: Option<&'m Value<'a>>,
    minus2: Option<&'m Value<'a>>,
    minus3: Option<&'m Value<'a>>,
}

fn interpret(map: &Map<'_>, strictness: Strictness) -> Result<(Algorithm, KeyParams)> {
    let mut labels = Labels::default();
    for (label, value) in map.iter() {
        let label = match label {
            Value::Integer(n) => i64::try_from(*n).map_err(|_| CoseKeyError::LabelNotInteger)?,
            _ => return Err(CoseKeyError::LabelNotInteger.into()),
        };
        let slot = match label {
            KTY => &mut labels.kty,
            ALG => &mut labels.alg,
            -1 => &mut labels.minus1,
            -2 => &mut labels.minus2,
            -3 => &mut labels.minus3,
            other => return Err(CoseKeyError::UnexpectedParameter(other).into()),
        };
        *slot = Some(value);
    }

    let kty = integer(labels.kty, "kty")?;
    let key_type = KeyType::from_cose(kty).ok_or(CoseKeyError::UnsupportedKeyType(kty))?;
    let alg = integer(labels.alg, "alg")?;
    let algorithm = Algorithm::from_cose(alg).ok_or(Error::UnsupportedAlgorithm(alg))?;
    if algorithm.key_type() != key_type {
        return Err(CoseKeyError::AlgorithmMismatch("kty").into());
    }

    let params = match key_type {
        KeyType::Ec2 => {
            let curve = curve(labels.minus1, algorithm)?;
            let x = sized_bytes(labels.minus2, "x", curve.coordinate_len())?;
            if matches!(labels.minus3, Some(Value::Bool(_))) {
                return Err(CoseKeyError::CompressedPoint.into());
            }
            let y = sized_bytes(labels.minus3, "y", curve.coordinate_len())?;
            KeyParams::Ec2 { curve, x, y }
        }
        KeyType::Okp => {
            absent(labels.minus3, -3)?;
            let curve = curve(labels.minus1, algorithm)?;
            let x = sized_bytes(labels.minus2, "x", curve.coordinate_len())?;
            KeyParams::Okp { curve, x }
        }
        KeyType::Rsa => {
            absent(labels.minus3, -3)?;
            let n = bytes(labels.minus1, "n")?;
            let e = bytes(labels.minus2, "e")?;
            check_rsa(n, e, strictness)?;
            KeyParams::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            }
        }
        KeyType::Akp => {
            // -2 would be the private key: never acceptable in a public key.
            absent(labels.minus2, -2)?;
            absent(labels.minus3, -3)?;
            let len = algorithm.ml_dsa_public_key_len().unwrap_or_default();
            KeyParams::Akp {
                public: sized_bytes(labels.minus1, "pub", len)?,
            }
        }
    };
    Ok((algorithm, params))
}

fn absent(value: Option<&Value<'_>>, label: i64) -> Result<()> {
    match value {
        Some(_) => Err(CoseKeyError::UnexpectedParameter(label).into()),
        None => Ok(()),
    }
}

fn integer(value: Option<&Value<'_>>, param: &'static str) -> Result<i64> {
    let value = value.ok_or(CoseKeyError::MissingParameter(param))?;
    value.as_i64().ok_or_else(|| {
        CoseKeyError::WrongType {
            param,
            expected: "an integer",
        }
        .into()
    })
}

fn bytes<'a>(value: Option<&Value<'a>>, param: &'static str) -> Result<&'a [u8]> {
    let value = value.ok_or(CoseKeyError::MissingParameter(param))?;
    value.as_bytes().ok_or_else(|| {
        CoseKeyError::WrongType {
            param,
            expected: "bytes",
        }
        .into()
    })
}

fn sized_bytes(value: Option<&Value<'_>>, param: &'static str, expected: usize) -> Result<Vec<u8>> {
    let bytes = bytes(value, param)?;
    if bytes.len() != expected {
        return Err(CoseKeyError::InvalidLength {
            param,
            len: bytes.len(),
            expected,
        }
        .into());
    }
    Ok(bytes.to_vec())
}

fn curve(value: Option<&Value<'_>>, algorithm: Algorithm) -> Result<Curve> {
    let crv = integer(value, "crv")?;
    let curve = Curve::from_cose(crv).ok_or(CoseKeyError::UnsupportedCurve(crv))?;
    if !algorithm.allows_curve(curve) {
        return Err(CoseKeyError::AlgorithmMismatch("crv").into());
    }
    Ok(curve)
}

fn check_rsa(n: &[u8], e: &[u8], strictness: Strictness) -> Result<()> {
    // Some encoders write the modulus as a signed big-endian integer, with a 0x00 sign
    // byte; strict mode refuses that, relaxed mode measures the size without it.
    let significant = match strictness {
        Strictness::Canonical => n,
        Strictness::Relaxed => {
            let zeros = n.iter().take_while(|&&b| b == 0).count();
            n.get(zeros..).unwrap_or_default()
        }
    };
    let Some(&first) = significant.first() else {
        return Err(CoseKeyError::RsaModulusTooSmall {
            bits: 0,
            min: RSA_MIN_BITS,
        }
        .into());
    };
    if first == 0 {
        return Err(CoseKeyError::RsaModulusLeadingZero.into());
    }
    let bits = significant
        .len()
        .saturating_mul(8)
        .saturating_sub(first.leading_zeros() as usize);
    if bits < RSA_MIN_BITS {
        return Err(CoseKeyError::RsaModulusTooSmall {
            bits,
            min: RSA_MIN_BITS,
        }
        .into());
    }
    if bits > RSA_MAX_BITS {
        return Err(CoseKeyError::RsaModulusTooLarge {
            bits,
            max: RSA_MAX_BITS,
        }
        .into());
    }
    // 2^33 - 1 fits in five bytes; a leading zero byte is a non-minimal encoding.
    if e.is_empty() || e.len() > 5 || e.first() == Some(&0) {
        return Err(CoseKeyError::InvalidRsaExponent.into());
    }
    let exponent = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if exponent < 3 || exponent % 2 == 0 || exponent > (1 << 33) - 1 {
        return Err(CoseKeyError::InvalidRsaExponent.into());
    }
    Ok(())
}
