//! `latchkey inspect`: decode a response or a bare binary structure into readable JSON.

use std::time::SystemTime;

use latchkey_cose::{
    AttestationObject, AuthenticatorData, CredentialPublicKey, Error, ParseOptions, cbor,
};
use serde_json::{Map, Value as Json, json};

use latchkey_verify::{ClientData, json};

use crate::input::{self, Input, base64url};
use crate::verdict::{MetadataFiles, TrustInputs};
use crate::{Failure, summary};

/// What bare bytes are to be read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AttestationObject,
    AuthenticatorData,
    CoseKey,
}

impl Kind {
    fn parse(name: &str) -> Result<Self, Failure> {
        match name {
            "attestation-object" => Ok(Self::AttestationObject),
            "authenticator-data" => Ok(Self::AuthenticatorData),
            "cose-key" => Ok(Self::CoseKey),
            other => Err(Failure::input(format!(
                "unknown --as {other:?}: use attestation-object, authenticator-data or cose-key"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::AttestationObject => "attestationObject",
            Self::AuthenticatorData => "authenticatorData",
            Self::CoseKey => "COSE key",
        }
    }
}

/// What an inspection produced: the JSON, and how many inputs failed to decode.
pub(crate) struct Report {
    pub(crate) output: String,
    pub(crate) failed: usize,
    pub(crate) total: usize,
}

pub(crate) fn run(args: &[String]) -> Result<Report, Failure> {
    let mut kind = None;
    let mut path = None;
    let (mut anchors, mut metadata, mut at) = (Vec::new(), None, None);
    let (mut metadata_roots, mut metadata_crls) = (Vec::new(), Vec::new());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |what: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| Failure::input(format!("{arg} needs {what}")))
        };
        match arg.as_str() {
            "--as" => kind = Some(Kind::parse(&value("a KIND")?)?),
            "--anchor" => anchors.push(value("a certificate FILE")?),
            "--metadata" => metadata = Some(value("a metadata BLOB FILE")?),
            "--metadata-root" => metadata_roots.push(value("a certificate FILE")?),
            "--metadata-crl" => metadata_crls.push(value("a CRL FILE")?),
            "--at" => {
                let text = value("an RFC 3339 TIME")?;
                at = Some(crate::vectors::parse_rfc3339(&text).ok_or_else(|| {
                    Failure::input(format!("--at {text:?} is not an RFC 3339 time"))
                })?);
            }
            flag if flag.starts_with("--") => {
                return Err(Failure::input(format!("unknown option {flag:?}")));
            }
            file if path.is_none() => path = Some(file),
            extra => return Err(Failure::input(format!("unexpected argument {extra:?}"))),
        }
    }

    let metadata = match &metadata {
        Some(blob) if !metadata_roots.is_empty() => Some(MetadataFiles {
            blob,
            roots: &metadata_roots,
            crls: &metadata_crls,
        }),
        None if metadata_roots.is_empty() && metadata_crls.is_empty() => None,
        _ => {
            return Err(Failure::input(
                "--metadata and --metadata-root go together, and --metadata-crl needs them",
            ));
        }
    };
    let trust = TrustInputs::load(&anchors, metadata, at.unwrap_or_else(SystemTime::now))?;
    let credential = |item: &Json| credential(item, &trust);
    match input::read(path)? {
        Input::Bytes(bytes) => {
            let json = bare(&bytes, kind).map_err(Failure::input)?;
            Ok(Report {
                output: pretty(&json),
                failed: 0,
                total: 1,
            })
        }
        Input::Json(Json::Array(items)) => {
            let mut failed = 0;
            let results: Vec<Json> = items
                .iter()
                .map(|item| match credential(item) {
                    Ok(json) => {
                        failed += usize::from(json.get("refused").is_some());
                        json
                    }
                    Err(message) => {
                        failed += 1;
                        json!({ "case": item.get("id"), "error": message })
                    }
                })
                .collect();
            Ok(Report {
                output: pretty(&Json::Array(results)),
                failed,
                total: items.len(),
            })
        }
        Input::Json(item) => {
            let json = credential(&item).map_err(Failure::input)?;
            Ok(Report {
                failed: usize::from(json.get("refused").is_some()),
                output: pretty(&json),
                total: 1,
            })
        }
    }
}

