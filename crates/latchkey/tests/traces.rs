//! Traces a service can act on: a span per ceremony step and account change with scope,
//! intent, outcome code and duration, warnings as events, and nothing secret or
//! identifying in any of them. Captured with a subscriber written here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

mod support;

use std::sync::{Arc, Mutex};

use latchkey::cose::Flags;
use latchkey::json::{AuthenticationResponse, b64};
use latchkey::{AccountId, CredentialId, FinishAuthentication, Intent, Scope};
use latchkey_testkit::authenticator::{Authenticator, SoftKey};
use latchkey_testkit::block_on;
use support::{factors, world};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

#[derive(Debug)]
struct Captured {
    name: &'static str,
    metadata: &'static Metadata<'static>,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Every span with its fields, and every event with the span it happened in.
#[derive(Default)]
struct Log {
    spans: Mutex<Vec<Captured>>,
    events: Mutex<Vec<(Option<u64>, Captured)>>,
    stack: Mutex<Vec<u64>>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Log>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut captured = Captured {
            name: span.metadata().name(),
            metadata: span.metadata(),
            fields: Vec::new(),
        };
        span.record(&mut Fields(&mut captured.fields));
        let mut spans = self.0.spans.lock().unwrap();
        spans.push(captured);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap();
        let captured = &mut spans[span.into_u64() as usize - 1];
        values.record(&mut Fields(&mut captured.fields));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut captured = Captured {
            name: event.metadata().name(),
            metadata: event.metadata(),
            fields: Vec::new(),
        };
        event.record(&mut Fields(&mut captured.fields));
        let parent = self.0.stack.lock().unwrap().last().copied();
        self.0.events.lock().unwrap().push((parent, captured));
    }

    fn enter(&self, span: &Id) {
        self.0.stack.lock().unwrap().push(span.into_u64());
    }

    fn exit(&self, _: &Id) {
        self.0.stack.lock().unwrap().pop();
    }

    // `Span::current()`, which the facade records into, asks the subscriber.
    fn current_span(&self) -> Current {
        let Some(id) = self.0.stack.lock().unwrap().last().copied() else {
            return Current::none();
        };
        let metadata = self.0.spans.lock().unwrap()[id as usize - 1].metadata;
        Current::new(Id::from_u64(id), metadata)
    }
}

#[test]
fn ceremonies_leave_spans_with_scope_intent_outcome_and_duration_and_no_secrets() {
    let capture = Capture::default();
    let w = world();
    let account = AccountId::new("acct-7f3e91");
    // Registered backup eligible; the same key answers later without BE (P12 warning).
    let phone = Authenticator::new(SoftKey::es256([61; 32]))
        .with_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKUP_ELIGIBLE);
    let mut moved = Authenticator::new(SoftKey::es256([61; 32]))
        .with_flags(Flags::USER_PRESENT | Flags::USER_VERIFIED);
    let handle = w.passkeys.user_handle(&account, Scope::Exchange);
    let mut secrets = vec![b64(phone.credential_id()), b64(&handle)];
    tracing::subscriber::with_default(capture.clone(), || {
        w.register(&account, &phone, Scope::Exchange, factors())
            .unwrap();
        let options = block_on(
            w.passkeys
                .start_authentication(&account, Intent::Withdrawal, None),
        )
        .unwrap();
        secrets.push(options.challenge.clone());
        let json = moved.authentication_json(&w.client, &options.challenge, &handle);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        secrets.push(value["response"]["signature"].as_str().unwrap().to_owned());
        let response = AuthenticationResponse::from_json(&json).unwrap();
        let done = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap();
        assert!(!done.warnings.is_empty());
        // The same response again: refused, and the span says why.
        let replay = block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        );
        assert_eq!(replay.unwrap_err().code(), "challenge_reused");
        let id = CredentialId::new(phone.credential_id().to_vec());
        block_on(w.passkeys.rename(&account, &id, "Phone", &w.context)).unwrap();
        // A second login finds the key parsed.
        let options = block_on(w.passkeys.start_login(Some(&account))).unwrap();
        let json = moved.authentication_json(&w.client, &options.challenge, &handle);
        let response = AuthenticationResponse::from_json(&json).unwrap();
        block_on(
            w.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &w.context)),
        )
        .unwrap();
        secrets.push(options.challenge);
    });
    let spans = capture.0.spans.lock().unwrap();
    let named =
        |name: &str| -> Vec<&Captured> { spans.iter().filter(|s| s.name == name).collect() };
    let names: Vec<&str> = spans.iter().map(|s| s.name).collect();
    for expected in [
        "start_registration",
        "finish_registration",
        "start_authentication",
        "finish_authentication",
        "rename",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let registration = named("finish_registration")[0];
    assert_eq!(registration.field("outcome"), Some("ok"));
    assert_eq!(registration.field("scope"), Some("exchange"));
    let finishes = named("finish_authentication");
    assert_eq!(finishes.len(), 3);
    assert_eq!(finishes[0].field("key_cache"), Some("miss"));
    assert_eq!(finishes[2].field("key_cache"), Some("hit"));
    let stats = w.passkeys.key_cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
    assert_eq!(finishes[0].field("outcome"), Some("ok"));
    assert_eq!(finishes[0].field("intent"), Some("withdrawal"));
    assert_eq!(finishes[0].field("scope"), Some("exchange"));
    assert!(finishes[0].field("duration_us").is_some());
    assert_eq!(finishes[1].field("outcome"), Some("challenge_reused"));
    assert_eq!(named("rename")[0].field("outcome"), Some("ok"));
    // The BE change is an event inside the successful finish.
    let events = capture.0.events.lock().unwrap();
    let first_finish = spans
        .iter()
        .position(|s| std::ptr::eq(s, finishes[0]))
        .unwrap() as u64
        + 1;
    assert!(
        events
            .iter()
            .any(|(parent, event)| *parent == Some(first_finish)
                && event.field("warning") == Some("backup_eligibility_changed")),
        "{events:?}"
    );
    // Nothing that identifies the user or a credential, or could be replayed.
    secrets.push(account.as_str().to_owned());
    let everything = spans
        .iter()
        .chain(events.iter().map(|(_, event)| event))
        .flat_map(|captured| captured.fields.iter());
    for (field, value) in everything {
        for secret in &secrets {
            assert!(!value.contains(secret.as_str()), "{field} = {value}");
        }
    }
}
