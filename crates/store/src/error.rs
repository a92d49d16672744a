//! Store errors, with the stable codes of PRODUCT.md.

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The account changed since it was loaded: reload, decide again, retry.
    #[error("account changed concurrently (expected version {expected}, found {actual})")]
    Conflict {
        /// The version the caller decided on.
        expected: u64,
        /// The version the store holds.
        actual: u64,
    },
    /// A registered credential id is already owned by another account (P15), or a
    /// registered public key was revoked as compromised, in any account (P20).
    #[error("credential already registered to another account")]
    DuplicateCredential,
    /// The backend cannot be reached or failed; nothing was changed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The stable error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => "store_conflict",
            Self::DuplicateCredential => "duplicate_credential",
            Self::Unavailable(_) | Self::Corrupt(_) => "store_unavailable",
        }
    }
}
