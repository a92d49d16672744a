//! What concerns the whole account: freeze (P18), passkey-required mode (P19), an
//! operator's revocation and the recovery of a scope (P20), and the status a service
//! reads for the paths it runs itself.
//!
//! `freeze` on the user's request, `set_passkey_required` and `status` are user-facing.
//! `unfreeze`, `revoke_compromised` and recovery belong behind the service's own admin
//! authentication and identity check: the facade trusts the step-up and actor the
//! service attests to, as it does for every factor.

use latchkey_policy::{
    Actor, Command, CredentialId, Freeze, RequestContext, Scope, Timestamp, preflight_recovery,
};
use latchkey_store::{AccountId, Store};

use super::Passkeys;
use super::management::Changed;
use super::outcome::{Registered, StepUp, User};
use super::registration::Creation;
use super::request::FinishRecovery;
use crate::error::{Error, Result};
use crate::json::CreationOptions;
use crate::trace::{self, operation_span, traced};

/// What a service reads of an account before running a path of its own (P8, P18, P19).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountStatus {
    /// Why and since when the account is frozen, if it is (P18).
    pub frozen: Option<Freeze>,
    /// Passkey-required mode (P19): when on, the service's password login and
    /// withdrawals without a passkey must refuse.
    pub passkey_required: bool,
    /// Until when the money-out intents are locked, if they are now (P8).
    pub withdrawals_locked_until: Option<Timestamp>,
}

