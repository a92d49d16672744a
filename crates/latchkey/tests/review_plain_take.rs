//! Facade-level attacks on the login finish over PostgreSQL, where a login's append (a
//! `Used` event, a step-up grant) goes through `take_challenge_and_append`'s plain-SQL
//! path: two service instances (two `PostgresStore`s, own pools) on one schema, changes
//! from one racing the other's finish between its peek/verify and its take-and-append.
//!
//! Each test asserts the rule (P16, P18, P20, P8, optimistic appends), not the current
//! behaviour. Without `LATCHKEY_POSTGRES_URL` they say so and pass, unless
//! `LATCHKEY_REQUIRE_POSTGRES` is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines,
    missing_docs
)]

mod support;

use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use latchkey::json::AuthenticationResponse;
use latchkey::policy::{AccountState, CredentialId, Event, EventKind, Timestamp};
use latchkey::store::{ChallengeRecord, Owner, StoreError, TakeAndAppend, Taken, Versioned};
use latchkey::{AccountId, Change, FinishAuthentication, Intent, RequestContext, Scope, Store};
use latchkey_store_postgres::{Options, PostgresStore};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, factors, id, operator};

// ---------------------------------------------------------------------------------------
// A forwarding store with one hook before the take-and-append, recording its answers.
// ---------------------------------------------------------------------------------------

type Hook = Box<dyn FnOnce() + Send>;

struct Hooked {
    inner: PostgresStore,
    before_take_and_append: Mutex<Vec<Hook>>,
    answers: Mutex<Vec<Result<TakeAndAppend, StoreError>>>,
}

impl Hooked {
    fn new(inner: PostgresStore) -> Self {
        Self {
            inner,
            before_take_and_append: Mutex::new(Vec::new()),
            answers: Mutex::new(Vec::new()),
        }
    }

    fn before_take_and_append(&self, hook: impl FnOnce() + Send + 'static) {
        self.before_take_and_append
            .lock()
            .unwrap()
            .push(Box::new(hook));
    }

    fn answers(&self) -> Vec<Result<TakeAndAppend, StoreError>> {
        self.answers.lock().unwrap().clone()
    }
}

impl Store for Hooked {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.inner.load(account).await
    }
    async fn load_for_display(
        &self,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        self.inner.load_for_display(account).await
    }
    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
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
    async fn put_challenge_and_load(
        &self,
        record: ChallengeRecord,
        account: &AccountId,
    ) -> Result<Versioned<AccountState>, StoreError> {
        self.inner.put_challenge_and_load(record, account).await
    }
    async fn take_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<(Taken, Option<Owner>), StoreError> {
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
        self.inner.append_loaded(account, loaded, events).await
    }
    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
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
        let hooks: Vec<Hook> = std::mem::take(&mut *self.before_take_and_append.lock().unwrap());
        for hook in hooks {
            hook();
        }
        let answer = self
            .inner
            .take_challenge_and_append(challenge, account, loaded, events)
            .await;
        self.answers.lock().unwrap().push(answer.clone());
        answer
    }
}

// ---------------------------------------------------------------------------------------
// Two instances on one schema
// ---------------------------------------------------------------------------------------

fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("LATCHKEY_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_some() => {
            panic!("{test}: LATCHKEY_POSTGRES_URL is not set and LATCHKEY_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("{test}: skipped, LATCHKEY_POSTGRES_URL is not set (see .ci/postgres)");
            None
        }
    }
}

fn schema_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t_review_plain_{tag}_{}_{nanos}", std::process::id())
}

fn connect(url: &str, schema: &str) -> PostgresStore {
    let mut options = Options::default();
    options.schema = Some(schema.to_owned());
    options.max_connections = 8;
    block_on(PostgresStore::connect(url, options)).expect("connect to the test server")
}

/// Two service instances (own store connections, own clocks at T0) on one schema.
struct Two {
    a: Arc<World<Hooked>>,
    b: Arc<World<Hooked>>,
    url: String,
    schema: String,
}

