//! `inspect`'s verification of a registration: the attestation verified against the
//! response's own client data (its challenge and origin, the RP ID being the origin's
//! host), its chain's trust outcome for the anchors given, and its model's FIDO metadata.

use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use latchkey_verify::{
    Ceremony, ClientData, MetadataBlob, Origins, RegistrationBytes, RevocationList, Trust,
    TrustAnchors, UserVerification, Verifier, VerifierOptions,
};
use serde_json::{Value as Json, json};

use crate::Failure;

/// What the trust outcome is judged by: `--anchor`, `--metadata`, `--at`.
pub(crate) struct TrustInputs {
    anchors: TrustAnchors,
    metadata: Option<MetadataBlob>,
    /// Whether the BLOB's chain was checked against `--metadata-crl` lists.
    revocation_checked: bool,
    at: SystemTime,
}

/// `--metadata BLOB --metadata-root ROOT... [--metadata-crl CRL]...`.
pub(crate) struct MetadataFiles<'a> {
    pub(crate) blob: &'a str,
    pub(crate) roots: &'a [String],
    pub(crate) crls: &'a [String],
}

impl TrustInputs {
    /// From the command line's files: roots (DER or PEM), a metadata BLOB, its root and
    /// CRLs.
    pub(crate) fn load(
        anchors: &[String],
        metadata: Option<MetadataFiles<'_>>,
        at: SystemTime,
    ) -> Result<Self, Failure> {
        let mut trust = TrustAnchors::default();
        for path in anchors {
            let der = der_file(path, "CERTIFICATE")?;
            trust
                .add_for_every_format(&der)
                .map_err(|e| Failure::input(format!("{path}: {e}")))?;
        }
        let revocation_checked = metadata
            .as_ref()
            .is_some_and(|files| !files.crls.is_empty());
        let metadata = match metadata {
            Some(files) => {
                let MetadataFiles { blob, roots, crls } = files;
                let text = std::fs::read_to_string(blob)
                    .map_err(|e| Failure::io(format!("cannot read {blob}: {e}")))?;
                let roots = roots
                    .iter()
                    .map(|path| der_file(path, "CERTIFICATE"))
                    .collect::<Result<Vec<_>, _>>()?;
                let roots: Vec<&[u8]> = roots.iter().map(Vec::as_slice).collect();
                let crls = crls
                    .iter()
                    .map(|path| {
                        RevocationList::parse(&der_file(path, "X509 CRL")?)
                            .map_err(|e| Failure::input(format!("{path}: {e} [{}]", e.code())))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Without CRLs this is a diagnosis, not a service's decision: it says so.
                let verified = if revocation_checked {
                    MetadataBlob::verify(&text, &roots, &crls, at)
                } else {
                    MetadataBlob::verify_without_revocation(&text, &roots, at)
                };
                let blob =
                    verified.map_err(|e| Failure::input(format!("{blob}: {e} [{}]", e.code())))?;
                blob.add_roots_to(&mut trust)
                    .map_err(|e| Failure::input(e.to_string()))?;
                Some(blob)
            }
            None => None,
        };
        Ok(Self {
            anchors: trust,
            metadata,
            revocation_checked,
            at,
        })
    }

    /// The verification of one registration, as JSON.
    pub(crate) fn registration(
        &self,
        client_data_json: &[u8],
        attestation_object: &[u8],
        raw_id: &[u8],
    ) -> Json {
        let client_data = match ClientData::parse(client_data_json) {
            Ok(client_data) => client_data,
            Err(e) => return json!({ "error": e.to_string(), "code": e.code() }),
        };
        let Ok(challenge) =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(client_data.challenge())
        else {
            return json!({ "error": "challenge is not base64url", "code": "malformed" });
        };
        let origin = client_data.origin();
        let rp_id = host(origin);
        let mut options = VerifierOptions::default();
        // RS1 is a policy a service may choose, so inspect verifies it rather than stop at
        // the algorithm. `tpm_test_manufacturers` stays off: no production service turns
        // it on, so inspect shows what a service would decide, and a test TPM's AIK
        // (`id:FFFFF1D0`, `id:00000000`) is refused with an error that names the option.
        options.signature.allow_rs1 = true;
        let verifier = Verifier::new(rp_id, Origins::new([origin]))
            .with_options(options)
            .with_trust_anchors(self.anchors.clone());
        let mut ceremony = Ceremony::new(&challenge);
        ceremony.user_verification = UserVerification::Preferred;
        let response = RegistrationBytes {
            client_data_json,
            attestation_object,
            raw_id,
        };
        let verified = match verifier.verify_registration(&response, &ceremony, self.at) {
            Ok(verified) => verified,
            Err(e) => return json!({ "rpId": rp_id, "error": e.to_string(), "code": e.code() }),
        };
        let trust = match verified.trust() {
            Trust::NotApplicable => json!("not applicable (no certificate chain)"),
            Trust::Trusted => json!("trusted"),
            Trust::NoAnchor => json!("no anchor configured"),
            Trust::Untrusted(why) => json!(format!("untrusted: {why}")),
            other => json!(format!("{other:?}")),
        };
        let metadata = self.metadata.as_ref().map(|blob| {
            blob.entry(verified.aaguid())
                .map_or(json!("no entry for this AAGUID"), |entry| {
                    json!({
                        "description": entry.description(),
                        "status": entry.status().map(|s| format!("{s:?}")),
                        "compromised": entry.is_compromised(),
                        "blobRevocationChecked": self.revocation_checked,
                    })
                })
        });
        json!({
            "rpId": rp_id,
            "result": "ok",
            "fmt": verified.fmt(),
            "attestationType": format!("{:?}", verified.attestation_type()),
            "trust": trust,
            "metadata": metadata,
        })
    }
}

/// The host of an origin (`https://host:port` -> `host`).
fn host(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// A certificate file, DER or PEM.
/// A DER file, or the first PEM block labelled `label` (`CERTIFICATE`, `X509 CRL`).
fn der_file(path: &str, label: &str) -> Result<Vec<u8>, Failure> {
    let bytes = std::fs::read(Path::new(path))
        .map_err(|e| Failure::io(format!("cannot read {path}: {e}")))?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let begin = format!("-----BEGIN {label}-----");
    if !text.contains(&begin) {
        return Ok(bytes);
    }
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with(&begin))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|_| Failure::input(format!("{path}: PEM body is not base64")))
}
