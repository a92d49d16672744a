//! What stores keep besides events: account ids, versions, challenges.

use std::fmt;

use latchkey_policy::Timestamp;
use serde::{Deserialize, Serialize};

/// The service's identifier of an account (its user id).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(String);

impl AccountId {
    /// Wraps the service's account identifier.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({:?})", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value with the account version it was read at (the number of events so far).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The version: how many events the account has.
    pub version: u64,
    /// The value.
    pub value: T,
}

/// The account that owns a credential, with its state, as
/// [`Store::take_challenge_and_owner`](crate::Store::take_challenge_and_owner) reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The account.
    pub account: AccountId,
    /// Its state and version.
    pub state: Versioned<latchkey_policy::AccountState>,
}

/// A ceremony challenge kept server-side until its deadline (P16).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// The random challenge bytes, also the key it is found by.
    pub challenge: Vec<u8>,
    /// When it stops being valid.
    pub expires_at: Timestamp,
    /// What the ceremony is bound to (account, scope, intent, transaction), encoded by the
    /// caller; the store does not interpret it.
    pub binding: Vec<u8>,
}

/// What [`Store::take_challenge`](crate::Store::take_challenge) found: the one consuming
/// use of a challenge, a later use, or a challenge the store does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The first use of a stored challenge: the record as it was put. The same atomic step
    /// marked it used; it stays, marked, until
    /// [`purge_challenges`](crate::Store::purge_challenges) removes it after its deadline.
    /// The deadline is not checked: the caller compares `expires_at` with its clock.
    Fresh(ChallengeRecord),
    /// The challenge was used before, by an earlier or a concurrent call: a replay, or the
    /// loser of a race (P16: `challenge_reused`).
    Used {
        /// The deadline it was put with.
        expires_at: Timestamp,
    },
    /// The store holds no such challenge: it was never put, or was purged after its
    /// deadline.
    Unknown,
}

/// What [`Store::take_challenge_and_append`](crate::Store::take_challenge_and_append) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeAndAppend {
    /// The challenge was fresh: it is used now, and the events are appended; the new
    /// version.
    Appended(u64),
    /// The challenge was fresh and is used now, but the account is no longer at the
    /// loaded version: nothing was appended. Decide again on a new load and append with
    /// [`Store::append_loaded`](crate::Store::append_loaded); the challenge is yours.
    Conflict {
        /// The version the caller decided on.
        expected: u64,
        /// The version the store holds.
        actual: u64,
    },
    /// The challenge was not fresh ([`Taken::Used`] or [`Taken::Unknown`]): nothing
    /// changed.
    NotFresh(Taken),
}
