//! A security review's attacks on the facade, through the public API only (the
//! implementation treated as a black box). One test per attempt, asserting what
//! PRODUCT.md demands: the stable error code, and that nothing changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;

use latchkey::cose::Flags;
use latchkey::json::{AuthenticationResponse, RegistrationResponse, b64};
use latchkey::policy::CounterMode;
use latchkey::{
    AccountId, Change, Credential, CredentialId, Factor, FinishAuthentication, FinishRegistration,
    FinishReplacement, Intent, ManualClock, Passkeys, PolicyConfig, RelyingParty, RequestContext,
    Scope, StepUp, Store, U2fCredential,
};
use latchkey_store_sqlite::SqliteStore;
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use support::{T0, World, factors, id, relying_party, user, world};

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn bob() -> AccountId {
    AccountId::new("bob")
}

/// Alice with Exchange passkeys `e1`, `e2` and Pay passkey `p1`.
fn alice_with_three<S: Store>(w: &World<S>) -> (Authenticator, Authenticator, Authenticator) {
    let (e1, e2, p1) = (key(1), key(2), key(10));
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &e2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &p1, Scope::Pay, factors()).unwrap();
    (e1, e2, p1)
}

fn list<S: Store>(w: &World<S>, account: &AccountId, scope: Scope) -> Vec<Credential> {
    block_on(w.passkeys.list(account, scope)).unwrap()
}

fn ids<S: Store>(w: &World<S>, account: &AccountId, scope: Scope) -> Vec<CredentialId> {
    list(w, account, scope).into_iter().map(|c| c.id).collect()
}

fn dex_ids<S: Store>(w: &World<S>, account: &AccountId) -> Vec<CredentialId> {
    list(w, account, Scope::Exchange)
        .into_iter()
        .filter(|c| c.dex_authorized)
        .map(|c| c.id)
        .collect()
}

fn history_len<S: Store>(w: &World<S>, account: &AccountId) -> usize {
    block_on(w.passkeys.history(account, 0, 500))
        .unwrap()
        .events
        .len()
}

fn authorize_dex<S: Store>(w: &World<S>, account: &AccountId, authenticator: &mut Authenticator) {
    let change = Change::AuthorizeDex(id(authenticator));
    let token = w
        .step_up(
            account,
            authenticator,
            Scope::Exchange,
            Scope::Exchange,
            &change,
        )
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(account, &id(authenticator), &token, true, &w.context),
    )
    .unwrap();
}

fn with_policy(w: World, policy: PolicyConfig) -> World {
    World {
        passkeys: w.passkeys.with_policy(policy),
        ..w
    }
}

/// Two service instances, each with its own connection pool, on one SQLite file, sharing
/// one clock.
struct Two {
    a: Arc<World<SqliteStore>>,
    b: Arc<World<SqliteStore>>,
    path: PathBuf,
}

