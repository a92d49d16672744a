//! What a service can configure, with PRODUCT.md's defaults.

use std::collections::HashMap;

use latchkey_cose::Aaguid;
use serde::Deserialize;

use crate::intent::Intent;
use crate::model::{Factor, ProviderClass, Realm, Scope};

/// Every option of the engine. `PolicyConfig::default()` is PRODUCT.md's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// Most passkeys per realm (P5). Default: Exchange 10, DEX 5, Pay 3.
    pub limits: Limits,
    /// How long withdrawals stay locked after a reset, or a delete stepped up without a
    /// passkey (P8). Default: 24 hours.
    pub withdrawal_lock_seconds: i64,
    /// What a counter that did not grow means (P12). Default: refuse.
    pub counter: CounterMode,
    /// Allow / warn / deny per realm and provider class (P11). Default: warn on
    /// third-party managers everywhere, allow the rest.
    pub providers: ProviderRules,
    /// AAGUID -> provider name and class (P6, P11). Default: empty (every passkey is
    /// "Passkey", class unknown); load the service's table with [`AaguidTable::from_json`].
    pub aaguids: AaguidTable,
    /// Factors the service requires on top of the passkey, per intent (P9). Default: none.
    pub intent_factors: HashMap<Intent, Vec<Factor>>,
    /// How long a ceremony challenge stays valid, in seconds (P16). Default: 300.
    pub challenge_ttl_seconds: i64,
    /// How many distinct factors a factor step-up needs, per scope (P7). Default:
    /// Exchange 2, Pay 1.
    pub step_up_factors: StepUpFactors,
    /// The intents the withdrawal lock covers: every intent that moves funds out (P8).
    /// Default: `withdrawal` and `dex_transfer`.
    pub locked_intents: Vec<Intent>,
    /// Scopes whose passkeys need an attestation that chains to a trust anchor
    /// (`attestation_untrusted`). Default: none.
    pub trusted_attestation: Vec<Scope>,
    /// The label each scope's passkeys carry in the user's password manager (P17):
    /// creation options for a labelled scope name the user `<name> (<label>)`.
    /// Default: Pay is labelled "Pay", Exchange carries the plain names.
    pub labels: HashMap<Scope, String>,
    /// Whether a frozen account may still log in (P18). Default: allow.
    pub frozen_login: FrozenLogin,
}

/// Whether a frozen account may still log in (P18).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrozenLogin {
    /// Login goes through; everything else is refused.
    #[default]
    Allow,
    /// Login is refused too (`account_frozen`).
    Refuse,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            withdrawal_lock_seconds: 24 * 60 * 60,
            counter: CounterMode::Reject,
            providers: ProviderRules::default(),
            aaguids: AaguidTable::default(),
            intent_factors: HashMap::new(),
            challenge_ttl_seconds: 300,
            step_up_factors: StepUpFactors::default(),
            locked_intents: vec![Intent::Withdrawal, Intent::DexTransfer],
            trusted_attestation: Vec::new(),
            labels: HashMap::from([(Scope::Pay, "Pay".to_owned())]),
            frozen_login: FrozenLogin::Allow,
        }
    }
}

impl PolicyConfig {
    /// Whether the withdrawal lock covers `intent` (P8).
    #[must_use]
    pub fn is_locked_intent(&self, intent: Intent) -> bool {
        self.locked_intents.contains(&intent)
    }

    /// The label of `scope`'s passkeys in the password manager, if it has one (P17).
    #[must_use]
    pub fn label(&self, scope: Scope) -> Option<&str> {
        self.labels
            .get(&scope)
            .map(|label| label.trim())
            .filter(|label| !label.is_empty())
    }

    /// The user name (or display name) that `scope`'s creation options carry:
    /// `<name> (<label>)` for a labelled scope, `name` otherwise (P17).
    #[must_use]
    pub fn labelled(&self, name: &str, scope: Scope) -> String {
        match self.label(scope) {
            Some(label) => format!("{name} ({label})"),
            None => name.to_owned(),
        }
    }
}

/// How many distinct factors a factor step-up needs, per scope (P7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepUpFactors {
    /// Exchange (and DEX) changes. Default 2.
    pub exchange: usize,
    /// Pay changes. Default 1: Pay's reset channel is the account's e-mail.
    pub pay: usize,
}