impl Two {
    fn new(url: &str, tag: &str) -> Self {
        let schema = schema_name(tag);
        let a = support::world_on(Hooked::new(connect(url, &schema)));
        let b = support::world_on(Hooked::new(connect(url, &schema)));
        Self {
            a: Arc::new(a),
            b: Arc::new(b),
            url: url.to_owned(),
            schema,
        }
    }

    fn history(&self, account: &AccountId) -> Vec<Event> {
        block_on(self.a.passkeys.store().history(account)).expect("history")
    }

    /// The log rules: one event per version and the stored state the fold of the log.
    fn assert_log_consistent(&self, account: &AccountId) {
        let loaded = block_on(self.a.passkeys.store().load(account)).unwrap();
        let history = self.history(account);
        assert_eq!(
            u64::try_from(history.len()).unwrap(),
            loaded.version,
            "one event per version"
        );
        assert_eq!(
            latchkey::policy::apply(AccountState::default(), &history),
            loaded.value,
            "state is the fold of the log"
        );
    }
}

impl Drop for Two {
    fn drop(&mut self) {
        // Best effort: a failed test still cleans its schema.
        if let Ok(store) = block_on(PostgresStore::connect(&self.url, {
            let mut options = Options::default();
            options.schema = Some(self.schema.clone());
            options
        })) {
            let _ = block_on(store.drop_schema());
        }
    }
}

fn key(seed: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
}

fn finish(w: &World<Hooked>, response: &AuthenticationResponse) -> Result<(), &'static str> {
    block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(response, &w.context)),
    )
    .map(|_| ())
    .map_err(|e| e.code())
}

/// Start an assertion for `intent` on `w`, and `k`'s answer to it as a passkey of
/// `account`'s Exchange scope.
fn answer(
    w: &World<Hooked>,
    account: &AccountId,
    k: &mut Authenticator,
    intent: Intent,
) -> AuthenticationResponse {
    let options = if intent == Intent::Login {
        block_on(w.passkeys.start_login(Some(account))).unwrap()
    } else {
        block_on(w.passkeys.start_authentication(account, intent, None)).unwrap()
    };
    w.answer(k, &options.challenge, account, Scope::Exchange)
}

/// Position of the first event matching `what`, and of the last matching `then`.
fn first_and_last(
    history: &[Event],
    what: impl Fn(&EventKind) -> bool,
    then: impl Fn(&EventKind) -> bool,
) -> (Option<usize>, Option<usize>) {
    (
        history.iter().position(|e| what(&e.kind)),
        history.iter().rposition(|e| then(&e.kind)),
    )
}

fn used_by(kind: &EventKind, credential: &CredentialId, intent: Option<Intent>) -> bool {
    matches!(kind, EventKind::Used { credential: c, intent: i, .. }
        if c == credential && intent.is_none_or(|want| want == *i))
}

// ---------------------------------------------------------------------------------------
// Attacks
// ---------------------------------------------------------------------------------------

