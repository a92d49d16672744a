//! The service: ceremonies per scope and intent, going verify -> policy -> store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use latchkey_cose::Aaguid;
use latchkey_policy::{
    AccountState, AssertionFacts, Command, Credential, CredentialId, Decision, Event, Factor,
    Intent, NewCredential, PolicyConfig, PolicyError, RequestContext, Scope, Timestamp, Warning,
    decide,
};
use latchkey_store::{AccountId, Store, StoreError, Versioned};
use latchkey_verify::{
    AssertionResponse as VerifyAssertion, Ceremony, ClientData, CounterPolicy, CounterVerdict,
    CredProtect, RegistrationResponse as VerifyRegistration, StoredCredential, Trust,
    U2fCredential, UserVerification, Verifier, VerifierOptions, VerifyingKey,
};
use sha2::{Digest as _, Sha256};

use crate::attestation::AttestationPolicy;
use crate::challenge::{self, Binding};
use crate::clock::{Clock, OsRandom, Random, SystemClock};
use crate::config::RelyingParty;
use crate::error::{Error, Result};
use crate::extensions::{ClientExtensionOutputs, RequestExtensions};
use crate::json::{
    self, AuthenticationResponse, AuthenticatorSelection, CreationExtensions, CreationOptions,
    CredentialDescriptor, CredentialParameters, RegistrationResponse, RequestOptions, RpEntity,
    SignalAllAcceptedCredentials, UserEntity, b64, unb64,
};
use crate::receipt::ApprovalReceipt;

/// How often a command is decided again after a concurrent change before giving up.
const MAX_ATTEMPTS: usize = 8;

/// Verifying keys kept parsed (point decompressed and validated) between logins.
const KEY_CACHE_ENTRIES: usize = 10_000;

/// A stored COSE key with its parsed verifying key.
type CachedKey = Arc<(Vec<u8>, VerifyingKey)>;

/// Passkeys for one relying party on one store.
///
/// See the crate documentation for a whole flow.
pub struct Passkeys<S> {
    rp: RelyingParty,
    verifier: Verifier,
    attestation: AttestationPolicy,
    store: S,
    policy: PolicyConfig,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    keys: Mutex<HashMap<CredentialId, CachedKey>>,
}

/// The user a registration is for, as the browser shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Account name (e-mail, login).
    pub name: String,
    /// Display name.
    pub display_name: String,
}

/// How a security change was stepped up (P7).
#[derive(Clone, Debug)]
pub enum StepUp {
    /// None.
    None,
    /// A fresh user-verified `security_change` assertion, from
    /// [`Passkeys::finish_authentication`].
    Passkey(StepUpProof),
    /// The service's own checks, which it attests to.
    Factors(Vec<Factor>),
}

/// Proof of a fresh `security_change` assertion. Only [`Passkeys::finish_authentication`]
/// creates one; it is valid for the challenge lifetime.
#[derive(Clone, Debug)]
pub struct StepUpProof {
    account: AccountId,
    facts: AssertionFacts,
    at: Timestamp,
}

impl StepUpProof {
    /// The passkey that stepped up.
    #[must_use]
    pub fn credential(&self) -> &CredentialId {
        &self.facts.credential
    }
}

/// A completed registration.
#[derive(Clone, Debug)]
pub struct Registered {
    /// The stored passkey.
    pub credential: Credential,
    /// Accepted with warnings (provider class...).
    pub warnings: Vec<Warning>,
    /// What the client reported of `credProps`, `prf` and `largeBlob` (unsigned).
    pub client_extensions: ClientExtensionOutputs,
}

/// A completed authentication.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The account signed in to (found from the credential for discoverable login).
    pub account: AccountId,
    /// The passkey used.
    pub credential: CredentialId,
    /// What it was used for.
    pub intent: Intent,
    /// Accepted with warnings (counter, backup eligibility).
    pub warnings: Vec<Warning>,
    /// For signing intents: the offline-verifiable approval (P10).
    pub receipt: Option<ApprovalReceipt>,
    /// For `security_change`: the step-up proof for the change that follows.
    pub step_up: Option<StepUpProof>,
    /// What the client reported of `prf` and `largeBlob` (unsigned).
    pub client_extensions: ClientExtensionOutputs,
}

