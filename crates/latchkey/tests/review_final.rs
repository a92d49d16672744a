//! Final review: attacks on the recently changed rules (P18 freeze voiding grants, P20
//! revoked keys, the revocation lock, operator ids, P6 names) through the public API.
//! Each test asserts what PRODUCT.md demands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod support;

use latchkey::json::{RegistrationResponse, b64, unb64};
use latchkey::{
    AccountId, Actor, Change, FinishRecovery, Intent, RequestContext, Scope, StepUp, Store,
};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{World, code, factors, id, identity, operator, user, world};

fn key(n: u8) -> Authenticator {
    Authenticator::new(SoftKey::es256([0x90 + n; 32]))
}

fn alice() -> AccountId {
    AccountId::new("alice")
}

fn mallory() -> AccountId {
    AccountId::new("mallory")
}

/// Alice with Exchange passkeys 1 (DEX-authorized) and 2, and Pay passkeys 10 and 11.
fn alice_world() -> (
    World,
    Authenticator,
    Authenticator,
    Authenticator,
    Authenticator,
) {
    let w = world();
    let (mut k1, k2, k10, k11) = (key(1), key(2), key(10), key(11));
    w.register(&alice(), &k1, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k2, Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &k10, Scope::Pay, factors()).unwrap();
    w.register(
        &alice(),
        &k11,
        Scope::Pay,
        StepUp::Factors(vec![latchkey::Factor::Email]),
    )
    .unwrap();
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(id(&key(1))),
        )
        .unwrap();
    block_on(
        w.passkeys
            .authorize_dex(&alice(), &id(&k1), &token, true, &w.context),
    )
    .unwrap();
    (w, k1, k2, k10, k11)
}

// ---------------------------------------------------------------------------------------
// (1) a freeze voids every step-up grant made before it
// ---------------------------------------------------------------------------------------

/// A step-up whose challenge was made before the freeze and answered after the unfreeze:
/// the grant belongs to the time before the freeze; it must serve no change.
#[test]
fn a_step_up_started_before_a_freeze_and_finished_after_the_unfreeze_serves_nothing() {
    let (w, mut k1, k2, _, _) = alice_world();
    let options = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ))
    .unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    let finished = w.finish(&response);
    if let Ok(done) = finished
        && let Some(token) = done.step_up
    {
        assert_eq!(
            code(block_on(w.passkeys.delete(
                &alice(),
                &id(&k2),
                &StepUp::Passkey(token),
                &w.context
            ))),
            "step_up_required"
        );
    }
    assert!(
        block_on(w.passkeys.list(&alice(), Scope::Exchange))
            .unwrap()
            .iter()
            .any(|c| c.id == id(&k2))
    );
}

/// The same with the clock moving between the steps: the finish is refused outright
/// (`step_up_required`, no token), and a step-up begun a second after the unfreeze serves.
#[test]
fn a_step_up_begun_before_a_freeze_is_refused_at_its_finish_and_a_later_one_serves() {
    use latchkey::Clock as _;
    let (w, mut k1, k2, _, _) = alice_world();
    let later = |seconds: i64| w.clock.set(w.clock.now().plus_seconds(seconds));
    let delete_k2 = Change::Delete(id(&k2));
    let options = block_on(
        w.passkeys
            .start_step_up(&alice(), Scope::Exchange, &delete_k2),
    )
    .unwrap();
    later(10);
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    later(10);
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    later(10);
    let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
    assert_eq!(code(w.finish(&response)), "step_up_required");
    let token = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &delete_k2,
        )
        .unwrap();
    block_on(
        w.passkeys
            .delete(&alice(), &id(&k2), &StepUp::Passkey(token), &w.context),
    )
    .unwrap();
}

/// Pay-scope grants and DEX grants made before a freeze are void after the unfreeze.
#[test]
fn pay_and_dex_grants_made_before_a_freeze_are_void_after_the_unfreeze() {
    let (w, mut k1, mut k2, mut k10, k11) = alice_world();
    let pay = w
        .step_up(
            &alice(),
            &mut k10,
            Scope::Pay,
            Scope::Pay,
            &Change::Delete(id(&k11)),
        )
        .unwrap();
    let dex = w
        .step_up(
            &alice(),
            &mut k2,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AuthorizeDex(id(&key(2))),
        )
        .unwrap();
    let revoke_dex = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::RevokeDex(id(&key(1))),
        )
        .unwrap();
    let add = w
        .step_up(
            &alice(),
            &mut k1,
            Scope::Exchange,
            Scope::Exchange,
            &Change::AddPasskey,
        )
        .unwrap();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
    assert_eq!(
        code(block_on(w.passkeys.delete(
            &alice(),
            &id(&k11),
            &StepUp::Passkey(pay),
            &w.context
        ))),
        "step_up_required"
    );
    assert_eq!(
        code(block_on(w.passkeys.authorize_dex(
            &alice(),
            &id(&k2),
            &dex,
            true,
            &w.context
        ))),
        "step_up_required"
    );
    let _ = revoke_dex;
    let add = StepUp::Passkey(add);
    assert_eq!(
        code(block_on(w.passkeys.start_registration(
            &alice(),
            &user("alice"),
            Scope::Exchange,
            &add
        ))),
        "step_up_required"
    );
}

