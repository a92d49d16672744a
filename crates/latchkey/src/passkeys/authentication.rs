//! Using a passkey: login, the intents that name an account, and step-up for one change.
//!
//! Every challenge is bound at its start to what may answer it: the account (all intents
//! but login), the intent and so its scope, the transaction of a signing intent, and the
//! change of a step-up (P9, P10, P16). The finish consumes the challenge, before it
//! judges anything else or, where the store can read it without consuming it, in the
//! same store step as the append (and then on every refusal), and accepts the response
//! only for what it was bound to.

use latchkey_policy::{
    AccountState, AssertionFacts, Change, Command, Credential, CredentialId, Intent, PolicyError,
    RequestContext, Scope, UserVerificationRule,
};
use latchkey_store::{AccountId, ChallengeRecord, Owner, Store, Taken, Versioned};
use latchkey_verify::json::DecodedAssertion;
use latchkey_verify::{Ceremony, CounterVerdict, CredProtect, StoredCredential, UserVerification};
use sha2::{Digest as _, Sha256};

use super::outcome::{Authenticated, StepUpToken};
use super::request::FinishAuthentication;
use super::{Passkeys, check_session, descriptors};
use crate::challenge::{self, Binding, Pending, RequestBinding};
use crate::error::{Error, Result};
use crate::extensions::ClientExtensionOutputs;
use crate::json::{RequestOptions, SignalUnknownCredential, b64};
use crate::receipt::ApprovalReceipt;
use crate::trace::{self, operation_span, traced};
use crate::transaction::bound_digest;

impl<S: Store> Passkeys<S> {
    /// Starts a login: the options for `PublicKeyCredential.parseRequestOptionsFromJSON`.
    /// Without `account` it is a discoverable (usernameless) login, and the response's
    /// user handle names the account.
    ///
    /// # Errors
    ///
    /// Store or randomness failures.
    pub async fn start_login(&self, account: Option<&AccountId>) -> Result<RequestOptions> {
        traced(operation_span!("start_login"), async move {
            trace::intent(Intent::Login);
            let (challenge, record) =
                self.request_challenge(account, Intent::Login, None, None, None)?;
            // The challenge does not depend on the account's state: one call stores it and
            // reads the passkeys to offer.
            let state = match account {
                Some(account) => {
                    self.store
                        .put_challenge_and_load(record, account)
                        .await?
                        .value
                }
                None => {
                    self.store.put_challenge(record).await?;
                    AccountState::default()
                }
            };
            Ok(self.request_options(&state, Intent::Login, None, &challenge))
        })
        .await
    }

    /// Starts an assertion by one of `account`'s passkeys for `intent`. Signing intents
    /// need the transaction: the challenge commits to it, with the account, scope and
    /// intent (P10). A `security_change` started here is for a change the service gates
    /// itself (e-mail, phone); passkey changes take [`start_step_up`](Self::start_step_up).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for a signing intent without a transaction or another with
    /// one; store or randomness failures.
    pub async fn start_authentication(
        &self,
        account: &AccountId,
        intent: Intent,
        transaction: Option<&[u8]>,
    ) -> Result<RequestOptions> {
        traced(operation_span!("start_authentication"), async move {
            trace::intent(intent);
            if intent.is_signing() != transaction.is_some() {
                // The service's call, not the client's input.
                return Err(Error::Internal(
                    "signing intents, and only they, take a transaction",
                ));
            }
            let digest = transaction.map(|t| {
                let hash: [u8; 32] = Sha256::digest(t).into();
                bound_digest(intent.scope(), intent, account, &hash)
            });
            if intent != Intent::Login {
                // Read first, so that the challenge notes the account's freeze count: one
                // begun before a freeze or an unfreeze serves nothing after it (P18).
                let state = self.store.load(account).await?.value;
                return self
                    .issue_request(&state, Some(account), intent, digest, None)
                    .await;
            }
            let (challenge, record) =
                self.request_challenge(Some(account), intent, digest, None, None)?;
            let state = self
                .store
                .put_challenge_and_load(record, account)
                .await?
                .value;
            Ok(self.request_options(&state, intent, None, &challenge))
        })
        .await
    }

