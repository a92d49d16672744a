//! Ceremony challenges (P16, P10): random, single-use, with a deadline, bound to what the
//! ceremony is for.

use latchkey_policy::{AccountState, Change, CredentialId, Event, Intent, Scope, Timestamp};
use latchkey_store::{
    AccountId, ChallengeRecord, Store, StoreError, TakeAndAppend, Taken, Versioned,
};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Random};
use crate::error::{Error, Result};

/// Random bytes in every challenge.
pub const CHALLENGE_RANDOM_LEN: usize = 32;

/// What a challenge was issued for: a finish call accepts it only for that (P16).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
pub(crate) enum Binding {
    /// A new passkey for `account` in `scope`, the successor of `replacing`, or the one
    /// passkey of a recovered scope.
    Registration {
        account: AccountId,
        scope: Scope,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replacing: Option<CredentialId>,
        /// A recovery of `scope` (P20): only its finish accepts the challenge.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        recovery: bool,
    },
    /// An assertion.
    Authentication(RequestBinding),
}

/// What an assertion's challenge is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestBinding {
    /// The account; absent only for a discoverable login.
    pub(crate) account: Option<AccountId>,
    pub(crate) intent: Intent,
    /// For signing intents: base64url of the bound transaction digest (P10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction: Option<String>,
    /// For a step-up: the one change it is made for (P7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) change: Option<Change>,
    /// The challenge's deadline, which a step-up grant inherits.
    pub(crate) expires_at: Timestamp,
    /// The account's freeze count (`AccountState::freeze_changes`) when it was issued,
    /// for every intent but login: one begun before a freeze or an unfreeze serves
    /// nothing after it (P18). Absent for logins and in challenges stored by an older
    /// latchkey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) freeze_changes: Option<u64>,
}

/// A fresh challenge: 32 random bytes, followed for signing intents by the bound
/// transaction digest, so the signature commits to it (P10).
pub(crate) fn generate(random: &dyn Random, bound: Option<&[u8; 32]>) -> Result<Vec<u8>> {
    let mut challenge = vec![0u8; CHALLENGE_RANDOM_LEN];
    random.fill(&mut challenge)?;
    if let Some(bound) = bound {
        challenge.extend_from_slice(bound);
    }
    Ok(challenge)
}

/// The record that keeps a challenge with its binding until `expires_at`.
pub(crate) fn record(
    challenge: &[u8],
    binding: &Binding,
    expires_at: Timestamp,
) -> Result<ChallengeRecord> {
    let binding = serde_json::to_vec(binding)
        .map_err(|_| Error::Internal("challenge binding could not be encoded"))?;
    Ok(ChallengeRecord {
        challenge: challenge.to_vec(),
        expires_at,
        binding,
    })
}

/// Stores a challenge with its binding until `expires_at`.
pub(crate) async fn issue<S: Store>(
    store: &S,
    challenge: &[u8],
    binding: &Binding,
    expires_at: Timestamp,
) -> Result<()> {
    store
        .put_challenge(record(challenge, binding, expires_at)?)
        .await?;
    Ok(())
}

/// Takes the challenge a response names, consuming it whatever happens next.
///
/// # Errors
///
/// [`Error::ChallengeMismatch`] for a challenge never issued, [`Error::ChallengeReused`]
/// for one already taken, [`Error::ChallengeExpired`] after its deadline.
pub(crate) async fn redeem<S: Store>(
    store: &S,
    challenge: &[u8],
    now: Timestamp,
) -> Result<Binding> {
    // One atomic call consumes it: of two racing uses one is Fresh, the other Used.
    judge(store.take_challenge(challenge).await?, now)
}

/// What a take found, as the binding of a fresh, unexpired challenge or the refusal.
///
/// # Errors
///
/// As [`redeem`].
pub(crate) fn judge(taken: Taken, now: Timestamp) -> Result<Binding> {
    match taken {
        Taken::Fresh(record) => {
            if now > record.expires_at {
                return Err(Error::ChallengeExpired);
            }
            serde_json::from_slice(&record.binding).map_err(|_| Error::ChallengeMismatch)
        }
        other => Err(refusal(&other)),
    }
}

