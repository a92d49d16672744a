//! Attack 16: single-use challenges (P16) against the peek-then-take login finish.
//!
//! Every test asserts what P16 demands: a challenge is spent by the first response that
//! names it, accepted or refused; of racing finishes exactly one succeeds and the others
//! get `challenge_reused`; an expired challenge is `challenge_expired`; a replay is never
//! accepted, across instances sharing one store too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use latchkey::json::AuthenticationResponse;
use latchkey::policy::{AccountState, CredentialId, Event, Timestamp};
use latchkey::store::{ChallengeRecord, Owner, StoreError, TakeAndAppend, Taken, Versioned};
use latchkey::{
    AccountId, Change, FinishAuthentication, Intent, ManualClock, MemoryStore, Passkeys,
    RequestContext, Scope, Store,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, World, factors, identity, operator, relying_party, world_on};

// ---------------------------------------------------------------------------------------
// A store wrapper: forwards to a shared store, with hooks and injected failures.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    AfterPeek,
    BeforeTakeAndAppend,
    BeforeAppend,
}

type Hook = Box<dyn FnOnce() + Send>;

struct Rigged<S> {
    inner: Arc<S>,
    hooks: Mutex<Vec<(Point, Hook)>>,
    peek_barrier: Mutex<Option<Arc<Barrier>>>,
    /// `take_challenge` fails (without forwarding) this many times.
    fail_take: AtomicU32,
    /// `take_challenge_and_append` fails (without forwarding) this many times.
    fail_take_and_append: AtomicU32,
    /// `take_challenge_and_append` forwards, then fails (a lost answer) this many times.
    lose_take_and_append: AtomicU32,
}

impl<S: Store> Rigged<S> {
    fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            hooks: Mutex::new(Vec::new()),
            peek_barrier: Mutex::new(None),
            fail_take: AtomicU32::new(0),
            fail_take_and_append: AtomicU32::new(0),
            lose_take_and_append: AtomicU32::new(0),
        }
    }

    fn on(&self, point: Point, hook: impl FnOnce() + Send + 'static) {
        self.hooks.lock().unwrap().push((point, Box::new(hook)));
    }

    fn fire(&self, point: Point) {
        let hook = {
            let mut hooks = self.hooks.lock().unwrap();
            hooks
                .iter()
                .position(|(p, _)| *p == point)
                .map(|i| hooks.remove(i).1)
        };
        if let Some(hook) = hook {
            hook();
        }
    }

    fn barrier_after_peek(&self, barrier: Option<Arc<Barrier>>) {
        *self.peek_barrier.lock().unwrap() = barrier;
    }
}

fn decrement(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn down() -> StoreError {
    StoreError::Unavailable("injected".into())
}

impl<S: Store> Store for Rigged<S> {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.inner.load(account).await
    }

    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.fire(Point::BeforeAppend);
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
        if decrement(&self.fail_take) {
            return Err(down());
        }
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
        if decrement(&self.fail_take) {
            return Err(down());
        }
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
        self.fire(Point::BeforeAppend);
        self.inner.append_loaded(account, loaded, events).await
    }

    async fn peek_challenge_and_owner(
        &self,
        challenge: &[u8],
        credential: &CredentialId,
    ) -> Result<Option<(Taken, Option<Owner>)>, StoreError> {
        let peeked = self
            .inner
            .peek_challenge_and_owner(challenge, credential)
            .await;
        let barrier = self.peek_barrier.lock().unwrap().clone();
        if let Some(barrier) = barrier {
            barrier.wait();
        }
        self.fire(Point::AfterPeek);
        peeked
    }

    async fn take_challenge_and_append(
        &self,
        challenge: &[u8],
        account: &AccountId,
        loaded: &Versioned<AccountState>,
        events: &[Event],
    ) -> Result<TakeAndAppend, StoreError> {
        self.fire(Point::BeforeTakeAndAppend);
        if decrement(&self.fail_take_and_append) {
            return Err(down());
        }
        let done = self
            .inner
            .take_challenge_and_append(challenge, account, loaded, events)
            .await;
        if decrement(&self.lose_take_and_append) {
            return Err(down());
        }
        done
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn bob() -> AccountId {
    AccountId::new("bob")
}

/// Two service instances, each with its own clock, on one shared store.
struct Pair<S> {
    a: World<Rigged<S>>,
    b: World<Rigged<S>>,
}

fn pair<S: Store>(shared: Arc<S>) -> Pair<S> {
    Pair {
        a: world_on(Rigged::new(Arc::clone(&shared))),
        b: world_on(Rigged::new(shared)),
    }
}

fn memory_pair() -> Pair<MemoryStore> {
    pair(Arc::new(MemoryStore::new()))
}

/// `k`'s answer to `challenge` as Alice's Exchange passkey, as the browser sends it.
fn alice_json<S: Store>(k: &mut Authenticator, passkeys: &Passkeys<S>, challenge: &str) -> String {
    let client = latchkey_testkit::authenticator::Client::new("example.com", "https://example.com");
    k.authentication_json(
        &client,
        challenge,
        &passkeys.user_handle(&alice(), Scope::Exchange),
    )
}

/// [`alice_json`], parsed.
fn alice_response<S: Store>(
    k: &mut Authenticator,
    passkeys: &Passkeys<S>,
    challenge: &str,
) -> AuthenticationResponse {
    AuthenticationResponse::from_json(&alice_json(k, passkeys, challenge)).unwrap()
}

fn finish<S: Store>(
    w: &World<S>,
    response: &AuthenticationResponse,
) -> Result<latchkey::Authenticated, &'static str> {
    block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(response, &w.context)),
    )
    .map_err(|e| e.code())
}

