//! The `aws-lc` backend: ECDSA and RSA verification in AWS-LC. Keys are validated by the
//! RustCrypto types first (on-curve points, RSA sizes), so both backends accept exactly
//! the same keys; AWS-LC only does the arithmetic. Ed25519 stays on ed25519-dalek
//! (`verify_strict`), which is as fast here and stricter than AWS-LC's Ed25519.

use std::fmt;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use latchkey_cose::Algorithm;

use crate::signature::{Material, with_joined};

/// A public key parsed into AWS-LC once.
#[derive(Clone)]
pub(crate) struct Accelerated(ParsedPublicKey);

impl fmt::Debug for Accelerated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Accelerated(aws-lc)")
    }
}

impl Accelerated {
    /// The AWS-LC form of a validated key, or `None` where AWS-LC has no such algorithm.
    pub(crate) fn new(algorithm: Algorithm, material: &Material) -> Option<Self> {
        use Algorithm as A;
        let (verification, bytes): (&'static dyn VerificationAlgorithm, Vec<u8>) =
            match (algorithm, material) {
                (A::Es256 | A::Esp256, Material::P256(key)) => (
                    &signature::ECDSA_P256_SHA256_ASN1,
                    key.to_sec1_point(false).as_bytes().to_vec(),
                ),
                (A::Es384 | A::Esp384, Material::P384(key)) => (
                    &signature::ECDSA_P384_SHA384_ASN1,
                    key.to_sec1_point(false).as_bytes().to_vec(),
                ),
                (A::Es512 | A::Esp512, Material::P521(key)) => (
                    &signature::ECDSA_P521_SHA512_ASN1,
                    key.to_sec1_point(false).as_bytes().to_vec(),
                ),
                (rsa_alg, Material::Rsa(key)) => {
                    use rsa::pkcs1::EncodeRsaPublicKey as _;
                    let verification: &'static dyn VerificationAlgorithm = match rsa_alg {
                        A::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                        A::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                        A::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                        A::Rs1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                        A::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                        A::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                        A::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                        _ => return None,
                    };
                    (verification, key.to_pkcs1_der().ok()?.as_bytes().to_vec())
                }
                _ => return None,
            };
        ParsedPublicKey::new(verification, bytes).ok().map(Self)
    }

    /// Verifies `signature` over the joined message.
    pub(crate) fn verify(&self, message: &[&[u8]], signature: &[u8]) -> bool {
        with_joined(message, |joined| {
            self.0.verify_sig(joined, signature).is_ok()
        })
    }
}
