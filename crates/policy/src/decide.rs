//! The engine: a command against the current state becomes events, or a refusal.

use crate::account;
use crate::changes;
use crate::command::Command;
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::event::{Event, EventKind};
use crate::model::{AccountState, ProviderClass, RequestContext, Scope, Timestamp};
use crate::step_up::{Change, StepUp};
use crate::uses;

/// What the engine decided: the events to append, and warnings for the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Events to append atomically, in order.
    pub events: Vec<Event>,
    /// Accepted, but worth telling someone.
    pub warnings: Vec<Warning>,
}

/// Something accepted that a service may want to surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The provider class is on "warn" for this realm (P11).
    Provider(ProviderClass),
    /// BE differs from the registered value (P12).
    BackupEligibilityChanged,
    /// The counter did not grow, and the configuration flags instead of refusing (P12).
    CounterRegression,
}

impl Warning {
    /// A stable code (`third_party_provider`, `backup_eligibility_changed`, ...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Provider(ProviderClass::Platform) => "platform_provider",
            Self::Provider(ProviderClass::ThirdParty) => "third_party_provider",
            Self::Provider(ProviderClass::Hardware) => "hardware_provider",
            Self::Provider(ProviderClass::Unknown) => "unknown_provider",
            Self::BackupEligibilityChanged => "backup_eligibility_changed",
            Self::CounterRegression => "counter_regression",
        }
    }
}

/// Decides `command` for an account in `state` at `now`.
///
/// Pure: no clock, no I/O; the same inputs always give the same decision. A refusal means
/// nothing changes. Feed the events to [`apply`](crate::apply) (or a store) to get the
/// next state.
///
/// # Errors
///
/// A [`PolicyError`] naming the rule that refuses the command;
/// [`PolicyError::UnnamedActor`] (code `internal`) when `context` names an operator
/// without an id (P14: every event says who acted).
///
/// # Example
///
/// ```
/// use latchkey_policy::*;
///
/// let config = PolicyConfig::default();
/// let passkey = NewCredential {
///     id: CredentialId::new(*b"credential-id-01"),
///     scope: Scope::Exchange,
///     public_key: vec![],
///     aaguid: latchkey_cose::Aaguid::ZERO,
///     sign_count: 0,
///     backup_eligible: true,
///     backed_up: true,
///     user_verified: true,
///     attestation: AttestationFacts::default(),
///     transports: vec![],
///     name: None,
///     cred_protect: None,
///     app_id: None,
/// };
/// let now = Timestamp(1_767_225_600);
/// let context = RequestContext::default();
///
/// // The first passkey of a scope needs the service's other factors (P7): two distinct
/// // ones for Exchange by default.
/// let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
/// let register = Command::Register { credential: passkey, step_up: step_up.clone() };
/// let decision = decide(&AccountState::default(), &register, now, &context, &config)?;
/// let state = apply(AccountState::default(), &decision.events);
/// assert_eq!(state.credentials[0].name, "Passkey");
///
/// // It cannot be deleted: an activated scope never drops to zero (P3).
/// let delete = Command::Delete { credential: CredentialId::new(*b"credential-id-01"), step_up };
/// assert_eq!(decide(&state, &delete, now, &context, &config), Err(PolicyError::LastPasskey));
/// # Ok::<(), PolicyError>(())
/// ```
pub fn decide(
    state: &AccountState,
    command: &Command,
    now: Timestamp,
    context: &RequestContext,
    config: &PolicyConfig,
) -> Result<Decision, PolicyError> {
    let mut out = Output {
        now,
        context,
        config,
        decision: Decision::default(),
    };
    if !context.actor.is_named() {
        return Err(PolicyError::UnnamedActor);
    }
    account::check_frozen(state, command, config.frozen_login)?;
    match command {
        Command::Register {
            credential,
            step_up,
        } => changes::register(state, credential, step_up, &mut out)?,
        Command::Rename { credential, name } => changes::rename(state, credential, name, &mut out)?,
        Command::Delete {
            credential,
            step_up,
        } => changes::delete(state, credential, step_up, &mut out)?,
        Command::Replace {
            old,
            new,
            step_up,
            dex_terms_accepted,
        } => changes::replace(state, old, new, step_up, *dex_terms_accepted, &mut out)?,
        Command::AuthorizeDex {
            credential,
            proof,
            terms_accepted,
        } => changes::authorize_dex(state, credential, *proof, *terms_accepted, &mut out)?,
        Command::RevokeDex {
            credential,
            step_up,
        } => changes::revoke_dex(state, credential, step_up, &mut out)?,
        Command::Use {
            assertion,
            intent,
            factors,
            freeze_changes,
        } => uses::use_passkey(
            state,
            assertion,
            *intent,
            factors,
            *freeze_changes,
            &mut out,
        )?,
        Command::GrantStepUp {
            assertion,
            scope,
            change,
            proof,
            expires_at,
            freeze_changes,
            factors,
        } => uses::grant_step_up(
            state,
            assertion,
            uses::Grant {
                scope: *scope,
                change,
                proof: *proof,
                expires_at: *expires_at,
                freeze_changes: *freeze_changes,
            },
            factors,
            &mut out,
        )?,
        Command::Freeze { reason } => account::freeze(state, reason, &mut out)?,
        Command::Unfreeze { step_up } => account::unfreeze(state, step_up, &mut out)?,
        Command::SetPasskeyRequired { on, step_up } => {
            account::set_passkey_required(state, *on, step_up, &mut out)?;
        }
        Command::RevokeCompromised { credential, reason } => {
            account::revoke_compromised(state, credential, reason, &mut out)?;
        }
        Command::Recover { new, step_up } => account::recover(state, new, step_up, &mut out)?,
    }
    Ok(out.decision)
}