/// P20: instance A has peeked and verified Alice's login with passkey 1; before its
/// take-and-append (plain SQL, on the state it read) an operator on instance B revokes
/// passkey 1. A's append must conflict, be re-decided on the new state and refused with
/// `unknown_credential` (with a signal payload); the log never shows the passkey used
/// after its revocation; a replay is `challenge_reused`.
#[test]
fn login_racing_revocation_on_another_instance_is_unknown_credential() {
    let Some(url) = postgres_url("login_racing_revocation") else {
        return;
    };
    let two = Two::new(&url, "revoke");
    let alice = AccountId::new("alice");
    let (mut k1, k2) = (key(41), key(42));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    let response = answer(&two.a, &alice, &mut k1, Intent::Login);
    let revoked = Arc::new(Mutex::new(None));
    {
        let (b, revoked, alice, k1id) = (
            Arc::clone(&two.b),
            Arc::clone(&revoked),
            alice.clone(),
            id(&k1),
        );
        two.a.passkeys.store().before_take_and_append(move || {
            *revoked.lock().unwrap() = Some(
                block_on(
                    b.passkeys
                        .revoke_compromised(&alice, &k1id, "phished", &operator()),
                )
                .map(|_| ())
                .map_err(|e| e.code()),
            );
        });
    }
    let got = block_on(
        two.a
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &two.a.context)),
    );
    assert_eq!(
        *revoked.lock().unwrap(),
        Some(Ok(())),
        "the revocation went through"
    );
    let answers = two.a.passkeys.store().answers();
    assert!(
        matches!(answers.first(), Some(Ok(TakeAndAppend::Conflict { .. }))),
        "the stale take-and-append conflicted: {answers:?}"
    );
    let error = got
        .as_ref()
        .map(|_| ())
        .expect_err("a revoked passkey signed in");
    assert_eq!(error.code(), "unknown_credential", "{error:?}");
    assert!(two.a.passkeys.signal_unknown_credential(error).is_some());
    let history = two.history(&alice);
    let (revoked_at, used_at) = first_and_last(
        &history,
        |k| matches!(k, EventKind::Revoked { credential, .. } if *credential == id(&k1)),
        |k| used_by(k, &id(&k1), None),
    );
    assert!(revoked_at.is_some());
    assert!(
        used_at.is_none_or(|u| u < revoked_at.unwrap()),
        "used at {used_at:?} after revoked at {revoked_at:?}"
    );
    assert_eq!(finish(&two.b, &response), Err("challenge_reused"));
    // And a fresh login with it, on either instance.
    let again = answer(&two.b, &alice, &mut k1, Intent::Login);
    assert_eq!(finish(&two.b, &again), Err("unknown_credential"));
    two.assert_log_consistent(&alice);
}

/// P3/P13: B deletes passkey 1 between A's verification and A's take-and-append of a
/// login with it. A's login must be refused; the log never shows the deleted passkey
/// used after its deletion.
#[test]
fn login_racing_deletion_on_another_instance_is_refused() {
    let Some(url) = postgres_url("login_racing_deletion") else {
        return;
    };
    let two = Two::new(&url, "delete");
    let alice = AccountId::new("alice");
    let (mut k1, k2) = (key(43), key(44));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    let response = answer(&two.a, &alice, &mut k1, Intent::Login);
    let deleted = Arc::new(Mutex::new(None));
    {
        let (b, deleted, alice, k1id) = (
            Arc::clone(&two.b),
            Arc::clone(&deleted),
            alice.clone(),
            id(&k1),
        );
        two.a.passkeys.store().before_take_and_append(move || {
            *deleted.lock().unwrap() = Some(
                block_on(
                    b.passkeys
                        .delete(&alice, &k1id, &factors(), &RequestContext::default()),
                )
                .map(|_| ())
                .map_err(|e| e.code()),
            );
        });
    }
    let got = finish(&two.a, &response);
    assert_eq!(
        *deleted.lock().unwrap(),
        Some(Ok(())),
        "the deletion went through"
    );
    assert!(got.is_err(), "a deleted passkey signed in");
    let history = two.history(&alice);
    let (deleted_at, used_at) = first_and_last(
        &history,
        |k| matches!(k, EventKind::Deleted { credential, .. } if *credential == id(&k1)),
        |k| used_by(k, &id(&k1), None),
    );
    assert!(
        used_at.is_none_or(|u| u < deleted_at.unwrap()),
        "used at {used_at:?} after deleted at {deleted_at:?}"
    );
    assert_eq!(finish(&two.b, &response), Err("challenge_reused"));
    two.assert_log_consistent(&alice);
}

