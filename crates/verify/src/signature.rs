//! Signature verification: verifying keys parsed once, schemes bound to algorithms.
//!
//! The hash always comes from the algorithm (COSE `alg` or the certificate's signature
//! algorithm), never from the signature. Messages are given in parts and hashed
//! incrementally, so `authData || SHA-256(clientDataJSON)` is never concatenated for
//! ECDSA and RSA.

use ecdsa::signature::hazmat::PrehashVerifier as _;
use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams, ParseOptions};
use rsa::BoxedUint;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::p256_table;

/// A public key ready to verify signatures of one algorithm.
///
/// Built once from a credential public key (at registration, or when a stored key is
/// loaded) with every validity check done up front: EC points on their curve, Ed25519
/// keys canonical and not of small order, RSA moduli of 2048-8192 bits.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    algorithm: Algorithm,
    material: Material,
    /// The same key inside AWS-LC, when the `aws-lc` feature is on and AWS-LC has the
    /// algorithm; validation always happens in `material`.
    #[cfg(feature = "aws-lc")]
    accelerated: Option<crate::aws::Accelerated>,
    /// For ES256 keys: the use count and, from the second use, the precomputed table of
    /// the fast path (shared by clones, so a cached key warms once).
    es256: Option<Arc<p256_table::Warm>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Material {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    #[cfg(feature = "ed448")]
    Ed448(Box<ed448_goldilocks::VerifyingKey>),
    Rsa(rsa::PublicKey),
    MlDsa44(Box<ml_dsa::VerifyingKey<ml_dsa::MlDsa44>>),
    MlDsa65(Box<ml_dsa::VerifyingKey<ml_dsa::MlDsa65>>),
    MlDsa87(Box<ml_dsa::VerifyingKey<ml_dsa::MlDsa87>>),
}

impl Material {
    /// Whether two keys are the same public key (an attestation certificate's and the
    /// credential's, for formats that bind them).
    pub(crate) fn same_key(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::P256(a), Self::P256(b)) => a == b,
            (Self::P384(a), Self::P384(b)) => a == b,
            (Self::P521(a), Self::P521(b)) => a.to_sec1_point(false) == b.to_sec1_point(false),
            (Self::Ed25519(a), Self::Ed25519(b)) => a == b,
            #[cfg(feature = "ed448")]
            (Self::Ed448(a), Self::Ed448(b)) => a.as_bytes() == b.as_bytes(),
            (Self::Rsa(a), Self::Rsa(b)) => a == b,
            (Self::MlDsa44(a), Self::MlDsa44(b)) => a.encode() == b.encode(),
            (Self::MlDsa65(a), Self::MlDsa65(b)) => a.encode() == b.encode(),
            (Self::MlDsa87(a), Self::MlDsa87(b)) => a.encode() == b.encode(),
            _ => false,
        }
    }
}

/// Hash functions the schemes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// A signature scheme: how to check a signature with key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// ECDSA over a prehash, DER-encoded signature (WebAuthn §6.5.5).
    Ecdsa(Hash),
    /// Ed25519 with `verify_strict`.
    Ed25519,
    /// Ed448 (RFC 8032 pure, empty context), cofactorless equation, canonical S.
    #[cfg(feature = "ed448")]
    Ed448,
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with a salt as long as the hash (RFC 8230).
    RsaPss(Hash),
    /// ML-DSA (FIPS 204), pure, with an empty context.
    MlDsa,
}

/// Options that widen what verifies. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureOptions {
    /// Accept RS1 (RSASSA-PKCS1-v1_5 with SHA-1, COSE -65535): needed for some TPMs and
    /// old Windows Hello credentials. SHA-1 is broken for collision resistance.
    pub allow_rs1: bool,
}