impl Drop for Two {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

fn instance(path: &PathBuf, clock: &Arc<ManualClock>) -> World<SqliteStore> {
    World {
        passkeys: Passkeys::new(relying_party(), SqliteStore::open(path).unwrap())
            .with_clock(clock.clone()),
        clock: clock.clone(),
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    }
}

fn two_instances(tag: &str) -> Two {
    let path = std::env::temp_dir().join(format!(
        "latchkey-review-{tag}-{}-{}.sqlite",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let clock = Arc::new(ManualClock::new(T0));
    let a = Arc::new(instance(&path, &clock));
    let b = Arc::new(instance(&path, &clock));
    Two { a, b, path }
}

/// What a racing call came to: `Ok`, or its error code.
type Outcome = Result<(), &'static str>;

/// Runs `f` and `g` at the same time; returns what each came to.
fn race<A, B, F, G>(f: F, g: G) -> [Outcome; 2]
where
    F: FnOnce() -> latchkey::Result<A> + Send + 'static,
    G: FnOnce() -> latchkey::Result<B> + Send + 'static,
{
    let start = Arc::new(Barrier::new(2));
    let (s1, s2) = (Arc::clone(&start), Arc::clone(&start));
    let h1 = thread::spawn(move || {
        s1.wait();
        f().map(|_| ()).map_err(|e| e.code())
    });
    let h2 = thread::spawn(move || {
        s2.wait();
        g().map(|_| ()).map_err(|e| e.code())
    });
    [h1.join().unwrap(), h2.join().unwrap()]
}

/// Exactly one of two racing calls won; the other was refused with `code`.
fn one_won(results: &[Outcome; 2], code: &str, label: &str) {
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{label}: {results:?}"
    );
    assert!(
        results.iter().filter_map(|r| r.err()).all(|c| c == code),
        "{label}: {results:?}"
    );
}

fn registration<S: Store>(
    w: &World<S>,
    account: &AccountId,
    authenticator: &Authenticator,
    scope: Scope,
    step_up: &StepUp,
) -> RegistrationResponse {
    let options =
        block_on(
            w.passkeys
                .start_registration(account, &user(account.as_str()), scope, step_up),
        )
        .unwrap();
    RegistrationResponse::from_json(&authenticator.registration_json(&w.client, &options.challenge))
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Across service instances (P3, P7, P12, P15, P16)
// ---------------------------------------------------------------------------------------

#[test]
fn a_step_up_token_is_redeemed_once_across_two_instances() {
    // P7: "any service instance can redeem it and none can redeem it twice".
    let two = two_instances("token");
    let (a, b) = (&two.a, &two.b);
    let mut e1 = key(1);
    a.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    let rounds = 6u8;
    for round in 0..rounds {
        let token = a
            .step_up(
                &alice(),
                &mut e1,
                Scope::Exchange,
                Scope::Exchange,
                &Change::AddPasskey,
            )
            .unwrap();
        let step_up = StepUp::Passkey(token);
        let ra = registration(a, &alice(), &key(40 + 2 * round), Scope::Exchange, &step_up);
        let rb = registration(b, &alice(), &key(41 + 2 * round), Scope::Exchange, &step_up);
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (sa, sb) = (step_up.clone(), step_up.clone());
        let results = race(
            move || {
                block_on(a2.passkeys.finish_registration(FinishRegistration::new(
                    &alice(),
                    &ra,
                    &sa,
                    &a2.context,
                )))
            },
            move || {
                block_on(b2.passkeys.finish_registration(FinishRegistration::new(
                    &alice(),
                    &rb,
                    &sb,
                    &b2.context,
                )))
            },
        );
        one_won(&results, "step_up_required", &format!("round {round}"));
        // Spent on one instance: worthless on the other, and on the first.
        for w in [a, b] {
            let err = w
                .register(&alice(), &key(200), Scope::Exchange, step_up.clone())
                .unwrap_err();
            assert_eq!(err.code(), "step_up_required");
        }
    }
    assert_eq!(
        list(a, &alice(), Scope::Exchange).len(),
        1 + usize::from(rounds)
    );
    assert_eq!(
        list(b, &alice(), Scope::Exchange).len(),
        1 + usize::from(rounds)
    );
}

#[test]
fn two_instances_deleting_the_last_two_passkeys_leave_one() {
    // P3 "also under concurrency and across instances".
    let two = two_instances("p3");
    let (a, b) = (&two.a, &two.b);
    for round in 0..8u8 {
        let account = AccountId::new(format!("acct{round}"));
        let (k1, k2) = (key(60 + 2 * round), key(61 + 2 * round));
        a.register(&account, &k1, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &k2, Scope::Exchange, factors())
            .unwrap();
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (i1, i2) = (id(&k1), id(&k2));
        let results = race(
            move || block_on(a2.passkeys.delete(&acc1, &i1, &factors(), &a2.context)),
            move || block_on(b2.passkeys.delete(&acc2, &i2, &factors(), &b2.context)),
        );
        one_won(&results, "last_passkey", &format!("round {round}"));
        assert_eq!(list(a, &account, Scope::Exchange).len(), 1);
    }
}

#[test]
fn two_instances_revoking_and_deleting_the_last_two_dex_passkeys_leave_one() {
    // P3: the DEX subset never drops to zero, revocation and deletion racing on two
    // instances.
    let two = two_instances("dex");
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("dex{round}"));
        let (mut d1, mut d2, e3) = (
            key(90 + 3 * round),
            key(91 + 3 * round),
            key(92 + 3 * round),
        );
        a.register(&account, &d1, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &d2, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &e3, Scope::Exchange, factors())
            .unwrap();
        authorize_dex(a, &account, &mut d1);
        authorize_dex(a, &account, &mut d2);
        assert_eq!(dex_ids(a, &account).len(), 2);
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (i1, i2) = (id(&d1), id(&d2));
        let results = race(
            move || block_on(a2.passkeys.revoke_dex(&acc1, &i1, &factors(), &a2.context)),
            move || block_on(b2.passkeys.delete(&acc2, &i2, &factors(), &b2.context)),
        );
        one_won(&results, "last_passkey", &format!("round {round}"));
        assert_eq!(dex_ids(b, &account).len(), 1, "round {round}");
    }
}

#[test]
fn two_instances_racing_one_challenge_one_wins() {
    // P16 on a shared SQLite file with two instances.
    let two = two_instances("challenge");
    let (a, b) = (&two.a, &two.b);
    let mut e1 = key(1);
    a.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    for round in 0..8 {
        let options = block_on(
            a.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let response = a.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (r1, r2) = (response.clone(), response);
        let results = race(
            move || {
                block_on(
                    a2.passkeys
                        .finish_authentication(FinishAuthentication::new(&r1, &a2.context)),
                )
            },
            move || {
                block_on(
                    b2.passkeys
                        .finish_authentication(FinishAuthentication::new(&r2, &b2.context)),
                )
            },
        );
        one_won(&results, "challenge_reused", &format!("round {round}"));
    }
}

#[test]
fn two_accounts_racing_to_register_one_credential_id_on_two_instances() {
    // P15: one owner per credential id, even when two accounts (whose event streams are
    // separate) register it at the same moment through two instances.
    let two = two_instances("p15");
    let (a, b) = (&two.a, &two.b);
    for round in 0..8u8 {
        let (x_acc, y_acc) = (
            AccountId::new(format!("x{round}")),
            AccountId::new(format!("y{round}")),
        );
        let shared = key(150 + round);
        let rx = registration(a, &x_acc, &shared, Scope::Exchange, &factors());
        let ry = registration(b, &y_acc, &shared, Scope::Exchange, &factors());
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (xa, ya) = (x_acc.clone(), y_acc.clone());
        let results = race(
            move || {
                block_on(a2.passkeys.finish_registration(FinishRegistration::new(
                    &xa,
                    &rx,
                    &factors(),
                    &a2.context,
                )))
            },
            move || {
                block_on(b2.passkeys.finish_registration(FinishRegistration::new(
                    &ya,
                    &ry,
                    &factors(),
                    &b2.context,
                )))
            },
        );
        one_won(&results, "duplicate_credential", &format!("round {round}"));
        let holders =
            list(a, &x_acc, Scope::Exchange).len() + list(a, &y_acc, Scope::Exchange).len();
        assert_eq!(holders, 1, "round {round}");
    }
}

#[test]
fn a_cloned_authenticator_racing_its_counter_on_two_instances() {
    // P12: a counter that does not grow is refused; two assertions with one counter
    // value finished at once on two instances cannot both pass.
    let two = two_instances("counter");
    let (a, b) = (&two.a, &two.b);
    let mut e1 = key(1);
    a.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    a.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    for round in 0..8 {
        let mut clone = e1.clone();
        let oa = block_on(
            a.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let ob = block_on(
            b.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let ra = a.answer(&mut e1, &oa.challenge, &alice(), Scope::Exchange);
        let rb = b.answer(&mut clone, &ob.challenge, &alice(), Scope::Exchange);
        assert_eq!(e1.sign_count(), clone.sign_count());
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let results = race(
            move || {
                block_on(
                    a2.passkeys
                        .finish_authentication(FinishAuthentication::new(&ra, &a2.context)),
                )
            },
            move || {
                block_on(
                    b2.passkeys
                        .finish_authentication(FinishAuthentication::new(&rb, &b2.context)),
                )
            },
        );
        one_won(&results, "counter_regression", &format!("round {round}"));
    }
}

// ---------------------------------------------------------------------------------------
// Step-up scope, account and change binding (P1, P2, P7)
// ---------------------------------------------------------------------------------------

#[test]
fn a_step_up_naming_a_passkey_of_the_other_scope_is_refused() {
    // P1, P7: a step-up's scope is the scope of the passkey its change names. An
    // Exchange step-up for deleting a Pay passkey, a Pay step-up for an Exchange change,
    // a Pay step-up for authorizing an Exchange passkey for DEX.
    let w = world();
    let (mut e1, mut e2, mut p1) = alice_with_three(&w);
    let mut p2 = key(11);
    w.register(&alice(), &p2, Scope::Pay, factors()).unwrap();
    let before = history_len(&w, &alice());
    let (e2_id, p2_id) = (id(&e2), id(&p2));
    let attempts: Vec<(Scope, Change, &mut Authenticator, Scope)> = vec![
        (
            Scope::Exchange,
            Change::Delete(p2_id.clone()),
            &mut e1,
            Scope::Exchange,
        ),
        (
            Scope::Exchange,
            Change::Replace(p2_id.clone()),
            &mut e2,
            Scope::Exchange,
        ),
        (Scope::Pay, Change::Delete(e2_id), &mut p1, Scope::Pay),
        (Scope::Pay, Change::RevokeDex(p2_id), &mut p2, Scope::Pay),
    ];
    for (scope, change, answering, held_in) in attempts {
        let started = block_on(w.passkeys.start_step_up(&alice(), scope, &change));
        let err = match started {
            Err(err) => err,
            Ok(options) => {
                let response = w.answer(answering, &options.challenge, &alice(), held_in);
                match block_on(
                    w.passkeys
                        .finish_authentication(FinishAuthentication::new(&response, &w.context)),
                ) {
                    Err(err) => err,
                    Ok(done) => panic!("{scope:?} step-up for {change:?} granted: {done:?}"),
                }
            }
        };
        assert_eq!(err.code(), "scope_mismatch", "{scope:?} {change:?}");
    }
    // Authorizing an Exchange passkey for DEX with a Pay step-up answered by Pay passkey.
    let mut p1 = key(10);
    let change = Change::AuthorizeDex(id(&e1));
    match block_on(w.passkeys.start_step_up(&alice(), Scope::Pay, &change)) {
        Err(err) => assert_eq!(err.code(), "scope_mismatch"),
        Ok(options) => {
            let response = w.answer(&mut p1, &options.challenge, &alice(), Scope::Pay);
            let result = block_on(
                w.passkeys
                    .finish_authentication(FinishAuthentication::new(&response, &w.context)),
            );
            if let Ok(done) = result {
                let token = done.step_up.expect("token");
                let _ = block_on(w.passkeys.authorize_dex(
                    &alice(),
                    &id(&e1),
                    &token,
                    true,
                    &w.context,
                ));
            }
        }
    }
    assert!(dex_ids(&w, &alice()).is_empty());
    assert_eq!(list(&w, &alice(), Scope::Pay).len(), 2);
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
    assert_eq!(history_len(&w, &alice()), before, "nothing recorded");
}

#[test]
fn a_dex_step_up_answered_by_another_passkey_or_without_uv_grants_nothing() {
    // P2: only e1's own fresh UV assertion authorizes e1.
    let w = world();
    let (e1, mut e2, _) = alice_with_three(&w);
    let change = Change::AuthorizeDex(id(&e1));
    // e2 answers e1's DEX step-up.
    let options = block_on(w.passkeys.start_step_up(&alice(), Scope::Exchange, &change)).unwrap();
    assert_eq!(options.allow_credentials.len(), 1);
    let response = w.answer(&mut e2, &options.challenge, &alice(), Scope::Exchange);
    if let Ok(done) = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    ) {
        let token = done.step_up.expect("token");
        let err = block_on(
            w.passkeys
                .authorize_dex(&alice(), &id(&e1), &token, true, &w.context),
        )
        .unwrap_err();
        assert_eq!(err.code(), "step_up_required");
    }
    // e1 answers without user verification.
    let mut e1 = e1;
    e1.set_flags(Flags::USER_PRESENT);
    let options = block_on(w.passkeys.start_step_up(&alice(), Scope::Exchange, &change)).unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "user_verification_required");
    assert!(dex_ids(&w, &alice()).is_empty());
}

#[test]
fn a_dex_grant_does_not_pass_to_a_new_key_registered_under_the_same_credential_id() {
    // P2: e2's own UV assertion stepped up authorizing e2. e2 is then deleted (with the
    // factors) and an attacker's key is registered under e2's credential id: the grant
    // must not authorize that key, whose own assertion never made it.
    let w = world();
    let (_, mut e2, _) = alice_with_three(&w);
    let e2_id = id(&e2);
    let token = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(e2_id.clone()),
        )
        .unwrap();
    block_on(w.passkeys.delete(&alice(), &e2_id, &factors(), &w.context)).unwrap();
    let impostor = key(77).with_credential_id(e2.credential_id().to_vec());
    w.register(&alice(), &impostor, Scope::Exchange, factors())
        .unwrap();
    let result = block_on(
        w.passkeys
            .authorize_dex(&alice(), &e2_id, &token, true, &w.context),
    );
    assert_eq!(
        result.map(|_| ()).map_err(|e| e.code()),
        Err("step_up_required")
    );
    assert!(dex_ids(&w, &alice()).is_empty());
}

#[test]
fn a_dex_grant_does_not_pass_to_a_successor_with_the_same_credential_id() {
    // P2, P4: as above, but the impostor key comes in as e2's successor under e2's id.
    // Whatever the replacement does, no key but e2's own may end up DEX-authorized.
    let w = world();
    let (_, mut e2, _) = alice_with_three(&w);
    let e2_id = id(&e2);
    let e2_key = list(&w, &alice(), Scope::Exchange)[1].public_key.clone();
    let token = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(e2_id.clone()),
        )
        .unwrap();
    let impostor = key(78).with_credential_id(e2.credential_id().to_vec());
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &e2_id, &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&impostor.registration_json(&w.client, &options.challenge))
            .unwrap();
    let replaced = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &e2_id,
        &response,
        &factors(),
        &w.context,
    )))
    .map(|_| ())
    .map_err(|e| e.code());
    let authorized = block_on(
        w.passkeys
            .authorize_dex(&alice(), &e2_id, &token, true, &w.context),
    )
    .map(|_| ())
    .map_err(|e| e.code());
    for credential in list(&w, &alice(), Scope::Exchange) {
        if credential.dex_authorized {
            assert_eq!(
                credential.public_key, e2_key,
                "replacement {replaced:?}, authorize {authorized:?}: the impostor is DEX"
            );
        }
    }
}