fn finish_on<S: Store>(
    passkeys: &Passkeys<S>,
    response: &AuthenticationResponse,
) -> Result<(), &'static str> {
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        response,
        &RequestContext::default(),
    )))
    .map(|_| ())
    .map_err(|e| e.code())
}

fn key(seed: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
}

/// Races `responses[i]` on `passkeys[i]`, all released together; both wrappers wait for
/// each other after their peek, so that every finish reads the challenge fresh before any
/// takes it.
fn race<S: Store + 'static>(
    instances: &[Arc<Passkeys<Rigged<S>>>],
    jsons: &[String],
) -> Vec<Result<(), &'static str>> {
    let barrier = Arc::new(Barrier::new(instances.len()));
    for p in instances {
        p.store().barrier_after_peek(Some(Arc::clone(&barrier)));
    }
    let threads: Vec<_> = instances
        .iter()
        .zip(jsons)
        .map(|(p, json)| {
            let (p, json) = (Arc::clone(p), json.clone());
            thread::spawn(move || {
                let response = AuthenticationResponse::from_json(&json).unwrap();
                finish_on(&p, &response)
            })
        })
        .collect();
    let results = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for p in instances {
        p.store().barrier_after_peek(None);
    }
    results
}

fn exactly_one_won(results: &[Result<(), &'static str>], what: &str) {
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{what}: {results:?}");
    for r in results.iter().filter_map(|r| r.err()) {
        assert_eq!(r, "challenge_reused", "{what}: {results:?}");
    }
}

/// Two instances (own clocks, own wrappers) over one memory store, as `Arc<Passkeys>`.
fn memory_instances() -> (
    Arc<MemoryStore>,
    Vec<Arc<Passkeys<Rigged<MemoryStore>>>>,
    Arc<ManualClock>,
) {
    let shared = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(T0));
    let instances = (0..2)
        .map(|_| {
            Arc::new(
                Passkeys::new(relying_party(), Rigged::new(Arc::clone(&shared)))
                    .with_clock(clock.clone()),
            )
        })
        .collect();
    (shared, instances, clock)
}

fn register_on<S: Store>(passkeys: &Passkeys<S>, account: &AccountId, key: &Authenticator) {
    let w = support::World {
        passkeys: Passkeys::new(relying_party(), Forward(passkeys.store()))
            .with_clock(Arc::new(ManualClock::new(T0))),
        clock: Arc::new(ManualClock::new(T0)),
        client: latchkey_testkit::authenticator::Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    };
    w.register(account, key, Scope::Exchange, factors())
        .unwrap();
}

/// A store by reference, so that a registration can go through a plain instance.
struct Forward<'a, S>(&'a S);

impl<S: Store> Store for Forward<'_, S> {
    async fn load(&self, account: &AccountId) -> Result<Versioned<AccountState>, StoreError> {
        self.0.load(account).await
    }
    async fn append(
        &self,
        account: &AccountId,
        expected_version: u64,
        events: &[Event],
    ) -> Result<u64, StoreError> {
        self.0.append(account, expected_version, events).await
    }
    async fn account_of(&self, credential: &CredentialId) -> Result<Option<AccountId>, StoreError> {
        self.0.account_of(credential).await
    }
    async fn history(&self, account: &AccountId) -> Result<Vec<Event>, StoreError> {
        self.0.history(account).await
    }
    async fn put_challenge(&self, record: ChallengeRecord) -> Result<(), StoreError> {
        self.0.put_challenge(record).await
    }
    async fn purge_challenges(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.0.purge_challenges(now).await
    }
    async fn take_challenge(&self, challenge: &[u8]) -> Result<Taken, StoreError> {
        self.0.take_challenge(challenge).await
    }
}

// ---------------------------------------------------------------------------------------
// Races on two instances sharing a memory store
// ---------------------------------------------------------------------------------------

#[test]
fn memory_two_instances_both_peek_fresh_then_race_one_wins() {
    let (_shared, instances, _clock) = memory_instances();
    let mut k = key(1);
    register_on(&*instances[0], &alice(), &k);
    for round in 0..10 {
        let options = block_on(instances[round % 2].start_login(Some(&alice()))).unwrap();
        let json = alice_json(&mut k, &*instances[0], &options.challenge);
        let results = race(&instances, &[json.clone(), json]);
        exactly_one_won(&results, &format!("login round {round}"));
    }
}

