//! Trust anchors for attestation, and certificate path validation to them.

use std::time::SystemTime;

use latchkey_cose::Aaguid;

use crate::certificate::Cert;
use crate::error::Result;

/// Root certificates the service trusts for attestation, per format and per AAGUID.
///
/// Roots are data the service supplies and renews; nothing is built in, so nothing expires
/// silently inside the library. With no anchor for a statement's format or AAGUID, an
/// `x5c` chain is reported as [`Trust::NoAnchor`], never as trusted.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    by_format: Vec<(String, Cert)>,
    by_aaguid: Vec<(Aaguid, Cert)>,
}

/// The outcome of checking an attestation's trust path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// No certificate chain to evaluate (`none`, self attestation).
    NotApplicable,
    /// The chain leads to a configured anchor, every certificate valid at the given time.
    Trusted,
    /// No anchor is configured for this format or AAGUID.
    NoAnchor,
    /// Anchors are configured but the chain does not lead to one (or a certificate is
    /// expired, not yet valid, or not a CA where it must be one).
    Untrusted(&'static str),
}

/// The attestation formats whose statements carry a certificate chain.
pub const CHAIN_FORMATS: &[&str] = &[
    "packed",
    "fido-u2f",
    "tpm",
    "android-key",
    "android-safetynet",
    "apple",
];

impl TrustAnchors {
    /// Trusts `root_der` for every format in [`CHAIN_FORMATS`].
    ///
    /// # Errors
    ///
    /// When the certificate is not DER X.509.
    pub fn add_for_every_format(&mut self, root_der: &[u8]) -> Result<()> {
        let root = Cert::parse(root_der)?;
        for fmt in CHAIN_FORMATS {
            self.by_format.push(((*fmt).to_owned(), root.clone()));
        }
        Ok(())
    }

    /// Trusts `root_der` for attestation statements of format `fmt` (`packed`, `tpm`...).
    ///
    /// # Errors
    ///
    /// When the certificate is not DER X.509.
    pub fn add_for_format(&mut self, fmt: &str, root_der: &[u8]) -> Result<()> {
        self.by_format
            .push((fmt.to_owned(), Cert::parse(root_der)?));
        Ok(())
    }

    /// Trusts `root_der` for authenticators of one model.
    ///
    /// # Errors
    ///
    /// When the certificate is not DER X.509.
    pub fn add_for_aaguid(&mut self, aaguid: Aaguid, root_der: &[u8]) -> Result<()> {
        self.by_aaguid.push((aaguid, Cert::parse(root_der)?));
        Ok(())
    }

    /// Whether no anchor is configured at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_format.is_empty() && self.by_aaguid.is_empty()
    }

    /// Validates `chain` (leaf first, as `x5c` orders it) at `now` against the anchors for
    /// `fmt` and `aaguid`.
    ///
    /// Each certificate must be signed by the next; every issuer must be a CA within its
    /// path length; the last must be signed by an anchor, or be an anchor itself.
    pub(crate) fn evaluate(
        &self,
        fmt: &str,
        aaguid: Aaguid,
        chain: &[Cert],
        now: SystemTime,
        allow_sha1: bool,
    ) -> Trust {
        let anchors: Vec<&Cert> = self
            .by_format
            .iter()
            .filter(|(f, _)| f == fmt)
            .map(|(_, c)| c)
            .chain(
                self.by_aaguid
                    .iter()
                    .filter(|(a, _)| *a == aaguid)
                    .map(|(_, c)| c),
            )
            .collect();
        if anchors.is_empty() {
            return Trust::NoAnchor;
        }
        match check_path(chain, &anchors, now, allow_sha1) {
            Ok(_) => Trust::Trusted,
            Err(reason) => Trust::Untrusted(reason),
        }
    }
}

/// Validates `chain` (leaf first) at `now` against `anchors`, as RFC 5280 §6.1 does for
/// the path chain + anchor: every certificate valid at `now`, without constraints or
/// critical extensions latchkey does not process; at every link, the child's issuer name is the
/// issuer's subject name, the issuer is a CA within its path length whose key may sign
/// certificates, and its key signed the child. Shared with the metadata BLOB's own chain,
/// whose revocation check needs the anchor the chain reached: it is returned.
pub(crate) fn check_path<'a>(
    chain: &[Cert],
    anchors: &[&'a Cert],
    now: SystemTime,
    allow_sha1: bool,
) -> Result<&'a Cert, &'static str> {
    let Some(last) = chain.last() else {
        return Err("empty chain");
    };
    if chain.iter().any(|c| !c.valid_at(now)) {
        return Err("certificate expired or not yet valid");
    }
    // The anchor is configuration, not part of the path (§6.1.1 (d)): only x5c is read.
    for cert in chain {
        cert.check_path_extensions()?;
    }
    for (depth, pair) in chain.windows(2).enumerate() {
        let [child, issuer] = pair else { continue };
        check_link(child, issuer, depth, allow_sha1)?;
    }
    // The last certificate may itself be a configured anchor (conformance Resp-5 P-3).
    if let Some(anchor) = anchors.iter().find(|a| a.der() == last.der()) {
        return Ok(anchor);
    }
    let intermediates = chain.len().saturating_sub(1);
    anchors
        .iter()
        .find(|anchor| check_link(last, anchor, intermediates, allow_sha1).is_ok())
        .copied()
        .ok_or("chain does not lead to a configured anchor")
}

/// One link of the path: `issuer`, with `below` CA certificates under it, issued `child`.
/// The name is compared first so that a certificate naming another issuer is refused as
/// such even when the same key signed it.
fn check_link(
    child: &Cert,
    issuer: &Cert,
    below: usize,
    allow_sha1: bool,
) -> Result<(), &'static str> {
    if !child.issuer_is_subject_of(issuer) {
        return Err("certificate issuer name is not the next certificate's subject");
    }
    check_issuer(issuer, below)?;
    let key = issuer.key_material().map_err(|_| "issuer key unusable")?;
    if !child.is_signed_by(&key, allow_sha1) {
        return Err("certificate not signed by the next in x5c");
    }
    Ok(())
}

/// An issuer must be a CA whose path length allows `below` CA certificates under it, and
/// whose key usage, when stated, includes `keyCertSign` (RFC 5280 §6.1.4 (k), (m), (n)).
fn check_issuer(issuer: &Cert, below: usize) -> Result<(), &'static str> {
    let constraints = issuer
        .basic_constraints()
        .map_err(|_| "malformed basic constraints")?;
    match constraints {
        Some(bc) if bc.ca => match bc.path_len_constraint {
            Some(limit) if usize::from(limit) < below => Err("path length exceeded"),
            _ if !issuer.may_sign_certificates() => Err("issuer key usage lacks keyCertSign"),
            _ => Ok(()),
        },
        _ => Err("issuer is not a CA"),
    }
}