impl<S: Store> Passkeys<S> {
    /// The service with default policy, the system clock and OS randomness.
    #[must_use]
    pub fn new(rp: RelyingParty, store: S) -> Self {
        let policy = PolicyConfig::default();
        let verifier = verifier_for(&rp);
        Self {
            rp,
            verifier,
            attestation: AttestationPolicy::default(),
            store,
            policy,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the policy configuration.
    #[must_use]
    pub fn with_policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Sets what registrations must show of their attestation: trust anchors, FIDO
    /// metadata, scopes that require a trusted chain (see [`AttestationPolicy`]).
    #[must_use]
    pub fn with_attestation_policy(mut self, attestation: AttestationPolicy) -> Self {
        self.verifier = verifier_for(&self.rp).with_trust_anchors(attestation.anchors().clone());
        self.attestation = attestation;
        self
    }

    /// Replaces the clock (tests, scenarios).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the randomness source (tests).
    #[must_use]
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// The relying party.
    #[must_use]
    pub fn relying_party(&self) -> &RelyingParty {
        &self.rp
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The user handle of an account's passkeys of one scope: derived, so no extra
    /// storage; opaque to the client.
    ///
    /// Each scope has its own handle because authenticators keep one discoverable
    /// credential per (RP ID, user handle): with a shared handle, registering a Pay
    /// passkey would silently replace the Exchange passkey on the same device.
    #[must_use]
    pub fn user_handle(&self, account: &AccountId, scope: Scope) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(b"latchkey user handle\0");
        hasher.update(self.rp.id().as_bytes());
        hasher.update([0]);
        hasher.update(match scope {
            Scope::Exchange => b"exchange\0",
            Scope::Pay => b"pay\0\0\0\0\0\0",
        });
        hasher.update(account.as_str().as_bytes());
        hasher.finalize().to_vec()
    }

    fn deadline(&self) -> Timestamp {
        self.clock
            .now()
            .plus_seconds(self.policy.challenge_ttl_seconds)
    }

    /// Starts registering a passkey for `scope`: the options for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON`.
    ///
    /// # Errors
    ///
    /// Store or randomness failures.
    pub async fn start_registration(
        &self,
        account: &AccountId,
        user: &User,
        scope: Scope,
    ) -> Result<CreationOptions> {
        let state = self.store.load(account).await?.value;
        let challenge = challenge::generate(&*self.random, None)?;
        let binding = Binding::Registration {
            account: account.clone(),
            scope,
        };
        challenge::issue(&self.store, &challenge, &binding, self.deadline()).await?;
        Ok(CreationOptions {
            rp: RpEntity {
                id: self.rp.id().to_owned(),
                name: self.rp.name().to_owned(),
            },
            user: UserEntity {
                id: b64(&self.user_handle(account, scope)),
                name: user.name.clone(),
                display_name: user.display_name.clone(),
            },
            challenge: b64(&challenge),
            pub_key_cred_params: self
                .rp
                .algorithms()
                .iter()
                .map(|a| CredentialParameters {
                    kind: "public-key".into(),
                    alg: a.cose(),
                })
                .collect(),
            timeout: self.rp.timeout_ms(),
            exclude_credentials: descriptors(&state, |c| c.scope == scope),
            authenticator_selection: AuthenticatorSelection {
                resident_key: "required".into(),
                require_resident_key: true,
                user_verification: "required".into(),
            },
            attestation: self.rp.attestation().to_owned(),
            hints: self.rp.hints().to_vec(),
            extensions: CreationExtensions {
                cred_props: true,
                credential_protection_policy: self
                    .rp
                    .cred_protect()
                    .map(|level| level.policy_name().to_owned()),
                enforce_credential_protection_policy: self.rp.cred_protect().map(|_| true),
                prf: None,
                large_blob: None,
                appid_exclude: self.rp.app_id().map(str::to_owned),
            },
        })
    }

    /// Finishes a registration: verifies it, applies the policy, stores the passkey.
    ///
    /// # Errors
    ///
    /// Challenge, verification, policy (`step_up_required`, `limit_reached`...) and store
    /// errors, with their codes.
    pub async fn finish_registration(
        &self,
        account: &AccountId,
        response: &RegistrationResponse,
        step_up: &StepUp,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<Registered> {
        let (new, client_extensions) = self.verify_registration(account, response, name).await?;
        let step_up = self.step_up(account, step_up)?;
        let command = Command::Register {
            credential: new.clone(),
            step_up,
        };
        let (decision, _) = self.commit(account, context, &command, None).await?;
        self.registered(account, &new.id, decision, client_extensions)
            .await
    }

    /// Finishes a registration that replaces passkey `old` in one step (P4).
    ///
    /// # Errors
    ///
    /// As [`finish_registration`](Self::finish_registration).
    pub async fn finish_replacement(
        &self,
        account: &AccountId,
        old: &CredentialId,
        response: &RegistrationResponse,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Registered> {
        let (new, client_extensions) = self.verify_registration(account, response, None).await?;
        let step_up = self.step_up(account, step_up)?;
        let command = Command::Replace {
            old: old.clone(),
            new: new.clone(),
            step_up,
        };
        let (decision, _) = self.commit(account, context, &command, None).await?;
        self.registered(account, &new.id, decision, client_extensions)
            .await
    }

    /// Imports a credential registered through the U2F JavaScript API into `scope`, for a
    /// service moving from U2F to WebAuthn; `sign_count` is the last counter the U2F
    /// service saw. The relying party must name the same AppID
    /// ([`RelyingPartyBuilder::app_id`](crate::RelyingPartyBuilder::app_id)). The policy
    /// applies as to any registration (step-up, limits, one owner per credential). The
    /// passkey's assertions may then carry the AppID's hash, and authentications that
    /// offer it ask for the `appid` extension.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the relying party names no AppID or another one;
    /// `attestation_untrusted` when the scope requires a trusted attestation (a U2F record
    /// carries none); policy and store errors, with their codes.
    pub async fn import_u2f(
        &self,
        account: &AccountId,
        scope: Scope,
        credential: &U2fCredential,
        sign_count: u32,
        step_up: &StepUp,
        context: &RequestContext,
    ) -> Result<Registered> {
        if self.rp.app_id() != Some(credential.app_id()) {
            return Err(Error::Config(
                "the credential's AppID is not the relying party's",
            ));
        }
        // A U2F record carries no attestation.
        self.attestation.check_trust(scope, Trust::NotApplicable)?;
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
            transports: Vec::new(),
            name: None,
            cred_protect: None,
            app_id: Some(credential.app_id().to_owned()),
        };
        let step_up = self.step_up(account, step_up)?;
        let command = Command::Register {
            credential: new,
            step_up,
        };
        let (decision, _) = self.commit(account, context, &command, None).await?;
        self.registered(account, &id, decision, ClientExtensionOutputs::default())
            .await
    }

    /// P15 across accounts; the store enforces it again atomically.
    async fn ensure_unowned(&self, id: &CredentialId) -> Result<()> {
        if self.store.account_of(id).await?.is_some() {
            return Err(PolicyError::DuplicateCredential.into());
        }
        Ok(())
    }

    async fn registered(
        &self,
        account: &AccountId,
        id: &CredentialId,
        decision: Decision,
        client_extensions: ClientExtensionOutputs,
    ) -> Result<Registered> {
        let state = self.store.load(account).await?.value;
        let credential = state
            .credential(id)
            .cloned()
            .ok_or(Error::UnknownCredential)?;
        Ok(Registered {
            credential,
            warnings: decision.warnings,
            client_extensions,
        })
    }

    async fn verify_registration(
        &self,
        account: &AccountId,
        response: &RegistrationResponse,
        name: Option<&str>,
    ) -> Result<(NewCredential, ClientExtensionOutputs)> {
        let raw_id = json::credential_id(&response.id, &response.raw_id, &response.kind)?;
        let client_data_json = unb64(&response.response.client_data_json, "clientDataJSON")?;
        let attestation_object = unb64(&response.response.attestation_object, "attestationObject")?;
        let challenge = self.challenge_of(&client_data_json)?;
        let binding = challenge::redeem(&self.store, &challenge, self.clock.now()).await?;
        let Binding::Registration {
            account: bound,
            scope,
        } = binding
        else {
            return Err(Error::ChallengeMismatch);
        };
        if &bound != account {
            return Err(Error::ChallengeMismatch);
        }
        let now = UNIX_EPOCH + Duration::from_secs(u64::try_from(self.clock.now().0).unwrap_or(0));
        let ceremony = Ceremony {
            challenge: &challenge,
            user_verification: UserVerification::Required,
            algorithms: self.rp.algorithms(),
            required_cred_protect: self.rp.cred_protect(),
            discoverable: false,
        };
        let verified = self.verifier.verify_registration(
            &VerifyRegistration {
                client_data_json: &client_data_json,
                attestation_object: &attestation_object,
                raw_id: &raw_id,
            },
            &ceremony,
            now,
        )?;
        let metadata_name = self
            .attestation
            .check(scope, &verified, &self.policy.aaguids)?;
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
        self.ensure_unowned(&CredentialId::new(raw_id.clone()))
            .await?;
        let new = NewCredential {
            id: CredentialId::new(raw_id),
            scope,
            public_key: verified.public_key().as_cose_bytes().to_vec(),
            aaguid: verified.aaguid(),
            sign_count: verified.sign_count(),
            backup_eligible: verified.flags().backup_eligible(),
            backed_up: verified.flags().backed_up(),
            transports: response.response.transports.clone(),
            name: name.map(str::to_owned).or(metadata_name),
            cred_protect: verified.extensions().cred_protect().map(CredProtect::level),
            app_id: None,
        };
        Ok((new, client_extensions))
    }

    /// Starts a step-up for a security change in `scope` (P7): a `security_change`
    /// authentication offering only that scope's passkeys. Finish it with
    /// [`finish_authentication`](Self::finish_authentication) to get the
    /// [`StepUpProof`].
    ///
    /// # Errors
    ///
    /// Store or randomness failures.
    pub async fn start_step_up(&self, account: &AccountId, scope: Scope) -> Result<RequestOptions> {
        self.start_ceremony(Some(account), Intent::SecurityChange, None, Some(scope))
            .await
    }

    /// Starts an authentication for `intent`: the options for
    /// `PublicKeyCredential.parseRequestOptionsFromJSON`. Without `account` it is a
    /// discoverable (usernameless) login. Signing intents need the transaction: the
    /// challenge commits to its SHA-256 (P10).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for a signing intent without a transaction; store or
    /// randomness failures.
    pub async fn start_authentication(
        &self,
        account: Option<&AccountId>,
        intent: Intent,
        transaction: Option<&[u8]>,
    ) -> Result<RequestOptions> {
        self.start_ceremony(account, intent, transaction, None)
            .await
    }

    async fn start_ceremony(
        &self,
        account: Option<&AccountId>,
        intent: Intent,
        transaction: Option<&[u8]>,
        scope: Option<Scope>,
    ) -> Result<RequestOptions> {
        if intent.is_signing() != transaction.is_some() {
            return Err(Error::Malformed(
                "signing intents, and only they, take a transaction".into(),
            ));
        }
        let state = match account {
            Some(account) => self.store.load(account).await?.value,
            None => AccountState::default(),
        };
        let offered =
            |c: &Credential| credential_serves(c, intent) && scope.is_none_or(|s| c.scope == s);
        let allow = descriptors(&state, offered);
        // `appid` when an offered passkey was imported from U2F under this AppID.
        let appid = self.rp.app_id().filter(|app_id| {
            state
                .credentials
                .iter()
                .any(|c| offered(c) && c.app_id.as_deref() == Some(app_id))
        });
        let challenge = challenge::generate(&*self.random, transaction)?;
        let binding = Binding::Authentication {
            account: account.cloned(),
            intent,
            transaction: transaction.map(challenge::transaction_digest),
        };
        challenge::issue(&self.store, &challenge, &binding, self.deadline()).await?;
        Ok(RequestOptions {
            challenge: b64(&challenge),
            timeout: self.rp.timeout_ms(),
            rp_id: self.rp.id().to_owned(),
            allow_credentials: allow,
            user_verification: user_verification(intent).into(),
            hints: self.rp.hints().to_vec(),
            extensions: RequestExtensions {
                appid: appid.map(str::to_owned),
                ..RequestExtensions::default()
            },
        })
    }

    /// Finishes an authentication: the challenge is consumed (even if what follows
    /// fails), the assertion verified against the stored passkey, the intent decided by
    /// the policy, and the use recorded.
    ///
    /// # Errors
    ///
    /// Challenge errors, `unknown_credential` (answer with
    /// [`signal_unknown_credential`](Self::signal_unknown_credential)), verification,
    /// policy and store errors.
    pub async fn finish_authentication(
        &self,
        response: &AuthenticationResponse,
        transaction: Option<&[u8]>,
        factors: &[Factor],
        context: &RequestContext,
    ) -> Result<Authenticated> {
        let raw_id = json::credential_id(&response.id, &response.raw_id, &response.kind)?;
        let client_extensions = ClientExtensionOutputs::parse(&response.client_extension_results)?;
        let client_data_json = unb64(&response.response.client_data_json, "clientDataJSON")?;
        let authenticator_data = unb64(&response.response.authenticator_data, "authenticatorData")?;
        let signature = unb64(&response.response.signature, "signature")?;
        let challenge = self.challenge_of(&client_data_json)?;
        let binding = challenge::redeem(&self.store, &challenge, self.clock.now()).await?;
        let Binding::Authentication {
            account: bound,
            intent,
            transaction: digest,
        } = binding
        else {
            return Err(Error::ChallengeMismatch);
        };
        if transaction.map(challenge::transaction_digest) != digest {
            return Err(Error::ChallengeMismatch);
        }

        let credential_id = CredentialId::new(raw_id);
        let owner = self
            .store
            .account_of(&credential_id)
            .await?
            .ok_or(Error::UnknownCredential)?;
        let loaded = self.store.load(&owner).await?;
        let stored = loaded
            .value
            .credential(&credential_id)
            .ok_or(Error::UnknownCredential)?;
        match (&bound, &response.response.user_handle) {
            (Some(bound), _) if bound != &owner => return Err(Error::UnknownCredential),
            (_, Some(handle))
                if unb64(handle, "userHandle")? != self.user_handle(&owner, stored.scope) =>
            {
                return Err(Error::UnknownCredential);
            }
            // Discoverable login identifies the user by the handle (§7.2 step 6).
            (None, None) => return Err(Error::UnknownCredential),
            _ => {}
        }
        let key = self.verifying_key(&credential_id, &stored.public_key)?;
        let ceremony = Ceremony {
            challenge: &challenge,
            user_verification: if intent == Intent::Login {
                UserVerification::Preferred
            } else {
                UserVerification::Required
            },
            algorithms: &[],
            // No account named: the options listed no credentials.
            discoverable: bound.is_none(),
            required_cred_protect: None,
        };
        let verified = self.verifier.verify_assertion(
            &VerifyAssertion {
                client_data_json: &client_data_json,
                authenticator_data: &authenticator_data,
                signature: &signature,
            },
            &ceremony,
            &StoredCredential {
                key: &key.1,
                sign_count: stored.sign_count,
                backup_eligible: Some(stored.backup_eligible),
                app_id: stored.app_id.as_deref(),
                cred_protect: stored.cred_protect.and_then(CredProtect::from_level),
            },
        )?;
        let facts = AssertionFacts {
            credential: credential_id.clone(),
            user_verified: verified.user_verified(),
            sign_count: verified.sign_count(),
            backup_eligible: verified.backup_eligible(),
            backed_up: verified.backed_up(),
            counter_regressed: verified.counter() == CounterVerdict::Regression,
        };
        let command = Command::Use {
            assertion: facts.clone(),
            intent,
            factors: factors.to_vec(),
        };
        let receipt_key = transaction.is_some().then(|| b64(&stored.public_key));
        let (decision, _) = self.commit(&owner, context, &command, Some(loaded)).await?;
        let now = self.clock.now();
        let receipt = transaction
            .zip(receipt_key)
            .map(|(transaction, public_key)| ApprovalReceipt {
                rp_id: self.rp.id().to_owned(),
                intent,
                credential_id: b64(credential_id.as_bytes()),
                public_key,
                authenticator_data: response.response.authenticator_data.clone(),
                client_data_json: response.response.client_data_json.clone(),
                signature: response.response.signature.clone(),
                transaction_digest: b64(&Sha256::digest(transaction)),
                at: now,
            });
        let step_up = (intent == Intent::SecurityChange).then(|| StepUpProof {
            account: owner.clone(),
            facts,
            at: now,
        });
        Ok(Authenticated {
            account: owner,
            credential: credential_id,
            intent,
            warnings: decision.warnings,
            receipt,
            step_up,
            client_extensions,
        })
    }

    /// Authorizes an Exchange passkey for DEX with its own fresh step-up assertion (P2).
    ///
    /// # Errors
    ///
    /// `terms_not_accepted`, `user_verification_required`, `scope_mismatch`,
    /// `step_up_required` (a stale or foreign proof), `limit_reached`, store errors.
    pub async fn authorize_dex(
        &self,
        account: &AccountId,
        proof: &StepUpProof,
        terms_accepted: bool,
        context: &RequestContext,
    ) -> Result<Vec<Warning>> {
        let facts = self.fresh(account, proof)?;
        let command = Command::AuthorizeDex {
            assertion: facts,
            terms_accepted,
        };
        Ok(self
            .commit(account, context, &command, None)
            .await?
            .0
            .warnings)
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
    ) -> Result<()> {
        let command = Command::RevokeDex {
            credential: credential.clone(),
            step_up: self.step_up(account, step_up)?,
        };
        self.commit(account, context, &command, None)
            .await
            .map(|_| ())
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
    ) -> Result<()> {
        let command = Command::Rename {
            credential: credential.clone(),
            name: name.to_owned(),
        };
        self.commit(account, context, &command, None)
            .await
            .map(|_| ())
    }

    /// Deletes a passkey (P3, P7, P8) and returns the Signal API payload listing the
    /// passkeys still accepted (P13).
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
    ) -> Result<SignalAllAcceptedCredentials> {
        let command = Command::Delete {
            credential: credential.clone(),
            step_up: self.step_up(account, step_up)?,
        };
        let scope = self
            .store
            .load(account)
            .await?
            .value
            .credential(credential)
            .map_or(Scope::Exchange, |c| c.scope);
        let (_, state) = self.commit(account, context, &command, None).await?;
        // The handle and the list are per scope, as the authenticator sees them.
        Ok(SignalAllAcceptedCredentials {
            rp_id: self.rp.id().to_owned(),
            user_id: b64(&self.user_handle(account, scope)),
            all_accepted_credential_ids: state
                .credentials
                .iter()
                .filter(|c| c.scope == scope)
                .map(|c| b64(c.id.as_bytes()))
                .collect(),
        })
    }

    /// The account's passkeys of `scope`, in creation order.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn list(&self, account: &AccountId, scope: Scope) -> Result<Vec<Credential>> {
        let state = self.store.load(account).await?.value;
        Ok(state
            .credentials
            .into_iter()
            .filter(|c| c.scope == scope)
            .collect())
    }

    /// The account's history, oldest first (P14).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn history(&self, account: &AccountId) -> Result<Vec<Event>> {
        Ok(self.store.history(account).await?)
    }

