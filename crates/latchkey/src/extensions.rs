//! Client extensions a service may request and what the client reports back: `prf`
//! (secrets derived by the authenticator, backed by CTAP `hmac-secret`), `largeBlob` and
//! `credProps` (WebAuthn L3 §10.1).
//!
//! Client outputs are not signed by the authenticator: they serve the service's features
//! (a PRF secret to unwrap a key, a stored blob) and are never a security decision here.
//! The signed outputs (`credProtect`, `hmac-secret`) are read by `latchkey-verify`.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::json::unb64;

/// Largest `largeBlob` blob or PRF output accepted from a client, in bytes.
pub const MAX_CLIENT_OUTPUT_BYTES: usize = 64 * 1024;

/// `prf` inputs (`AuthenticationExtensionsPRFInputs`): at registration `{}` asks whether
/// the credential supports PRF; `eval` asks for outputs now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrfInputs {
    /// Salts to evaluate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<PrfValues>,
}

/// One or two PRF salts (inputs) or results (outputs), base64url.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrfValues {
    /// The first value.
    pub first: String,
    /// The second value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<String>,
}

/// `largeBlob` inputs (`AuthenticationExtensionsLargeBlobInputs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LargeBlobInputs {
    /// At registration: `required` or `preferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// At authentication: read the blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
    /// At authentication: write this blob (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write: Option<String>,
}

/// Extensions an authentication requests; set them on the options before sending them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestExtensions {
    /// `prf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prf: Option<PrfInputs>,
    /// `largeBlob`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob: Option<LargeBlobInputs>,
    /// `appid` (§10.1.1): the U2F AppID, set by latchkey when a credential offered was
    /// imported from U2F.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
}

impl RequestExtensions {
    /// Whether nothing is requested (the member is then left out of the JSON).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.prf.is_none() && self.large_blob.is_none() && self.appid.is_none()
    }
}

/// What the client reported of the extensions latchkey knows (`clientExtensionResults`).
/// Unsigned: for features, not for security decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientExtensionOutputs {
    /// `credProps.rk`: whether the credential is discoverable.
    pub discoverable: Option<bool>,
    /// `prf.enabled`: whether the credential supports PRF (registration).
    pub prf_enabled: Option<bool>,
    /// `prf.results`: the PRF outputs for the first and second salts.
    pub prf_results: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// `largeBlob.supported` (registration).
    pub large_blob_supported: Option<bool>,
    /// `largeBlob.blob`: the blob read.
    pub large_blob: Option<Vec<u8>>,
    /// `largeBlob.written`: whether the write succeeded.
    pub large_blob_written: Option<bool>,
    /// `appid`: whether the client used the AppID (authentication). Verification does not
    /// rely on it: the signed rpIdHash decides.
    pub appid: Option<bool>,
    /// `appidExclude`: whether the client processed the AppID exclusion (registration).
    pub appid_exclude: Option<bool>,
}

impl ClientExtensionOutputs {
    /// Reads `clientExtensionResults`; unknown members are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] when a known member has the wrong type, a binary value is
    /// not base64url or is larger than [`MAX_CLIENT_OUTPUT_BYTES`].
    pub fn parse(results: &Json) -> Result<Self> {
        let member = |path: &[&str]| {
            path.iter()
                .try_fold(results, |value, key| value.get(*key))
                .filter(|value| !value.is_null())
        };
        let boolean = |path: &[&str]| {
            member(path)
                .map(|value| {
                    value.as_bool().ok_or_else(|| {
                        Error::Malformed(format!(
                            "clientExtensionResults.{} is not a boolean",
                            path.join(".")
                        ))
                    })
                })
                .transpose()
        };
        let bytes = |path: &[&str]| {
            member(path)
                .map(|value| {
                    let what = format!("clientExtensionResults.{}", path.join("."));
                    let text = value
                        .as_str()
                        .filter(|text| text.len() <= MAX_CLIENT_OUTPUT_BYTES.div_ceil(3) * 4)
                        .ok_or_else(|| {
                            Error::Malformed(format!(
                                "{what} is not a string of at most {MAX_CLIENT_OUTPUT_BYTES} bytes"
                            ))
                        })?;
                    unb64(text, "clientExtensionResults")
                        .map_err(|_| Error::Malformed(format!("{what} is not base64url")))
                })
                .transpose()
        };
        let prf_results = match bytes(&["prf", "results", "first"])? {
            Some(first) => Some((first, bytes(&["prf", "results", "second"])?)),
            None => None,
        };
        Ok(Self {
            discoverable: boolean(&["credProps", "rk"])?,
            prf_enabled: boolean(&["prf", "enabled"])?,
            prf_results,
            large_blob_supported: boolean(&["largeBlob", "supported"])?,
            large_blob: bytes(&["largeBlob", "blob"])?,
            large_blob_written: boolean(&["largeBlob", "written"])?,
            appid: boolean(&["appid"])?,
            appid_exclude: boolean(&["appidExclude"])?,
        })
    }
}
