//! The service: ceremonies per scope and intent, going verify -> policy -> store.
//!
//! One file per ceremony: [`registration`] (add and replace, U2F import),
//! [`authentication`] (login, intents, step-up), [`management`] (DEX, rename, delete,
//! lists, history, locks). This file holds what they share: the service value, the
//! store round trip and the verifying-key cache. No rule is written here: the facade
//! asks `latchkey-policy` and carries out what it decides.

mod account;
mod authentication;
mod management;
mod outcome;
mod registration;
mod request;

use std::sync::Arc;

use latchkey_policy::{
    AccountState, Command, CredentialId, Decision, PolicyConfig, RequestContext, Scope, Timestamp,
    decide,
};
use latchkey_store::{AccountId, Store, StoreError, Versioned};
use latchkey_verify::{ClientData, CounterPolicy, Verifier, VerifierOptions, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::attestation::AttestationPolicy;
use crate::backoff::{Pause, pause_after};
use crate::challenge::Pending;
use crate::clock::{Clock, OsRandom, Random, SystemClock};
use crate::config::RelyingParty;
use crate::error::{Error, Result};
use crate::json::{CredentialDescriptor, b64, unb64};
use crate::key_cache::{CachedKey, DEFAULT_KEY_CACHE_BYTES, KeyCache, KeyCacheStats};
use crate::trace;

pub use account::AccountStatus;
pub use management::{Changed, Deleted, HistoryPage, MAX_HISTORY_PAGE};
pub use outcome::{Authenticated, InvalidStepUpToken, Registered, StepUp, StepUpToken, User};
pub use request::{FinishAuthentication, FinishRecovery, FinishRegistration, FinishReplacement};

/// How often a command is decided and appended before giving up on a contended account.
const MAX_ATTEMPTS: u32 = 8;

/// Passkeys for one relying party on one store.
///
/// Holds no state between requests: challenges and step-up grants are store records,
/// so any instance of a service finishes what another started.
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
    pause: Arc<dyn Pause>,
    keys: KeyCache,
}

impl<S: Store> Passkeys<S> {
    /// The service with default policy, the system clock and OS randomness.
    #[must_use]
    pub fn new(rp: RelyingParty, store: S) -> Self {
        let verifier = verifier_for(&rp);
        Self {
            rp,
            verifier,
            attestation: AttestationPolicy::default(),
            store,
            policy: PolicyConfig::default(),
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            pause: default_pause(),
            keys: KeyCache::new(DEFAULT_KEY_CACHE_BYTES),
        }
    }

    /// Replaces the policy configuration.
    #[must_use]
    pub fn with_policy(mut self, policy: PolicyConfig) -> Self {
        self.policy = policy;
        self
    }

    /// Sets what registrations must show of their attestation: trust anchors and FIDO
    /// metadata (see [`AttestationPolicy`]). Which scopes require a trusted chain is
    /// policy: [`PolicyConfig::trusted_attestation`].
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

