//! What happened: the account's history and the source of its state (P14).

use serde::{Deserialize, Serialize};

use crate::intent::Intent;
use crate::model::{Credential, CredentialId, RequestContext, Scope, Timestamp};
use crate::step_up::{Change, PendingStepUp, ProofId};

/// One recorded change or use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// The scope it concerns.
    pub scope: Scope,
    /// Where the request came from.
    #[serde(default)]
    pub context: RequestContext,
    /// What happened.
    pub kind: EventKind,
}

/// How a step-up was satisfied, for the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpKind {
    /// A passkey of the scope.
    Passkey,
    /// The service's other factors.
    Factors,
    /// The passkey's own assertion, for its own deletion or replacement: it counts as
    /// the other factors do, and locks withdrawals (P7, P8).
    OwnPasskey,
    /// Part of a replacement, as recorded before `Deleted::replaced_by` carried the
    /// successor and the step-up kind: kept so that such history still reads. No
    /// new event has it.
    Replaced,
}

impl StepUpKind {
    /// Whether a change stepped up this way locks withdrawals when it removes an
    /// Exchange passkey (P8): anything but another passkey of the scope.
    #[must_use]
    pub fn locks_withdrawals(self) -> bool {
        !matches!(self, Self::Passkey)
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A passkey was added.
    Registered {
        /// Its full record.
        credential: Credential,
    },
    /// A passkey was renamed.
    Renamed {
        /// The passkey.
        credential: CredentialId,
        /// Its new name.
        name: String,
    },
    /// A passkey was removed, by a deletion or (`replaced_by`) a replacement.
    Deleted {
        /// The passkey.
        credential: CredentialId,
        /// How the change was stepped up.
        step_up: StepUpKind,
        /// The successor, when the passkey was replaced (P4); a replacement of an
        /// Exchange passkey locks withdrawals however it was stepped up (P8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced_by: Option<CredentialId>,
    },
    /// A passkey was authorized for DEX.
    DexAuthorized {
        /// The passkey.
        credential: CredentialId,
    },
    /// A passkey's DEX authorization was withdrawn.
    DexRevoked {
        /// The passkey.
        credential: CredentialId,
    },
    /// A passkey was used.
    Used {
        /// The passkey.
        credential: CredentialId,
        /// What for.
        intent: Intent,
        /// The counter to store (never lower than before).
        sign_count: u32,
        /// BS as asserted.
        backed_up: bool,
    },
    /// Withdrawals were locked.
    WithdrawalLocked {
        /// Until when.
        until: Timestamp,
    },
    /// A passkey's user-verified assertion stepped up one named change (P7).
    StepUpGranted {
        /// The grant.
        grant: PendingStepUp,
    },
    /// A step-up grant was spent on the change it was made for, in the same append.
    StepUpRedeemed {
        /// The grant's id.
        proof: ProofId,
        /// The change.
        change: Change,
    },
    /// The account was frozen (P18); the context says who asked.
    Frozen {
        /// Why (cleaned, bounded).
        reason: String,
    },
    /// The account was unfrozen after the identity check (P18).
    Unfrozen,
    /// Passkey-required mode was turned on or off (P19).
    PasskeyRequiredSet {
        /// The new setting.
        on: bool,
    },
    /// A passkey was revoked: by an operator as compromised, or by a recovery of its
    /// scope (P20). It is never accepted again, and its id never registered again.
    Revoked {
        /// The passkey.
        credential: CredentialId,
        /// Why (cleaned, bounded): the operator's reason, or `recovery`.
        reason: String,
    },
}

impl Event {
    /// Whether the service should tell the user (e-mail, push): every change to the set
    /// of passkeys or their powers, and locks. Renames, uses and step-ups (whose change
    /// is told by its own event) are history only.
    #[must_use]
    pub fn notify(&self) -> bool {
        !matches!(
            self.kind,
            EventKind::Renamed { .. }
                | EventKind::Used { .. }
                | EventKind::StepUpGranted { .. }
                | EventKind::StepUpRedeemed { .. }
        )
    }
}
