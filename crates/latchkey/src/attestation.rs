//! The evidence attestation is judged by: trust anchors and FIDO metadata. Verification
//! turns a registration into facts (trusted chain, compromised model); the policy
//! decides what a scope accepts.

use std::sync::Arc;

use latchkey_policy::{AaguidTable, AttestationFacts, is_valid_name};
use latchkey_verify::{LastAccepted, MetadataBlob, Trust, TrustAnchors, VerifiedRegistration};

use crate::error::Result;

/// The attestation evidence of a [`Passkeys`](crate::Passkeys) service: trust anchors and
/// FIDO metadata. Empty by default: attestation is verified and reported. Whether a
/// scope requires a trusted chain is policy
/// ([`PolicyConfig::trusted_attestation`](crate::PolicyConfig::trusted_attestation)); a
/// model that metadata reports compromised is refused everywhere.
///
/// ```
/// use latchkey::{AttestationPolicy, PolicyConfig, Scope};
/// use latchkey::verify::TrustAnchors;
///
/// let attestation = AttestationPolicy::default().trust_anchors(TrustAnchors::default());
/// let mut policy = PolicyConfig::default();
/// policy.trusted_attestation.push(Scope::Pay);
/// ```
#[derive(Clone, Debug, Default)]
pub struct AttestationPolicy {
    anchors: TrustAnchors,
    metadata: Option<Arc<MetadataBlob>>,
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
    /// are refused (found by AAGUID, or by attestation certificate key identifier for U2F
    /// and zero-AAGUID authenticators), and model descriptions name passkeys the policy's
    /// AAGUID table does not know.
    ///
    /// `last_accepted` is the BLOB number the service stored when it last accepted one:
    /// a BLOB whose `no` is not greater is refused, so that whoever answers the fetch
    /// cannot roll metadata back to before a compromise report. After this succeeds, store
    /// [`metadata_number`](Self::metadata_number) for the next BLOB.
    ///
    /// ```no_run
    /// # fn stored_number() -> Option<u64> { None }
    /// # fn store_number(_: u64) {}
    /// # fn verified_blob() -> latchkey::verify::MetadataBlob { unimplemented!() }
    /// use latchkey::AttestationPolicy;
    /// use latchkey::verify::LastAccepted;
    ///
    /// let last = stored_number().map_or(LastAccepted::Never, LastAccepted::Number);
    /// let policy = AttestationPolicy::default().metadata(verified_blob(), last)?;
    /// if let Some(number) = policy.metadata_number() {
    ///     store_number(number);
    /// }
    /// # Ok::<(), latchkey::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A rolled-back BLOB (code `attestation_untrusted`); a root in the BLOB that is not
    /// DER X.509.
    pub fn metadata(mut self, blob: MetadataBlob, last_accepted: LastAccepted) -> Result<Self> {
        blob.accept_after(last_accepted)?;
        blob.add_roots_to(&mut self.anchors)?;
        self.metadata = Some(Arc::new(blob));
        Ok(self)
    }

    /// The number (`no`) of the metadata BLOB in use: what the service stores and passes
    /// as [`LastAccepted::Number`] with the next BLOB.
    #[must_use]
    pub fn metadata_number(&self) -> Option<u64> {
        self.metadata.as_ref().map(|blob| blob.number())
    }

    pub(crate) fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// What a verified registration shows of its attestation, for the policy to judge,
    /// and the metadata's description of the model when it should name the passkey
    /// (`aaguids` does not know the model and the description is a valid name).
    pub(crate) fn facts(
        &self,
        verified: &VerifiedRegistration,
        aaguids: &AaguidTable,
    ) -> (AttestationFacts, Option<String>) {
        let entry = self
            .metadata
            .as_ref()
            .and_then(|blob| blob.entry(verified.aaguid()));
        let facts = AttestationFacts {
            trusted: verified.trust() == Trust::Trusted,
            compromised: self.metadata.as_ref().is_some_and(|blob| {
                blob.reports_compromise(verified.aaguid(), verified.attestation_key_identifiers())
            }),
        };
        let name = entry
            .and_then(|e| e.description())
            .filter(|_| aaguids.lookup(verified.aaguid()).is_none())
            .filter(|name| is_valid_name(name))
            .map(|name| name.trim().to_owned());
        (facts, name)
    }
}
