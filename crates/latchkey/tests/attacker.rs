//! An attacker in the tests (issue 13): random interleavings of the owner's operations
//! with an attacker's, on every store, with the policy's invariants checked after every
//! step through the public API.
//!
//! The attacker holds Alice's session (it can start and finish ceremonies for her) and
//! some of: one or two of her other factors (SMS, e-mail), a stolen Pay passkey of hers,
//! a passkey of another account (Mallory's), the step-up tokens her session held, and a
//! response of hers it captured. After every step:
//!
//! - no Exchange or DEX intent is answered by a Pay passkey, nor the reverse (P1);
//! - no DEX authorization without that passkey's own user-verified step-up and the terms,
//!   or a replacement created with UV and the terms (P2);
//! - no withdrawal or DEX transfer inside a lock (P8);
//! - no step-up grant without UV, none redeemed twice or for another change (P7);
//! - no scope, and no DEX subset, below one passkey once it had one (P3);
//! - no challenge answered twice (P16); no answer for Alice from Mallory's passkey (P15);
//! - the history holds every change exactly once: what the calls returned, in order (P14);
//! - a frozen account records no change and no use but login; only the identity check
//!   unfreezes it, however the attacker tries (P18);
//! - passkey-required mode goes off only with a grant of an Exchange passkey, made in
//!   the Exchange scope and redeemed for exactly that, never with factors (P19);
//! - nothing an operator or a recovery revoked is ever used, granted with, redeemed
//!   through a grant it made, or registered again (on Alice's account or Mallory's);
//!   only those empty a scope (P20);
//! - ceremonies started before a freeze, a revocation or a recovery and finished after
//!   it (a registration, a step-up) obey all of the above at their finish.
//!
//! It runs on the memory store here, and on SQLite and PostgreSQL (when
//! `LATCHKEY_POSTGRES_URL` is set; CI sets it and `LATCHKEY_REQUIRE_POSTGRES=1`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use latchkey::Clock as _;
use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Authenticated, Change, CredentialId, Event, EventKind, Factor, FinishAuthentication,
    FinishRegistration, FinishReplacement, Intent, MemoryStore, Scope, StepUp, StepUpToken, Store,
    Timestamp,
};
use latchkey_cose::Flags;
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use proptest::prelude::*;
use support::{World, id, user, world_on};

/// Alice's keys: 0-5 hers, 6-8 the attacker's own devices; 9 is Mallory's.
const KEYS: u8 = 10;
const MALLORY_KEY: u8 = 9;

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn mallory() -> AccountId {
    AccountId::new("mallory")
}

/// How a change is stepped up.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// Alice's two factors.
    Factors,
    /// Alice's passkey `key`, with or without user verification.
    Passkey { key: u8, uv: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Add,
    Delete,
    Replace,
    RevokeDex,
    AuthorizeDex,
}

#[derive(Clone, Debug)]
enum Op {
    Advance(i64),
    // Alice, with her devices and factors.
    Register {
        key: u8,
        pay: bool,
        via: Via,
    },
    Delete {
        target: u8,
        via: Via,
    },
    Replace {
        target: u8,
        new_key: u8,
        via: Via,
        terms: bool,
    },
    AuthorizeDex {
        key: u8,
        uv: bool,
        terms: bool,
    },
    RevokeDex {
        target: u8,
        via: Via,
    },
    Use {
        key: u8,
        intent: Intent,
    },
    // The attacker.
    StolenPay {
        intent: Intent,
    },
    StolenPayStepUp {
        kind: Kind,
        target: u8,
    },
    Foreign {
        intent: Intent,
    },
    Replay,
    OldToken {
        which: u8,
        kind: Kind,
        target: u8,
        new_key: u8,
    },
    Factors {
        kind: Kind,
        target: u8,
        new_key: u8,
        two: bool,
        terms: bool,
    },
    // Account-wide: the user, an operator, and the attacker's attempts.
    Freeze,
    /// The operator unfreezes after the identity check.
    Unfreeze,
    /// The attacker tries to unfreeze with what it holds (factors, a passkey token).
    AttackerUnfreeze {
        which: u8,
    },
    PasskeyRequired {
        on: bool,
        via: Via,
    },
    /// The attacker tries to turn the mode off with factors or an old token.
    AttackerModeOff {
        which: u8,
    },
    /// An operator revokes one of Alice's passkeys as compromised.
    OperatorRevoke {
        target: u8,
    },
    /// Alice recovers a scope after the identity check, or (`identity` false) the
    /// attacker tries with her factors.
    Recover {
        new_key: u8,
        pay: bool,
        identity: bool,
    },
    /// The attacker uses a revoked passkey it stole: for an intent, and to register again.
    UseRevoked {
        which: u8,
        intent: Intent,
    },
    /// A registration started now (with the step-up `via` makes now) and left in flight
    /// for [`Op::FinishLater`].
    StartLater {
        key: u8,
        pay: bool,
        via: Via,
    },
    /// Finishes the registration in flight, whatever happened since it started.
    FinishLater,
    /// A step-up by `key` for a change of `target`, answered now and finished by
    /// [`Op::FinishStepUpLater`].
    StepUpLater {
        key: u8,
        kind: Kind,
        target: u8,
    },
    /// Finishes the step-up in flight; its token joins the session.
    FinishStepUpLater,
}

