//! WebAuthn Level 3 JSON (§5.1.8, §5.4, §5.5): what `toJSON()` and
//! `parse*OptionsFromJSON()` exchange with the browser. Binary values are base64url
//! without padding, decoded strictly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use latchkey_policy::UserVerificationRule;

use crate::config::RelyingParty;
use crate::error::{Error, Result};
use crate::extensions::{LargeBlobInputs, PrfInputs, RequestExtensions};

/// Encodes bytes as base64url without padding.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical base64url without padding.
///
/// # Errors
///
/// [`Error::Malformed`] naming `what`.
pub fn unb64(text: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::Malformed(format!("{what} is not base64url")))
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
    pub resident_key: String,
    /// Legacy mirror of `residentKey`.
    pub require_resident_key: bool,
    /// `required`, `preferred` or `discouraged`.
    pub user_verification: String,
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
    /// `none`, `indirect`, `direct` or `enterprise`.
    pub attestation: String,
    /// Hints (`security-key`, `client-device`, `hybrid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
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
    /// `required`, `preferred` or `discouraged`.
    pub user_verification: String,
    /// Hints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// Requested extensions (`prf`, `largeBlob`): set them before sending the options.
    #[serde(default, skip_serializing_if = "RequestExtensions::is_empty")]
    pub extensions: RequestExtensions,
}

/// `RegistrationResponseJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// base64url credential id.
    pub id: String,
    /// The same, as `rawId`.
    pub raw_id: String,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The attestation response.
    pub response: AttestationResponse,
    /// `platform` or `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Unsigned client extension outputs: never a security input.
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
}

impl RegistrationResponse {
    /// Parses the JSON a browser posts (`PublicKeyCredential.toJSON()`).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] with serde's position, never the content.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Malformed(e.to_string()))
    }
}

/// `AuthenticatorAttestationResponseJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    /// base64url clientDataJSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url attestationObject.
    pub attestation_object: String,
    /// Transports the authenticator supports.
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `AuthenticationResponseJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// base64url credential id.
    pub id: String,
    /// The same, as `rawId`.
    pub raw_id: String,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The assertion.
    pub response: AssertionResponse,
    /// `platform` or `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Unsigned client extension outputs: never a security input.
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
}

impl AuthenticationResponse {
    /// Parses the JSON a browser posts (`PublicKeyCredential.toJSON()`).
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] with serde's position, never the content.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::Malformed(e.to_string()))
    }
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    /// base64url clientDataJSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url authenticatorData.
    pub authenticator_data: String,
    /// base64url signature.
    pub signature: String,
    /// base64url user handle, when the authenticator returned one.
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// Checks `type` and that `id` and `rawId` are the same canonical base64url (C.1-C.3);
/// returns the credential id bytes.
pub(crate) fn credential_id(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>> {
    if kind != "public-key" {
        return Err(Error::Malformed("type is not public-key".into()));
    }
    if id != raw_id {
        return Err(Error::Malformed("id and rawId differ".into()));
    }
    let bytes = unb64(raw_id, "rawId")?;
    if bytes.is_empty() {
        return Err(Error::Malformed("rawId is empty".into()));
    }
    Ok(bytes)
}

/// At most this many transports are read from a registration response: WebAuthn Level 3
/// defines six, and the list is stored and echoed in every later options object.
pub const MAX_TRANSPORTS: usize = 8;

/// At most this many bytes in one transport name (the longest defined, `smart-card`, has 10).
pub const MAX_TRANSPORT_LEN: usize = 32;

/// The transports a registration response reported, as they will be stored: each a
/// lowercase token (`[a-z0-9-]`, unknown future values kept as the spec asks), without
/// repeats, in the order sent.
///
/// # Errors
///
/// [`Error::TooMany`] past [`MAX_TRANSPORTS`] entries; [`Error::Malformed`] for an empty,
/// over-long or non-token name.
pub(crate) fn transports(reported: &[String]) -> Result<Vec<String>> {
    if reported.len() > MAX_TRANSPORTS {
        return Err(Error::TooMany {
            what: "transports",
            max: MAX_TRANSPORTS,
        });
    }
    let mut kept: Vec<String> = Vec::with_capacity(reported.len());
    for name in reported {
        let token = !name.is_empty()
            && name.len() <= MAX_TRANSPORT_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !token {
            return Err(Error::Malformed(
                "a transport is not a short lowercase token".into(),
            ));
        }
        if !kept.contains(name) {
            kept.push(name.clone());
        }
    }
    Ok(kept)
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
                resident_key: "required".into(),
                require_resident_key: true,
                user_verification: UserVerificationRule::Required.as_str().into(),
            },
            attestation: rp.attestation().to_owned(),
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
            user_verification: user_verification.as_str().into(),
            hints: rp.hints().to_vec(),
            extensions: RequestExtensions {
                appid,
                ..RequestExtensions::default()
            },
        }
    }
}
