//! The account model: scopes, credentials, intents, time and request context.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_cose::Aaguid;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fingerprint::KeyFingerprint;
use crate::step_up::{PendingStepUp, ProofId};

/// A passkey system. DEX is not a scope of its own: it is an authorization on Exchange
/// passkeys (PRODUCT.md, Scopes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Login, two-factor checks, withdrawals, security changes; DEX once authorized.
    Exchange,
    /// Signs Pay transactions only; a fully separate system.
    Pay,
}

/// Where the minimum-one rule and limits apply: the two scopes and the DEX subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Realm {
    /// All Exchange passkeys.
    Exchange,
    /// The Exchange passkeys authorized for DEX.
    Dex,
    /// All Pay passkeys.
    Pay,
}

/// A factor other than a passkey that the service checked and attests to (P7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// An e-mailed code or link.
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

/// How a passkey's provider is classified by its AAGUID (P11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderClass {
    /// The platform's own manager (iCloud Keychain, Google Password Manager...).
    Platform,
    /// A third-party password manager.
    ThirdParty,
    /// A hardware security key.
    Hardware,
    /// Not in the AAGUID table, or the zero AAGUID.
    Unknown,
}

/// Seconds since the Unix epoch. The engine never reads a clock: time is passed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// This instant plus `seconds`.
    #[must_use]
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }
}

/// A credential id (1 to 1023 bytes); serialised as base64url.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialId(Vec<u8>);

impl CredentialId {
    /// Wraps credential id bytes.
    #[must_use]
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({self})")
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl Serialize for CredentialId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CredentialId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for [`Aaguid`] as its UUID string.
pub(crate) mod aaguid_serde {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(aaguid: &Aaguid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&aaguid.to_string())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Aaguid, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for byte vectors as base64url.
pub(crate) mod bytes_serde {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        URL_SAFE_NO_PAD
            .decode(String::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}

/// Where a request came from (P14), as the service passes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// Client IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// User agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Device description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Who acted: the user (the default), or an operator.
    #[serde(default, skip_serializing_if = "Actor::is_user")]
    pub actor: Actor,
    /// The service's id of the request, to find it in its own logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The challenge the service handed this session (the options' `challenge`, as
    /// sent): a finish call refuses a response that names another (P16). Never recorded.
    #[serde(skip)]
    pub session_challenge: Option<String>,
}

impl RequestContext {
    /// The context as the history keeps it: without the session challenge.
    #[must_use]
    pub fn recorded(&self) -> Self {
        Self {
            session_challenge: None,
            ..self.clone()
        }
    }
}

/// Who made a request (P14).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The account's user.
    #[default]
    User,
    /// An operator of the service, by the service's id for them.
    Operator(String),
}

impl Actor {
    /// Whether the user acted.
    #[must_use]
    pub fn is_user(&self) -> bool {
        *self == Self::User
    }