    /// Starts a step-up for one change of `account` in `scope` (P7): a security-change
    /// assertion offering that scope's passkeys (for a DEX authorization, only the passkey
    /// to authorize). Its finish returns the [`StepUpToken`] that the change's call
    /// redeems, once.
    ///
    /// # Errors
    ///
    /// `unknown_credential` when the change names a passkey the account does not hold,
    /// `scope_mismatch` when it is of the other scope; store or randomness failures.
    pub async fn start_step_up(
        &self,
        account: &AccountId,
        scope: Scope,
        change: &Change,
    ) -> Result<RequestOptions> {
        traced(operation_span!("start_step_up"), async move {
            let state = self.store.load(account).await?.value;
            if change.scope_in(&state, scope)? != scope {
                return Err(latchkey_policy::PolicyError::ScopeMismatch.into());
            }
            let intent = Intent::security_change(scope);
            trace::intent(intent);
            self.issue_request(&state, Some(account), intent, None, Some(change))
                .await
        })
        .await
    }

    async fn issue_request(
        &self,
        state: &AccountState,
        account: Option<&AccountId>,
        intent: Intent,
        digest: Option<[u8; 32]>,
        change: Option<&Change>,
    ) -> Result<RequestOptions> {
        let (challenge, record) =
            self.request_challenge(account, intent, digest, change, Some(state.freeze_changes))?;
        self.store.put_challenge(record).await?;
        Ok(self.request_options(state, intent, change, &challenge))
    }

    /// A fresh challenge for an assertion and the record that binds it, noting the
    /// account's freeze count when the state was read first.
    fn request_challenge(
        &self,
        account: Option<&AccountId>,
        intent: Intent,
        digest: Option<[u8; 32]>,
        change: Option<&Change>,
        freeze_changes: Option<u64>,
    ) -> Result<(Vec<u8>, ChallengeRecord)> {
        let challenge = challenge::generate(&*self.random, digest.as_ref())?;
        let expires_at = self.deadline();
        let binding = Binding::Authentication(RequestBinding {
            account: account.cloned(),
            intent,
            transaction: digest.map(|d| b64(&d)),
            change: change.cloned(),
            expires_at,
            freeze_changes,
        });
        let record = challenge::record(&challenge, &binding, expires_at)?;
        Ok((challenge, record))
    }

    /// The options for a stored challenge, offering the passkeys of `state` that may
    /// answer it.
    fn request_options(
        &self,
        state: &AccountState,
        intent: Intent,
        change: Option<&Change>,
        challenge: &[u8],
    ) -> RequestOptions {
        let only = match change {
            Some(Change::AuthorizeDex(id)) => Some(id),
            _ => None,
        };
        let offered =
            |c: &Credential| intent.admits(c).is_ok() && only.is_none_or(|id| &c.id == id);
        let allow = descriptors(state, offered);
        // `appid` when an offered passkey was imported from U2F under this AppID.
        let appid = self.rp.app_id().filter(|app_id| {
            state
                .credentials
                .iter()
                .any(|c| offered(c) && c.app_id.as_deref() == Some(app_id))
        });
        RequestOptions::new(
            &self.rp,
            challenge,
            allow,
            intent.user_verification(),
            appid.map(str::to_owned),
        )
    }

