//! `latchkey scenario` end to end: our own scenario files (every tamper mode, providers,
//! names, algorithms, DEX hand-over on replace, step-up scope and single use, factor
//! counts, locked intents, counters, discoverable login with forgotten keys) and the shared
//! ones, on memory and SQLite, and on PostgreSQL when `LATCHKEY_POSTGRES_URL` names a
//! server (see .ci/postgres; CI sets `LATCHKEY_REQUIRE_POSTGRES`, so there all three run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use latchkey_testkit::{scenario, shared};

fn latchkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .output()
        .unwrap()
}

/// Every scenario file of ours, sorted.
fn own_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    scenario::files(&dir)
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

fn assert_all_pass(output: &Output) -> usize {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "{}",
        failures.join("\n")
    );
    let last = text.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    last.split(' ').next().unwrap().parse().unwrap()
}

fn sqlite_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("latchkey-scenario-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite:{}", dir.join("scenario.sqlite").display())
}

/// `postgres:URL` for `--store`, or `None` (saying why) when no server is configured;
/// `LATCHKEY_REQUIRE_POSTGRES` (set in CI) makes that a failure.
fn postgres_store(test: &str) -> Option<String> {
    match std::env::var("LATCHKEY_POSTGRES_URL") {
        Ok(url) => Some(format!("postgres:{url}")),
        Err(_) => {
            assert!(
                std::env::var_os("LATCHKEY_REQUIRE_POSTGRES").is_none(),
                "{test}: LATCHKEY_POSTGRES_URL is not set and LATCHKEY_REQUIRE_POSTGRES is"
            );
            eprintln!("{test}: PostgreSQL part skipped, LATCHKEY_POSTGRES_URL is not set");
            None
        }
    }
}

/// The same files on every configured store, each giving `expected` passing steps.
fn assert_same_on_other_stores(test: &str, files: &[String], expected: usize) {
    let mut stores = vec![sqlite_path(test)];
    stores.extend(postgres_store(test));
    for store in &stores {
        let mut args = vec!["scenario", "--store", store];
        args.extend(files.iter().map(String::as_str));
        assert_eq!(assert_all_pass(&latchkey(&args)), expected, "{store}");
    }
}

#[test]
fn own_scenarios_pass_on_every_store() {
    let files = own_files();
    assert!(files.len() >= 12, "{files:?}");
    let mut args = vec!["scenario"];
    args.extend(files.iter().map(String::as_str));
    let memory = assert_all_pass(&latchkey(&args));
    assert!(memory >= 160, "{memory} steps");
    assert_same_on_other_stores("own", &files, memory);
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let dir = std::env::temp_dir().join(format!("latchkey-scenario-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.json");
    std::fs::write(
        &file,
        r#"{"steps": [
            {"at": "2026-01-01T00:00:00Z", "op": "register", "account": "a", "scope": "exchange", "key": "k",
             "step_up": {"factors": ["email", "totp"]}, "expect": "ok"},
            {"op": "delete", "account": "a", "key": "k", "step_up": {"key": "k"}, "expect": "ok"}
        ]}"#,
    )
    .unwrap();
    let output = latchkey(&["scenario", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("FAIL step 2 delete: error last_passkey, expected ok"),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("1 passed, 1 failed"));

    // An invalid file names the step and field.
    std::fs::write(&file, r#"{"steps": [{"op": "register", "account": "a", "scope": "bank", "key": "k", "expect": "ok"}]}"#).unwrap();
    let output = latchkey(&["scenario", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let error = String::from_utf8(output.stderr).unwrap();
    assert!(error.contains("step 1 (register): scope"), "{error}");
}

/// Runs one invalid file: exit status 2, nothing played, and the message on stderr.
fn refusal(name: &str, json: &str) -> String {
    let dir =
        std::env::temp_dir().join(format!("latchkey-scenario-invalid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, json).unwrap();
    let output = latchkey(&["scenario", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{name}");
    assert!(output.stdout.is_empty(), "{name}: a step was played");
    String::from_utf8(output.stderr).unwrap()
}

const FIRST: &str = r#"{"at": "2026-01-01T00:00:00Z", "op": "register", "account": "a", "scope": "exchange",
    "key": "k", "step_up": {"factors": ["email", "totp"]}, "expect": "ok"}"#;

#[test]
fn what_the_format_does_not_know_is_refused_by_name() {
    let error = refusal(
        "freeze-without-account",
        &format!(r#"{{"steps": [{FIRST}, {{"op": "freeze", "expect": "ok"}}]}}"#),
    );
    assert!(
        error.contains("step 2 (freeze): missing field `account`"),
        "{error}"
    );
    let error = refusal(
        "bad-frozen-login",
        &format!(r#"{{"config": {{"frozen_login": "sometimes"}}, "steps": [{FIRST}]}}"#),
    );
    assert!(
        error.contains("config: frozen_login: unknown variant `sometimes`"),
        "{error}"
    );
    let error = refusal(
        "unknown-field",
        &format!(
            r#"{{"steps": [{FIRST}, {{"op": "delete", "account": "a", "key": "k", "stepup": {{"key": "k"}}, "expect": "ok"}}]}}"#
        ),
    );
    assert!(
        error.contains("step 2 (delete): unknown field `stepup`"),
        "{error}"
    );
    let error = refusal(
        "no-account",
        &format!(
            r#"{{"steps": [{FIRST}, {{"op": "authenticate", "key": "k", "intent": "withdrawal", "expect": "ok"}}]}}"#
        ),
    );
    assert!(
        error.contains("step 2 (authenticate): account: missing (only a login may omit it)"),
        "{error}"
    );
}

#[test]
fn what_the_runner_cannot_play_ends_the_file() {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-scenario-unplayable-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, step, message) in [
        (
            "reuse-nothing",
            r#"{"op": "delete", "account": "a", "key": "k", "step_up": {"reuse": true}, "expect": "ok"}"#,
            "step 2 (delete): step_up: reuse, but no earlier step made a passkey step-up",
        ),
        (
            "own-account",
            r#"{"op": "authenticate", "account": "a", "key": "k", "intent": "login", "tamper": "other_account", "expect": "ok"}"#,
            "step 2 (authenticate): tamper: other_account needs `key` to belong to another account",
        ),
        (
            "never-made",
            r#"{"op": "rename", "account": "a", "key": "x", "name": "X", "expect": "ok"}"#,
            r#"step 2 (rename): key: "x" was never made"#,
        ),
    ] {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, format!(r#"{{"steps": [{FIRST}, {step}]}}"#)).unwrap();
        let output = latchkey(&["scenario", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let error = String::from_utf8(output.stderr).unwrap();
        assert!(error.contains(message), "{name}: {error}");
    }
}

#[test]
fn shared_scenarios_pass_on_every_store() {
    let Some(shared) = shared::dir() else { return };
    let files: Vec<String> = scenario::files(&shared.join("scenarios"))
        .unwrap()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(files.len() >= 4);
    let mut args = vec!["scenario"];
    args.extend(files.iter().map(String::as_str));
    let memory = assert_all_pass(&latchkey(&args));
    assert_same_on_other_stores("shared", &files, memory);
}
