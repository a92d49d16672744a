//! The scenario file format of `shared/scenarios/README.md`, typed and strict.
//!
//! ```
//! use latchkey_testkit::scenario::{Expect, Scenario, Step, StepUp};
//!
//! let scenario = Scenario::from_json(r#"{
//!   "name": "exchange-keeps-one-passkey",
//!   "steps": [
//!     { "at": "2026-01-01T00:00:00Z", "op": "register", "account": "alice",
//!       "scope": "exchange", "key": "k1", "step_up": { "factors": ["email", "totp"] },
//!       "expect": "ok" },
//!     { "op": "delete", "account": "alice", "key": "k1", "step_up": { "key": "k1" },
//!       "expect": { "error": "last_passkey" } }
//!   ]
//! }"#).unwrap();
//! let Some(Step::Delete(delete)) = scenario.steps.get(1) else { panic!() };
//! assert_eq!(delete.step_up, Some(StepUp::Key("k1".into())));
//! assert_eq!(delete.expect, Expect::Error("last_passkey".into()));
//! ```
//!
//! Nothing is ignored: an unknown field and an unknown op are refused. [`Scenario::from_json`] names the step, its op
//! and the field that is wrong; deserializing a [`Scenario`] or a [`Step`] with serde
//! directly refuses the same files with serde's own (less precise) messages.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use latchkey_cose::Aaguid;
use serde::de::{self, DeserializeSeed, IntoDeserializer as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// One scenario file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows (may be empty).
    #[serde(default)]
    pub name: String,
    /// The relying party; omitted, `example.com` on `https://example.com`.
    #[serde(default)]
    pub rp: Option<Rp>,
    /// The policy; omitted values take the library's defaults.
    #[serde(default)]
    pub config: Option<Config>,
    /// The operations, played in order.
    pub steps: Vec<Step>,
}

/// The relying party a scenario runs as.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rp {
    /// The RP ID.
    pub id: String,
    /// Accepted origins; empty means `https://<id>`. The first is the client's.
    #[serde(default)]
    pub origins: Vec<String>,
}

/// The policy configuration a scenario runs with; `None` keeps the library's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Most passkeys per realm (P5).
    #[serde(default)]
    pub limits: Option<Limits>,
    /// How long the withdrawal lock lasts (P8).
    #[serde(default)]
    pub withdrawal_lock_hours: Option<u32>,
    /// How long a challenge stays valid (P16).
    #[serde(default)]
    pub challenge_ttl_seconds: Option<u32>,
    /// What a counter that does not grow means (P12).
    #[serde(default)]
    pub counter: Option<CounterMode>,
    /// Allow / warn / deny, per realm and provider class (P11); the rules given are set
    /// over the defaults.
    #[serde(default)]
    pub providers: BTreeMap<RealmName, BTreeMap<ProviderClass, ProviderVerdict>>,
    /// The AAGUID table (P6, P11).
    #[serde(default, deserialize_with = "aaguid_table")]
    pub aaguids: Vec<(Aaguid, AaguidEntry)>,
    /// How many distinct factors a factor step-up needs, per scope (P7).
    #[serde(default)]
    pub step_up_factors: Option<StepUpFactors>,
    /// The intents the withdrawal lock covers (P8).
    #[serde(default)]
    pub locked_intents: Option<Vec<IntentName>>,
    /// The label each scope's passkeys carry in `user.name` (P17); a scope given
    /// overrides its default (`{"pay": "Pay"}`), and an empty label is none.
    #[serde(default)]
    pub labels: Option<BTreeMap<ScopeName, String>>,
    /// Whether a frozen account may log in (P18).
    #[serde(default)]
    pub frozen_login: Option<FrozenLogin>,
}

/// `frozen_login`: whether a frozen account may log in (P18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrozenLogin {
    /// Login goes through.
    Allow,
    /// Login is refused (`account_frozen`).
    Refuse,
}

/// Passkey limits; a realm left out keeps its default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Exchange passkeys.
    #[serde(default)]
    pub exchange: Option<u32>,
    /// DEX-authorized passkeys.
    #[serde(default)]
    pub dex: Option<u32>,
    /// Pay passkeys.
    #[serde(default)]
    pub pay: Option<u32>,
}

