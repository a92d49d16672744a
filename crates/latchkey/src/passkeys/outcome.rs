//! What ceremonies take and return besides the WebAuthn JSON.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_policy::{Credential, CredentialId, Event, Factor, Intent, ProofId, Scope, Warning};
use latchkey_store::AccountId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::extensions::ClientExtensionOutputs;
use crate::json::SignalAllAcceptedCredentials;
use crate::receipt::ApprovalReceipt;

/// The user a registration is for, as the browser shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Account name (e-mail, login).
    pub name: String,
    /// Display name.
    pub display_name: String,
}

/// How a security change was stepped up (P7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepUp {
    /// None.
    None,
    /// The token of a passkey step-up made for this very change, from
    /// [`Authenticated::step_up`].
    Passkey(StepUpToken),
    /// The service's own checks, which it attests to.
    Factors(Vec<Factor>),
}

impl StepUp {
    /// The step-up as the policy judges it: a token by the grant it names.
    pub(crate) fn to_policy(&self) -> latchkey_policy::StepUp {
        match self {
            Self::None => latchkey_policy::StepUp::None,
            Self::Passkey(token) => latchkey_policy::StepUp::Passkey(token.proof()),
            Self::Factors(factors) => latchkey_policy::StepUp::Factors(factors.clone()),
        }
    }
}

/// The opaque token of a passkey step-up (P7): 32 random bytes the service keeps (in
/// its session, say) between the step-up and the change it authorizes. The store keeps
/// only its hash, bound to the account, scope and change; any service instance redeems
/// it, once. Serialised as base64url; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct StepUpToken([u8; 32]);

impl StepUpToken {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The id the store knows the grant by: a hash, so the history never holds a token.
    pub(crate) fn proof(&self) -> ProofId {
        let mut hasher = Sha256::new();
        hasher.update(b"latchkey step-up token\0");
        hasher.update(self.0);
        ProofId::new(hasher.finalize().into())
    }
}

impl fmt::Debug for StepUpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StepUpToken(..)")
    }
}

impl fmt::Display for StepUpToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// A string that is not a step-up token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a step-up token")]
pub struct InvalidStepUpToken;

impl FromStr for StepUpToken {
    type Err = InvalidStepUpToken;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| InvalidStepUpToken)?;
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| InvalidStepUpToken)
    }
}

impl Serialize for StepUpToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for StepUpToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A completed registration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Registered {
    /// The stored passkey.
    pub credential: Credential,
    /// Accepted with warnings (provider class...).
    pub warnings: Vec<Warning>,
    /// The events appended, for the service to notify from (P14).
    pub events: Vec<Event>,
    /// For a replacement: the `signalAllAcceptedCredentials` payload of its scope, so
    /// the client forgets the passkey replaced (P13).
    pub accepted: Option<SignalAllAcceptedCredentials>,
    /// What the client reported of `credProps`, `prf` and `largeBlob` (unsigned).
    pub client_extensions: ClientExtensionOutputs,
}

/// A completed authentication: who answered, with what, for what (P9).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Authenticated {
    /// The account (found from the credential for a discoverable login).
    pub account: AccountId,
    /// The scope of the passkey that answered.
    pub scope: Scope,
    /// The passkey used.
    pub credential: CredentialId,
    /// What it was used for.
    pub intent: Intent,
    /// Whether the authenticator verified the user (UV).
    pub user_verified: bool,
    /// The passkey's backup state (BS) as asserted.
    pub backed_up: bool,
    /// Accepted with warnings (counter, backup eligibility).
    pub warnings: Vec<Warning>,
    /// The events appended (P14).
    pub events: Vec<Event>,
    /// For signing intents: the offline-verifiable approval (P10).
    pub receipt: Option<ApprovalReceipt>,
    /// For a step-up started with [`Passkeys::start_step_up`](crate::Passkeys::start_step_up):
    /// the token that authorizes its one change.
    pub step_up: Option<StepUpToken>,
    /// What the client reported of `prf` and `largeBlob` (unsigned).
    pub client_extensions: ClientExtensionOutputs,
}