#[test]
fn replacing_a_non_dex_passkey_with_the_terms_grants_no_dex() {
    // P2: "Nothing else ever grants it": the terms on the replacement of a passkey that
    // was not DEX-authorized give its successor nothing.
    let w = world();
    let (_, e2, _) = alice_with_three(&w);
    let successor = key(5);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e2), &factors()),
        )
        .unwrap();
    let response = RegistrationResponse::from_json(
        &successor.registration_json(&w.client, &options.challenge),
    )
    .unwrap();
    let done = block_on(
        w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&e2), &response, &factors(), &w.context)
                .dex_terms_accepted(true),
        ),
    )
    .unwrap();
    assert!(!done.credential.dex_authorized);
    assert!(dex_ids(&w, &alice()).is_empty());
}

#[test]
fn two_instances_replacing_one_dex_passkey_twice_hand_over_one_authorization() {
    // P2, P4: two successors of one DEX passkey, finished at once on two instances: one
    // replaces it, the other finds it gone; one DEX authorization in, one out.
    let two = two_instances("replace");
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("rep{round}"));
        let mut d1 = key(100 + 4 * round);
        let e2 = key(101 + 4 * round);
        a.register(&account, &d1, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &e2, Scope::Exchange, factors())
            .unwrap();
        authorize_dex(a, &account, &mut d1);
        let start = |w: &World<SqliteStore>, successor: &Authenticator| {
            let options =
                block_on(
                    w.passkeys
                        .start_replacement(&account, &user("x"), &id(&d1), &factors()),
                )
                .unwrap();
            RegistrationResponse::from_json(
                &successor.registration_json(&w.client, &options.challenge),
            )
            .unwrap()
        };
        let (sa, sb) = (key(102 + 4 * round), key(103 + 4 * round));
        let (ra, rb) = (start(a, &sa), start(b, &sb));
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (o1, o2) = (id(&d1), id(&d1));
        let results = race(
            move || {
                block_on(
                    a2.passkeys.finish_replacement(
                        FinishReplacement::new(&acc1, &o1, &ra, &factors(), &a2.context)
                            .dex_terms_accepted(true),
                    ),
                )
            },
            move || {
                block_on(
                    b2.passkeys.finish_replacement(
                        FinishReplacement::new(&acc2, &o2, &rb, &factors(), &b2.context)
                            .dex_terms_accepted(true),
                    ),
                )
            },
        );
        one_won(&results, "unknown_credential", &format!("round {round}"));
        assert_eq!(dex_ids(a, &account).len(), 1, "round {round}");
        assert_eq!(list(a, &account, Scope::Exchange).len(), 2, "round {round}");
    }
}

#[test]
fn two_instances_revoking_one_dex_passkey_and_replacing_the_other_keep_one() {
    // P3: revoke d1's DEX authorization on one instance while d2 is replaced without the
    // terms (so its successor is not DEX) on the other: DEX must keep one passkey.
    let two = two_instances("revrep");
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("rr{round}"));
        let (mut d1, mut d2) = (key(130 + 3 * round), key(131 + 3 * round));
        a.register(&account, &d1, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &d2, Scope::Exchange, factors())
            .unwrap();
        authorize_dex(a, &account, &mut d1);
        authorize_dex(a, &account, &mut d2);
        let options =
            block_on(
                b.passkeys
                    .start_replacement(&account, &user("x"), &id(&d2), &factors()),
            )
            .unwrap();
        let response = RegistrationResponse::from_json(
            &key(132 + 3 * round).registration_json(&b.client, &options.challenge),
        )
        .unwrap();
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (i1, i2) = (id(&d1), id(&d2));
        let results = race(
            move || block_on(a2.passkeys.revoke_dex(&acc1, &i1, &factors(), &a2.context)),
            move || {
                block_on(b2.passkeys.finish_replacement(FinishReplacement::new(
                    &acc2,
                    &i2,
                    &response,
                    &factors(),
                    &b2.context,
                )))
            },
        );
        one_won(&results, "last_passkey", &format!("round {round}"));
        assert_eq!(dex_ids(a, &account).len(), 1, "round {round}");
    }
}

/// Two instances on one file with a policy.
fn two_instances_with(tag: &str, policy: &PolicyConfig, rp: &RelyingParty) -> Two {
    let two = two_instances(tag);
    let clock = two.a.clock.clone();
    let make = |path: &PathBuf| World {
        passkeys: Passkeys::new(rp.clone(), SqliteStore::open(path).unwrap())
            .with_clock(clock.clone())
            .with_policy(policy.clone()),
        clock: clock.clone(),
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    };
    let (a, b) = (Arc::new(make(&two.path)), Arc::new(make(&two.path)));
    let path = two.path.clone();
    std::mem::forget(two);
    Two { a, b, path }
}

#[test]
fn two_instances_racing_past_the_dex_and_pay_limits() {
    // P5: limits hold across instances (DEX at most 1 and Pay at most 2 here).
    let mut policy = PolicyConfig::default();
    policy.limits.dex = 1;
    policy.limits.pay = 2;
    let two = two_instances_with("limits", &policy, &relying_party());
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("lim{round}"));
        let (mut d1, mut d2) = (key(170 + 5 * round), key(171 + 5 * round));
        a.register(&account, &d1, Scope::Exchange, factors())
            .unwrap();
        a.register(&account, &d2, Scope::Exchange, factors())
            .unwrap();
        let (i1, i2) = (id(&d1), id(&d2));
        let t1 = a
            .step_up(
                &account,
                &mut d1,
                Scope::Exchange,
                Scope::Exchange,
                &Change::AuthorizeDex(i1.clone()),
            )
            .unwrap();
        let t2 = b
            .step_up(
                &account,
                &mut d2,
                Scope::Exchange,
                Scope::Exchange,
                &Change::AuthorizeDex(i2.clone()),
            )
            .unwrap();
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let results = race(
            move || {
                block_on(
                    a2.passkeys
                        .authorize_dex(&acc1, &i1, &t1, true, &a2.context),
                )
            },
            move || {
                block_on(
                    b2.passkeys
                        .authorize_dex(&acc2, &i2, &t2, true, &b2.context),
                )
            },
        );
        one_won(&results, "limit_reached", &format!("dex {round}"));
        assert_eq!(dex_ids(a, &account).len(), 1);
        // Pay: one held, two racing for the second place.
        a.register(&account, &key(172 + 5 * round), Scope::Pay, factors())
            .unwrap();
        let one = StepUp::Factors(vec![Factor::Email]);
        let ra = registration(a, &account, &key(173 + 5 * round), Scope::Pay, &one);
        let rb = registration(b, &account, &key(174 + 5 * round), Scope::Pay, &one);
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (s1, s2) = (one.clone(), one.clone());
        let results = race(
            move || {
                block_on(a2.passkeys.finish_registration(FinishRegistration::new(
                    &acc1,
                    &ra,
                    &s1,
                    &a2.context,
                )))
            },
            move || {
                block_on(b2.passkeys.finish_registration(FinishRegistration::new(
                    &acc2,
                    &rb,
                    &s2,
                    &b2.context,
                )))
            },
        );
        one_won(&results, "limit_reached", &format!("pay {round}"));
        assert_eq!(list(a, &account, Scope::Pay).len(), 2);
    }
}

#[test]
fn two_instances_racing_one_registration_response() {
    // P16 for registrations, across instances: one response, two finishes.
    let two = two_instances("regrace");
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("reg{round}"));
        let response = registration(a, &account, &key(210 + round), Scope::Exchange, &factors());
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (r1, r2) = (response.clone(), response);
        let results = race(
            move || {
                block_on(a2.passkeys.finish_registration(FinishRegistration::new(
                    &acc1,
                    &r1,
                    &factors(),
                    &a2.context,
                )))
            },
            move || {
                block_on(b2.passkeys.finish_registration(FinishRegistration::new(
                    &acc2,
                    &r2,
                    &factors(),
                    &b2.context,
                )))
            },
        );
        one_won(&results, "challenge_reused", &format!("{round}"));
        assert_eq!(list(a, &account, Scope::Exchange).len(), 1);
    }
}