    /// Whether the actor names who acted (P14): the user, or an operator by an id that
    /// is not empty, has no leading or trailing whitespace, and holds none of the
    /// characters a passkey name may not (P6: control, format, default-ignorable, blanks,
    /// whitespace but U+0020) nor a variation selector, so that the history never shows an
    /// operator without a name, nor one id made to read as another.
    #[must_use]
    pub fn is_named(&self) -> bool {
        match self {
            Self::User => true,
            // The same characters a passkey name may not hold (P6), no variation selector,
            // and nothing to trim: an id that looks blank or like another cannot be one.
            Self::Operator(id) => {
                !id.is_empty()
                    && id.trim() == id
                    && id.chars().all(|c| {
                        !crate::names::is_hidden(c) && !crate::names::is_variation_selector(c)
                    })
            }
        }
    }
}

/// One passkey of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The credential id.
    pub id: CredentialId,
    /// Exchange or Pay.
    pub scope: Scope,
    /// Whether it may sign for DEX (Exchange only).
    pub dex_authorized: bool,
    /// The label on the management page.
    pub name: String,
    /// The COSE public key, as registered.
    #[serde(with = "bytes_serde")]
    pub public_key: Vec<u8>,
    /// The authenticator model.
    #[serde(with = "aaguid_serde")]
    pub aaguid: Aaguid,
    /// Its provider class.
    pub provider: ProviderClass,
    /// The stored signature counter.
    pub sign_count: u32,
    /// Backup eligibility (BE), fixed at registration.
    pub backup_eligible: bool,
    /// Backup state (BS), updated from each assertion.
    pub backed_up: bool,
    /// Transports the client reported.
    #[serde(default)]
    pub transports: Vec<String>,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it was last used.
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    /// The `credProtect` level (1-3) the authenticator applied at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_protect: Option<u8>,
    /// The FIDO AppID it was registered under through U2F, for credentials imported
    /// from a U2F service: its assertions may carry the AppID's hash (WebAuthn §10.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// The state of one account: a fold of its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    /// Its passkeys, in creation order.
    pub credentials: Vec<Credential>,
    /// Withdrawals are locked until this instant (P8).
    #[serde(default)]
    pub withdrawal_locked_until: Option<Timestamp>,
    /// Passkey step-ups granted and not yet redeemed, oldest first (P7), at most
    /// [`MAX_PENDING_STEP_UPS`](crate::MAX_PENDING_STEP_UPS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_ups: Vec<PendingStepUp>,
    /// Set while the account is frozen (P18): every change and every intent but login
    /// is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<Freeze>,
    /// How many times the account was frozen or unfrozen (P18): a ceremony notes it when
    /// it begins, and one begun before a freeze or an unfreeze (the count moved since)
    /// grants or serves nothing. A count, not a time: clocks of two instances may
    /// disagree, the order of events in one account's history cannot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub freeze_changes: u64,
    /// Whether the user turned passkey-required mode on (P19): the service's own
    /// fallback paths (password login, withdrawal without a passkey) must refuse.
    #[serde(default, skip_serializing_if = "is_false")]
    pub passkey_required: bool,
    /// Passkeys revoked by an operator or by a recovery (P20): never accepted again,
    /// not even registered again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<CredentialId>,
    /// The COSE public keys of the passkeys in [`revoked`](Self::revoked), as they were
    /// registered: a revoked key is registered again under no id (P20). Folded from the
    /// history ([`apply`](crate::apply) takes the key from the passkey's record when its
    /// `Revoked` event comes), so no event carries it.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "keys_serde")]
    pub revoked_keys: Vec<Vec<u8>>,
}

