//! `latchkey scenario FILE...`: plays scenario files (shared/scenarios/README.md, typed by
//! `latchkey_testkit::scenario`) against the whole stack with software authenticators.

use std::collections::HashMap;
use std::sync::Arc;

use latchkey::Clock as _;
use latchkey::json::{AuthenticationResponse, CreationOptions, RegistrationResponse, b64, unb64};
use latchkey::policy::{
    AaguidTable, CounterMode, PolicyConfig, ProviderClass, ProviderVerdict, Realm,
};
use latchkey::{
    AccountId, Actor, Change, CredentialId, Factor, FinishAuthentication, FinishRecovery,
    FinishRegistration, FinishReplacement, FrozenLogin, Intent, ManualClock, Passkeys,
    RelyingParty, RequestContext, Scope, StepUp, StepUpToken, Store, Timestamp, User,
};
use latchkey_cose::Flags;
use latchkey_testkit::authenticator::{
    Attestation, Authenticator, Client, SoftKey, assertion_json,
};
use latchkey_testkit::block_on;
use latchkey_testkit::scenario::{
    self as format, Alg, AttestationKind, Authenticate, AuthorizeDex, Config, Delete, Expect,
    FactorName, Freeze, IntentName, List, NewKey, PasskeyRequired, Recover, Register, Rename,
    Replace, Revoke, RevokeDex, Scenario, ScopeName, Status, Step, Tamper, Unfreeze,
};
use sha2::{Digest as _, Sha256, Sha384};

use crate::Failure;
use crate::inspect::Report;

pub(crate) fn run(args: &[String]) -> Result<Report, Failure> {
    let mut store = "memory".to_owned();
    let mut files = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => {
                store = args
                    .next()
                    .ok_or_else(|| {
                        Failure::input("--store needs memory, sqlite:PATH or postgres:URL")
                    })?
                    .clone()
            }
            flag if flag.starts_with("--") => {
                return Err(Failure::input(format!("unknown option {flag:?}")));
            }
            file => files.push(file.to_owned()),
        }
    }
    if files.is_empty() {
        return Err(Failure::input(
            "usage: latchkey scenario [--store memory|sqlite:PATH|postgres:URL] FILE...",
        ));
    }
    let mut lines = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (index, file) in files.iter().enumerate() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::io(format!("cannot read {file}: {e}")))?;
        let scenario =
            Scenario::from_json(&text).map_err(|e| Failure::input(format!("{file}: {e}")))?;
        let outcome = if store == "memory" {
            play(&scenario, latchkey::MemoryStore::new())
        } else if let Some(path) = store.strip_prefix("sqlite:") {
            // Each file starts from an empty database.
            let path = format!("{path}.{index}");
            let _ = std::fs::remove_file(&path);
            let sqlite = latchkey_store_sqlite::SqliteStore::open(&path)
                .map_err(|e| Failure::io(e.to_string()))?;
            play(&scenario, sqlite)
        } else if let Some(url) = store.strip_prefix("postgres:") {
            play_on_postgres(&scenario, url)
        } else {
            return Err(Failure::input(format!(
                "unknown store {store:?}: use memory, sqlite:PATH or postgres:URL"
            )));
        };
        let results = outcome.map_err(|e| Failure::input(format!("{file}: {e}")))?;
        lines.push(format!("# {file}: {}", scenario.name));
        for (line, ok) in results {
            if ok {
                passed += 1
            } else {
                failed += 1
            }
            lines.push(format!("{} {line}", if ok { "pass" } else { "FAIL" }));
        }
    }
    lines.push(format!("{passed} passed, {failed} failed"));
    Ok(Report {
        output: lines.join("\n"),
        failed,
        total: passed + failed,
    })
}

