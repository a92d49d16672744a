//! `latchkey scenario FILE...`: plays scenario files (shared/scenarios/README.md) against
//! the whole stack with software authenticators.

use std::collections::HashMap;
use std::sync::Arc;

use latchkey::Clock as _;
use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::policy::{
    AaguidTable, CounterMode, Limits, PolicyConfig, ProviderClass, ProviderVerdict, Realm,
};
use latchkey::store::conformance::block_on;
use latchkey::{
    AccountId, CredentialId, Factor, Intent, ManualClock, Passkeys, RelyingParty, RequestContext,
    Scope, StepUp, Store, Timestamp, User,
};
use latchkey_cose::{Aaguid, Flags};
use latchkey_testkit::authenticator::{
    Attestation, Authenticator, Client, SoftKey, assertion_json,
};
use serde_json::Value;
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
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::io(format!("cannot read {file}: {e}")))?;
        let scenario: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::input(format!("{file}: invalid JSON: {e}")))?;
        let outcome = if store == "memory" {
            play(&scenario, latchkey::MemoryStore::new())
        } else if let Some(path) = store.strip_prefix("sqlite:") {
            // Each file starts from an empty database.
            let path = format!(
                "{path}.{}",
                files.iter().position(|f| f == file).unwrap_or(0)
            );
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
        lines.push(format!(
            "# {file}: {}",
            scenario.get("name").and_then(Value::as_str).unwrap_or("")
        ));
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
fn play_on_postgres(scenario: &Value, url: &str) -> Result<Vec<(String, bool)>, String> {
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

/// A step's outcome: `Ok(warning codes)` or an error code.
type Outcome = Result<Vec<String>, String>;

struct Player<S> {
    passkeys: Passkeys<S>,
    clock: Arc<ManualClock>,
    client: Client,
    keys: HashMap<String, Authenticator>,
    last_response: HashMap<String, String>,
    context: RequestContext,
}

fn play<S: Store>(scenario: &Value, store: S) -> Result<Vec<(String, bool)>, String> {
    let rp = scenario.get("rp");
    let rp_id = rp
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("example.com");
    let origins: Vec<String> = match rp.and_then(|r| r.get("origins")).and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => vec![format!("https://{rp_id}")],
    };
    let mut builder = RelyingParty::builder(rp_id, "latchkey scenario");
    for origin in &origins {
        builder = builder.origin(origin);
    }
    let rp = builder.build().map_err(|e| format!("rp: {e}"))?;
    let config = policy_config(scenario.get("config")).map_err(|e| format!("config: {e}"))?;
    let steps = scenario
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("steps: missing or not an array")?;
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let mut player = Player {
        passkeys: Passkeys::new(rp, store)
            .with_policy(config)
            .with_clock(clock.clone()),
        clock,
        client: Client::new(rp_id, origins.first().map_or("", String::as_str)),
        keys: HashMap::new(),
        last_response: HashMap::new(),
        context: RequestContext {
            ip: Some("127.0.0.1".into()),
            user_agent: Some("latchkey scenario".into()),
            device: None,
        },
    };
    let mut results = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let op = field(step, "op").map_err(|e| format!("step {}: {e}", index + 1))?;
        if let Some(at) = step.get("at") {
            let at = at
                .as_str()
                .and_then(parse_time)
                .ok_or(format!("step {}: at: not RFC 3339", index + 1))?;
            if at < player.clock.now() {
                return Err(format!("step {}: at: time goes backwards", index + 1));
            }
            player.clock.set(at);
        }
        let expected: Result<(), String> = match step.get("expect") {
            Some(Value::String(ok)) if ok == "ok" => Ok(()),
            Some(expect) => match expect.get("error").and_then(Value::as_str) {
                Some(code) => Err(code.to_owned()),
                None => {
                    return Err(format!(
                        "step {}: expect: \"ok\" or {{\"error\": code}}",
                        index + 1
                    ));
                }
            },
            None => return Err(format!("step {}: expect: missing", index + 1)),
        };
        let outcome = player
            .step(op, step)
            .map_err(|e| format!("step {} ({op}): {e}", index + 1))?;
        let warnings_ok = match (
            &outcome,
            step.get("expect_warnings").and_then(Value::as_array),
        ) {
            (Ok(warnings), Some(wanted)) => wanted
                .iter()
                .filter_map(Value::as_str)
                .all(|w| warnings.iter().any(|g| g == w)),
            _ => true,
        };
        let matches = match (&outcome, &expected) {
            (Ok(_), Ok(())) => warnings_ok,
            (Err(got), Err(want)) => got == want,
            _ => false,
        };
        let got = match &outcome {
            Ok(warnings) if warnings.is_empty() => "ok".to_owned(),
            Ok(warnings) => format!("ok (warnings: {})", warnings.join(", ")),
            Err(code) => format!("error {code}"),
        };
        let want = match &expected {
            Ok(()) => "ok".to_owned(),
            Err(code) => format!("error {code}"),
        };
        results.push((
            format!("step {} {op}: {got}, expected {want}", index + 1),
            matches,
        ));
    }
    Ok(results)
}

