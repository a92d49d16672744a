//! Adding a passkey: a new one, the successor of one (P4), or a U2F credential.
//!
//! Every start judges what the policy can know before the authenticator runs (limit,
//! step-up, the passkey replaced), so a registration the finish would refuse leaves no
//! orphan passkey on the user's device (P7). The finish judges everything again.

use std::time::{Duration, UNIX_EPOCH};

use latchkey_cose::Aaguid;
use latchkey_policy::{
    AccountState, AttestationFacts, Change, Command, CredentialId, Decision, NewCredential,
    PolicyError, RequestContext, Scope, preflight,
};
use latchkey_store::{AccountId, Store};
use latchkey_verify::{Ceremony, CredProtect, U2fCredential, UserVerification};

use super::outcome::{Registered, StepUp, User};
use super::request::{FinishRegistration, FinishReplacement};
use super::{Passkeys, check_session, descriptors};
use crate::challenge::{self, Binding};
use crate::error::{Error, Result};
use crate::extensions::ClientExtensionOutputs;
use crate::json::{CreationOptions, RegistrationResponse, UserEntity, b64};
use crate::trace::{self, operation_span, traced};

/// Which kind of registration a challenge is for: a finish accepts only its own.
#[derive(Clone, Copy, Debug)]
pub(super) enum Creation<'a> {
    /// A new passkey.
    Add,
    /// The successor of this passkey (P4).
    Replace(&'a CredentialId),
    /// The one passkey of a recovered scope (P20).
    Recover,
}

impl<S: Store> Passkeys<S> {
    /// Starts registering a passkey for `scope`: the options for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON`. `step_up` is the one the
    /// finish will bring: it is judged now without being spent, with the scope's limit,
    /// so that a registration the finish would refuse never reaches the authenticator.
    ///
    /// # Errors
    ///
    /// `step_up_required`, `limit_reached`, `provider_denied` (the scope denies every
    /// provider class), store or randomness failures.
    pub async fn start_registration(
        &self,
        account: &AccountId,
        user: &User,
        scope: Scope,
        step_up: &StepUp,
    ) -> Result<CreationOptions> {
        traced(operation_span!("start_registration"), async move {
            let state = self.store.load(account).await?.value;
            preflight(
                &state,
                scope,
                &Change::AddPasskey,
                &step_up.to_policy(),
                self.clock.now(),
                &self.policy,
            )?;
            self.start_creation(&state, account, user, scope, Creation::Add)
                .await
        })
        .await
    }

    /// Starts registering the successor of passkey `old` (P4), in `old`'s scope; judged
    /// up front like [`start_registration`](Self::start_registration).
    ///
    /// # Errors
    ///
    /// `unknown_credential`, `step_up_required`, store or randomness failures.
    pub async fn start_replacement(
        &self,
        account: &AccountId,
        user: &User,
        old: &CredentialId,
        step_up: &StepUp,
    ) -> Result<CreationOptions> {
        traced(operation_span!("start_replacement"), async move {
            let state = self.store.load(account).await?.value;
            let scope = state
                .credential(old)
                .map(|c| c.scope)
                .ok_or(PolicyError::UnknownCredential)?;
            preflight(
                &state,
                scope,
                &Change::Replace(old.clone()),
                &step_up.to_policy(),
                self.clock.now(),
                &self.policy,
            )?;
            self.start_creation(&state, account, user, scope, Creation::Replace(old))
                .await
        })
        .await
    }

    /// Issues the challenge of a registration the policy judged up front, and the
    /// creation options: the user named with the scope's label (P17), the scope's own
    /// user handle, its passkeys excluded.
    pub(super) async fn start_creation(
        &self,
        state: &AccountState,
        account: &AccountId,
        user: &User,
        scope: Scope,
        creation: Creation<'_>,
    ) -> Result<CreationOptions> {
        trace::scope(scope);
        let challenge = challenge::generate(&*self.random, None)?;
        let binding = Binding::Registration {
            account: account.clone(),
            scope,
            replacing: match creation {
                Creation::Replace(old) => Some(old.clone()),
                Creation::Add | Creation::Recover => None,
            },
            recovery: matches!(creation, Creation::Recover),
        };
        challenge::issue(&self.store, &challenge, &binding, self.deadline()).await?;
        let user = UserEntity {
            id: b64(&self.user_handle(account, scope)),
            name: self.policy.labelled(&user.name, scope),
            display_name: self.policy.labelled(&user.display_name, scope),
        };
        // A recovery replaces every passkey of the scope: the authenticator may
        // overwrite them.
        let exclude = match creation {
            Creation::Recover => Vec::new(),
            Creation::Add | Creation::Replace(_) => descriptors(state, |c| c.scope == scope),
        };
        Ok(CreationOptions::new(&self.rp, user, &challenge, exclude))
    }

