//! Managing an account's passkeys: DEX authorization, rename, delete, and what the
//! service reads back (lists, history, the withdrawal lock).

use latchkey_policy::{
    Command, Credential, CredentialId, Event, EventKind, RequestContext, Scope, Timestamp, Warning,
};
use latchkey_store::{AccountId, Store};

use super::Passkeys;
use super::outcome::{StepUp, StepUpToken};
use crate::error::Result;
use crate::json::{SignalAllAcceptedCredentials, b64};
use crate::trace::{operation_span, traced};

/// Most events one page of the history holds.
pub const MAX_HISTORY_PAGE: usize = 500;

/// A passkey deleted: what was appended, and what the client should keep.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Deleted {
    /// The events appended (P14).
    pub events: Vec<Event>,
    /// The `signalAllAcceptedCredentials` payload for the deleted passkey's scope (P13).
    pub accepted: SignalAllAcceptedCredentials,
}

/// A passkey changed in place (DEX authorized or revoked, renamed): what was appended,
/// and what the service should tell the user.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changed {
    /// The events appended (P14).
    pub events: Vec<Event>,
    /// Warnings the policy raised, such as a provider class the DEX realm only warns
    /// about (P11).
    pub warnings: Vec<Warning>,
}

/// One page of an account's history, oldest first (P14).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryPage {
    /// The events, at most the page size asked for.
    pub events: Vec<Event>,
    /// Where the next page starts, when there is one.
    pub next: Option<usize>,
}

impl<S: Store> Passkeys<S> {
    /// Authorizes an Exchange passkey for DEX (P2): `token` must come from a step-up
    /// started for [`Change::AuthorizeDex`](crate::Change::AuthorizeDex) of this passkey and answered by it, with user
    /// verification.
    ///
    /// # Errors
    ///
    /// `terms_not_accepted`, `scope_mismatch`, `step_up_required` (another passkey's,
    /// another change's, a spent or expired token), `limit_reached`, store errors.
    pub async fn authorize_dex(
        &self,
        account: &AccountId,
        credential: &CredentialId,
        token: &StepUpToken,
        terms_accepted: bool,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("authorize_dex"), async move {
            let command = Command::AuthorizeDex {
                credential: credential.clone(),
                proof: token.proof(),
                terms_accepted,
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Withdraws a passkey's DEX authorization (P3, P7).
    ///
    /// # Errors
    ///
    /// Policy and store errors.
    pub async fn revoke_dex(
        &self,
        account: &AccountId,
        credential: &CredentialId,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("revoke_dex"), async move {
            let command = Command::RevokeDex {
                credential: credential.clone(),
                step_up: step_up.to_policy(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Renames a passkey (P6); no step-up needed.
    ///
    /// # Errors
    ///
    /// `invalid_name`, `unknown_credential`, store errors.
    pub async fn rename(
        &self,
        account: &AccountId,
        credential: &CredentialId,
        name: &str,
        context: &RequestContext,
    ) -> Result<Changed> {
        traced(operation_span!("rename"), async move {
            let command = Command::Rename {
                credential: credential.clone(),
                name: name.to_owned(),
            };
            self.changed(account, context, &command).await
        })
        .await
    }

    /// Deletes a passkey (P3, P7, P8) and returns, with the events, the Signal API
    /// payload listing the passkeys of its scope still accepted (P13).
    ///
    /// # Errors
    ///
    /// `last_passkey`, `step_up_required`, `unknown_credential`, store errors.
    pub async fn delete(
        &self,
        account: &AccountId,
        credential: &CredentialId,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Deleted> {
        traced(operation_span!("delete"), async move {
            let command = Command::Delete {
                credential: credential.clone(),
                step_up: step_up.to_policy(),
            };
            let (decision, state) = self.commit(account, context, &command, None).await?;
            let scope = decision
                .events
                .iter()
                .find(|event| matches!(event.kind, EventKind::Deleted { .. }))
                .map_or(Scope::Exchange, |event| event.scope);
            Ok(Deleted {
                events: decision.events,
                accepted: self.accepted(account, scope, &state.credentials),
            })
        })
        .await
    }

    /// The `signalAllAcceptedCredentials` payload of one scope: the handle and the list
    /// are per scope, as the authenticator sees them.
    pub(crate) fn accepted(
        &self,
        account: &AccountId,
        scope: Scope,
        credentials: &[Credential],
    ) -> SignalAllAcceptedCredentials {
        SignalAllAcceptedCredentials {
            rp_id: self.rp.id().to_owned(),
            user_id: b64(&self.user_handle(account, scope)),
            all_accepted_credential_ids: credentials
                .iter()
                .filter(|c| c.scope == scope)
                .map(|c| b64(c.id.as_bytes()))
                .collect(),
        }
    }

    /// The account's passkeys of `scope`, in creation order, for display: read with
    /// [`Store::load_for_display`], so a store
    /// that serves display reads from a replica (opted in) may show a change just made a
    /// moment late. The ceremonies never decide on it: they read the account afresh.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn list(&self, account: &AccountId, scope: Scope) -> Result<Vec<Credential>> {
        let state = self.store.load_for_display(account).await?.value;
        Ok(state
            .credentials
            .into_iter()
            .filter(|c| c.scope == scope)
            .collect())
    }

    /// Until when the account's money-out intents are locked (P8), for the paths the
    /// service runs itself (a withdrawal without a passkey, P2P selling): `None` when
    /// they are not.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn withdrawals_locked_until(&self, account: &AccountId) -> Result<Option<Timestamp>> {
        let state = self.store.load(account).await?.value;
        Ok(state.withdrawals_locked_until(self.clock.now()))
    }

    /// One page of the account's history, oldest first (P14): at most `limit` events
    /// (capped at [`MAX_HISTORY_PAGE`]) from position `start`. A limit of 0 reads no
    /// event, and its `next` is `start` itself while events remain (a probe).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn history(
        &self,
        account: &AccountId,
        start: usize,
        limit: usize,
    ) -> Result<HistoryPage> {
        let events = self.store.history(account).await?;
        let limit = limit.min(MAX_HISTORY_PAGE);
        let page: Vec<Event> = events.iter().skip(start).take(limit).cloned().collect();
        let end = start.saturating_add(page.len());
        Ok(HistoryPage {
            next: (end < events.len()).then_some(end),
            events: page,
        })
    }

    /// Decides and appends `command` for a change in place.
    pub(super) async fn changed(
        &self,
        account: &AccountId,
        context: &RequestContext,
        command: &Command,
    ) -> Result<Changed> {
        let (decision, _) = self.commit(account, context, command, None).await?;
        Ok(Changed {
            events: decision.events,
            warnings: decision.warnings,
        })
    }
}
