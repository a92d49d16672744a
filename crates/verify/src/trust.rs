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
    /// path length; the path ends at an anchor (see [`check_path`]).
    pub(crate) fn evaluate(
        &self,
        fmt: &str,
        aaguid: Aaguid,
        chain: &[Cert],
        now: SystemTime,
        rules: PathRules,
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
        match check_path(chain, &anchors, now, rules) {
            Ok(_) => Trust::Trusted,
            Err(reason) => Trust::Untrusted(reason),
        }
    }
}

/// How a path is checked besides its certificates: legacy signatures, and whether a
/// configured anchor may appear inside the chain.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PathRules {
    /// RSA PKCS#1 v1.5 with SHA-1 signatures are accepted on certificates.
    pub(crate) allow_sha1: bool,
    /// A chain that carries a configured anchor below its leaf is refused (FIDO
    /// conformance Resp-5 F-10); a lone leaf that is itself the anchor stays accepted.
    pub(crate) refuse_anchor_in_chain: bool,
}

/// Validates `chain` (leaf first) at `now` against `anchors`, as RFC 5280 §6.1 does for
/// the path chain + anchor: every certificate valid at `now`, without constraints or
/// critical extensions latchkey does not process; at every link, the child's issuer name is the
/// issuer's subject name, the issuer is a CA within its path length whose key may sign
/// certificates, and its key signed the child. Shared with the metadata BLOB's own chain,
/// whose revocation check needs the anchor the chain reached: it is returned.
///
/// The anchor is configuration, not part of the path (§6.1.1 (d)): the path ends at the
/// first certificate of `chain` that is a configured anchor, or after the last one. What
/// `chain` carries after an anchor is not read, so the verdict is the same whether or not
/// the sender repeated the anchor (and an intermediate configured as the anchor is
/// reached even when the vendor's root follows it).
pub(crate) fn check_path<'a>(
    chain: &[Cert],
    anchors: &[&'a Cert],
    now: SystemTime,
    rules: PathRules,
) -> Result<&'a Cert, &'static str> {
    let configured = |cert: &Cert| anchors.iter().copied().find(|a| a.der() == cert.der());
    let inside = chain
        .iter()
        .enumerate()
        .find_map(|(i, c)| Some((i, configured(c)?)));
    if rules.refuse_anchor_in_chain && inside.is_some_and(|(i, _)| i > 0 || chain.len() > 1) {
        return Err("trust anchor included in x5c");
    }
    // A leaf that is itself the anchor (conformance Resp-5 P-3) is still held to its own
    // validity and extensions: it is the attestation certificate.
    let path_len = inside.map_or(chain.len(), |(i, _)| i.max(1));
    let path = chain.get(..path_len).unwrap_or(chain);
    let Some(last) = path.last() else {
        return Err("empty chain");
    };
    if path.iter().any(|c| !c.valid_at(now)) {
        return Err("certificate expired or not yet valid");
    }
    for cert in path {
        cert.check_path_extensions()?;
    }
    for (depth, pair) in path.windows(2).enumerate() {
        let [child, issuer] = pair else { continue };
        check_link(child, issuer, depth, rules.allow_sha1)?;
    }
    let below = path.len().saturating_sub(1);
    match inside {
        Some((0, anchor)) => Ok(anchor),
        Some((_, anchor)) => check_link(last, anchor, below, rules.allow_sha1).map(|()| anchor),
        None => anchors
            .iter()
            .find(|anchor| check_link(last, anchor, below, rules.allow_sha1).is_ok())
            .copied()
            .ok_or("chain does not lead to a configured anchor"),
    }
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