/// Why a challenge that is not fresh refuses its response: used before
/// (`challenge_reused`), or never issued or purged (`challenge_mismatch`).
pub(crate) fn refusal(taken: &Taken) -> Error {
    match taken {
        Taken::Used { .. } => Error::ChallengeReused,
        // A fresh one is refused by nobody; never call it a success.
        Taken::Unknown | Taken::Fresh(_) => Error::ChallengeMismatch,
    }
}

/// A challenge a finish read without consuming it ([`Store::peek_challenge_and_owner`]):
/// the finish must spend it, with its append or, when it refuses the response, on its own
/// (P16).
///
/// [`Store::peek_challenge_and_owner`]: latchkey_store::Store::peek_challenge_and_owner
#[derive(Debug)]
pub(crate) struct Pending<'c> {
    /// The challenge.
    pub(crate) challenge: &'c [u8],
    /// Its deadline, as the peek read it.
    pub(crate) expires_at: Timestamp,
    /// Whether it is settled: consumed by this finish's append step, or found consumed
    /// (or purged) by it, so that nothing is left to spend.
    pub(crate) settled: bool,
}

impl Pending<'_> {
    /// Spends the challenge after `refused`, the finish's refusal, and says what the
    /// answer is.
    ///
    /// - This spend consumed it: the refusal stands (this response was its first answer).
    /// - Another answer had consumed it first: `challenge_reused` (or, purged after its
    ///   deadline, `challenge_expired`), as if this one had come second, which it did: a
    ///   refusal never hides that a racing answer took the challenge. A store error keeps
    ///   its own code.
    /// - The spend failed: the store's error, and the response counts as never answered
    ///   (the challenge may still be fresh, as when a take fails before anything is
    ///   judged).
    pub(crate) async fn spend_after<S: Store>(
        &self,
        store: &S,
        refused: Error,
        clock: &dyn Clock,
    ) -> Error {
        match store.take_challenge(self.challenge).await {
            Ok(Taken::Fresh(_)) => refused,
            Ok(_) if matches!(refused, Error::Store(_)) => refused,
            Ok(other) => self.taken_before(&other, clock.now()),
            Err(error) => error.into(),
        }
    }

    /// Consumes the challenge and appends `events` in one store step
    /// ([`Store::take_challenge_and_append`]), and settles it unless the step failed
    /// whole (a store error, a conflict that rolled the take back with the append).
    ///
    /// # Errors
    ///
    /// A conflict after the take (the challenge is this finish's now: decide again and
    /// append alone); the refusal when another answer took the challenge first
    /// ([`taken_before`](Self::taken_before)); store errors.
    pub(crate) async fn take_and_append<S: Store>(
        &mut self,
        store: &S,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
        clock: &dyn Clock,
    ) -> Result<u64> {
        let step = store
            .take_challenge_and_append(self.challenge, account, loaded, events)
            .await?;
        self.settled = true;
        match step {
            TakeAndAppend::Appended(version) => Ok(version),
            TakeAndAppend::Conflict { expected, actual } => {
                Err(StoreError::Conflict { expected, actual }.into())
            }
            // Judged at the time the step answered: it may have waited.
            TakeAndAppend::NotFresh(taken) => Err(self.taken_before(&taken, clock.now())),
        }
    }

    /// The refusal when the challenge, fresh at the peek, was no longer fresh when this
    /// finish came to take it: another answer took it (`challenge_reused`), or it was
    /// purged, after its deadline (`challenge_expired`) or not (`challenge_mismatch`).
    pub(crate) fn taken_before(&self, taken: &Taken, now: Timestamp) -> Error {
        match taken {
            Taken::Unknown if now > self.expires_at => Error::ChallengeExpired,
            other => refusal(other),
        }
    }
}
