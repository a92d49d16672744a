//! The crash workload: what store backends' fault tests run in a writer they kill (or
//! whose database they stop), and the consistency every account must show afterwards.
//!
//! ```
//! use latchkey_store::{MemoryStore, crash};
//!
//! let store = MemoryStore::new();
//! for round in 0..40 {
//!     crash::write_step(&store, 1, round)?;
//! }
//! assert!(crash::assert_consistent(&store) > 0);
//! # Ok::<(), latchkey_store::StoreError>(())
//! ```

#![allow(clippy::panic, clippy::unwrap_used, clippy::missing_panics_doc)]

use latchkey_cose::Aaguid;
use latchkey_policy::{
    AccountState, Command, CredentialId, Factor, NewCredential, PolicyConfig, RequestContext,
    Scope, StepUp, Timestamp, apply, decide,
};

use crate::conformance::block_on;
use crate::error::StoreError;
use crate::model::AccountId;
use crate::store::Store;

/// How many accounts the workload writes to.
pub const ACCOUNTS: u32 = 4;

fn account(n: u32) -> AccountId {
    AccountId::new(format!("crash-account-{n}"))
}

/// One step: on account `round % ACCOUNTS`, registers a passkey (two rounds in three) or
/// deletes the oldest one. `writer` keeps credential ids of different writers apart.
///
/// Returns whether it appended: `Ok(false)` when the policy refused (the last passkey) or
/// another writer changed the account first.
///
/// # Errors
///
/// The store's errors other than a conflict.
pub fn write_step<S: Store>(store: &S, writer: u32, round: u32) -> Result<bool, StoreError> {
    let account = account(round % ACCOUNTS);
    let loaded = block_on(store.load(&account))?;
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let command = if (round / ACCOUNTS) % 3 < 2 {
        Command::Register {
            credential: NewCredential {
                id: CredentialId::new([writer.to_be_bytes(), round.to_be_bytes()].concat()),
                scope: Scope::Exchange,
                public_key: vec![1; 77],
                aaguid: Aaguid::ZERO,
                sign_count: 0,
                backup_eligible: true,
                backed_up: false,
                transports: vec![],
                name: None,
                cred_protect: None,
                app_id: None,
                user_verified: true,
                attestation: latchkey_policy::AttestationFacts::default(),
            },
            step_up,
        }
    } else {
        match loaded.value.credentials.first() {
            Some(first) => Command::Delete {
                credential: first.id.clone(),
                step_up,
            },
            None => return Ok(false),
        }
    };
    let at = Timestamp(1_767_225_600 + i64::from(round));
    let Ok(decision) = decide(
        &loaded.value,
        &command,
        at,
        &RequestContext::default(),
        &PolicyConfig::default(),
    ) else {
        return Ok(false);
    };
    match block_on(store.append(&account, loaded.version, &decision.events)) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Checks every account of the workload: its version is its number of events, its state
/// the fold of them, and each of its passkeys is indexed to it. Returns how many events
/// the accounts hold.
///
/// # Panics
///
/// When an account is inconsistent or the store fails; the message says which.
pub fn assert_consistent<S: Store>(store: &S) -> usize {
    let mut total = 0;
    for n in 0..ACCOUNTS {
        let account = account(n);
        let loaded = block_on(store.load(&account)).unwrap();
        let history = block_on(store.history(&account)).unwrap();
        assert_eq!(
            loaded.version,
            history.len() as u64,
            "{account}: version and events disagree"
        );
        assert_eq!(
            loaded.value,
            apply(AccountState::default(), &history),
            "{account}: state is not the fold"
        );
        for credential in &loaded.value.credentials {
            assert_eq!(
                block_on(store.account_of(&credential.id)).unwrap(),
                Some(account.clone()),
                "{account}: credential index"
            );
        }
        total += history.len();
    }
    total
}

/// Starts the calling test binary's ignored test `writer_test` as a child process with
/// `env` set, three times, and kills each hard after a while (a different moment each
/// time), so that the kill lands mid-append.
///
/// # Panics
///
/// When the child cannot be started or killed.
pub fn kill_writer_repeatedly(writer_test: &str, env: (&str, &std::ffi::OsStr)) {
    use std::process::{Command, Stdio};
    for attempt in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                writer_test,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(env.0, env.1)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400 + 170 * attempt));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