/// A grant made while the account is frozen (a login-only account answering a step-up
/// challenge made before the freeze) is refused, and nothing made during the freeze
/// serves after the unfreeze.
#[test]
fn no_grant_comes_out_of_a_frozen_account() {
    let (w, mut k1, k2, _, _) = alice_world();
    block_on(w.passkeys.freeze(&alice(), "risk", &w.context)).unwrap();
    let started = block_on(w.passkeys.start_step_up(
        &alice(),
        Scope::Exchange,
        &Change::Delete(id(&k2)),
    ));
    if let Ok(options) = started {
        let response = w.answer(&mut k1, &options.challenge, &alice(), Scope::Exchange);
        let finished = w.finish(&response);
        block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
        if let Ok(done) = finished
            && let Some(token) = done.step_up
        {
            assert_eq!(
                code(block_on(w.passkeys.delete(
                    &alice(),
                    &id(&k2),
                    &StepUp::Passkey(token),
                    &w.context
                ))),
                "step_up_required"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// (2) a revoked public key is never registered again
// ---------------------------------------------------------------------------------------

/// The revoked key under a new credential id on ANOTHER account (registration in either
/// scope, and recovery) is refused with `duplicate_credential`.
#[test]
fn a_revoked_key_under_a_new_credential_id_is_refused_on_another_account() {
    let (w, _, _, _, _) = alice_world();
    let m = key(20);
    w.register(&mallory(), &m, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&key(1)), "phished", &operator()),
    )
    .unwrap();
    let same_key = Authenticator::new(SoftKey::es256([0x91; 32])).with_credential_id(vec![9; 16]);
    let mut accepted = Vec::new();
    for (n, scope) in [(9u8, Scope::Exchange), (12, Scope::Pay)] {
        let same_key = same_key.clone().with_credential_id(vec![n; 16]);
        if w.register(&mallory(), &same_key, scope, factors()).is_ok() {
            accepted.push(format!("registration {scope:?}"));
        }
    }
    let other = Authenticator::new(SoftKey::es256([0x91; 32])).with_credential_id(vec![10; 16]);
    let options = block_on(w.passkeys.start_recovery(
        &mallory(),
        &user("mallory"),
        Scope::Exchange,
        &identity(),
    ))
    .unwrap();
    let response =
        RegistrationResponse::from_json(&other.registration_json(&w.client, &options.challenge))
            .unwrap();
    if block_on(w.passkeys.finish_recovery(FinishRecovery::new(
        &mallory(),
        &response,
        &identity(),
        &operator(),
    )))
    .is_ok()
    {
        accepted.push("recovery".into());
    }
    assert!(
        accepted.is_empty(),
        "the revoked key came back via {accepted:?}"
    );
}

/// The revoked key on a brand-new account (no state at all yet).
#[test]
fn a_revoked_key_is_refused_on_a_fresh_account() {
    let (w, _, _, _, _) = alice_world();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&key(1)), "phished", &operator()),
    )
    .unwrap();
    let same_key = Authenticator::new(SoftKey::es256([0x91; 32])).with_credential_id(vec![11; 16]);
    assert_eq!(
        code(w.register(
            &AccountId::new("eve"),
            &same_key,
            Scope::Exchange,
            factors()
        )),
        "duplicate_credential"
    );
}

// ---------------------------------------------------------------------------------------
// (3) every revocation locks withdrawals
// ---------------------------------------------------------------------------------------

