//! Step-up for security changes (P7): what a proof is made for, and how a change is
//! judged against the step-up it comes with.
//!
//! A passkey step-up is two commands. [`Command::GrantStepUp`](crate::Command) records,
//! in the account's own event log, that a user-verified assertion of the right scope was
//! made for one named [`Change`]; the change's command later names that grant by its
//! [`ProofId`] and redeems it in the same append as the change. Single use is then the
//! store's optimistic concurrency: two redemptions of one proof decided on the same
//! version cannot both append, and the loser decides again on a state where the proof
//! is gone. Any service instance can redeem a proof another made, since the grant lives
//! in the store.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::event::StepUpKind;
use crate::model::{AccountState, CredentialId, Factor, Scope, Timestamp};

/// Most unredeemed step-up grants an account keeps; a new grant past this drops the
/// oldest, so an attacker cannot grow an account's state by asking for step-ups.
pub const MAX_PENDING_STEP_UPS: usize = 8;

/// The one change a passkey step-up is made for (P7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "change", content = "credential", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Adding a passkey to the step-up's scope.
    AddPasskey,
    /// Deleting this passkey.
    Delete(CredentialId),
    /// Replacing this passkey.
    Replace(CredentialId),
    /// Revoking this passkey's DEX authorization.
    RevokeDex(CredentialId),
    /// Authorizing this passkey for DEX: only its own assertion serves (P2).
    AuthorizeDex(CredentialId),
    /// Turning passkey-required mode on (P19): an Exchange change.
    PasskeyRequiredOn,
    /// Turning passkey-required mode off (P19): an Exchange change, and only a passkey
    /// step-up serves it.
    PasskeyRequiredOff,
}

impl Change {
    /// The passkey the change is about, when it names one.
    #[must_use]
    pub fn credential(&self) -> Option<&CredentialId> {
        match self {
            Self::AddPasskey | Self::PasskeyRequiredOn | Self::PasskeyRequiredOff => None,
            Self::Delete(id) | Self::Replace(id) | Self::RevokeDex(id) | Self::AuthorizeDex(id) => {
                Some(id)
            }
        }
    }

    /// The scope the change happens in, given the account: the named passkey's scope
    /// (DEX changes are Exchange changes), `adding_to` for a new passkey, Exchange for
    /// the passkey-required mode (P19).
    ///
    /// # Errors
    ///
    /// [`PolicyError::UnknownCredential`] when the named passkey is not the account's,
    /// [`PolicyError::ScopeMismatch`] for a DEX change of a Pay passkey.
    pub fn scope_in(&self, state: &AccountState, adding_to: Scope) -> Result<Scope, PolicyError> {
        if matches!(self, Self::PasskeyRequiredOn | Self::PasskeyRequiredOff) {
            return Ok(Scope::Exchange);
        }
        let Some(id) = self.credential() else {
            return Ok(adding_to);
        };
        let credential = state.credential(id).ok_or(PolicyError::UnknownCredential)?;
        if matches!(self, Self::RevokeDex(_) | Self::AuthorizeDex(_))
            && credential.scope != Scope::Exchange
        {
            return Err(PolicyError::ScopeMismatch);
        }
        Ok(credential.scope)
    }
}

/// Names a passkey step-up grant: SHA-256 of the token the service holds (the facade
/// draws the token; the history only ever sees this hash). Serialised as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProofId([u8; 32]);

impl ProofId {
    /// Wraps a proof id.
    #[must_use]
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ProofId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProofId({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl Serialize for ProofId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for ProofId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(String::deserialize(deserializer)?)
            .map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("a proof id is 32 bytes"))
    }
}

/// A passkey step-up that was granted and not yet redeemed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingStepUp {
    /// Its id.
    pub proof: ProofId,
    /// The passkey whose user-verified assertion made it.
    pub credential: CredentialId,
    /// The scope of the change.
    pub scope: Scope,
    /// The one change it is for.
    pub change: Change,
    /// Its challenge's deadline: after it, the proof is worthless.
    pub expires_at: Timestamp,
}

/// The step-up a security change comes with (P7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepUp {
    /// None was performed.
    None,
    /// A passkey step-up granted earlier by [`Command::GrantStepUp`](crate::Command).
    Passkey(ProofId),
    /// The service's other factors, which it attests to.
    Factors(Vec<Factor>),
}

/// Whether `step_up` is the service's identity check: the factors `id_document` and
/// `face` (P18, P20). A passkey is never one.
pub(crate) fn is_identity_check(step_up: &StepUp) -> bool {
    matches!(step_up, StepUp::Factors(factors)
        if factors.contains(&Factor::IdDocument) && factors.contains(&Factor::Face))
}

/// How a step-up was judged: how it shows in the history, and the grant it redeems.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Judged {
    pub(crate) kind: StepUpKind,
    pub(crate) redeems: Option<ProofId>,
}

/// Judges `step_up` for `change` in `scope` at `now`, without redeeming anything: the
/// same judgement serves a registration's start (pre-flight) and its finish.
///
/// The first passkey of a scope is enabled with the other factors only. Factors count
/// once each and must reach the scope's configured number. A passkey proof must be an
/// unexpired grant of this account for exactly this scope and change, by a passkey the
/// account still holds in that scope (for a DEX authorization, that very passkey: P2);
/// a passkey's proof for its own deletion or
/// replacement counts as the other factors do (P8 locks on it).
pub(crate) fn judge(
    state: &AccountState,
    step_up: &StepUp,
    scope: Scope,
    change: &Change,
    now: Timestamp,
    config: &PolicyConfig,
) -> Result<Judged, PolicyError> {
    let first = state.count(crate::changes::realm_of(scope)) == 0;
    match step_up {
        StepUp::None => Err(PolicyError::StepUpRequired),
        StepUp::Factors(factors) => {
            let distinct: BTreeSet<&Factor> = factors.iter().collect();
            if distinct.len() < config.step_up_factors.of(scope) {
                return Err(PolicyError::StepUpRequired);
            }
            Ok(Judged {
                kind: StepUpKind::Factors,
                redeems: None,
            })
        }
        StepUp::Passkey(_) if first => Err(PolicyError::StepUpRequired),
        StepUp::Passkey(proof) => {
            let grant = state
                .pending_step_up(proof)
                .ok_or(PolicyError::StepUpRequired)?;
            let holder = state.credential(&grant.credential);
            if now > grant.expires_at
                || grant.scope != scope
                || &grant.change != change
                || holder.is_none_or(|c| c.scope != scope)
                || matches!(change, Change::AuthorizeDex(id) if id != &grant.credential)
            {
                return Err(PolicyError::StepUpRequired);
            }
            let own = change.credential() == Some(&grant.credential);
            let kind = match change {
                Change::Delete(_) | Change::Replace(_) if own => StepUpKind::OwnPasskey,
                _ => StepUpKind::Passkey,
            };
            Ok(Judged {
                kind,
                redeems: Some(*proof),
            })
        }
    }
}