#[test]
fn one_add_passkey_token_races_a_registration_against_a_u2f_import() {
    // P7: an AddPasskey proof is redeemed once, whichever way the passkey is added, on
    // two instances at once.
    const APP_ID: &str = "https://example.com/u2f/app-id.json";
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .app_id(APP_ID)
        .build()
        .unwrap();
    let two = two_instances_with("u2frace", &PolicyConfig::default(), &rp);
    let (a, b) = (&two.a, &two.b);
    for round in 0..6u8 {
        let account = AccountId::new(format!("u2f{round}"));
        let mut e1 = key(220 + 2 * round);
        a.register(&account, &e1, Scope::Exchange, factors())
            .unwrap();
        let token = a
            .step_up(
                &account,
                &mut e1,
                Scope::Exchange,
                Scope::Exchange,
                &Change::AddPasskey,
            )
            .unwrap();
        let step_up = StepUp::Passkey(token);
        let response = registration(
            a,
            &account,
            &key(221 + 2 * round),
            Scope::Exchange,
            &step_up,
        );
        let u2f_key = SoftKey::es256([round + 1; 32]);
        let record = U2fCredential::new(
            &[0x40 + round; 64],
            &u2f_key.uncompressed_point().unwrap(),
            APP_ID,
        )
        .unwrap();
        let (a2, b2) = (Arc::clone(a), Arc::clone(b));
        let (acc1, acc2) = (account.clone(), account.clone());
        let (s1, s2) = (step_up.clone(), step_up.clone());
        let results = race(
            move || {
                block_on(a2.passkeys.finish_registration(FinishRegistration::new(
                    &acc1,
                    &response,
                    &s1,
                    &a2.context,
                )))
            },
            move || {
                block_on(b2.passkeys.import_u2f(
                    &acc2,
                    Scope::Exchange,
                    &record,
                    3,
                    &s2,
                    &b2.context,
                ))
            },
        );
        one_won(&results, "step_up_required", &format!("{round}"));
        assert_eq!(list(a, &account, Scope::Exchange).len(), 2);
    }
}

#[test]
fn a_dex_trade_started_before_a_revocation_is_refused_after_it() {
    // P2, P9: DEX authorization is judged when the assertion is decided.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    authorize_dex(&w, &alice(), &mut e2);
    let tx: &[u8] = b"buy 1 SOL";
    let trade = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::DexTrade, Some(tx)),
    )
    .unwrap();
    block_on(
        w.passkeys
            .revoke_dex(&alice(), &id(&e1), &factors(), &w.context),
    )
    .unwrap();
    let response = w.answer(&mut e1, &trade.challenge, &alice(), Scope::Exchange);
    let err =
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx),
        ))
        .unwrap_err();
    assert_eq!(err.code(), "dex_not_authorized");
}

#[test]
fn the_unknown_credential_signal_names_only_the_credential_the_refusal_was_about() {
    // P13: the signal is "only for ids unknown to the whole service". A service that
    // hands the function the refusal of one response and another response (two
    // parallel requests, say) must not be told to have Alice's valid passkey deleted.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let mut stray = key(99);
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let stray_response = w.answer(&mut stray, &options.challenge, &alice(), Scope::Exchange);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&stray_response, &w.context)),
    )
    .unwrap_err();
    // The id comes from the refusal itself: there is no response to mix up, and it is
    // the stray key's, not any passkey Alice holds.
    let signal = w.passkeys.signal_unknown_credential(&err).unwrap();
    assert_eq!(signal.credential_id, b64(stray.credential_id()));
    assert!(
        ids(&w, &alice(), Scope::Exchange)
            .iter()
            .all(|held| b64(held.as_bytes()) != signal.credential_id)
    );
    let options = block_on(w.passkeys.start_login(None)).unwrap();
    let valid = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&valid, &w.context)),
    );
    assert_eq!(done.unwrap().credential, id(&e1));
}

#[test]
fn changing_pay_passkeys_does_not_lock_exchange_withdrawals() {
    // P1, P8: Pay is a separate system; its reset or factor delete locks no Exchange
    // money-out path (the lock is for Exchange passkey resets and factor deletes).
    let w = world();
    let (_, _, p1) = alice_with_three(&w);
    let p2 = key(11);
    w.register(&alice(), &p2, Scope::Pay, factors()).unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&p2), &factors(), &w.context),
    )
    .unwrap();
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&p1), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&key(12).registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&p1),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        None
    );
}

/// A registration of `key(33)` for Alice whose reported transports are `transports`.
fn register_with_transports(w: &World, transports: serde_json::Value) -> Result<(), String> {
    let options = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let mut value: serde_json::Value =
        serde_json::from_str(&key(33).registration_json(&w.client, &options.challenge)).unwrap();
    value["response"]["transports"] = transports;
    let response = RegistrationResponse::from_json(&value.to_string()).unwrap();
    block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &factors(),
        &w.context,
    )))
    .map(|_| ())
    .map_err(|e| e.code().to_owned())
}

#[test]
fn client_reported_transports_are_capped() {
    // The unsigned `transports` list is stored and echoed in every later options
    // object: a count cap (`limit_exceeded`) and a shape check (`malformed`), and
    // repeats are stored once.
    let w = world();
    let _ = alice_with_three(&w);
    let many = serde_json::Value::Array(vec!["usb".into(); 10_000]);
    assert_eq!(
        register_with_transports(&w, many),
        Err("limit_exceeded".into())
    );
    let long = serde_json::json!(["x".repeat(33)]);
    assert_eq!(register_with_transports(&w, long), Err("malformed".into()));
    let odd = serde_json::json!(["USB"]);
    assert_eq!(register_with_transports(&w, odd), Err("malformed".into()));
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
    let repeated = serde_json::json!(["usb", "hybrid", "usb", "future-transport"]);
    register_with_transports(&w, repeated).unwrap();
    let stored = list(&w, &alice(), Scope::Exchange)
        .into_iter()
        .find(|c| c.id == id(&key(33)))
        .unwrap();
    assert_eq!(stored.transports, ["usb", "hybrid", "future-transport"]);
}

#[test]
fn a_step_up_answered_late_still_expires_with_its_challenge() {
    // P7: the proof "expires with its challenge", not a TTL after it was answered.
    let w = world();
    let (mut e1, e2, _) = alice_with_three(&w);
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&e2)),
    ))
    .unwrap();
    w.clock.set(T0.plus_seconds(290));
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    let token = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap()
    .step_up
    .unwrap();
    w.clock.set(T0.plus_seconds(301));
    let err = block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
}

#[test]
fn the_deadline_is_the_same_for_a_challenge_and_its_step_up() {
    // P7, P16: at exactly the challenge's deadline a challenge and the step-up made with
    // it agree (the proof expires with its challenge).
    let w = world();
    let (mut e1, e2, _) = alice_with_three(&w);
    let login = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Login, None),
    )
    .unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e2)),
        )
        .unwrap();
    w.clock.set(T0.plus_seconds(300));
    let response = w.answer(&mut e1, &login.challenge, &alice(), Scope::Exchange);
    let challenge = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .map(|_| ())
    .map_err(|e| e.code());
    let redeemed =
        block_on(
            w.passkeys
                .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context),
        )
        .map(|_| ())
        .map_err(|e| e.code());
    assert_eq!(
        challenge.is_ok(),
        redeemed.is_ok(),
        "challenge at its deadline: {challenge:?}; step-up at its deadline: {redeemed:?}"
    );
}

#[test]
fn tokens_of_one_change_kind_serve_no_other() {
    // P7: an AuthorizeDex proof does not revoke, a RevokeDex proof does not authorize, a
    // Replace proof does not delete, a Delete proof does not replace.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    authorize_dex(&w, &alice(), &mut e2);
    let e1_id = id(&e1);
    let authorize = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(e1_id),
        )
        .unwrap();
    let err = block_on(w.passkeys.revoke_dex(
        &alice(),
        &id(&e1),
        &StepUp::Passkey(authorize),
        &w.context,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let revoke = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::RevokeDex(id(&e1)),
        )
        .unwrap();
    let err = block_on(
        w.passkeys
            .delete(&alice(), &id(&e1), &StepUp::Passkey(revoke), &w.context),
    )
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let replace = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Replace(id(&e1)),
        )
        .unwrap();
    let err =
        block_on(
            w.passkeys
                .delete(&alice(), &id(&e1), &StepUp::Passkey(replace), &w.context),
        )
        .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let delete = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Delete(id(&e1)),
        )
        .unwrap();
    let err = block_on(w.passkeys.start_replacement(
        &alice(),
        &user("alice"),
        &id(&e1),
        &StepUp::Passkey(delete),
    ))
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    assert_eq!(dex_ids(&w, &alice()).len(), 2);
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
}

#[test]
fn one_factor_steps_up_no_exchange_change() {
    // P7: Exchange needs two distinct factors for delete, replace and DEX revoke too.
    let w = world();
    let (mut e1, e2, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    let one = StepUp::Factors(vec![Factor::Email]);
    let twice = StepUp::Factors(vec![Factor::Face, Factor::Face]);
    for step_up in [one, twice] {
        let err =
            block_on(w.passkeys.delete(&alice(), &id(&e2), &step_up, &w.context)).unwrap_err();
        assert_eq!(err.code(), "step_up_required");
        let err = block_on(
            w.passkeys
                .revoke_dex(&alice(), &id(&e1), &step_up, &w.context),
        )
        .unwrap_err();
        // e1 is the last DEX passkey: either refusal is a refusal, but the step-up is the
        // first thing a one-factor request lacks.
        assert!(
            ["step_up_required", "last_passkey"].contains(&err.code()),
            "{}",
            err.code()
        );
        let err =
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(&e2), &step_up),
            )
            .unwrap_err();
        assert_eq!(err.code(), "step_up_required");
    }
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
    assert_eq!(dex_ids(&w, &alice()).len(), 1);
}