/// Plays a scenario on a fresh PostgreSQL schema of its own, dropped afterwards.
fn play_on_postgres(scenario: &Scenario, url: &str) -> Result<Vec<(String, bool)>, String> {
    use latchkey_store_postgres::{Options, PostgresStore};
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut options = Options::default();
    options.schema = Some(format!(
        "latchkey_scenario_{}_{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let connect =
        || block_on(PostgresStore::connect(url, options.clone())).map_err(|e| e.to_string());
    let drop_schema = || block_on(connect()?.drop_schema()).map_err(|e| e.to_string());
    // A schema left by an earlier process with the same id starts over.
    drop_schema()?;
    let results = play(scenario, connect()?);
    drop_schema()?;
    results
}

/// A step's outcome: `Ok(warning codes)` or an error code (or, when the facade answered
/// something the runner checks and refuses, what was wrong).
type Outcome = Result<Vec<String>, String>;

/// What the runner itself could not do: the file is invalid (a key never made, a
/// `reuse` with nothing to reuse...) or the stack failed outside any expectation.
type Invalid = String;

/// A credential the software authenticator made: kept, with the user handle and account
/// it was made for, after the service deleted or replaced it.
struct SoftCredential {
    authenticator: Authenticator,
    user_handle: Vec<u8>,
    account: AccountId,
    scope: Scope,
}

/// Flags one assertion writes instead of the credential's own; `None` keeps them.
#[derive(Clone, Copy, Default)]
struct AssertFlags {
    uv: Option<bool>,
    up: Option<bool>,
    backup_eligible: Option<bool>,
    backed_up: Option<bool>,
}

struct Player<S> {
    passkeys: Passkeys<S>,
    clock: Arc<ManualClock>,
    client: Client,
    keys: HashMap<String, SoftCredential>,
    /// The last successful assertion of each key, for `tamper: replay`.
    last_response: HashMap<String, String>,
    /// The passkey step-up token made by the most recent step that made one.
    last_token: Option<StepUpToken>,
    /// The step being played (1-based), for the request id.
    step: usize,
}

fn play<S: Store>(scenario: &Scenario, store: S) -> Result<Vec<(String, bool)>, Invalid> {
    let rp_id = scenario
        .rp
        .as_ref()
        .map_or("example.com", |rp| rp.id.as_str());
    let origins: Vec<String> = match &scenario.rp {
        Some(rp) if !rp.origins.is_empty() => rp.origins.clone(),
        _ => vec![format!("https://{rp_id}")],
    };
    let mut builder = RelyingParty::builder(rp_id, "latchkey scenario");
    for origin in &origins {
        builder = builder.origin(origin);
    }
    let rp = builder.build().map_err(|e| format!("rp: {e}"))?;
    let config = scenario
        .config
        .as_ref()
        .map_or_else(PolicyConfig::default, policy_config);
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let mut player = Player {
        passkeys: Passkeys::new(rp, store)
            .with_policy(config)
            .with_clock(clock.clone()),
        clock,
        client: Client::new(rp_id, origins.first().map_or("", String::as_str)),
        keys: HashMap::new(),
        last_response: HashMap::new(),
        last_token: None,
        step: 0,
    };
    let mut results = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let number = index + 1;
        let op = step.op();
        player.step = number;
        if let Some(at) = step.at() {
            let at = Timestamp(at.0);
            if at < player.clock.now() {
                return Err(format!(
                    "step {number} ({op}): at: before the clock (an earlier `expire` moved it)"
                ));
            }
            player.clock.set(at);
        }
        let outcome = player
            .play(step)
            .map_err(|e| format!("step {number} ({op}): {e}"))?;
        let wanted = step.expect_warnings();
        let matches = match (&outcome, step.expect()) {
            (Ok(warnings), Expect::Ok) => wanted.iter().all(|w| warnings.contains(w)),
            (Err(got), Expect::Error(want)) => got == want,
            _ => false,
        };
        let got = match &outcome {
            Ok(warnings) if warnings.is_empty() => "ok".to_owned(),
            Ok(warnings) => format!("ok (warnings: {})", warnings.join(", ")),
            Err(code) => format!("error {code}"),
        };
        let want = match step.expect() {
            Expect::Ok if wanted.is_empty() => "ok".to_owned(),
            Expect::Ok => format!("ok (warnings: {})", wanted.join(", ")),
            Expect::Error(code) => format!("error {code}"),
        };
        results.push((
            format!("step {number} {op}: {got}, expected {want}"),
            matches,
        ));
    }
    Ok(results)
}

/// Ends a step with the error code of a refused facade call.
macro_rules! refused {
    ($call:expr) => {
        match $call {
            Ok(value) => value,
            Err(error) => return Ok(Err(error.code().to_owned())),
        }
    };
}

/// Ends a step with an outcome already decided (a refused step-up).
macro_rules! decided {
    ($outcome:expr) => {
        match $outcome {
            Ok(value) => value,
            Err(code) => return Ok(Err(code)),
        }
    };
}

impl<S: Store> Player<S> {
    fn play(&mut self, step: &Step) -> Result<Outcome, Invalid> {
        match step {
            Step::Register(register) => self.register(register),
            Step::AuthorizeDex(authorize) => self.authorize_dex(authorize),
            Step::RevokeDex(revoke) => self.revoke_dex(revoke),
            Step::Rename(rename) => self.rename(rename),
            Step::Delete(delete) => self.delete(delete),
            Step::Replace(replace) => self.replace(replace),
            Step::Authenticate(authenticate) => self.authenticate(authenticate),
            Step::List(list) => self.list(list),
            Step::Freeze(freeze) => self.freeze(freeze),
            Step::Unfreeze(unfreeze) => self.unfreeze(unfreeze),
            Step::PasskeyRequired(mode) => self.passkey_required(mode),
            Step::Revoke(revoke) => self.revoke(revoke),
            Step::Recover(recover) => self.recover(recover),
            Step::Status(status) => self.status(status),
        }
    }

    fn freeze(&mut self, step: &Freeze) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let context = self.context_without_session();
        refused!(block_on(self.passkeys.freeze(
            &account,
            &step.reason,
            &context
        )));
        Ok(Ok(vec![]))
    }

    /// A passkey step-up for an unfreeze is made for adding a passkey in the Exchange
    /// scope: there is no change it could be made for, and a frozen account refuses it.
    fn unfreeze(&mut self, step: &Unfreeze) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let step_up = decided!(self.step_up(
            &account,
            Scope::Exchange,
            &Change::AddPasskey,
            step.step_up.as_ref()
        )?);
        let context = self.operator_context();
        refused!(block_on(
            self.passkeys.unfreeze(&account, &step_up, &context)
        ));
        Ok(Ok(vec![]))
    }

    fn passkey_required(&mut self, step: &PasskeyRequired) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let change = if step.on {
            Change::PasskeyRequiredOn
        } else {
            Change::PasskeyRequiredOff
        };
        let step_up =
            decided!(self.step_up(&account, Scope::Exchange, &change, step.step_up.as_ref())?);
        let context = self.context_without_session();
        refused!(block_on(
            self.passkeys
                .set_passkey_required(&account, step.on, &step_up, &context)
        ));
        Ok(Ok(vec![]))
    }

    fn revoke(&mut self, step: &Revoke) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credential = self.credential_id(&step.key)?;
        let context = self.operator_context();
        let changed = refused!(block_on(self.passkeys.revoke_compromised(
            &account,
            &credential,
            &step.reason,
            &context
        )));
        // P14: the history names the operator who acted.
        if changed
            .events
            .iter()
            .any(|e| !matches!(&e.context.actor, Actor::Operator(id) if id == "operator"))
        {
            return Ok(Err("the revocation does not name the operator".into()));
        }
        Ok(Ok(vec![]))
    }

    fn recover(&mut self, step: &Recover) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let scope = scope(step.scope);
        let step_up =
            decided!(self.step_up(&account, scope, &Change::AddPasskey, step.step_up.as_ref())?);
        let user = user(&account);
        let options = refused!(block_on(
            self.passkeys
                .start_recovery(&account, &user, scope, &step_up)
        ));
        if let Some(problem) = wrong_user_name(&options, step.expect_user_name.as_deref()) {
            return Ok(Err(problem));
        }
        let (response, made) =
            self.create(&account, scope, &step.new_key, step.new_key(), &options)?;
        let context = self.context(&options.challenge);
        let result = block_on(self.passkeys.finish_recovery(
            FinishRecovery::new(&account, &response, &step_up, &context).name(step.name.as_deref()),
        ));
        self.keep(&step.new_key, made, result.is_ok());
        let recovered = refused!(result);
        // P13, P20: the client keeps the new passkey alone.
        let accepted = recovered
            .accepted
            .as_ref()
            .map(|a| a.all_accepted_credential_ids.clone())
            .unwrap_or_default();
        if accepted != [b64(recovered.credential.id.as_bytes())] {
            return Ok(Err(
                "signalAllAcceptedCredentials does not list the new passkey alone".into(),
            ));
        }
        Ok(Ok(codes(&recovered.warnings)))
    }

    fn status(&mut self, step: &Status) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let status = refused!(block_on(self.passkeys.status(&account)));
        let got = [
            ("frozen", step.expect_frozen, status.frozen.is_some()),
            (
                "passkey_required",
                step.expect_passkey_required,
                status.passkey_required,
            ),
            (
                "locked",
                step.expect_locked,
                status.withdrawals_locked_until.is_some(),
            ),
        ];
        for (what, expected, actual) in got {
            if expected.is_some_and(|expected| expected != actual) {
                return Ok(Err(format!("{what}: {actual}")));
            }
        }
        Ok(Ok(vec![]))
    }

    fn register(&mut self, step: &Register) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let scope = scope(step.scope);
        let step_up =
            decided!(self.step_up(&account, scope, &Change::AddPasskey, step.step_up.as_ref())?);
        let user = user(&account);
        let options = refused!(block_on(
            self.passkeys
                .start_registration(&account, &user, scope, &step_up)
        ));
        if let Some(problem) = wrong_user_name(&options, step.expect_user_name.as_deref()) {
            return Ok(Err(problem));
        }
        let (response, made) = self.create(&account, scope, &step.key, step.new_key(), &options)?;
        let context = self.context(&options.challenge);
        let result = block_on(
            self.passkeys.finish_registration(
                FinishRegistration::new(&account, &response, &step_up, &context)
                    .name(step.name.as_deref()),
            ),
        );
        self.keep(&step.key, made, result.is_ok());
        let registered = refused!(result);
        Ok(Ok(codes(&registered.warnings)))
    }

    fn replace(&mut self, step: &Replace) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let old = self.credential_id(&step.key)?;
        let scope = self.target_scope(&account, &step.key)?;
        let step_up = decided!(self.step_up(
            &account,
            scope,
            &Change::Replace(old.clone()),
            step.step_up.as_ref()
        )?);
        let user = user(&account);
        let options = refused!(block_on(
            self.passkeys
                .start_replacement(&account, &user, &old, &step_up)
        ));
        if let Some(problem) = wrong_user_name(&options, step.expect_user_name.as_deref()) {
            return Ok(Err(problem));
        }
        let (response, made) =
            self.create(&account, scope, &step.new_key, step.new_key(), &options)?;
        let context = self.context(&options.challenge);
        let result = block_on(
            self.passkeys.finish_replacement(
                FinishReplacement::new(&account, &old, &response, &step_up, &context)
                    .dex_terms_accepted(step.terms_accepted),
            ),
        );
        self.keep(&step.new_key, made, result.is_ok());
        let registered = refused!(result);
        // P13: the client is told to keep the successor and forget the passkey replaced.
        let accepted = registered
            .accepted
            .as_ref()
            .map(|a| a.all_accepted_credential_ids.as_slice())
            .unwrap_or_default();
        if accepted.contains(&latchkey::json::b64(old.as_bytes()))
            || !accepted.contains(&latchkey::json::b64(registered.credential.id.as_bytes()))
        {
            return Ok(Err(
                "signalAllAcceptedCredentials does not list the successor alone".into(),
            ));
        }
        Ok(Ok(codes(&registered.warnings)))
    }

    fn authorize_dex(&mut self, step: &AuthorizeDex) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credential = self.credential_id(&step.key)?;
        let change = Change::AuthorizeDex(credential.clone());
        let token = decided!(self.passkey_step_up(
            &account,
            Scope::Exchange,
            &change,
            &step.key,
            step.uv
        )?);
        let context = self.context_without_session();
        refused!(block_on(self.passkeys.authorize_dex(
            &account,
            &credential,
            &token,
            step.terms_accepted,
            &context,
        )));
        Ok(Ok(vec![]))
    }

    fn revoke_dex(&mut self, step: &RevokeDex) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credential = self.credential_id(&step.key)?;
        let scope = self.target_scope(&account, &step.key)?;
        let change = Change::RevokeDex(credential.clone());
        let step_up = decided!(self.step_up(&account, scope, &change, step.step_up.as_ref())?);
        let context = self.context_without_session();
        refused!(block_on(self.passkeys.revoke_dex(
            &account,
            &credential,
            &step_up,
            &context
        )));
        Ok(Ok(vec![]))
    }

    fn rename(&mut self, step: &Rename) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credential = self.credential_id(&step.key)?;
        let context = self.context_without_session();
        refused!(block_on(self.passkeys.rename(
            &account,
            &credential,
            &step.name,
            &context
        )));
        Ok(Ok(vec![]))
    }

    fn delete(&mut self, step: &Delete) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credential = self.credential_id(&step.key)?;
        let scope = self.target_scope(&account, &step.key)?;
        let change = Change::Delete(credential.clone());
        let step_up = decided!(self.step_up(&account, scope, &change, step.step_up.as_ref())?);
        let context = self.context_without_session();
        let deleted = refused!(block_on(self.passkeys.delete(
            &account,
            &credential,
            &step_up,
            &context
        )));
        // P13: the client is told which passkeys of the scope remain, the deleted one not.
        let gone = latchkey::json::b64(credential.as_bytes());
        if deleted.accepted.all_accepted_credential_ids.contains(&gone) {
            return Ok(Err(
                "signalAllAcceptedCredentials still lists the deleted passkey".into(),
            ));
        }
        Ok(Ok(vec![]))
    }

    fn authenticate(&mut self, step: &Authenticate) -> Result<Outcome, Invalid> {
        let account = step.account.as_deref().map(AccountId::new);
        let intent = intent(step.intent, step.scope);
        let transaction = step.transaction.as_ref().map(|t| t.as_bytes().to_vec());
        let tamper = step.tamper;
        if tamper == Some(Tamper::OtherAccount) {
            let made_for = &self.soft(&step.key)?.account;
            if account.as_ref().is_none_or(|a| a == made_for) {
                return Err(format!(
                    "tamper: other_account needs `key` to belong to another account than \
                     `account`, and {:?} was made for {made_for}",
                    step.key
                ));
            }
        }
        let options = match (intent, &account) {
            (Intent::Login, account) => block_on(self.passkeys.start_login(account.as_ref())),
            (intent, Some(account)) => block_on(self.passkeys.start_authentication(
                account,
                intent,
                transaction.as_deref(),
            )),
            (_, None) => return Err("account: missing (only a login may omit it)".into()),
        };
        let options = refused!(options);
        let client = match tamper {
            Some(Tamper::Origin) => Client::new(&self.client.rp_id, "https://evil.example"),
            Some(Tamper::RpId) => Client::new("evil.example", &self.client.origin),
            _ => self.client.clone(),
        };
        let challenge = match tamper {
            Some(Tamper::Challenge) => vec![0x42; 32],
            _ => unb64(&options.challenge, "challenge").map_err(|e| e.to_string())?,
        };
        let flags = AssertFlags {
            uv: Some(step.uv),
            up: Some(step.up),
            backup_eligible: step.backup_eligible,
            backed_up: step.backed_up,
        };
        let soft = self.soft_mut(&step.key)?;
        let made_for = soft.account.clone();
        if let Some(counter) = step.counter {
            // The next assertion writes the stored count plus one: start one below, so
            // that it writes exactly `counter` (0 included, by wrapping).
            soft.authenticator
                .set_sign_count(Some(counter.wrapping_sub(1)));
        }
        let mut assertion = assert_with(&mut soft.authenticator, &client, &challenge, flags);
        match tamper {
            Some(Tamper::Type) => {
                assertion.client_data_json = client.client_data_json("webauthn.create", &challenge);
                let hash = Sha256::digest(&assertion.client_data_json);
                assertion.signature = soft
                    .authenticator
                    .key()
                    .sign(&[assertion.authenticator_data.as_slice(), &hash].concat());
            }
            Some(Tamper::Signature) => {
                if let Some(byte) = assertion.signature.last_mut() {
                    *byte ^= 0x01;
                }
            }
            _ => {}
        }
        let mut json = assertion_json(&assertion, &soft.user_handle);
        if tamper == Some(Tamper::Replay) {
            json = self
                .last_response
                .get(&step.key)
                .cloned()
                .ok_or("tamper: replay needs an earlier successful response of this key")?;
        }
        if tamper == Some(Tamper::Expire) {
            let ttl = self.passkeys.policy().challenge_ttl_seconds;
            self.clock.set(self.clock.now().plus_seconds(ttl + 1));
        }
        let signed = match tamper {
            Some(Tamper::Transaction) => transaction
                .as_ref()
                .map(|t| [t.as_slice(), b" (altered)"].concat()),
            _ => transaction.clone(),
        };
        let response = AuthenticationResponse::from_json(&json).map_err(|e| e.to_string())?;
        let context = self.context(&options.challenge);
        let result = block_on(self.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &context).transaction(signed.as_deref()),
        ));
        let done = match result {
            Ok(done) => done,
            Err(error) => return self.refused_assertion(&error, &response),
        };
        self.last_response.insert(step.key.clone(), json);
        // The account named, or for a discoverable login the one the key was made for.
        let expected = account.as_ref().unwrap_or(&made_for);
        if &done.account != expected {
            return Ok(Err(format!("answered for account {}", done.account)));
        }
        if intent.is_signing() {
            if let Err(problem) = self.check_receipt(&done, transaction.as_deref()) {
                return Ok(Err(problem));
            }
        } else if done.receipt.is_some() {
            return Ok(Err("a receipt for an intent that signs nothing".into()));
        }
        Ok(Ok(codes(&done.warnings)))
    }

    fn list(&mut self, step: &List) -> Result<Outcome, Invalid> {
        let account = AccountId::new(&step.account);
        let credentials =
            block_on(self.passkeys.list(&account, scope(step.scope))).map_err(|e| e.to_string())?;
        let names: Vec<&str> = credentials.iter().map(|c| c.name.as_str()).collect();
        let dex: Vec<&str> = credentials
            .iter()
            .filter(|c| c.dex_authorized)
            .map(|c| c.name.as_str())
            .collect();
        if let Some(expected) = &step.expect_names
            && *expected != names
        {
            return Ok(Err(format!("names {names:?}")));
        }
        if let Some(expected) = &step.expect_dex
            && *expected != dex
        {
            return Ok(Err(format!("dex {dex:?}")));
        }
        Ok(Ok(vec![]))
    }

    /// The step-up a change comes with: a passkey step-up made now for that change, the
    /// token of the last one made (`reuse`), the service's factors, or none.
    fn step_up(
        &mut self,
        account: &AccountId,
        scope: Scope,
        change: &Change,
        spec: Option<&format::StepUp>,
    ) -> Result<Result<StepUp, String>, Invalid> {
        Ok(Ok(match spec {
            None => StepUp::None,
            Some(format::StepUp::Factors(factors)) => {
                StepUp::Factors(factors.iter().map(|f| factor(*f)).collect())
            }
            Some(format::StepUp::Key(key)) => {
                match self.passkey_step_up(account, scope, change, key, true)? {
                    Ok(token) => StepUp::Passkey(token),
                    Err(code) => return Ok(Err(code)),
                }
            }
            Some(format::StepUp::Reuse) => StepUp::Passkey(
                self.last_token
                    .clone()
                    .ok_or("step_up: reuse, but no earlier step made a passkey step-up")?,
            ),
        }))
    }

    /// A step-up for `change` in `scope`, answered by `key` (with UV unless `uv` is
    /// false): its token, or the code that refused it.
    fn passkey_step_up(
        &mut self,
        account: &AccountId,
        scope: Scope,
        change: &Change,
        key: &str,
        uv: bool,
    ) -> Result<Result<StepUpToken, String>, Invalid> {
        let options = refused!(block_on(
            self.passkeys.start_step_up(account, scope, change)
        ));
        let challenge = unb64(&options.challenge, "challenge").map_err(|e| e.to_string())?;
        let client = self.client.clone();
        let soft = self.soft_mut(key)?;
        let flags = AssertFlags {
            uv: Some(uv),
            up: Some(true),
            ..AssertFlags::default()
        };
        let assertion = assert_with(&mut soft.authenticator, &client, &challenge, flags);
        let json = assertion_json(&assertion, &soft.user_handle);
        let response = AuthenticationResponse::from_json(&json).map_err(|e| e.to_string())?;
        let context = self.context(&options.challenge);
        let result = block_on(
            self.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &context)),
        );
        let done = match result {
            Ok(done) => done,
            Err(error) => return self.refused_assertion(&error, &response),
        };
        self.last_response.insert(key.to_owned(), json);
        let Some(token) = done.step_up else {
            return Ok(Err("a step-up that gave no token".into()));
        };
        self.last_token = Some(token.clone());
        Ok(Ok(token))
    }

    /// The code of a refused assertion, after checking the Signal API payload (P13): it
    /// is offered exactly when no account of the service holds the credential, or it
    /// was revoked (P20).
    fn refused_assertion<T>(
        &self,
        error: &latchkey::Error,
        response: &AuthenticationResponse,
    ) -> Result<Result<T, String>, Invalid> {
        let code = error.code().to_owned();
        if code != "unknown_credential" {
            return Ok(Err(code));
        }
        let id = CredentialId::new(unb64(&response.raw_id, "rawId").map_err(|e| e.to_string())?);
        // A revoked passkey stays its account's in the index but is dead (P20): it gets
        // the signal as an unknown one does.
        let held =
            match block_on(self.passkeys.store().account_of(&id)).map_err(|e| e.to_string())? {
                Some(owner) => !block_on(self.passkeys.store().load(&owner))
                    .map_err(|e| e.to_string())?
                    .value
                    .is_revoked(&id),
                None => false,
            };
        let signal = self.passkeys.signal_unknown_credential(error);
        Ok(Err(match (held, signal) {
            (true, Some(_)) => {
                "unknown_credential, with a signal to delete a passkey the service holds".into()
            }
            (false, Some(signal)) if signal.credential_id != b64(id.as_bytes()) => {
                "unknown_credential, with a signal naming another credential".into()
            }
            (false, None) => {
                "unknown_credential, without the signalUnknownCredential payload".into()
            }
            _ => code,
        }))
    }

    /// The receipt of a signing intent must re-verify with the passkey's record from the
    /// store and the relying party, and name who approved what (P10).
    fn check_receipt(
        &self,
        done: &latchkey::Authenticated,
        transaction: Option<&[u8]>,
    ) -> Result<(), String> {
        let receipt = done
            .receipt
            .as_ref()
            .ok_or("no receipt for a signing intent")?;
        let state = block_on(self.passkeys.store().load(&done.account))
            .map_err(|e| e.to_string())?
            .value;
        let stored = state
            .credential(&done.credential)
            .ok_or("the passkey that signed is not in the store")?;
        receipt
            .verify(&stored.into(), self.passkeys.relying_party(), transaction)
            .map_err(|e| format!("receipt does not re-verify: {e}"))?;
        if receipt.account != done.account.as_str()
            || receipt.scope != done.scope
            || receipt.intent != done.intent
            || receipt.credential_id != latchkey::json::b64(done.credential.as_bytes())
        {
            return Err("receipt names another account, scope, intent or passkey".into());
        }
        Ok(())
    }

    /// Runs the authenticator for a registration: the response, and the credential made
    /// (with the user handle the options gave it), not yet kept.
    fn create(
        &self,
        account: &AccountId,
        scope: Scope,
        key: &str,
        settings: NewKey,
        options: &CreationOptions,
    ) -> Result<(RegistrationResponse, SoftCredential), Invalid> {
        let authenticator = new_authenticator(key, settings);
        let json = authenticator.registration_json(&self.client, &options.challenge);
        let response = RegistrationResponse::from_json(&json).map_err(|e| e.to_string())?;
        let user_handle = unb64(&options.user.id, "user.id").map_err(|e| e.to_string())?;
        Ok((
            response,
            SoftCredential {
                authenticator,
                user_handle,
                account: account.clone(),
                scope,
            },
        ))
    }

    /// Keeps a credential the authenticator made: a new name always; a name it had
    /// made before only when the service took the new registration (the same name is
    /// the same key and id, so a refused one leaves the earlier credential as it was).
    fn keep(&mut self, key: &str, made: SoftCredential, registered: bool) {
        if registered || !self.keys.contains_key(key) {
            self.keys.insert(key.to_owned(), made);
        }
    }

    fn soft(&self, key: &str) -> Result<&SoftCredential, Invalid> {
        self.keys
            .get(key)
            .ok_or_else(|| format!("key: {key:?} was never made by a register or replace step"))
    }

    fn soft_mut(&mut self, key: &str) -> Result<&mut SoftCredential, Invalid> {
        self.keys
            .get_mut(key)
            .ok_or_else(|| format!("key: {key:?} was never made by a register or replace step"))
    }

    fn credential_id(&self, key: &str) -> Result<CredentialId, Invalid> {
        Ok(CredentialId::new(
            self.soft(key)?.authenticator.credential_id().to_vec(),
        ))
    }

    /// The scope of the passkey a step targets: as the account holds it, or as it was
    /// made when the account does not hold it (the facade then refuses the change).
    fn target_scope(&self, account: &AccountId, key: &str) -> Result<Scope, Invalid> {
        let id = self.credential_id(key)?;
        let state = block_on(self.passkeys.store().load(account))
            .map_err(|e| e.to_string())?
            .value;
        Ok(match state.credential(&id) {
            Some(credential) => credential.scope,
            None => self.soft(key)?.scope,
        })
    }

    /// The request context of a finish: the session's challenge is the one handed out.
    fn context(&self, challenge: &str) -> RequestContext {
        RequestContext {
            session_challenge: Some(challenge.to_owned()),
            ..self.context_without_session()
        }
    }

    /// The context of an operator's call (P14, P20).
    fn operator_context(&self) -> RequestContext {
        RequestContext {
            actor: Actor::Operator("operator".into()),
            ..self.context_without_session()
        }
    }

    fn context_without_session(&self) -> RequestContext {
        RequestContext {
            ip: Some("127.0.0.1".into()),
            user_agent: Some("latchkey scenario".into()),
            request_id: Some(format!("step-{}", self.step)),
            ..RequestContext::default()
        }
    }
}

