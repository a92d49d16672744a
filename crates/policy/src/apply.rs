//! Folding events into state.

use crate::event::{Event, EventKind};
use crate::model::{AccountState, Credential, CredentialId, Freeze};
use crate::step_up::MAX_PENDING_STEP_UPS;

/// The state after `events`, in order. Events come from [`decide`](crate::decide) and are
/// facts: applying them never fails, and events about unknown passkeys change nothing.
#[must_use]
pub fn apply(mut state: AccountState, events: &[Event]) -> AccountState {
    for event in events {
        apply_one(&mut state, event);
    }
    state
}

fn find<'s>(state: &'s mut AccountState, id: &CredentialId) -> Option<&'s mut Credential> {
    state.credentials.iter_mut().find(|c| &c.id == id)
}

/// Removes a passkey. Its grants die with it, and so do grants for a change of it: a
/// passkey registered again under the same id is not the one they named.
fn remove(state: &mut AccountState, credential: &CredentialId) {
    state.credentials.retain(|c| &c.id != credential);
    state
        .step_ups
        .retain(|p| &p.credential != credential && p.change.credential() != Some(credential));
}

fn apply_one(state: &mut AccountState, event: &Event) {
    match &event.kind {
        EventKind::Registered { credential } => {
            if state.credential(&credential.id).is_none() {
                state.credentials.push(credential.clone());
            }
        }
        EventKind::Renamed { credential, name } => {
            if let Some(c) = find(state, credential) {
                c.name.clone_from(name);
            }
        }
        EventKind::Deleted { credential, .. } => remove(state, credential),
        EventKind::DexAuthorized { credential } => {
            if let Some(c) = find(state, credential) {
                c.dex_authorized = true;
            }
        }
        EventKind::DexRevoked { credential } => {
            if let Some(c) = find(state, credential) {
                c.dex_authorized = false;
            }
        }
        EventKind::Used {
            credential,
            sign_count,
            backed_up,
            ..
        } => {
            if let Some(c) = find(state, credential) {
                c.sign_count = c.sign_count.max(*sign_count);
                c.backed_up = *backed_up;
                c.last_used_at = Some(event.at);
            }
        }
        EventKind::WithdrawalLocked { until } => {
            let current = state.withdrawal_locked_until.unwrap_or(*until);
            state.withdrawal_locked_until = Some(current.max(*until));
        }
        EventKind::StepUpGranted { grant } => {
            // Grants expired by now are worthless: drop them, then keep the newest few.
            state
                .step_ups
                .retain(|p| p.expires_at >= event.at && p.proof != grant.proof);
            state.step_ups.push(grant.clone());
            let excess = state.step_ups.len().saturating_sub(MAX_PENDING_STEP_UPS);
            state.step_ups.drain(..excess);
        }
        EventKind::StepUpRedeemed { proof, .. } => state.step_ups.retain(|p| &p.proof != proof),
        EventKind::Frozen { reason } => {
            // P18: a freeze voids every step-up granted before it, so that no token made
            // before the freeze serves after the unfreeze.
            state.step_ups.clear();
            state.freeze_changes = state.freeze_changes.saturating_add(1);
            if state.frozen.is_none() {
                state.frozen = Some(Freeze {
                    reason: reason.clone(),
                    since: event.at,
                });
            }
        }
        EventKind::Unfrozen => {
            // No grant can be made while frozen: any left (a state folded before freezes
            // voided them) predates the freeze.
            state.step_ups.clear();
            state.freeze_changes = state.freeze_changes.saturating_add(1);
            state.frozen = None;
        }
        EventKind::PasskeyRequiredSet { on } => state.passkey_required = *on,
        EventKind::Revoked { credential, .. } => {
            // The key goes on the revoked list with the id: it never comes back under
            // another id (P20).
            if let Some(key) = state.credential(credential).map(|c| c.public_key.clone())
                && !key.is_empty()
                && !state.revoked_keys.contains(&key)
            {
                state.revoked_keys.push(key);
            }
            remove(state, credential);
            if !state.revoked.contains(credential) {
                state.revoked.push(credential.clone());
            }
        }
    }
}