#[test]
fn memory_discoverable_login_race_one_wins() {
    let (_shared, instances, _clock) = memory_instances();
    let mut k = key(2);
    register_on(&*instances[0], &alice(), &k);
    for round in 0..5 {
        let options = block_on(instances[1].start_login(None)).unwrap();
        let json = alice_json(&mut k, &*instances[0], &options.challenge);
        let results = race(&instances, &[json.clone(), json]);
        exactly_one_won(&results, &format!("discoverable round {round}"));
    }
}

#[test]
fn memory_step_up_race_one_token() {
    let (_shared, instances, _clock) = memory_instances();
    let mut k = key(3);
    register_on(&*instances[0], &alice(), &k);
    for round in 0..5 {
        let options =
            block_on(instances[0].start_step_up(&alice(), Scope::Exchange, &Change::AddPasskey))
                .unwrap();
        let json = alice_json(&mut k, &*instances[0], &options.challenge);
        let results = race(&instances, &[json.clone(), json]);
        exactly_one_won(&results, &format!("step-up round {round}"));
    }
}

#[test]
fn memory_withdrawal_race_one_wins() {
    let (_shared, instances, _clock) = memory_instances();
    let mut k = key(4);
    register_on(&*instances[0], &alice(), &k);
    let options =
        block_on(instances[0].start_authentication(&alice(), Intent::SecurityChange, None))
            .unwrap();
    let json = alice_json(&mut k, &*instances[0], &options.challenge);
    let results = race(&instances, &[json.clone(), json]);
    exactly_one_won(&results, "security change");
}

/// A forged answer and the genuine one race, both reading the challenge fresh. Only the
/// weak half of P16 is checked here (never both accepted, a replay after is reused); the
/// order of the two answers is checked, deterministically, by
/// `memory_forged_answer_that_read_first_then_genuine_accepted_is_reused`.
#[test]
fn memory_forgery_and_genuine_race_then_replay_is_reused() {
    let (_shared, instances, _clock) = memory_instances();
    let mut k = key(5);
    register_on(&*instances[0], &alice(), &k);
    let options = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let mut forger = key(6).with_credential_id(k.credential_id().to_vec());
    let forged = alice_json(&mut forger, &*instances[0], &options.challenge);
    let genuine = alice_json(&mut k, &*instances[0], &options.challenge);
    let results = race(&instances, &[forged, genuine.clone()]);
    // Whichever took the challenge first is judged on its merits; the other is reused.
    assert!(
        matches!(
            (&results[0], &results[1]),
            (Err("signature_invalid"), Ok(()) | Err("challenge_reused"))
                | (Err("challenge_reused"), Ok(()))
        ),
        "{results:?}"
    );
    let replay = AuthenticationResponse::from_json(&genuine).unwrap();
    assert_eq!(finish_on(&instances[1], &replay), Err("challenge_reused"));
}

/// Two refused answers race (both forged): P16 says of racing finishes for one challenge
/// the others get `challenge_reused`; only one may be judged on its merits. Here both read
/// the challenge fresh, both are verified, and both are answered `signature_invalid`: two
/// verifications (an oracle queried twice) for one challenge.
#[test]
fn memory_two_racing_refusals_one_is_reused() {
    let (_shared, instances, _clock) = memory_instances();
    let k = key(23);
    register_on(&*instances[0], &alice(), &k);
    let options = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let mut f1 = key(24).with_credential_id(k.credential_id().to_vec());
    let mut f2 = key(25).with_credential_id(k.credential_id().to_vec());
    let forged1 = alice_json(&mut f1, &*instances[0], &options.challenge);
    let forged2 = alice_json(&mut f2, &*instances[0], &options.challenge);
    let mut results = race(&instances, &[forged1, forged2]);
    results.sort();
    assert_eq!(
        results,
        vec![Err("challenge_reused"), Err("signature_invalid")],
        "two racing refusals of one challenge"
    );
}

/// A forged answer reads the challenge first; while it is being verified, the genuine
/// answer is finished on another instance and accepted; then the forged one is refused
/// as `signature_invalid`. No order of the two is consistent with P16: if the genuine
/// answer came first, the forged one is a reuse (`challenge_reused`); if the forged one
/// came first, it spent the challenge and the genuine one is a reuse.
#[test]
fn memory_forged_answer_that_read_first_then_genuine_accepted_is_reused() {
    let Pair { a, b } = memory_pair();
    let mut k = key(26);
    a.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(a.passkeys.start_login(Some(&alice()))).unwrap();
    let mut forger = key(27).with_credential_id(k.credential_id().to_vec());
    let forged = a.answer(&mut forger, &options.challenge, &alice(), Scope::Exchange);
    let genuine = b.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let b = Arc::new(b);
    let genuine_got = Arc::new(Mutex::new(None));
    {
        let (b, genuine, got) = (Arc::clone(&b), genuine.clone(), Arc::clone(&genuine_got));
        a.passkeys.store().on(Point::AfterPeek, move || {
            *got.lock().unwrap() = Some(finish(&b, &genuine).map(|_| ()));
        });
    }
    let forged_got = finish(&a, &forged).map(|_| ());
    let genuine_got = genuine_got.lock().unwrap().expect("the genuine finish ran");
    let outcome = (forged_got, genuine_got);
    assert!(
        outcome == (Err("challenge_reused"), Ok(()))
            || outcome == (Err("signature_invalid"), Err("challenge_reused")),
        "(forged, genuine) = {outcome:?}"
    );
}

