//! `latchkey vectors FILE...`: runs test-vector cases through verification.
//!
//! Each case carries the relying party's settings (RP ID, origins, challenge, UV, trust
//! anchors, time); the runner maps them onto a [`Verifier`] and compares the verdict with
//! `expected`. Settings a case does not carry are the library defaults, except where a
//! source library's own default differs and the case depends on it (listed in
//! [`source_settings`]).

use std::path::Path;
use std::time::{Duration, SystemTime};

use latchkey_cose::{Algorithm, CborError, ParseOptions};
use latchkey_testkit::vectors::{self, Case};
use latchkey_verify::{
    Ceremony, CounterPolicy, Error, Origins, StoredCredential, TrustAnchors, UserVerification,
    Verifier, VerifierOptions, VerifyingKey, json,
};

use crate::Failure;
use crate::input::base64url;
use crate::inspect::Report;

/// Cases latchkey knowingly decides differently, with the reason (repository root file).
const KNOWN_DIVERGENCES: &str = include_str!("../KNOWN_DIVERGENCES");

pub(crate) fn run(args: &[String]) -> Result<Report, Failure> {
    let mut strict = false;
    let mut files = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--strict" => strict = true,
            flag if flag.starts_with("--") => {
                return Err(Failure::input(format!("unknown option {flag:?}")));
            }
            file => files.push(file),
        }
    }
    if files.is_empty() {
        return Err(Failure::input("usage: latchkey vectors [--strict] FILE..."));
    }

    let mut lines = Vec::new();
    let (mut passed, mut failed, mut diverged) = (0, 0, 0);
    // `trust-anchors.json` sits beside the case files; a shell glob passes it too.
    for file in files
        .into_iter()
        .filter(|f| !f.ends_with("trust-anchors.json"))
    {
        let path = Path::new(file);
        let cases = vectors::load_file(path).map_err(|e| Failure::input(e.to_string()))?;
        let roots = vectors::load_trust_anchors(path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| Failure::input(format!("trust-anchors.json: {e}")))?;
        for case in &cases {
            let outcome = run_case(case, &roots, strict);
            let verdict = match &outcome.result {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("error {} ({e})", e.code()),
            };
            let matches = outcome.result.is_ok() == (case.expected == "ok");
            let status = if matches {
                passed += 1;
                "pass".to_owned()
            } else if let Some(reason) = known_divergence(&case.id) {
                diverged += 1;
                format!("diverges (known: {reason})")
            } else {
                failed += 1;
                "FAIL".to_owned()
            };
            let relaxed = if outcome.relaxed {
                " [relaxed CBOR]"
            } else {
                ""
            };
            lines.push(format!(
                "{status} {}: {verdict}, expected {}{relaxed}",
                case.id, case.expected
            ));
        }
    }
    lines.push(format!("{diverged} known divergences (KNOWN_DIVERGENCES)"));
    lines.push(format!(
        "{passed} passed, {failed} failed, {diverged} skipped"
    ));
    Ok(Report {
        output: lines.join("\n"),
        failed,
        total: passed + failed,
    })
}

fn known_divergence(id: &str) -> Option<&'static str> {
    KNOWN_DIVERGENCES
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(" | "))
        .find(|(case, _)| case.trim() == id)
        .map(|(_, reason)| reason.trim())
}

struct Outcome {
    result: Result<(), Error>,
    relaxed: bool,
}

/// Runs strictly; a case refused only for non-canonical CBOR is run again in relaxed mode
/// (unless `--strict`), and the line says so.
fn run_case(case: &Case, roots: &[(String, Vec<u8>)], strict: bool) -> Outcome {
    let result = verify_case(case, roots, ParseOptions::STRICT);
    if !strict && result.as_ref().err().is_some_and(is_encoding_strictness) {
        let relaxed = verify_case(case, roots, ParseOptions::RELAXED);
        if relaxed.is_ok() || !relaxed.as_ref().err().is_some_and(is_encoding_strictness) {
            return Outcome {
                result: relaxed,
                relaxed: true,
            };
        }
    }
    Outcome {
        result,
        relaxed: false,
    }
}

/// Errors that only the CTAP2 canonical form rules produce.
fn is_encoding_strictness(error: &Error) -> bool {
    match error {
        Error::Cose(latchkey_cose::Error::Cbor { kind, .. }) => matches!(
            kind,
            CborError::NonMinimalEncoding
                | CborError::UnsortedMapKeys
                | CborError::IndefiniteLength
        ),
        Error::Cose(latchkey_cose::Error::CoseKey(
            latchkey_cose::CoseKeyError::RsaModulusLeadingZero,
        )) => true,
        _ => false,
    }
}

