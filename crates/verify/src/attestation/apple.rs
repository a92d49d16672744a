//! `apple` (WebAuthn §8.8): Apple's anonymous attestation.

use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Reader as _, SliceReader, TagNumber};
use sha2::{Digest as _, Sha256};

use super::{AttestationType, Input, Verified, statement};
use crate::certificate::parse_chain;
use crate::error::{Error, Result};

/// The nonce extension of the credential certificate.
const APPLE_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113635.100.8.2");

/// ```cddl
/// appleStmtFormat = (
///     fmt: "apple",
///     attStmt: appleStmtFormat
/// )
///
/// appleStmtFormat = {
///     x5c: [ credCert: bytes, * (caCert: bytes) ]
/// }
/// ```
pub(super) fn verify(input: &Input<'_, '_>) -> Result<Verified> {
    // Early Apple devices also sent `alg` (-7); the format's CDDL does not use it.
    let map = statement(input.object, &["x5c", "alg"])?;
    let x5c = map
        .text_key("x5c")
        .and_then(|v| v.as_array())
        .ok_or(Error::AttestationInvalid("x5c"))?;
    let chain = parse_chain(x5c)?;
    let credential_certificate = chain
        .first()
        .ok_or(Error::AttestationInvalid("x5c is empty"))?;

    // nonce = SHA-256(authenticatorData || clientDataHash), in the certificate.
    let mut hasher = Sha256::new();
    hasher.update(input.object.auth_data().as_bytes());
    hasher.update(input.client_data_hash);
    let expected = hasher.finalize();
    let (_, value) = credential_certificate
        .extension(APPLE_NONCE)?
        .ok_or(Error::AttestationInvalid("apple nonce extension missing"))?;
    if nonce(value)? != expected.as_slice() {
        return Err(Error::AttestationInvalid("apple nonce does not match"));
    }

    // The certificate's key is the credential's.
    let certificate_key = credential_certificate.key_material()?;
    if !certificate_key.same_key(input.credential_key.material()) {
        return Err(Error::AttestationInvalid(
            "apple certificate key is not the credential key",
        ));
    }
    Ok(Verified {
        attestation_type: AttestationType::AnonymizationCa,
        chain,
    })
}

/// The extension value: `SEQUENCE { [1] EXPLICIT OCTET STRING }`, strict DER, nothing
/// after it. Never "the last 32 bytes".
fn nonce(value: &[u8]) -> Result<Vec<u8>> {
    let malformed =
        |_| Error::AttestationInvalid("apple nonce extension is not SEQUENCE { [1] OCTET STRING }");
    let mut reader = SliceReader::new(value).map_err(malformed)?;
    let nonce = reader
        .sequence(|inner| {
            let field = ContextSpecific::<OctetString>::decode_explicit(inner, TagNumber(1))?
                .ok_or_else(|| {
                    der::Tag::ContextSpecific {
                        constructed: true,
                        number: TagNumber(1),
                    }
                    .value_error()
                })?;
            Ok(field.value.as_bytes().to_vec())
        })
        .map_err(malformed)?;
    reader.finish().map_err(malformed)?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::nonce;
    use latchkey_testkit::hex;

    #[test]
    fn nonce_extension_is_parsed_as_der_never_sliced() {
        // C.104: the wrapped form is read; a bare OCTET STRING, a wrong tag, trailing bytes
        // and a truncated value are refused.
        let nonce_bytes = "ab".repeat(32);
        let wrapped = hex::decode(&format!("30 24 a1 22 04 20 {nonce_bytes}"));
        assert_eq!(nonce(&wrapped).ok(), Some(hex::decode(&nonce_bytes)));
        for bad in [
            format!("04 20 {nonce_bytes}"), // raw OCTET STRING, no wrapper
            format!("30 24 a2 22 04 20 {nonce_bytes}"), // [2] instead of [1]
            format!("30 24 a1 22 04 20 {nonce_bytes} 00"), // trailing byte
            format!("30 24 a1 22 04 20 {}", "ab".repeat(31)), // truncated
        ] {
            assert!(nonce(&hex::decode(&bad)).is_err(), "{bad}");
        }
    }
}
