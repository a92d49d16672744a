//! The test-vector case schema of `shared/vectors/README.md`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// One case: a browser response, what the relying party expected, and the verdict.
///
/// Only the fields latchkey's harnesses read are typed; the files carry more.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// `<source>/<short name>`, unique across the corpus.
    pub id: String,
    /// `registration` or `authentication`.
    pub ceremony: String,
    /// The RP ID the relying party expects.
    pub rp_id: String,
    /// The `PublicKeyCredential` as `toJSON()` gives it.
    pub response: serde_json::Value,
    /// `ok` or `error`.
    pub expected: String,
    /// Why an error case must fail.
    #[serde(default)]
    pub expected_error: Option<String>,
    /// The attestation format of an ok registration.
    #[serde(default)]
    pub expected_fmt: Option<String>,
    /// The stored COSE key of an authentication case, base64url.
    #[serde(default)]
    pub credential_public_key_cose_b64url: Option<String>,
    /// The credential key's COSE algorithm.
    #[serde(default)]
    pub cose_alg: Option<i64>,
    /// The allowed origin, or a list of them.
    pub origin: serde_json::Value,
    /// The issued challenge, base64url.
    pub challenge_b64url: String,
    /// Whether the relying party requires the UV flag.
    pub require_user_verification: bool,
    /// `false` only where the source turned off the UP requirement.
    #[serde(default)]
    pub require_user_presence: Option<bool>,
    /// The stored signature counter of an authentication case.
    #[serde(default)]
    pub stored_sign_count: Option<u32>,
    /// COSE algorithm ids offered in `pubKeyCredParams`.
    #[serde(default)]
    pub allowed_algs: Option<Vec<i64>>,
    /// Names of roots in `trust-anchors.json`.
    #[serde(default)]
    pub trust_anchor_refs: Option<Vec<String>>,
    /// Roots given inline, DER in base64url.
    #[serde(default)]
    pub trust_anchors_der_b64url: Option<Vec<String>>,
    /// The instant the source validated certificates at (RFC 3339).
    #[serde(default)]
    pub verification_time: Option<String>,
    /// `[max notBefore, min notAfter]` over the x5c chain (RFC 3339).
    #[serde(default)]
    pub x5c_validity_window: Option<Vec<String>>,
    /// The relying party accepts cross-origin iframes.
    #[serde(default)]
    pub allow_cross_origin: Option<bool>,
    /// The allowed top-level origin.
    #[serde(default)]
    pub top_origin: Option<String>,
    /// The FIDO AppID the relying party requested.
    #[serde(default)]
    pub appid: Option<String>,
    /// The relying party accepts subdomains of its origin.
    #[serde(default)]
    pub allow_subdomain_origins: Option<bool>,
    /// SimpleWebAuthn's SafetyNet `ctsProfileMatch` enforcement setting.
    #[serde(default)]
    pub safetynet_enforce_cts: Option<bool>,
    /// The verdict depends on relying-party policy.
    #[serde(default)]
    pub policy_dependent: Option<bool>,
}

impl Case {
    /// A base64url member of `response.response` (`attestationObject`, `authenticatorData`,
    /// `clientDataJSON`, `signature`), decoded.
    #[must_use]
    pub fn response_bytes(&self, member: &str) -> Option<Vec<u8>> {
        let text = self.response.get("response")?.get(member)?.as_str()?;
        URL_SAFE_NO_PAD.decode(text).ok()
    }

    /// The stored credential public key of an authentication case, decoded.
    #[must_use]
    pub fn stored_key(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(self.credential_public_key_cose_b64url.as_deref()?)
            .ok()
    }
}

/// The case files in `shared/vectors` (every `*.json` but `trust-anchors.json`), sorted.
///
/// # Errors
///
/// When the directory cannot be read.
pub fn files(shared: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("vectors"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "trust-anchors.json"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads the cases of one file.
///
/// # Errors
///
/// When the file cannot be read or does not match the schema.
pub fn load_file(file: &Path) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(file)?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?)
}

/// Root certificates by name: (name, DER).
pub type NamedRoots = Vec<(String, Vec<u8>)>;

/// Reads `trust-anchors.json` beside a case file: root name -> DER.
///
/// # Errors
///
/// When the file exists but cannot be read or decoded.
pub fn load_trust_anchors(dir: &Path) -> Result<NamedRoots, Box<dyn std::error::Error>> {
    let path = dir.join("trust-anchors.json");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let mut roots = Vec::new();
    for (name, entry) in json.as_object().into_iter().flatten() {
        let b64 = entry
            .get("der_b64url")
            .or_else(|| entry.get("der"))
            .and_then(serde_json::Value::as_str)
            .or_else(|| entry.as_str())
            .ok_or_else(|| format!("trust anchor {name}: no DER"))?;
        roots.push((name.clone(), URL_SAFE_NO_PAD.decode(b64)?));
    }
    Ok(roots)
}

/// Reads every case of every file.
///
/// # Errors
///
/// When a file cannot be read or does not match the schema.
pub fn load_all(shared: &Path) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut cases = Vec::new();
    for file in files(shared)? {
        let text = std::fs::read_to_string(&file)?;
        let mut file_cases: Vec<Case> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        cases.append(&mut file_cases);
    }
    Ok(cases)
}