    /// Finishes a registration: verifies it, applies the policy, stores the passkey.
    ///
    /// # Errors
    ///
    /// Challenge errors (a challenge issued for another account or for a replacement is
    /// `challenge_mismatch`), verification, policy (`step_up_required`,
    /// `limit_reached`...) and store errors, with their codes.
    pub async fn finish_registration(&self, request: FinishRegistration<'_>) -> Result<Registered> {
        traced(operation_span!("finish_registration"), async move {
            let FinishRegistration {
                account,
                response,
                step_up,
                context,
                name,
            } = request;
            let (new, client_extensions) = self
                .verify_registration(account, Creation::Add, response, name, context)
                .await?;
            let command = Command::Register {
                credential: new.clone(),
                step_up: step_up.to_policy(),
            };
            let (decision, state) = self.commit(account, context, &command, None).await?;
            Self::registered(&state, &new.id, decision, client_extensions)
        })
        .await
    }

    /// Finishes a registration that replaces passkey `old` in one step (P4). When `old`
    /// is DEX-authorized, the successor is too only if the request says the DEX terms
    /// were accepted and the authenticator verified the user; otherwise it is not, and
    /// replacing the last DEX passkey that way is refused (P2, P3).
    ///
    /// # Errors
    ///
    /// As [`finish_registration`](Self::finish_registration), and `last_passkey`.
    pub async fn finish_replacement(&self, request: FinishReplacement<'_>) -> Result<Registered> {
        traced(operation_span!("finish_replacement"), async move {
            let FinishReplacement {
                account,
                old,
                response,
                step_up,
                context,
                dex_terms_accepted,
                name,
            } = request;
            let (new, client_extensions) = self
                .verify_registration(account, Creation::Replace(old), response, name, context)
                .await?;
            let command = Command::Replace {
                old: old.clone(),
                new: new.clone(),
                step_up: step_up.to_policy(),
                dex_terms_accepted,
            };
            let (decision, state) = self.commit(account, context, &command, None).await?;
            let mut registered = Self::registered(&state, &new.id, decision, client_extensions)?;
            registered.accepted = Some(self.accepted(account, new.scope, &state.credentials));
            Ok(registered)
        })
        .await
    }