    /// Deletes expired challenges and replay tombstones from the store; returns how many.
    /// Run it periodically (every few minutes is plenty).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn purge_expired_challenges(&self) -> Result<usize> {
        Ok(self.store.purge_challenges(self.clock.now()).await?)
    }

    /// The `signalUnknownCredential` payload for a credential id this service refused as
    /// unknown (P13).
    #[must_use]
    pub fn signal_unknown_credential(&self, credential_id: &str) -> json::SignalUnknownCredential {
        json::SignalUnknownCredential {
            rp_id: self.rp.id().to_owned(),
            credential_id: credential_id.to_owned(),
        }
    }

    /// The verifying key of a stored passkey, parsed once and kept: a login verifies
    /// without re-validating the point. Entries are checked against the stored bytes, so a
    /// changed record is never served stale.
    fn verifying_key(&self, id: &CredentialId, cose: &[u8]) -> Result<CachedKey> {
        if let Ok(keys) = self.keys.lock()
            && let Some(cached) = keys.get(id)
            && cached.0 == cose
        {
            return Ok(Arc::clone(cached));
        }
        let parsed: CachedKey = Arc::new((cose.to_vec(), VerifyingKey::from_cose(cose)?));
        if let Ok(mut keys) = self.keys.lock() {
            if keys.len() >= KEY_CACHE_ENTRIES {
                keys.clear();
            }
            keys.insert(id.clone(), Arc::clone(&parsed));
        }
        Ok(parsed)
    }

    /// The challenge a client data names, decoded.
    fn challenge_of(&self, client_data_json: &[u8]) -> Result<Vec<u8>> {
        let client_data = ClientData::parse(client_data_json)?;
        unb64(client_data.challenge(), "challenge").map_err(|_| Error::ChallengeMismatch)
    }

    /// A step-up proof must be this account's and fresh.
    fn fresh(&self, account: &AccountId, proof: &StepUpProof) -> Result<AssertionFacts> {
        let age = self.clock.now().0.saturating_sub(proof.at.0);
        if &proof.account != account || age > self.policy.challenge_ttl_seconds {
            return Err(PolicyError::StepUpRequired.into());
        }
        Ok(proof.facts.clone())
    }

    fn step_up(&self, account: &AccountId, step_up: &StepUp) -> Result<latchkey_policy::StepUp> {
        Ok(match step_up {
            StepUp::None => latchkey_policy::StepUp::None,
            StepUp::Factors(factors) => latchkey_policy::StepUp::Factors(factors.clone()),
            StepUp::Passkey(proof) => latchkey_policy::StepUp::Passkey(self.fresh(account, proof)?),
        })
    }

    /// Decides and appends `command`, deciding again on the newer state after a
    /// concurrent change. `loaded` is a state the caller has just read: the first attempt
    /// decides on it instead of reading it again.
    async fn commit(
        &self,
        account: &AccountId,
        context: &RequestContext,
        command: &Command,
        mut loaded: Option<Versioned<AccountState>>,
    ) -> Result<(Decision, AccountState)> {
        for _ in 0..MAX_ATTEMPTS {
            let loaded = match loaded.take() {
                Some(loaded) => loaded,
                None => self.store.load(account).await?,
            };
            let decision = decide(
                &loaded.value,
                command,
                self.clock.now(),
                context,
                &self.policy,
            )?;
            match self
                .store
                .append(account, loaded.version, &decision.events)
                .await
            {
                Ok(_) => {
                    let state = latchkey_policy::apply(loaded.value, &decision.events);
                    return Ok((decision, state));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Conflict {
            expected: 0,
            actual: 0,
        }
        .into())
    }
}

/// The verifier the facade uses: counters are reported, and the policy decides (P12).
fn verifier_for(rp: &RelyingParty) -> Verifier {
    let mut options = VerifierOptions::default();
    options.counter = CounterPolicy::Flag;
    Verifier::new(rp.id(), rp.origin_rules()).with_options(options)
}

/// UV is required for everything but login, where it is preferred (P9).
fn user_verification(intent: Intent) -> &'static str {
    if intent == Intent::Login {
        "preferred"
    } else {
        "required"
    }
}

/// Whether a passkey may answer for `intent` (for `allowCredentials`).
fn credential_serves(credential: &Credential, intent: Intent) -> bool {
    match intent {
        Intent::Login | Intent::Withdrawal => credential.scope == Scope::Exchange,
        Intent::DexTrade | Intent::DexTransfer => {
            credential.scope == Scope::Exchange && credential.dex_authorized
        }
        Intent::PaySign => credential.scope == Scope::Pay,
        Intent::SecurityChange => true,
    }
}

fn descriptors(
    state: &AccountState,
    keep: impl Fn(&Credential) -> bool,
) -> Vec<CredentialDescriptor> {
    state
        .credentials
        .iter()
        .filter(|c| keep(c))
        .map(|c| CredentialDescriptor {
            id: b64(c.id.as_bytes()),
            kind: "public-key".into(),
            transports: c.transports.clone(),
        })
        .collect()
}