/// Serde for a list of byte strings as base64url strings.
mod keys_serde {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(keys: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(keys.iter().map(|key| URL_SAFE_NO_PAD.encode(key)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|text| {
                URL_SAFE_NO_PAD
                    .decode(text)
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// Whether two COSE public keys hold the same key: the same bytes, or the same key
/// material however it is encoded (map order, `alg`, leading zero bytes of an RSA
/// modulus), so that a stolen key cannot come back re-encoded (P20).
#[must_use]
pub(crate) fn same_key(a: &[u8], b: &[u8]) -> bool {
    a == b || KeyFingerprint::of(a) == KeyFingerprint::of(b)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(value: &bool) -> bool {
    !*value
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// Why and since when an account is frozen (P18).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// The reason the service gave (`user_request`, a risk rule...), cleaned of control
    /// and format characters and at most [`MAX_REASON_CHARS`](crate::MAX_REASON_CHARS)
    /// characters.
    pub reason: String,
    /// When it was frozen.
    pub since: Timestamp,
}

impl AccountState {
    /// The passkey with this id.
    #[must_use]
    pub fn credential(&self, id: &CredentialId) -> Option<&Credential> {
        self.credentials.iter().find(|c| &c.id == id)
    }

    /// How many passkeys a realm holds.
    #[must_use]
    pub fn count(&self, realm: Realm) -> usize {
        self.credentials
            .iter()
            .filter(|c| c.in_realm(realm))
            .count()
    }

    /// Whether withdrawals are locked at `now`.
    #[must_use]
    pub fn withdrawals_locked(&self, now: Timestamp) -> bool {
        self.withdrawals_locked_until(now).is_some()
    }

    /// Until when the intents that move funds out are locked, if they are at `now` (P8).
    #[must_use]
    pub fn withdrawals_locked_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.withdrawal_locked_until.filter(|until| now < *until)
    }

    /// Whether this credential id was revoked by an operator or a recovery (P20).
    #[must_use]
    pub fn is_revoked(&self, id: &CredentialId) -> bool {
        self.revoked.contains(id)
    }

    /// Whether `public_key` (COSE) is the key of a passkey revoked by an operator or a
    /// recovery (P20), however it is encoded.
    #[must_use]
    pub fn is_revoked_key(&self, public_key: &[u8]) -> bool {
        self.revoked_keys
            .iter()
            .any(|key| same_key(key, public_key))
    }

    /// The fingerprints of [`revoked_keys`](Self::revoked_keys): what a store's index of
    /// revoked keys holds for this account (P20).
    pub fn revoked_key_fingerprints(&self) -> impl Iterator<Item = KeyFingerprint> + '_ {
        self.revoked_keys.iter().map(|key| KeyFingerprint::of(key))
    }

    /// Whether the account is frozen (P18).
    #[must_use]
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// The unredeemed step-up grant with this id.
    #[must_use]
    pub fn pending_step_up(&self, proof: &ProofId) -> Option<&PendingStepUp> {
        self.step_ups.iter().find(|p| &p.proof == proof)
    }
}

impl Credential {
    /// Whether this passkey counts in `realm`.
    #[must_use]
    pub fn in_realm(&self, realm: Realm) -> bool {
        match realm {
            Realm::Exchange => self.scope == Scope::Exchange,
            Realm::Dex => self.scope == Scope::Exchange && self.dex_authorized,
            Realm::Pay => self.scope == Scope::Pay,
        }
    }
}

#[cfg(test)]
mod tests {
    use latchkey_cose::{Algorithm, CredentialPublicKey};
    use latchkey_testkit::authenticator::SoftKey;

    use super::*;

    /// P20: a stolen key does not come back re-encoded: the same EC point under another
    /// `alg` (ESP256 for ES256) is the same key; another point is not.
    #[test]
    fn a_key_is_the_same_however_it_is_encoded() -> Result<(), Box<dyn std::error::Error>> {
        let key = SoftKey::es256([0x91; 32]).public_key();
        let other = SoftKey::es256([0x92; 32]).public_key();
        let reencoded = CredentialPublicKey::new(Algorithm::Esp256, key.params().clone())?;
        assert_ne!(reencoded.as_cose_bytes(), key.as_cose_bytes());
        assert!(same_key(key.as_cose_bytes(), reencoded.as_cose_bytes()));
        assert!(!same_key(key.as_cose_bytes(), other.as_cose_bytes()));
        // Bytes that are no key compare as bytes.
        assert!(same_key(&[1, 2], &[1, 2]) && !same_key(&[1, 2], &[1, 3]));
        let state = AccountState {
            revoked_keys: vec![key.as_cose_bytes().to_vec()],
            ..AccountState::default()
        };
        assert!(state.is_revoked_key(reencoded.as_cose_bytes()));
        // The keys survive the stores' JSON, as base64url.
        let json = serde_json::to_string(&state)?;
        assert_eq!(serde_json::from_str::<AccountState>(&json)?, state);
        // A state stored before the keys were kept still reads.
        let old: AccountState = serde_json::from_str(r#"{"credentials":[],"revoked":["AQ"]}"#)?;
        assert!(old.revoked_keys.is_empty() && old.is_revoked(&CredentialId::new([1])));
        Ok(())
    }
}