impl VerifyingKey {
    /// Builds a verifying key from a credential public key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKey`] for a point not on its curve, a weak or non-canonical
    /// Ed25519 key or an unusable RSA key; [`Error::UnsupportedAlgorithm`] for algorithms
    /// this version does not verify.
    pub fn from_credential_key(key: &CredentialPublicKey) -> Result<Self> {
        let algorithm = key.algorithm();
        let material = match key.params() {
            KeyParams::Ec2 { curve, x, y } => {
                let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
                sec1.push(0x04);
                sec1.extend_from_slice(x);
                sec1.extend_from_slice(y);
                ec_material(*curve, &sec1)?
            }
            KeyParams::Okp {
                curve: Curve::Ed25519,
                x,
            } => ed25519_material(x)?,
            #[cfg(feature = "ed448")]
            KeyParams::Okp {
                curve: Curve::Ed448,
                x,
            } => ed448_material(x)?,
            KeyParams::Rsa { n, e } => rsa_material(n, e)?,
            KeyParams::Akp { public } => ml_dsa_material(algorithm, public)?,
            _ => return Err(Error::UnsupportedAlgorithm(algorithm.cose())),
        };
        scheme_for(algorithm)?;
        Ok(Self::assemble(algorithm, material))
    }

    fn assemble(algorithm: Algorithm, material: Material) -> Self {
        let es256 = matches!(
            (algorithm, &material),
            (Algorithm::Es256 | Algorithm::Esp256, Material::P256(_))
        )
        .then(Arc::default);
        Self {
            #[cfg(feature = "aws-lc")]
            accelerated: crate::aws::Accelerated::new(algorithm, &material),
            algorithm,
            material,
            es256,
        }
    }

    /// The heap bytes this key may add after it is built: an ES256 key's precomputed
    /// table, made at its second use on the pure-Rust backend (about 10 KB); 0 for every
    /// other key, and with the `aws-lc` backend, which keeps no table. A cache with a
    /// memory budget charges them up front.
    #[must_use]
    pub fn precomputed_bytes(&self) -> usize {
        #[cfg(feature = "aws-lc")]
        if self.accelerated.is_some() {
            return 0;
        }
        if self.es256.is_some() {
            p256_table::KEY_TABLE_BYTES
        } else {
            0
        }
    }

    /// Parses a stored COSE_Key and builds its verifying key.
    ///
    /// # Errors
    ///
    /// As [`from_credential_key`](Self::from_credential_key), plus the COSE parse errors.
    pub fn from_cose(bytes: &[u8]) -> Result<Self> {
        Self::from_cose_with(bytes, &ParseOptions::STRICT)
    }

    /// Parses a stored COSE_Key with the given CBOR options and builds its verifying key.
    ///
    /// # Errors
    ///
    /// As [`from_cose`](Self::from_cose).
    pub fn from_cose_with(bytes: &[u8], options: &ParseOptions) -> Result<Self> {
        Self::from_credential_key(&CredentialPublicKey::from_cose_with(bytes, options)?)
    }

    pub(crate) fn from_parts(algorithm: Algorithm, material: Material) -> Result<Self> {
        let key = Self::assemble(algorithm, material);
        if !key.algorithm_fits_key() {
            return Err(Error::AttestationInvalid(
                "key does not fit the statement's algorithm",
            ));
        }
        Ok(key)
    }

    pub(crate) fn material(&self) -> &Material {
        &self.material
    }

    /// The algorithm this key verifies.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether the key material is of the algorithm's kind (a P-256 key for ES256...).
    fn algorithm_fits_key(&self) -> bool {
        use Algorithm as A;
        #[cfg(feature = "ed448")]
        if let (A::Ed448, Material::Ed448(_)) = (self.algorithm, &self.material) {
            return true;
        }
        matches!(
            (self.algorithm, &self.material),
            (A::Es256 | A::Esp256, Material::P256(_))
                | (A::Es384 | A::Esp384, Material::P384(_))
                | (A::Es512 | A::Esp512, Material::P521(_))
                | (A::EdDsa | A::Ed25519, Material::Ed25519(_))
                | (
                    A::Rs256 | A::Rs384 | A::Rs512 | A::Rs1 | A::Ps256 | A::Ps384 | A::Ps512,
                    Material::Rsa(_)
                )
                | (A::MlDsa44, Material::MlDsa44(_))
                | (A::MlDsa65, Material::MlDsa65(_))
                | (A::MlDsa87, Material::MlDsa87(_))
        )
    }

