//! What a service demands of attestation beyond its verification: a trusted chain for
//! some scopes (hardware keys for withdrawals, say), and FIDO metadata - compromised
//! models refused, model descriptions as default passkey names.

use std::sync::Arc;

use latchkey_policy::{AaguidTable, Scope, is_valid_name};
use latchkey_verify::{MetadataBlob, Trust, TrustAnchors, VerifiedRegistration};

use crate::error::Result;

/// The attestation rules of a [`Passkeys`](crate::Passkeys) service. Empty by default:
/// attestation is verified and reported, nothing more is required.
///
/// ```
/// use latchkey::{AttestationPolicy, Scope};
/// use latchkey::verify::TrustAnchors;
///
/// let policy = AttestationPolicy::default()
///     .trust_anchors(TrustAnchors::default())
///     .require_trusted(Scope::Pay);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AttestationPolicy {
    anchors: TrustAnchors,
    metadata: Option<Arc<MetadataBlob>>,
    trusted_for: Vec<Scope>,
}

impl AttestationPolicy {
    /// Trust anchors for attestation chains (added to those of the metadata).
    #[must_use]
    pub fn trust_anchors(mut self, anchors: TrustAnchors) -> Self {
        self.anchors = anchors;
        self
    }

    /// Uses a verified FIDO metadata BLOB: the attestation roots of its models become
    /// trust anchors for their AAGUIDs, registrations of models with a compromise status
    /// are refused, and model descriptions name passkeys the policy's AAGUID table does
    /// not know.
    ///
    /// # Errors
    ///
    /// When a root in the BLOB is not DER X.509.
    pub fn metadata(mut self, blob: MetadataBlob) -> Result<Self> {
        blob.add_roots_to(&mut self.anchors)?;
        self.metadata = Some(Arc::new(blob));
        Ok(self)
    }

    /// Refuses registrations in `scope` whose attestation does not chain to a trust
    /// anchor (`attestation_untrusted`): `none` and self attestation included.
    #[must_use]
    pub fn require_trusted(mut self, scope: Scope) -> Self {
        if !self.trusted_for.contains(&scope) {
            self.trusted_for.push(scope);
        }
        self
    }

    /// Refuses a passkey for `scope` when the scope requires a trusted attestation and
    /// `trust` is another outcome.
    pub(crate) fn check_trust(&self, scope: Scope, trust: Trust) -> Result<()> {
        if self.trusted_for.contains(&scope) && trust != Trust::Trusted {
            return Err(latchkey_verify::Error::AttestationUntrusted(
                "this scope requires an attestation that chains to a trust anchor",
            )
            .into());
        }
        Ok(())
    }

    pub(crate) fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Checks a verified registration for `scope`; returns the metadata's description of
    /// the model when it should name the passkey (`aaguids` does not know the model and
    /// the description is a valid name).
    pub(crate) fn check(
        &self,
        scope: Scope,
        verified: &VerifiedRegistration,
        aaguids: &AaguidTable,
    ) -> Result<Option<String>> {
        use latchkey_verify::Error;
        let entry = self
            .metadata
            .as_ref()
            .and_then(|blob| blob.entry(verified.aaguid()));
        if entry.is_some_and(|e| e.is_compromised()) {
            return Err(Error::AttestationUntrusted(
                "authenticator model reported compromised in FIDO metadata",
            )
            .into());
        }
        self.check_trust(scope, verified.trust())?;
        Ok(entry
            .and_then(|e| e.description())
            .filter(|_| aaguids.lookup(verified.aaguid()).is_none())
            .filter(|name| is_valid_name(name))
            .map(|name| name.trim().to_owned()))
    }
}
