//! The `Store` trait: event-sourced accounts with optimistic concurrency.

use std::future::Future;

use latchkey_policy::{AccountState, CredentialId, Event, Timestamp};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Versioned};

/// Where accounts, their events and ceremony challenges live.
///
/// Runtime-agnostic: every method returns a `Send` future and needs no particular
/// executor. Implementations must keep these contracts (the [`conformance`](crate::conformance)
/// suite checks each):
///
/// - [`load`](Self::load) of an unknown account is the empty state at version 0.
/// - [`append`](Self::append) is atomic: all events or none. It succeeds only if the
///   account is still at `expected_version`, and returns the new version
///   (`expected_version + events.len()`); otherwise [`StoreError::Conflict`] and nothing
///   changes. The state returned by later loads is the fold of all events.
/// - A `Registered` event whose credential id another account owns fails the whole append
///   with [`StoreError::DuplicateCredential`] (P15); credential ids are indexed for
///   [`account_of`](Self::account_of), and removed from the index when deleted.
/// - [`take_challenge`](Self::take_challenge) returns a stored challenge at most once,
///   even under concurrent takes, expired or not; the caller checks the deadline.
pub trait Store: Send + Sync {
    /// The account's current state and version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Corrupt`].
    fn load(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Versioned<AccountState>, StoreError>> + Send;

    /// Appends events if the account is still at `expected_version`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`], [`StoreError::DuplicateCredential`],
    /// [`StoreError::Unavailable`].
    fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The account that owns a credential (for discoverable login).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn account_of(
        &self,
        credential: &CredentialId,
    ) -> impl Future<Output = Result<Option<AccountId>, StoreError>> + Send;

    /// Every event of the account, oldest first (the history users see, P14).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Corrupt`].
    fn history(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Keeps a challenge until it is taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn put_challenge(
        &self,
        record: ChallengeRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes every challenge whose deadline is before `now`, returning how many. Call it
    /// periodically: taken challenges stay as tombstones until their deadline, so a replay
    /// is recognised as one.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn purge_challenges(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Removes and returns a challenge; `None` if unknown or already taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn take_challenge(
        &self,
        challenge: &[u8],
    ) -> impl Future<Output = Result<Option<ChallengeRecord>, StoreError>> + Send;
}

/// The credential ids an append registers and deletes, in order, for the owner index.
pub fn credential_changes(events: &[Event]) -> impl Iterator<Item = (&CredentialId, bool)> {
    use latchkey_policy::EventKind;
    events.iter().filter_map(|event| match &event.kind {
        EventKind::Registered { credential } => Some((&credential.id, true)),
        EventKind::Deleted { credential, .. } => Some((credential, false)),
        _ => None,
    })
}
