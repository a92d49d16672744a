//! One error type for the facade, with every stable code of PRODUCT.md.

use latchkey_policy::PolicyError;
use latchkey_store::StoreError;

/// Why a ceremony or a passkey operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Verification of what the client sent failed.
    #[error(transparent)]
    Verify(#[from] latchkey_verify::Error),
    /// The credential policy refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The store failed or conflicted too often.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The response JSON is not what `PublicKeyCredential.toJSON()` produces.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The challenge in the response was never issued, or belongs to another ceremony,
    /// account or transaction.
    #[error("challenge does not match this ceremony")]
    ChallengeMismatch,
    /// The challenge's deadline has passed (it is consumed all the same).
    #[error("challenge expired")]
    ChallengeExpired,
    /// The challenge was already used, successfully or not.
    #[error("challenge already used")]
    ChallengeReused,
    /// The credential is not one this service (or this account) knows (P13).
    #[error("unknown credential")]
    UnknownCredential,
    /// The relying-party configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
}

impl Error {
    /// The stable error code (PRODUCT.md).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(e) => e.code(),
            Self::Policy(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Malformed(_) | Self::Config(_) => "malformed",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::ChallengeExpired => "challenge_expired",
            Self::ChallengeReused => "challenge_reused",
            Self::UnknownCredential => "unknown_credential",
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