// ---------------------------------------------------------------------------------------
// A version conflict between peek and take, raced with a replay
// ---------------------------------------------------------------------------------------

#[test]
fn memory_conflict_on_first_attempt_then_replay_during_retry_is_reused() {
    let Pair { a, b } = memory_pair();
    let mut k1 = key(7);
    let mut k2 = key(8);
    a.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    a.register(&alice(), &k2, Scope::Exchange, factors())
        .unwrap();

    let first = block_on(a.passkeys.start_login(Some(&alice()))).unwrap();
    let other = block_on(b.passkeys.start_login(Some(&alice()))).unwrap();
    let r1 = a.answer(&mut k1, &first.challenge, &alice(), Scope::Exchange);
    let r2 = b.answer(&mut k2, &other.challenge, &alice(), Scope::Exchange);
    let b = Arc::new(b);
    let outcomes: Arc<Mutex<Vec<(&str, Result<(), &'static str>)>>> = Arc::default();

    // Another login of Alice lands between A's peek and its take: a version conflict.
    {
        let (b, r2, outcomes) = (Arc::clone(&b), r2.clone(), Arc::clone(&outcomes));
        a.passkeys.store().on(Point::BeforeTakeAndAppend, move || {
            let got = finish(&b, &r2).map(|_| ());
            outcomes.lock().unwrap().push(("other login", got));
        });
    }
    // A replay of A's response on B while A retries its append alone.
    {
        let (b, r1, outcomes) = (Arc::clone(&b), r1.clone(), Arc::clone(&outcomes));
        a.passkeys.store().on(Point::BeforeAppend, move || {
            let got = finish(&b, &r1).map(|_| ());
            outcomes.lock().unwrap().push(("replay during retry", got));
        });
    }
    let result = finish(&a, &r1).map(|_| ());
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), 2, "both hooks ran: {outcomes:?}");
    assert_eq!(outcomes[0], ("other login", Ok(())), "{outcomes:?}");
    assert_eq!(result, Ok(()), "A's login after its retry: {outcomes:?}");
    assert_eq!(
        outcomes[1],
        ("replay during retry", Err("challenge_reused")),
        "{outcomes:?}"
    );
    assert_eq!(finish(&b, &r1).map(|_| ()), Err("challenge_reused"));
    assert_eq!(finish(&a, &r1).map(|_| ()), Err("challenge_reused"));
}

/// The replay reads the challenge fresh too (before A takes it), then A conflicts and
/// retries: the replay must be reused whatever A's retry does.
#[test]
fn memory_replay_peeked_before_a_conflicting_take_is_reused() {
    let Pair { a, b } = memory_pair();
    let mut k1 = key(9);
    let mut k2 = key(10);
    a.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    a.register(&alice(), &k2, Scope::Exchange, factors())
        .unwrap();
    let first = block_on(a.passkeys.start_login(Some(&alice()))).unwrap();
    let other = block_on(b.passkeys.start_login(Some(&alice()))).unwrap();
    let r1 = a.answer(&mut k1, &first.challenge, &alice(), Scope::Exchange);
    let r2 = b.answer(&mut k2, &other.challenge, &alice(), Scope::Exchange);
    let b = Arc::new(b);
    let a = Arc::new(a);
    let outcomes: Arc<Mutex<Vec<(&str, Result<(), &'static str>)>>> = Arc::default();
    // A peeks; the replay on B peeks too and stops before its take; another login lands;
    // A takes (conflict) and retries; then B's take runs.
    let gate = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    {
        let (gate, done) = (Arc::clone(&gate), Arc::clone(&done));
        b.passkeys.store().on(Point::BeforeTakeAndAppend, move || {
            gate.wait(); // B has peeked and verified
            done.wait(); // A has finished
        });
    }
    let replay = {
        let (b, r1) = (Arc::clone(&b), r1.clone());
        thread::spawn(move || finish(&b, &r1).map(|_| ()))
    };
    gate.wait();
    {
        let (b, r2, outcomes) = (Arc::clone(&b), r2.clone(), Arc::clone(&outcomes));
        a.passkeys.store().on(Point::BeforeTakeAndAppend, move || {
            let got = finish(&b, &r2).map(|_| ());
            outcomes.lock().unwrap().push(("other login", got));
        });
    }
    let result = finish(&a, &r1).map(|_| ());
    done.wait();
    let replayed = replay.join().unwrap();
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes, vec![("other login", Ok(()))]);
    assert_eq!(result, Ok(()));
    assert_eq!(replayed, Err("challenge_reused"));
}