#[test]
fn a_finish_judges_the_step_up_it_brings_not_the_one_the_start_saw() {
    // P7: the start judged a step-up; the finish brings a weaker one.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let options = block_on(w.passkeys.start_registration(
        &alice(),
        &user("alice"),
        Scope::Exchange,
        &factors(),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&key(5).registration_json(&w.client, &options.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &StepUp::Factors(vec![Factor::Sms]),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    // Started with a passkey token, finished with none.
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    let response = registration(
        &w,
        &alice(),
        &key(6),
        Scope::Exchange,
        &StepUp::Passkey(token),
    );
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &StepUp::None,
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
}

#[test]
fn a_security_change_from_start_authentication_is_no_step_up() {
    // P7: a security_change the service gates itself yields no token; the response of a
    // real step-up cannot be replayed as a plain authentication.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let done = w
        .authenticate(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Intent::SecurityChange,
            None,
        )
        .unwrap();
    assert!(done.step_up.is_none());
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::AddPasskey,
    ))
    .unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap();
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_reused");
}

#[test]
fn a_step_up_for_alice_answered_by_bobs_passkey() {
    // P9, P13, P15: Bob's valid passkey never steps up Alice's change, and is never
    // signalled as unknown.
    let w = world();
    let _ = alice_with_three(&w);
    let mut b1 = key(20);
    w.register(&bob(), &b1, Scope::Exchange, factors()).unwrap();
    let before = (history_len(&w, &alice()), history_len(&w, &bob()));
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::AddPasskey,
    ))
    .unwrap();
    for holder in [bob(), alice()] {
        let options = block_on(w.passkeys.start_step_up(
            &alice(),
            Scope::Exchange,
            &Change::AddPasskey,
        ))
        .unwrap();
        let response = w.answer(&mut b1, &options.challenge, &holder, Scope::Exchange);
        let err = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "unknown_credential");
        assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    }
    let _ = options;
    assert_eq!((history_len(&w, &alice()), history_len(&w, &bob())), before);
}

#[test]
fn alice_cannot_touch_bobs_passkeys() {
    // P9, P15: every management call on another account's credential is refused.
    let w = world();
    let _ = alice_with_three(&w);
    let mut b1 = key(20);
    let b2 = key(21);
    w.register(&bob(), &b1, Scope::Exchange, factors()).unwrap();
    w.register(&bob(), &b2, Scope::Exchange, factors()).unwrap();
    authorize_dex(&w, &bob(), &mut b1);
    let before = history_len(&w, &bob());
    let code = |r: latchkey::Result<()>| r.unwrap_err().code();
    assert_eq!(
        code(block_on(w.passkeys.rename(&alice(), &id(&b2), "mine", &w.context)).map(|_| ())),
        "unknown_credential"
    );
    assert_eq!(
        code(
            block_on(
                w.passkeys
                    .delete(&alice(), &id(&b2), &factors(), &w.context)
            )
            .map(|_| ())
        ),
        "unknown_credential"
    );
    assert_eq!(
        code(
            block_on(
                w.passkeys
                    .revoke_dex(&alice(), &id(&b1), &factors(), &w.context)
            )
            .map(|_| ())
        ),
        "unknown_credential"
    );
    assert_eq!(
        code(
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(&b2), &factors())
            )
            .map(|_| ())
        ),
        "unknown_credential"
    );
    for change in [
        Change::Delete(id(&b2)),
        Change::Replace(id(&b2)),
        Change::RevokeDex(id(&b1)),
        Change::AuthorizeDex(id(&b2)),
    ] {
        assert_eq!(
            code(
                block_on(w.passkeys.start_step_up(&alice(), Scope::Exchange, &change)).map(|_| ())
            ),
            "unknown_credential",
            "{change:?}"
        );
    }
    assert_eq!(history_len(&w, &bob()), before);
    assert_eq!(list(&w, &bob(), Scope::Exchange).len(), 2);
}

// ---------------------------------------------------------------------------------------
// Registration and replacement challenges (P1, P3, P4, P15, P16)
// ---------------------------------------------------------------------------------------

#[test]
fn a_replacement_challenge_for_one_passkey_does_not_replace_another() {
    // P16: a replacement challenge is bound to its ceremony; finishing it for another
    // passkey (with a valid step-up for that one) is refused and consumes it.
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    let for_e1 = w
        .step_up(
            &alice(),
            &mut e2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Replace(id(&e1)),
        )
        .unwrap();
    let for_e2 = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Replace(id(&e2)),
        )
        .unwrap();
    let options = block_on(w.passkeys.start_replacement(
        &alice(),
        &user("alice"),
        &id(&e1),
        &StepUp::Passkey(for_e1),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&key(5).registration_json(&w.client, &options.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&e2),
        &response,
        &StepUp::Passkey(for_e2),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    assert_eq!(ids(&w, &alice(), Scope::Exchange), vec![id(&e1), id(&e2)]);
}

#[test]
fn a_pay_replacement_challenge_does_not_replace_an_exchange_passkey() {
    // P1, P7: started as a Pay reset with one factor (enough for Pay), finished as the
    // reset of an Exchange passkey (which needs two).
    let w = world();
    let (e1, _, p1) = alice_with_three(&w);
    let one = StepUp::Factors(vec![Factor::Email]);
    let options = block_on(
        w.passkeys
            .start_replacement(&alice(), &user("alice"), &id(&p1), &one),
    )
    .unwrap();
    let response =
        RegistrationResponse::from_json(&key(6).registration_json(&w.client, &options.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&e1),
        &response,
        &one,
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    assert_eq!(ids(&w, &alice(), Scope::Pay), vec![id(&p1)]);
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
    assert!(ids(&w, &alice(), Scope::Exchange).contains(&id(&e1)));
}

#[test]
fn a_pay_registration_challenge_does_not_replace_a_dex_passkey() {
    // P1, P2, P16: a new-passkey challenge (Pay) finished as the replacement of the last
    // DEX passkey, and a replacement challenge finished as a plain registration.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    let response = registration(&w, &alice(), &key(7), Scope::Pay, &factors());
    let err = block_on(
        w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&e1), &response, &factors(), &w.context)
                .dex_terms_accepted(true),
        ),
    )
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e1), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&key(8).registration_json(&w.client, &options.challenge))
            .unwrap();
    let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
        &alice(),
        &response,
        &factors(),
        &w.context,
    )))
    .unwrap_err();
    assert_eq!(err.code(), "challenge_mismatch");
    assert_eq!(dex_ids(&w, &alice()), vec![id(&e1)]);
    assert_eq!(list(&w, &alice(), Scope::Pay).len(), 1);
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
}

#[test]
fn replacing_a_passkey_with_another_passkey_of_the_account_is_a_duplicate() {
    // P15, P1: the successor's credential id is already Alice's (another Exchange
    // passkey, or her Pay passkey).
    let w = world();
    let (e1, e2, p1) = alice_with_three(&w);
    let before = history_len(&w, &alice());
    for (successor, name) in [(&e2, "e2"), (&p1, "p1")] {
        let options =
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(&e1), &factors()),
            )
            .unwrap();
        let response = RegistrationResponse::from_json(
            &successor.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        let err = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
            &alice(),
            &id(&e1),
            &response,
            &factors(),
            &w.context,
        )))
        .unwrap_err();
        assert_eq!(err.code(), "duplicate_credential", "{name}");
    }
    // And a plain registration of her Exchange passkey into Pay.
    let err = w
        .register(&alice(), &e1, Scope::Pay, factors())
        .unwrap_err();
    assert_eq!(err.code(), "duplicate_credential");
    assert_eq!(ids(&w, &alice(), Scope::Exchange), vec![id(&e1), id(&e2)]);
    assert_eq!(ids(&w, &alice(), Scope::Pay), vec![id(&p1)]);
    assert_eq!(history_len(&w, &alice()), before);
}

#[test]
fn replacing_the_last_passkey_with_itself_never_leaves_none() {
    // P3, P4: the successor has the replaced passkey's own credential id.
    let w = world();
    let mut e1 = key(1);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    authorize_dex(&w, &alice(), &mut e1);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e1), &factors()),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&e1.registration_json(&w.client, &options.challenge))
            .unwrap();
    let result = block_on(
        w.passkeys.finish_replacement(
            FinishReplacement::new(&alice(), &id(&e1), &response, &factors(), &w.context)
                .dex_terms_accepted(true),
        ),
    );
    let outcome = result.map(|_| ()).map_err(|e| e.code());
    assert_eq!(
        list(&w, &alice(), Scope::Exchange).len(),
        1,
        "outcome {outcome:?}"
    );
    assert_eq!(dex_ids(&w, &alice()).len(), 1, "outcome {outcome:?}");
    // The passkey still works.
    w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
}

