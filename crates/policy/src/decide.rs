//! The engine: a command against the current state becomes events, or a refusal.

use crate::command::{AssertionFacts, Command, NewCredential, StepUp};
use crate::config::{CounterMode, PolicyConfig, ProviderVerdict};
use crate::error::PolicyError;
use crate::event::{Event, EventKind, StepUpKind};
use crate::model::{
    AccountState, Credential, CredentialId, Intent, ProviderClass, Realm, RequestContext, Scope,
    Timestamp,
};
use crate::names;

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
/// A [`PolicyError`] naming the rule that refuses the command.
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
///     transports: vec![],
///     name: None,
///     cred_protect: None,
///     app_id: None,
/// };
/// let now = Timestamp(1_767_225_600);
/// let context = RequestContext::default();
///
/// // The first passkey of a scope needs the service's other factors (P7).
/// let register = Command::Register { credential: passkey, step_up: StepUp::Factors(vec![Factor::Email]) };
/// let decision = decide(&AccountState::default(), &register, now, &context, &config)?;
/// let state = apply(AccountState::default(), &decision.events);
/// assert_eq!(state.credentials[0].name, "Passkey");
///
/// // It cannot be deleted: an activated scope never drops to zero (P3).
/// let delete = Command::Delete {
///     credential: CredentialId::new(*b"credential-id-01"),
///     step_up: StepUp::Factors(vec![Factor::Email, Factor::Totp]),
/// };
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
        decision: Decision::default(),
    };
    match command {
        Command::Register {
            credential,
            step_up,
        } => register(state, credential, step_up, config, &mut out)?,
        Command::Rename { credential, name } => rename(state, credential, name, &mut out)?,
        Command::Delete {
            credential,
            step_up,
        } => delete(state, credential, step_up, config, &mut out)?,
        Command::Replace { old, new, step_up } => {
            replace(state, old, new, step_up, config, &mut out)?
        }
        Command::AuthorizeDex {
            assertion,
            terms_accepted,
        } => {
            authorize_dex(state, assertion, *terms_accepted, config, &mut out)?;
        }
        Command::RevokeDex {
            credential,
            step_up,
        } => revoke_dex(state, credential, step_up, &mut out)?,
        Command::Use {
            assertion,
            intent,
            factors,
        } => {
            use_passkey(state, assertion, *intent, factors, config, &mut out)?;
        }
    }
    Ok(out.decision)
}

/// Collects events stamped with the request's time and context.
struct Output<'c> {
    now: Timestamp,
    context: &'c RequestContext,
    decision: Decision,
}

impl Output<'_> {
    fn event(&mut self, scope: Scope, kind: EventKind) {
        let event = Event {
            at: self.now,
            scope,
            context: self.context.clone(),
            kind,
        };
        self.decision.events.push(event);
    }

    fn warn(&mut self, warning: Warning) {
        self.decision.warnings.push(warning);
    }
}

fn realm_of(scope: Scope) -> Realm {
    match scope {
        Scope::Exchange => Realm::Exchange,
        Scope::Pay => Realm::Pay,
    }
}

fn find<'s>(state: &'s AccountState, id: &CredentialId) -> Result<&'s Credential, PolicyError> {
    state.credential(id).ok_or(PolicyError::UnknownCredential)
}

/// P7: a fresh step-up for a change in `scope`. The first passkey of a scope can only be
/// enabled with the other factors.
fn check_step_up(
    state: &AccountState,
    step_up: &StepUp,
    scope: Scope,
) -> Result<StepUpKind, PolicyError> {
    let first = state.count(realm_of(scope)) == 0;
    match step_up {
        StepUp::Factors(factors) if !factors.is_empty() => Ok(StepUpKind::Factors),
        StepUp::Passkey(facts) if !first => {
            let credential =
                find(state, &facts.credential).map_err(|_| PolicyError::StepUpRequired)?;
            if credential.scope != scope {
                return Err(PolicyError::ScopeMismatch);
            }
            if !facts.user_verified {
                return Err(PolicyError::UserVerificationRequired);
            }
            Ok(StepUpKind::Passkey)
        }
        _ => Err(PolicyError::StepUpRequired),
    }
}