fn pretty(json: &Json) -> String {
    serde_json::to_string_pretty(json).unwrap_or_default()
}

/// Parses strictly; when only the encoding is at fault (not CTAP2 canonical), parses again
/// in relaxed mode and says so. Inspect is a diagnostic tool: it shows what was sent.
fn lenient<'a, T>(
    bytes: &'a [u8],
    parse: impl Fn(&'a [u8], &ParseOptions) -> Result<T, Error>,
) -> Result<(T, Option<String>), Error> {
    match parse(bytes, &ParseOptions::STRICT) {
        Ok(parsed) => Ok((parsed, None)),
        Err(strict) => match parse(bytes, &ParseOptions::RELAXED) {
            Ok(parsed) => Ok((parsed, Some(format!("decoded in relaxed mode: {strict}")))),
            Err(_) => Err(strict),
        },
    }
}

fn with_warning(mut json: Json, warning: Option<String>) -> Json {
    if let (Some(warning), Some(object)) = (warning, json.as_object_mut()) {
        object.insert("warning".into(), json!(warning));
    }
    json
}

fn decode_bare(bytes: &[u8], kind: Kind) -> Result<Json, Error> {
    let (json, warning) = match kind {
        Kind::AttestationObject => {
            let (att, warning) = lenient(bytes, AttestationObject::parse_with)?;
            (summary::attestation_object(&att), warning)
        }
        Kind::AuthenticatorData => {
            let (data, warning) = lenient(bytes, AuthenticatorData::parse_with)?;
            (summary::authenticator_data(&data), warning)
        }
        Kind::CoseKey => {
            let (key, warning) = lenient(bytes, CredentialPublicKey::from_cose_with)?;
            (summary::public_key(&key), warning)
        }
    };
    Ok(with_warning(
        json!({ "kind": kind.name(), kind.name(): json }),
        warning,
    ))
}

fn bare(bytes: &[u8], kind: Option<Kind>) -> Result<Json, String> {
    let kind = kind.unwrap_or_else(|| recognise(bytes));
    decode_bare(bytes, kind).map_err(|e| format!("{e} [{}]", e.code()))
}

/// A CBOR map with text keys `fmt`/`authData` is an attestation object, one with integer
/// key 1 (`kty`) a COSE key; anything else is taken for authenticator data.
fn recognise(bytes: &[u8]) -> Kind {
    let Ok(value) = cbor::decode(bytes, &ParseOptions::RELAXED) else {
        return Kind::AuthenticatorData;
    };
    match value.as_map() {
        Some(map) if map.text_key("fmt").is_some() || map.text_key("authData").is_some() => {
            Kind::AttestationObject
        }
        Some(map) if map.int_key(1).is_some() => Kind::CoseKey,
        _ => Kind::AuthenticatorData,
    }
}