// ---------------------------------------------------------------------------------------
// Refusals spend the challenge: a genuine answer after is reused
// ---------------------------------------------------------------------------------------

fn refused_then_genuine(
    name: &str,
    w: &World<Rigged<MemoryStore>>,
    k: &mut Authenticator,
    challenge: &str,
    refused: &AuthenticationResponse,
    finish_refused: impl FnOnce(&AuthenticationResponse) -> Result<(), &'static str>,
    expected_refusal: &str,
) {
    let got = finish_refused(refused);
    assert_eq!(got, Err(expected_refusal), "{name}: the refusal");
    let genuine = w.answer(k, challenge, &alice(), Scope::Exchange);
    assert_eq!(
        finish(w, &genuine).map(|_| ()),
        Err("challenge_reused"),
        "{name}: a genuine answer after a refused one"
    );
}

#[test]
fn memory_every_refusal_spends_the_challenge() {
    let Pair { a: w, .. } = memory_pair();
    let mut k = key(11);
    w.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let bobs = key(12);
    w.register(&bob(), &bobs, Scope::Exchange, factors())
        .unwrap();

    // Bad signature.
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let mut forger = key(13).with_credential_id(k.credential_id().to_vec());
    let forged = w.answer(&mut forger, &options.challenge, &alice(), Scope::Exchange);
    refused_then_genuine(
        "signature",
        &w,
        &mut k,
        &options.challenge,
        &forged,
        |r| finish(&w, r).map(|_| ()),
        "signature_invalid",
    );

    // Wrong user handle (Bob's).
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let wrong = w.answer(&mut k, &options.challenge, &bob(), Scope::Exchange);
    let got = finish(&w, &wrong).map(|_| ());
    assert!(got.is_err(), "wrong user handle accepted");
    let genuine = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(
        finish(&w, &genuine).map(|_| ()),
        Err("challenge_reused"),
        "after wrong handle {got:?}"
    );

    // Wrong intent for the endpoint.
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    refused_then_genuine(
        "intent",
        &w,
        &mut k,
        &options.challenge,
        &r,
        |r| {
            block_on(w.passkeys.finish_authentication(
                FinishAuthentication::new(r, &w.context).intents(&[Intent::Withdrawal]),
            ))
            .map(|_| ())
            .map_err(|e| e.code())
        },
        "challenge_mismatch",
    );

    // Wrong account for the endpoint.
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let bob_id = bob();
    refused_then_genuine(
        "account",
        &w,
        &mut k,
        &options.challenge,
        &r,
        |r| {
            block_on(
                w.passkeys.finish_authentication(
                    FinishAuthentication::new(r, &w.context).account(&bob_id),
                ),
            )
            .map(|_| ())
            .map_err(|e| e.code())
        },
        "challenge_mismatch",
    );

    // Unknown credential (a key nobody registered).
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let mut stranger = key(14);
    let r = w.answer(&mut stranger, &options.challenge, &alice(), Scope::Exchange);
    refused_then_genuine(
        "unknown credential",
        &w,
        &mut k,
        &options.challenge,
        &r,
        |r| finish(&w, r).map(|_| ()),
        "unknown_credential",
    );

    // Bob's passkey for a challenge that named Alice.
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let mut bobs = bobs;
    let r = w.answer(&mut bobs, &options.challenge, &bob(), Scope::Exchange);
    let got = finish(&w, &r).map(|_| ());
    assert!(got.is_err(), "Bob's passkey accepted for Alice's challenge");
    let genuine = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(
        finish(&w, &genuine).map(|_| ()),
        Err("challenge_reused"),
        "after foreign {got:?}"
    );

    // Counter regression: a response with a lower counter, then a genuine one.
    k.set_sign_count(Some(100));
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    finish(&w, &r).unwrap();
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    k.set_sign_count(Some(5));
    let low = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    k.set_sign_count(Some(200));
    let got = finish(&w, &low).map(|_| ());
    assert_eq!(got, Err("counter_regression"));
    let genuine = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(
        finish(&w, &genuine).map(|_| ()),
        Err("challenge_reused"),
        "after regression"
    );

    // Frozen account: a step-up refused while frozen spends its challenge.
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::AddPasskey,
    ))
    .unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let got = finish(&w, &r).map(|_| ());
    assert!(got.is_err(), "a login on a frozen account was accepted");
    let again = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(
        finish(&w, &again).map(|_| ()),
        Err("challenge_reused"),
        "after frozen {got:?}"
    );
}

