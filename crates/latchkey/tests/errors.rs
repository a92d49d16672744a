//! Errors a service can act on: every stable code has a kind, a contended account ends in
//! its own error after paced retries, and a store that is down is `Unavailable`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey::policy::{AccountState, CredentialId, Event, Timestamp};
use latchkey::store::{ChallengeRecord, StoreError, Taken, Versioned};
use latchkey::{
    AccountId, Error, ErrorKind, MemoryStore, Pause, PauseFuture, Random, Scope, Store,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use support::{factors, world_on};

/// Every code PRODUCT.md lists ("Stable error codes"), as of this writing.
const CODES: [&str; 31] = [
    "last_passkey",
    "limit_reached",
    "scope_mismatch",
    "dex_not_authorized",
    "terms_not_accepted",
    "withdrawal_locked",
    "user_verification_required",
    "user_presence_required",
    "step_up_required",
    "unknown_credential",
    "duplicate_credential",
    "invalid_name",
    "provider_denied",
    "challenge_mismatch",
    "challenge_expired",
    "challenge_reused",
    "origin_mismatch",
    "rp_id_mismatch",
    "type_mismatch",
    "signature_invalid",
    "counter_regression",
    "attestation_invalid",
    "attestation_untrusted",
    "unsupported_algorithm",
    "unsupported_format",
    "malformed",
    "limit_exceeded",
    "store_conflict",
    "store_unavailable",
    "internal",
    "account_frozen",
];

#[test]
fn every_stable_code_has_a_kind() {
    for code in CODES {
        assert!(ErrorKind::of_code(code).is_some(), "{code}");
    }
    assert_eq!(ErrorKind::of_code("no_such_code"), None);
    assert_eq!(ErrorKind::of_code("malformed"), Some(ErrorKind::Input));
    assert_eq!(ErrorKind::of_code("last_passkey"), Some(ErrorKind::Refused));
    assert_eq!(
        ErrorKind::of_code("store_conflict"),
        Some(ErrorKind::Conflict)
    );
    assert_eq!(
        ErrorKind::of_code("store_unavailable"),
        Some(ErrorKind::Unavailable)
    );
    let statuses: Vec<u16> = [
        ErrorKind::Input,
        ErrorKind::Refused,
        ErrorKind::Conflict,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
    ]
    .into_iter()
    .map(ErrorKind::http_status)
    .collect();
    assert_eq!(statuses, [400, 403, 409, 503, 500]);
}

#[test]
fn the_code_list_is_the_one_in_product_md() {
    // ../shared is beside the project in CI and in development, not in a user's clone.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/PRODUCT.md");
    let Ok(text) = std::fs::read_to_string(path) else {
        assert!(
            std::env::var_os("LATCHKEY_REQUIRE_SHARED").is_none(),
            "{path} is required"
        );
        eprintln!("skipped: {path} is absent");
        return;
    };
    let section = text
        .split("## Stable error codes")
        .nth(1)
        .expect("PRODUCT.md has its code list");
    let list = section.split("\n\n").nth(2).expect("the list of codes");
    let listed: Vec<&str> = list.split('`').skip(1).step_by(2).collect::<Vec<_>>();
    assert!(!listed.is_empty());
    for code in &listed {
        assert!(ErrorKind::of_code(code).is_some(), "{code} has no kind");
    }
    let mut ours = CODES.to_vec();
    let mut theirs = listed.clone();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
}

/// A memory store whose appends conflict `conflicts` times, and whose loads fail while
/// `down` is set.
struct Flaky {
    inner: MemoryStore,
    conflicts: AtomicU32,
    down: Mutex<bool>,
}

impl Flaky {
    fn new(conflicts: u32) -> Self {
        Self {
            inner: MemoryStore::new(),
            conflicts: AtomicU32::new(conflicts),
            down: Mutex::new(false),
        }
    }
}

impl Store for Flaky {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        if *self.down.lock().unwrap() {
            return Err(StoreError::Unavailable("connection refused".into()));
        }
        self.inner.load(account).await
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        let left = self.conflicts.load(Ordering::SeqCst);
        if left > 0 {
            self.conflicts.store(left - 1, Ordering::SeqCst);
            return Err(StoreError::Conflict {
                expected: expected_version,
                actual: expected_version + 1,
            });
        }
        self.inner.append(account, expected_version, events).await
    }

    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        self.inner.account_of(credential).await
    }

    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        self.inner.history(account).await
    }

    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.inner.put_challenge(record).await
    }

    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.inner.purge_challenges(now).await
    }

    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        self.inner.take_challenge(challenge).await
    }
}