/// A `PublicKeyCredential` as `toJSON()` gives it, or a test-vector case holding one in
/// its `response` member. What it decodes to is shown even when the service would
/// refuse it; then a `refused` member says why (and the exit status is 2).
fn credential(item: &Json, trust: &TrustInputs) -> Result<Json, String> {
    let case_id = item.get("id").and_then(Json::as_str);
    if let Some(inner) = item.get("response").filter(|r| r.get("response").is_some()) {
        let mut json =
            credential(inner, trust).map_err(|e| format!("{}: {e}", case_id.unwrap_or("case")))?;
        if let Some(object) = json.as_object_mut() {
            object.insert("case".into(), json!(case_id));
        }
        return Ok(json);
    }

    let response = item
        .get("response")
        .and_then(Json::as_object)
        .ok_or("not a PublicKeyCredential: no `response` object")?;
    let mut out = Map::new();
    for member in ["id", "rawId", "type", "authenticatorAttachment"] {
        if let Some(value) = item.get(member) {
            out.insert(member.into(), value.clone());
        }
    }
    if let (Some(id), Some(raw_id)) = (item.get("id"), item.get("rawId")) {
        out.insert("idMatchesRawId".into(), json!(id == raw_id));
    }

    let client_data = bytes_member(response, "clientDataJSON")?;
    out.insert("clientDataJSON".into(), client_data_json(&client_data));

    if response.get("attestationObject").is_some() {
        out.insert("ceremony".into(), json!("registration"));
        let bytes = bytes_member(response, "attestationObject")?;
        let (att, warning) = lenient(&bytes, AttestationObject::parse_with)
            .map_err(|e| format!("response.attestationObject: {e} [{}]", e.code()))?;
        out.insert(
            "attestationObject".into(),
            with_warning(summary::attestation_object(&att), warning),
        );
        let raw_id = item
            .get("rawId")
            .and_then(Json::as_str)
            .map(|id| base64url(id, "rawId"))
            .transpose()?
            .unwrap_or_default();
        out.insert(
            "verification".into(),
            trust.registration(&client_data, &bytes, &raw_id),
        );
        if let Some(transports) = response.get("transports") {
            out.insert("transports".into(), transports.clone());
        }
    } else if response.get("authenticatorData").is_some() {
        out.insert("ceremony".into(), json!("authentication"));
        let bytes = bytes_member(response, "authenticatorData")?;
        let (data, warning) = lenient(&bytes, AuthenticatorData::parse_with)
            .map_err(|e| format!("response.authenticatorData: {e} [{}]", e.code()))?;
        out.insert(
            "authenticatorData".into(),
            with_warning(summary::authenticator_data(&data), warning),
        );
        let signature = bytes_member(response, "signature")?;
        out.insert(
            "signature".into(),
            json!({ "length": signature.len(), "hex": summary::hex(&signature) }),
        );
        if let Some(handle) = response.get("userHandle").filter(|h| !h.is_null()) {
            let handle = handle
                .as_str()
                .ok_or("response.userHandle is not a string")?;
            let bytes = base64url(handle, "response.userHandle")?;
            out.insert(
                "userHandle".into(),
                json!({ "base64url": handle, "length": bytes.len() }),
            );
        }
    } else {
        return Err("response has neither attestationObject nor authenticatorData".into());
    }
    if let Some(results) = item.get("clientExtensionResults") {
        out.insert("clientExtensionResults".into(), results.clone());
    }
    if let Some(refused) = refusal(item, &out) {
        out.insert("refused".into(), refused);
    }
    Ok(Json::Object(out))
}

/// Why the service would refuse this response, as far as it can be told without the
/// relying party's records: the JSON envelope (the same path every caller takes), the
/// client data, strict parsing, and a registration's own verification.
fn refusal(item: &Json, out: &Map<String, Json>) -> Option<Json> {
    let refused = |e: &latchkey_verify::Error| json!({ "code": e.code(), "error": e.to_string() });
    let text = item.to_string();
    let registration = out.get("ceremony") == Some(&json!("registration"));
    let envelope = if registration {
        json::RegistrationResponse::from_json(&text)
            .and_then(|r| r.decode())
            .map(|decoded| decoded.bytes().client_data_json.to_vec())
    } else {
        json::AuthenticationResponse::from_json(&text)
            .and_then(|r| r.decode())
            .map(|decoded| decoded.client_data_json().to_vec())
    };
    let client_data = match envelope {
        Ok(client_data) => client_data,
        Err(e) => return Some(refused(&e)),
    };
    if let Err(e) = ClientData::parse(&client_data) {
        return Some(refused(&e));
    }
    let verdict = out.get("verification").or_else(|| {
        // An authentication: its authenticator data must parse strictly.
        out.get("authenticatorData")
            .filter(|data| data.get("warning").is_some())
    })?;
    let error = verdict.get("error").or_else(|| verdict.get("warning"))?;
    Some(json!({
        "code": verdict.get("code").cloned().unwrap_or_else(|| json!("malformed")),
        "error": error,
    }))
}

fn bytes_member(response: &Map<String, Json>, member: &str) -> Result<Vec<u8>, String> {
    let text = response
        .get(member)
        .ok_or_else(|| format!("response.{member} is missing"))?
        .as_str()
        .ok_or_else(|| format!("response.{member} is not a string"))?;
    base64url(text, &format!("response.{member}"))
}

/// The client data as parsed JSON, or the reason it is not JSON.
fn client_data_json(bytes: &[u8]) -> Json {
    match serde_json::from_slice::<Json>(bytes) {
        Ok(json) => json,
        Err(e) => json!({ "error": format!("not JSON: {e}"), "length": bytes.len() }),
    }
}
