//! The `Store` trait: event-sourced accounts with optimistic concurrency.

use std::future::Future;

use latchkey_policy::{AccountState, CredentialId, Event, KeyFingerprint, Timestamp, apply};

use crate::error::StoreError;
use crate::model::{AccountId, ChallengeRecord, Owner, TakeAndAppend, Taken, Versioned};

/// Where accounts, their events and ceremony challenges live.
///
/// Runtime-agnostic: every method returns a `Send` future and needs no particular
/// executor. Implementations must keep these contracts (the `conformance` suite, feature
/// `conformance`, checks each):
///
/// - [`load`](Self::load) of an unknown account is the empty state at version 0.
/// - [`append`](Self::append) is atomic: all events or none. It succeeds only if the
///   account is still at `expected_version`, and returns the new version
///   (`expected_version + events.len()`); otherwise [`StoreError::Conflict`] and nothing
///   changes. The state returned by later loads is the fold of all events.
/// - A `Registered` event whose credential id another account owns fails the whole append
///   with [`StoreError::DuplicateCredential`] (P15); credential ids are indexed for
///   [`account_of`](Self::account_of), and removed from the index when deleted; a
///   revoked id (P20) stays its account's, so that no account registers it again.
/// - The public keys an append revokes ([`key_changes`]) join a store-wide index of
///   revoked keys, kept forever; a `Registered` event whose key is in it, in any account
///   (a fresh one too), fails the whole append with [`StoreError::DuplicateCredential`]
///   (P20). A revocation and a registration of the same key that race are ordered: the
///   registration either sees the revocation or commits before it.
/// - [`take_challenge`](Self::take_challenge) consumes a challenge in one atomic step
///   (P16): the first call for a stored challenge returns [`Taken::Fresh`] and marks it
///   used; every later call returns [`Taken::Used`]. Of any number of concurrent calls
///   exactly one gets `Fresh` and all the others `Used`. Expired or not: the caller checks
///   the deadline.
/// - A used challenge stays, marked, until [`purge_challenges`](Self::purge_challenges)
///   removes it after its deadline; from then on, as for a challenge never put,
///   `take_challenge` returns [`Taken::Unknown`].
/// - [`put_challenge`](Self::put_challenge) of a challenge the store already holds
///   changes nothing: it never makes a used challenge fresh again, nor moves its deadline
///   or changes its binding.
///
/// Three methods combine others so that a backend can do in one round trip what a login
/// needs: [`put_challenge_and_load`](Self::put_challenge_and_load),
/// [`take_challenge_and_owner`](Self::take_challenge_and_owner) and
/// [`append_loaded`](Self::append_loaded). Their default implementations call the plain
/// methods one after the other; a backend that overrides them keeps the same contracts.
///
/// Two more let a backend finish a login with one commit instead of two:
/// [`peek_challenge_and_owner`](Self::peek_challenge_and_owner) reads without consuming,
/// and [`take_challenge_and_append`](Self::take_challenge_and_append) consumes the
/// challenge and appends in one atomic step. A backend that cannot peek answers `None`
/// (the default), and callers take the challenge first as before.
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

    /// The account's state for display only (the passkey list a user looks at): a store
    /// may serve it from a replica that lags behind [`load`](Self::load), when its
    /// operator opts in. Nothing is ever decided on it. By default, [`load`](Self::load).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    fn load_for_display(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Versioned<AccountState>, StoreError>> + Send {
        self.load(account)
    }

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

    /// Every event of the account, oldest first (the history users see, P14). For
    /// display: a store may serve it from a replica that lags, when its operator opts in
    /// (nothing is decided on the history).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Corrupt`].
    fn history(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Keeps a fresh challenge until [`purge_challenges`](Self::purge_challenges) removes
    /// it after its deadline.
    ///
    /// A challenge the store already holds, used or not, is left as it is and the call
    /// succeeds: the first put wins. A challenge starts with 32 random bytes, so a second
    /// put of one is a caller's mistake; ignoring it keeps a used challenge used, whatever
    /// the second record says.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn put_challenge(
        &self,
        record: ChallengeRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes every challenge, used or not, whose deadline is before `now`, returning how
    /// many. Call it periodically: used challenges stay until their deadline, so that a
    /// replay is recognised as one ([`Taken::Used`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`].
    fn purge_challenges(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Consumes a challenge: marks it used and returns its record ([`Taken::Fresh`]) if
    /// it was stored and unused, all in one atomic step; [`Taken::Used`] if it was used
    /// before; [`Taken::Unknown`] if it was never stored or has been purged. The deadline
    /// is not checked.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] or [`StoreError::Corrupt`]. After an error the
    /// challenge may have been consumed (a connection lost after the commit): a retry then
    /// returns [`Taken::Used`], never a second `Fresh`.
    fn take_challenge(
        &self,
        challenge: &[u8],
    ) -> impl Future<Output = Result<Taken, StoreError>> + Send;

    /// [`put_challenge`](Self::put_challenge) then [`load`](Self::load) of `account`: the
    /// start of a ceremony for a named account, whose challenge does not depend on the
    /// account's state. The challenge is kept as by `put_challenge`, whatever the account.
    ///
    /// # Errors
    ///
    /// As [`put_challenge`](Self::put_challenge) and [`load`](Self::load). After an error
    /// the challenge may have been stored.
    fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> impl Future<Output = Result<Versioned<AccountState>, StoreError>> + Send {
        async move {
            self.put_challenge(record).await?;
            self.load(account).await
        }
    }

    /// [`take_challenge`](Self::take_challenge) and, when it is [`Taken::Fresh`], the
    /// owner of `credential` ([`account_of`](Self::account_of)) with the owner's state
    /// ([`load`](Self::load)); `None` for the owner when the challenge was not fresh or no
    /// account owns the credential. The take keeps every contract of `take_challenge`
    /// (atomic, exactly one `Fresh` of racing calls). The owner and its state are as
    /// committed no earlier than the take began: an append with their version still
    /// checks it.
    ///
    /// # Errors
    ///
    /// As [`take_challenge`](Self::take_challenge); after an error the challenge may have
    /// been consumed.
    fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> impl Future<Output = Result<(Taken, Option<Owner>), StoreError>> + Send {
        async move {
            let taken = self.take_challenge(challenge).await?;
            if !matches!(taken, Taken::Fresh(_)) {
                return Ok((taken, None));
            }
            let Some(account) = self.account_of(credential).await? else {
                return Ok((taken, None));
            };
            let state = self.load(&account).await?;
            Ok((taken, Some(Owner { account, state })))
        }
    }

    /// [`append`](Self::append) at `loaded.version`, where `loaded` is what
    /// [`load`](Self::load) (or [`take_challenge_and_owner`](Self::take_challenge_and_owner))
    /// returned for `account`, unchanged: a backend may write the state after the events
    /// as `apply(loaded.value, events)` instead of reading the account again. The version
    /// check is the same as `append`'s, so a state loaded at another version conflicts.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    fn append_loaded(
        &self,
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        self.append(account, loaded.version, events)
    }

    /// What [`take_challenge_and_owner`](Self::take_challenge_and_owner) would return,
    /// without consuming the challenge: [`Taken::Fresh`] for a stored, unused one (which a
    /// racing call may take before this caller does). `None` when the backend does not
    /// read challenges this way (the default): the caller then takes the challenge first.
    /// A caller that peeked consumes the challenge later, with
    /// [`take_challenge_and_append`](Self::take_challenge_and_append) or, when it
    /// refuses the response, [`take_challenge`](Self::take_challenge) (P16: a challenge
    /// is spent by its first answer, accepted or not).
    ///
    /// # Errors
    ///
    /// As [`take_challenge_and_owner`](Self::take_challenge_and_owner); nothing is
    /// consumed.
    fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> impl Future<Output = Result<Option<(Taken, Option<Owner>)>, StoreError>> + Send {
        let _ = (challenge, credential);
        async { Ok(None) }
    }

    /// Consumes `challenge` and, if it was fresh, appends `events` as
    /// [`append_loaded`](Self::append_loaded) does, in one atomic step: of racing calls for
    /// one challenge exactly one finds it fresh. A challenge that was not fresh changes
    /// nothing ([`TakeAndAppend::NotFresh`]); a fresh one whose account moved on is
    /// consumed and nothing is appended ([`TakeAndAppend::Conflict`]). The default
    /// implementation takes, then appends: not one step, but never an append without the
    /// take.
    ///
    /// # Errors
    ///
    /// As [`append_loaded`](Self::append_loaded) but for conflicts. Nothing is appended;
    /// the challenge may have been consumed or not, so a caller that refuses the response
    /// then consumes it with [`take_challenge`](Self::take_challenge).
    fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> impl Future<Output = Result<TakeAndAppend, StoreError>> + Send {
        async move {
            let taken = self.take_challenge(challenge).await?;
            if !matches!(taken, Taken::Fresh(_)) {
                return Ok(TakeAndAppend::NotFresh(taken));
            }
            match self.append_loaded(account, loaded, events).await {
                Ok(version) => Ok(TakeAndAppend::Appended(version)),
                Err(StoreError::Conflict { expected, actual }) => {
                    Ok(TakeAndAppend::Conflict { expected, actual })
                }
                Err(other) => Err(other),
            }
        }
    }
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

/// What an append changes in the store-wide index of revoked keys (P20), by
/// [`KeyFingerprint`], so that a key re-encoded is the same key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyChanges {
    /// The keys the append's `Registered` events bring: the append fails if any of them
    /// is in the index, or in [`revoked`](Self::revoked) (a registration and a
    /// revocation of one key in one append).
    pub registered: Vec<KeyFingerprint>,
    /// The keys the append revokes: they join the index after the check above.
    pub revoked: Vec<KeyFingerprint>,
}

