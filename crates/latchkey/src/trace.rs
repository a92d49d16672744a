//! Traces: one span per ceremony step and account change, with its scope, intent,
//! outcome code and duration; the policy's warnings as events inside it. Nothing secret
//! or identifying is written: no challenges, signatures, keys, credential ids, user
//! handles or account ids. Spans and events use the target `latchkey`.

use std::future::Future;
use std::time::Instant;

use latchkey_policy::{Intent, Scope, Warning};
use tracing::{Instrument as _, Span};

use crate::error::Result;
use crate::transaction::scope_name;

/// A span for one operation of the facade, its fields filled in as they become known.
macro_rules! operation_span {
    ($name:literal) => {
        tracing::info_span!(
            target: "latchkey",
            $name,
            scope = tracing::field::Empty,
            intent = tracing::field::Empty,
            outcome = tracing::field::Empty,
            duration_us = tracing::field::Empty,
            key_cache = tracing::field::Empty,
        )
    };
}
pub(crate) use operation_span;

/// Runs `work` inside `span`, then records its outcome (`ok` or the error's stable code)
/// and how long it took.
pub(crate) async fn traced<T>(span: Span, work: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    let result = work.instrument(span.clone()).await;
    span.record(
        "outcome",
        match &result {
            Ok(_) => "ok",
            Err(error) => error.code(),
        },
    );
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    span.record("duration_us", micros);
    result
}

/// Records the scope an operation turned out to concern.
pub(crate) fn scope(scope: Scope) {
    Span::current().record("scope", scope_name(scope));
}

/// Records the intent (and so the scope) an authentication turned out to serve.
pub(crate) fn intent(intent: Intent) {
    let span = Span::current();
    span.record("intent", intent.as_str());
    span.record("scope", scope_name(intent.scope()));
}

/// Whether a login found its passkey's verifying key parsed (`hit`) or parsed it.
pub(crate) fn key_cache(hit: bool) {
    Span::current().record("key_cache", if hit { "hit" } else { "miss" });
}

/// The policy's warnings, as events of the current span.
pub(crate) fn warnings(warnings: &[Warning]) {
    for warning in warnings {
        tracing::warn!(target: "latchkey", warning = warning.code(), "accepted with a warning");
    }
}