/// Records the pauses asked for instead of waiting.
#[derive(Default)]
struct Recorded(Mutex<Vec<Duration>>);

impl Pause for Recorded {
    fn pause(&self, duration: Duration) -> PauseFuture<'_> {
        self.0.lock().unwrap().push(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Randomness that counts up, so that each pause draws another value.
#[derive(Default)]
struct Counting(AtomicU32);

impl Random for Counting {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), Error> {
        for byte in bytes {
            *byte = u8::try_from(self.0.fetch_add(37, Ordering::SeqCst) % 256).unwrap();
        }
        Ok(())
    }
}

fn paced(conflicts: u32) -> (support::World<Flaky>, Arc<Recorded>) {
    let pauses = Arc::new(Recorded::default());
    let mut w = world_on(Flaky::new(conflicts));
    w.passkeys = w
        .passkeys
        .with_pause(pauses.clone())
        .with_random(Arc::new(Counting::default()));
    (w, pauses)
}

fn authenticator() -> Authenticator {
    Authenticator::new(SoftKey::es256([3; 32]))
}

#[test]
fn a_few_conflicts_are_retried_after_growing_random_pauses() {
    let (w, pauses) = paced(3);
    let alice = AccountId::new("alice");
    w.register(&alice, &authenticator(), Scope::Exchange, factors())
        .unwrap();
    let pauses = pauses.0.lock().unwrap().clone();
    assert_eq!(pauses.len(), 3, "{pauses:?}");
    for (attempt, pause) in pauses.iter().enumerate() {
        let window = Duration::from_millis(2 << attempt);
        assert!(*pause <= window, "attempt {attempt}: {pause:?}");
    }
    assert!(
        pauses.windows(2).any(|p| p[0] != p[1]),
        "jitter: {pauses:?}"
    );
}

#[test]
fn an_account_that_keeps_changing_ends_in_contention_not_an_invented_conflict() {
    let (w, pauses) = paced(u32::MAX);
    let alice = AccountId::new("alice");
    let err = w
        .register(&alice, &authenticator(), Scope::Exchange, factors())
        .unwrap_err();
    assert!(matches!(err, Error::Contention { attempts: 8 }), "{err:?}");
    assert_eq!(
        (err.code(), err.kind()),
        ("store_conflict", ErrorKind::Conflict)
    );
    // No pause after the last attempt: the caller is answered at once.
    assert_eq!(pauses.0.lock().unwrap().len(), 7);
}

#[test]
fn a_store_that_is_down_is_unavailable_and_corrupt_data_is_internal() {
    let (w, _) = paced(0);
    *w.passkeys.store().down.lock().unwrap() = true;
    let alice = AccountId::new("alice");
    let err = w
        .register(&alice, &authenticator(), Scope::Exchange, factors())
        .unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("store_unavailable", ErrorKind::Unavailable)
    );
    let corrupt = Error::Store(StoreError::Corrupt("bad row".into()));
    assert_eq!(
        (corrupt.code(), corrupt.kind()),
        ("store_unavailable", ErrorKind::Internal)
    );
    assert_eq!(Error::Internal("x").kind(), ErrorKind::Internal);
}
