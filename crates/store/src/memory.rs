//! An in-memory store for tests and single-process demos.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use latchkey_policy::{AccountState, CredentialId, Event, KeyFingerprint, Timestamp, apply};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Owner, TakeAndAppend, Taken, Versioned};
use crate::store::{Store, credential_changes, key_changes};

/// A [`Store`] in memory, safe to share between threads. Lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<AccountId, Account>,
    owners: HashMap<CredentialId, AccountId>,
    revoked_keys: HashSet<KeyFingerprint>,
    challenges: HashMap<Vec<u8>, Challenge>,
}

/// A stored challenge and whether it was taken.
#[derive(Debug)]
struct Challenge {
    record: ChallengeRecord,
    used: bool,
}

#[derive(Debug, Default)]
struct Account {
    state: AccountState,
    events: Vec<Event>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        // A panic while holding the lock cannot leave a half-applied append: appends
        // validate everything before mutating.
        self.inner
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }
}

fn version(events: &[Event]) -> u64 {
    u64::try_from(events.len()).unwrap_or(u64::MAX)
}

impl Inner {
    /// An append under the lock: every check before any change.
    fn append(
        &mut self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let actual = self.accounts.get(account).map_or(0, |a| version(&a.events));
        if actual != expected_version {
            return Err(StoreError::Conflict {
                expected: expected_version,
                actual,
            });
        }
        for (id, registered) in credential_changes(events) {
            if registered && self.owners.get(id).is_some_and(|owner| owner != account) {
                return Err(StoreError::DuplicateCredential);
            }
        }
        let keys = match self.accounts.get(account) {
            Some(a) => key_changes(&a.state, events),
            None => key_changes(&AccountState::default(), events),
        };
        if keys.registers_revoked(|key| Ok::<_, StoreError>(self.revoked_keys.contains(key)))? {
            return Err(StoreError::DuplicateCredential);
        }
        self.revoked_keys.extend(keys.revoked);
        for (id, registered) in credential_changes(events) {
            if registered {
                self.owners.insert(id.clone(), account.clone());
            } else {
                self.owners.remove(id);
            }
        }
        let entry = self.accounts.entry(account.clone()).or_default();
        entry.state = apply(std::mem::take(&mut entry.state), events);
        entry.events.extend_from_slice(events);
        Ok(version(&entry.events))
    }

    /// What a take would find, without marking anything.
    fn peek(&self, challenge: &[u8]) -> Taken {
        match self.challenges.get(challenge) {
            None => Taken::Unknown,
            Some(stored) if stored.used => Taken::Used {
                expires_at: stored.record.expires_at,
            },
            Some(stored) => Taken::Fresh(stored.record.clone()),
        }
    }

    /// Marks a challenge used; what it was before.
    fn take(&mut self, challenge: &[u8]) -> Taken {
        let taken = self.peek(challenge);
        if matches!(taken, Taken::Fresh(_)) {
            self.mark_used(challenge);
        }
        taken
    }

    fn is_fresh(&self, challenge: &[u8]) -> bool {
        self.challenges
            .get(challenge)
            .is_some_and(|stored| !stored.used)
    }

    fn mark_used(&mut self, challenge: &[u8]) {
        if let Some(stored) = self.challenges.get_mut(challenge) {
            stored.used = true;
        }
    }

    /// The account's state and version; an unknown one is empty at version 0.
    fn load(&self, account: &AccountId) -> Versioned<AccountState> {
        match self.accounts.get(account) {
            Some(a) => Versioned {
                version: version(&a.events),
                value: a.state.clone(),
            },
            None => Versioned {
                version: 0,
                value: AccountState::default(),
            },
        }
    }

    fn owner(&self, credential: &CredentialId) -> Option<Owner> {
        let account = self.owners.get(credential)?;
        Some(Owner {
            account: account.clone(),
            state: self.load(account),
        })
    }
}

impl Store for MemoryStore {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        Ok(self.lock()?.load(account))
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.lock()?.append(account, expected_version, events)
    }

    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.lock()?.owners.get(credential).cloned())
    }

    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .lock()?
            .accounts
            .get(account)
            .map(|a| a.events.clone())
            .unwrap_or_default())
    }

    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        // The first put wins: a second one must not make a used challenge fresh again.
        self.lock()?
            .challenges
            .entry(record.challenge.clone())
            .or_insert(Challenge {
                record,
                used: false,
            });
        Ok(())
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut inner = self.lock()?;
        let before = inner.challenges.len();
        inner
            .challenges
            .retain(|_, stored| stored.record.expires_at >= now);
        Ok(before - inner.challenges.len())
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        // Checked and marked under one lock: of racing takers one sees it unused.
        Ok(self.lock()?.take(challenge))
    }

    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
        let inner = self.lock()?;
        let taken = inner.peek(challenge);
        let owner = match taken {
            Taken::Fresh(_) => inner.owner(credential),
            _ => None,
        };
        Ok(Some((taken, owner)))
    }

    async fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<TakeAndAppend, StoreError> {
        // One lock for both: the take and the append are one step. A refused append
        // leaves the challenge as it was, as a rolled-back transaction would.
        let mut inner = self.lock()?;
        if !inner.is_fresh(challenge) {
            return Ok(TakeAndAppend::NotFresh(inner.peek(challenge)));
        }
        let step = match inner.append(account, loaded.version, events) {
            Ok(version) => TakeAndAppend::Appended(version),
            Err(StoreError::Conflict { expected, actual }) => {
                TakeAndAppend::Conflict { expected, actual }
            }
            Err(refused) => return Err(refused),
        };
        inner.mark_used(challenge);
        Ok(step)
    }
}
