//! What concerns the whole account rather than one passkey: freeze (P18), the
//! passkey-required mode (P19), an operator's revocation and the recovery of a scope
//! (P20).

use crate::changes::{self, find, realm_of};
use crate::command::NewCredential;
use crate::config::FrozenLogin;
use crate::decide::Output;
use crate::error::PolicyError;
use crate::event::EventKind;
use crate::intent::Intent;
use crate::model::{AccountState, Actor, Credential, CredentialId, Scope, same_key};
use crate::step_up::{self, Change, StepUp};

/// Longest freeze or revocation reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// The reason a recovery gives the passkeys it revokes.
pub const RECOVERY_REASON: &str = "recovery";

/// A reason as the history keeps it: trimmed, without control or format characters,
/// at most [`MAX_REASON_CHARS`] characters; `default` when nothing is left.
fn clean_reason(reason: &str, default: &str) -> String {
    let kept: String = reason
        .chars()
        .filter(|c| !c.is_control() && !crate::names::is_format(*c))
        .take(MAX_REASON_CHARS)
        .collect();
    let kept = kept.trim();
    if kept.is_empty() {
        default.to_owned()
    } else {
        kept.to_owned()
    }
}

/// P18: what a frozen account refuses. Every change and every intent but login (and
/// login too when configured); the operator's revocation, a recovery, the unfreeze and
/// a second freeze go through.
pub(crate) fn check_frozen(
    state: &AccountState,
    command: &crate::command::Command,
    frozen_login: FrozenLogin,
) -> Result<(), PolicyError> {
    use crate::command::Command;
    if !state.is_frozen() {
        return Ok(());
    }
    let allowed = match command {
        Command::Use { intent, .. } => {
            *intent == Intent::Login && frozen_login == FrozenLogin::Allow
        }
        // A revocation only takes power away. A recovery registers a passkey: a change,
        // refused like any other until the unfreeze (which takes the same identity check).
        Command::Freeze { .. } | Command::Unfreeze { .. } | Command::RevokeCompromised { .. } => {
            true
        }
        Command::Recover { .. }
        | Command::Register { .. }
        | Command::Rename { .. }
        | Command::Delete { .. }
        | Command::Replace { .. }
        | Command::AuthorizeDex { .. }
        | Command::RevokeDex { .. }
        | Command::GrantStepUp { .. }
        | Command::SetPasskeyRequired { .. } => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(PolicyError::AccountFrozen)
    }
}

pub(crate) fn freeze(
    state: &AccountState,
    reason: &str,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    if !state.is_frozen() {
        let reason = clean_reason(reason, "user_request");
        out.event(Scope::Exchange, EventKind::Frozen { reason });
    }
    Ok(())
}

pub(crate) fn unfreeze(
    state: &AccountState,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    if !step_up::is_identity_check(step_up) {
        return Err(PolicyError::StepUpRequired);
    }
    if state.is_frozen() {
        out.event(Scope::Exchange, EventKind::Unfrozen);
    }
    Ok(())
}

pub(crate) fn set_passkey_required(
    state: &AccountState,
    on: bool,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    if state.passkey_required == on {
        return Ok(());
    }
    // Off: an Exchange passkey, never the factors alone (P19).
    if !on && !matches!(step_up, StepUp::Passkey(_)) {
        return Err(PolicyError::StepUpRequired);
    }
    let change = if on {
        Change::PasskeyRequiredOn
    } else {
        Change::PasskeyRequiredOff
    };
    let judged = step_up::judge(
        state,
        step_up,
        Scope::Exchange,
        &change,
        out.now,
        out.config,
    )?;
    changes::redeem(&judged, Scope::Exchange, &change, out);
    out.event(Scope::Exchange, EventKind::PasskeyRequiredSet { on });
    Ok(())
}

pub(crate) fn revoke_compromised(
    state: &AccountState,
    id: &CredentialId,
    reason: &str,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    // Defence in depth: the facade lets only an operator's context revoke, and the
    // engine refuses any other too, since this is the one command that may empty a scope
    // (P20's exception to P3) and the history must say an operator did it (P14). A user
    // context here is the service's misuse, not the client's input: `internal`.
    if !matches!(out.context.actor, Actor::Operator(_)) {
        return Err(PolicyError::OperatorRequired);
    }
    let credential = find(state, id)?;
    let reason = clean_reason(reason, "compromised");
    // The key is what is compromised: a passkey of the account that holds the same key
    // under another id goes with it (P20).
    for revoked in state.credentials.iter().filter(|c| {
        &c.id == id || (!c.public_key.is_empty() && same_key(&c.public_key, &credential.public_key))
    }) {
        out.event(
            revoked.scope,
            EventKind::Revoked {
                credential: revoked.id.clone(),
                reason: reason.clone(),
            },
        );
    }
    // P20: a revocation of either scope locks withdrawals (P8).
    changes::lock_withdrawals(state, out);
    Ok(())
}

pub(crate) fn recover(
    state: &AccountState,
    new: &NewCredential,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    check_recovery(state, new.scope, step_up, out.config)?;
    changes::check_unused(state, new)?;
    changes::check_attestation(new, out.config)?;
    // The new passkey's name is judged against the scope as it will be: empty.
    let mut after = state.clone();
    after.credentials.retain(|c| c.scope != new.scope);
    let credential = changes::record(&after, new, None, out)?;
    changes::check_provider(credential.provider, realm_of(new.scope), out)?;
    let recovered: Vec<&Credential> = state
        .credentials
        .iter()
        .filter(|c| c.scope == new.scope)
        .collect();
    // The new passkey holds none of the keys this recovery revokes: `check_unused` knows
    // only the keys revoked before (P20).
    if recovered
        .iter()
        .any(|old| !old.public_key.is_empty() && same_key(&old.public_key, &new.public_key))
    {
        return Err(PolicyError::DuplicateCredential);
    }
    // The keys are what recovery revokes: a passkey of the other scope holding one of
    // them under another id (only a holder of the stolen key can have made it) goes too.
    let sharing = state.credentials.iter().filter(|c| {
        c.scope != new.scope
            && !c.public_key.is_empty()
            && recovered
                .iter()
                .any(|old| same_key(&old.public_key, &c.public_key))
    });
    for old in recovered.iter().copied().chain(sharing) {
        out.event(
            old.scope,
            EventKind::Revoked {
                credential: old.id.clone(),
                reason: RECOVERY_REASON.to_owned(),
            },
        );
    }
    out.event(new.scope, EventKind::Registered { credential });
    if new.scope == Scope::Exchange {
        changes::lock_withdrawals(state, out);
    }
    Ok(())
}

/// What a recovery's start and finish both judge: an account that is not frozen (a
/// recovery registers a passkey, P18), the identity check, and a scope where some
/// provider class may enter.
pub(crate) fn check_recovery(
    state: &AccountState,
    scope: Scope,
    step_up: &StepUp,
    config: &crate::config::PolicyConfig,
) -> Result<(), PolicyError> {
    if state.is_frozen() {
        return Err(PolicyError::AccountFrozen);
    }
    if !step_up::is_identity_check(step_up) {
        return Err(PolicyError::StepUpRequired);
    }
    changes::check_some_provider(scope, config)
}