/// What the attacker holds besides Alice's session.
#[derive(Clone, Copy, Debug)]
struct Caps {
    stolen_pay: bool,
    other_account: bool,
    captured: bool,
    old_tokens: bool,
    factors: bool,
}

fn intent() -> impl Strategy<Value = Intent> {
    prop::sample::select(Intent::ALL.to_vec())
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![
        1 => Just(Via::Factors),
        3 => (0u8..6, prop::bool::weighted(0.85)).prop_map(|(key, uv)| Via::Passkey { key, uv }),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(vec![
        Kind::Add,
        Kind::Delete,
        Kind::Replace,
        Kind::RevokeDex,
        Kind::AuthorizeDex,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    let any_key = 0u8..9;
    prop_oneof![
        1 => prop::sample::select(vec![60i64, 301, 3_600, 25 * 3_600]).prop_map(Op::Advance),
        4 => (key.clone(), prop::bool::weighted(0.3), via())
            .prop_map(|(key, pay, via)| Op::Register { key, pay, via }),
        2 => (any_key.clone(), via()).prop_map(|(target, via)| Op::Delete { target, via }),
        2 => (key.clone(), 0u8..9, via(), any::<bool>())
            .prop_map(|(target, new_key, via, terms)| Op::Replace { target, new_key, via, terms }),
        2 => (key.clone(), prop::bool::weighted(0.8), prop::bool::weighted(0.8))
            .prop_map(|(key, uv, terms)| Op::AuthorizeDex { key, uv, terms }),
        1 => (key.clone(), via()).prop_map(|(target, via)| Op::RevokeDex { target, via }),
        4 => (key.clone(), intent()).prop_map(|(key, intent)| Op::Use { key, intent }),
        2 => intent().prop_map(|intent| Op::StolenPay { intent }),
        1 => (kind(), any_key.clone()).prop_map(|(kind, target)| Op::StolenPayStepUp { kind, target }),
        2 => intent().prop_map(|intent| Op::Foreign { intent }),
        1 => Just(Op::Replay),
        3 => (any::<u8>(), kind(), any_key.clone(), 6u8..9)
            .prop_map(|(which, kind, target, new_key)| Op::OldToken { which, kind, target, new_key }),
        3 => (kind(), any_key.clone(), 6u8..9, any::<bool>(), any::<bool>()).prop_map(
            |(kind, target, new_key, two, terms)| Op::Factors { kind, target, new_key, two, terms }
        ),
        1 => Just(Op::Freeze),
        2 => Just(Op::Unfreeze),
        1 => any::<u8>().prop_map(|which| Op::AttackerUnfreeze { which }),
        2 => (any::<bool>(), via()).prop_map(|(on, via)| Op::PasskeyRequired { on, via }),
        1 => any::<u8>().prop_map(|which| Op::AttackerModeOff { which }),
        1 => any_key.clone().prop_map(|target| Op::OperatorRevoke { target }),
        1 => (0u8..9, prop::bool::weighted(0.3), prop::bool::weighted(0.7))
            .prop_map(|(new_key, pay, identity)| Op::Recover { new_key, pay, identity }),
        1 => (any::<u8>(), intent()).prop_map(|(which, intent)| Op::UseRevoked { which, intent }),
        2 => (key.clone(), prop::bool::weighted(0.3), via())
            .prop_map(|(key, pay, via)| Op::StartLater { key, pay, via }),
        2 => Just(Op::FinishLater),
        2 => (key.clone(), kind(), any_key.clone())
            .prop_map(|(key, kind, target)| Op::StepUpLater { key, kind, target }),
        2 => Just(Op::FinishStepUpLater),
    ]
}

fn caps() -> impl Strategy<Value = Caps> {
    any::<[bool; 5]>().prop_map(|c| Caps {
        stolen_pay: c[0],
        other_account: c[1],
        captured: c[2],
        old_tokens: c[3],
        factors: c[4],
    })
}

/// A token and the scope it was made in, as the attacker finds it in the session.
struct Held {
    token: StepUpToken,
    scope: Scope,
}

/// The harness: the service, every key, and what the calls returned.
struct Play<S> {
    w: World<S>,
    keys: Vec<Authenticator>,
    /// Alice's events, in the order the calls returned them.
    returned: Vec<Event>,
    mallory_events: usize,
    tokens: Vec<Held>,
    captured: Option<(AuthenticationResponse, Option<Vec<u8>>)>,
    answered: BTreeSet<String>,
    /// A registration in flight: its response and the step-up its finish brings.
    later: Option<(RegistrationResponse, StepUp)>,
    /// A step-up in flight: its answered response and the scope it was made in.
    step_up_later: Option<(AuthenticationResponse, Scope)>,
}

/// What a call was, for the DEX rule: which DEX authorizations it may grant.
enum Call {
    /// `authorize_dex` of `key`, with a token made by `by` (with UV), and the terms.
    AuthorizeDex {
        key: u8,
        by: Option<u8>,
        terms: bool,
    },
    /// A replacement whose successor is `new_key`, with the terms.
    Replace {
        new_key: u8,
        terms: bool,
    },
    /// The operator's unfreeze, after the identity check.
    Unfreeze,
    Other,
}

impl<S: Store> Play<S> {
    fn new(store: S) -> Self {
        let keys = (0..KEYS)
            .map(|n| Authenticator::new(SoftKey::es256([0x40 + n; 32])))
            .collect();
        let mut play = Self {
            w: world_on(store),
            keys,
            returned: Vec::new(),
            mallory_events: 0,
            tokens: Vec::new(),
            captured: None,
            answered: BTreeSet::new(),
            later: None,
            step_up_later: None,
        };
        let factors = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
        let first = play.register_key(&alice(), 0, Scope::Exchange, &factors, None, false);
        play.record(first.unwrap().events, &Call::Other);
        let pay = play.register_key(&alice(), 1, Scope::Pay, &factors, None, false);
        play.record(pay.unwrap().events, &Call::Other);
        let own = play.register_key(
            &mallory(),
            MALLORY_KEY,
            Scope::Exchange,
            &factors,
            None,
            false,
        );
        play.mallory_events = own.unwrap().events.len();
        play.check();
        play
    }

    fn key_id(&self, key: u8) -> CredentialId {
        id(&self.keys[usize::from(key)])
    }

    /// The scope a key is registered in for `account`, if it is.
    fn scope_of(&self, account: &AccountId, key: u8) -> Option<Scope> {
        let state = block_on(self.w.passkeys.store().load(account))
            .unwrap()
            .value;
        state.credential(&self.key_id(key)).map(|c| c.scope)
    }

    fn register_key(
        &mut self,
        account: &AccountId,
        key: u8,
        scope: Scope,
        step_up: &StepUp,
        replacing: Option<u8>,
        terms: bool,
    ) -> latchkey::Result<latchkey::Registered> {
        let user = user(account.as_str());
        let old = replacing.map(|k| self.key_id(k));
        let options = match &old {
            Some(old) => block_on(
                self.w
                    .passkeys
                    .start_replacement(account, &user, old, step_up),
            )?,
            None => block_on(
                self.w
                    .passkeys
                    .start_registration(account, &user, scope, step_up),
            )?,
        };
        let json =
            self.keys[usize::from(key)].registration_json(&self.w.client, &options.challenge);
        let response = RegistrationResponse::from_json(&json)?;
        let context = self.w.context.clone();
        match &old {
            Some(old) => block_on(
                self.w.passkeys.finish_replacement(
                    FinishReplacement::new(account, old, &response, step_up, &context)
                        .dex_terms_accepted(terms),
                ),
            ),
            None => block_on(self.w.passkeys.finish_registration(FinishRegistration::new(
                account, &response, step_up, &context,
            ))),
        }
    }

    /// `key` answers `options` as the passkey it is (of `holder`, in its scope there).
    fn answer(
        &mut self,
        key: u8,
        holder: &AccountId,
        challenge: &str,
        uv: bool,
    ) -> AuthenticationResponse {
        let scope = self.scope_of(holder, key).unwrap_or(Scope::Exchange);
        let handle = self.w.passkeys.user_handle(holder, scope);
        let authenticator = &mut self.keys[usize::from(key)];
        let flags = Flags::USER_PRESENT | Flags::BACKUP_ELIGIBLE | Flags::BACKED_UP;
        authenticator.set_flags(if uv {
            flags | Flags::USER_VERIFIED
        } else {
            flags
        });
        let json = authenticator.authentication_json(&self.w.client, challenge, &handle);
        AuthenticationResponse::from_json(&json).unwrap()
    }

    fn finish(
        &mut self,
        response: &AuthenticationResponse,
        transaction: Option<&[u8]>,
    ) -> latchkey::Result<Authenticated> {
        let context = self.w.context.clone();
        let done = block_on(self.w.passkeys.finish_authentication(
            FinishAuthentication::new(response, &context).transaction(transaction),
        ))?;
        // P16: a challenge answers once.
        let challenge = response.response.client_data_json.clone();
        assert!(
            self.answered.insert(challenge),
            "a challenge was answered twice"
        );
        Ok(done)
    }

    /// An assertion for Alice's `intent` by `key` (held by `holder`).
    fn assert_for(
        &mut self,
        intent: Intent,
        key: u8,
        holder: &AccountId,
    ) -> latchkey::Result<Authenticated> {
        let transaction = intent.is_signing().then(|| b"move 1 BTC".to_vec());
        let options = block_on(self.w.passkeys.start_authentication(
            &alice(),
            intent,
            transaction.as_deref(),
        ))?;
        let response = self.answer(key, holder, &options.challenge, true);
        let done = self.finish(&response, transaction.as_deref());
        if done.is_ok() && holder == &alice() {
            self.captured = Some((response, transaction));
        }
        done
    }

    /// A step-up by `key` (Alice's) for `change` in `scope`; its token joins the session.
    fn step_up(&mut self, key: u8, uv: bool, scope: Scope, change: Change) -> Option<StepUpToken> {
        let options = block_on(self.w.passkeys.start_step_up(&alice(), scope, &change)).ok()?;
        let response = self.answer(key, &alice(), &options.challenge, uv);
        let done = self.finish(&response, None).ok()?;
        assert!(uv, "P7: a step-up granted without user verification");
        assert_eq!(
            self.scope_of(&alice(), key),
            Some(scope),
            "P1: a step-up answered by a passkey of another scope"
        );
        self.record(done.events, &Call::Other);
        let token = done.step_up.expect("a step-up returns a token");
        self.tokens.push(Held {
            token: token.clone(),
            scope,
        });
        Some(token)
    }

    fn change_of(&self, kind: Kind, target: u8) -> Change {
        let id = self.key_id(target);
        match kind {
            Kind::Add => Change::AddPasskey,
            Kind::Delete => Change::Delete(id),
            Kind::Replace => Change::Replace(id),
            Kind::RevokeDex => Change::RevokeDex(id),
            Kind::AuthorizeDex => Change::AuthorizeDex(id),
        }
    }

    /// The step-up for `change` as `via` makes it (Alice's factors or a passkey of hers).
    fn stepped(&mut self, via: Via, scope: Scope, change: Change) -> StepUp {
        match via {
            Via::Factors => StepUp::Factors(vec![Factor::Email, Factor::Totp]),
            Via::Passkey { key, uv } => match self.step_up(key, uv, scope, change) {
                Some(token) => StepUp::Passkey(token),
                None => StepUp::None,
            },
        }
    }

    /// Carries out a change `kind` of `target` with `step_up`; `new_key` for additions.
    fn change(
        &mut self,
        kind: Kind,
        target: u8,
        new_key: u8,
        scope: Scope,
        step_up: &StepUp,
        terms: bool,
    ) {
        let id = self.key_id(target);
        let context = self.w.context.clone();
        let (events, call) = match kind {
            Kind::Add => (
                self.register_key(&alice(), new_key, scope, step_up, None, false)
                    .map(|r| r.events),
                Call::Other,
            ),
            Kind::Replace => (
                self.register_key(&alice(), new_key, scope, step_up, Some(target), terms)
                    .map(|r| r.events),
                Call::Replace { new_key, terms },
            ),
            Kind::Delete => (
                block_on(self.w.passkeys.delete(&alice(), &id, step_up, &context))
                    .map(|d| d.events),
                Call::Other,
            ),
            Kind::RevokeDex => (
                block_on(self.w.passkeys.revoke_dex(&alice(), &id, step_up, &context))
                    .map(|c| c.events),
                Call::Other,
            ),
            Kind::AuthorizeDex => {
                let StepUp::Passkey(token) = step_up else {
                    return;
                };
                let by = self.token_maker(token);
                (
                    block_on(
                        self.w
                            .passkeys
                            .authorize_dex(&alice(), &id, token, terms, &context),
                    )
                    .map(|c| c.events),
                    Call::AuthorizeDex {
                        key: target,
                        by,
                        terms,
                    },
                )
            }
        };
        if let Ok(events) = events {
            self.record(events, &call);
        }
    }

    /// Which key's assertion made a token (from the grants in the history).
    fn token_maker(&self, token: &StepUpToken) -> Option<u8> {
        let held = self.tokens.iter().position(|h| &h.token == token)?;
        let grants: Vec<&CredentialId> = self
            .returned
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepUpGranted { grant } => Some(&grant.credential),
                _ => None,
            })
            .collect();
        let credential = grants.get(held)?;
        (0..KEYS).find(|k| &self.key_id(*k) == *credential)
    }

    /// Alice's passkeys, as key numbers: the `k`-th (cycling), so that generated
    /// operations mostly name passkeys that exist.
    fn mine(&self, k: u8) -> u8 {
        let state = block_on(self.w.passkeys.store().load(&alice()))
            .unwrap()
            .value;
        let held: Vec<u8> = (0..KEYS)
            .filter(|n| state.credential(&self.key_id(*n)).is_some())
            .collect();
        if held.is_empty() {
            return k;
        }
        held[usize::from(k) % held.len()]
    }

    /// A key of `range` that Alice does not hold: the `k`-th (cycling).
    fn fresh(&self, k: u8, range: std::ops::Range<u8>) -> u8 {
        let state = block_on(self.w.passkeys.store().load(&alice()))
            .unwrap()
            .value;
        let free: Vec<u8> = range
            .clone()
            .filter(|n| state.credential(&self.key_id(*n)).is_none())
            .collect();
        free.get(usize::from(k) % free.len().max(1))
            .copied()
            .unwrap_or(range.start)
    }

    fn via(&self, via: Via) -> Via {
        match via {
            Via::Passkey { key, uv } => Via::Passkey {
                key: self.mine(key),
                uv,
            },
            Via::Factors => Via::Factors,
        }
    }

    fn run(&mut self, op: &Op, caps: Caps) {
        match op.clone() {
            Op::Advance(seconds) => {
                let now = self.w.clock.now();
                self.w.clock.set(now.plus_seconds(seconds));
            }
            Op::Register { key, pay, via } => {
                let scope = if pay { Scope::Pay } else { Scope::Exchange };
                let (key, via) = (self.fresh(key, 0..6), self.via(via));
                let step_up = self.stepped(via, scope, Change::AddPasskey);
                self.change(Kind::Add, key, key, scope, &step_up, false);
            }
            Op::Delete { target, via } => {
                let (target, via) = (self.mine(target), self.via(via));
                let scope = self.scope_of(&alice(), target).unwrap_or(Scope::Exchange);
                let step_up = self.stepped(via, scope, self.change_of(Kind::Delete, target));
                self.change(Kind::Delete, target, target, scope, &step_up, false);
            }
            Op::Replace {
                target,
                new_key,
                via,
                terms,
            } => {
                let (target, via) = (self.mine(target), self.via(via));
                let new_key = self.fresh(new_key, 0..6);
                let scope = self.scope_of(&alice(), target).unwrap_or(Scope::Exchange);
                let step_up = self.stepped(via, scope, self.change_of(Kind::Replace, target));
                self.change(Kind::Replace, target, new_key, scope, &step_up, terms);
            }
            Op::AuthorizeDex { key, uv, terms } => {
                let key = self.mine(key);
                let change = self.change_of(Kind::AuthorizeDex, key);
                if let Some(token) = self.step_up(key, uv, Scope::Exchange, change) {
                    let step_up = StepUp::Passkey(token);
                    self.change(
                        Kind::AuthorizeDex,
                        key,
                        key,
                        Scope::Exchange,
                        &step_up,
                        terms,
                    );
                }
            }
            Op::RevokeDex { target, via } => {
                let (target, via) = (self.mine(target), self.via(via));
                let change = self.change_of(Kind::RevokeDex, target);
                let step_up = self.stepped(via, Scope::Exchange, change);
                self.change(
                    Kind::RevokeDex,
                    target,
                    target,
                    Scope::Exchange,
                    &step_up,
                    false,
                );
            }
            Op::Use { key, intent } => {
                let key = self.mine(key);
                self.use_passkey(intent, key, &alice());
            }
            Op::StolenPay { intent } if caps.stolen_pay => {
                if let Some(key) = self.pay_key() {
                    self.use_passkey(intent, key, &alice());
                }
            }
            Op::StolenPayStepUp { kind, target } if caps.stolen_pay => {
                if let Some(key) = self.pay_key() {
                    let change = self.change_of(kind, self.mine(target));
                    // Asking for an Exchange step-up, answering with the Pay passkey.
                    let _ = self.step_up(key, true, Scope::Exchange, change);
                }
            }
            Op::Foreign { intent } if caps.other_account => {
                let done = self.assert_for(intent, MALLORY_KEY, &mallory());
                assert!(done.is_err(), "P15: Mallory's passkey answered for Alice");
            }
            Op::Replay if caps.captured => {
                if let Some((response, transaction)) = self.captured.clone() {
                    let context = self.w.context.clone();
                    let replay = block_on(
                        self.w.passkeys.finish_authentication(
                            FinishAuthentication::new(&response, &context)
                                .transaction(transaction.as_deref()),
                        ),
                    );
                    assert!(
                        replay.is_err(),
                        "P16: a captured response was accepted again"
                    );
                }
            }
            Op::OldToken {
                which,
                kind,
                target,
                new_key,
            } if caps.old_tokens => {
                let Some(held) = self
                    .tokens
                    .get(usize::from(which) % self.tokens.len().max(1))
                else {
                    return;
                };
                let (token, scope) = (held.token.clone(), held.scope);
                let (target, new_key) = (self.mine(target), self.fresh(new_key, 6..9));
                self.change(kind, target, new_key, scope, &StepUp::Passkey(token), true);
            }
            Op::Factors {
                kind,
                target,
                new_key,
                two,
                terms,
            } if caps.factors => {
                let factors = if two {
                    vec![Factor::Sms, Factor::Email]
                } else {
                    vec![Factor::Sms]
                };
                let (target, new_key) = (self.mine(target), self.fresh(new_key, 6..9));
                let scope = self.scope_of(&alice(), target).unwrap_or(Scope::Exchange);
                self.change(
                    kind,
                    target,
                    new_key,
                    scope,
                    &StepUp::Factors(factors),
                    terms,
                );
            }
            other => self.run_account(&other, caps),
        }
        self.check();
    }

    /// The account-wide operations (P18-P20).
    fn run_account(&mut self, op: &Op, caps: Caps) {
        let context = self.w.context.clone();
        let operator = latchkey::RequestContext {
            actor: latchkey::Actor::Operator("ops".into()),
            ..latchkey::RequestContext::default()
        };
        let identity = StepUp::Factors(vec![Factor::IdDocument, Factor::Face]);
        match op.clone() {
            Op::Freeze => {
                let done = block_on(self.w.passkeys.freeze(&alice(), "user_request", &context));
                self.record(done.unwrap().events, &Call::Other);
            }
            Op::Unfreeze => {
                let done = block_on(self.w.passkeys.unfreeze(&alice(), &identity, &operator));
                self.record(done.unwrap().events, &Call::Unfreeze);
            }
            Op::AttackerUnfreeze { which } => {
                let step_up = match self
                    .tokens
                    .get(usize::from(which) % self.tokens.len().max(1))
                {
                    Some(held) if which % 2 == 0 => StepUp::Passkey(held.token.clone()),
                    _ => StepUp::Factors(vec![Factor::Sms, Factor::Email, Factor::Totp]),
                };
                let done = block_on(self.w.passkeys.unfreeze(&alice(), &step_up, &context));
                assert!(done.is_err(), "P18: unfrozen without the identity check");
            }
            Op::PasskeyRequired { on, via } => {
                let change = if on {
                    Change::PasskeyRequiredOn
                } else {
                    Change::PasskeyRequiredOff
                };
                let via = self.via(via);
                let step_up = self.stepped(via, Scope::Exchange, change);
                if let Ok(done) = block_on(self.w.passkeys.set_passkey_required(
                    &alice(),
                    on,
                    &step_up,
                    &context,
                )) {
                    self.record(done.events, &Call::Other);
                }
            }
            Op::AttackerModeOff { which } if caps.factors || caps.old_tokens => {
                let step_up = match self
                    .tokens
                    .get(usize::from(which) % self.tokens.len().max(1))
                {
                    Some(held) if caps.old_tokens => StepUp::Passkey(held.token.clone()),
                    _ => StepUp::Factors(vec![Factor::Sms, Factor::Email]),
                };
                let was_on = block_on(self.w.passkeys.passkey_required(&alice())).unwrap();
                if let Ok(done) = block_on(self.w.passkeys.set_passkey_required(
                    &alice(),
                    false,
                    &step_up,
                    &context,
                )) {
                    // Only an unspent Exchange grant for exactly this change turns it off;
                    // the history check says which grant it spent.
                    assert!(
                        !was_on || matches!(step_up, StepUp::Passkey(_)),
                        "P19: the mode went off with factors"
                    );
                    self.record(done.events, &Call::Other);
                }
            }
            Op::OperatorRevoke { target } => {
                let id = self.key_id(self.mine(target));
                if let Ok(done) = block_on(self.w.passkeys.revoke_compromised(
                    &alice(),
                    &id,
                    "compromised",
                    &operator,
                )) {
                    self.record(done.events, &Call::Other);
                }
            }
            Op::Recover {
                new_key,
                pay,
                identity: checked,
            } => {
                let scope = if pay { Scope::Pay } else { Scope::Exchange };
                let step_up = if checked {
                    identity
                } else if caps.factors {
                    StepUp::Factors(vec![Factor::Sms, Factor::Email])
                } else {
                    return;
                };
                let new_key = self.fresh(new_key, 0..9);
                let done = self.recover(new_key, scope, &step_up);
                assert!(
                    checked || done.is_err(),
                    "P20: recovered without the identity check"
                );
                if let Ok(done) = done {
                    self.record(done.events, &Call::Other);
                }
            }
            Op::UseRevoked { which, intent } => {
                let revoked = self.revoked_keys();
                let Some(key) = revoked.get(usize::from(which) % revoked.len().max(1)) else {
                    return;
                };
                let key = *key;
                let done = self.assert_for(intent, key, &alice());
                assert!(done.is_err(), "P20: a revoked passkey answered {intent:?}");
                let factors = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
                let again =
                    self.register_key(&alice(), key, Scope::Exchange, &factors, None, false);
                assert!(again.is_err(), "P20: a revoked passkey registered again");
                let elsewhere =
                    self.register_key(&mallory(), key, Scope::Exchange, &factors, None, false);
                assert!(
                    elsewhere.is_err(),
                    "P20: a revoked passkey registered by Mallory"
                );
                let granted = self.step_up(key, true, Scope::Exchange, Change::AddPasskey);
                assert!(granted.is_none(), "P20: a revoked passkey made a step-up");
            }
            Op::StartLater { key, pay, via } => {
                let scope = if pay { Scope::Pay } else { Scope::Exchange };
                let (key, via) = (self.fresh(key, 0..9), self.via(via));
                let step_up = self.stepped(via, scope, Change::AddPasskey);
                let Ok(options) = block_on(self.w.passkeys.start_registration(
                    &alice(),
                    &user("alice"),
                    scope,
                    &step_up,
                )) else {
                    return;
                };
                let json = self.keys[usize::from(key)]
                    .registration_json(&self.w.client, &options.challenge);
                let response = RegistrationResponse::from_json(&json).unwrap();
                self.later = Some((response, step_up));
            }
            Op::FinishLater => {
                let Some((response, step_up)) = self.later.take() else {
                    return;
                };
                if let Ok(done) = block_on(self.w.passkeys.finish_registration(
                    FinishRegistration::new(&alice(), &response, &step_up, &context),
                )) {
                    self.record(done.events, &Call::Other);
                }
            }
            Op::StepUpLater { key, kind, target } => {
                let key = self.mine(key);
                let Some(scope) = self.scope_of(&alice(), key) else {
                    return;
                };
                let change = self.change_of(kind, self.mine(target));
                let Ok(options) = block_on(self.w.passkeys.start_step_up(&alice(), scope, &change))
                else {
                    return;
                };
                let response = self.answer(key, &alice(), &options.challenge, true);
                self.step_up_later = Some((response, scope));
            }
            Op::FinishStepUpLater => {
                let Some((response, scope)) = self.step_up_later.take() else {
                    return;
                };
                if let Ok(done) = self.finish(&response, None) {
                    self.record(done.events, &Call::Other);
                    let token = done.step_up.expect("a step-up returns a token");
                    self.tokens.push(Held { token, scope });
                }
            }
            _ => {}
        }
    }

    fn recover(
        &mut self,
        key: u8,
        scope: Scope,
        step_up: &StepUp,
    ) -> latchkey::Result<latchkey::Registered> {
        let options = block_on(self.w.passkeys.start_recovery(
            &alice(),
            &user("alice"),
            scope,
            step_up,
        ))?;
        let json =
            self.keys[usize::from(key)].registration_json(&self.w.client, &options.challenge);
        let response = RegistrationResponse::from_json(&json)?;
        let context = self.w.context.clone();
        block_on(
            self.w
                .passkeys
                .finish_recovery(latchkey::FinishRecovery::new(
                    &alice(),
                    &response,
                    step_up,
                    &context,
                )),
        )
    }

    /// Alice's keys revoked so far, by number.
    fn revoked_keys(&self) -> Vec<u8> {
        let state = block_on(self.w.passkeys.store().load(&alice()))
            .unwrap()
            .value;
        (0..KEYS)
            .filter(|k| state.is_revoked(&self.key_id(*k)))
            .collect()
    }

    /// One of Alice's Pay passkeys, if she has one.
    fn pay_key(&self) -> Option<u8> {
        (0..9).find(|k| self.scope_of(&alice(), *k) == Some(Scope::Pay))
    }

    /// A use of `key` for Alice's `intent`, checked against P1, P2 and P8 when accepted.
    fn use_passkey(&mut self, intent: Intent, key: u8, holder: &AccountId) {
        let locked_before = self.locked_until();
        let dex_before = self.dex_keys();
        let Ok(done) = self.assert_for(intent, key, holder) else {
            return;
        };
        assert_eq!(done.account, alice());
        assert_eq!(
            done.scope,
            intent.scope(),
            "P1: {intent:?} answered by the other scope"
        );
        assert_eq!(self.scope_of(&alice(), key), Some(intent.scope()), "P1");
        if intent.needs_dex() {
            assert!(
                dex_before.contains(&done.credential),
                "P2: {intent:?} without DEX"
            );
        }
        // Funds out, as PRODUCT.md lists them: the harness's own list, not the config's.
        if matches!(intent, Intent::Withdrawal | Intent::DexTransfer) {
            let now = self.w.clock.now();
            assert!(
                locked_before.is_none_or(|until| now >= until),
                "P8: {intent:?} in a lock"
            );
        }
        self.record(done.events, &Call::Other);
    }

    /// Takes what a call appended for Alice, checking the DEX rule on it (P2).
    fn record(&mut self, events: Vec<Event>, call: &Call) {
        for event in &events {
            if let EventKind::DexAuthorized { credential } = &event.kind {
                let allowed = match call {
                    Call::AuthorizeDex { key, by, terms } => {
                        *terms && *by == Some(*key) && self.key_id(*key) == *credential
                    }
                    Call::Replace { new_key, terms } => {
                        *terms && self.key_id(*new_key) == *credential
                    }
                    Call::Unfreeze | Call::Other => false,
                };
                assert!(
                    allowed,
                    "P2: DEX authorization of {credential:?} by {}",
                    describe(call)
                );
            }
            if matches!(event.kind, EventKind::Unfrozen) {
                assert!(
                    matches!(call, Call::Unfreeze),
                    "P18: unfrozen without the identity check"
                );
            }
        }
        self.returned.extend(events);
    }

    fn locked_until(&self) -> Option<Timestamp> {
        self.returned
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::WithdrawalLocked { until } => Some(until),
                _ => None,
            })
            .max()
    }

    fn dex_keys(&self) -> BTreeSet<CredentialId> {
        let state = block_on(self.w.passkeys.store().load(&alice()))
            .unwrap()
            .value;
        state
            .credentials
            .iter()
            .filter(|c| c.dex_authorized)
            .map(|c| c.id.clone())
            .collect()
    }

    /// The invariants that hold whatever the last step was.
    fn check(&self) {
        let history = full_history(&self.w, &alice());
        assert_eq!(
            history, self.returned,
            "P14: the history is what the calls returned"
        );
        assert_eq!(full_history(&self.w, &mallory()).len(), self.mallory_events);
        let mut scopes: HashMap<CredentialId, Scope> = HashMap::new();
        let mut grants: BTreeMap<[u8; 32], Change> = BTreeMap::new();
        // Who made each grant, and in which scope.
        let mut makers: BTreeMap<[u8; 32], (CredentialId, Scope)> = BTreeMap::new();
        let mut redeemed = BTreeSet::new();
        let mut state = latchkey::policy::AccountState::default();
        let mut had = BTreeSet::new();
        let mut revoked = BTreeSet::new();
        let mut previous: Option<&EventKind> = None;
        for event in &history {
            // P18: a frozen account records no change and no use but login (a recovery,
            // which registers, neither).
            if state.is_frozen() {
                let allowed = match &event.kind {
                    EventKind::Frozen { .. }
                    | EventKind::Unfrozen
                    | EventKind::Revoked { .. }
                    | EventKind::WithdrawalLocked { .. } => true,
                    EventKind::Used { intent, .. } => *intent == Intent::Login,
                    _ => false,
                };
                assert!(allowed, "P18: {:?} while frozen", event.kind);
            }
            match &event.kind {
                EventKind::Registered { credential } => {
                    assert!(
                        !revoked.contains(&credential.id),
                        "P20: a revoked id registered again"
                    );
                    scopes.insert(credential.id.clone(), credential.scope);
                }
                EventKind::Revoked { credential, .. } => {
                    revoked.insert(credential.clone());
                }
                EventKind::PasskeyRequiredSet { on: false } => {
                    let Some(EventKind::StepUpRedeemed {
                        proof,
                        change: Change::PasskeyRequiredOff,
                    }) = previous
                    else {
                        panic!("P19: the mode went off without its Exchange grant");
                    };
                    let (maker, scope) = &makers[proof.as_bytes()];
                    assert_eq!(*scope, Scope::Exchange, "P19: a grant of another scope");
                    assert_eq!(
                        scopes.get(maker),
                        Some(&Scope::Exchange),
                        "P19: turned off by a passkey of another scope"
                    );
                }
                EventKind::Used {
                    credential, intent, ..
                } => {
                    assert!(!revoked.contains(credential), "P20: a revoked passkey used");
                    assert_eq!(
                        scopes.get(credential),
                        Some(&intent.scope()),
                        "P1 in the history"
                    );
                }
                EventKind::StepUpGranted { grant } => {
                    assert!(
                        !revoked.contains(&grant.credential),
                        "P20: a revoked passkey granted a step-up"
                    );
                    assert_eq!(
                        scopes.get(&grant.credential),
                        Some(&grant.scope),
                        "P1 grant"
                    );
                    grants.insert(*grant.proof.as_bytes(), grant.change.clone());
                    makers.insert(
                        *grant.proof.as_bytes(),
                        (grant.credential.clone(), grant.scope),
                    );
                }
                EventKind::StepUpRedeemed { proof, change } => {
                    assert!(
                        redeemed.insert(*proof.as_bytes()),
                        "P7: a proof redeemed twice"
                    );
                    assert_eq!(
                        grants.get(proof.as_bytes()),
                        Some(change),
                        "P7: another change"
                    );
                    // P20: a grant dies with the passkey that made it.
                    let (maker, _) = &makers[proof.as_bytes()];
                    assert!(
                        !revoked.contains(maker) && state.credential(maker).is_some(),
                        "P20: a grant redeemed after its passkey was revoked or deleted"
                    );
                }
                _ => {}
            }
            state = latchkey::policy::apply(state, std::slice::from_ref(event));
            let by_revocation = matches!(event.kind, EventKind::Revoked { .. });
            previous = Some(&event.kind);
            for realm in [
                latchkey::policy::Realm::Exchange,
                latchkey::policy::Realm::Dex,
                latchkey::policy::Realm::Pay,
            ] {
                if state.count(realm) > 0 {
                    had.insert(realm);
                } else if by_revocation {
                    // P20: the one exception to P3.
                    had.remove(&realm);
                } else {
                    assert!(!had.contains(&realm), "P3: {realm:?} fell to zero");
                }
            }
        }
    }
}