/// One assertion with `flags` instead of the credential's own, which are then restored.
fn assert_with(
    authenticator: &mut Authenticator,
    client: &Client,
    challenge: &[u8],
    flags: AssertFlags,
) -> latchkey_testkit::authenticator::Assertion {
    let saved = authenticator.flags();
    let mut written = saved;
    for (on, bit) in [
        (flags.uv, Flags::USER_VERIFIED),
        (flags.up, Flags::USER_PRESENT),
        (flags.backup_eligible, Flags::BACKUP_ELIGIBLE),
        (flags.backed_up, Flags::BACKED_UP),
    ] {
        written = match on {
            Some(true) => written | bit,
            Some(false) => written.without(bit),
            None => written,
        };
    }
    authenticator.set_flags(written);
    let assertion = authenticator.assert(client, challenge);
    authenticator.set_flags(saved);
    assertion
}

/// A new software credential named `key`: the same name, the same key and id.
fn new_authenticator(key: &str, settings: NewKey) -> Authenticator {
    let seed = Sha256::digest(key.as_bytes());
    let soft = match settings.alg {
        Alg::Es256 => SoftKey::es256(seed.into()),
        Alg::EdDsa => SoftKey::eddsa(seed.into()),
        Alg::Es384 => SoftKey::es384(Sha384::digest(key.as_bytes()).into()),
        Alg::Rs256 => SoftKey::rs256(),
    };
    let attestation = match settings.attestation {
        AttestationKind::None => Attestation::None,
        AttestationKind::Packed => Attestation::PackedSelf,
    };
    let mut flags = Flags::USER_PRESENT;
    for (on, bit) in [
        (settings.uv, Flags::USER_VERIFIED),
        (settings.backup_eligible, Flags::BACKUP_ELIGIBLE),
        (settings.backed_up, Flags::BACKED_UP),
    ] {
        if on {
            flags = flags | bit;
        }
    }
    Authenticator::new(soft)
        .with_aaguid(settings.aaguid)
        .with_attestation(attestation)
        .with_flags(flags)
        .with_credential_id(seed.get(..16).unwrap_or_default().to_vec())
}