#[test]
fn memory_discoverable_unknown_credential_spends_the_challenge() {
    let Pair { a: w, b } = memory_pair();
    let mut k = key(15);
    w.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let mut stranger = key(16);
    let r = w.answer(&mut stranger, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(finish(&w, &r).map(|_| ()), Err("unknown_credential"));
    let genuine = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(finish(&b, &genuine).map(|_| ()), Err("challenge_reused"));
}

// ---------------------------------------------------------------------------------------
// Expiry and purge
// ---------------------------------------------------------------------------------------

#[test]
fn memory_expired_then_replayed_on_an_instance_whose_clock_lags_is_refused() {
    let Pair { a, b } = memory_pair();
    let mut k = key(17);
    a.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(a.passkeys.start_login(Some(&alice()))).unwrap();
    let r = a.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    a.clock.set(Timestamp(T0.0 + 3600));
    assert_eq!(finish(&a, &r).map(|_| ()), Err("challenge_expired"));
    // B's clock is still at T0: the challenge has not expired there.
    let replay = b.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let got = finish(&b, &replay).map(|_| ());
    assert!(got.is_err(), "an expired challenge's replay was accepted");
    assert_eq!(got, Err("challenge_reused"));
}

#[test]
fn memory_expired_and_purged_between_peek_and_take_is_expired_not_accepted() {
    let Pair { a, b } = memory_pair();
    let mut k = key(18);
    a.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(a.passkeys.start_login(Some(&alice()))).unwrap();
    let r = a.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let purged = Arc::new(Mutex::new(None));
    let b = Arc::new(b);
    {
        // An hour passes for both instances (with A's clock behind, the challenge is not
        // expired for A, and its purge by B reads as `challenge_mismatch`).
        let (b, purged, a_clock) = (Arc::clone(&b), Arc::clone(&purged), Arc::clone(&a.clock));
        a.passkeys.store().on(Point::BeforeTakeAndAppend, move || {
            a_clock.set(Timestamp(T0.0 + 3600));
            b.clock.set(Timestamp(T0.0 + 3600));
            *purged.lock().unwrap() =
                Some(block_on(b.passkeys.purge_expired_challenges()).unwrap());
        });
    }
    let got = finish(&a, &r).map(|_| ());
    let removed = purged.lock().unwrap().unwrap_or(0);
    assert!(
        removed >= 1,
        "the purge ran and removed the challenge: {removed}"
    );
    assert_eq!(
        block_on(
            a.passkeys
                .store()
                .take_challenge(&b64url(&options.challenge))
        )
        .unwrap(),
        Taken::Unknown,
        "the challenge is gone"
    );
    // P16: either A's finish won before the deadline, or the challenge is expired.
    assert!(
        got.is_ok() || got == Err("challenge_expired"),
        "a finish whose challenge expired and was purged between its peek and take: {got:?}"
    );
    let replay = a.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let again = finish(&b, &replay).map(|_| ());
    assert!(again.is_err(), "replay accepted");
}

// ---------------------------------------------------------------------------------------
// Store failures
// ---------------------------------------------------------------------------------------

/// A forged answer would be refused (`signature_invalid`), but the store fails the one
/// `take_challenge` that would spend the challenge. Found by the attack: the refusal was
/// answered all the same, with the challenge still fresh. Now the finish answers the
/// store's failure (`store_unavailable`), as when a take fails before anything is judged:
/// the response counts as never answered, so the genuine answer may still use the
/// challenge, once.
#[test]
fn memory_a_refusal_whose_spending_take_fails_is_answered_as_the_store_failure() {
    let Pair { a: w, .. } = memory_pair();
    let mut k = key(19);
    w.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let mut forger = key(20).with_credential_id(k.credential_id().to_vec());
    let forged = w.answer(&mut forger, &options.challenge, &alice(), Scope::Exchange);
    w.passkeys.store().fail_take.store(1, Ordering::SeqCst);
    let refused = finish(&w, &forged).map(|_| ());
    assert_eq!(
        w.passkeys.store().fail_take.load(Ordering::SeqCst),
        0,
        "the take was attempted"
    );
    assert_eq!(
        refused,
        Err("store_unavailable"),
        "a refusal that did not spend its challenge"
    );
    let genuine = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(finish(&w, &genuine).map(|_| ()), Ok(()));
    let replay = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(finish(&w, &replay).map(|_| ()), Err("challenge_reused"));
}

#[test]
fn memory_take_and_append_fails_then_replay_is_reused() {
    let Pair { a: w, b } = memory_pair();
    let mut k = key(21);
    w.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    w.passkeys
        .store()
        .fail_take_and_append
        .store(1, Ordering::SeqCst);
    assert_eq!(finish(&w, &r).map(|_| ()), Err("store_unavailable"));
    assert_eq!(
        w.passkeys
            .store()
            .fail_take_and_append
            .load(Ordering::SeqCst),
        0
    );
    assert_eq!(finish(&w, &r).map(|_| ()), Err("challenge_reused"));
    assert_eq!(finish(&b, &r).map(|_| ()), Err("challenge_reused"));
}

#[test]
fn memory_take_and_append_committed_but_answer_lost_then_replay_is_reused() {
    let Pair { a: w, b } = memory_pair();
    let mut k = key(22);
    w.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let r = w.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let before = block_on(w.passkeys.store().load(&alice())).unwrap().version;
    w.passkeys
        .store()
        .lose_take_and_append
        .store(1, Ordering::SeqCst);
    w.passkeys.store().fail_take.store(1, Ordering::SeqCst);
    assert_eq!(finish(&w, &r).map(|_| ()), Err("store_unavailable"));
    let after = block_on(w.passkeys.store().load(&alice())).unwrap().version;
    assert_eq!(after, before + 1, "the login was committed");
    assert_eq!(finish(&b, &r).map(|_| ()), Err("challenge_reused"));
}

fn b64url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: two connections (two instances) on one schema
// ---------------------------------------------------------------------------------------

fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("LATCHKEY_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("{test}: skipped, LATCHKEY_POSTGRES_URL is not set");
            None
        }
    }
}

