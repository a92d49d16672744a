//! Attestation certificate key identifiers, as FIDO metadata lists U2F and other
//! authenticators without an AAGUID (MDS3 `attestationCertificateKeyIdentifiers`): SHA-1
//! of the value of the certificate's subjectPublicKey BIT STRING, without tag, length or
//! unused-bits count (RFC 5280 §4.2.1.2, method 1).

use der::Decode as _;
use sha1::{Digest as _, Sha1};
use x509_cert::Certificate;

/// The key identifier of a DER certificate; `None` when it does not parse (a chain that
/// verified always does).
pub(crate) fn of_certificate(der: &[u8]) -> Option<[u8; 20]> {
    let certificate = Certificate::from_der(der).ok()?;
    let key = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()?;
    Some(Sha1::digest(key).into())
}
