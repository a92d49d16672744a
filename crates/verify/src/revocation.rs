//! Certificate revocation lists (RFC 5280 §5) for the FIDO metadata BLOB's chain (FIDO
//! MDS3 §3.2: "verify the certificate chain ... including revocation"). No I/O: the
//! service fetches the CRLs along with the BLOB and hands them in.

use std::time::{Duration, SystemTime};

use der::{Decode as _, Encode as _};
use x509_cert::crl::CertificateList;
use x509_cert::ext::Extensions;

use crate::certificate::{Cert, signature_algorithms_agree, signed_by};
use crate::error::{Error, Result};
use crate::signature::Material;

/// Largest CRL accepted, in bytes.
pub const MAX_CRL_LEN: usize = 512 * 1024;

/// Most CRLs accepted for one verification.
pub const MAX_CRLS: usize = 8;

/// A parsed CRL. Its issuer, signature and dates are checked against the chain it is
/// used for, when it is used.
///
/// ```text
/// CertificateList ::= SEQUENCE { tbsCertList TBSCertList,
///     signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
/// TBSCertList ::= SEQUENCE { version Version OPTIONAL, signature AlgorithmIdentifier,
///     issuer Name, thisUpdate Time, nextUpdate Time OPTIONAL,
///     revokedCertificates SEQUENCE OF SEQUENCE { userCertificate CertificateSerialNumber,
///         revocationDate Time, crlEntryExtensions Extensions OPTIONAL } OPTIONAL,
///     crlExtensions [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug)]
pub struct RevocationList {
    list: CertificateList,
    /// The DER of tbsCertList, what the signature covers (encoded once, at parsing).
    signed_part: Vec<u8>,
}

impl RevocationList {
    /// Parses a DER CRL.
    ///
    /// # Errors
    ///
    /// [`Error::Limit`] past [`MAX_CRL_LEN`]; [`Error::MetadataMalformed`] for bytes that
    /// are not one DER CRL, an inner signature algorithm that differs from the outer one,
    /// or a critical extension this library does not process (delta CRLs, partitioned or
    /// indirect CRLs: judging them as complete lists would be wrong).
    pub fn parse(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_CRL_LEN {
            return Err(Error::Limit("CRL larger than MAX_CRL_LEN"));
        }
        let list = CertificateList::from_der(der)
            .map_err(|_| Error::MetadataMalformed("CRL is not a DER X.509 CRL"))?;
        let tbs = &list.tbs_cert_list;
        if !signature_algorithms_agree(&tbs.signature, &list.signature_algorithm) {
            return Err(Error::MetadataMalformed(
                "CRL signature algorithms differ inside and outside",
            ));
        }
        let entry_extensions = tbs
            .revoked_certificates
            .iter()
            .flatten()
            .filter_map(|entry| entry.crl_entry_extensions.as_ref());
        if std::iter::once(&tbs.crl_extensions)
            .flatten()
            .chain(entry_extensions)
            .any(has_critical)
        {
            return Err(Error::MetadataMalformed(
                "CRL has a critical extension latchkey does not process",
            ));
        }
        let signed_part = tbs
            .to_der()
            .map_err(|_| Error::MetadataMalformed("CRL is not a DER X.509 CRL"))?;
        Ok(Self { list, signed_part })
    }

    /// Whether `issuer`, whose key is `issuer_key`, issued and signed this list.
    fn issued_by(&self, issuer: &Cert, issuer_key: &Material) -> bool {
        let Some(signature) = self.list.signature.as_bytes() else {
            return false;
        };
        crate::name::names_match(&self.list.tbs_cert_list.issuer, issuer.subject())
            && signed_by(
                self.list.signature_algorithm.oid,
                &self.signed_part,
                signature,
                issuer_key,
                false,
            )
    }

    /// Whether `now` lies within thisUpdate..=nextUpdate; a list without nextUpdate is
    /// never current (one cannot tell when it went stale).
    fn current_at(&self, now: SystemTime) -> bool {
        let tbs = &self.list.tbs_cert_list;
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        tbs.next_update.is_some_and(|next| {
            tbs.this_update.to_unix_duration() <= now && now <= next.to_unix_duration()
        })
    }

    /// Whether the list revokes `cert`.
    fn revokes(&self, cert: &Cert) -> bool {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .any(|entry| entry.serial_number == *cert.serial())
    }
}

fn has_critical(extensions: &Extensions) -> bool {
    extensions.iter().any(|extension| extension.critical)
}

/// Checks that no certificate of `chain` (leaf first, under `anchor`) is revoked. Each
/// one needs a current CRL from its issuer; the anchor itself needs none.
pub(crate) fn check_not_revoked(
    chain: &[Cert],
    anchor: &Cert,
    lists: &[RevocationList],
    now: SystemTime,
) -> std::result::Result<(), &'static str> {
    let issuers = chain.iter().skip(1).chain(std::iter::once(anchor));
    for (cert, issuer) in chain.iter().zip(issuers) {
        if cert.der() == anchor.der() {
            continue;
        }
        // An issuer whose key may not sign CRLs vouches for nothing.
        let key = issuer
            .may_sign_crls()
            .then(|| issuer.key_material().ok())
            .flatten();
        let mut current = lists
            .iter()
            .filter(|list| list.current_at(now))
            .filter(|list| key.as_ref().is_some_and(|key| list.issued_by(issuer, key)))
            .peekable();
        if current.peek().is_none() {
            return Err("no current CRL from the issuer of a chain certificate");
        }
        if current.any(|list| list.revokes(cert)) {
            return Err("a chain certificate is revoked");
        }
    }
    Ok(())
}
