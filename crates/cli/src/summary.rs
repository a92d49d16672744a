//! Readable JSON for the parsed structures.

use latchkey_cose::cbor::Value;
use latchkey_cose::{AttestationObject, AuthenticatorData, CredentialPublicKey, Flags, KeyParams};
use serde_json::{Map, Value as Json, json};

use crate::certificate;
use crate::input::to_base64url;

/// Byte strings up to this length are printed whole; longer ones are summarised.
const PRINT_BYTES_UP_TO: usize = 128;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn authenticator_data(data: &AuthenticatorData<'_>) -> Json {
    let mut out = Map::new();
    out.insert("length".into(), json!(data.as_bytes().len()));
    out.insert("rpIdHash".into(), json!(hex(data.rp_id_hash())));
    out.insert("flags".into(), flags(data.flags()));
    out.insert("signCount".into(), json!(data.sign_count()));
    if let Some(attested) = data.attested_credential_data() {
        out.insert(
            "attestedCredentialData".into(),
            json!({
                "aaguid": attested.aaguid().to_string(),
                "credentialId": to_base64url(attested.credential_id()),
                "credentialIdLength": attested.credential_id().len(),
                "publicKey": public_key(attested.public_key()),
            }),
        );
    }
    if let Some(extensions) = data.extensions() {
        let map = extensions
            .as_map()
            .iter()
            .map(|(k, v)| (k.as_text().unwrap_or_default().to_owned(), value(v)))
            .collect::<Map<_, _>>();
        out.insert("extensions".into(), Json::Object(map));
    }
    Json::Object(out)
}

fn flags(flags: Flags) -> Json {
    let names: Vec<&str> = Flags::NAMED
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect();
    let mut out = Map::new();
    out.insert("byte".into(), json!(format!("{:#04x}", flags.bits())));
    out.insert("set".into(), json!(names));
    out.insert("userPresent".into(), json!(flags.user_present()));
    out.insert("userVerified".into(), json!(flags.user_verified()));
    out.insert("backupEligible".into(), json!(flags.backup_eligible()));
    out.insert("backedUp".into(), json!(flags.backed_up()));
    out.insert(
        "attestedCredentialData".into(),
        json!(flags.attested_credential_data()),
    );
    out.insert("extensionData".into(), json!(flags.extension_data()));
    let reserved = flags.bits() & 0x22;
    if reserved != 0 {
        out.insert("reservedBits".into(), json!(format!("{reserved:#04x}")));
    }
    Json::Object(out)
}

pub(crate) fn public_key(key: &CredentialPublicKey) -> Json {
    let alg = key.algorithm();
    let mut out = Map::new();
    out.insert("kty".into(), json!(key.key_type().name()));
    out.insert("alg".into(), json!(alg.name()));
    out.insert("algId".into(), json!(alg.cose()));
    match key.params() {
        KeyParams::Ec2 { curve, x, y } => {
            out.insert("crv".into(), json!(curve.name()));
            out.insert("x".into(), json!(hex(x)));
            out.insert("y".into(), json!(hex(y)));
        }
        KeyParams::Okp { curve, x } => {
            out.insert("crv".into(), json!(curve.name()));
            out.insert("x".into(), json!(hex(x)));
        }
        KeyParams::Rsa { n, e } => {
            let significant = n.iter().skip_while(|&&b| b == 0).count();
            out.insert("modulusBits".into(), json!(significant * 8));
            out.insert("n".into(), bytes(n));
            out.insert(
                "e".into(),
                json!(e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))),
            );
        }
        KeyParams::Akp { public } => {
            out.insert("pub".into(), bytes(public));
        }
        _ => {}
    }
    out.insert("cose".into(), json!(to_base64url(key.as_cose_bytes())));
    Json::Object(out)
}

pub(crate) fn attestation_object(att: &AttestationObject<'_>) -> Json {
    json!({
        "fmt": att.fmt(),
        "attStmt": statement(att.att_stmt()),
        "authData": authenticator_data(att.auth_data()),
    })
}

/// An attestation statement: members by name, with `alg` named, `x5c` certificates
/// described and `compound` statements summarised one by one.
fn statement(att_stmt: &Value<'_>) -> Json {
    match att_stmt {
        Value::Map(map) => {
            let mut out = Map::new();
            for (key, member) in map.iter() {
                let name = key
                    .as_text()
                    .map_or_else(|| format!("{key:?}"), str::to_owned);
                let shown = match (name.as_str(), member) {
                    ("alg", Value::Integer(id)) => algorithm(*id),
                    ("x5c", Value::Array(certs)) => {
                        Json::Array(certs.iter().map(certificate_entry).collect())
                    }
                    _ => value(member),
                };
                out.insert(name, shown);
            }
            Json::Object(out)
        }
        Value::Array(statements) => Json::Array(
            statements
                .iter()
                .map(|s| {
                    let fmt = s.as_map().and_then(|m| m.text_key("fmt")).map(value);
                    let inner = s
                        .as_map()
                        .and_then(|m| m.text_key("attStmt"))
                        .map(statement);
                    json!({ "fmt": fmt, "attStmt": inner })
                })
                .collect(),
        ),
        other => value(other),
    }
}

fn algorithm(id: i128) -> Json {
    let name = i64::try_from(id)
        .ok()
        .and_then(latchkey_cose::Algorithm::from_cose);
    json!({ "id": i64::try_from(id).ok(), "name": name.map(latchkey_cose::Algorithm::name) })
}

fn certificate_entry(cert: &Value<'_>) -> Json {
    match cert {
        Value::Bytes(der) => certificate::summary(der),
        other => json!({ "error": format!("certificate is a {}, not bytes", other.type_name()) }),
    }
}

/// A bytes value: hex when short, length and head when long.
fn bytes(bytes: &[u8]) -> Json {
    if bytes.len() <= PRINT_BYTES_UP_TO {
        json!(hex(bytes))
    } else {
        let head = bytes.get(..32).unwrap_or(bytes);
        json!({ "length": bytes.len(), "head": hex(head) })
    }
}

/// Any CBOR value as JSON.
pub(crate) fn value(value: &Value<'_>) -> Json {
    match value {
        Value::Integer(n) => i64::try_from(*n)
            .map(Json::from)
            .or_else(|_| u64::try_from(*n).map(Json::from))
            .unwrap_or_else(|_| json!(n.to_string())),
        Value::Bytes(b) => bytes(b),
        Value::Text(t) => json!(t),
        Value::Array(items) => Json::Array(items.iter().map(self::value).collect()),
        Value::Map(map) => {
            let mut out = Map::new();
            for (k, v) in map.iter() {
                let key = match k {
                    Value::Text(t) => (*t).to_owned(),
                    other => serde_json::to_string(&self::value(other)).unwrap_or_default(),
                };
                out.insert(key, self::value(v));
            }
            Json::Object(out)
        }
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
    }
}