fn user(account: &AccountId) -> User {
    User {
        name: account.to_string(),
        display_name: account.to_string(),
    }
}

/// P17: the creation options carry the expected `user.name`, and the display name
/// the same.
fn wrong_user_name(options: &CreationOptions, expected: Option<&str>) -> Option<String> {
    let expected = expected?;
    (options.user.name != expected || options.user.display_name != expected).then(|| {
        format!(
            "user.name {:?}, displayName {:?}",
            options.user.name, options.user.display_name
        )
    })
}

fn codes(warnings: &[latchkey::Warning]) -> Vec<String> {
    warnings.iter().map(|w| w.code().to_owned()).collect()
}

fn scope(name: ScopeName) -> Scope {
    match name {
        ScopeName::Exchange => Scope::Exchange,
        ScopeName::Pay => Scope::Pay,
    }
}

/// The intent a step names; `security_change` takes its scope's (P1).
fn intent(name: IntentName, scope_name: Option<ScopeName>) -> Intent {
    match name {
        IntentName::Login => Intent::Login,
        IntentName::Withdrawal => Intent::Withdrawal,
        IntentName::SecurityChange => {
            Intent::security_change(scope_name.map_or(Scope::Exchange, scope))
        }
        IntentName::DexTrade => Intent::DexTrade,
        IntentName::DexTransfer => Intent::DexTransfer,
        IntentName::PaySign => Intent::PaySign,
    }
}

