//! WebAuthn Level 3 JSON (§5.1.8, §5.4, §5.5): what `toJSON()` and
//! `parse*OptionsFromJSON()` exchange with the browser. Binary values are base64url
//! without padding, decoded strictly. The responses come from `latchkey-verify`, so the
//! facade and every other caller read them through one path.

use serde::{Deserialize, Serialize};

use latchkey_policy::UserVerificationRule;

use crate::config::RelyingParty;
use crate::extensions::{LargeBlobInputs, PrfInputs, RequestExtensions};

/// The responses the browser posts, and the one strict path from them to bytes: the same
/// types `latchkey-verify` reads for every caller (see [`latchkey_verify::json`]).
pub use latchkey_verify::json::{
    AssertionResponse, AttestationResponse, AuthenticationResponse, DecodedAssertion,
    DecodedRegistration, MAX_RESPONSE_JSON_LEN, MAX_TRANSPORT_LEN, MAX_TRANSPORTS,
    RegistrationResponse, b64, unb64,
};

/// `UserVerificationRequirement` (WebAuthn L3 §5.8.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerificationRequirement {
    /// The authenticator must verify the user.
    Required,
    /// Verify the user when the authenticator can.
    Preferred,
    /// Do not verify the user unless the authenticator must.
    Discouraged,
}

impl From<UserVerificationRule> for UserVerificationRequirement {
    fn from(rule: UserVerificationRule) -> Self {
        match rule {
            UserVerificationRule::Required => Self::Required,
            UserVerificationRule::Preferred => Self::Preferred,
        }
    }
}

/// `ResidentKeyRequirement` (WebAuthn L3 §5.4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResidentKeyRequirement {
    /// A server-side credential is preferred.
    Discouraged,
    /// A discoverable credential when the authenticator can.
    Preferred,
    /// A discoverable credential (a passkey).
    Required,
}

/// `AttestationConveyancePreference` (WebAuthn L3 §5.4.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationConveyance {
    /// No attestation (the client may replace it with `none`).
    #[default]
    None,
    /// An attestation the client may anonymize.
    Indirect,
    /// The authenticator's attestation as it made it.
    Direct,
    /// An attestation that may identify the authenticator individually (managed devices):
    /// only then are certificates carrying the FIDO enterprise serial extension accepted.
    Enterprise,
}

/// `PublicKeyCredentialHint` (WebAuthn L3 §5.8.7): what the browser's UI should offer first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    /// A roaming security key.
    SecurityKey,
    /// The device the user is on (platform authenticator).
    ClientDevice,
    /// A phone or another device, over hybrid transport.
    Hybrid,
}

/// `PublicKeyCredentialRpEntity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpEntity {
    /// RP ID.
    pub id: String,
    /// Human-palatable name.
    pub name: String,
}

/// `PublicKeyCredentialUserEntityJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user handle, base64url (at most 64 bytes).
    pub id: String,
    /// Account name.
    pub name: String,
    /// Display name.
    pub display_name: String,
}

/// `PublicKeyCredentialParameters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialParameters {
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// COSE algorithm identifier.
    pub alg: i64,
}

/// `PublicKeyCredentialDescriptorJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDescriptor {
    /// base64url credential id.
    pub id: String,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Transports the client reported at registration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

/// `AuthenticatorSelectionCriteria`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    /// `required`: passkeys are discoverable.
    pub resident_key: ResidentKeyRequirement,
    /// Legacy mirror of `residentKey`.
    pub require_resident_key: bool,
    /// What the authenticator must do to verify the user.
    pub user_verification: UserVerificationRequirement,
}

/// `PublicKeyCredentialCreationOptionsJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    /// The relying party.
    pub rp: RpEntity,
    /// The user.
    pub user: UserEntity,
    /// base64url challenge.
    pub challenge: String,
    /// Algorithms, in order of preference.
    pub pub_key_cred_params: Vec<CredentialParameters>,
    /// Milliseconds.
    pub timeout: u64,
    /// The account's passkeys of this scope, so an authenticator does not register twice.
    pub exclude_credentials: Vec<CredentialDescriptor>,
    /// Authenticator requirements.
    pub authenticator_selection: AuthenticatorSelection,
    /// Attestation conveyance.
    pub attestation: AttestationConveyance,
    /// Hints for the browser's UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    /// Requested extensions.
    #[serde(default)]
    pub extensions: CreationExtensions,
}