#[test]
fn a_successor_made_without_user_verification_inherits_no_dex() {
    // P2: the successor of the last DEX passkey needs its own UV at creation, even with
    // the terms accepted; otherwise the replacement is refused (last_passkey).
    let w = world();
    let (mut e1, mut e2, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    let no_uv = key(5).with_flags(Flags::USER_PRESENT);
    let replace = |old: &Authenticator, successor: &Authenticator| {
        let options =
            block_on(
                w.passkeys
                    .start_replacement(&alice(), &user("alice"), &id(old), &factors()),
            )
            .unwrap();
        let response = RegistrationResponse::from_json(
            &successor.registration_json(&w.client, &options.challenge),
        )
        .unwrap();
        block_on(
            w.passkeys.finish_replacement(
                FinishReplacement::new(&alice(), &id(old), &response, &factors(), &w.context)
                    .dex_terms_accepted(true),
            ),
        )
    };
    let err = replace(&e1, &no_uv).unwrap_err();
    assert!(
        ["last_passkey", "user_verification_required"].contains(&err.code()),
        "{}",
        err.code()
    );
    assert_eq!(dex_ids(&w, &alice()), vec![id(&e1)]);
    // With a second DEX passkey the replacement may go through, unauthorized.
    authorize_dex(&w, &alice(), &mut e2);
    let no_uv = key(6).with_flags(Flags::USER_PRESENT);
    if let Ok(done) = replace(&e1, &no_uv) {
        assert!(!done.credential.dex_authorized);
        assert_eq!(dex_ids(&w, &alice()), vec![id(&e2)]);
    } else {
        assert_eq!(dex_ids(&w, &alice()).len(), 2);
    }
}

#[test]
fn import_u2f_of_a_credential_id_already_held_is_a_duplicate() {
    // P15 through the U2F import path: the key handle is Bob's passkey's credential id.
    const APP_ID: &str = "https://example.com/u2f/app-id.json";
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .app_id(APP_ID)
        .build()
        .unwrap();
    let w = world();
    let w = World {
        passkeys: Passkeys::new(rp, latchkey::MemoryStore::new()).with_clock(w.clock.clone()),
        ..w
    };
    let b1 = key(20);
    w.register(&bob(), &b1, Scope::Exchange, factors()).unwrap();
    let e1 = key(1);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    let u2f_key = SoftKey::es256([0x31; 32]);
    let point = u2f_key.uncompressed_point().unwrap();
    for handle in [b1.credential_id().to_vec(), e1.credential_id().to_vec()] {
        let record = U2fCredential::new(&handle, &point, APP_ID).unwrap();
        for scope in [Scope::Exchange, Scope::Pay] {
            let err = block_on(w.passkeys.import_u2f(
                &alice(),
                scope,
                &record,
                5,
                &factors(),
                &w.context,
            ))
            .unwrap_err();
            assert_eq!(err.code(), "duplicate_credential", "{scope:?}");
        }
    }
    assert_eq!(ids(&w, &alice(), Scope::Exchange), vec![id(&e1)]);
    assert!(list(&w, &alice(), Scope::Pay).is_empty());
    assert_eq!(ids(&w, &bob(), Scope::Exchange), vec![id(&b1)]);
}

// ---------------------------------------------------------------------------------------
// Challenge consumption (P16)
// ---------------------------------------------------------------------------------------

#[test]
fn a_malformed_session_challenge_still_consumes_the_challenge() {
    // P16: consumed as soon as the response names it, even when the ceremony fails.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    for bad in ["", "!!not base64!!", "AAAA=", "A"] {
        let options = block_on(
            w.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
        let context = RequestContext {
            session_challenge: Some(bad.to_owned()),
            ..RequestContext::default()
        };
        let err = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &context)),
        )
        .unwrap_err();
        assert!(
            ["challenge_mismatch", "malformed"].contains(&err.code()),
            "{bad:?}: {}",
            err.code()
        );
        let again = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .map(|_| ())
        .map_err(|e| e.code());
        assert_eq!(again, Err("challenge_reused"), "after session {bad:?}");
    }
    // Registrations likewise.
    for bad in ["", "%%%"] {
        let response = registration(&w, &alice(), &key(30), Scope::Exchange, &factors());
        let context = RequestContext {
            session_challenge: Some(bad.to_owned()),
            ..RequestContext::default()
        };
        let err = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice(),
            &response,
            &factors(),
            &context,
        )))
        .unwrap_err();
        assert!(["challenge_mismatch", "malformed"].contains(&err.code()));
        let again = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice(),
            &response,
            &factors(),
            &w.context,
        )))
        .map(|_| ())
        .map_err(|e| e.code());
        assert_eq!(
            again,
            Err("challenge_reused"),
            "registration after session {bad:?}"
        );
    }
    assert_eq!(list(&w, &alice(), Scope::Exchange).len(), 2);
}

fn corrupt_assertion(json: &str, member: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    match member {
        "type" => value["type"] = "password".into(),
        "id" => value["id"] = b64(&[7u8; 16]).into(),
        "rawId" => value["rawId"] = b64(&[7u8; 16]).into(),
        "signature" => value["response"]["signature"] = "!!".into(),
        "badsig" => value["response"]["signature"] = b64(&[0x30, 0x06, 2, 1, 1, 2, 1, 1]).into(),
        "authenticatorData" => value["response"]["authenticatorData"] = "AAAA".into(),
        "userHandle" => value["response"]["userHandle"] = "!!".into(),
        other => panic!("{other}"),
    }
    value.to_string()
}