#[test]
fn every_revocation_locks_withdrawals_and_dex_transfers() {
    for victim in [1u8, 2, 10] {
        let (w, mut k1, _, _, _) = alice_world();
        block_on(w.passkeys.revoke_compromised(
            &alice(),
            &id(&key(victim)),
            "phished",
            &operator(),
        ))
        .unwrap();
        let who = if victim == 1 { key(2) } else { key(1) };
        let mut who = who;
        assert_eq!(
            code(w.authenticate(
                &alice(),
                &mut who,
                Scope::Exchange,
                Intent::Withdrawal,
                None
            )),
            "withdrawal_locked",
            "victim {victim}"
        );
        if victim != 1 {
            assert_eq!(
                code(w.authenticate(
                    &alice(),
                    &mut k1,
                    Scope::Exchange,
                    Intent::DexTransfer,
                    Some(b"tx")
                )),
                "withdrawal_locked",
                "victim {victim}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// (4) operator ids
// ---------------------------------------------------------------------------------------

#[test]
fn disguised_operator_ids_are_refused() {
    use latchkey::policy::{AccountState, Command, PolicyConfig, decide};
    let disguised = [
        "\u{3164}",
        "\u{115F}",
        "\u{FFA0}",
        "\u{2800}",
        "\u{00A0}",
        "\u{3000}",
        "\u{2028}",
        "\u{034F}",
        "\u{FE0F}",
        "\u{E0041}",
        "\u{17B4}",
        "\u{180B}",
        "ops-7 ",
        " ops-7",
        "ops-7\u{3164}",
        "ops-7\u{2800}",
        "ops\u{A0}7",
        "ops-7\u{034F}",
        "ops-7\u{FE0F}",
        "ops-7\u{E0100}",
        "ops-7\u{E0041}",
        "ops-7\u{17B4}",
        "ops-7\u{180B}",
        "ops-7\u{1680}",
        "ops-7\u{205F}",
        "ops-7\u{0085}",
        "ops-7\u{FFF0}",
    ];
    let mut accepted = Vec::new();
    for name in disguised {
        let actor = Actor::Operator(name.into());
        let context = RequestContext {
            actor: actor.clone(),
            ..RequestContext::default()
        };
        let decided = decide(
            &AccountState::default(),
            &Command::Freeze {
                reason: "risk".into(),
            },
            support::T0,
            &context,
            &PolicyConfig::default(),
        );
        if actor.is_named() || decided.is_ok() {
            accepted.push(name.escape_unicode().to_string());
        }
    }
    assert!(accepted.is_empty(), "accepted operator ids: {accepted:?}");
}

#[test]
fn the_engine_refuses_a_users_revocation_and_a_blank_operators() {
    use latchkey::policy::{AccountState, Command, PolicyConfig, decide};
    let w = world();
    w.register(&alice(), &key(1), Scope::Exchange, factors())
        .unwrap();
    w.register(&alice(), &key(2), Scope::Exchange, factors())
        .unwrap();
    let state: AccountState = block_on(w.passkeys.store().load(&alice())).unwrap().value;
    let command = Command::RevokeCompromised {
        credential: id(&key(1)),
        reason: "x".into(),
    };
    for actor in [
        Actor::User,
        Actor::Operator(String::new()),
        Actor::Operator("\u{3164}".into()),
        Actor::Operator("\u{2800}".into()),
        Actor::Operator("\u{A0}".into()),
    ] {
        let context = RequestContext {
            actor: actor.clone(),
            ..RequestContext::default()
        };
        assert!(
            decide(
                &state,
                &command,
                support::T0,
                &context,
                &PolicyConfig::default()
            )
            .is_err(),
            "{actor:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// (5) names
// ---------------------------------------------------------------------------------------

#[test]
fn invisible_and_spacing_tricks_are_refused_in_names() {
    let (w, k1, k2, _, _) = alice_world();
    block_on(w.passkeys.rename(&alice(), &id(&k1), "Laptop", &w.context)).unwrap();
    let candidates = [
        "Laptop\u{17B4}",
        "Laptop\u{17B5}",
        "Laptop\u{180B}",
        "Laptop\u{180C}",
        "Laptop\u{180D}",
        "Laptop\u{180F}",
        "Laptop\u{E0100}",
        "Laptop\u{E01EF}",
        "Lap\u{E0100}top",
        "Laptop\u{E0080}",
        "Laptop\u{E0FFF}",
        "Laptop\u{FFF0}",
        "Laptop\u{2065}",
        "Lap\u{2000}top",
        "Lap\u{200A}top",
        "Lap\u{202F}top",
        "Lap\u{205F}top",
        "Laptop\u{3164}\u{FE0F}",
        "Laptop \u{FE0F}",
        "Laptop \u{2764}\u{FE0F}\u{FE0F}",
        "Laptop \u{2764}\u{FE0E}\u{FE0F}",
        "Laptop\u{FE0F}\u{2764}",
        "Laptop\u{115F}",
        "\u{115F}Laptop",
        "Laptop\u{2800}",
        "Laptop\u{001C}",
        "Laptop\u{FFA0}",
    ];
    let mut accepted = Vec::new();
    for name in candidates {
        if block_on(w.passkeys.rename(&alice(), &id(&k2), name, &w.context)).is_ok() {
            accepted.push(name.escape_unicode().to_string());
        }
    }
    assert!(accepted.is_empty(), "accepted lookalikes: {accepted:?}");
}

/// Whitespace other than U+0020 at either end is trimmed away, never kept: the name
/// stored is the plain one.
#[test]
fn other_whitespace_at_the_ends_is_never_kept() {
    let (w, k1, _, _, _) = alice_world();
    for name in [
        "Laptop\u{1680}",
        "Laptop\u{0085}",
        "\u{3000}Laptop",
        "Laptop\u{0009}",
        "\u{000B}Laptop",
    ] {
        if let Ok(changed) = block_on(w.passkeys.rename(&alice(), &id(&k1), name, &w.context)) {
            let latchkey::EventKind::Renamed { name: stored, .. } = &changed.events[0].kind else {
                panic!("not a rename");
            };
            assert_eq!(stored, "Laptop", "{name:?}");
        }
    }
}

/// A variation selector after a combining mark (not a visible character of its own):
/// "Laptop\u{301}" and "Laptop\u{301}\u{FE0F}" render the same, so the second must be
/// refused.
#[test]
fn a_variation_selector_after_a_combining_mark_is_refused() {
    let (w, k1, _, _, _) = alice_world();
    block_on(
        w.passkeys
            .rename(&alice(), &id(&k1), "Laptop\u{301}", &w.context),
    )
    .unwrap();
    assert_eq!(
        code(block_on(w.passkeys.rename(
            &alice(),
            &id(&k1),
            "Laptop\u{301}\u{FE0F}",
            &w.context
        ))),
        "invalid_name"
    );
    assert_eq!(
        code(block_on(w.passkeys.rename(
            &alice(),
            &id(&k1),
            "Caf\u{E9}\u{301}\u{FE0E}",
            &w.context
        ))),
        "invalid_name"
    );
}

/// U+1D159 MUSICAL SYMBOL NULL NOTEHEAD draws nothing: "Laptop\u{1D159}" looks like
/// "Laptop".
#[test]
fn the_null_notehead_is_refused_in_names() {
    let (w, k1, _, _, _) = alice_world();
    assert_eq!(
        code(block_on(w.passkeys.rename(
            &alice(),
            &id(&k1),
            "Laptop\u{1D159}",
            &w.context
        ))),
        "invalid_name"
    );
}

/// Names that pass must not look identical: trimming removes only U+0020 and the
/// result then equals the plain name.
#[test]
fn trimmed_names_equal_the_plain_name() {
    let (w, k1, _, _, _) = alice_world();
    let changed = block_on(
        w.passkeys
            .rename(&alice(), &id(&k1), "  Laptop  ", &w.context),
    )
    .unwrap();
    let latchkey::EventKind::Renamed { name, .. } = &changed.events[0].kind else {
        panic!("not a rename");
    };
    assert_eq!(name, "Laptop");
}

// ---------------------------------------------------------------------------------------
// (2b) the revoked key re-encoded in COSE
// ---------------------------------------------------------------------------------------

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("pattern present");
    [&haystack[..at], with, &haystack[at + needle.len()..]].concat()
}

/// A registration response for `authenticator` whose COSE key is rewritten by `patch`
/// (a `none` attestation signs nothing, so the client may re-encode freely).
fn patched_registration(
    authenticator: &Authenticator,
    w: &World,
    challenge: &str,
    patch: &dyn Fn(&[u8]) -> Vec<u8>,
) -> RegistrationResponse {
    let registration = authenticator.register(&w.client, &unb64(challenge, "challenge").unwrap());
    let auth_data = registration.authenticator_data.clone();
    let cose_at = 37 + 16 + 2 + registration.credential_id.len();
    let cose = &auth_data[cose_at..];
    let new_cose = patch(cose);
    let new_auth = [&auth_data[..cose_at], &new_cose[..]].concat();
    assert!(new_auth.len() < 256 && auth_data.len() < 256);
    let mut object = vec![0xa3, 0x63];
    object.extend_from_slice(b"fmt");
    object.push(0x64);
    object.extend_from_slice(b"none");
    object.push(0x67);
    object.extend_from_slice(b"attStmt");
    object.push(0xa0);
    object.push(0x68);
    object.extend_from_slice(b"authData");
    object.push(0x58);
    object.push(u8::try_from(new_auth.len()).unwrap());
    object.extend_from_slice(&new_auth);
    let id = b64(&registration.credential_id);
    let json = format!(
        r#"{{"id":"{id}","rawId":"{id}","type":"public-key","response":{{"clientDataJSON":"{}","attestationObject":"{}","transports":["internal"]}},"authenticatorAttachment":"platform","clientExtensionResults":{{}}}}"#,
        b64(&registration.client_data_json),
        b64(&object),
    );
    RegistrationResponse::from_json(&json).unwrap()
}

#[test]
fn the_revoked_key_re_encoded_in_cose_is_never_registered_again() {
    let (w, _, _, _, _) = alice_world();
    let m = key(20);
    w.register(&mallory(), &m, Scope::Exchange, factors())
        .unwrap();
    block_on(
        w.passkeys
            .revoke_compromised(&alice(), &id(&key(1)), "phished", &operator()),
    )
    .unwrap();
    // The parser is strict (held): ESP256 is `unsupported_algorithm`, an extra kid, unsorted
    // keys and non-minimal integers are `malformed`, for a fresh key as for the revoked one.
    type Patch = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let patches: Vec<(&str, Patch)> = vec![
        // alg -9 (ESP256) instead of -7 (ES256)
        (
            "esp256",
            Box::new(|c: &[u8]| replace(c, &[0x03, 0x26], &[0x03, 0x28])),
        ),
        // map keys in another order: alg first, then kty
        (
            "reordered",
            Box::new(|c: &[u8]| {
                replace(
                    c,
                    &[0xa5, 0x01, 0x02, 0x03, 0x26],
                    &[0xa5, 0x03, 0x26, 0x01, 0x02],
                )
            }),
        ),
        // an extra parameter: kid
        (
            "kid",
            Box::new(|c: &[u8]| {
                replace(
                    c,
                    &[0xa5, 0x01, 0x02],
                    &[0xa6, 0x02, 0x41, 0x07, 0x01, 0x02],
                )
            }),
        ),
        // alg as a 1-byte-argument integer (non-minimal CBOR)
        (
            "non-minimal",
            Box::new(|c: &[u8]| replace(c, &[0x03, 0x26], &[0x03, 0x38, 0x06])),
        ),
    ];
    let mut accepted = Vec::new();
    for (n, (what, patch)) in patches.iter().enumerate() {
        for (account, scope) in [
            (alice(), Scope::Exchange),
            (alice(), Scope::Pay),
            (mallory(), Scope::Exchange),
        ] {
            let same_key = Authenticator::new(SoftKey::es256([0x91; 32]))
                .with_credential_id(vec![0x40 + u8::try_from(n).unwrap(); 16]);
            let options = block_on(w.passkeys.start_registration(
                &account,
                &user(account.as_str()),
                scope,
                &factors(),
            ))
            .unwrap();
            let response = patched_registration(&same_key, &w, &options.challenge, patch.as_ref());
            let done = block_on(
                w.passkeys
                    .finish_registration(latchkey::FinishRegistration::new(
                        &account,
                        &response,
                        &factors(),
                        &w.context,
                    )),
            );
            if done.is_ok() {
                accepted.push(format!("{what} on {} {scope:?}", account.as_str()));
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "the revoked key came back: {accepted:?}"
    );
}

/// The facade: an operator whose id is a Hangul filler or the Braille blank (both look
/// empty) revokes nothing and freezes nothing.
#[test]
fn the_facade_refuses_blank_looking_operator_ids() {
    let (w, k1, _, _, _) = alice_world();
    let mut accepted = Vec::new();
    for blank in ["\u{3164}", "\u{2800}", "\u{115F}\u{1160}", "\u{A0}"] {
        let context = RequestContext {
            actor: Actor::Operator(blank.into()),
            ..RequestContext::default()
        };
        if block_on(w.passkeys.freeze(&alice(), "risk", &context)).is_ok() {
            accepted.push(format!("freeze {}", blank.escape_unicode()));
            block_on(w.passkeys.unfreeze(&alice(), &identity(), &operator())).unwrap();
        }
        if block_on(
            w.passkeys
                .revoke_compromised(&alice(), &id(&k1), "phished", &context),
        )
        .is_ok()
        {
            accepted.push(format!("revoke {}", blank.escape_unicode()));
        }
    }
    assert!(accepted.is_empty(), "{accepted:?}");
}
