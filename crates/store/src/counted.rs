//! A [`Store`] wrapper that counts the calls it forwards: how many times a caller (the
//! facade) goes to the store. For [`MemoryStore`](crate::MemoryStore) each call is one
//! lock of the store; for a database backend each call is at least one round trip (the
//! backends count their own round trips too).

use std::sync::atomic::{AtomicU64, Ordering};

use latchkey_policy::{AccountState, CredentialId, Event, Timestamp};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Owner, TakeAndAppend, Taken, Versioned};
use crate::store::Store;

/// How many calls of each [`Store`] method a [`Counted`] store forwarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Calls {
    /// [`Store::load`].
    pub load: u64,
    /// [`Store::append`].
    pub append: u64,
    /// [`Store::account_of`].
    pub account_of: u64,
    /// [`Store::history`].
    pub history: u64,
    /// [`Store::put_challenge`].
    pub put_challenge: u64,
    /// [`Store::purge_challenges`].
    pub purge_challenges: u64,
    /// [`Store::take_challenge`].
    pub take_challenge: u64,
    /// [`Store::put_challenge_and_load`].
    pub put_challenge_and_load: u64,
    /// [`Store::take_challenge_and_owner`].
    pub take_challenge_and_owner: u64,
    /// [`Store::append_loaded`].
    pub append_loaded: u64,
    /// [`Store::peek_challenge_and_owner`].
    pub peek_challenge_and_owner: u64,
    /// [`Store::take_challenge_and_append`].
    pub take_challenge_and_append: u64,
}

impl Calls {
    /// Every call, whatever the method.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.load
            + self.append
            + self.account_of
            + self.history
            + self.put_challenge
            + self.purge_challenges
            + self.take_challenge
            + self.put_challenge_and_load
            + self.take_challenge_and_owner
            + self.append_loaded
            + self.peek_challenge_and_owner
            + self.take_challenge_and_append
    }
}

/// Forwards every call to the inner store, counting it first. The combined methods
/// ([`Store::put_challenge_and_load`] and the others) are forwarded as such, so the inner
/// store's own implementation of them is what runs.
#[derive(Debug, Default)]
pub struct Counted<S> {
    inner: S,
    counters: [AtomicU64; 12],
}

impl<S> Counted<S> {
    /// Wraps `inner`, with every count at zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Default::default(),
        }
    }

    /// The inner store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The calls forwarded so far.
    #[must_use]
    pub fn calls(&self) -> Calls {
        let [
            load,
            append,
            account_of,
            history,
            put_challenge,
            purge_challenges,
            take_challenge,
            put_challenge_and_load,
            take_challenge_and_owner,
            append_loaded,
            peek_challenge_and_owner,
            take_challenge_and_append,
        ] = self.counters.each_ref().map(|c| c.load(Ordering::Relaxed));
        Calls {
            load,
            append,
            account_of,
            history,
            put_challenge,
            purge_challenges,
            take_challenge,
            put_challenge_and_load,
            take_challenge_and_owner,
            append_loaded,
            peek_challenge_and_owner,
            take_challenge_and_append,
        }
    }

    fn count(&self, method: Method) {
        if let Some(counter) = self.counters.get(method as usize) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    Load,
    Append,
    AccountOf,
    History,
    PutChallenge,
    PurgeChallenges,
    TakeChallenge,
    PutChallengeAndLoad,
    TakeChallengeAndOwner,
    AppendLoaded,
    PeekChallengeAndOwner,
    TakeChallengeAndAppend,
}

impl<S: Store> Store for Counted<S> {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.count(Method::Load);
        self.inner.load(account).await
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.count(Method::Append);
        self.inner.append(account, expected_version, events).await
    }

    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        self.count(Method::AccountOf);
        self.inner.account_of(credential).await
    }

    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        self.count(Method::History);
        self.inner.history(account).await
    }

    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.count(Method::PutChallenge);
        self.inner.put_challenge(record).await
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.count(Method::PurgeChallenges);
        self.inner.purge_challenges(now).await
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        self.count(Method::TakeChallenge);
        self.inner.take_challenge(challenge).await
    }

    async fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        self.count(Method::PutChallengeAndLoad);
        self.inner.put_challenge_and_load(record, account).await
    }

    async fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<(Taken, Option<Owner>), StoreError> {
        self.count(Method::TakeChallengeAndOwner);
        self.inner
            .take_challenge_and_owner(challenge, credential)
            .await
    }

    async fn append_loaded(
        &self,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.count(Method::AppendLoaded);
        self.inner.append_loaded(account, loaded, events).await
    }

    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
        self.count(Method::PeekChallengeAndOwner);
        self.inner
            .peek_challenge_and_owner(challenge, credential)
            .await
    }

    async fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<TakeAndAppend, StoreError> {
        self.count(Method::TakeChallengeAndAppend);
        self.inner
            .take_challenge_and_append(challenge, account, loaded, events)
            .await
    }
}