impl KeyChanges {
    /// Whether the append registers a key that it revokes too, or that `in_index` finds
    /// in the backend's index: then it fails whole.
    ///
    /// # Errors
    ///
    /// The first error of `in_index`.
    pub fn registers_revoked<E>(
        &self,
        mut in_index: impl FnMut(&KeyFingerprint) -> Result<bool, E>,
    ) -> Result<bool, E> {
        for key in &self.registered {
            if self.revoked.contains(key) || in_index(key)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The [`KeyChanges`] of appending `events` to an account in state `before`. The revoked
/// keys are those `apply(before, events)` lists and `before` does not (the fold decides
/// which key a revocation takes; it is computed only when an event revokes). Each key comes
/// once, sorted, so that backends that lock them do so in one order.
#[must_use]
pub fn key_changes(before: &AccountState, events: &[Event]) -> KeyChanges {
    use latchkey_policy::EventKind;
    let mut revoked = Vec::new();
    if events
        .iter()
        .any(|event| matches!(event.kind, EventKind::Revoked { .. }))
    {
        let known: Vec<KeyFingerprint> = before.revoked_key_fingerprints().collect();
        revoked = apply(before.clone(), events)
            .revoked_key_fingerprints()
            .filter(|key| !known.contains(key))
            .collect();
    }
    let mut registered: Vec<KeyFingerprint> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Registered { credential } => {
                Some(KeyFingerprint::of(&credential.public_key))
            }
            _ => None,
        })
        .collect();
    for keys in [&mut registered, &mut revoked] {
        keys.sort_unstable();
        keys.dedup();
    }
    KeyChanges {
        registered,
        revoked,
    }
}