fn field<'v>(step: &'v Value, name: &str) -> Result<&'v str, String> {
    step.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name}: missing or not a string"))
}

fn flag(step: &Value, name: &str, default: bool) -> Result<bool, String> {
    match step.get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{name}: not a boolean")),
    }
}

fn scope(step: &Value) -> Result<Scope, String> {
    match field(step, "scope")? {
        "exchange" => Ok(Scope::Exchange),
        "pay" => Ok(Scope::Pay),
        other => Err(format!("scope: {other:?} is not exchange or pay")),
    }
}

fn intent(name: &str) -> Result<Intent, String> {
    serde_json::from_value(Value::String(name.to_owned()))
        .map_err(|_| format!("intent: {name:?} unknown"))
}

fn factor(name: &str) -> Result<Factor, String> {
    serde_json::from_value(Value::String(name.to_owned()))
        .map_err(|_| format!("factors: {name:?} unknown"))
}

fn code(error: &latchkey::Error) -> String {
    error.code().to_owned()
}

impl<S: Store> Player<S> {
    fn account(&self, step: &Value) -> Result<AccountId, String> {
        Ok(AccountId::new(field(step, "account")?))
    }

    fn step(&mut self, op: &str, step: &Value) -> Result<Outcome, String> {
        match op {
            "register" => self.register(step, None),
            "replace" => {
                let old = self.credential_id(field(step, "key")?)?;
                self.register(step, Some(old))
            }
            "authorize_dex" => self.authorize_dex(step),
            "revoke_dex" => {
                let account = self.account(step)?;
                let credential = self.credential_id(field(step, "key")?)?;
                let step_up = match self.step_up(&account, step)? {
                    Ok(s) => s,
                    Err(code) => return Ok(Err(code)),
                };
                Ok(block_on(self.passkeys.revoke_dex(
                    &account,
                    &credential,
                    &step_up,
                    &self.context,
                ))
                .map(|()| vec![])
                .map_err(|e| code(&e)))
            }
            "rename" => {
                let account = self.account(step)?;
                let credential = self.credential_id(field(step, "key")?)?;
                let name = field(step, "name")?;
                Ok(block_on(
                    self.passkeys
                        .rename(&account, &credential, name, &self.context),
                )
                .map(|()| vec![])
                .map_err(|e| code(&e)))
            }
            "delete" => {
                let account = self.account(step)?;
                let credential = self.credential_id(field(step, "key")?)?;
                let step_up = match self.step_up(&account, step)? {
                    Ok(s) => s,
                    Err(code) => return Ok(Err(code)),
                };
                Ok(block_on(
                    self.passkeys
                        .delete(&account, &credential, &step_up, &self.context),
                )
                .map(|_| vec![])
                .map_err(|e| code(&e)))
            }
            "authenticate" => self.authenticate(step),
            "list" => self.list(step),
            other => Err(format!("op: {other:?} unknown")),
        }
    }