fn factor(name: FactorName) -> Factor {
    match name {
        FactorName::Email => Factor::Email,
        FactorName::Totp => Factor::Totp,
        FactorName::Sms => Factor::Sms,
        FactorName::Face => Factor::Face,
        FactorName::IdDocument => Factor::IdDocument,
    }
}

fn policy_config(config: &Config) -> PolicyConfig {
    let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    let mut policy = PolicyConfig::default();
    if let Some(limits) = config.limits {
        let defaults = policy.limits;
        policy.limits.exchange = limits.exchange.map_or(defaults.exchange, count);
        policy.limits.dex = limits.dex.map_or(defaults.dex, count);
        policy.limits.pay = limits.pay.map_or(defaults.pay, count);
    }
    if let Some(hours) = config.withdrawal_lock_hours {
        policy.withdrawal_lock_seconds = i64::from(hours) * 3600;
    }
    if let Some(ttl) = config.challenge_ttl_seconds {
        policy.challenge_ttl_seconds = i64::from(ttl);
    }
    match config.counter {
        None => {}
        Some(format::CounterMode::Reject) => policy.counter = CounterMode::Reject,
        Some(format::CounterMode::Flag) => policy.counter = CounterMode::Flag,
    }
    for (realm, classes) in &config.providers {
        let realm = match realm {
            format::RealmName::Exchange => Realm::Exchange,
            format::RealmName::Dex => Realm::Dex,
            format::RealmName::Pay => Realm::Pay,
        };
        for (class, verdict) in classes {
            let verdict = match verdict {
                format::ProviderVerdict::Allow => ProviderVerdict::Allow,
                format::ProviderVerdict::Warn => ProviderVerdict::Warn,
                format::ProviderVerdict::Deny => ProviderVerdict::Deny,
            };
            policy.providers.set(realm, provider_class(*class), verdict);
        }
    }
    if !config.aaguids.is_empty() {
        let mut table = AaguidTable::default();
        for (aaguid, entry) in &config.aaguids {
            table.insert(*aaguid, &entry.name, provider_class(entry.class));
        }
        policy.aaguids = table;
    }
    if let Some(factors) = config.step_up_factors {
        let defaults = policy.step_up_factors;
        policy.step_up_factors.exchange = factors.exchange.map_or(defaults.exchange, count);
        policy.step_up_factors.pay = factors.pay.map_or(defaults.pay, count);
    }
    if let Some(intents) = &config.locked_intents {
        policy.locked_intents = intents.iter().map(|i| intent(*i, None)).collect();
    }
    for (name, label) in config.labels.iter().flatten() {
        policy.labels.insert(scope(*name), label.clone());
    }
    match config.frozen_login {
        None => {}
        Some(format::FrozenLogin::Allow) => policy.frozen_login = FrozenLogin::Allow,
        Some(format::FrozenLogin::Refuse) => policy.frozen_login = FrozenLogin::Refuse,
    }
    policy
}

fn provider_class(class: format::ProviderClass) -> ProviderClass {
    match class {
        format::ProviderClass::Platform => ProviderClass::Platform,
        format::ProviderClass::ThirdParty => ProviderClass::ThirdParty,
        format::ProviderClass::Hardware => ProviderClass::Hardware,
        format::ProviderClass::Unknown => ProviderClass::Unknown,
    }
}