    /// Imports a credential registered through the U2F JavaScript API into `scope`, for a
    /// service moving from U2F to WebAuthn; `sign_count` is the last counter the U2F
    /// service saw. The relying party must name the same AppID
    /// ([`RelyingPartyBuilder::app_id`](crate::RelyingPartyBuilder::app_id)). The policy
    /// applies as to any registration (step-up, limits, one owner per credential, a
    /// scope that requires a trusted attestation: a U2F record carries none). The
    /// passkey's assertions may then carry the AppID's hash, and authentications that
    /// offer it ask for the `appid` extension.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the relying party names no AppID or another one; policy
    /// and store errors, with their codes.
    pub async fn import_u2f(
        &self,
        account: &AccountId,
        scope: Scope,
        credential: &U2fCredential,
        sign_count: u32,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Registered> {
        traced(operation_span!("import_u2f"), async move {
            if self.rp.app_id() != Some(credential.app_id()) {
                return Err(Error::Config(
                    "the credential's AppID is not the relying party's",
                ));
            }
            let id = CredentialId::new(credential.credential_id().to_vec());
            self.ensure_unowned(&id).await?;
            let new = NewCredential {
                id: id.clone(),
                scope,
                public_key: credential.public_key().as_cose_bytes().to_vec(),
                aaguid: Aaguid::ZERO,
                sign_count,
                backup_eligible: false,
                backed_up: false,
                // U2F registrations verified presence only.
                user_verified: false,
                attestation: AttestationFacts::default(),
                transports: Vec::new(),
                name: None,
                cred_protect: None,
                app_id: Some(credential.app_id().to_owned()),
            };
            let command = Command::Register {
                credential: new,
                step_up: step_up.to_policy(),
            };
            let (decision, state) = self.commit(account, context, &command, None).await?;
            Self::registered(&state, &id, decision, ClientExtensionOutputs::default())
        })
        .await
    }

    /// P15 across accounts; the store enforces it again atomically.
    async fn ensure_unowned(&self, id: &CredentialId) -> Result<()> {
        if self.store.account_of(id).await?.is_some() {
            return Err(PolicyError::DuplicateCredential.into());
        }
        Ok(())
    }

    /// The one tail of every registration: the record as the append stored it, and what
    /// was appended. `state` is the account right after that append, not as read again
    /// later: another instance may have changed it since (revoked the new passkey, say),
    /// and the call still answers for what it did (P14).
    pub(super) fn registered(
        state: &AccountState,
        id: &CredentialId,
        decision: Decision,
        client_extensions: ClientExtensionOutputs,
    ) -> Result<Registered> {
        let credential = state.credential(id).cloned().ok_or(Error::Internal(
            "the registered passkey is not in the state its append left",
        ))?;
        Ok(Registered {
            credential,
            warnings: decision.warnings,
            events: decision.events,
            accepted: None,
            client_extensions,
        })
    }

    /// Consumes the challenge the response names (first of all, P16), checks it was
    /// issued for this account and this kind of registration, and verifies the response.
    pub(super) async fn verify_registration(
        &self,
        account: &AccountId,
        creation: Creation<'_>,
        response: &RegistrationResponse,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<(NewCredential, ClientExtensionOutputs)> {
        let challenge = self.challenge_of(&response.client_data_json()?)?;
        let binding = challenge::redeem(&self.store, &challenge, self.clock.now()).await?;
        check_session(context, &challenge)?;
        let Binding::Registration {
            account: bound,
            scope,
            replacing: bound_old,
            recovery,
        } = binding
        else {
            return Err(Error::ChallengeMismatch);
        };
        let replacing = match creation {
            Creation::Replace(old) => Some(old),
            Creation::Add | Creation::Recover => None,
        };
        if &bound != account
            || bound_old.as_ref() != replacing
            || recovery != matches!(creation, Creation::Recover)
        {
            return Err(Error::ChallengeMismatch);
        }
        let decoded = response.decode()?;
        let now = UNIX_EPOCH + Duration::from_secs(u64::try_from(self.clock.now().0).unwrap_or(0));
        let ceremony = Ceremony {
            challenge: &challenge,
            user_verification: UserVerification::Required,
            algorithms: self.rp.algorithms(),
            required_cred_protect: self.rp.cred_protect(),
            discoverable: false,
        };
        let verified = self
            .verifier
            .verify_registration(&decoded.bytes(), &ceremony, now)?;
        let (attestation, metadata_name) = self.attestation.facts(&verified, &self.policy.aaguids);
        let client_extensions = ClientExtensionOutputs::parse(&response.client_extension_results)?;
        // PRF is CTAP hmac-secret on security keys: a client that claims PRF for a
        // credential whose authenticator signed that hmac-secret is off contradicts it.
        if client_extensions.prf_enabled == Some(true)
            && verified.extensions().hmac_secret() == Some(false)
        {
            return Err(Error::Malformed(
                "clientExtensionResults.prf.enabled contradicts the signed hmac-secret output"
                    .into(),
            ));
        }
        let id = CredentialId::new(decoded.credential_id().to_vec());
        self.ensure_unowned(&id).await?;
        let new = NewCredential {
            id,
            scope,
            public_key: verified.public_key().as_cose_bytes().to_vec(),
            aaguid: verified.aaguid(),
            sign_count: verified.sign_count(),
            backup_eligible: verified.flags().backup_eligible(),
            backed_up: verified.flags().backed_up(),
            user_verified: verified.flags().user_verified(),
            attestation,
            transports: decoded.transports().to_vec(),
            name: name.map(str::to_owned).or(metadata_name),
            cred_protect: verified.extensions().cred_protect().map(CredProtect::level),
            app_id: None,
        };
        Ok((new, client_extensions))
    }
}
