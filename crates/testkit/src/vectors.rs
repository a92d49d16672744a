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
