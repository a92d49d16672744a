//! Authenticator extension outputs (WebAuthn §9, CTAP 2.1 §12): the signed part of
//! extensions, in the authenticator data's extensions map.
//!
//! Known outputs must have their specified type (a malformed `credProtect` is refused);
//! unsolicited and unknown outputs are accepted and ignored (§9: the client and the
//! authenticator may add them). Client extension outputs (`credProps`, `prf`,
//! `largeBlob` results) are unsigned and are never a security input here.

use latchkey_cose::Extensions;
use latchkey_cose::cbor::Value;

use crate::error::{Error, Result};

/// A credential protection policy (CTAP 2.1 §12.1 `credProtect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CredProtect {
    /// 1: `userVerificationOptional`.
    UserVerificationOptional,
    /// 2: `userVerificationOptionalWithCredentialIDList`: without UV, the credential is
    /// only usable when the request lists it (not for discoverable login).
    UserVerificationOptionalWithCredentialIdList,
    /// 3: `userVerificationRequired`: every assertion must be user-verified.
    UserVerificationRequired,
}

impl CredProtect {
    /// The level from its CTAP number (1-3).
    #[must_use]
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::UserVerificationOptional),
            2 => Some(Self::UserVerificationOptionalWithCredentialIdList),
            3 => Some(Self::UserVerificationRequired),
            _ => None,
        }
    }

    /// The CTAP number (1-3), for storage.
    #[must_use]
    pub fn level(self) -> u8 {
        match self {
            Self::UserVerificationOptional => 1,
            Self::UserVerificationOptionalWithCredentialIdList => 2,
            Self::UserVerificationRequired => 3,
        }
    }

    /// The name WebAuthn clients take in `credentialProtectionPolicy`.
    #[must_use]
    pub fn policy_name(self) -> &'static str {
        match self {
            Self::UserVerificationOptional => "userVerificationOptional",
            Self::UserVerificationOptionalWithCredentialIdList => {
                "userVerificationOptionalWithCredentialIDList"
            }
            Self::UserVerificationRequired => "userVerificationRequired",
        }
    }

    /// Whether an assertion with UV `user_verified` may use a credential of this level;
    /// `discoverable` when the request listed no credentials.
    #[must_use]
    pub fn allows(self, user_verified: bool, discoverable: bool) -> bool {
        match self {
            Self::UserVerificationOptional => true,
            Self::UserVerificationOptionalWithCredentialIdList => user_verified || !discoverable,
            Self::UserVerificationRequired => user_verified,
        }
    }
}

/// The signed extension outputs of a registration that latchkey understands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrationExtensions {
    cred_protect: Option<CredProtect>,
    hmac_secret: Option<bool>,
    min_pin_length: Option<u64>,
}

impl RegistrationExtensions {
    /// Reads the outputs this crate understands from the extensions map.
    pub(crate) fn parse(extensions: Option<&Extensions<'_>>) -> Result<Self> {
        let Some(extensions) = extensions else {
            return Ok(Self::default());
        };
        let cred_protect = extensions
            .get("credProtect")
            .map(|value| {
                value
                    .as_i64()
                    .and_then(|n| u8::try_from(n).ok())
                    .and_then(CredProtect::from_level)
                    .ok_or(Error::ExtensionInvalid("credProtect is not 1, 2 or 3"))
            })
            .transpose()?;
        let hmac_secret = extensions
            .get("hmac-secret")
            .map(|value| match value {
                Value::Bool(enabled) => Ok(*enabled),
                _ => Err(Error::ExtensionInvalid("hmac-secret is not a boolean")),
            })
            .transpose()?;
        let min_pin_length =
            extensions
                .get("minPinLength")
                .map(|value| {
                    value.as_i64().and_then(|n| u64::try_from(n).ok()).ok_or(
                        Error::ExtensionInvalid("minPinLength is not an unsigned integer"),
                    )
                })
                .transpose()?;
        Ok(Self {
            cred_protect,
            hmac_secret,
            min_pin_length,
        })
    }

    /// The protection level the authenticator applied (`credProtect`), when it said.
    /// Store it with the credential: assertions are checked against it.
    #[must_use]
    pub fn cred_protect(&self) -> Option<CredProtect> {
        self.cred_protect
    }

    /// Whether the authenticator enabled `hmac-secret` (what backs the client's `prf`).
    #[must_use]
    pub fn hmac_secret(&self) -> Option<bool> {
        self.hmac_secret
    }

    /// The authenticator's minimum PIN length (`minPinLength`), when it said.
    #[must_use]
    pub fn min_pin_length(&self) -> Option<u64> {
        self.min_pin_length
    }
}