/// P11: the provider rule of `realm` for this AAGUID's class.
fn check_provider(
    class: ProviderClass,
    realm: Realm,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    match config.providers.verdict(realm, class) {
        ProviderVerdict::Allow => Ok(()),
        ProviderVerdict::Warn => {
            out.warn(Warning::Provider(class));
            Ok(())
        }
        ProviderVerdict::Deny => Err(PolicyError::ProviderDenied),
    }
}

/// Builds the record of a new passkey: name (P6) and provider class (P11).
fn record(
    state: &AccountState,
    new: &NewCredential,
    except: Option<&CredentialId>,
    config: &PolicyConfig,
    now: Timestamp,
) -> Result<Credential, PolicyError> {
    let (provider_name, provider) = match config.aaguids.lookup(new.aaguid) {
        Some((name, class)) => (name.to_owned(), class),
        None => (names::DEFAULT_NAME.to_owned(), ProviderClass::Unknown),
    };
    let base = match &new.name {
        Some(name) => names::validate(name)?,
        None => provider_name,
    };
    let taken = state
        .credentials
        .iter()
        .filter(|c| c.scope == new.scope && Some(&c.id) != except)
        .map(|c| c.name.as_str());
    Ok(Credential {
        id: new.id.clone(),
        scope: new.scope,
        dex_authorized: false,
        name: names::unique(&base, taken),
        cred_protect: new.cred_protect,
        app_id: new.app_id.clone(),
        public_key: new.public_key.clone(),
        aaguid: new.aaguid,
        provider,
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
        backed_up: new.backed_up,
        transports: new.transports.clone(),
        created_at: now,
        last_used_at: None,
    })
}

fn register(
    state: &AccountState,
    new: &NewCredential,
    step_up: &StepUp,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    if state.credential(&new.id).is_some() {
        return Err(PolicyError::DuplicateCredential);
    }
    let realm = realm_of(new.scope);
    check_step_up(state, step_up, new.scope)?;
    if state.count(realm) >= config.limits.of(realm) {
        return Err(PolicyError::LimitReached);
    }
    let credential = record(state, new, None, config, out.now)?;
    check_provider(credential.provider, realm, config, out)?;
    out.event(new.scope, EventKind::Registered { credential });
    Ok(())
}

fn rename(
    state: &AccountState,
    id: &CredentialId,
    name: &str,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    let name = names::validate(name)?;
    let taken = state
        .credentials
        .iter()
        .filter(|c| c.scope == credential.scope && c.id != credential.id)
        .map(|c| c.name.as_str());
    let name = names::unique(&name, taken);
    out.event(
        credential.scope,
        EventKind::Renamed {
            credential: id.clone(),
            name,
        },
    );
    Ok(())
}

/// P3: removing `credential` (or its DEX authorization) must not empty a realm.
fn check_not_last(
    state: &AccountState,
    credential: &Credential,
    dex_only: bool,
) -> Result<(), PolicyError> {
    let realm = realm_of(credential.scope);
    if !dex_only && state.count(realm) <= 1 {
        return Err(PolicyError::LastPasskey);
    }
    if credential.in_realm(Realm::Dex) && state.count(Realm::Dex) <= 1 {
        return Err(PolicyError::LastPasskey);
    }
    Ok(())
}

/// P8: lock withdrawals from `now` for the configured time (never shortening a lock).
fn lock_withdrawals(state: &AccountState, config: &PolicyConfig, out: &mut Output<'_>) {
    let until = out.now.plus_seconds(config.withdrawal_lock_seconds);
    if state
        .withdrawal_locked_until
        .is_none_or(|current| current < until)
    {
        out.event(Scope::Exchange, EventKind::WithdrawalLocked { until });
    }
}

fn delete(
    state: &AccountState,
    id: &CredentialId,
    step_up: &StepUp,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    let how = check_step_up(state, step_up, credential.scope)?;
    check_not_last(state, credential, false)?;
    out.event(
        credential.scope,
        EventKind::Deleted {
            credential: id.clone(),
            step_up: how,
        },
    );
    if credential.scope == Scope::Exchange && how == StepUpKind::Factors {
        lock_withdrawals(state, config, out);
    }
    Ok(())
}