/// The extensions a registration requests (`AuthenticationExtensionsClientInputsJSON`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationExtensions {
    /// `credProps`: ask the client whether the credential is discoverable (informational:
    /// client outputs are not signed).
    #[serde(default)]
    pub cred_props: bool,
    /// `credentialProtectionPolicy` (CTAP 2.1 §12.1): `userVerificationOptional`,
    /// `userVerificationOptionalWithCredentialIDList` or `userVerificationRequired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_protection_policy: Option<String>,
    /// `enforceCredentialProtectionPolicy`: the client must not create a credential with
    /// a lower level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_credential_protection_policy: Option<bool>,
    /// `prf`: `{}` asks whether the credential supports PRF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prf: Option<PrfInputs>,
    /// `largeBlob`: `{"support": "preferred"}` or `"required"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<LargeBlobInputs>,
    /// `appidExclude` (§10.1.2): the U2F AppID whose credentials in
    /// `excludeCredentials` the client also excludes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid_exclude: Option<String>,
}

/// `PublicKeyCredentialRequestOptionsJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// base64url challenge.
    pub challenge: String,
    /// Milliseconds.
    pub timeout: u64,
    /// RP ID.
    pub rp_id: String,
    /// The passkeys that may answer; empty for discoverable login.
    pub allow_credentials: Vec<CredentialDescriptor>,
    /// What the authenticator must do to verify the user.
    pub user_verification: UserVerificationRequirement,
    /// Hints for the browser's UI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<Hint>,
    /// Requested extensions (`prf`, `largeBlob`): set them before sending the options.
    #[serde(default, skip_serializing_if = "RequestExtensions::is_empty")]
    pub extensions: RequestExtensions,
}

/// The Signal API payloads of P13, for the client to prune or update its passkeys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalUnknownCredential {
    /// RP ID.
    pub rp_id: String,
    /// base64url credential id the service does not know.
    pub credential_id: String,
}

/// `signalAllAcceptedCredentials` options (P13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalAllAcceptedCredentials {
    /// RP ID.
    pub rp_id: String,
    /// base64url user handle.
    pub user_id: String,
    /// base64url credential ids still accepted.
    pub all_accepted_credential_ids: Vec<String>,
}

impl CreationOptions {
    /// The options latchkey sends for a registration: resident key and user verification
    /// required, the relying party's algorithms, attestation conveyance, hints and
    /// extensions (`credProps`, `credProtect`, `appidExclude`).
    pub(crate) fn new(
        rp: &RelyingParty,
        user: UserEntity,
        challenge: &[u8],
        exclude_credentials: Vec<CredentialDescriptor>,
    ) -> Self {
        Self {
            rp: RpEntity {
                id: rp.id().to_owned(),
                name: rp.name().to_owned(),
            },
            user,
            challenge: b64(challenge),
            pub_key_cred_params: rp
                .algorithms()
                .iter()
                .map(|a| CredentialParameters {
                    kind: "public-key".into(),
                    alg: a.cose(),
                })
                .collect(),
            timeout: rp.timeout_ms(),
            exclude_credentials,
            authenticator_selection: AuthenticatorSelection {
                resident_key: ResidentKeyRequirement::Required,
                require_resident_key: true,
                user_verification: UserVerificationRule::Required.into(),
            },
            attestation: rp.attestation(),
            hints: rp.hints().to_vec(),
            extensions: CreationExtensions {
                cred_props: true,
                credential_protection_policy: rp
                    .cred_protect()
                    .map(|level| level.policy_name().to_owned()),
                enforce_credential_protection_policy: rp.cred_protect().map(|_| true),
                prf: None,
                large_blob: None,
                appid_exclude: rp.app_id().map(str::to_owned),
            },
        }
    }
}

impl RequestOptions {
    /// The options latchkey sends for an assertion: the passkeys that may answer, the
    /// user verification the intent needs, and `appid` when one of them was imported
    /// from U2F.
    pub(crate) fn new(
        rp: &RelyingParty,
        challenge: &[u8],
        allow_credentials: Vec<CredentialDescriptor>,
        user_verification: UserVerificationRule,
        appid: Option<String>,
    ) -> Self {
        Self {
            challenge: b64(challenge),
            timeout: rp.timeout_ms(),
            rp_id: rp.id().to_owned(),
            allow_credentials,
            user_verification: user_verification.into(),
            hints: rp.hints().to_vec(),
            extensions: RequestExtensions {
                appid,
                ..RequestExtensions::default()
            },
        }
    }
}