/// Factors a factor step-up needs; a scope left out keeps its default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpFactors {
    /// Exchange (and DEX) changes.
    #[serde(default)]
    pub exchange: Option<u32>,
    /// Pay changes.
    #[serde(default)]
    pub pay: Option<u32>,
}

/// One entry of the AAGUID table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AaguidEntry {
    /// The provider's name, a new passkey's default name.
    pub name: String,
    /// Its class.
    pub class: ProviderClass,
}

/// `counter`: what a counter that does not grow means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterMode {
    /// Refused (`counter_regression`).
    Reject,
    /// Accepted with a warning.
    Flag,
}

/// Where limits and provider rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealmName {
    /// Exchange passkeys.
    Exchange,
    /// DEX-authorized passkeys.
    Dex,
    /// Pay passkeys.
    Pay,
}

/// A provider class (P11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderClass {
    /// The platform's own manager.
    Platform,
    /// A third-party manager.
    ThirdParty,
    /// A hardware security key.
    Hardware,
    /// Not in the table.
    Unknown,
}

/// A provider rule's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderVerdict {
    /// Accept.
    Allow,
    /// Accept with a warning.
    Warn,
    /// Refuse (`provider_denied`).
    Deny,
}

/// A passkey scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeName {
    /// Exchange (and DEX).
    Exchange,
    /// Pay.
    Pay,
}

/// An intent, as scenario files name it; a Pay security change is `security_change`
/// with `scope: pay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentName {
    /// Login.
    Login,
    /// A withdrawal.
    Withdrawal,
    /// A security change the service gates itself.
    SecurityChange,
    /// A DEX trade (signing).
    DexTrade,
    /// A DEX transfer (signing).
    DexTransfer,
    /// A Pay transaction (signing).
    PaySign,
}

/// A factor the service checked itself (P7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorName {
    /// An e-mailed code.
    Email,
    /// An authenticator-app code.
    Totp,
    /// An SMS code.
    Sms,
    /// A face check.
    Face,
    /// An identity-document check.
    IdDocument,
}

/// A credential's signature algorithm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256.
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    /// ECDSA P-384 with SHA-384.
    #[serde(rename = "ES384")]
    Es384,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
}

/// A registration's attestation statement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttestationKind {
    /// `none`.
    #[default]
    None,
    /// `packed` self attestation.
    Packed,
}

/// How the client misbehaves in an `authenticate` step (each with the code it must get).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Another origin (`origin_mismatch`).
    Origin,
    /// Authenticator data for another RP ID (`rp_id_mismatch`).
    RpId,
    /// A challenge the server never issued (`challenge_mismatch`).
    Challenge,
    /// `webauthn.create` in an assertion (`type_mismatch`).
    Type,
    /// One byte of the signature flipped (`signature_invalid`).
    Signature,
    /// The key's previous successful response again (`challenge_reused`).
    Replay,
    /// Finished after the challenge's deadline (`challenge_expired`).
    Expire,
    /// Another transaction than the challenge's (`challenge_mismatch`).
    Transaction,
    /// The key belongs to another account than the step's (`unknown_credential`).
    OtherAccount,
}

/// What a step must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `"ok"`.
    Ok,
    /// `{ "error": "<code>" }`.
    Error(String),
}

/// How a security change is stepped up (P7).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawStepUp")]
pub enum StepUp {
    /// `{ "key": "<name>" }`: a fresh step-up assertion by that passkey, for this step's
    /// change.
    Key(String),
    /// `{ "factors": [...] }`: the service's own checks.
    Factors(Vec<FactorName>),
    /// `{ "reuse": true }`: the passkey step-up token of the most recent earlier step
    /// that made one, passed again.
    Reuse,
}

/// An instant, from RFC 3339 text (`2026-01-01T09:00:00Z`, fractions and offsets
/// allowed): seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);