fn replace(
    state: &AccountState,
    old_id: &CredentialId,
    new: &NewCredential,
    step_up: &StepUp,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let old = find(state, old_id)?;
    if new.scope != old.scope {
        return Err(PolicyError::ScopeMismatch);
    }
    if state.credential(&new.id).is_some() {
        return Err(PolicyError::DuplicateCredential);
    }
    check_step_up(state, step_up, old.scope)?;
    let mut credential = record(state, new, Some(old_id), config, out.now)?;
    check_provider(credential.provider, realm_of(new.scope), config, out)?;
    if old.dex_authorized {
        // Resetting a DEX passkey hands its place to the successor (P4), so DEX never
        // drops to zero (P3).
        check_provider(credential.provider, Realm::Dex, config, out)?;
        credential.dex_authorized = true;
    }
    let scope = old.scope;
    out.event(scope, EventKind::Registered { credential });
    out.event(
        scope,
        EventKind::Deleted {
            credential: old_id.clone(),
            step_up: StepUpKind::Replaced,
        },
    );
    if scope == Scope::Exchange {
        lock_withdrawals(state, config, out);
    }
    Ok(())
}

fn authorize_dex(
    state: &AccountState,
    facts: &AssertionFacts,
    terms_accepted: bool,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, &facts.credential)?;
    if credential.scope != Scope::Exchange {
        return Err(PolicyError::ScopeMismatch);
    }
    if !terms_accepted {
        return Err(PolicyError::TermsNotAccepted);
    }
    if !facts.user_verified {
        return Err(PolicyError::UserVerificationRequired);
    }
    // The proof's use was recorded when it was made: its counter is already stored.
    check_counter(facts.counter_regressed, config, out)?;
    if credential.dex_authorized {
        return Ok(());
    }
    if state.count(Realm::Dex) >= config.limits.dex {
        return Err(PolicyError::LimitReached);
    }
    check_provider(credential.provider, Realm::Dex, config, out)?;
    record_use(credential, facts, Intent::SecurityChange, out);
    out.event(
        Scope::Exchange,
        EventKind::DexAuthorized {
            credential: facts.credential.clone(),
        },
    );
    Ok(())
}

fn revoke_dex(
    state: &AccountState,
    id: &CredentialId,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    if credential.scope != Scope::Exchange {
        return Err(PolicyError::ScopeMismatch);
    }
    if !credential.dex_authorized {
        return Err(PolicyError::DexNotAuthorized);
    }
    check_step_up(state, step_up, Scope::Exchange)?;
    check_not_last(state, credential, true)?;
    out.event(
        Scope::Exchange,
        EventKind::DexRevoked {
            credential: id.clone(),
        },
    );
    Ok(())
}

/// P12: a counter that did not grow is refused, or flagged when configured.
fn check_counter(
    regressed: bool,
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    if regressed {
        match config.counter {
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

/// P9: what each intent needs.
fn use_passkey(
    state: &AccountState,
    facts: &AssertionFacts,
    intent: Intent,
    factors: &[crate::model::Factor],
    config: &PolicyConfig,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, &facts.credential)?;
    match intent {
        Intent::Login | Intent::Withdrawal => {
            if credential.scope != Scope::Exchange {
                return Err(PolicyError::ScopeMismatch);
            }
        }
        Intent::DexTrade | Intent::DexTransfer => {
            if credential.scope != Scope::Exchange {
                return Err(PolicyError::ScopeMismatch);
            }
            if !credential.dex_authorized {
                return Err(PolicyError::DexNotAuthorized);
            }
        }
        Intent::PaySign => {
            if credential.scope != Scope::Pay {
                return Err(PolicyError::ScopeMismatch);
            }
        }
        // A step-up for a change in the passkey's own scope (P7): Pay passkeys confirm
        // Pay changes, Exchange passkeys Exchange and DEX changes.
        Intent::SecurityChange => {}
    }
    if intent != Intent::Login && !facts.user_verified {
        return Err(PolicyError::UserVerificationRequired);
    }
    if intent == Intent::Withdrawal && state.withdrawals_locked(out.now) {
        return Err(PolicyError::WithdrawalLocked);
    }
    let required = config
        .intent_factors
        .get(&intent)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !required.iter().all(|f| factors.contains(f)) {
        return Err(PolicyError::StepUpRequired);
    }
    // Verification compared the counter with the state it had loaded; a concurrent use
    // may have raised the stored one since (callers retry on the newer state), so the
    // comparison is made again against the state decided on.
    let regressed =
        facts.counter_regressed || counter_did_not_grow(credential.sign_count, facts.sign_count);
    check_counter(regressed, config, out)?;
    record_use(credential, facts, intent, out);
    Ok(())
}