fn describe(call: &Call) -> &'static str {
    match call {
        Call::AuthorizeDex { .. } => "authorize_dex",
        Call::Replace { .. } => "a replacement",
        Call::Unfreeze => "an unfreeze",
        Call::Other => "a call that must not authorize",
    }
}

fn full_history<S: Store>(w: &World<S>, account: &AccountId) -> Vec<Event> {
    let mut events = Vec::new();
    let mut start = 0;
    loop {
        let page = block_on(
            w.passkeys
                .history(account, start, latchkey::MAX_HISTORY_PAGE),
        )
        .unwrap();
        events.extend(page.events);
        match page.next {
            Some(next) => start = next,
            None => return events,
        }
    }
}

fn play<S: Store>(store: S, caps: Caps, ops: &[Op]) {
    let mut play = Play::new(store);
    for op in ops {
        play.run(op, caps);
    }
    // `ATTACKER_STATS=1 cargo test -p latchkey --test attacker -- --nocapture` shows how
    // far each run got: the events the accepted calls appended, by kind.
    if std::env::var_os("ATTACKER_STATS").is_some() {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for e in &play.returned {
            let name = format!("{:?}", e.kind);
            let name = name.split([' ', '{']).next().unwrap_or("").to_owned();
            *kinds.entry(name).or_default() += 1;
        }
        eprintln!("ops {} events {:?}", ops.len(), kinds);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_policy_holds_against_an_attacker_on_memory(
        caps in caps(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        play(MemoryStore::new(), caps, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_policy_holds_against_an_attacker_on_sqlite(
        caps in caps(),
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let dir = std::env::temp_dir().join(format!(
            "latchkey-attacker-{}-{}.sqlite",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let store = latchkey_store_sqlite::SqliteStore::open(&dir).unwrap();
        play(store, caps, &ops);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", dir.display()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_policy_holds_against_an_attacker_on_postgres(
        caps in caps(),
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let Some(url) = postgres_url() else { return Ok(()) };
        let mut options = latchkey_store_postgres::Options::default();
        options.schema = Some(format!(
            "latchkey_attacker_{}_{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        let store = block_on(latchkey_store_postgres::PostgresStore::connect(&url, options.clone())).unwrap();
        play(store, caps, &ops);
        let cleanup = block_on(latchkey_store_postgres::PostgresStore::connect(&url, options)).unwrap();
        block_on(cleanup.drop_schema()).unwrap();
    }
}

/// The PostgreSQL server, or `None` (after saying so) when the test should skip: CI sets
/// `LATCHKEY_REQUIRE_POSTGRES=1`, and then a missing server fails.
fn postgres_url() -> Option<String> {
    match std::env::var("LATCHKEY_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_some() => {
            panic!("LATCHKEY_POSTGRES_URL is not set and LATCHKEY_REQUIRE_POSTGRES is")
        }
        Err(_) => {
            eprintln!("attacker on PostgreSQL: skipped, LATCHKEY_POSTGRES_URL is not set");
            None
        }
    }
}