#[test]
fn a_response_that_names_the_challenge_consumes_it_however_malformed_the_rest() {
    // P16: "consumed as soon as the response names it, before anything else in the
    // response is judged". The client data names the challenge; every other member is
    // broken in turn, then the genuine response is replayed.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let mut failures = Vec::new();
    for member in [
        "type",
        "id",
        "rawId",
        "signature",
        "badsig",
        "authenticatorData",
        "userHandle",
    ] {
        let options = block_on(
            w.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let handle = w.passkeys.user_handle(&alice(), Scope::Exchange);
        let json = e1.authentication_json(&w.client, &options.challenge, &handle);
        let bad = match AuthenticationResponse::from_json(&corrupt_assertion(&json, member)) {
            Ok(bad) => bad,
            Err(_) => continue,
        };
        let first = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&bad, &w.context)),
        )
        .map(|_| ())
        .map_err(|e| e.code());
        assert!(first.is_err(), "{member}");
        let good = AuthenticationResponse::from_json(&json).unwrap();
        let again = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&good, &w.context)),
        )
        .map(|_| ())
        .map_err(|e| e.code());
        if again != Err("challenge_reused") {
            failures.push(format!("{member}: first {first:?}, replay {again:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_registration_that_names_the_challenge_consumes_it_however_malformed_the_rest() {
    // P16 for registrations.
    let w = world();
    let _ = alice_with_three(&w);
    let mut failures = Vec::new();
    for member in ["type", "id", "rawId", "attestationObject"] {
        let good_json = {
            let options = block_on(w.passkeys.start_registration(
                &alice(),
                &user("alice"),
                Scope::Exchange,
                &factors(),
            ))
            .unwrap();
            key(33).registration_json(&w.client, &options.challenge)
        };
        let mut value: serde_json::Value = serde_json::from_str(&good_json).unwrap();
        match member {
            "type" => value["type"] = "password".into(),
            "id" => value["id"] = b64(&[9u8; 16]).into(),
            "rawId" => value["rawId"] = b64(&[9u8; 16]).into(),
            "attestationObject" => value["response"]["attestationObject"] = "oA".into(),
            _ => unreachable!(),
        }
        let Ok(bad) = RegistrationResponse::from_json(&value.to_string()) else {
            continue;
        };
        let first = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice(),
            &bad,
            &factors(),
            &w.context,
        )))
        .map(|_| ())
        .map_err(|e| e.code());
        let good = RegistrationResponse::from_json(&good_json).unwrap();
        let again = block_on(w.passkeys.finish_registration(FinishRegistration::new(
            &alice(),
            &good,
            &factors(),
            &w.context,
        )))
        .map(|_| ())
        .map_err(|e| e.code());
        if first.is_ok() || again != Err("challenge_reused") {
            failures.push(format!("{member}: first {first:?}, replay {again:?}"));
            // Undo for the next round, if it got in.
            if let Some(c) = list(&w, &alice(), Scope::Exchange)
                .iter()
                .find(|c| c.id == id(&key(33)))
            {
                block_on(w.passkeys.delete(&alice(), &c.id, &factors(), &w.context)).unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------
// Login, user handles, signals (P1, P9, P13)
// ---------------------------------------------------------------------------------------

#[test]
fn a_login_named_for_alice_is_not_answered_by_bob() {
    // P9, P13: start_login(Some(alice)) names the account; Bob's valid passkey is refused
    // and not signalled.
    let w = world();
    let _ = alice_with_three(&w);
    let mut b1 = key(20);
    w.register(&bob(), &b1, Scope::Exchange, factors()).unwrap();
    let before = history_len(&w, &bob());
    let options = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let response = w.answer(&mut b1, &options.challenge, &bob(), Scope::Exchange);
    let result = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    let err = match result {
        Ok(done) => panic!("login for alice answered by {:?}", done.account),
        Err(err) => err,
    };
    assert_eq!(err.code(), "unknown_credential");
    assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    assert_eq!(history_len(&w, &bob()), before);
}

#[test]
fn a_pay_passkey_never_logs_in_discoverably() {
    // P1: a Pay passkey never logs in, with its own (Pay) user handle or the Exchange one;
    // an Exchange passkey with the Pay handle is refused too. No signal for valid ones.
    let w = world();
    let (mut e1, _, mut p1) = alice_with_three(&w);
    let before = history_len(&w, &alice());
    for (handle_scope, expect) in [
        (Scope::Pay, &["scope_mismatch"][..]),
        (
            Scope::Exchange,
            &["scope_mismatch", "unknown_credential"][..],
        ),
    ] {
        let options = block_on(w.passkeys.start_login(None)).unwrap();
        let response = w.answer(&mut p1, &options.challenge, &alice(), handle_scope);
        let err = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap_err();
        assert!(
            expect.contains(&err.code()),
            "{handle_scope:?}: {}",
            err.code()
        );
        assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    }
    for start in [None, Some(alice())] {
        let options = block_on(w.passkeys.start_login(start.as_ref())).unwrap();
        let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Pay);
        let err = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap_err();
        assert_eq!(err.code(), "unknown_credential");
        assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    }
    // An account-named intent with the other scope's handle.
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Pay);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknown_credential");
    assert_eq!(w.passkeys.signal_unknown_credential(&err), None);
    assert_eq!(history_len(&w, &alice()), before);
}

#[test]
fn user_handles_never_collide_across_accounts_and_scopes() {
    // P1, P9: the per-scope handle names one (account, scope); crafted account ids must
    // not reproduce another account's handle.
    let w = world();
    let names = [
        "alice",
        "alicepay",
        "pay",
        "exchange",
        "alice\0pay",
        "alice:pay",
        "alice\0",
        "\0alice",
        "alice:exchange",
        "alice/pay",
        "",
    ];
    let mut seen = std::collections::HashMap::new();
    for name in names {
        for scope in [Scope::Exchange, Scope::Pay] {
            let handle = w.passkeys.user_handle(&AccountId::new(name), scope);
            assert!(handle.len() <= 64 && !handle.is_empty());
            if let Some(other) = seen.insert(handle.clone(), (name, scope)) {
                panic!("{name:?} {scope:?} and {other:?} share handle {handle:?}");
            }
        }
    }
}

#[test]
fn signals_after_a_pay_change_name_only_pay_passkeys_under_the_pay_handle() {
    // P1, P13: signalAllAcceptedCredentials after changing Pay passkeys must speak for the
    // Pay handle and list Pay passkeys only; otherwise the client would prune Exchange
    // passkeys (or the reverse).
    let w = world();
    let (e1, e2, p1) = alice_with_three(&w);
    let p2 = key(11);
    w.register(&alice(), &p2, Scope::Pay, factors()).unwrap();
    let pay_handle = b64(&w.passkeys.user_handle(&alice(), Scope::Pay));
    let exchange_handle = b64(&w.passkeys.user_handle(&alice(), Scope::Exchange));
    let one = StepUp::Factors(vec![Factor::Email]);
    let deleted = block_on(w.passkeys.delete(&alice(), &id(&p2), &one, &w.context)).unwrap();
    assert_eq!(deleted.accepted.user_id, pay_handle);
    assert_eq!(
        deleted.accepted.all_accepted_credential_ids,
        vec![b64(p1.credential_id())]
    );
    let options = block_on(
        w.passkeys
            .start_replacement(&alice(), &user("alice"), &id(&p1), &one),
    )
    .unwrap();
    let p3 = key(12);
    let response =
        RegistrationResponse::from_json(&p3.registration_json(&w.client, &options.challenge))
            .unwrap();
    let replaced = block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&p1),
        &response,
        &one,
        &w.context,
    )))
    .unwrap();
    assert_eq!(replaced.credential.scope, Scope::Pay);
    let accepted = replaced.accepted.unwrap();
    assert_eq!(accepted.user_id, pay_handle);
    assert_eq!(
        accepted.all_accepted_credential_ids,
        vec![b64(p3.credential_id())]
    );
    // A Pay change locks no Exchange withdrawal and touches no Exchange passkey.
    assert_eq!(ids(&w, &alice(), Scope::Exchange), vec![id(&e1), id(&e2)]);
    let deleted = block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    assert_eq!(deleted.accepted.user_id, exchange_handle);
    assert_eq!(
        deleted.accepted.all_accepted_credential_ids,
        vec![b64(e1.credential_id())]
    );
}

// ---------------------------------------------------------------------------------------
// Transactions and locks (P8, P9, P10)
// ---------------------------------------------------------------------------------------

#[test]
fn a_signing_challenge_is_not_finished_with_another_transaction() {
    // P10: sign tx A, finish with tx B (or none); the challenge is consumed either way.
    let w = world();
    let (_, _, mut p1) = alice_with_three(&w);
    let tx_a: &[u8] = b"pay 10.00 USDT to carol";
    let tx_b: &[u8] = b"pay 9999.00 USDT to mallory";
    for finish_with in [Some(tx_b), None, Some(&b""[..])] {
        let options = block_on(w.passkeys.start_authentication(
            &alice(),
            Intent::PaySign,
            Some(tx_a),
        ))
        .unwrap();
        let response = w.answer(&mut p1, &options.challenge, &alice(), Scope::Pay);
        let err = block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(finish_with),
        ))
        .unwrap_err();
        assert!(
            ["challenge_mismatch", "malformed"].contains(&err.code()),
            "{finish_with:?}: {}",
            err.code()
        );
        let err = block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx_a),
        ))
        .unwrap_err();
        assert_eq!(err.code(), "challenge_reused");
    }
    // The receipt of tx A is no evidence for tx B, nor for Bob.
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::PaySign, Some(tx_a)),
    )
    .unwrap();
    let response = w.answer(&mut p1, &options.challenge, &alice(), Scope::Pay);
    let done =
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx_a),
        ))
        .unwrap();
    let receipt = done.receipt.unwrap();
    let record = list(&w, &alice(), Scope::Pay)[0].clone();
    let signer = (&record).into();
    let rp = relying_party();
    receipt.verify(&signer, &rp, Some(tx_a)).unwrap();
    assert_eq!(
        receipt.verify(&signer, &rp, Some(tx_b)).unwrap_err().code(),
        "challenge_mismatch"
    );
    let mut bobs = receipt.clone();
    bobs.account = "bob".into();
    assert_eq!(
        bobs.verify(&signer, &rp, Some(tx_a)).unwrap_err().code(),
        "challenge_mismatch"
    );
    let mut other_intent = receipt.clone();
    other_intent.intent = Intent::PaySecurityChange;
    assert_eq!(
        other_intent
            .verify(&signer, &rp, Some(tx_a))
            .unwrap_err()
            .code(),
        "challenge_mismatch"
    );
    // Relabelled as an Exchange approval, the Pay passkey's record refuses it.
    let mut other_scope = receipt;
    other_scope.intent = Intent::DexTransfer;
    other_scope.scope = Scope::Exchange;
    assert_eq!(
        other_scope
            .verify(&signer, &rp, Some(tx_a))
            .unwrap_err()
            .code(),
        "scope_mismatch"
    );
}

#[test]
fn a_non_signing_intent_finished_with_a_transaction_yields_no_receipt() {
    // P10: a withdrawal challenge committed to no transaction; a finish that names one
    // must not turn it into evidence of one.
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    match block_on(w.passkeys.finish_authentication(
        FinishAuthentication::new(&response, &w.context).transaction(&b"send 5 BTC to mallory"[..]),
    )) {
        Ok(done) => assert!(done.receipt.is_none()),
        Err(err) => assert!(["challenge_mismatch", "malformed"].contains(&err.code())),
    }
}

#[test]
fn a_money_out_challenge_started_before_a_lock_is_refused_after_it() {
    // P8: the lock is judged when the assertion is decided, not when the challenge was
    // made.
    let w = world();
    let (mut e1, e2, _) = alice_with_three(&w);
    authorize_dex(&w, &alice(), &mut e1);
    let withdrawal = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let tx: &[u8] = b"move 5 SOL";
    let transfer = block_on(w.passkeys.start_authentication(
        &alice(),
        Intent::DexTransfer,
        Some(tx),
    ))
    .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &factors(), &w.context),
    )
    .unwrap();
    assert!(
        block_on(w.passkeys.withdrawals_locked_until(&alice()))
            .unwrap()
            .is_some()
    );
    let response = w.answer(&mut e1, &withdrawal.challenge, &alice(), Scope::Exchange);
    let err = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    )
    .unwrap_err();
    assert_eq!(err.code(), "withdrawal_locked");
    let response = w.answer(&mut e1, &transfer.challenge, &alice(), Scope::Exchange);
    let err =
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).transaction(tx),
        ))
        .unwrap_err();
    assert_eq!(err.code(), "withdrawal_locked");
}

