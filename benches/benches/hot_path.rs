//! `cargo bench -p latchkey-benches`: raw signature verification per algorithm,
//! `verify_assertion`, the whole login on `MemoryStore`, registrations, parsing, policy.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use latchkey_benches::{AssertionInput, LoginInput, RegistrationInput};
use latchkey_cose::AuthenticatorData;
use latchkey_policy::{
    AccountState, AssertionFacts, AttestationFacts, Command, CredentialId, Factor, Intent,
    NewCredential, PolicyConfig, RequestContext, Scope, StepUp, Timestamp, apply, decide,
};
use latchkey_testkit::authenticator::SoftKey;
use latchkey_verify::ClientData;

fn assertions(c: &mut Criterion) {
    for input in AssertionInput::all() {
        assert!(
            input.verify_assertion() && input.raw_verify(),
            "{}",
            input.name
        );
        if input.aws_raw_verify().is_some() {
            c.bench_function(&format!("raw_verify_aws_lc/{}", input.name), |b| {
                b.iter(|| black_box(input.aws_raw_verify()))
            });
        }
        c.bench_function(&format!("raw_verify/{}", input.name), |b| {
            b.iter(|| black_box(input.raw_verify()))
        });
        c.bench_function(&format!("verify_assertion/{}", input.name), |b| {
            b.iter(|| black_box(input.verify_assertion()))
        });
    }
}

fn logins(c: &mut Criterion) {
    for (name, soft) in [
        ("ES256", SoftKey::es256([1; 32])),
        ("EdDSA", SoftKey::eddsa([2; 32])),
    ] {
        let login = LoginInput::new(name, soft);
        c.bench_function(&format!("finish_authentication/{name}"), |b| {
            b.iter_batched(
                || login.prepare(),
                |response| black_box(login.finish(&response)),
                BatchSize::SmallInput,
            );
        });
    }
}

fn registrations(c: &mut Criterion) {
    for input in RegistrationInput::all() {
        assert!(input.verify(), "{}", input.name);
        c.bench_function(&format!("verify_registration/{}", input.name), |b| {
            b.iter(|| black_box(input.verify()))
        });
    }
}

fn parsing(c: &mut Criterion) {
    let input = AssertionInput::new("ES256", SoftKey::es256([1; 32]));
    c.bench_function("parse/authenticator_data", |b| {
        b.iter(|| {
            black_box(AuthenticatorData::parse(black_box(input.authenticator_data())).is_ok())
        });
    });
    c.bench_function("parse/client_data_json", |b| {
        b.iter(|| black_box(ClientData::parse(black_box(input.client_data_json())).is_ok()));
    });
}

fn policy(c: &mut Criterion) {
    let config = PolicyConfig::default();
    let context = RequestContext::default();
    let now = Timestamp(1_767_225_600);
    let mut state = AccountState::default();
    for n in 1..=3u8 {
        let new = NewCredential {
            id: CredentialId::new(vec![n; 16]),
            scope: Scope::Exchange,
            public_key: vec![n; 77],
            aaguid: latchkey_cose::Aaguid::ZERO,
            sign_count: 0,
            backup_eligible: true,
            backed_up: true,
            user_verified: true,
            attestation: AttestationFacts::default(),
            transports: vec![],
            name: None,
            cred_protect: None,
            app_id: None,
        };
        let command = Command::Register {
            credential: new,
            step_up: StepUp::Factors(vec![Factor::Email, Factor::Totp]),
        };
        state = apply(
            state.clone(),
            &decide(&state, &command, now, &context, &config)
                .unwrap()
                .events,
        );
    }
    let use_for_withdrawal = Command::Use {
        assertion: AssertionFacts {
            credential: CredentialId::new(vec![2; 16]),
            user_verified: true,
            sign_count: 7,
            backup_eligible: true,
            backed_up: true,
            counter_regressed: false,
        },
        intent: Intent::Withdrawal,
        factors: vec![],
        freeze_changes: Some(0),
    };
    c.bench_function("policy/decide_withdrawal", |b| {
        b.iter(|| black_box(decide(&state, &use_for_withdrawal, now, &context, &config).is_ok()));
    });
}

criterion_group!(benches, assertions, logins, registrations, parsing, policy);
criterion_main!(benches);