impl<S: Store> Passkeys<S> {
    /// Freezes the account (P18): on the user's own request, or the service's risk
    /// engine, with a reason (control and format characters are dropped, and it is cut
    /// at [`MAX_REASON_CHARS`](crate::policy::MAX_REASON_CHARS)). No step-up: freezing
    /// only takes power away. Until [`unfreeze`](Self::unfreeze), every change and every
    /// intent but login is refused with `account_frozen` (login too when
    /// [`PolicyConfig::frozen_login`](crate::PolicyConfig::frozen_login) says so).
    /// Freezing a frozen account appends nothing. The freeze voids every passkey
    /// step-up token granted before it: none serves after the unfreeze.
    ///
    /// The history records `context.actor` as who froze it (P14): the user by default
    /// ([`Actor::User`]); a freeze by the service's risk engine or an operator passes
    /// [`Actor::Operator`] with the id the service gives it (say `"risk-engine"`), and
    /// the reason says why.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn freeze(
        &self,
        account: &AccountId,
        reason: &str,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("freeze"), async move {
            let command = Command::Freeze {
                reason: reason.to_owned(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Unfreezes the account (P18) after the service's identity check: `step_up` must
    /// be the factors [`Factor::IdDocument`](crate::Factor::IdDocument) and
    /// [`Factor::Face`](crate::Factor::Face); a passkey alone never unfreezes. An
    /// operator call: keep it behind the service's admin authentication.
    ///
    /// # Errors
    ///
    /// `step_up_required` without the identity check; store errors.
    pub async fn unfreeze(
        &self,
        account: &AccountId,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("unfreeze"), async move {
            let command = Command::Unfreeze {
                step_up: step_up.to_policy(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Turns passkey-required mode on or off (P19). On: a passkey step-up of the
    /// Exchange scope started for [`Change::PasskeyRequiredOn`](crate::Change), or the
    /// factors. Off: only a passkey step-up of the Exchange scope started for
    /// [`Change::PasskeyRequiredOff`](crate::Change); factors alone never turn it off.
    /// Setting it to what it is appends nothing.
    ///
    /// # Errors
    ///
    /// `step_up_required`, `account_frozen`, store errors.
    pub async fn set_passkey_required(
        &self,
        account: &AccountId,
        on: bool,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("set_passkey_required"), async move {
            trace::scope(Scope::Exchange);
            let command = Command::SetPasskeyRequired {
                on,
                step_up: step_up.to_policy(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// An operator revokes a passkey as compromised (P20), with a reason: even the last
    /// of its scope. A revocation of either scope locks withdrawals (P8); the scope's
    /// next registration then needs the factors. The passkey is never accepted again
    /// (a login with it is `unknown_credential` with a
    /// [`signal_unknown_credential`](Self::signal_unknown_credential) payload), its id
    /// never registered again, and its public key registered under no new id; a passkey
    /// of the account holding the same key goes with it. `context.actor` must name the operator
    /// ([`Actor::Operator`], by an id that is not blank and holds no control or format
    /// characters): the history says who acted (P14). An operator call: keep it behind
    /// the service's admin authentication.
    ///
    /// # Errors
    ///
    /// Code `internal` (a misused call) when the context's actor is not an operator
    /// ([`Error::Internal`]; the engine refuses it too, with
    /// [`PolicyError::OperatorRequired`](crate::policy::PolicyError::OperatorRequired))
    /// or names none
    /// ([`PolicyError::UnnamedActor`](crate::policy::PolicyError::UnnamedActor), as for
    /// every call); `unknown_credential`; store errors.
    pub async fn revoke_compromised(
        &self,
        account: &AccountId,
        credential: &CredentialId,
        reason: &str,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("revoke_compromised"), async move {
            if !matches!(context.actor, Actor::Operator(_)) {
                return Err(Error::Internal(
                    "revoke_compromised needs a context whose actor is an operator",
                ));
            }
            let command = Command::RevokeCompromised {
                credential: credential.clone(),
                reason: reason.to_owned(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Starts recovering `scope` (P20): the creation options of the one passkey that
    /// will replace every passkey of the scope. `step_up` must be the service's
    /// identity check (factors `id_document` and `face`), judged now and again at the
    /// finish. The options exclude nothing: the passkeys they replace are revoked.
    ///
    /// # Errors
    ///
    /// `account_frozen` (unfreeze first, with the same identity check),
    /// `step_up_required`, `provider_denied`, store or randomness failures.
    pub async fn start_recovery(
        &self,
        account: &AccountId,
        user: &User,
        scope: Scope,
        step_up: &StepUp,
    ) -> Result<CreationOptions> {
        traced(operation_span!("start_recovery"), async move {
            let state = self.store.load(account).await?.value;
            preflight_recovery(&state, scope, &step_up.to_policy(), &self.policy)?;
            self.start_creation(&state, account, user, scope, Creation::Recover)
                .await
        })
        .await
    }

    /// Finishes a recovery (P20): verifies the new passkey, then in one append revokes
    /// every passkey of its scope and registers it; for Exchange every DEX authorization
    /// goes (the new passkey is authorized only by P2) and withdrawals lock. What is
    /// revoked is never accepted again. The result carries the
    /// `signalAllAcceptedCredentials` payload of the scope: the new passkey alone.
    ///
    /// # Errors
    ///
    /// Challenge errors (a challenge not started by
    /// [`start_recovery`](Self::start_recovery) for this account is
    /// `challenge_mismatch`), verification, policy (`account_frozen`, `step_up_required`,
    /// `duplicate_credential`...) and store errors.
    pub async fn finish_recovery(&self, request: FinishRecovery<'_>) -> Result<Registered> {
        traced(operation_span!("finish_recovery"), async move {
            let FinishRecovery {
                account,
                response,
                step_up,
                context,
                name,
            } = request;
            let (new, client_extensions) = self
                .verify_registration(account, Creation::Recover, response, name, context)
                .await?;
            let command = Command::Recover {
                new: new.clone(),
                step_up: step_up.to_policy(),
            };
            let (decision, state) = self.commit(account, context, &command, None).await?;
            let mut registered = Self::registered(&state, &new.id, decision, client_extensions)?;
            registered.accepted = Some(self.accepted(account, new.scope, &state.credentials));
            Ok(registered)
        })
        .await
    }

    /// What a service reads before a path of its own: frozen, passkey-required mode,
    /// and the withdrawal lock (P8, P18, P19).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn status(&self, account: &AccountId) -> Result<AccountStatus> {
        let state = self.store.load(account).await?.value;
        Ok(AccountStatus {
            withdrawals_locked_until: state.withdrawals_locked_until(self.clock.now()),
            frozen: state.frozen,
            passkey_required: state.passkey_required,
        })
    }

    /// Whether passkey-required mode is on (P19): when it is, the service's own
    /// fallback paths (password login, withdrawal without a passkey) must refuse.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn passkey_required(&self, account: &AccountId) -> Result<bool> {
        Ok(self.status(account).await?.passkey_required)
    }

    /// Whether the account is frozen (P18).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn is_frozen(&self, account: &AccountId) -> Result<bool> {
        Ok(self.status(account).await?.frozen.is_some())
    }
}