#[test]
fn resetting_an_exchange_passkey_with_another_passkeys_step_up_locks() {
    // P8: "resetting an Exchange passkey ... locks withdrawals", however stepped up.
    let w = world();
    let (mut e1, e2, _) = alice_with_three(&w);
    let token = w
        .step_up(
            &alice(),
            &mut e1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::Replace(id(&e2)),
        )
        .unwrap();
    let step_up = StepUp::Passkey(token);
    let options =
        block_on(
            w.passkeys
                .start_replacement(&alice(), &user("alice"), &id(&e2), &step_up),
        )
        .unwrap();
    let response =
        RegistrationResponse::from_json(&key(5).registration_json(&w.client, &options.challenge))
            .unwrap();
    block_on(w.passkeys.finish_replacement(FinishReplacement::new(
        &alice(),
        &id(&e2),
        &response,
        &step_up,
        &w.context,
    )))
    .unwrap();
    assert_eq!(
        block_on(w.passkeys.withdrawals_locked_until(&alice())).unwrap(),
        Some(T0.plus_seconds(24 * 3600))
    );
    let err = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Withdrawal, None)
        .unwrap_err();
    assert_eq!(err.code(), "withdrawal_locked");
}

#[test]
fn intent_factors_count_distinct_factors() {
    // P9: the service requires passkey + app + e-mail for withdrawals; the same factor
    // twice is not two.
    let mut policy = PolicyConfig::default();
    policy
        .intent_factors
        .insert(Intent::Withdrawal, vec![Factor::Totp, Factor::Email]);
    let w = with_policy(world(), policy);
    let (mut e1, _, _) = alice_with_three(&w);
    for given in [
        &[][..],
        &[Factor::Totp][..],
        &[Factor::Totp, Factor::Totp][..],
        &[Factor::Email, Factor::Sms][..],
    ] {
        let options = block_on(
            w.passkeys
                .start_authentication(&alice(), Intent::Withdrawal, None),
        )
        .unwrap();
        let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
        let result = block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).factors(given),
        ));
        assert!(result.is_err(), "{given:?} accepted");
    }
    let options = block_on(
        w.passkeys
            .start_authentication(&alice(), Intent::Withdrawal, None),
    )
    .unwrap();
    let response = w.answer(&mut e1, &options.challenge, &alice(), Scope::Exchange);
    block_on(w.passkeys.finish_authentication(
        FinishAuthentication::new(&response, &w.context).factors(&[Factor::Email, Factor::Totp]),
    ))
    .unwrap();
}

// ---------------------------------------------------------------------------------------
// Counters (P12)
// ---------------------------------------------------------------------------------------

#[test]
fn a_zero_counter_never_resets_the_stored_one() {
    // P12: refused by default; in flag mode accepted with a warning, and the stored
    // counter stays, so a later lower counter is still flagged.
    let w = world();
    let mut e1 = key(1);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    for _ in 0..5 {
        w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
            .unwrap();
    }
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].sign_count, 5);
    e1.set_sign_count(None);
    let err = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap_err();
    assert_eq!(err.code(), "counter_regression");
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].sign_count, 5);

    let mut policy = PolicyConfig::default();
    policy.counter = CounterMode::Flag;
    let w = with_policy(world(), policy);
    let mut e1 = key(1);
    w.register(&alice(), &e1, Scope::Exchange, factors())
        .unwrap();
    for _ in 0..5 {
        w.authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
            .unwrap();
    }
    e1.set_sign_count(None);
    let done = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert!(
        done.warnings
            .iter()
            .any(|w| w.code() == "counter_regression")
    );
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].sign_count, 5);
    e1.set_sign_count(Some(2));
    let done = w
        .authenticate(&alice(), &mut e1, Scope::Exchange, Intent::Login, None)
        .unwrap();
    assert!(
        done.warnings
            .iter()
            .any(|w| w.code() == "counter_regression"),
        "counter 3 after stored 5: {:?}",
        done.warnings
    );
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].sign_count, 5);
}

// ---------------------------------------------------------------------------------------
// Names (P6)
// ---------------------------------------------------------------------------------------

/// Unicode 15 general category Cf.
const CF: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

#[test]
fn every_format_character_is_refused_in_names_by_rename_and_registration() {
    // P6: no control characters and no Cf characters, wherever a name comes in.
    let w = world();
    let (e1, _, _) = alice_with_three(&w);
    let original = list(&w, &alice(), Scope::Exchange)[0].name.clone();
    let mut accepted = Vec::new();
    let mut bad: Vec<char> = CF
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .filter_map(char::from_u32)
        .collect();
    bad.extend(['\u{7F}', '\u{85}', '\u{9B}', '\u{0}', '\u{1B}']);
    for c in &bad {
        let name = format!("Key{c}1");
        match block_on(w.passkeys.rename(&alice(), &id(&e1), &name, &w.context)) {
            Err(err) => assert_eq!(err.code(), "invalid_name"),
            Ok(_) => accepted.push(format!("U+{:04X}", u32::from(*c))),
        }
    }
    assert!(accepted.is_empty(), "rename accepted {accepted:?}");
    assert_eq!(list(&w, &alice(), Scope::Exchange)[0].name, original);
    // Length in characters: 64 accepted, 65 refused, whitespace-only refused.
    block_on(
        w.passkeys
            .rename(&alice(), &id(&e1), &"é".repeat(64), &w.context),
    )
    .unwrap();
    for name in ["é".repeat(65), "   ".into(), "\u{3000}\u{2003}".into()] {
        assert_eq!(
            block_on(w.passkeys.rename(&alice(), &id(&e1), &name, &w.context))
                .unwrap_err()
                .code(),
            "invalid_name",
            "{name:?}"
        );
    }
    // A name chosen at registration goes through the same rule.
    for c in ['\u{202E}', '\u{200B}', '\u{E0041}', '\u{7}'] {
        let response = registration(&w, &alice(), &key(44), Scope::Exchange, &factors());
        let name = format!("Ledger{c}");
        let result = block_on(
            w.passkeys.finish_registration(
                FinishRegistration::new(&alice(), &response, &factors(), &w.context)
                    .name(name.as_str()),
            ),
        );
        assert_eq!(
            result.map(|r| r.credential.name).map_err(|e| e.code()),
            Err("invalid_name"),
            "U+{:04X}",
            u32::from(c)
        );
    }
}

#[test]
fn a_passkey_step_up_brings_the_factors_the_service_requires_of_security_changes() {
    // P7 with P9: "the service can require extra factors per intent". A passkey step-up
    // is a `security_change` of its scope: the factors configured for it are required
    // when the step-up is finished, not skipped because the change comes later.
    let mut policy = PolicyConfig::default();
    policy
        .intent_factors
        .insert(Intent::SecurityChange, vec![Factor::Totp]);
    let w = with_policy(world(), policy);
    let (mut e1, e2, _) = alice_with_three(&w);
    let change = Change::Delete(id(&e2));
    let finish = |e1: &mut Authenticator, factors: &[Factor]| {
        let options =
            block_on(w.passkeys.start_step_up(&alice(), Scope::Exchange, &change)).unwrap();
        let response = w.answer(e1, &options.challenge, &alice(), Scope::Exchange);
        block_on(w.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &w.context).factors(factors),
        ))
    };
    let err = finish(&mut e1, &[]).unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let err = finish(&mut e1, &[Factor::Email]).unwrap_err();
    assert_eq!(err.code(), "step_up_required");
    let token = finish(&mut e1, &[Factor::Totp]).unwrap().step_up.unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&e2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
    assert_eq!(ids(&w, &alice(), Scope::Exchange), [id(&e1)]);
}

#[test]
fn an_empty_user_handle_names_no_user() {
    // §5.4.3: user.id is 1 to 64 bytes, so userHandle "" (an empty ArrayBuffer some
    // clients send for null) names nobody: a login bound to the account goes through, a
    // discoverable login, which has only the handle to find the user by, is refused (C.135).
    let w = world();
    let (mut e1, _, _) = alice_with_three(&w);
    let handle = w.passkeys.user_handle(&alice(), Scope::Exchange);
    let with_empty_handle = |e1: &mut Authenticator, challenge: &str| {
        let json = e1.authentication_json(&w.client, challenge, &handle);
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["response"]["userHandle"] = "".into();
        AuthenticationResponse::from_json(&value.to_string()).unwrap()
    };
    let bound = block_on(w.passkeys.start_login(Some(&alice()))).unwrap();
    let response = with_empty_handle(&mut e1, &bound.challenge);
    let done = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(done.unwrap().account, alice());
    let discoverable = block_on(w.passkeys.start_login(None)).unwrap();
    let response = with_empty_handle(&mut e1, &discoverable.challenge);
    let refused = block_on(
        w.passkeys
            .finish_authentication(FinishAuthentication::new(&response, &w.context)),
    );
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.code()),
        Err("unknown_credential")
    );
}