fn postgres_options(schema: &str) -> latchkey_store_postgres::Options {
    let mut options = latchkey_store_postgres::Options::default();
    options.schema = Some(schema.to_owned());
    options
}

fn postgres_instances(
    url: &str,
    schema: &str,
) -> Vec<Arc<Passkeys<Rigged<latchkey_store_postgres::PostgresStore>>>> {
    use latchkey_store_postgres::PostgresStore;
    let clock = Arc::new(ManualClock::new(T0));
    (0..2)
        .map(|_| {
            let store = block_on(PostgresStore::connect(url, postgres_options(schema))).unwrap();
            Arc::new(
                Passkeys::new(relying_party(), Rigged::new(Arc::new(store)))
                    .with_clock(clock.clone()),
            )
        })
        .collect()
}

fn drop_schema(url: &str, schema: &str) {
    use latchkey_store_postgres::PostgresStore;
    block_on(
        block_on(PostgresStore::connect(url, postgres_options(schema)))
            .unwrap()
            .drop_schema(),
    )
    .unwrap();
}

#[test]
fn postgres_two_instances_both_peek_fresh_then_race_one_wins() {
    let Some(url) = postgres_url("postgres_race") else {
        return;
    };
    let schema = format!("t_attack16_race_{}", std::process::id());
    let instances = postgres_instances(&url, &schema);
    let mut k = key(30);
    register_on(&*instances[0], &alice(), &k);
    let mut failures = Vec::new();
    for round in 0..10 {
        let options = if round % 3 == 2 {
            block_on(instances[1].start_login(None)).unwrap()
        } else {
            block_on(instances[round % 2].start_login(Some(&alice()))).unwrap()
        };
        let json = alice_json(&mut k, &*instances[0], &options.challenge);
        let results = race(&instances, &[json.clone(), json.clone()]);
        let won = results.iter().filter(|r| r.is_ok()).count();
        if won != 1
            || results
                .iter()
                .any(|r| r.is_err() && *r != Err("challenge_reused"))
        {
            failures.push((round, results));
        }
        // A replay after the race, on either instance.
        let replay = AuthenticationResponse::from_json(&json).unwrap();
        let again = finish_on(&instances[round % 2], &replay);
        if again != Err("challenge_reused") {
            failures.push((round, vec![again]));
        }
    }
    drop(instances);
    drop_schema(&url, &schema);
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn postgres_refused_then_genuine_and_conflict_then_replay() {
    let Some(url) = postgres_url("postgres_refused") else {
        return;
    };
    let schema = format!("t_attack16_refused_{}", std::process::id());
    let instances = postgres_instances(&url, &schema);
    let mut k1 = key(31);
    let mut k2 = key(32);
    register_on(&*instances[0], &alice(), &k1);
    register_on(&*instances[0], &alice(), &k2);
    let mut failures: Vec<String> = Vec::new();

    // A forged answer on A, then the genuine one on B.
    let options = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let mut forger = key(33).with_credential_id(k1.credential_id().to_vec());
    let forged = alice_response(&mut forger, &*instances[0], &options.challenge);
    let got = finish_on(&instances[0], &forged);
    if got != Err("signature_invalid") {
        failures.push(format!("forged: {got:?}"));
    }
    let genuine = alice_response(&mut k1, &*instances[0], &options.challenge);
    let got = finish_on(&instances[1], &genuine);
    if got != Err("challenge_reused") {
        failures.push(format!("genuine after forged: {got:?}"));
    }

    // A version conflict between A's peek and take (a login on B lands), then replays.
    let first = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let other = block_on(instances[1].start_login(Some(&alice()))).unwrap();
    let r1 = alice_response(&mut k1, &*instances[0], &first.challenge);
    let r2 = alice_response(&mut k2, &*instances[0], &other.challenge);
    let outcomes: Arc<Mutex<Vec<(&str, Result<(), &'static str>)>>> = Arc::default();
    {
        let (b, r2, outcomes) = (Arc::clone(&instances[1]), r2.clone(), Arc::clone(&outcomes));
        instances[0]
            .store()
            .on(Point::BeforeTakeAndAppend, move || {
                outcomes.lock().unwrap().push(("other", finish_on(&b, &r2)));
            });
    }
    {
        let (b, r1, outcomes) = (Arc::clone(&instances[1]), r1.clone(), Arc::clone(&outcomes));
        instances[0].store().on(Point::BeforeAppend, move || {
            outcomes
                .lock()
                .unwrap()
                .push(("replay", finish_on(&b, &r1)));
        });
    }
    let got = finish_on(&instances[0], &r1);
    let outcomes = outcomes.lock().unwrap().clone();
    if got != Ok(()) || outcomes != vec![("other", Ok(())), ("replay", Err("challenge_reused"))] {
        failures.push(format!("conflict: {got:?} {outcomes:?}"));
    }
    let got = finish_on(&instances[1], &r1);
    if got != Err("challenge_reused") {
        failures.push(format!("replay after: {got:?}"));
    }

    // Committed, answer lost, and the spending take fails too: the replay is reused.
    let options = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let r = alice_response(&mut k1, &*instances[0], &options.challenge);
    instances[0]
        .store()
        .lose_take_and_append
        .store(1, Ordering::SeqCst);
    instances[0].store().fail_take.store(1, Ordering::SeqCst);
    let got = finish_on(&instances[0], &r);
    if got != Err("store_unavailable") {
        failures.push(format!("lost answer: {got:?}"));
    }
    let got = finish_on(&instances[1], &r);
    if got != Err("challenge_reused") {
        failures.push(format!("replay after lost answer: {got:?}"));
    }

    drop(instances);
    drop_schema(&url, &schema);
    assert!(failures.is_empty(), "{failures:?}");
}

/// As `memory_a_refusal_whose_spending_take_fails_is_answered_as_the_store_failure`, on
/// PostgreSQL with the genuine answer on another instance: the refusal's `take_challenge`
/// fails (a connection lost, an operation timeout), so the forger is told
/// `store_unavailable`, never a refusal; the genuine answer is accepted once.
#[test]
fn postgres_a_refusal_whose_spending_take_fails_is_answered_as_the_store_failure() {
    let Some(url) = postgres_url("postgres_refused_take_fails") else {
        return;
    };
    let schema = format!("t_attack16_take_fails_{}", std::process::id());
    let instances = postgres_instances(&url, &schema);
    let mut k = key(34);
    register_on(&*instances[0], &alice(), &k);
    let options = block_on(instances[0].start_login(Some(&alice()))).unwrap();
    let mut forger = key(35).with_credential_id(k.credential_id().to_vec());
    let forged = alice_response(&mut forger, &*instances[0], &options.challenge);
    instances[0].store().fail_take.store(1, Ordering::SeqCst);
    let refused = finish_on(&instances[0], &forged);
    let attempted = instances[0].store().fail_take.load(Ordering::SeqCst) == 0;
    let genuine = alice_response(&mut k, &*instances[0], &options.challenge);
    let later = finish_on(&instances[1], &genuine);
    let replay = finish_on(&instances[0], &genuine);
    drop(instances);
    drop_schema(&url, &schema);
    assert!(attempted, "the spending take was attempted");
    assert_eq!(
        refused,
        Err("store_unavailable"),
        "a refusal that did not spend its challenge"
    );
    assert_eq!((later, replay), (Ok(()), Err("challenge_reused")));
}

/// P18 across a retry: a withdrawal reads Alice's state, then a freeze and an unfreeze land
/// (on another instance) before its take and append. The append conflicts; the attempt
/// that decides again on the new state sees the freeze count moved and refuses
/// `challenge_expired`, and nothing is appended for the withdrawal.
#[test]
fn memory_a_freeze_and_unfreeze_between_read_and_append_void_a_withdrawal() {
    let Pair { a, b } = memory_pair();
    let mut k = key(40);
    a.register(&alice(), &k, Scope::Exchange, factors())
        .unwrap();
    let options = block_on(
        a.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = a.answer(&mut k, &options.challenge, &alice(), Scope::Exchange);
    let b = Arc::new(b);
    let toggled = Arc::new(Mutex::new(None));
    {
        let (b, toggled) = (Arc::clone(&b), Arc::clone(&toggled));
        a.passkeys.store().on(Point::BeforeTakeAndAppend, move || {
            let frozen = block_on(b.passkeys.freeze(&alice(), "risk", &b.context));
            let unfrozen = block_on(b.passkeys.unfreeze(&alice(), &identity(), &operator()));
            *toggled.lock().unwrap() = Some(frozen.is_ok() && unfrozen.is_ok());
        });
    }
    let before = block_on(a.passkeys.store().load(&alice())).unwrap().version;
    assert_eq!(finish(&a, &response).map(|_| ()), Err("challenge_expired"));
    assert_eq!(
        *toggled.lock().unwrap(),
        Some(true),
        "the hook froze and unfroze"
    );
    // Only the freeze and the unfreeze were appended.
    assert_eq!(
        block_on(a.passkeys.store().load(&alice())).unwrap().version,
        before + 2
    );
    assert_eq!(finish(&b, &response).map(|_| ()), Err("challenge_reused"));
}
