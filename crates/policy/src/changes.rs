//! The lifecycle commands: add, rename, delete, replace, DEX authorize and revoke.

use crate::command::NewCredential;
use crate::config::{PolicyConfig, ProviderVerdict};
use crate::decide::{Output, Warning};
use crate::error::PolicyError;
use crate::event::EventKind;
use crate::model::{
    AccountState, Credential, CredentialId, ProviderClass, Realm, Scope, Timestamp,
};
use crate::names;
use crate::step_up::{self, Change, Judged, ProofId, StepUp};

pub(crate) fn realm_of(scope: Scope) -> Realm {
    match scope {
        Scope::Exchange => Realm::Exchange,
        Scope::Pay => Realm::Pay,
    }
}

pub(crate) fn find<'s>(
    state: &'s AccountState,
    id: &CredentialId,
) -> Result<&'s Credential, PolicyError> {
    state.credential(id).ok_or(PolicyError::UnknownCredential)
}

/// What a registration's start and finish both judge: the old passkey of a replacement
/// (same scope), the step-up, the limit, and a scope where no provider class may enter.
pub(crate) fn plan_registration(
    state: &AccountState,
    scope: Scope,
    change: &Change,
    step_up: &StepUp,
    now: Timestamp,
    config: &PolicyConfig,
) -> Result<Judged, PolicyError> {
    let realm = realm_of(scope);
    let adding = match change {
        Change::AddPasskey => true,
        Change::Replace(old) => {
            if find(state, old)?.scope != scope {
                return Err(PolicyError::ScopeMismatch);
            }
            false
        }
        _ => return Err(PolicyError::StepUpRequired),
    };
    let judged = step_up::judge(state, step_up, scope, change, now, config)?;
    if adding && state.count(realm) >= config.limits.of(realm) {
        return Err(PolicyError::LimitReached);
    }
    check_some_provider(scope, config)?;
    Ok(judged)
}

/// P11, before the authenticator runs: a scope whose rules deny every provider class
/// takes no passkey at all.
pub(crate) fn check_some_provider(scope: Scope, config: &PolicyConfig) -> Result<(), PolicyError> {
    let realm = realm_of(scope);
    let classes = [
        ProviderClass::Platform,
        ProviderClass::ThirdParty,
        ProviderClass::Hardware,
        ProviderClass::Unknown,
    ];
    if classes
        .iter()
        .all(|class| config.providers.verdict(realm, *class) == ProviderVerdict::Deny)
    {
        return Err(PolicyError::ProviderDenied);
    }
    Ok(())
}

/// Spends a passkey step-up in the same append as its change.
pub(crate) fn redeem(judged: &Judged, scope: Scope, change: &Change, out: &mut Output<'_>) {
    if let Some(proof) = judged.redeems {
        out.event(
            scope,
            EventKind::StepUpRedeemed {
                proof,
                change: change.clone(),
            },
        );
    }
}

/// P11: the provider rule of `realm` for this AAGUID's class.
pub(crate) fn check_provider(
    class: ProviderClass,
    realm: Realm,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    match out.config.providers.verdict(realm, class) {
        ProviderVerdict::Allow => Ok(()),
        ProviderVerdict::Warn => {
            out.warn(Warning::Provider(class));
            Ok(())
        }
        ProviderVerdict::Deny => Err(PolicyError::ProviderDenied),
    }
}

/// P15, P20: a new passkey's id is held by no passkey of the account and was never
/// revoked, and its public key is none that was revoked here (a stolen key registered
/// again under a new id would be the revoked passkey back). Every path that registers a
/// passkey (registration, replacement, recovery, a U2F import) asks this.
pub(crate) fn check_unused(state: &AccountState, new: &NewCredential) -> Result<(), PolicyError> {
    if state.credential(&new.id).is_some()
        || state.is_revoked(&new.id)
        || state.is_revoked_key(&new.public_key)
    {
        return Err(PolicyError::DuplicateCredential);
    }
    Ok(())
}

/// A compromised model is never accepted; a scope may require a trusted chain.
pub(crate) fn check_attestation(
    new: &NewCredential,
    config: &PolicyConfig,
) -> Result<(), PolicyError> {
    if new.attestation.compromised {
        return Err(PolicyError::AuthenticatorCompromised);
    }
    if config.trusted_attestation.contains(&new.scope) && !new.attestation.trusted {
        return Err(PolicyError::AttestationUntrusted);
    }
    Ok(())
}

/// P6: `base`, numbered past the names the scope's other passkeys (all but `except`)
/// already have.
fn unique_name(
    state: &AccountState,
    base: &str,
    scope: Scope,
    except: Option<&CredentialId>,
) -> String {
    let taken = state
        .credentials
        .iter()
        .filter(|c| c.scope == scope && Some(&c.id) != except)
        .map(|c| c.name.as_str());
    names::unique(base, taken)
}

/// Builds the record of a new passkey: name (P6) and provider class (P11).
pub(crate) fn record(
    state: &AccountState,
    new: &NewCredential,
    except: Option<&CredentialId>,
    out: &Output<'_>,
) -> Result<Credential, PolicyError> {
    let (provider_name, provider) = match out.config.aaguids.lookup(new.aaguid) {
        Some((name, class)) => (name.to_owned(), class),
        None => (names::DEFAULT_NAME.to_owned(), ProviderClass::Unknown),
    };
    let base = match &new.name {
        Some(name) => names::validate(name)?,
        None => provider_name,
    };
    Ok(Credential {
        id: new.id.clone(),
        scope: new.scope,
        dex_authorized: false,
        name: unique_name(state, &base, new.scope, except),
        cred_protect: new.cred_protect,
        app_id: new.app_id.clone(),
        public_key: new.public_key.clone(),
        aaguid: new.aaguid,
        provider,
        sign_count: new.sign_count,
        backup_eligible: new.backup_eligible,
        backed_up: new.backed_up,
        transports: new.transports.clone(),
        created_at: out.now,
        last_used_at: None,
    })
}

