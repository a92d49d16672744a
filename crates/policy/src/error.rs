//! Why a command was refused, with the stable codes of PRODUCT.md.

/// A refused command. Refusals change nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// P3: the command would leave an activated scope without a passkey.
    #[error("the last passkey of a scope cannot be removed")]
    LastPasskey,
    /// P5: the scope already holds as many passkeys as allowed.
    #[error("passkey limit reached")]
    LimitReached,
    /// P1: the credential belongs to another scope than the command needs.
    #[error("passkey belongs to another scope")]
    ScopeMismatch,
    /// P2/P9: the credential is not authorized for DEX.
    #[error("passkey not authorized for DEX")]
    DexNotAuthorized,
    /// P2: the DEX terms were not accepted.
    #[error("DEX terms not accepted")]
    TermsNotAccepted,
    /// P8: withdrawals are locked after a security change.
    #[error("withdrawals locked")]
    WithdrawalLocked,
    /// The intent or change needs user verification.
    #[error("user verification required")]
    UserVerificationRequired,
    /// P7/P9: a fresh step-up (passkey or other factors) is needed.
    #[error("step-up required")]
    StepUpRequired,
    /// The credential is not one of this account's.
    #[error("unknown credential")]
    UnknownCredential,
    /// P15: the credential id is already registered.
    #[error("credential already registered")]
    DuplicateCredential,
    /// P6: names are 1-64 characters after trimming, without control or format (Cf)
    /// characters.
    #[error("invalid passkey name")]
    InvalidName,
    /// P11: the provider class is denied for this scope.
    #[error("passkey provider not allowed for this scope")]
    ProviderDenied,
    /// P12: the signature counter did not grow.
    #[error("signature counter did not grow")]
    CounterRegression,
    /// The scope needs an attestation that chains to a trust anchor.
    #[error("this scope requires an attestation that chains to a trust anchor")]
    AttestationUntrusted,
    /// P18: the account is frozen; only login (unless configured otherwise), an
    /// operator's revocation, a recovery and the unfreeze itself go through.
    #[error("account frozen")]
    AccountFrozen,
    /// FIDO metadata reports the authenticator model compromised: refused everywhere.
    #[error("authenticator model reported compromised in FIDO metadata")]
    AuthenticatorCompromised,
    /// P14: the request context names an operator without a usable id (blank, or with
    /// control or format characters). The service's fault, never the client's: code
    /// `internal`.
    #[error("the request context names an operator without an id")]
    UnnamedActor,
    /// P20: an operator's revocation whose request context does not name an operator
    /// (the facade refuses it first). The service's fault, never the client's: code
    /// `internal`.
    #[error("only an operator revokes a passkey as compromised")]
    OperatorRequired,
    /// P18: an assertion whose challenge was issued before the account's last freeze or
    /// unfreeze: the ceremony begins again. Code `challenge_expired`.
    #[error("the ceremony began before the account was last frozen or unfrozen")]
    CeremonyBeforeFreeze,
}

impl PolicyError {
    /// The stable error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::LastPasskey => "last_passkey",
            Self::LimitReached => "limit_reached",
            Self::ScopeMismatch => "scope_mismatch",
            Self::DexNotAuthorized => "dex_not_authorized",
            Self::TermsNotAccepted => "terms_not_accepted",
            Self::WithdrawalLocked => "withdrawal_locked",
            Self::UserVerificationRequired => "user_verification_required",
            Self::StepUpRequired => "step_up_required",
            Self::UnknownCredential => "unknown_credential",
            Self::DuplicateCredential => "duplicate_credential",
            Self::InvalidName => "invalid_name",
            Self::ProviderDenied => "provider_denied",
            Self::CounterRegression => "counter_regression",
            Self::AccountFrozen => "account_frozen",
            Self::AttestationUntrusted | Self::AuthenticatorCompromised => "attestation_untrusted",
            Self::UnnamedActor | Self::OperatorRequired => "internal",
            Self::CeremonyBeforeFreeze => "challenge_expired",
        }
    }
}
