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
    /// The credential is not one this service knows (P13), or it was revoked (P20,
    /// never accepted again): the client may forget it
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
    /// The account kept changing under the command: it was decided again `attempts`
    /// times, with a randomized pause between attempts, and every append conflicted
    /// (code `store_conflict`). Retrying the whole request later is safe.
    #[error("account changed concurrently {attempts} times in a row")]
    Contention {
        /// How many times the command was decided and appended.
        attempts: u32,
    },
}

/// What an [`Error`] means for the caller, so that a service can answer without a table
/// of codes: the HTTP status each kind usually maps to is given as a hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// What the client sent is wrong: malformed, over a limit, for another challenge,
    /// origin or credential, badly signed (HTTP 400).
    Input,
    /// The credential policy or the relying party's requirements refuse it (HTTP 403).
    Refused,
    /// The account changed concurrently; retrying may succeed (HTTP 409).
    Conflict,
    /// The store cannot be reached; nothing was changed (HTTP 503).
    Unavailable,
    /// A fault on the service's side: configuration, randomness, a misused call (HTTP 500).
    Internal,
}

impl ErrorKind {
    /// The kind of a stable error code of PRODUCT.md; `None` for a string that is not one.
    #[must_use]
    pub fn of_code(code: &str) -> Option<Self> {
        Some(match code {
            "malformed"
            | "limit_exceeded"
            | "challenge_mismatch"
            | "challenge_expired"
            | "challenge_reused"
            | "origin_mismatch"
            | "rp_id_mismatch"
            | "type_mismatch"
            | "signature_invalid"
            | "attestation_invalid"
            | "unsupported_algorithm"
            | "unsupported_format"
            | "unknown_credential"
            | "user_presence_required"
            | "invalid_name" => Self::Input,
            "last_passkey"
            | "limit_reached"
            | "scope_mismatch"
            | "dex_not_authorized"
            | "terms_not_accepted"
            | "withdrawal_locked"
            | "user_verification_required"
            | "step_up_required"
            | "duplicate_credential"
            | "provider_denied"
            | "counter_regression"
            | "attestation_untrusted"
            | "account_frozen" => Self::Refused,
            "store_conflict" => Self::Conflict,
            "store_unavailable" => Self::Unavailable,
            "internal" => Self::Internal,
            _ => return None,
        })
    }

    /// The HTTP status this kind usually maps to.
    #[must_use]
    pub fn http_status(self) -> u16 {
        match self {
            Self::Input => 400,
            Self::Refused => 403,
            Self::Conflict => 409,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
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
            Self::Contention { .. } => "store_conflict",
        }
    }

    /// What the error means for the caller (see [`ErrorKind`]). A corrupt store record
    /// is `internal`, although its code is `store_unavailable`.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(StoreError::Corrupt(_)) => ErrorKind::Internal,
            other => ErrorKind::of_code(other.code()).unwrap_or(ErrorKind::Internal),
        }
    }
}

/// `Result` with the facade's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