pub(crate) fn register(
    state: &AccountState,
    new: &NewCredential,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    check_unused(state, new)?;
    let change = Change::AddPasskey;
    let judged = plan_registration(state, new.scope, &change, step_up, out.now, out.config)?;
    check_attestation(new, out.config)?;
    let credential = record(state, new, None, out)?;
    check_provider(credential.provider, realm_of(new.scope), out)?;
    redeem(&judged, new.scope, &change, out);
    out.event(new.scope, EventKind::Registered { credential });
    Ok(())
}

pub(crate) fn rename(
    state: &AccountState,
    id: &CredentialId,
    name: &str,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    let name = names::validate(name)?;
    let name = unique_name(state, &name, credential.scope, Some(id));
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

/// P8: lock the intents that move funds out from `now` for the configured time (never
/// shortening a lock).
pub(crate) fn lock_withdrawals(state: &AccountState, out: &mut Output<'_>) {
    let until = out.now.plus_seconds(out.config.withdrawal_lock_seconds);
    if state
        .withdrawal_locked_until
        .is_none_or(|current| current < until)
    {
        out.event(Scope::Exchange, EventKind::WithdrawalLocked { until });
    }
}

pub(crate) fn delete(
    state: &AccountState,
    id: &CredentialId,
    step_up: &StepUp,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    let change = Change::Delete(id.clone());
    let judged = step_up::judge(
        state,
        step_up,
        credential.scope,
        &change,
        out.now,
        out.config,
    )?;
    check_not_last(state, credential, false)?;
    redeem(&judged, credential.scope, &change, out);
    out.event(
        credential.scope,
        EventKind::Deleted {
            credential: id.clone(),
            step_up: judged.kind,
            replaced_by: None,
        },
    );
    if credential.scope == Scope::Exchange && judged.kind.locks_withdrawals() {
        lock_withdrawals(state, out);
    }
    Ok(())
}

pub(crate) fn replace(
    state: &AccountState,
    old_id: &CredentialId,
    new: &NewCredential,
    step_up: &StepUp,
    dex_terms_accepted: bool,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let old = find(state, old_id)?;
    check_unused(state, new)?;
    let change = Change::Replace(old_id.clone());
    let judged = plan_registration(state, new.scope, &change, step_up, out.now, out.config)?;
    check_attestation(new, out.config)?;
    let credential = record(state, new, Some(old_id), out)?;
    check_provider(credential.provider, realm_of(new.scope), out)?;
    // P2: the successor is authorized for DEX only on its own UV and the terms; without
    // them the old passkey's authorization ends with it, which P3 forbids for the last.
    let inherits_dex = old.dex_authorized && new.user_verified && dex_terms_accepted;
    if old.dex_authorized && !inherits_dex && state.count(Realm::Dex) <= 1 {
        return Err(PolicyError::LastPasskey);
    }
    if inherits_dex {
        check_provider(credential.provider, Realm::Dex, out)?;
    }
    let scope = old.scope;
    redeem(&judged, scope, &change, out);
    out.event(scope, EventKind::Registered { credential });
    if inherits_dex {
        out.event(
            Scope::Exchange,
            EventKind::DexAuthorized {
                credential: new.id.clone(),
            },
        );
    }
    out.event(
        scope,
        EventKind::Deleted {
            credential: old_id.clone(),
            step_up: judged.kind,
            replaced_by: Some(new.id.clone()),
        },
    );
    if scope == Scope::Exchange {
        lock_withdrawals(state, out);
    }
    Ok(())
}

pub(crate) fn authorize_dex(
    state: &AccountState,
    id: &CredentialId,
    proof: ProofId,
    terms_accepted: bool,
    out: &mut Output<'_>,
) -> Result<(), PolicyError> {
    let credential = find(state, id)?;
    if credential.scope != Scope::Exchange {
        return Err(PolicyError::ScopeMismatch);
    }
    if !terms_accepted {
        return Err(PolicyError::TermsNotAccepted);
    }
    let change = Change::AuthorizeDex(id.clone());
    // Only a grant made by this passkey's own user-verified assertion serves (P2).
    let judged = step_up::judge(
        state,
        &StepUp::Passkey(proof),
        Scope::Exchange,
        &change,
        out.now,
        out.config,
    )?;
    if !credential.dex_authorized {
        if state.count(Realm::Dex) >= out.config.limits.dex {
            return Err(PolicyError::LimitReached);
        }
        check_provider(credential.provider, Realm::Dex, out)?;
    }
    redeem(&judged, Scope::Exchange, &change, out);
    if !credential.dex_authorized {
        out.event(
            Scope::Exchange,
            EventKind::DexAuthorized {
                credential: id.clone(),
            },
        );
    }
    Ok(())
}

pub(crate) fn revoke_dex(
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
    let change = Change::RevokeDex(id.clone());
    let judged = step_up::judge(
        state,
        step_up,
        Scope::Exchange,
        &change,
        out.now,
        out.config,
    )?;
    check_not_last(state, credential, true)?;
    redeem(&judged, Scope::Exchange, &change, out);
    out.event(
        Scope::Exchange,
        EventKind::DexRevoked {
            credential: id.clone(),
        },
    );
    Ok(())
}