    /// The user handle the authenticator stored with `key`: the account's handle for the
    /// passkey's scope (Exchange when the passkey is gone or unknown to the account).
    fn handle_for(&self, account: &AccountId, key: &str) -> Result<Vec<u8>, String> {
        let id = self.credential_id(key)?;
        let state = block_on(self.passkeys.store().load(account))
            .map_err(|e| e.to_string())?
            .value;
        let scope = state.credential(&id).map_or(Scope::Exchange, |c| c.scope);
        Ok(self.passkeys.user_handle(account, scope))
    }

    fn credential_id(&self, key: &str) -> Result<CredentialId, String> {
        let authenticator = self
            .keys
            .get(key)
            .ok_or(format!("key: {key:?} was never registered"))?;
        Ok(CredentialId::new(authenticator.credential_id().to_vec()))
    }

    /// A new software credential named `key`: the same name, the same key and id.
    fn new_authenticator(&self, key: &str, step: &Value) -> Result<Authenticator, String> {
        let seed = Sha256::digest(key.as_bytes());
        let soft = match step.get("alg").and_then(Value::as_str).unwrap_or("ES256") {
            "ES256" => SoftKey::es256(seed.into()),
            "EdDSA" => SoftKey::eddsa(seed.into()),
            "ES384" => SoftKey::es384(Sha384::digest(key.as_bytes()).into()),
            "RS256" => SoftKey::rs256(),
            other => return Err(format!("alg: {other:?} unsupported")),
        };
        let aaguid = match step.get("aaguid").and_then(Value::as_str) {
            Some(text) => text.parse().map_err(|_| "aaguid: not a UUID".to_owned())?,
            None => Aaguid::ZERO,
        };
        let attestation = match step
            .get("attestation")
            .and_then(Value::as_str)
            .unwrap_or("none")
        {
            "none" => Attestation::None,
            "packed" => Attestation::PackedSelf,
            other => return Err(format!("attestation: {other:?} unsupported")),
        };
        let mut flags = Flags::USER_PRESENT;
        if flag(step, "uv", true)? {
            flags = flags | Flags::USER_VERIFIED;
        }
        if flag(step, "backup_eligible", true)? {
            flags = flags | Flags::BACKUP_ELIGIBLE;
        }
        if flag(step, "backed_up", true)? {
            flags = flags | Flags::BACKED_UP;
        }
        Ok(Authenticator::new(soft)
            .with_aaguid(aaguid)
            .with_attestation(attestation)
            .with_flags(flags)
            .with_credential_id(seed.get(..16).unwrap_or_default().to_vec()))
    }

    fn step_up(
        &mut self,
        account: &AccountId,
        step: &Value,
    ) -> Result<Result<StepUp, String>, String> {
        let Some(step_up) = step.get("step_up") else {
            return Ok(Ok(StepUp::None));
        };
        if let Some(factors) = step_up.get("factors").and_then(Value::as_array) {
            let factors = factors
                .iter()
                .map(|f| {
                    f.as_str()
                        .ok_or("factors: not strings".to_owned())
                        .and_then(factor)
                })
                .collect::<Result<_, _>>()?;
            return Ok(Ok(StepUp::Factors(factors)));
        }
        let key = step_up
            .get("key")
            .and_then(Value::as_str)
            .ok_or("step_up: needs key or factors")?;
        Ok(self
            .security_change(account, key, true)?
            .map(StepUp::Passkey))
    }

