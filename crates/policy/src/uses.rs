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
    freeze_changes: Option<u64>,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    check_begun_since_freeze(state, freeze_changes, PolicyError::CeremonyBeforeFreeze)?;
    let credential = admitted(state, facts, intent)?;
    if out.config.is_locked_intent(intent) && state.withdrawals_locked(out.now) {
        return Err(PolicyError::WithdrawalLocked);
    }
    check_intent_factors(intent, factors, out)?;
    check_counter(credential, facts, out)?;
    record_use(credential, facts, intent, out);
    Ok(())
}

/// What a step-up assertion is to be recorded as.
pub(crate) struct Grant<'c> {
    /// The scope the challenge named.
    pub scope: Scope,
    /// The one change it is for.
    pub change: &'c Change,
    /// Its id.
    pub proof: ProofId,
    /// The challenge's deadline.
    pub expires_at: Timestamp,
    /// The account's freeze count when its challenge was issued.
    pub freeze_changes: u64,
}

/// P7: a user-verified assertion of the change's scope, with the factors P9 requires of
/// that scope's `security_change`, recorded as a grant for that one change.
pub(crate) fn grant_step_up(
    state: &AccountState,
    facts: &AssertionFacts,
    grant: Grant<'_>,
    factors: &[Factor],
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let Grant {
        scope,
        change,
        proof,
        expires_at,
        freeze_changes,
    } = grant;
    let intent = Intent::security_change(scope);
    let credential = admitted(state, facts, intent)?;
    if change.scope_in(state, scope)? != scope {
        return Err(PolicyError::ScopeMismatch);
    }
    if matches!(change, Change::AuthorizeDex(id) if id != &facts.credential) {
        return Err(PolicyError::StepUpRequired);
    }
    // A grant lives no longer than the challenge it was made with could, and an id is
    // granted once: a second grant under it would revive a spent or pending proof.
    let latest = out.now.plus_seconds(out.config.challenge_ttl_seconds);
    if expires_at < out.now || expires_at > latest {
        return Err(PolicyError::StepUpRequired);
    }
    if state.step_ups.iter().any(|pending| pending.proof == proof) {
        return Err(PolicyError::StepUpRequired);
    }
    // P18: a freeze voids the grants made before it, and so the ceremonies begun before
    // it or before the unfreeze.
    check_begun_since_freeze(state, Some(freeze_changes), PolicyError::StepUpRequired)?;
    check_intent_factors(intent, factors, out)?;
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

/// P18: a ceremony whose challenge noted a freeze count the account has moved past (it
/// was frozen or unfrozen since the ceremony began) serves nothing: `refusal`.
fn check_begun_since_freeze(
    state: &AccountState,
    freeze_changes: Option<u64>,
    refusal: PolicyError,
) -> Result<(), PolicyError> {
    if freeze_changes.is_some_and(|count| count != state.freeze_changes) {
        return Err(refusal);
    }
    Ok(())
}

/// The extra factors the config requires of `intent` (P9), all present.
fn check_intent_factors(
    intent: Intent,
    factors: &[Factor],
    out: &Output<'_>,
) -> Result<(), PolicyError> {
    let required = out
        .config
        .intent_factors
        .get(&intent)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if required.iter().all(|f| factors.contains(f)) {
        Ok(())
    } else {
        Err(PolicyError::StepUpRequired)
    }
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
