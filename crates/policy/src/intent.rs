//! What an assertion is for, and which passkeys may answer it (P1, P9).
//!
//! This module is the one place that says which scope an intent belongs to, which
//! credentials serve it and whether it needs user verification; the facade asks it when
//! it builds `allowCredentials` and when it verifies, and the engine when it decides.

use serde::{Deserialize, Serialize};

use crate::error::PolicyError;
use crate::model::{Credential, Scope};

/// What an assertion is for (P9). Every intent belongs to exactly one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Signing in to the exchange.
    Login,
    /// Withdrawing funds.
    Withdrawal,
    /// Confirming an Exchange or DEX security change (step-up), or a change the service
    /// gates itself (e-mail, phone, withdrawal address book).
    SecurityChange,
    /// Signing a DEX trade.
    DexTrade,
    /// Signing a DEX transfer.
    DexTransfer,
    /// Signing a Pay transaction.
    PaySign,
    /// Confirming a Pay security change (step-up).
    PaySecurityChange,
}

/// Whether a ceremony asks the authenticator to verify the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserVerificationRule {
    /// The assertion must carry UV.
    Required,
    /// UV is asked for but not needed.
    Preferred,
}

impl UserVerificationRule {
    /// The WebAuthn `userVerification` value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
        }
    }
}

impl Intent {
    /// Every intent.
    pub const ALL: [Self; 7] = [
        Self::Login,
        Self::Withdrawal,
        Self::SecurityChange,
        Self::DexTrade,
        Self::DexTransfer,
        Self::PaySign,
        Self::PaySecurityChange,
    ];

    /// The security-change intent of `scope`: a Pay change is confirmed by a Pay
    /// passkey, an Exchange or DEX change by an Exchange passkey (P1, P7).
    #[must_use]
    pub fn security_change(scope: Scope) -> Self {
        match scope {
            Scope::Exchange => Self::SecurityChange,
            Scope::Pay => Self::PaySecurityChange,
        }
    }

    /// The scope whose passkeys answer this intent.
    #[must_use]
    pub fn scope(self) -> Scope {
        match self {
            Self::Login
            | Self::Withdrawal
            | Self::SecurityChange
            | Self::DexTrade
            | Self::DexTransfer => Scope::Exchange,
            Self::PaySign | Self::PaySecurityChange => Scope::Pay,
        }
    }

    /// Whether the challenge must commit to a transaction (P10).
    #[must_use]
    pub fn is_signing(self) -> bool {
        matches!(self, Self::DexTrade | Self::DexTransfer | Self::PaySign)
    }

    /// Whether this is a step-up for a security change (P7).
    #[must_use]
    pub fn is_security_change(self) -> bool {
        matches!(self, Self::SecurityChange | Self::PaySecurityChange)
    }

    /// Whether its challenge must name the account: every intent but login (P9).
    #[must_use]
    pub fn needs_account(self) -> bool {
        self != Self::Login
    }

    /// Whether the intent needs a DEX-authorized passkey (P2, P9).
    #[must_use]
    pub fn needs_dex(self) -> bool {
        matches!(self, Self::DexTrade | Self::DexTransfer)
    }

    /// User verification: required for everything but login, where it is preferred (P9).
    #[must_use]
    pub fn user_verification(self) -> UserVerificationRule {
        if self == Self::Login {
            UserVerificationRule::Preferred
        } else {
            UserVerificationRule::Required
        }
    }

    /// Whether `credential` may answer this intent: the intent's scope, and for DEX
    /// intents a DEX authorization (P1, P2).
    ///
    /// # Errors
    ///
    /// [`PolicyError::ScopeMismatch`] for a passkey of the other scope,
    /// [`PolicyError::DexNotAuthorized`] for an Exchange passkey not authorized for DEX.
    pub fn admits(self, credential: &Credential) -> Result<(), PolicyError> {
        if credential.scope != self.scope() {
            return Err(PolicyError::ScopeMismatch);
        }
        if self.needs_dex() && !credential.dex_authorized {
            return Err(PolicyError::DexNotAuthorized);
        }
        Ok(())
    }

    /// The name used in JSON and scenario files (`login`, `pay_security_change`...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Withdrawal => "withdrawal",
            Self::SecurityChange => "security_change",
            Self::DexTrade => "dex_trade",
            Self::DexTransfer => "dex_transfer",
            Self::PaySign => "pay_sign",
            Self::PaySecurityChange => "pay_security_change",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for intent in Intent::ALL {
            let json = serde_json::to_string(&intent).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", intent.as_str()));
        }
    }

    #[test]
    fn each_security_change_stays_in_its_scope() {
        for scope in [Scope::Exchange, Scope::Pay] {
            let intent = Intent::security_change(scope);
            assert_eq!(intent.scope(), scope);
            assert!(intent.is_security_change());
        }
    }
}