/// P18: B freezes Alice's account between A's verification of a withdrawal and A's
/// take-and-append. The withdrawal must be refused; no withdrawal use after the freeze.
#[test]
fn withdrawal_racing_freeze_on_another_instance_is_refused() {
    let Some(url) = postgres_url("withdrawal_racing_freeze") else {
        return;
    };
    let two = Two::new(&url, "freeze");
    let alice = AccountId::new("alice");
    let mut k1 = key(45);
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    let response = answer(&two.a, &alice, &mut k1, Intent::Withdrawal);
    let frozen = Arc::new(Mutex::new(None));
    {
        let (b, frozen, alice) = (Arc::clone(&two.b), Arc::clone(&frozen), alice.clone());
        two.a.passkeys.store().before_take_and_append(move || {
            *frozen.lock().unwrap() = Some(
                block_on(
                    b.passkeys
                        .freeze(&alice, "suspicious", &RequestContext::default()),
                )
                .map(|_| ())
                .map_err(|e| e.code()),
            );
        });
    }
    let got = finish(&two.a, &response);
    assert_eq!(
        *frozen.lock().unwrap(),
        Some(Ok(())),
        "the freeze went through"
    );
    assert!(got.is_err(), "a withdrawal passed on a frozen account");
    let history = two.history(&alice);
    let (frozen_at, used_at) = first_and_last(
        &history,
        |k| matches!(k, EventKind::Frozen { .. }),
        |k| used_by(k, &id(&k1), Some(Intent::Withdrawal)),
    );
    assert!(
        used_at.is_none_or(|u| u < frozen_at.unwrap()),
        "withdrawal used at {used_at:?} after the freeze at {frozen_at:?}"
    );
    two.assert_log_consistent(&alice);
}

/// P8: an operator on B revokes Alice's OTHER passkey (a revocation locks withdrawals)
/// between A's verification of a withdrawal with passkey 1 and A's take-and-append. The
/// withdrawal, re-decided on the new state, must be refused (`withdrawal_locked`).
#[test]
fn withdrawal_racing_a_lock_on_another_instance_is_refused() {
    let Some(url) = postgres_url("withdrawal_racing_lock") else {
        return;
    };
    let two = Two::new(&url, "lock");
    let alice = AccountId::new("alice");
    let (mut k1, k2) = (key(46), key(47));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    // Registration with factors may itself lock withdrawals: start after any lock.
    let until = block_on(two.a.passkeys.withdrawals_locked_until(&alice)).unwrap();
    if let Some(until) = until {
        let later = Timestamp(until.0 + 1);
        two.a.clock.set(later);
        two.b.clock.set(later);
    }
    let response = answer(&two.a, &alice, &mut k1, Intent::Withdrawal);
    let revoked = Arc::new(Mutex::new(None));
    {
        let (b, revoked, alice, k2id) = (
            Arc::clone(&two.b),
            Arc::clone(&revoked),
            alice.clone(),
            id(&k2),
        );
        two.a.passkeys.store().before_take_and_append(move || {
            *revoked.lock().unwrap() = Some(
                block_on(
                    b.passkeys
                        .revoke_compromised(&alice, &k2id, "stolen", &operator()),
                )
                .map(|_| ())
                .map_err(|e| e.code()),
            );
        });
    }
    let got = finish(&two.a, &response);
    assert_eq!(
        *revoked.lock().unwrap(),
        Some(Ok(())),
        "the revocation went through"
    );
    assert_eq!(got, Err("withdrawal_locked"));
    let history = two.history(&alice);
    let (locked_at, used_at) = first_and_last(
        &history,
        |k| matches!(k, EventKind::Revoked { .. }),
        |k| used_by(k, &id(&k1), Some(Intent::Withdrawal)),
    );
    assert!(
        used_at.is_none_or(|u| u < locked_at.unwrap()),
        "withdrawal used at {used_at:?} after the lock at {locked_at:?}"
    );
    two.assert_log_consistent(&alice);
}