/// Judges what can be known of a registration before the authenticator runs: the
/// step-up (without spending it), the scope's limit, the old passkey of a replacement,
/// and a scope that denies every provider class (P7). `change` is
/// [`Change::AddPasskey`] or [`Change::Replace`]. The finish decides the same again
/// with the registration in hand, so a start that passes here and a finish that
/// refuses can differ only by what the authenticator produced.
///
/// # Errors
///
/// The [`PolicyError`] the finish would give for the same state and step-up
/// (`account_frozen` for a frozen account, P18).
pub fn preflight(
    state: &AccountState,
    scope: Scope,
    change: &Change,
    step_up: &StepUp,
    now: Timestamp,
    config: &PolicyConfig,
) -> Result<(), PolicyError> {
    if state.is_frozen() {
        return Err(PolicyError::AccountFrozen);
    }
    changes::plan_registration(state, scope, change, step_up, now, config).map(|_| ())
}

/// Judges what can be known of a recovery of `scope` before the authenticator runs
/// (P20): an account that is not frozen (P18), the identity check (`id_document` and
/// `face`) and a scope that takes some provider class. The finish
/// ([`Command::Recover`]) judges it again.
///
/// # Errors
///
/// `account_frozen`, `step_up_required` without the identity check, `provider_denied`.
pub fn preflight_recovery(
    state: &AccountState,
    scope: Scope,
    step_up: &StepUp,
    config: &PolicyConfig,
) -> Result<(), PolicyError> {
    account::check_recovery(state, scope, step_up, config)
}

/// Collects events stamped with the request's time and context.
pub(crate) struct Output<'c> {
    pub(crate) now: Timestamp,
    pub(crate) context: &'c RequestContext,
    pub(crate) config: &'c PolicyConfig,
    pub(crate) decision: Decision,
}

impl Output<'_> {
    pub(crate) fn event(&mut self, scope: Scope, kind: EventKind) {
        let event = Event {
            at: self.now,
            scope,
            context: self.context.recorded(),
            kind,
        };
        self.decision.events.push(event);
    }

    pub(crate) fn warn(&mut self, warning: Warning) {
        self.decision.warnings.push(warning);
    }
}
