//! Key fingerprints: one value per public key, however its COSE_Key is encoded (P20).

use std::fmt;

use latchkey_cose::{CredentialPublicKey, KeyParams, ParseOptions};
use sha2::{Digest, Sha256};

/// The SHA-256 of a public key's material in one canonical form, so that a key revoked
/// as compromised is recognised when it comes back re-encoded (another map order, an
/// `alg` of the same key type, leading zero bytes in an RSA modulus or exponent).
///
/// Stores index revoked keys by it, store-wide, so that no account registers one again.
///
/// The canonical form is a domain tag, the key type and, each with a 4-byte big-endian
/// length: the curve's COSE id and the coordinates (EC2: `x`, `y`; OKP: `x`), the RSA `n`
/// and `e` without leading zero bytes, or the ML-DSA public key. The key is parsed with
/// [`ParseOptions::RELAXED`], so that map order and padding do not matter. A byte string
/// that is not a COSE_Key even then is fingerprinted as raw bytes under another tag: it
/// can only match itself.
///
/// ```
/// use latchkey_policy::KeyFingerprint;
///
/// let a = KeyFingerprint::of(&[0xa0]);
/// assert_eq!(a, KeyFingerprint::of(&[0xa0]));
/// assert_ne!(a, KeyFingerprint::of(&[0xa1]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyFingerprint([u8; 32]);

/// Versioned, so that a future canonical form cannot collide with this one.
const DOMAIN: &[u8] = b"latchkey key fingerprint v1";

impl KeyFingerprint {
    /// The fingerprint of a COSE_Key (as a credential record keeps it).
    #[must_use]
    pub fn of(cose_key: &[u8]) -> Self {
        let mut hash = Sha256::new();
        hash.update(DOMAIN);
        // Relaxed: a key in any map order, or an RSA modulus with a leading zero byte, is
        // still the key (the facade's strict parser never lets one in; a caller of the
        // store might).
        let parsed = CredentialPublicKey::from_cose_with(cose_key, &ParseOptions::RELAXED);
        if !parsed.is_ok_and(|key| canonical(&mut hash, key.params())) {
            hash.update([0]);
            field(&mut hash, cose_key);
        }
        Self(hash.finalize().into())
    }

    /// The 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFingerprint(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

/// Feeds the canonical form of `params`; false (nothing fed) for a key type added to
/// `latchkey-cose` after this function, which is then fingerprinted by its bytes.
fn canonical(hash: &mut Sha256, params: &KeyParams) -> bool {
    let unpadded =
        |bytes: &[u8]| -> Vec<u8> { bytes.iter().copied().skip_while(|b| *b == 0).collect() };
    match params {
        KeyParams::Ec2 { curve, x, y } => {
            hash.update([2]);
            field(hash, &curve.cose().to_be_bytes());
            field(hash, x);
            field(hash, y);
        }
        KeyParams::Okp { curve, x } => {
            hash.update([1]);
            field(hash, &curve.cose().to_be_bytes());
            field(hash, x);
        }
        KeyParams::Rsa { n, e } => {
            hash.update([3]);
            field(hash, &unpadded(n));
            field(hash, &unpadded(e));
        }
        KeyParams::Akp { public } => {
            hash.update([7]);
            field(hash, public);
        }
        _ => return false,
    }
    true
}

/// A length-prefixed field, so that no two different keys hash the same byte stream.
fn field(hash: &mut Sha256, bytes: &[u8]) {
    // COSE keys are capped far below 4 GiB by the parser; saturate rather than wrap.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    hash.update(len.to_be_bytes());
    hash.update(bytes);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use latchkey_cose::Algorithm;
    use latchkey_testkit::authenticator::SoftKey;

    use super::*;

    /// The fingerprint of key parameters `CredentialPublicKey::new` may refuse (padding,
    /// mismatched coordinates) but a peer's encoder might send.
    fn of_params(params: &KeyParams) -> KeyFingerprint {
        let mut hash = Sha256::new();
        hash.update(DOMAIN);
        assert!(canonical(&mut hash, params));
        KeyFingerprint(hash.finalize().into())
    }

    #[test]
    fn an_ec2_key_re_encoded_keeps_its_fingerprint() -> Result<(), latchkey_cose::Error> {
        let key = SoftKey::es256([0x91; 32]).public_key();
        let reencoded = CredentialPublicKey::new(Algorithm::Esp256, key.params().clone())?;
        assert_ne!(key.as_cose_bytes(), reencoded.as_cose_bytes());
        assert_eq!(
            KeyFingerprint::of(key.as_cose_bytes()),
            KeyFingerprint::of(reencoded.as_cose_bytes())
        );
        let other = SoftKey::es256([0x92; 32]).public_key();
        assert_ne!(
            KeyFingerprint::of(key.as_cose_bytes()),
            KeyFingerprint::of(other.as_cose_bytes())
        );
        Ok(())
    }

    #[test]
    fn an_rsa_key_with_leading_zero_bytes_keeps_its_fingerprint() {
        let key = SoftKey::rs256().public_key();
        let KeyParams::Rsa { n, e } = key.params().clone() else {
            panic!("rs256 gives an RSA key");
        };
        let padded = |bytes: &[u8]| [&[0u8][..], bytes].concat();
        let fingerprint = |n: Vec<u8>, e: Vec<u8>| of_params(&KeyParams::Rsa { n, e });
        let plain = KeyFingerprint::of(key.as_cose_bytes());
        assert_eq!(plain, fingerprint(n.clone(), e.clone()));
        assert_eq!(plain, fingerprint(padded(&n), padded(&e)));
    }

    #[test]
    fn bytes_that_are_no_key_match_only_themselves() {
        let key = SoftKey::es256([0x91; 32]).public_key();
        let bytes = key.as_cose_bytes();
        let truncated = &bytes[..bytes.len() - 1];
        assert_eq!(KeyFingerprint::of(truncated), KeyFingerprint::of(truncated));
        assert_ne!(KeyFingerprint::of(truncated), KeyFingerprint::of(bytes));
        assert_ne!(KeyFingerprint::of(&[]), KeyFingerprint::of(&[0]));
    }

    #[test]
    fn the_same_coordinates_on_another_curve_or_type_differ() {
        let KeyParams::Ec2 { x, .. } = SoftKey::es256([0x91; 32]).public_key().params().clone()
        else {
            panic!("es256 gives an EC2 key");
        };
        let okp = of_params(&KeyParams::Okp {
            curve: latchkey_cose::Curve::Ed25519,
            x: x.clone(),
        });
        let akp = of_params(&KeyParams::Akp { public: x });
        assert_ne!(okp, akp);
    }
}
