//! What a service asks the engine to decide, with the evidence it verified.

use latchkey_cose::Aaguid;

use crate::intent::Intent;
use crate::model::{CredentialId, Factor, Scope, Timestamp};
use crate::step_up::{Change, ProofId, StepUp};

/// A lifecycle command or a use of a passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Add a passkey to a scope (P5, P6, P7, P11, P15).
    Register {
        /// The verified registration.
        credential: NewCredential,
        /// The step-up it comes with.
        step_up: StepUp,
    },
    /// Change a passkey's label (P6). Needs no step-up.
    Rename {
        /// The passkey.
        credential: CredentialId,
        /// The new name (trimmed by the engine).
        name: String,
    },
    /// Remove a passkey (P3, P7, P8).
    Delete {
        /// The passkey.
        credential: CredentialId,
        /// The step-up it comes with.
        step_up: StepUp,
    },
    /// Swap a passkey for a new one in one step (P2, P4, P8).
    Replace {
        /// The passkey to remove.
        old: CredentialId,
        /// The verified registration of its successor.
        new: NewCredential,
        /// The step-up it comes with.
        step_up: StepUp,
        /// Whether the user accepted the DEX terms for the successor: with its own UV at
        /// creation, the only way it inherits a DEX authorization (P2).
        dex_terms_accepted: bool,
    },
    /// Authorize an Exchange passkey for DEX with a step-up granted by its own
    /// user-verified assertion for [`Change::AuthorizeDex`] (P2).
    AuthorizeDex {
        /// The passkey.
        credential: CredentialId,
        /// Its grant.
        proof: ProofId,
        /// Whether the user accepted the DEX terms.
        terms_accepted: bool,
    },
    /// Withdraw a passkey's DEX authorization (P3, P7).
    RevokeDex {
        /// The passkey.
        credential: CredentialId,
        /// The step-up it comes with.
        step_up: StepUp,
    },
    /// Use a passkey for an intent (P9, P12).
    Use {
        /// The verified assertion.
        assertion: AssertionFacts,
        /// What it is for.
        intent: Intent,
        /// Other factors the service checked for this request.
        factors: Vec<Factor>,
        /// The account's [`freeze_changes`](crate::AccountState::freeze_changes) when the
        /// assertion's challenge was issued: if the account was frozen or unfrozen since,
        /// the use is refused (P18). `None` when the challenge did not note it (a login,
        /// allowed through a freeze).
        freeze_changes: Option<u64>,
    },
    /// Record a passkey step-up for one change: a user-verified assertion of the change's
    /// scope (P1, P7). The change's own command redeems it later.
    GrantStepUp {
        /// The verified `security_change` assertion.
        assertion: AssertionFacts,
        /// The scope the challenge named.
        scope: Scope,
        /// The one change it is for.
        change: Change,
        /// The grant's id (a hash of the token the service holds). One still pending is
        /// refused; an id once redeemed has left the state, so ids must be fresh (the
        /// facade hashes 32 random bytes).
        proof: ProofId,
        /// The deadline of the challenge it was made with: after now, and no later than
        /// one challenge lifetime from now.
        expires_at: Timestamp,
        /// The account's [`freeze_changes`](crate::AccountState::freeze_changes) when that
        /// challenge was issued: if the account was frozen or unfrozen since, the grant is
        /// refused (P18).
        freeze_changes: u64,
        /// Other factors the service checked for this request: the ones the config
        /// requires of the scope's `security_change` intent (P9).
        factors: Vec<Factor>,
    },
    /// Freeze the account, on the user's request or the service's risk engine (P18).
    /// Needs no step-up: freezing only takes power away. Freezing a frozen account
    /// changes nothing.
    Freeze {
        /// Why; control and format characters are dropped and it is cut at
        /// [`MAX_REASON_CHARS`](crate::MAX_REASON_CHARS).
        reason: String,
    },
    /// Unfreeze the account (P18): only with the service's identity check, the factors
    /// `id_document` and `face`; never a passkey alone.
    Unfreeze {
        /// The step-up it comes with.
        step_up: StepUp,
    },
    /// Turn passkey-required mode on or off (P19). On: a passkey step-up of the
    /// Exchange scope for [`Change::PasskeyRequiredOn`], or the factors. Off: only a
    /// passkey step-up of the Exchange scope for [`Change::PasskeyRequiredOff`].
    SetPasskeyRequired {
        /// The new setting.
        on: bool,
        /// The step-up it comes with.
        step_up: StepUp,
    },
    /// An operator revokes a passkey as compromised (P20): even the last of its scope
    /// (the one exception to P3). A revocation of either scope locks withdrawals (P8).
    /// Every passkey of the account holding the same public key goes with it, and the
    /// key is never registered again (P20). Only a context whose actor is an operator
    /// sends it: the engine refuses any other with
    /// [`PolicyError::OperatorRequired`](crate::PolicyError::OperatorRequired).
    RevokeCompromised {
        /// The passkey.
        credential: CredentialId,
        /// Why (cleaned and bounded like a freeze reason).
        reason: String,
    },
    /// Recover a scope after the identity check (P20): every passkey of the new one's
    /// scope (and any passkey of the other scope holding one of their keys) is revoked
    /// and the new one registered, in one step; for Exchange every DEX
    /// authorization goes with them (the new passkey is authorized only by P2) and
    /// withdrawals lock.
    Recover {
        /// The verified registration of the new passkey; its scope is the one recovered.
        new: NewCredential,
        /// The step-up: the factors `id_document` and `face`.
        step_up: StepUp,
    },
}

/// A verified registration, as the facade hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCredential {
    /// The credential id.
    pub id: CredentialId,
    /// Exchange or Pay.
    pub scope: Scope,
    /// The COSE public key.
    pub public_key: Vec<u8>,
    /// The authenticator model.
    pub aaguid: Aaguid,
    /// The initial counter.
    pub sign_count: u32,
    /// BE.
    pub backup_eligible: bool,
    /// BS.
    pub backed_up: bool,
    /// Whether the authenticator verified the user when it created the passkey (UV).
    pub user_verified: bool,
    /// What verification established about its attestation.
    pub attestation: AttestationFacts,
    /// Transports the client reported.
    pub transports: Vec<String>,
    /// A name the user chose; otherwise the provider's (P6).
    pub name: Option<String>,
    /// The `credProtect` level (1-3) the authenticator applied, when it said: assertions
    /// are held to it.
    pub cred_protect: Option<u8>,
    /// The FIDO AppID, for a credential registered through U2F before WebAuthn: its
    /// assertions may then carry SHA-256 of the AppID as rpIdHash (WebAuthn §10.1.1).
    pub app_id: Option<String>,
}

/// What verification established about a registration's attestation; the engine
/// decides whether the scope accepts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttestationFacts {
    /// The attestation chains to a trust anchor.
    pub trusted: bool,
    /// FIDO metadata reports the authenticator model compromised.
    pub compromised: bool,
}

/// A verified assertion, as the facade hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssertionFacts {
    /// The credential that signed.
    pub credential: CredentialId,
    /// UV.
    pub user_verified: bool,
    /// The counter in the assertion.
    pub sign_count: u32,
    /// BE as asserted.
    pub backup_eligible: bool,
    /// BS as asserted.
    pub backed_up: bool,
    /// Whether the counter failed to grow (verification reported it; policy decides).
    pub counter_regressed: bool,
}
