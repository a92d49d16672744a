//! An in-memory store for tests and single-process demos.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use latchkey_policy::{AccountState, CredentialId, Event, KeyFingerprint, Timestamp, apply};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Taken, Versioned};
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

impl Store for MemoryStore {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        let inner = self.lock()?;
        Ok(match inner.accounts.get(account) {
            Some(a) => Versioned {
                version: version(&a.events),
                value: a.state.clone(),
            },
            None => Versioned {
                version: 0,
                value: AccountState::default(),
            },
        })
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock()?;
        let actual = inner
            .accounts
            .get(account)
            .map_or(0, |a| version(&a.events));
        if actual != expected_version {
            return Err(StoreError::Conflict {
                expected: expected_version,
                actual,
            });
        }
        for (id, registered) in credential_changes(events) {
            if registered && inner.owners.get(id).is_some_and(|owner| owner != account) {
                return Err(StoreError::DuplicateCredential);
            }
        }
        let keys = match inner.accounts.get(account) {
            Some(a) => key_changes(&a.state, events),
            None => key_changes(&AccountState::default(), events),
        };
        if keys.registers_revoked(|key| Ok::<_, StoreError>(inner.revoked_keys.contains(key)))? {
            return Err(StoreError::DuplicateCredential);
        }
        inner.revoked_keys.extend(keys.revoked);
        for (id, registered) in credential_changes(events) {
            if registered {
                inner.owners.insert(id.clone(), account.clone());
            } else {
                inner.owners.remove(id);
            }
        }
        let entry = inner.accounts.entry(account.clone()).or_default();
        entry.state = apply(std::mem::take(&mut entry.state), events);
        entry.events.extend_from_slice(events);
        Ok(version(&entry.events))
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
        let mut inner = self.lock()?;
        Ok(match inner.challenges.get_mut(challenge) {
            None => Taken::Unknown,
            Some(stored) if stored.used => Taken::Used {
                expires_at: stored.record.expires_at,
            },
            Some(stored) => {
                stored.used = true;
                Taken::Fresh(stored.record.clone())
            }
        })
    }
}