    /// Verifies `signature` over the concatenation of `message` parts.
    ///
    /// # Errors
    ///
    /// [`Error::SignatureInvalid`]; [`Error::UnsupportedAlgorithm`] for RS1 unless
    /// allowed.
    pub fn verify(
        &self,
        message: &[&[u8]],
        signature: &[u8],
        options: &SignatureOptions,
    ) -> Result<()> {
        if self.algorithm == Algorithm::Rs1 && !options.allow_rs1 {
            return Err(Error::UnsupportedAlgorithm(self.algorithm.cose()));
        }
        #[cfg(feature = "aws-lc")]
        if let Some(accelerated) = &self.accelerated {
            return if accelerated.verify(message, signature) {
                Ok(())
            } else {
                Err(Error::SignatureInvalid)
            };
        }
        if let (Some(warm), Material::P256(key)) = (&self.es256, &self.material)
            && let Some(table) = warm.table(key)
        {
            let mut digest = [0u8; 32];
            digest.copy_from_slice(hash(Hash::Sha256, message).as_slice());
            let valid = p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| p256_table::verify_prehashed(table, &digest, &sig));
            return if valid {
                Ok(())
            } else {
                Err(Error::SignatureInvalid)
            };
        }
        verify_scheme(
            &self.material,
            scheme_for(self.algorithm)?,
            message,
            signature,
        )
    }
}

/// The scheme of a COSE algorithm (fail closed for the rest).
fn scheme_for(algorithm: Algorithm) -> Result<Scheme> {
    use Algorithm as A;
    Ok(match algorithm {
        A::Es256 | A::Esp256 => Scheme::Ecdsa(Hash::Sha256),
        A::Es384 | A::Esp384 => Scheme::Ecdsa(Hash::Sha384),
        A::Es512 | A::Esp512 => Scheme::Ecdsa(Hash::Sha512),
        A::EdDsa | A::Ed25519 => Scheme::Ed25519,
        #[cfg(feature = "ed448")]
        A::Ed448 => Scheme::Ed448,
        A::Rs256 => Scheme::RsaPkcs1(Hash::Sha256),
        A::Rs384 => Scheme::RsaPkcs1(Hash::Sha384),
        A::Rs512 => Scheme::RsaPkcs1(Hash::Sha512),
        A::Rs1 => Scheme::RsaPkcs1(Hash::Sha1),
        A::Ps256 => Scheme::RsaPss(Hash::Sha256),
        A::Ps384 => Scheme::RsaPss(Hash::Sha384),
        A::Ps512 => Scheme::RsaPss(Hash::Sha512),
        A::MlDsa44 | A::MlDsa65 | A::MlDsa87 => Scheme::MlDsa,
        other => return Err(Error::UnsupportedAlgorithm(other.cose())),
    })
}

pub(crate) fn ec_material(curve: Curve, sec1: &[u8]) -> Result<Material> {
    let invalid = |_| Error::InvalidKey("EC point not on its curve");
    Ok(match curve {
        Curve::P256 => {
            Material::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(invalid)?)
        }
        Curve::P384 => {
            Material::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(invalid)?)
        }
        Curve::P521 => {
            Material::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map_err(invalid)?)
        }
        _ => return Err(Error::InvalidKey("not an ECDSA curve")),
    })
}