/// One operation and what it must give.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Register a passkey.
    Register(Register),
    /// Authorize an Exchange passkey for DEX with its own step-up.
    AuthorizeDex(AuthorizeDex),
    /// Revoke a passkey's DEX authorization.
    RevokeDex(RevokeDex),
    /// Rename a passkey.
    Rename(Rename),
    /// Delete a passkey.
    Delete(Delete),
    /// Replace a passkey by a new one in one step.
    Replace(Replace),
    /// An assertion for an intent.
    Authenticate(Authenticate),
    /// Read an account's passkeys of one scope.
    List(List),
    /// Freeze an account (P18).
    Freeze(Freeze),
    /// Unfreeze an account (P18).
    Unfreeze(Unfreeze),
    /// Turn passkey-required mode on or off (P19).
    PasskeyRequired(PasskeyRequired),
    /// An operator revokes a passkey (P20).
    Revoke(Revoke),
    /// Recover a scope with a new passkey (P20).
    Recover(Recover),
    /// What the facade answers a service about an account (P8, P18, P19).
    Status(Status),
}

/// The authenticator settings of a new credential (`register`, and the new key of
/// `replace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewKey {
    /// The algorithm.
    pub alg: Alg,
    /// The AAGUID.
    pub aaguid: Aaguid,
    /// The attestation statement.
    pub attestation: AttestationKind,
    /// BE.
    pub backup_eligible: bool,
    /// BS.
    pub backed_up: bool,
    /// UV at creation.
    pub uv: bool,
}