    /// Replaces how the service waits between attempts of a command whose append
    /// conflicted (default: [`TokioPause`](crate::TokioPause) with the `tokio` feature,
    /// else [`NoPause`](crate::NoPause)).
    #[must_use]
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.pause = pause;
        self
    }

    /// Sets the byte budget of the verifying-key cache (default
    /// [`DEFAULT_KEY_CACHE_BYTES`](crate::DEFAULT_KEY_CACHE_BYTES)); 0 turns it off.
    #[must_use]
    pub fn with_key_cache_bytes(mut self, budget: usize) -> Self {
        self.keys = KeyCache::new(budget);
        self
    }

    /// How the verifying-key cache has served so far (also recorded per login in the
    /// `key_cache` field of its trace span).
    #[must_use]
    pub fn key_cache_stats(&self) -> KeyCacheStats {
        self.keys.stats()
    }

    /// The relying party.
    #[must_use]
    pub fn relying_party(&self) -> &RelyingParty {
        &self.rp
    }

    /// The policy configuration.
    #[must_use]
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
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

    /// Deletes expired challenges from the store; returns how many. Run it periodically
    /// (every few minutes is plenty).
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn purge_expired_challenges(&self) -> Result<usize> {
        Ok(self.store.purge_challenges(self.clock.now()).await?)
    }

    fn deadline(&self) -> Timestamp {
        self.clock
            .now()
            .plus_seconds(self.policy.challenge_ttl_seconds)
    }

    /// The verifying key of a stored passkey, parsed once and kept (see [`KeyCache`]): a
    /// login verifies without re-validating the point.
    fn verifying_key(&self, id: &CredentialId, cose: &[u8]) -> Result<CachedKey> {
        if let Some(cached) = self.keys.get(id, cose) {
            trace::key_cache(true);
            return Ok(cached);
        }
        trace::key_cache(false);
        let parsed: CachedKey = Arc::new((cose.to_vec(), VerifyingKey::from_cose(cose)?));
        self.keys.insert(id, Arc::clone(&parsed));
        Ok(parsed)
    }

    /// The challenge a client data names, decoded; refused when the service bound the
    /// request to its session and handed that session another challenge (P16).
    fn challenge_of(&self, client_data_json: &[u8]) -> Result<Vec<u8>> {
        let client_data = ClientData::parse(client_data_json)?;
        unb64(client_data.challenge(), "challenge").map_err(|_| Error::ChallengeMismatch)
    }

    /// Decides and appends `command`, deciding again on the newer state after a
    /// concurrent change. `loaded` is a state the caller has just read: the first attempt
    /// decides on it instead of reading it again. Returns the decision, with the events
    /// that were appended, and the state after them.
    async fn commit(
        &self,
        account: &AccountId,
        context: &RequestContext,
        command: &Command,
        loaded: Option<Versioned<AccountState>>,
    ) -> Result<(Decision, AccountState)> {
        self.commit_taking(account, context, command, loaded, None)
            .await
    }

    /// [`commit`](Self::commit), where `pending` is a challenge the caller peeked and has
    /// not consumed: the append consumes it in the same store step
    /// ([`Store::take_challenge_and_append`]), so that a login commits once, and settles
    /// it. After a conflict the challenge is the caller's, and later attempts append
    /// alone; a step rolled back whole (a deadlock) took nothing and is tried again. A
    /// challenge that another finish took in between refuses this one (P16).
    async fn commit_taking(
        &self,
        account: &AccountId,
        context: &RequestContext,
        command: &Command,
        mut loaded: Option<Versioned<AccountState>>,
        mut pending: Option<&mut Pending<'_>>,
    ) -> Result<(Decision, AccountState)> {
        for attempt in 0..MAX_ATTEMPTS {
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
            let appended = match pending.as_deref_mut().filter(|p| !p.settled) {
                Some(pending) => {
                    pending
                        .take_and_append(
                            &self.store,
                            account,
                            &loaded,
                            &decision.events,
                            &*self.clock,
                        )
                        .await
                }
                None => self
                    .store
                    .append_loaded(account, &loaded, &decision.events)
                    .await
                    .map_err(Error::from),
            };
            match appended {
                Ok(_) => {
                    if let Some(event) = decision.events.first() {
                        trace::scope(event.scope);
                    }
                    trace::warnings(&decision.warnings);
                    let state = latchkey_policy::apply(loaded.value, &decision.events);
                    return Ok((decision, state));
                }
                Err(Error::Store(StoreError::Conflict { .. })) if attempt + 1 < MAX_ATTEMPTS => {
                    self.pause_after_conflict(attempt).await;
                }
                Err(Error::Store(StoreError::Conflict { .. })) => break,
                Err(other) => return Err(other),
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// A random pause in a window that doubles with each attempt. Jitter is not a
    /// secret: if randomness fails, the whole window is waited.
    async fn pause_after_conflict(&self, attempt: u32) {
        let mut random = [0xff; 4];
        if self.random.fill(&mut random).is_err() {
            random = [0xff; 4];
        }
        self.pause.pause(pause_after(attempt, random)).await;
    }
}

fn default_pause() -> Arc<dyn Pause> {
    #[cfg(feature = "tokio")]
    return Arc::new(crate::backoff::TokioPause);
    #[cfg(not(feature = "tokio"))]
    return Arc::new(crate::backoff::NoPause);
}

/// Refuses a response whose challenge is not the one the service handed this session,
/// when the service says which it handed (P16).
fn check_session(context: &RequestContext, challenge: &[u8]) -> Result<()> {
    match &context.session_challenge {
        Some(expected) if unb64(expected, "session challenge")? != challenge => {
            Err(Error::ChallengeMismatch)
        }
        _ => Ok(()),
    }
}

/// The verifier the facade uses: counters are reported, and the policy decides (P12);
/// RS1 as the relying party enables it; enterprise attestation only when the relying
/// party asks for `enterprise` conveyance.
fn verifier_for(rp: &RelyingParty) -> Verifier {
    let mut options = VerifierOptions::default();
    options.counter = CounterPolicy::Flag;
    options.signature.allow_rs1 = rp.allows_rs1();
    options.allow_enterprise_attestation = rp.enterprise_attestation();
    Verifier::new(rp.id(), rp.origin_rules()).with_options(options)
}

/// `allowCredentials` / `excludeCredentials` entries for the passkeys `keep` selects.
fn descriptors(
    state: &AccountState,
    keep: impl Fn(&latchkey_policy::Credential) -> bool,
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