/// P18: B freezes the account between A's verification of a passkey step-up (its grant
/// goes through the plain path too) and its take-and-append: no token may come out, and
/// no grant may be recorded after the freeze.
#[test]
fn step_up_racing_freeze_on_another_instance_grants_nothing() {
    let Some(url) = postgres_url("step_up_racing_freeze") else {
        return;
    };
    let two = Two::new(&url, "stepup");
    let alice = AccountId::new("alice");
    let (mut k1, k2) = (key(48), key(49));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    let change = Change::Delete(id(&k2));
    let options = block_on(
        two.a
            .passkeys
            .start_step_up(&alice, Scope::Exchange, &change),
    )
    .unwrap();
    let response = two
        .a
        .answer(&mut k1, &options.challenge, &alice, Scope::Exchange);
    {
        let (b, alice) = (Arc::clone(&two.b), alice.clone());
        two.a.passkeys.store().before_take_and_append(move || {
            block_on(
                b.passkeys
                    .freeze(&alice, "suspicious", &RequestContext::default()),
            )
            .unwrap();
        });
    }
    let got = block_on(
        two.a
            .passkeys
            .finish_authentication(FinishAuthentication::new(&response, &two.a.context)),
    );
    assert!(
        got.as_ref().map_or(true, |done| done.step_up.is_none()),
        "a step-up token was granted across a freeze: {got:?}"
    );
    let history = two.history(&alice);
    let (frozen_at, granted_at) = first_and_last(
        &history,
        |k| matches!(k, EventKind::Frozen { .. }),
        |k| matches!(k, EventKind::StepUpGranted { .. }),
    );
    assert!(
        granted_at.is_none_or(|g| g < frozen_at.unwrap()),
        "grant at {granted_at:?} after the freeze at {frozen_at:?}"
    );
    two.assert_log_consistent(&alice);
}

/// Optimistic appends through the facade: B completes a whole login (another passkey,
/// its own challenge) between A's verification and A's take-and-append. A's plain
/// append must conflict (whatever `actual` it reports), be re-decided and succeed once;
/// both uses are in the log, once each; A's challenge is spent (a replay is reused).
#[test]
fn login_racing_a_login_on_another_instance_both_recorded_once() {
    let Some(url) = postgres_url("login_racing_login") else {
        return;
    };
    let two = Two::new(&url, "twologins");
    let alice = AccountId::new("alice");
    let (mut k1, mut k2) = (key(50), key(51));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    for round in 0..5 {
        let before = two.history(&alice).len();
        let response = answer(&two.a, &alice, &mut k1, Intent::Login);
        let other = answer(&two.b, &alice, &mut k2, Intent::Login);
        let b_got = Arc::new(Mutex::new(None));
        {
            let (b, b_got) = (Arc::clone(&two.b), Arc::clone(&b_got));
            two.a.passkeys.store().before_take_and_append(move || {
                *b_got.lock().unwrap() = Some(finish(&b, &other));
            });
        }
        let got = finish(&two.a, &response);
        assert_eq!(
            *b_got.lock().unwrap(),
            Some(Ok(())),
            "round {round}: B's login"
        );
        assert_eq!(got, Ok(()), "round {round}: A's login after a conflict");
        let history = two.history(&alice);
        let new = &history[before..];
        assert_eq!(new.len(), 2, "round {round}: two uses, once each: {new:?}");
        assert!(new.iter().any(|e| used_by(&e.kind, &id(&k1), None)));
        assert!(new.iter().any(|e| used_by(&e.kind, &id(&k2), None)));
        assert_eq!(
            finish(&two.b, &response),
            Err("challenge_reused"),
            "round {round}"
        );
    }
    two.assert_log_consistent(&alice);
}