/// `register`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// The account.
    pub account: String,
    /// The scope.
    pub scope: ScopeName,
    /// The software credential's name.
    pub key: String,
    /// The signature algorithm; default ES256.
    #[serde(default)]
    pub alg: Alg,
    /// The AAGUID; default all zero.
    #[serde(default = "zero_aaguid", deserialize_with = "aaguid")]
    pub aaguid: Aaguid,
    /// The attestation statement; default none.
    #[serde(default)]
    pub attestation: AttestationKind,
    /// Backup eligibility (BE); default true.
    #[serde(default = "yes")]
    pub backup_eligible: bool,
    /// Backup state (BS); default true.
    #[serde(default = "yes")]
    pub backed_up: bool,
    /// User verification (UV); default true.
    #[serde(default = "yes")]
    pub uv: bool,
    /// The passkey's name; default: the provider's name, or "Passkey" (P6).
    #[serde(default)]
    pub name: Option<String>,
    /// The `user.name` the creation options must carry (P17).
    #[serde(default)]
    pub expect_user_name: Option<String>,
    /// The step-up; default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `authorize_dex`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeDex {
    /// The account.
    pub account: String,
    /// The passkey to authorize; it also makes the step-up.
    pub key: String,
    /// Whether the DEX terms are accepted; default true.
    #[serde(default = "yes")]
    pub terms_accepted: bool,
    /// UV in the step-up assertion; default true.
    #[serde(default = "yes")]
    pub uv: bool,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `revoke_dex`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeDex {
    /// The account.
    pub account: String,
    /// The passkey.
    pub key: String,
    /// The step-up; default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `rename`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The account.
    pub account: String,
    /// The passkey.
    pub key: String,
    /// The new name, as the user typed it.
    pub name: String,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `delete`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delete {
    /// The account.
    pub account: String,
    /// The passkey.
    pub key: String,
    /// The step-up; default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `replace`: the `register` fields describe the new key, whose scope is the old one's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    /// The account.
    pub account: String,
    /// The passkey replaced.
    pub key: String,
    /// The new software credential's name.
    pub new_key: String,
    /// The signature algorithm; default ES256.
    #[serde(default)]
    pub alg: Alg,
    /// The AAGUID; default all zero.
    #[serde(default = "zero_aaguid", deserialize_with = "aaguid")]
    pub aaguid: Aaguid,
    /// The attestation statement; default none.
    #[serde(default)]
    pub attestation: AttestationKind,
    /// Backup eligibility (BE); default true.
    #[serde(default = "yes")]
    pub backup_eligible: bool,
    /// Backup state (BS); default true.
    #[serde(default = "yes")]
    pub backed_up: bool,
    /// User verification (UV); default true.
    #[serde(default = "yes")]
    pub uv: bool,
    /// The step-up; default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The DEX terms, for replacing a DEX passkey (P2); default false.
    #[serde(default)]
    pub terms_accepted: bool,
    /// The `user.name` the creation options must carry (P17).
    #[serde(default)]
    pub expect_user_name: Option<String>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `authenticate`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authenticate {
    /// The account the challenge names; only a login may omit it (discoverable login).
    #[serde(default)]
    pub account: Option<String>,
    /// The passkey that answers.
    pub key: String,
    /// What for.
    pub intent: IntentName,
    /// The scope of a `security_change`; default exchange.
    #[serde(default)]
    pub scope: Option<ScopeName>,
    /// User verification (UV); default true.
    #[serde(default = "yes")]
    pub uv: bool,
    /// User presence (UP); default true.
    #[serde(default = "yes")]
    pub up: bool,
    /// Backup eligibility (BE); default as registered.
    #[serde(default)]
    pub backup_eligible: Option<bool>,
    /// Backup state (BS); default as registered.
    #[serde(default)]
    pub backed_up: Option<bool>,
    /// The exact counter the assertion carries; default the authenticator's next.
    #[serde(default)]
    pub counter: Option<u32>,
    /// The transaction of a signing intent, as text.
    #[serde(default)]
    pub transaction: Option<String>,
    /// How the client misbehaves; default none.
    #[serde(default)]
    pub tamper: Option<Tamper>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `list`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// The account.
    pub account: String,
    /// The scope.
    pub scope: ScopeName,
    /// The passkeys' names, in creation order.
    #[serde(default)]
    pub expect_names: Option<Vec<String>>,
    /// The names of the DEX-authorized ones.
    #[serde(default)]
    pub expect_dex: Option<Vec<String>>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `freeze`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// The account.
    pub account: String,
    /// Why; default `user_request`.
    #[serde(default = "user_request")]
    pub reason: String,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `unfreeze`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unfreeze {
    /// The account.
    pub account: String,
    /// The step-up (a passkey one is made in the Exchange scope); default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `passkey_required`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRequired {
    /// The account.
    pub account: String,
    /// The new setting.
    pub on: bool,
    /// The step-up (a passkey one is made in the Exchange scope); default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `revoke`: an operator revokes a passkey.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// The account.
    pub account: String,
    /// The passkey.
    pub key: String,
    /// Why; default `compromised`.
    #[serde(default = "compromised")]
    pub reason: String,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `recover`: the `register` fields describe the new key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recover {
    /// The account.
    pub account: String,
    /// The scope recovered.
    pub scope: ScopeName,
    /// The new software credential's name.
    pub new_key: String,
    /// The signature algorithm; default ES256.
    #[serde(default)]
    pub alg: Alg,
    /// The AAGUID; default all zero.
    #[serde(default = "zero_aaguid", deserialize_with = "aaguid")]
    pub aaguid: Aaguid,
    /// The attestation statement; default none.
    #[serde(default)]
    pub attestation: AttestationKind,
    /// Backup eligibility (BE); default true.
    #[serde(default = "yes")]
    pub backup_eligible: bool,
    /// Backup state (BS); default true.
    #[serde(default = "yes")]
    pub backed_up: bool,
    /// User verification (UV); default true.
    #[serde(default = "yes")]
    pub uv: bool,
    /// The new passkey's name; default: the provider's name, or "Passkey" (P6).
    #[serde(default)]
    pub name: Option<String>,
    /// The `user.name` the creation options must carry (P17).
    #[serde(default)]
    pub expect_user_name: Option<String>,
    /// The step-up; default none.
    #[serde(default)]
    pub step_up: Option<StepUp>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// `status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The account.
    pub account: String,
    /// Whether it must be frozen.
    #[serde(default)]
    pub expect_frozen: Option<bool>,
    /// Whether passkey-required mode must be on.
    #[serde(default)]
    pub expect_passkey_required: Option<bool>,
    /// Whether withdrawals must be locked now.
    #[serde(default)]
    pub expect_locked: Option<bool>,
    /// The clock for this step.
    #[serde(default)]
    pub at: Option<UnixTime>,
    /// The outcome.
    pub expect: Expect,
    /// Warning codes the step must report.
    #[serde(default)]
    pub expect_warnings: Vec<String>,
}

/// A scenario file that is not valid: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    step: Option<usize>,
    op: Option<String>,
    message: String,
}

impl ScenarioError {
    /// The step (1-based) that is wrong, when one is.
    #[must_use]
    pub fn step(&self) -> Option<usize> {
        self.step
    }

    /// That step's op, when it has a readable one.
    #[must_use]
    pub fn op(&self) -> Option<&str> {
        self.op.as_deref()
    }

    /// What is wrong, starting with the field.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    fn file(message: impl fmt::Display) -> Self {
        Self {
            step: None,
            op: None,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.step, &self.op) {
            (Some(step), Some(op)) => write!(f, "step {step} ({op}): {}", self.message),
            (Some(step), None) => write!(f, "step {step}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl Scenario {
    /// Parses a scenario file, refusing anything it does not know.
    ///
    /// # Errors
    ///
    /// When the text is not JSON or does not follow the format: the error names the
    /// step (1-based), its op and the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ScenarioError::file(format!("invalid JSON: {e}")))?;
        let Value::Object(mut top) = value else {
            return Err(ScenarioError::file("not a JSON object"));
        };
        let config = top.remove("config");
        let steps = top.remove("steps");
        let outline = Outline::deserialize(Object(top)).map_err(ScenarioError::file)?;
        let config = match config {
            None | Some(Value::Null) => None,
            Some(value) => {
                Some(parse_config(value).map_err(|e| ScenarioError::file(format!("config: {e}")))?)
            }
        };
        let Some(Value::Array(steps)) = steps else {
            return Err(ScenarioError::file("steps: missing or not an array"));
        };
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(index, step)| Step::from_value(step, index.saturating_add(1)))
            .collect::<Result<Vec<Step>, ScenarioError>>()?;
        let scenario = Self {
            name: outline.name,
            rp: outline.rp,
            config,
            steps,
        };
        scenario.check()?;
        Ok(scenario)
    }

    /// Reads and parses a scenario file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read (the error says so) or is not valid.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::file(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// The rules serde cannot say: an `authenticate` without an account is a login, a
    /// `scope` is a security change's, and the clock never goes back.
    fn check(&self) -> Result<(), ScenarioError> {
        let mut clock: Option<UnixTime> = None;
        for (index, step) in self.steps.iter().enumerate() {
            let fail = |message: &str| ScenarioError {
                step: Some(index.saturating_add(1)),
                op: Some(step.op().to_owned()),
                message: message.to_owned(),
            };
            if let Step::Authenticate(authenticate) = step {
                if authenticate.account.is_none() && authenticate.intent != IntentName::Login {
                    return Err(fail("account: missing (only a login may omit it)"));
                }
                if authenticate.scope.is_some() && authenticate.intent != IntentName::SecurityChange
                {
                    return Err(fail("scope: only a security_change names a scope"));
                }
                if authenticate.tamper == Some(Tamper::Transaction)
                    && authenticate.transaction.is_none()
                {
                    return Err(fail("tamper: \"transaction\" needs a transaction"));
                }
            }
            if let Some(at) = step.at() {
                if clock.is_some_and(|now| at < now) {
                    return Err(fail("at: time goes backwards"));
                }
                clock = Some(at);
            }
        }
        Ok(())
    }
}

/// The `*.json` files of a directory (`shared/scenarios`, say), sorted.
///
/// # Errors
///
/// When the directory cannot be read.
pub fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

impl Step {
    /// The op's name as files write it.
    #[must_use]
    pub fn op(&self) -> &'static str {
        match self {
            Self::Register(_) => "register",
            Self::AuthorizeDex(_) => "authorize_dex",
            Self::RevokeDex(_) => "revoke_dex",
            Self::Rename(_) => "rename",
            Self::Delete(_) => "delete",
            Self::Replace(_) => "replace",
            Self::Authenticate(_) => "authenticate",
            Self::List(_) => "list",
            Self::Freeze(_) => "freeze",
            Self::Unfreeze(_) => "unfreeze",
            Self::PasskeyRequired(_) => "passkey_required",
            Self::Revoke(_) => "revoke",
            Self::Recover(_) => "recover",
            Self::Status(_) => "status",
        }
    }

    /// The clock for this step, when it sets one.
    #[must_use]
    pub fn at(&self) -> Option<UnixTime> {
        self.common().0
    }

    /// What the step must give.
    #[must_use]
    pub fn expect(&self) -> &Expect {
        self.common().1
    }

    /// The warning codes the step must report (among others).
    #[must_use]
    pub fn expect_warnings(&self) -> &[String] {
        self.common().2
    }

    fn common(&self) -> (Option<UnixTime>, &Expect, &[String]) {
        match self {
            Self::Register(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::AuthorizeDex(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::RevokeDex(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Rename(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Delete(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Replace(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Authenticate(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::List(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Freeze(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Unfreeze(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::PasskeyRequired(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Revoke(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Recover(s) => (s.at, &s.expect, &s.expect_warnings),
            Self::Status(s) => (s.at, &s.expect, &s.expect_warnings),
        }
    }

    /// One step of a file, parsed with errors that name the field.
    fn from_value(value: Value, number: usize) -> Result<Self, ScenarioError> {
        let fail = |op: Option<&str>, message: String| ScenarioError {
            step: Some(number),
            op: op.map(str::to_owned),
            message,
        };
        let Value::Object(mut fields) = value else {
            return Err(fail(None, "not a JSON object".into()));
        };
        let op = match fields.remove("op") {
            Some(Value::String(op)) => op,
            Some(_) => return Err(fail(None, "op: not a string".into())),
            None => return Err(fail(None, "op: missing".into())),
        };
        let fields = Object(fields);
        let step = match op.as_str() {
            "register" => Register::deserialize(fields).map(Self::Register),
            "authorize_dex" => AuthorizeDex::deserialize(fields).map(Self::AuthorizeDex),
            "revoke_dex" => RevokeDex::deserialize(fields).map(Self::RevokeDex),
            "rename" => Rename::deserialize(fields).map(Self::Rename),
            "delete" => Delete::deserialize(fields).map(Self::Delete),
            "replace" => Replace::deserialize(fields).map(Self::Replace),
            "authenticate" => Authenticate::deserialize(fields).map(Self::Authenticate),
            "list" => List::deserialize(fields).map(Self::List),
            "freeze" => Freeze::deserialize(fields).map(Self::Freeze),
            "unfreeze" => Unfreeze::deserialize(fields).map(Self::Unfreeze),
            "passkey_required" => PasskeyRequired::deserialize(fields).map(Self::PasskeyRequired),
            "revoke" => Revoke::deserialize(fields).map(Self::Revoke),
            "recover" => Recover::deserialize(fields).map(Self::Recover),
            "status" => Status::deserialize(fields).map(Self::Status),
            other => return Err(fail(None, format!("op: {other:?} is not an op"))),
        };
        step.map_err(|e| fail(Some(&op), e.to_string()))
    }
}

impl Register {
    /// The new credential's authenticator settings.
    #[must_use]
    pub fn new_key(&self) -> NewKey {
        NewKey {
            alg: self.alg,
            aaguid: self.aaguid,
            attestation: self.attestation,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            uv: self.uv,
        }
    }
}

impl Recover {
    /// The new credential's authenticator settings.
    #[must_use]
    pub fn new_key(&self) -> NewKey {
        NewKey {
            alg: self.alg,
            aaguid: self.aaguid,
            attestation: self.attestation,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            uv: self.uv,
        }
    }
}

impl Replace {
    /// The new credential's authenticator settings.
    #[must_use]
    pub fn new_key(&self) -> NewKey {
        NewKey {
            alg: self.alg,
            aaguid: self.aaguid,
            attestation: self.attestation,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            uv: self.uv,
        }
    }
}

/// The top level of a file, but for `config` and `steps`, which are parsed on their own
/// so that their errors say where they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outline {
    #[serde(default)]
    name: String,
    #[serde(default)]
    rp: Option<Rp>,
}

fn parse_config(value: Value) -> Result<Config, String> {
    let Value::Object(fields) = value else {
        return Err("not a JSON object".into());
    };
    Config::deserialize(Object(fields)).map_err(|e| e.to_string())
}

/// The JSON `step_up` object before its one-of rule is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStepUp {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    factors: Option<Vec<FactorName>>,
    #[serde(default)]
    reuse: Option<bool>,
}

impl TryFrom<RawStepUp> for StepUp {
    type Error = &'static str;

    fn try_from(raw: RawStepUp) -> Result<Self, Self::Error> {
        match (raw.key, raw.factors, raw.reuse) {
            (Some(key), None, None) => Ok(Self::Key(key)),
            (None, Some(factors), None) => Ok(Self::Factors(factors)),
            (None, None, Some(true)) => Ok(Self::Reuse),
            (None, None, Some(false)) => Err("reuse: only `true` means something"),
            _ => Err("give exactly one of key, factors, reuse"),
        }
    }
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Error {
            error: String,
        }
        match Value::deserialize(deserializer)? {
            Value::String(ok) if ok == "ok" => Ok(Self::Ok),
            Value::Object(error) => Error::deserialize(Value::Object(error))
                .map(|e| Self::Error(e.error))
                .map_err(de::Error::custom),
            _ => Err(de::Error::custom(r#"neither "ok" nor {"error": "<code>"}"#)),
        }
    }
}

impl<'de> Deserialize<'de> for UnixTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_rfc3339(&text)
            .map(Self)
            .ok_or_else(|| de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
    }
}

fn yes() -> bool {
    true
}

fn user_request() -> String {
    "user_request".to_owned()
}

fn compromised() -> String {
    "compromised".to_owned()
}

fn zero_aaguid() -> Aaguid {
    Aaguid::ZERO
}

fn aaguid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Aaguid, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse()
        .map_err(|e| de::Error::custom(format!("{text:?}: {e}")))
}

fn aaguid_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(Aaguid, AaguidEntry)>, D::Error> {
    let table = BTreeMap::<String, AaguidEntry>::deserialize(deserializer)?;
    table
        .into_iter()
        .map(|(text, entry)| {
            text.parse()
                .map(|aaguid| (aaguid, entry))
                .map_err(|e| de::Error::custom(format!("{text:?}: {e}")))
        })
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction (dropped), then `Z` or `+HH:MM` /
/// `-HH:MM`: seconds since the Unix epoch.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once(['T', 't'])?;
    let mut date = date.split('-');
    let year: i64 = digits(date.next()?, 4)?;
    let month: i64 = digits(date.next()?, 2)?;
    let day: i64 = digits(date.next()?, 2)?;
    if date.next().is_some() {
        return None;
    }
    let (time, offset) = match rest.strip_suffix(['Z', 'z']) {
        Some(time) => (time, 0),
        None => {
            let split = rest.len().checked_sub(6)?;
            let (time, zone) = (rest.get(..split)?, rest.get(split..)?);
            let sign = match zone.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (hours, minutes) = zone.get(1..)?.split_once(':')?;
            let minutes = digits(hours, 2)? * 60 + digits(minutes, 2)?;
            (time, sign * minutes * 60)
        }
    };
    let time = match time.split_once('.') {
        Some((time, fraction)) => {
            if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            time
        }
        None => time,
    };
    let mut time = time.split(':');
    let hour: i64 = digits(time.next()?, 2)?;
    let minute: i64 = digits(time.next()?, 2)?;
    let second: i64 = digits(time.next()?, 2)?;
    if time.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Exactly `len` ASCII digits.
fn digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A JSON object as a serde deserializer whose errors start with the field they are
/// about (`scope: unknown variant ...`), which serde's own do not say.
struct Object(Map<String, Value>);

impl<'de> Deserializer<'de> for Object {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields {
            entries: self.0.into_iter(),
            pending: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map struct
        enum identifier ignored_any
    }
}

struct Fields<I> {
    entries: I,
    pending: Option<(String, Value)>,
}

impl<'de, I: Iterator<Item = (String, Value)>> MapAccess<'de> for Fields<I> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let parsed = seed.deserialize(key.as_str().into_deserializer())?;
        self.pending = Some((key, value));
        Ok(Some(parsed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(value)
            .map_err(|e| de::Error::custom(format!("{key}: {e}")))
    }
}

#[cfg(test)]
mod tests;