    /// Finishes an authentication. The challenge is consumed first, even if what
    /// follows fails; then the response must come from a passkey of the account the
    /// challenge named (or, for a discoverable login, of the account its user handle
    /// names), for the transaction it was bound to, verified against the stored passkey;
    /// the policy decides the intent, and the use is recorded. A step-up's finish
    /// records a grant for its one change and returns its token.
    ///
    /// # Errors
    ///
    /// Challenge errors (`challenge_expired` too when the account was frozen or unfrozen
    /// since a challenge for any intent but login was issued, P18); `unknown_credential`
    /// (answer with
    /// [`signal_unknown_credential`](Self::signal_unknown_credential), which is `None`
    /// unless the whole service does not know the credential or it was revoked, P20);
    /// verification, policy and store errors.
    pub async fn finish_authentication(
        &self,
        request: FinishAuthentication<'_>,
    ) -> Result<Authenticated> {
        traced(operation_span!("finish_authentication"), async move {
            let challenge = self.challenge_of(&request.response.client_data_json()?)?;
            // Decoded now so that the take can read the credential's owner in the same
            // call; a malformed response is refused after the take all the same.
            let decoded = request.response.decode();
            let named = decoded
                .as_ref()
                .ok()
                .map(|d| CredentialId::new(d.credential_id().to_vec()));
            // Where the store can, the challenge is read first and consumed with the
            // append (one commit for a login); a refusal consumes it below (P16).
            let peeked = match &named {
                Some(credential) => {
                    self.store
                        .peek_challenge_and_owner(&challenge, credential)
                        .await?
                }
                None => None,
            };
            let mut pending = match &peeked {
                Some((Taken::Fresh(record), _)) => Some(Pending {
                    challenge: &challenge,
                    expires_at: record.expires_at,
                    settled: false,
                }),
                _ => None,
            };
            let finished = self
                .finish_answer(
                    request,
                    &challenge,
                    decoded,
                    named.as_ref(),
                    peeked,
                    pending.as_mut(),
                )
                .await;
            // P16: a challenge is spent by its first answer, refused or not.
            match (finished, pending) {
                (Err(refused), Some(pending)) if !pending.settled => Err(pending
                    .spend_after(&self.store, refused, &*self.clock)
                    .await),
                (finished, _) => finished,
            }
        })
        .await
    }

    /// The `signalUnknownCredential` payload for the credential a refused
    /// authentication named (P13): only when the refusal was that no account of this
    /// service holds it, or that it was revoked (P20: never accepted again, so the
    /// client should forget it as it forgets a deleted one). A passkey of another
    /// account, or presented for another account, is valid: telling the client to
    /// delete it would destroy it.
    ///
    /// The id comes from the error itself, never from a response: a service that pairs
    /// one request's refusal with another request's response cannot be led to name a
    /// passkey it holds.
    #[must_use]
    pub fn signal_unknown_credential(&self, error: &Error) -> Option<SignalUnknownCredential> {
        match error {
            Error::UnknownCredential { credential } => Some(SignalUnknownCredential {
                rp_id: self.rp.id().to_owned(),
                credential_id: b64(credential.as_bytes()),
            }),
            _ => None,
        }
    }

