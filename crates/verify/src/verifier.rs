//! The relying party's fixed expectations, and what varies per ceremony.

use latchkey_cose::{Algorithm, Flags, ParseOptions};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::extensions::CredProtect;
use crate::origin::Origins;
use crate::signature::SignatureOptions;
use crate::trust::TrustAnchors;

/// Verifies registrations and assertions for one relying party.
///
/// ```
/// use latchkey_verify::{Origins, Verifier};
///
/// let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]));
/// assert_eq!(verifier.rp_id(), "example.com");
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    rp_id: String,
    rp_id_hash: [u8; 32],
    origins: Origins,
    options: VerifierOptions,
    trust_anchors: TrustAnchors,
}

/// Tolerances and policies. The defaults are the strict reading of WebAuthn Level 3.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifierOptions {
    /// CBOR strictness and limits for authenticator data and attestation objects.
    pub cbor: ParseOptions,
    /// Which legacy signature algorithms are accepted.
    pub signature: SignatureOptions,
    /// What to do when the signature counter does not grow.
    pub counter: CounterPolicy,
    /// Require the UP flag in assertions (§7.2 step 16). Turning it off is only for the
    /// FIDO conformance profile, never production.
    pub require_user_presence: bool,
    /// Refuse registrations whose attestation is not trusted (default: report the trust
    /// outcome and let the caller decide, as §7.1 step 24 allows).
    pub require_trusted_attestation: bool,
    /// `android-safetynet`: refuse a JWS whose `ctsProfileMatch` is false. Default true.
    pub safetynet_require_cts: bool,
    /// `android-safetynet`: the oldest JWS `timestampMs` accepted, in seconds before the
    /// verification time; `None` skips the check. Default 60 (the FIDO conformance window).
    pub safetynet_max_age_seconds: Option<u64>,
    /// Accept `packed` attestation certificates carrying the FIDO enterprise serial
    /// extension (1.3.6.1.4.1.45724.1.1.2): only when the ceremony asked for `enterprise`
    /// conveyance. Default false: such a registration is `attestation_untrusted`.
    pub allow_enterprise_attestation: bool,
    /// `android-key`: require origin GENERATED and purpose SIGN in the TEE-enforced list
    /// (hardware-backed keys only). Default false, as §8.4 takes either list: keys whose
    /// properties only software enforces are then `attestation_untrusted`.
    pub android_key_require_tee: bool,
    /// `tpm`: also accept AIK certificates naming a test TPM manufacturer, `id:FFFFF1D0`
    /// (the FIDO conformance tool's TPM) or `id:00000000` (test vectors), besides the
    /// vendors of the TCG TPM Vendor ID Registry. Default false. For conformance runs and
    /// test vectors only, never production: no real TPM has these IDs.
    pub tpm_test_manufacturers: bool,
    /// Refuse an attestation chain (`x5c`) that carries a configured trust anchor below
    /// its leaf, as the FIDO conformance tools require (Resp-5 F-10); a leaf that is itself
    /// the anchor (Resp-5 P-3) is still accepted. Default false: as in RFC 5280 path
    /// building, the path ends at the anchor wherever it appears and the verdict does not
    /// depend on whether the sender repeated it.
    pub refuse_anchor_in_x5c: bool,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            cbor: ParseOptions::STRICT,
            signature: SignatureOptions::default(),
            counter: CounterPolicy::Reject,
            require_user_presence: true,
            require_trusted_attestation: false,
            safetynet_require_cts: true,
            safetynet_max_age_seconds: Some(60),
            allow_enterprise_attestation: false,
            android_key_require_tee: false,
            tpm_test_manufacturers: false,
            refuse_anchor_in_x5c: false,
        }
    }
}

/// What a counter that did not grow means (§7.2 step 22 leaves it to the relying party).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterPolicy {
    /// Refuse with `counter_regression` (PRODUCT.md P12 default).
    #[default]
    Reject,
    /// Accept and report [`CounterVerdict::Regression`](crate::CounterVerdict::Regression).
    Flag,
}

/// Whether the user must be verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserVerification {
    /// UV must be set.
    #[default]
    Required,
    /// UV is reported but not required.
    Preferred,
    /// UV is reported but not required.
    Discouraged,
}

/// What the server issued for one ceremony.
#[derive(Clone, Copy, Debug)]
pub struct Ceremony<'a> {
    /// The challenge bytes the server generated and stored.
    pub challenge: &'a [u8],
    /// The user-verification requirement.
    pub user_verification: UserVerification,
    /// For registrations: the algorithms offered in `pubKeyCredParams` (§7.1 step 20).
    /// Empty means any algorithm this crate verifies.
    pub algorithms: &'a [Algorithm],
    /// For registrations: the `credProtect` level the relying party enforces. The
    /// registration is refused when the authenticator reports a lower level or none.
    pub required_cred_protect: Option<CredProtect>,
    /// For assertions: the request listed no credentials (discoverable login), which a
    /// `credProtect` level 2 credential allows only with UV.
    pub discoverable: bool,
}

impl<'a> Ceremony<'a> {
    /// A ceremony with this challenge, UV required, any algorithm.
    #[must_use]
    pub fn new(challenge: &'a [u8]) -> Self {
        Self {
            challenge,
            user_verification: UserVerification::Required,
            algorithms: &[],
            required_cred_protect: None,
            discoverable: false,
        }
    }
}

impl Verifier {
    /// A verifier for `rp_id` with the given origins and default options.
    #[must_use]
    pub fn new(rp_id: &str, origins: Origins) -> Self {
        Self {
            rp_id: rp_id.to_owned(),
            rp_id_hash: Sha256::digest(rp_id.as_bytes()).into(),
            origins,
            options: VerifierOptions::default(),
            trust_anchors: TrustAnchors::default(),
        }
    }

    /// Replaces the options.
    #[must_use]
    pub fn with_options(mut self, options: VerifierOptions) -> Self {
        self.options = options;
        self
    }

    /// Replaces the trust anchors for attestation.
    #[must_use]
    pub fn with_trust_anchors(mut self, anchors: TrustAnchors) -> Self {
        self.trust_anchors = anchors;
        self
    }

    /// The RP ID.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// SHA-256 of the RP ID.
    #[must_use]
    pub fn rp_id_hash(&self) -> &[u8; 32] {
        &self.rp_id_hash
    }

    /// The accepted origins.
    #[must_use]
    pub fn origins(&self) -> &Origins {
        &self.origins
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &VerifierOptions {
        &self.options
    }

    /// The attestation trust anchors.
    #[must_use]
    pub fn trust_anchors(&self) -> &TrustAnchors {
        &self.trust_anchors
    }
}

/// UP, UV and BE/BS rules shared by both ceremonies.
pub(crate) fn check_flags(
    flags: Flags,
    ceremony: &Ceremony<'_>,
    options: &VerifierOptions,
) -> Result<()> {
    if options.require_user_presence && !flags.user_present() {
        return Err(Error::UserPresenceRequired);
    }
    if ceremony.user_verification == UserVerification::Required && !flags.user_verified() {
        return Err(Error::UserVerificationRequired);
    }
    if flags.backed_up() && !flags.backup_eligible() {
        return Err(Error::BackupStateWithoutEligibility);
    }
    Ok(())
}