    /// A fresh `security_change` assertion by `key`: the proof for a change.
    fn security_change(
        &mut self,
        account: &AccountId,
        key: &str,
        uv: bool,
    ) -> Result<Result<latchkey::StepUpProof, String>, String> {
        let options = match block_on(self.passkeys.start_authentication(
            Some(account),
            Intent::SecurityChange,
            None,
        )) {
            Ok(options) => options,
            Err(e) => return Ok(Err(code(&e))),
        };
        let handle = self.handle_for(account, key)?;
        let authenticator = self
            .keys
            .get_mut(key)
            .ok_or(format!("step_up: key {key:?} was never registered"))?;
        let flags = authenticator.flags();
        authenticator.set_flags(if uv {
            flags | Flags::USER_VERIFIED
        } else {
            flags.without(Flags::USER_VERIFIED)
        });
        let json = authenticator.authentication_json(&self.client, &options.challenge, &handle);
        authenticator.set_flags(flags);
        let response = AuthenticationResponse::from_json(&json).map_err(|e| e.to_string())?;
        Ok(block_on(
            self.passkeys
                .finish_authentication(&response, None, &[], &self.context),
        )
        .map_err(|e| code(&e))
        .and_then(|done| done.step_up.ok_or_else(|| "step_up_required".to_owned())))
    }

    fn register(
        &mut self,
        step: &Value,
        replacing: Option<CredentialId>,
    ) -> Result<Outcome, String> {
        let account = self.account(step)?;
        let key = if replacing.is_some() {
            field(step, "new_key")?
        } else {
            field(step, "key")?
        };
        let scope = match &replacing {
            Some(old) => {
                let state = block_on(self.passkeys.store().load(&account))
                    .map_err(|e| e.to_string())?
                    .value;
                state.credential(old).map_or(Scope::Exchange, |c| c.scope)
            }
            None => scope(step)?,
        };
        let step_up = match self.step_up(&account, step)? {
            Ok(s) => s,
            Err(code) => return Ok(Err(code)),
        };
        let authenticator = self.new_authenticator(key, step)?;
        let user = User {
            name: account.to_string(),
            display_name: account.to_string(),
        };
        let options = match block_on(self.passkeys.start_registration(&account, &user, scope)) {
            Ok(options) => options,
            Err(e) => return Ok(Err(code(&e))),
        };
        let json = authenticator.registration_json(&self.client, &options.challenge);
        self.keys.insert(key.to_owned(), authenticator);
        let response = RegistrationResponse::from_json(&json).map_err(|e| e.to_string())?;
        let name = step.get("name").and_then(Value::as_str);
        let result = match &replacing {
            Some(old) => block_on(self.passkeys.finish_replacement(
                &account,
                old,
                &response,
                &step_up,
                &self.context,
            )),
            None => block_on(self.passkeys.finish_registration(
                &account,
                &response,
                &step_up,
                name,
                &self.context,
            )),
        };
        Ok(result
            .map(|done| done.warnings.iter().map(|w| w.code().to_owned()).collect())
            .map_err(|e| code(&e)))
    }

    fn authorize_dex(&mut self, step: &Value) -> Result<Outcome, String> {
        let account = self.account(step)?;
        let key = field(step, "key")?;
        let proof = match self.security_change(&account, key, flag(step, "uv", true)?)? {
            Ok(proof) => proof,
            Err(code) => return Ok(Err(code)),
        };
        let terms = flag(step, "terms_accepted", true)?;
        Ok(block_on(
            self.passkeys
                .authorize_dex(&account, &proof, terms, &self.context),
        )
        .map(|warnings| warnings.iter().map(|w| w.code().to_owned()).collect())
        .map_err(|e| code(&e)))
    }

