//! `latchkey scenario` end to end: our own scenario files (every tamper mode, providers,
//! names, algorithms, DEX hand-over on replace) and the shared ones, on memory and SQLite,
//! and on PostgreSQL when `LATCHKEY_POSTGRES_URL` names a server (see .ci/postgres).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use latchkey_testkit::shared;

fn latchkey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .output()
        .unwrap()
}

fn own(name: &str) -> String {
    format!("{}/tests/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
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
    let files = [own("tampering.json"), own("providers.json")];
    let memory = assert_all_pass(&latchkey(&["scenario", &files[0], &files[1]]));
    assert!(memory >= 34, "{memory} steps");
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
             "step_up": {"factors": ["email"]}, "expect": "ok"},
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

#[test]
fn shared_scenarios_pass_on_every_store() {
    let Some(shared) = shared::dir() else { return };
    let mut files: Vec<String> = std::fs::read_dir(shared.join("scenarios"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 4);
    let mut args = vec!["scenario".to_owned()];
    args.extend(files.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let memory = assert_all_pass(&latchkey(&args));
    assert_same_on_other_stores("shared", &files, memory);
}
