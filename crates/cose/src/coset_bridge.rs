//! The bridge to [`coset::CoseKey`] (feature `coset`), for services and authenticators
//! that hold keys as coset values (1Password's passkey-rs does).
//!
//! Both directions go through the COSE bytes, so a key crosses the bridge only if
//! [`CredentialPublicKey::from_cose`] would accept its encoding: whatever the strict
//! parser refuses (`kid`, `key_ops`, text labels, a compressed point, mismatched `crv`,
//! a short RSA modulus, ...) is refused here too.

use coset::{CborOrdering, CborSerializable as _, CoseKey};

use crate::error::{CoseKeyError, Error};
use crate::key::CredentialPublicKey;

impl TryFrom<&CoseKey> for CredentialPublicKey {
    type Error = Error;

    /// Converts a coset key, as [`CredentialPublicKey::from_cose`] reads its encoding.
    ///
    /// A `CoseKey` is a value, not bytes, so the order of its parameters is not
    /// meaningful: it is encoded in CTAP2 canonical order first. Every other rule of the
    /// strict parser applies, duplicate parameters included.
    ///
    /// ```
    /// use coset::iana;
    /// use latchkey_cose::{Algorithm, CredentialPublicKey};
    ///
    /// let x = vec![0x5a; 32]; // an Ed25519 public key's bytes (not checked here)
    /// let coset_key = coset::CoseKeyBuilder::new_okp_key()
    ///     .algorithm(iana::Algorithm::EdDSA)
    ///     .param(iana::OkpKeyParameter::Crv as i64, coset::cbor::Value::from(iana::EllipticCurve::Ed25519 as i64))
    ///     .param(iana::OkpKeyParameter::X as i64, coset::cbor::Value::Bytes(x))
    ///     .build();
    /// let key = CredentialPublicKey::try_from(&coset_key)?;
    /// assert_eq!(key.algorithm(), Algorithm::EdDsa);
    /// assert_eq!(key.to_coset()?, coset_key);
    ///
    /// // A key id is not allowed in a WebAuthn credential key (§6.5.1).
    /// let with_kid = coset::CoseKeyBuilder::new_okp_key().key_id(vec![1]).build();
    /// assert!(CredentialPublicKey::try_from(&with_kid).is_err());
    /// # Ok::<(), latchkey_cose::Error>(())
    /// ```
    fn try_from(key: &CoseKey) -> Result<Self, Self::Error> {
        let mut key = key.clone();
        key.canonicalize(CborOrdering::LengthFirstLexicographic);
        let bytes = key
            .to_vec()
            .map_err(|_| CoseKeyError::Coset("the key does not encode as CBOR"))?;
        Self::from_cose(&bytes)
    }
}

impl CredentialPublicKey {
    /// This key as a [`coset::CoseKey`] (feature `coset`), read from its COSE bytes.
    ///
    /// # Errors
    ///
    /// [`CoseKeyError::Coset`] if coset cannot read the key: it refuses integer values
    /// it does not find in its copy of the IANA registries, so a newer algorithm than
    /// coset knows would land here. Every algorithm of [`crate::Algorithm::ALL`] reads.
    pub fn to_coset(&self) -> Result<CoseKey, Error> {
        CoseKey::from_slice(self.as_cose_bytes())
            .map_err(|_| Error::from(CoseKeyError::Coset("coset cannot read the key")))
    }
}