    fn authenticate(&mut self, step: &Value) -> Result<Outcome, String> {
        let account = step
            .get("account")
            .and_then(Value::as_str)
            .map(AccountId::new);
        let key = field(step, "key")?;
        let intent = intent(field(step, "intent")?)?;
        let transaction = step
            .get("transaction")
            .and_then(Value::as_str)
            .map(|t| t.as_bytes().to_vec());
        let tamper = step.get("tamper").and_then(Value::as_str);
        let options = match block_on(self.passkeys.start_authentication(
            account.as_ref(),
            intent,
            transaction.as_deref(),
        )) {
            Ok(options) => options,
            Err(e) => return Ok(Err(code(&e))),
        };
        let client = match tamper {
            Some("origin") => Client::new(&self.client.rp_id, "https://evil.example"),
            Some("rp_id") => Client::new("evil.example", &self.client.origin),
            _ => self.client.clone(),
        };
        let owner = block_on(self.passkeys.store().account_of(&self.credential_id(key)?))
            .map_err(|e| e.to_string())?;
        let holder = owner
            .or_else(|| account.clone())
            .ok_or("account: needed for an unknown key")?;
        let handle = self.handle_for(&holder, key)?;
        let authenticator = self
            .keys
            .get_mut(key)
            .ok_or(format!("key: {key:?} was never registered"))?;
        let saved_flags = authenticator.flags();
        let mut flags = saved_flags;
        for (name, bit) in [
            ("uv", Flags::USER_VERIFIED),
            ("up", Flags::USER_PRESENT),
            ("backup_eligible", Flags::BACKUP_ELIGIBLE),
            ("backed_up", Flags::BACKED_UP),
        ] {
            if let Some(on) = step.get(name).and_then(Value::as_bool) {
                flags = if on { flags | bit } else { flags.without(bit) };
            }
        }
        authenticator.set_flags(flags);
        if let Some(counter) = step.get("counter").and_then(Value::as_u64) {
            authenticator.set_sign_count(Some(
                u32::try_from(counter).unwrap_or(u32::MAX).saturating_sub(1),
            ));
        }
        let challenge = match tamper {
            Some("challenge") => latchkey::json::b64(&[0x42; 32]),
            _ => options.challenge.clone(),
        };
        let challenge_bytes =
            latchkey::json::unb64(&challenge, "challenge").map_err(|e| e.to_string())?;
        let mut assertion = authenticator.assert(&client, &challenge_bytes);
        authenticator.set_flags(saved_flags);
        match tamper {
            Some("type") => {
                assertion.client_data_json =
                    client.client_data_json("webauthn.create", &challenge_bytes);
                let hash = Sha256::digest(&assertion.client_data_json);
                assertion.signature = authenticator
                    .key()
                    .sign(&[assertion.authenticator_data.as_slice(), &hash].concat());
            }
            Some("signature") => {
                if let Some(byte) = assertion.signature.last_mut() {
                    *byte ^= 0x01;
                }
            }
            _ => {}
        }
        let mut json = assertion_json(&assertion, &handle);
        if tamper == Some("replay") {
            json = self
                .last_response
                .get(key)
                .cloned()
                .ok_or("tamper replay: no earlier response of this key")?;
        }
        if tamper == Some("expire") {
            let ttl = i64::try_from(options.timeout / 1000).unwrap_or(0).max(300) + 1;
            self.clock.set(self.clock.now().plus_seconds(ttl));
        }
        let signed = match tamper {
            Some("transaction") => transaction
                .as_ref()
                .map(|t| [t.as_slice(), b" (altered)"].concat()),
            _ => transaction.clone(),
        };
        let response = AuthenticationResponse::from_json(&json).map_err(|e| e.to_string())?;
        let result = block_on(self.passkeys.finish_authentication(
            &response,
            signed.as_deref(),
            &[],
            &self.context,
        ));
        match result {
            Ok(done) => {
                if let Some(receipt) = &done.receipt {
                    // As an auditor would: the key from the service's records, by the
                    // receipt's credential id; the relying party from the configuration.
                    let credentials = block_on(self.passkeys.list(&done.account, done.scope))
                        .map_err(|e| e.to_string())?;
                    let public_key = credentials
                        .iter()
                        .find(|c| latchkey::json::b64(c.id.as_bytes()) == receipt.credential_id)
                        .map(|c| c.public_key.as_slice())
                        .ok_or("the receipt names no passkey of the account")?;
                    receipt
                        .verify(
                            public_key,
                            self.passkeys.relying_party(),
                            transaction.as_deref(),
                        )
                        .map_err(|e| format!("receipt does not re-verify: {e}"))?;
                }
                self.last_response.insert(key.to_owned(), json);
                Ok(Ok(done
                    .warnings
                    .iter()
                    .map(|w| w.code().to_owned())
                    .collect()))
            }
            Err(e) => Ok(Err(code(&e))),
        }
    }