    /// Everything [`finish_authentication`](Self::finish_authentication) does once the
    /// challenge is known: judges the response against what the challenge was bound to,
    /// verifies it, decides and records. `peeked` is what the store read without
    /// consuming, if it can; then `pending` is that challenge, consumed with the append.
    async fn finish_answer(
        &self,
        request: FinishAuthentication<'_>,
        challenge: &[u8],
        decoded: latchkey_verify::Result<DecodedAssertion>,
        named: Option<&CredentialId>,
        peeked: Option<(Taken, Option<Owner>)>,
        pending: Option<&mut Pending<'_>>,
    ) -> Result<Authenticated> {
        let FinishAuthentication {
            response,
            context,
            transaction,
            factors,
            intents,
            account,
            step_up,
        } = request;
        let (bound, looked_up) = self
            .redeem_request(challenge, context, named, peeked)
            .await?;
        trace::intent(bound.intent);
        // What the caller's endpoint serves: refused before anything is verified or
        // recorded (the challenge is spent all the same, P16).
        let named_another = account
            .zip(bound.account.as_ref())
            .is_some_and(|(expected, bound)| expected != bound);
        let other_kind = step_up.is_some_and(|wanted| wanted != bound.change.is_some());
        if (!intents.is_empty() && !intents.contains(&bound.intent)) || named_another || other_kind
        {
            return Err(Error::ChallengeMismatch);
        }
        let decoded = decoded?;
        let client_extensions = ClientExtensionOutputs::parse(&response.client_extension_results)?;
        let credential_id = CredentialId::new(decoded.credential_id().to_vec());
        let looked_up = looked_up.filter(|_| named == Some(&credential_id));
        let (owner, loaded) = self.owner_of(&credential_id, &bound, looked_up).await?;
        if account.is_some_and(|expected| expected != &owner) {
            return Err(Error::ChallengeMismatch);
        }
        if transaction.is_some() != bound.transaction.is_some() {
            return Err(Error::ChallengeMismatch);
        }
        let transaction_hash: Option<[u8; 32]> = transaction.map(|t| Sha256::digest(t).into());
        let digest = transaction_hash.map(|hash| {
            b64(&bound_digest(
                bound.intent.scope(),
                bound.intent,
                &owner,
                &hash,
            ))
        });
        if digest != bound.transaction {
            return Err(Error::ChallengeMismatch);
        }
        // A revoked passkey (P20) is dead on every account: the client is told to
        // forget it, as for a passkey the service never knew (P13).
        if loaded.value.is_revoked(&credential_id) {
            return Err(Error::UnknownCredential {
                credential: credential_id,
            });
        }
        let stored = loaded
            .value
            .credential(&credential_id)
            .ok_or(Error::ForeignCredential)?;
        self.check_user_handle(&owner, stored.scope, &bound, decoded.user_handle())?;
        let key = self.verifying_key(&credential_id, &stored.public_key)?;
        let ceremony = Ceremony {
            challenge,
            user_verification: match bound.intent.user_verification() {
                UserVerificationRule::Required => UserVerification::Required,
                UserVerificationRule::Preferred => UserVerification::Preferred,
            },
            algorithms: &[],
            // No account named: the options listed no credentials.
            discoverable: bound.account.is_none(),
            required_cred_protect: None,
        };
        let verified = self.verifier.verify_assertion(
            &decoded.bytes(),
            &ceremony,
            &StoredCredential {
                key: &key.1,
                sign_count: stored.sign_count,
                backup_eligible: Some(stored.backup_eligible),
                app_id: stored.app_id.as_deref(),
                cred_protect: stored.cred_protect.and_then(CredProtect::from_level),
            },
        )?;
        let scope = stored.scope;
        let public_key = b64(&stored.public_key);
        let facts = AssertionFacts {
            credential: credential_id.clone(),
            user_verified: verified.user_verified(),
            sign_count: verified.sign_count(),
            backup_eligible: verified.backup_eligible(),
            backed_up: verified.backed_up(),
            counter_regressed: verified.counter() == CounterVerdict::Regression,
        };
        let token = match bound.change {
            Some(_) => Some(StepUpToken::new(self.random_bytes()?)),
            None => None,
        };
        let command = match (&bound.change, &token) {
            (Some(change), Some(token)) => Command::GrantStepUp {
                assertion: facts,
                scope: bound.intent.scope(),
                change: change.clone(),
                proof: token.proof(),
                expires_at: bound.expires_at,
                // A step-up's challenge always notes the count; one stored by an older
                // latchkey does not, and serves only an account never frozen since.
                freeze_changes: bound.freeze_changes.unwrap_or(0),
                factors: factors.to_vec(),
            },
            _ => Command::Use {
                assertion: facts,
                intent: bound.intent,
                factors: factors.to_vec(),
                freeze_changes: bound.freeze_changes,
            },
        };
        let (decision, _) = match self
            .commit_taking(&owner, context, &command, Some(loaded), pending)
            .await
        {
            Ok(committed) => committed,
            // Revoked between the read above and the append: the same answer as a
            // revocation seen at the read.
            Err(Error::Policy(PolicyError::UnknownCredential))
                if self
                    .store
                    .load(&owner)
                    .await?
                    .value
                    .is_revoked(&credential_id) =>
            {
                return Err(Error::UnknownCredential {
                    credential: credential_id,
                });
            }
            Err(other) => return Err(other),
        };
        let receipt = transaction_hash.map(|hash| ApprovalReceipt {
            account: owner.as_str().to_owned(),
            scope,
            intent: bound.intent,
            credential_id: b64(credential_id.as_bytes()),
            public_key,
            authenticator_data: response.response.authenticator_data.clone(),
            client_data_json: response.response.client_data_json.clone(),
            signature: response.response.signature.clone(),
            transaction_digest: b64(&hash),
            at: self.clock.now(),
        });
        Ok(Authenticated {
            account: owner,
            scope,
            credential: credential_id,
            intent: bound.intent,
            user_verified: verified.user_verified(),
            backed_up: verified.backed_up(),
            warnings: decision.warnings,
            events: decision.events,
            receipt,
            step_up: token,
            client_extensions,
        })
    }