pub(crate) fn ed25519_material(x: &[u8]) -> Result<Material> {
    let bytes: &[u8; 32] = x
        .try_into()
        .map_err(|_| Error::InvalidKey("Ed25519 key length"))?;
    // `from_bytes` follows ZIP-215 and accepts y >= p; WebAuthn keys must be canonical.
    if !canonical_ed25519_y(bytes) {
        return Err(Error::InvalidKey("non-canonical Ed25519 key"));
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map_err(|_| Error::InvalidKey("Ed25519 key does not decompress"))?;
    if key.is_weak() {
        return Err(Error::InvalidKey("weak Ed25519 key"));
    }
    Ok(Material::Ed25519(key))
}

/// y (the low 255 bits, little-endian) must be below p = 2^255 - 19.
fn canonical_ed25519_y(bytes: &[u8; 32]) -> bool {
    let [first, middle @ .., last] = bytes;
    let top_saturated = last & 0x7f == 0x7f && middle.iter().all(|&b| b == 0xff);
    !(top_saturated && *first >= 0xed)
}

#[cfg(feature = "ed448")]
pub(crate) fn ed448_material(x: &[u8]) -> Result<Material> {
    let bytes: &[u8; 57] = x
        .try_into()
        .map_err(|_| Error::InvalidKey("Ed448 key length"))?;
    if !canonical_ed448(bytes) {
        return Err(Error::InvalidKey("non-canonical Ed448 key"));
    }
    // Decompression also requires a point of the prime-order subgroup, so small-order
    // (weak) keys are refused here.
    let key = ed448_goldilocks::VerifyingKey::from_bytes(bytes)
        .map_err(|_| Error::InvalidKey("Ed448 key does not decompress to a prime-order point"))?;
    Ok(Material::Ed448(Box::new(key)))
}

/// RFC 8032 §5.2.3: the last byte holds only the sign of x, and y (the first 56 bytes,
/// little-endian) is below p = 2^448 - 2^224 - 1.
#[cfg(feature = "ed448")]
fn canonical_ed448(bytes: &[u8; 57]) -> bool {
    let (y, last) = bytes.split_at(56);
    if last.first().is_none_or(|b| b & 0x7f != 0) {
        return false;
    }
    // p, little-endian: 28 bytes 0xff, one 0xfe, 27 bytes 0xff.
    let p = |i: usize| if i == 28 { 0xfe } else { 0xff };
    for (i, &b) in y.iter().enumerate().rev() {
        if b != p(i) {
            return b < p(i);
        }
    }
    false
}

/// An ML-DSA public key (FIPS 204 pkEncode), of the parameter set the algorithm names.
pub(crate) fn ml_dsa_material(algorithm: Algorithm, public: &[u8]) -> Result<Material> {
    fn decode<P: ml_dsa::MlDsaParams>(public: &[u8]) -> Result<Box<ml_dsa::VerifyingKey<P>>> {
        let encoded = ml_dsa::EncodedVerifyingKey::<P>::try_from(public)
            .map_err(|_| Error::InvalidKey("ML-DSA key length"))?;
        Ok(Box::new(ml_dsa::VerifyingKey::<P>::decode(&encoded)))
    }
    Ok(match algorithm {
        Algorithm::MlDsa44 => Material::MlDsa44(decode(public)?),
        Algorithm::MlDsa65 => Material::MlDsa65(decode(public)?),
        Algorithm::MlDsa87 => Material::MlDsa87(decode(public)?),
        other => return Err(Error::UnsupportedAlgorithm(other.cose())),
    })
}

/// Verifies a pure ML-DSA signature (empty context) over the message parts.
fn verify_ml_dsa<P: ml_dsa::MlDsaParams>(
    key: &ml_dsa::VerifyingKey<P>,
    message: &[&[u8]],
    signature: &[u8],
) -> bool {
    use ml_dsa::signature::MultipartVerifier as _;
    ml_dsa::EncodedSignature::<P>::try_from(signature)
        .ok()
        .and_then(|encoded| ml_dsa::Signature::<P>::decode(&encoded))
        .is_some_and(|signature| key.multipart_verify(message, &signature).is_ok())
}

pub(crate) fn rsa_material(n: &[u8], e: &[u8]) -> Result<Material> {
    let bits = |bytes: &[u8]| u32::try_from(bytes.len().saturating_mul(8)).unwrap_or(u32::MAX);
    let invalid = |_| Error::InvalidKey("RSA key");
    let n = BoxedUint::from_be_slice(n, bits(n)).map_err(invalid)?;
    let e = BoxedUint::from_be_slice(e, bits(e).max(64)).map_err(invalid)?;
    let key = rsa::PublicKey::new_with_size_limits(n, e, 2048..=8192)
        .map_err(|_| Error::InvalidKey("RSA key"))?;
    Ok(Material::Rsa(key))
}

/// A digest on the stack: no allocation on the verification path.
struct Digest {
    bytes: [u8; 64],
    len: usize,
}

impl Digest {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

fn digest<D: sha2::Digest>(message: &[&[u8]]) -> Digest {
    let mut hasher = D::new();
    for part in message {
        hasher.update(part);
    }
    let output = hasher.finalize();
    let mut bytes = [0u8; 64];
    let len = output.len().min(bytes.len());
    if let (Some(target), Some(source)) = (bytes.get_mut(..len), output.get(..len)) {
        target.copy_from_slice(source);
    }
    Digest { bytes, len }
}

fn hash(hash: Hash, message: &[&[u8]]) -> Digest {
    match hash {
        Hash::Sha1 => digest::<sha1::Sha1>(message),
        Hash::Sha256 => digest::<sha2::Sha256>(message),
        Hash::Sha384 => digest::<sha2::Sha384>(message),
        Hash::Sha512 => digest::<sha2::Sha512>(message),
    }
}

/// Runs `f` on the concatenated message parts, joined on the stack when they fit (an
/// assertion's authenticator data and client data hash always do): for schemes that take
/// the message itself rather than a digest.
pub(crate) fn with_joined<R>(message: &[&[u8]], f: impl FnOnce(&[u8]) -> R) -> R {
    let total: usize = message.iter().map(|part| part.len()).sum();
    let mut stack = [0u8; 1024];
    let mut heap = Vec::new();
    let joined: &mut [u8] = match stack.get_mut(..total) {
        Some(buffer) => buffer,
        None => {
            heap.resize(total, 0);
            &mut heap
        }
    };
    let mut offset = 0;
    for part in message {
        if let Some(target) = joined.get_mut(offset..offset + part.len()) {
            target.copy_from_slice(part);
        }
        offset += part.len();
    }
    f(joined)
}

/// Verifies with explicit material and scheme; every failure is the one opaque error.
pub(crate) fn verify_scheme(
    material: &Material,
    scheme: Scheme,
    message: &[&[u8]],
    signature: &[u8],
) -> Result<()> {
    let ok = match (material, scheme) {
        (Material::P256(key), Scheme::Ecdsa(h)) => p256::ecdsa::Signature::from_der(signature)
            .is_ok_and(|sig| {
                key.verify_prehash(hash(h, message).as_slice(), &sig)
                    .is_ok()
            }),
        (Material::P384(key), Scheme::Ecdsa(h)) => p384::ecdsa::Signature::from_der(signature)
            .is_ok_and(|sig| {
                key.verify_prehash(hash(h, message).as_slice(), &sig)
                    .is_ok()
            }),
        (Material::P521(key), Scheme::Ecdsa(h)) => p521::ecdsa::Signature::from_der(signature)
            .is_ok_and(|sig| {
                key.verify_prehash(hash(h, message).as_slice(), &sig)
                    .is_ok()
            }),
        (Material::Ed25519(key), Scheme::Ed25519) => {
            ed25519_dalek::Signature::from_slice(signature).is_ok_and(|sig| {
                with_joined(message, |joined| key.verify_strict(joined, &sig).is_ok())
            })
        }
        #[cfg(feature = "ed448")]
        (Material::Ed448(key), Scheme::Ed448) => ed448_goldilocks::Signature::try_from(signature)
            .is_ok_and(|sig| with_joined(message, |joined| key.verify_raw(&sig, joined).is_ok())),
        (Material::Rsa(key), Scheme::RsaPkcs1(h)) => {
            let padding = match h {
                Hash::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(padding, hash(h, message).as_slice(), signature)
                .is_ok()
        }
        (Material::Rsa(key), Scheme::RsaPss(h)) => {
            let hashed = hash(h, message);
            let hashed = hashed.as_slice();
            match h {
                Hash::Sha256 => key.verify(rsa::Pss::<sha2::Sha256>::new(), hashed, signature),
                Hash::Sha384 => key.verify(rsa::Pss::<sha2::Sha384>::new(), hashed, signature),
                Hash::Sha512 => key.verify(rsa::Pss::<sha2::Sha512>::new(), hashed, signature),
                Hash::Sha1 => Err(rsa::Error::Verification),
            }
            .is_ok()
        }
        (Material::MlDsa44(key), Scheme::MlDsa) => verify_ml_dsa(key, message, signature),
        (Material::MlDsa65(key), Scheme::MlDsa) => verify_ml_dsa(key, message, signature),
        (Material::MlDsa87(key), Scheme::MlDsa) => verify_ml_dsa(key, message, signature),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::SignatureInvalid)
    }
}