    fn list(&mut self, step: &Value) -> Result<Outcome, String> {
        let account = self.account(step)?;
        let scope = scope(step)?;
        let credentials =
            block_on(self.passkeys.list(&account, scope)).map_err(|e| e.to_string())?;
        let names: Vec<&str> = credentials.iter().map(|c| c.name.as_str()).collect();
        let dex: Vec<&str> = credentials
            .iter()
            .filter(|c| c.dex_authorized)
            .map(|c| c.name.as_str())
            .collect();
        let wanted = |name: &str| -> Option<Vec<&str>> {
            step.get(name)
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).collect())
        };
        if let Some(expected) = wanted("expect_names")
            && expected != names
        {
            return Ok(Err(format!("names {names:?}")));
        }
        if let Some(expected) = wanted("expect_dex")
            && expected != dex
        {
            return Ok(Err(format!("dex {dex:?}")));
        }
        Ok(Ok(vec![]))
    }
}

fn policy_config(config: Option<&Value>) -> Result<PolicyConfig, String> {
    let mut policy = PolicyConfig::default();
    let Some(config) = config else {
        return Ok(policy);
    };
    let number = |v: &Value, name: &str| v.as_i64().ok_or(format!("{name}: not a number"));
    if let Some(limits) = config.get("limits") {
        let defaults = Limits::default();
        let limit = |name: &str, default: usize| -> Result<usize, String> {
            limits.get(name).map_or(Ok(default), |v| {
                number(v, name).map(|n| usize::try_from(n).unwrap_or(0))
            })
        };
        policy.limits = Limits {
            exchange: limit("exchange", defaults.exchange)?,
            dex: limit("dex", defaults.dex)?,
            pay: limit("pay", defaults.pay)?,
        };
    }
    if let Some(hours) = config.get("withdrawal_lock_hours") {
        policy.withdrawal_lock_seconds = number(hours, "withdrawal_lock_hours")? * 3600;
    }
    if let Some(ttl) = config.get("challenge_ttl_seconds") {
        policy.challenge_ttl_seconds = number(ttl, "challenge_ttl_seconds")?;
    }
    match config.get("counter").and_then(Value::as_str) {
        None => {}
        Some("reject") => policy.counter = CounterMode::Reject,
        Some("flag") => policy.counter = CounterMode::Flag,
        Some(other) => return Err(format!("counter: {other:?} is not reject or flag")),
    }
    if let Some(providers) = config.get("providers").and_then(Value::as_object) {
        for (realm, classes) in providers {
            let realm: Realm = serde_json::from_value(Value::String(realm.clone()))
                .map_err(|_| format!("providers: {realm:?}"))?;
            for (class, verdict) in classes.as_object().into_iter().flatten() {
                let class: ProviderClass = serde_json::from_value(Value::String(class.clone()))
                    .map_err(|_| format!("providers: {class:?}"))?;
                let verdict: ProviderVerdict = serde_json::from_value(verdict.clone())
                    .map_err(|_| format!("providers: {verdict}"))?;
                policy.providers.set(realm, class, verdict);
            }
        }
    }
    if let Some(aaguids) = config.get("aaguids") {
        policy.aaguids = AaguidTable::from_json(&aaguids.to_string()).map_err(|e| e.to_string())?;
    }
    Ok(policy)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    let time = crate::vectors::parse_rfc3339(text)?;
    let seconds = time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Timestamp(i64::try_from(seconds).ok()?))
}
