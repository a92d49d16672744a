//! Uses of a passkey: an intent (P9, P12), or a step-up grant for one change (P7).

use crate::changes::find;
use crate::command::AssertionFacts;
use crate::config::CounterMode;
use crate::decide::{Output, Warning};
use crate::error::PolicyError;
use crate::event::EventKind;
use crate::intent::{Intent, UserVerificationRule};
use crate::model::{AccountState, Credential, Factor, Scope, Timestamp};
use crate::step_up::{Change, PendingStepUp, ProofId};

/// P9: what each intent needs. The checks a step-up grant shares come first.
pub(crate) fn use_passkey(
    state: &AccountState,
    facts: &AssertionFacts,
    intent: Intent,
    factors: &[Factor],
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = admitted(state, facts, intent)?;
    if out.config.is_locked_intent(intent) && state.withdrawals_locked(out.now) {
        return Err(PolicyError::WithdrawalLocked);
    }
    let required = out
        .config
        .intent_factors
        .get(&intent)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !required.iter().all(|f| factors.contains(f)) {
        return Err(PolicyError::StepUpRequired);
    }
    check_counter(credential, facts, out)?;
    record_use(credential, facts, intent, out);
    Ok(())
}

/// P7: a user-verified assertion of the change's scope, recorded as a grant for that
/// one change.
pub(crate) fn grant_step_up(
    state: &AccountState,
    facts: &AssertionFacts,
    scope: Scope,
    change: &Change,
    proof: ProofId,
    expires_at: Timestamp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let intent = Intent::security_change(scope);
    let credential = admitted(state, facts, intent)?;
    if change.scope_in(state, scope)? != scope {
        return Err(PolicyError::ScopeMismatch);
    }
    if matches!(change, Change::AuthorizeDex(id) if id != &facts.credential) {
        return Err(PolicyError::StepUpRequired);
    }
    check_counter(credential, facts, out)?;
    record_use(credential, facts, intent, out);
    let grant = PendingStepUp {
        proof,
        credential: facts.credential.clone(),
        scope,
        change: change.clone(),
        expires_at,
    };
    out.event(scope, EventKind::StepUpGranted { grant });
    Ok(())
}

/// The credential, when it may answer `intent` with the user verification it needs.
fn admitted<'s>(
    state: &'s AccountState,
    facts: &AssertionFacts,
    intent: Intent,
) -> Result<&'s Credential, PolicyError> {
    let credential = find(state, &facts.credential)?;
    intent.admits(credential)?;
    if intent.user_verification() == UserVerificationRule::Required && !facts.user_verified {
        return Err(PolicyError::UserVerificationRequired);
    }
    Ok(credential)
}

/// P12: a counter that did not grow is refused, or flagged when configured.
///
/// Verification compared the counter with the state it had loaded; a concurrent use may
/// have raised the stored one since (callers retry on the newer state), so the
/// comparison is made again against the state decided on.
fn check_counter(
    credential: &Credential,
    facts: &AssertionFacts,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let regressed =
        facts.counter_regressed || counter_did_not_grow(credential.sign_count, facts.sign_count);
    if regressed {
        match out.config.counter {
            CounterMode::Reject => return Err(PolicyError::CounterRegression),
            CounterMode::Flag => out.warn(Warning::CounterRegression),
        }
    }
    Ok(())
}

/// WebAuthn §7.2 step 22: unless both are zero, the counter must grow.
fn counter_did_not_grow(stored: u32, received: u32) -> bool {
    (stored, received) != (0, 0) && received <= stored
}

/// Records a use: counter (never lowered), backup state, last-used time.
fn record_use(
    credential: &Credential,
    facts: &AssertionFacts,
    intent: Intent,
    out: &mut Output<'_>,
) {
    if facts.backup_eligible != credential.backup_eligible {
        out.warn(Warning::BackupEligibilityChanged);
    }
    out.event(
        credential.scope,
        EventKind::Used {
            credential: credential.id.clone(),
            intent,
            sign_count: facts.sign_count.max(credential.sign_count),
            backed_up: facts.backed_up,
        },
    );
}