/// Settings that follow the source library's defaults, for the cases that depend on them.
fn source_settings(case: &Case, options: &mut VerifierOptions) {
    // SHA-1 (RS1 keys, SHA-1 TPM attestations): latchkey refuses it unless `allow_rs1`.
    // java-webauthn-server, SimpleWebAuthn, py_webauthn and go-webauthn accept it by
    // default; webauthn-rs refuses it, and its cases expect that.
    if !case.id.starts_with("webauthn-rs/") {
        options.signature.allow_rs1 = true;
    }
    // java-webauthn-server does not check SafetyNet timestamps (its test data is years
    // old); SimpleWebAuthn makes the CTS check an option, named in the case.
    if case.id.starts_with("java-webauthn-server/") {
        options.safetynet_max_age_seconds = None;
    }
    if let Some(enforce) = case.safetynet_enforce_cts {
        options.safetynet_require_cts = enforce;
    }
    // TPM manufacturer (C.91): latchkey accepts only TCG-registered vendor IDs unless
    // `tpm_test_manufacturers`. These sources' TPM vectors come from test TPMs: the FIDO
    // conformance tool's, `id:FFFFF1D0` (go-webauthn tpm[1..2], SimpleWebAuthn), or
    // synthetic ones naming `id:00000000` (the W3C Level 3 example, java-webauthn-server's
    // Tpm.ValidEs*); those libraries do not check the manufacturer. py_webauthn's and
    // webauthn-rs's TPM vectors come from real TPMs and stay under the default.
    if [
        "go-webauthn/",
        "simplewebauthn/",
        "w3c-l3/",
        "java-webauthn-server/",
    ]
    .iter()
    .any(|source| case.id.starts_with(source))
    {
        options.tpm_test_manufacturers = true;
    }
}

fn verify_case(case: &Case, roots: &[(String, Vec<u8>)], cbor: ParseOptions) -> Result<(), Error> {
    let malformed = |what: &'static str| {
        Error::ClientData(latchkey_verify::ClientDataError::Json(what.to_owned()))
    };
    let challenge =
        base64url(&case.challenge_b64url, "challenge").map_err(|_| malformed("challenge"))?;

    let mut options = VerifierOptions::default();
    options.cbor = cbor;
    options.counter = CounterPolicy::Reject;
    options.require_user_presence = case.require_user_presence.unwrap_or(true);
    source_settings(case, &mut options);

    let mut anchors = TrustAnchors::default();
    let mut anchor_ders: Vec<Vec<u8>> = Vec::new();
    for name in case.trust_anchor_refs.iter().flatten() {
        if let Some((_, der)) = roots.iter().find(|(n, _)| n == name) {
            anchor_ders.push(der.clone());
        }
    }
    for b64 in case.trust_anchors_der_b64url.iter().flatten() {
        anchor_ders.push(base64url(b64, "trust anchor").map_err(|_| malformed("trust anchor"))?);
    }
    for der in &anchor_ders {
        anchors.add_for_every_format(der)?;
    }
    // A case that names its roots expects the chain to lead to them.
    options.require_trusted_attestation = !anchor_ders.is_empty();

    let verifier = Verifier::new(&case.rp_id, origins(case))
        .with_options(options)
        .with_trust_anchors(anchors);
    let algorithms: Vec<Algorithm> = case
        .allowed_algs
        .iter()
        .flatten()
        .filter_map(|id| Algorithm::from_cose(*id))
        .collect();
    let ceremony = Ceremony {
        user_verification: if case.require_user_verification {
            UserVerification::Required
        } else {
            UserVerification::Preferred
        },
        algorithms: &algorithms,
        ..Ceremony::new(&challenge)
    };

    // The browser JSON goes through the one path every caller uses (C.1-C.3).
    let json = case.response.to_string();
    if case.ceremony == "registration" {
        let decoded = json::RegistrationResponse::from_json(&json)?.decode()?;
        verifier
            .verify_registration(&decoded.bytes(), &ceremony, verification_time(case))
            .map(|_| ())
    } else {
        let decoded = json::AuthenticationResponse::from_json(&json)?.decode()?;
        let stored_key = case.stored_key().ok_or(malformed("stored key"))?;
        let key = VerifyingKey::from_cose_with(&stored_key, &verifier.options().cbor)?;
        let stored = StoredCredential {
            key: &key,
            sign_count: case.stored_sign_count.unwrap_or(0),
            backup_eligible: None,
            app_id: case.appid.as_deref(),
            cred_protect: None,
        };
        verifier
            .verify_assertion(&decoded.bytes(), &ceremony, &stored)
            .map(|_| ())
    }
}

fn origins(case: &Case) -> Origins {
    let list: Vec<String> = match &case.origin {
        serde_json::Value::String(origin) => vec![origin.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut origins = Origins::new(list);
    if case.allow_subdomain_origins == Some(true) {
        origins = origins.allow_subdomains_of(&case.rp_id);
    }
    if case.allow_cross_origin == Some(true) {
        origins = origins.allow_cross_origin(case.top_origin.clone());
    }
    origins
}

/// The source's pinned time, else the start of the chain's common validity window, else
/// now.
fn verification_time(case: &Case) -> SystemTime {
    case.verification_time
        .as_deref()
        .or_else(|| {
            case.x5c_validity_window
                .as_ref()
                .and_then(|w| w.first())
                .map(String::as_str)
        })
        .and_then(parse_rfc3339)
        .unwrap_or_else(SystemTime::now)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (the forms the vectors use).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u16>().ok();
    let (text, millis) = match text.strip_suffix('Z')?.split_once('.') {
        Some((seconds, fraction)) if fraction.len() == 3 => {
            (seconds, fraction.parse::<u64>().ok()?)
        }
        Some(_) => return None,
        None => (text.strip_suffix('Z')?, 0),
    };
    if text.len() != 19 {
        return None;
    }
    let date = der::DateTime::new(
        number(0..4)?,
        u8::try_from(number(5..7)?).ok()?,
        u8::try_from(number(8..10)?).ok()?,
        u8::try_from(number(11..13)?).ok()?,
        u8::try_from(number(14..16)?).ok()?,
        u8::try_from(number(17..19)?).ok()?,
    )
    .ok()?;
    Some(
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(date.unix_duration().as_secs())
            + Duration::from_millis(millis),
    )
}