impl Default for StepUpFactors {
    fn default() -> Self {
        Self {
            exchange: 2,
            pay: 1,
        }
    }
}

impl StepUpFactors {
    /// The number for `scope`; never below one, so an empty list never steps up.
    #[must_use]
    pub fn of(&self, scope: Scope) -> usize {
        match scope {
            Scope::Exchange => self.exchange,
            Scope::Pay => self.pay,
        }
        .max(1)
    }
}

/// Passkey limits per realm (P5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Exchange passkeys. Default 10.
    pub exchange: usize,
    /// DEX-authorized passkeys. Default 5.
    pub dex: usize,
    /// Pay passkeys. Default 3.
    pub pay: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            exchange: 10,
            dex: 5,
            pay: 3,
        }
    }
}

impl Limits {
    /// The limit of `realm`.
    #[must_use]
    pub fn of(&self, realm: Realm) -> usize {
        match realm {
            Realm::Exchange => self.exchange,
            Realm::Dex => self.dex,
            Realm::Pay => self.pay,
        }
    }
}

/// What a counter that does not grow means (P12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterMode {
    /// Refuse with `counter_regression`.
    #[default]
    Reject,
    /// Accept with a `counter_regression` warning.
    Flag,
}

/// A provider rule's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderVerdict {
    /// Accept silently.
    Allow,
    /// Accept with a warning.
    Warn,
    /// Refuse with `provider_denied`.
    Deny,
}

/// Allow / warn / deny per realm and provider class (P11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderRules {
    rules: HashMap<(Realm, ProviderClass), ProviderVerdict>,
}

impl Default for ProviderRules {
    fn default() -> Self {
        let mut rules = HashMap::new();
        for realm in [Realm::Exchange, Realm::Dex, Realm::Pay] {
            rules.insert((realm, ProviderClass::ThirdParty), ProviderVerdict::Warn);
        }
        Self { rules }
    }
}

impl ProviderRules {
    /// Sets the verdict for a realm and class.
    pub fn set(&mut self, realm: Realm, class: ProviderClass, verdict: ProviderVerdict) {
        self.rules.insert((realm, class), verdict);
    }

    /// The verdict for a realm and class (allow unless configured).
    #[must_use]
    pub fn verdict(&self, realm: Realm, class: ProviderClass) -> ProviderVerdict {
        self.rules
            .get(&(realm, class))
            .copied()
            .unwrap_or(ProviderVerdict::Allow)
    }
}

/// AAGUID -> provider name and class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AaguidTable {
    entries: HashMap<Aaguid, (String, ProviderClass)>,
}

#[derive(Deserialize)]
struct TableEntry {
    name: String,
    class: ProviderClass,
}

/// An AAGUID table that is not `{ "<uuid>": { "name": "...", "class": "..." } }`.
#[derive(Debug, thiserror::Error)]
#[error("AAGUID table: {0}")]
pub struct AaguidTableError(String);

impl AaguidTable {
    /// Parses `{ "<uuid>": { "name": "...", "class": "platform" | "third_party" |
    /// "hardware" | "unknown" } }`.
    ///
    /// # Errors
    ///
    /// On JSON that does not have that shape or a key that is not a UUID.
    pub fn from_json(json: &str) -> Result<Self, AaguidTableError> {
        let raw: HashMap<String, TableEntry> =
            serde_json::from_str(json).map_err(|e| AaguidTableError(e.to_string()))?;
        let mut entries = HashMap::with_capacity(raw.len());
        for (uuid, entry) in raw {
            let aaguid: Aaguid = uuid
                .parse()
                .map_err(|_| AaguidTableError(format!("{uuid:?} is not a UUID")))?;
            entries.insert(aaguid, (entry.name, entry.class));
        }
        Ok(Self { entries })
    }

    /// Adds or replaces one entry.
    pub fn insert(&mut self, aaguid: Aaguid, name: &str, class: ProviderClass) {
        self.entries.insert(aaguid, (name.to_owned(), class));
    }

    /// The provider name and class of an AAGUID; the zero AAGUID is never in the table.
    #[must_use]
    pub fn lookup(&self, aaguid: Aaguid) -> Option<(&str, ProviderClass)> {
        if aaguid.is_zero() {
            return None;
        }
        self.entries
            .get(&aaguid)
            .map(|(name, class)| (name.as_str(), *class))
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
