//! One error type for the facade, with every stable code of PRODUCT.md.

use latchkey_policy::{CredentialId, PolicyError};
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
    /// The credential is not one this service knows (P13): the client may forget it
    /// (see [`Passkeys::signal_unknown_credential`](crate::Passkeys::signal_unknown_credential)).
    /// The error carries the id it was about, so that the signal can only ever name that
    /// credential, whatever response the service has at hand.
    #[error("unknown credential")]
    UnknownCredential {
        /// The credential id the refused response named.
        credential: CredentialId,
    },
    /// The credential is valid but another account's, or presented with another
    /// account's user handle (P13, P15). Its code is `unknown_credential` too, but the
    /// client must never be told to delete it.
    #[error("unknown credential")]
    ForeignCredential,
    /// An approval receipt names another passkey, or carries another key, than the record
    /// it was checked with (code `unknown_credential`).
    #[error("the receipt was not signed by this passkey")]
    WrongSigner,
    /// The relying-party configuration is invalid (code `internal`: the service's fault).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A fault on the service's side, such as randomness that failed (code `internal`).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// The stable error code (PRODUCT.md).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(e) => e.code(),
            Self::Policy(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Malformed(_) => "malformed",
            Self::Config(_) | Self::Internal(_) => "internal",
            Self::ChallengeMismatch => "challenge_mismatch",
            Self::ChallengeExpired => "challenge_expired",
            Self::ChallengeReused => "challenge_reused",
            Self::UnknownCredential { .. } | Self::ForeignCredential | Self::WrongSigner => {
                "unknown_credential"
            }
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