    /// Consumes the challenge (P16) and reads what it was bound to; with a credential, the
    /// same store call reads its owner (`Some(None)`: no account owns it). With `peeked`,
    /// what the store read without consuming, nothing is consumed here: the caller does.
    async fn redeem_request(
        &self,
        challenge: &[u8],
        context: &RequestContext,
        credential: Option<&CredentialId>,
        peeked: Option<(Taken, Option<Owner>)>,
    ) -> Result<(RequestBinding, Option<Option<Owner>>)> {
        let (binding, owner) = match (credential, peeked) {
            (Some(_), Some((taken, owner))) => {
                (challenge::judge(taken, self.clock.now())?, Some(owner))
            }
            (Some(credential), None) => {
                let (taken, owner) = self
                    .store
                    .take_challenge_and_owner(challenge, credential)
                    .await?;
                (challenge::judge(taken, self.clock.now())?, Some(owner))
            }
            (None, _) => (
                challenge::redeem(&self.store, challenge, self.clock.now()).await?,
                None,
            ),
        };
        check_session(context, challenge)?;
        match binding {
            Binding::Authentication(bound) => Ok((bound, owner)),
            Binding::Registration { .. } => Err(Error::ChallengeMismatch),
        }
    }

    /// The account that holds the credential: the one the challenge named, if it named
    /// one (P9, P13, P15). `looked_up` is what the take already read, if it did.
    async fn owner_of(
        &self,
        credential: &CredentialId,
        bound: &RequestBinding,
        looked_up: Option<Option<Owner>>,
    ) -> Result<(AccountId, Versioned<AccountState>)> {
        let unknown = || Error::UnknownCredential {
            credential: credential.clone(),
        };
        let (owner, loaded) = match looked_up {
            Some(found) => {
                let found = found.ok_or_else(unknown)?;
                (found.account, Some(found.state))
            }
            None => (
                self.store
                    .account_of(credential)
                    .await?
                    .ok_or_else(unknown)?,
                None,
            ),
        };
        if bound.account.as_ref().is_some_and(|named| named != &owner) {
            return Err(Error::ForeignCredential);
        }
        let loaded = match loaded {
            Some(loaded) => loaded,
            None => self.store.load(&owner).await?,
        };
        Ok((owner, loaded))
    }

    /// The user handle a response carries must be the owner's for the passkey's scope;
    /// a discoverable login identifies the user by it, so there it is required (§7.2
    /// step 6).
    fn check_user_handle(
        &self,
        owner: &AccountId,
        scope: Scope,
        bound: &RequestBinding,
        user_handle: Option<&[u8]>,
    ) -> Result<()> {
        match user_handle {
            Some(handle) if handle != self.user_handle(owner, scope) => {
                Err(Error::ForeignCredential)
            }
            None if bound.account.is_none() => Err(Error::ForeignCredential),
            _ => Ok(()),
        }
    }

    fn random_bytes(&self) -> Result<[u8; 32]> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes)?;
        Ok(bytes)
    }
}
