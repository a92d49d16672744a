//! Errors: what failed, with the stable codes of PRODUCT.md. Signature failures are one
//! opaque variant; nothing here echoes input bytes.

/// Why a registration or assertion was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The authenticator's binary structures are malformed (from `latchkey-cose`).
    #[error(transparent)]
    Cose(#[from] latchkey_cose::Error),
    /// The response JSON (`PublicKeyCredential.toJSON()`) is not what the browser sends.
    #[error("response: {0}")]
    Response(#[from] ResponseError),
    /// clientDataJSON is not the JSON WebAuthn §5.8.1 describes.
    #[error("clientDataJSON: {0}")]
    ClientData(#[from] ClientDataError),
    /// `type` is not `webauthn.create` (registration) or `webauthn.get` (assertion).
    #[error("client data type is not {expected}")]
    TypeMismatch {
        /// The type the ceremony requires.
        expected: &'static str,
    },
    /// The challenge is not the one the server issued for this ceremony.
    #[error("challenge does not match")]
    ChallengeMismatch,
    /// The origin is not one the relying party accepts.
    #[error("origin not allowed")]
    OriginMismatch,
    /// `crossOrigin` is true but the relying party does not allow cross-origin use.
    #[error("cross-origin use not allowed")]
    CrossOriginNotAllowed,
    /// `topOrigin` is present and not one of the allowed top-level origins.
    #[error("top origin not allowed")]
    TopOriginMismatch,
    /// rpIdHash is not SHA-256 of the RP ID (nor of an AppID the credential may use).
    #[error("rpIdHash does not match the RP ID")]
    RpIdMismatch,
    /// The response's `rawId` is not the credential id in the authenticator data.
    #[error("rawId is not the attested credential id")]
    CredentialIdMismatch,
    /// The UP flag is clear.
    #[error("user presence flag not set")]
    UserPresenceRequired,
    /// User verification was required and the UV flag is clear.
    #[error("user verification flag not set")]
    UserVerificationRequired,
    /// BS is set while BE is clear (WebAuthn §6.1.3).
    #[error("backup state set without backup eligibility")]
    BackupStateWithoutEligibility,
    /// An assertion carries attested credential data (AT set, §6.1).
    #[error("assertion has attested credential data")]
    AttestedDataInAssertion,
    /// The credential public key is unusable: not on its curve, weak, or a bad RSA key.
    #[error("credential public key invalid: {0}")]
    InvalidKey(&'static str),
    /// The signature does not verify. Deliberately opaque.
    #[error("signature invalid")]
    SignatureInvalid,
    /// The signature counter did not grow.
    #[error("signature counter {received} does not exceed stored {stored}")]
    CounterRegression {
        /// The stored counter.
        stored: u32,
        /// The counter in this assertion.
        received: u32,
    },
    /// The algorithm is unknown or not allowed by this verifier.
    #[error("algorithm {0} not supported or not allowed")]
    UnsupportedAlgorithm(i64),
    /// The attestation statement format is unknown or not enabled.
    #[error("attestation format not supported")]
    UnsupportedFormat,
    /// The attestation statement does not verify.
    #[error("attestation invalid: {0}")]
    AttestationInvalid(&'static str),
    /// A size or count cap on attestation data was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(&'static str),
    /// The attestation verifies but does not chain to an acceptable trust anchor.
    #[error("attestation untrusted: {0}")]
    AttestationUntrusted(&'static str),
    /// A known authenticator extension output has the wrong type or value.
    #[error("extension output invalid: {0}")]
    ExtensionInvalid(&'static str),
    /// The authenticator applied a lower `credProtect` level than the ceremony requires,
    /// or none: the credential would not demand user verification as promised.
    #[error("credProtect below the level the relying party requires")]
    CredProtectBelowRequired,
    /// A FIDO metadata BLOB is not a JWS, or its payload is not MDS3 JSON.
    #[error("metadata malformed: {0}")]
    MetadataMalformed(&'static str),
    /// A FIDO metadata BLOB fails verification: signature, chain to the pinned root,
    /// algorithm, or freshness.
    #[error("metadata untrusted: {0}")]
    MetadataUntrusted(&'static str),
}

impl Error {
    /// The stable error code (PRODUCT.md).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Cose(e) => e.code(),
            Self::ClientData(ClientDataError::TooLarge { .. })
            | Self::Response(ResponseError::TooLarge { .. } | ResponseError::TooMany { .. })
            | Self::Limit(_) => "limit_exceeded",
            Self::ClientData(_)
            | Self::Response(_)
            | Self::BackupStateWithoutEligibility
            | Self::AttestedDataInAssertion
            | Self::CredentialIdMismatch
            | Self::InvalidKey(_)
            | Self::MetadataMalformed(_)
            | Self::ExtensionInvalid(_) => "malformed",
            Self::TypeMismatch { .. } => "type_mismatch",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::OriginMismatch | Self::CrossOriginNotAllowed | Self::TopOriginMismatch => {
                "origin_mismatch"
            }
            Self::RpIdMismatch => "rp_id_mismatch",
            Self::UserPresenceRequired => "user_presence_required",
            Self::UserVerificationRequired | Self::CredProtectBelowRequired => {
                "user_verification_required"
            }
            Self::SignatureInvalid => "signature_invalid",
            Self::CounterRegression { .. } => "counter_regression",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::UnsupportedFormat => "unsupported_format",
            Self::AttestationInvalid(_) => "attestation_invalid",
            Self::AttestationUntrusted(_) | Self::MetadataUntrusted(_) => "attestation_untrusted",
        }
    }
}

/// A response's JSON envelope that cannot be read (checklist C.1). Nothing here echoes
/// the input: members are named, never quoted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Not JSON, or not the dictionary's shape: a member missing or of the wrong type.
    /// The message is serde_json's, which names a position, never the content.
    #[error("{0}")]
    Json(String),
    /// `type` is not `public-key`.
    #[error("type is not public-key")]
    NotPublicKey,
    /// `id` and `rawId` differ.
    #[error("id and rawId differ")]
    IdMismatch,
    /// A member is not canonical base64url without padding.
    #[error("{member} is not canonical base64url")]
    Base64 {
        /// The member.
        member: &'static str,
    },
    /// A member that must hold bytes is empty.
    #[error("{member} is empty")]
    Empty {
        /// The member.
        member: &'static str,
    },
    /// A member, or the whole JSON, is longer than its cap (code `limit_exceeded`).
    #[error("{member} exceeds {max} bytes")]
    TooLarge {
        /// The member.
        member: &'static str,
        /// The cap.
        max: usize,
    },
    /// A list has more entries than its cap (code `limit_exceeded`).
    #[error("more than {max} {member}")]
    TooMany {
        /// The member.
        member: &'static str,
        /// The cap.
        max: usize,
    },
    /// `userHandle` decodes to more than 64 bytes (WebAuthn §5.4.3, checklist C.7).
    #[error("userHandle exceeds 64 bytes")]
    UserHandleTooLong,
    /// A transport is not a short lowercase token.
    #[error("a transport is not a short lowercase token")]
    Transport,
}

/// clientDataJSON that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientDataError {
    /// Not JSON, not an object, a member of the wrong type, a duplicate member, or not
    /// UTF-8. The message is serde_json's, which names a position, never the content.
    #[error("{0}")]
    Json(String),
    /// Longer than [`MAX_CLIENT_DATA_LEN`](crate::MAX_CLIENT_DATA_LEN).
    #[error("{len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