/// Real concurrency, many rounds, no hooks: on each round instance A logs in with
/// passkey 1 (a discoverable login every third round), instance B revokes passkey 1, and B logs in with passkey 2, all released
/// together. Rules: a login that succeeded is in the log exactly once, before the
/// revocation; a login refused after the revocation says `unknown_credential`; the log
/// is whole.
#[test]
fn concurrent_logins_and_revocations_across_instances() {
    let Some(url) = postgres_url("concurrent_logins_and_revocations") else {
        return;
    };
    let two = Two::new(&url, "concrev");
    let mut failures = Vec::new();
    for round in 0..12u8 {
        let alice = AccountId::new(format!("alice-{round}"));
        let mut k1 = key(100 + 2 * round);
        let mut k2 = key(101 + 2 * round);
        two.a
            .register(&alice, &k1, Scope::Exchange, factors())
            .unwrap();
        two.a
            .register(&alice, &k2, Scope::Exchange, factors())
            .unwrap();
        // Every third round passkey 1 answers a discoverable login.
        let r1 = if round % 3 == 2 {
            let options = block_on(two.a.passkeys.start_login(None)).unwrap();
            two.a
                .answer(&mut k1, &options.challenge, &alice, Scope::Exchange)
        } else {
            answer(&two.a, &alice, &mut k1, Intent::Login)
        };
        let r2 = answer(&two.b, &alice, &mut k2, Intent::Login);
        let start = Arc::new(Barrier::new(3));
        let login1 = {
            let (a, start, r1) = (Arc::clone(&two.a), Arc::clone(&start), r1.clone());
            thread::spawn(move || {
                start.wait();
                finish(&a, &r1)
            })
        };
        let revoke = {
            let (b, start, alice, k1id) = (
                Arc::clone(&two.b),
                Arc::clone(&start),
                alice.clone(),
                id(&k1),
            );
            thread::spawn(move || {
                start.wait();
                block_on(
                    b.passkeys
                        .revoke_compromised(&alice, &k1id, "phished", &operator()),
                )
                .map(|_| ())
                .map_err(|e| e.code())
            })
        };
        let login2 = {
            let (b, start, r2) = (Arc::clone(&two.b), Arc::clone(&start), r2.clone());
            thread::spawn(move || {
                start.wait();
                finish(&b, &r2)
            })
        };
        let (l1, rv, l2) = (
            login1.join().unwrap(),
            revoke.join().unwrap(),
            login2.join().unwrap(),
        );
        let history = two.history(&alice);
        let uses1 = history
            .iter()
            .filter(|e| used_by(&e.kind, &id(&k1), None))
            .count();
        let uses2 = history
            .iter()
            .filter(|e| used_by(&e.kind, &id(&k2), None))
            .count();
        let (revoked_at, used_at) = first_and_last(
            &history,
            |k| matches!(k, EventKind::Revoked { .. }),
            |k| used_by(k, &id(&k1), None),
        );
        let ok = rv.is_ok()
            && usize::from(l1.is_ok()) == uses1
            && usize::from(l2.is_ok()) == uses2
            && (l1.is_ok() || l1 == Err("unknown_credential") || l1 == Err("store_conflict"))
            && (l2.is_ok() || l2 == Err("store_conflict"))
            && used_at.is_none_or(|u| revoked_at.is_some_and(|r| u < r));
        if !ok {
            failures.push(format!(
                "round {round}: login1 {l1:?}, revoke {rv:?}, login2 {l2:?}, uses {uses1}/{uses2}, \
                 revoked at {revoked_at:?}, k1 used at {used_at:?}"
            ));
        }
        two.assert_log_consistent(&alice);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A storm of logins on two instances, each thread with its own passkey and its own
/// challenges on one account: every success is in the log exactly once (a store
/// error or a lost conflict is never reported as success), refusals are only
/// contention, a replay of any response is refused, and the log stays whole.
#[test]
fn login_storm_on_two_instances_every_success_recorded_once() {
    let Some(url) = postgres_url("login_storm") else {
        return;
    };
    const THREADS: u8 = 6;
    const LOGINS: usize = 8;
    let two = Two::new(&url, "storm");
    let alice = AccountId::new("alice");
    let keys: Vec<Authenticator> = (0..THREADS).map(|t| key(150 + t)).collect();
    for k in &keys {
        two.a
            .register(&alice, k, Scope::Exchange, factors())
            .unwrap();
    }
    let before = two.history(&alice).len();
    let start = Arc::new(Barrier::new(usize::from(THREADS)));
    let workers: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(t, mut k)| {
            let w = if t % 2 == 0 {
                Arc::clone(&two.a)
            } else {
                Arc::clone(&two.b)
            };
            let (start, alice) = (Arc::clone(&start), alice.clone());
            thread::spawn(move || {
                let mut results = Vec::new();
                start.wait();
                for _ in 0..LOGINS {
                    let response = answer(&w, &alice, &mut k, Intent::Login);
                    let got = finish(&w, &response);
                    results.push((id(&k), response, got));
                }
                results
            })
        })
        .collect();
    let results: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let history = two.history(&alice);
    let new = &history[before..];
    let ok = results.iter().filter(|(_, _, r)| r.is_ok()).count();
    let odd: Vec<_> = results
        .iter()
        .filter(|(_, _, r)| r.is_err() && *r != Err("store_conflict"))
        .map(|(_, _, r)| *r)
        .collect();
    assert!(odd.is_empty(), "refusals other than contention: {odd:?}");
    assert_eq!(new.len(), ok, "one use per success, none for a refusal");
    for (credential, _, _) in &results {
        let successes = results
            .iter()
            .filter(|(c, _, r)| c == credential && r.is_ok())
            .count();
        let uses = new
            .iter()
            .filter(|e| used_by(&e.kind, credential, None))
            .count();
        assert_eq!(successes, uses, "uses of {credential:?}");
    }
    for (_, response, _) in results.iter().step_by(5) {
        assert_eq!(finish(&two.a, response), Err("challenge_reused"));
    }
    eprintln!("{ok} of {} logins succeeded", results.len());
    two.assert_log_consistent(&alice);
}

/// A login's response answered twice at once on both instances (the same challenge,
/// both peeked fresh, both verified), while a third login with another passkey moves the
/// version under them: exactly one of the two may succeed and the other must be
/// `challenge_reused`, never a second use, whatever the conflicts in between.
#[test]
fn same_response_on_both_instances_with_the_version_moving() {
    let Some(url) = postgres_url("same_response_on_both_instances") else {
        return;
    };
    let two = Two::new(&url, "sameresp");
    let alice = AccountId::new("alice");
    let (mut k1, mut k2) = (key(60), key(61));
    two.a
        .register(&alice, &k1, Scope::Exchange, factors())
        .unwrap();
    two.a
        .register(&alice, &k2, Scope::Exchange, factors())
        .unwrap();
    let mut failures = Vec::new();
    for round in 0..15 {
        let before = two.history(&alice).len();
        let response = answer(&two.a, &alice, &mut k1, Intent::Login);
        let other = answer(&two.b, &alice, &mut k2, Intent::Login);
        let start = Arc::new(Barrier::new(3));
        let racers: Vec<_> = [Arc::clone(&two.a), Arc::clone(&two.b), Arc::clone(&two.b)]
            .into_iter()
            .enumerate()
            .map(|(n, w)| {
                let start = Arc::clone(&start);
                let r = if n == 2 {
                    other.clone()
                } else {
                    response.clone()
                };
                thread::spawn(move || {
                    start.wait();
                    finish(&w, &r)
                })
            })
            .collect();
        let got: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let same = &got[..2];
        let won = same.iter().filter(|r| r.is_ok()).count();
        let history = two.history(&alice);
        let uses1 = history[before..]
            .iter()
            .filter(|e| used_by(&e.kind, &id(&k1), None))
            .count();
        if won != 1 || !same.contains(&Err("challenge_reused")) || uses1 != 1 {
            failures.push(format!("round {round}: {got:?}, k1 uses {uses1}"));
        }
    }
    two.assert_log_consistent(&alice);
    assert!(failures.is_empty(), "{failures:#?}");
}
