//! `latchkey inspect` end to end: the binary on files and standard input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use latchkey_testkit::shared;

fn latchkey(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run refused on its arguments exits before reading its input: the pipe may then
    // be closed under the write, which is no failure of the test.
    let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn example_file() -> String {
    format!(
        "{}/../../examples/data/registration-none.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn inspects_a_registration_response() {
    let output = latchkey(&["inspect", &example_file()], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let out = json(&output);
    assert_eq!(out["ceremony"], "registration");
    assert_eq!(out["idMatchesRawId"], true);
    assert_eq!(out["clientDataJSON"]["type"], "webauthn.create");
    let att = &out["attestationObject"];
    assert_eq!(att["fmt"], "none");
    assert_eq!(
        att["authData"]["flags"]["set"],
        serde_json::json!(["UP", "UV", "BE", "BS", "AT"])
    );
    let credential = &att["authData"]["attestedCredentialData"];
    assert_eq!(credential["aaguid"], "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4");
    assert_eq!(credential["publicKey"]["alg"], "ES256");
    assert_eq!(credential["publicKey"]["crv"], "P-256");
}

#[test]
fn inspects_bare_structures_from_stdin() {
    // Authenticator data in hex: rpIdHash, flags UP|UV, counter 7.
    let auth_data = format!("{}05 00000007", "11".repeat(32));
    let output = latchkey(&["inspect"], &auth_data);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = json(&output);
    assert_eq!(out["kind"], "authenticatorData");
    assert_eq!(out["authenticatorData"]["signCount"], 7);
    assert_eq!(out["authenticatorData"]["flags"]["userVerified"], true);

    // A COSE key in base64url, recognised by its integer kty label.
    let key = "pQECAyYgASFYIGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWIlggT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
    let output = latchkey(&["inspect", "-"], key);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json(&output)["COSE key"]["alg"], "ES256");

    // The same bytes forced to another kind fail as that kind.
    let output = latchkey(&["inspect", "--as", "authenticator-data"], key);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn malformed_input_is_one_line_and_exit_2() {
    for (input, expected) in [
        ("a1 01 02", "missing alg"),
        ("{\"response\": {}}", "response.clientDataJSON is missing"),
        ("{", "invalid JSON"),
        ("not base64!", "not canonical base64url"),
        ("", "empty input"),
        ("11223344", "at least 37 required"),
    ] {
        let output = latchkey(&["inspect"], input);
        assert_eq!(output.status.code(), Some(2), "{input:?}");
        let message = stderr(&output);
        assert_eq!(message.lines().count(), 1, "{input:?}: {message}");
        assert!(message.contains(expected), "{input:?}: {message}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_response_the_service_would_refuse_is_shown_and_exits_2() {
    use base64::Engine as _;
    use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let client = Client::new("example.com", "https://example.com");
    let registration = Authenticator::new(SoftKey::es256([5; 32]))
        .registration_json(&client, "Y2hhbGxlbmdlLWNoYWxsZW5nZS0zMmJ5dGVzISE");
    let good: serde_json::Value = serde_json::from_str(&registration).unwrap();
    let output = latchkey(&["inspect"], &registration);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(json(&output).get("refused").is_none());
    type Edit = fn(&mut serde_json::Value, &dyn Fn(&[u8]) -> String);
    let refusals: [(&str, Edit); 3] = [
        // 400 KB of nested arrays as clientDataJSON.
        ("limit_exceeded", |r, b64| {
            let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
            r["response"]["clientDataJSON"] = serde_json::json!(b64(deep.as_bytes()));
        }),
        ("malformed", |r, _| {
            r["type"] = serde_json::json!("password")
        }),
        ("malformed", |r, b64| {
            r["response"]["clientDataJSON"] = serde_json::json!(b64(b"[\"webauthn.create\"]"));
        }),
    ];
    for (code, edit) in refusals {
        let mut hostile = good.clone();
        edit(&mut hostile, &b64);
        let output = latchkey(&["inspect"], &hostile.to_string());
        assert_eq!(output.status.code(), Some(2), "{code}: {}", stderr(&output));
        assert_eq!(json(&output)["refused"]["code"], code);
    }
}

#[test]
fn usage_errors_and_io_errors() {
    assert_eq!(latchkey(&["frobnicate"], "").status.code(), Some(2));
    assert_eq!(
        latchkey(&["inspect", "--as", "pdf"], "").status.code(),
        Some(2)
    );
    assert_eq!(latchkey(&["inspect", "--nope"], "").status.code(), Some(2));
    assert_eq!(
        latchkey(&["inspect", "/nonexistent/latchkey"], "")
            .status
            .code(),
        Some(1)
    );
    assert!(latchkey(&["--version"], "").status.success());
}

#[test]
fn random_bytes_never_crash_it() {
    // A fixed pseudo-random sequence, in hex and base64url: always a clean verdict.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..50 {
        let bytes: Vec<u8> = (0..(round * 7 % 200))
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let output = latchkey(&["inspect"], &hex);
        assert!(
            matches!(output.status.code(), Some(0 | 2)),
            "{hex}: {}",
            stderr(&output)
        );
    }
}

/// Cases broken on purpose in the shared vectors: inspect must refuse exactly these.
const BROKEN: &[&str] = &[
    "py_webauthn/registration/raises_useful_error_on_bad_attestation_object",
    "webauthn-rs/firefox_98_hello_incorrectly_truncates_aaguid",
    "webauthn-rs/solokey_v2_a_sealed_attestation",
    "webauthn-rs/solokey_v2_a_sealed_ed25519_invalid_cbor",
];

#[test]
fn decodes_every_response_in_the_shared_vectors() {
    let Some(shared) = shared::dir() else { return };
    let mut decoded = 0;
    for file in latchkey_testkit::vectors::files(&shared).unwrap() {
        let output = latchkey(&["inspect", file.to_str().unwrap()], "");
        let cases = json(&output);
        let mut refused = Vec::new();
        let mut would_refuse = 0;
        for case in cases.as_array().unwrap() {
            if case.get("error").is_some() {
                refused.push(case["case"].as_str().unwrap().to_owned());
            } else {
                decoded += 1;
                would_refuse += usize::from(case.get("refused").is_some());
                assert!(case["clientDataJSON"].get("type").is_some(), "{case}");
            }
        }
        let expected: Vec<&str> = BROKEN
            .iter()
            .copied()
            .filter(|id| refused.iter().any(|r| r == id))
            .collect();
        assert_eq!(refused, expected, "{}: unexpected refusals", file.display());
        // Decoded or not, a response the service would refuse makes the exit status 2.
        let status = if refused.is_empty() && would_refuse == 0 {
            0
        } else {
            2
        };
        assert_eq!(output.status.code(), Some(status), "{}", file.display());
    }
    assert_eq!(decoded, 247 - BROKEN.len());
}

#[test]
fn registrations_show_their_trust_outcome_and_metadata_status() {
    use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, SoftKey};
    use latchkey_testkit::{hex, jws};
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../verify/tests/fixtures");
    let fixture = |name: &str| std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
    let fixture_key = |name: &str| {
        SoftKey::es256(
            hex::decode(String::from_utf8(fixture(name)).unwrap().trim())
                .try_into()
                .unwrap(),
        )
    };
    let leaf_key = fixture_key("leaf.scalar");
    let (leaf, intermediate) = (fixture("leaf.der"), fixture("intermediate.der"));
    // A packed registration by the test CA's leaf, for the AAGUID in its certificate.
    let authenticator = Authenticator::new(SoftKey::es256([3; 32]))
        .with_aaguid(latchkey_cose::Aaguid::from_bytes(core::array::from_fn(
            |i| u8::try_from(i + 1).unwrap(),
        )))
        .with_attestation(Attestation::Packed {
            key: leaf_key.clone(),
            x5c: vec![leaf.clone(), intermediate.clone()],
        });
    let client = Client::new("example.com", "https://example.com");
    let registration =
        authenticator.registration_json(&client, "Y2hhbGxlbmdlLWNoYWxsZW5nZS0zMmJ5dGVzISE");
    let blob = jws::sign(
        &leaf_key,
        &[&leaf, &intermediate],
        &serde_json::json!({}),
        &serde_json::json!({"no": 1, "nextUpdate": "2040-02-01", "entries": [{
            "aaguid": "01020304-0506-0708-090a-0b0c0d0e0f10",
            "metadataStatement": {"description": "Latchkey Test Key"},
            "statusReports": [{"status": "USER_VERIFICATION_BYPASS"}],
            "timeOfLastStatusChange": "2030-01-01"
        }]}),
    );
    let dir = std::env::temp_dir().join(format!("latchkey-inspect-trust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blob_path = dir.join("blob.jwt");
    std::fs::write(&blob_path, blob).unwrap();
    let root = format!("{FIXTURES}/root.der");
    let at = ["--at", "2040-01-01T00:00:00Z"];

    let verification = |extra: &[&str]| {
        let mut args = vec!["inspect"];
        args.extend_from_slice(&at);
        args.extend_from_slice(extra);
        let output = latchkey(&args, &registration);
        assert!(output.status.success(), "{}", stderr(&output));
        json(&output)["verification"].clone()
    };
    let bare = verification(&[]);
    assert_eq!(bare["result"], "ok");
    assert_eq!(bare["fmt"], "packed");
    assert_eq!(bare["trust"], "no anchor configured");
    assert_eq!(verification(&["--anchor", &root])["trust"], "trusted");
    let rogue = format!("{FIXTURES}/rogue.der");
    assert!(
        verification(&["--anchor", &rogue])["trust"]
            .as_str()
            .unwrap()
            .starts_with("untrusted")
    );
    // The metadata's roots are none here; its status and description show.
    let with_metadata = verification(&[
        "--metadata",
        blob_path.to_str().unwrap(),
        "--metadata-root",
        &root,
    ]);
    assert_eq!(
        with_metadata["metadata"]["description"],
        "Latchkey Test Key"
    );
    assert_eq!(with_metadata["metadata"]["compromised"], true);
    assert_eq!(with_metadata["metadata"]["blobRevocationChecked"], false);
    // With CRLs the chain's revocation is checked: the root's CRL alone leaves the
    // intermediate's certificates unchecked, which refuses the BLOB.
    let crl_path = dir.join("root.crl");
    let crl = latchkey_testkit::x509::RevocationListBuilder::new()
        .sign(&fixture("root.der"), &fixture_key("root.scalar"))
        .unwrap();
    std::fs::write(&crl_path, crl).unwrap();
    // A BLOB refused is an input error (exit 2) saying why.
    let refused = |args: &[&str]| {
        let output = latchkey(&[&["inspect"], args].concat(), &registration);
        assert_eq!(output.status.code(), Some(2));
        stderr(&output)
    };
    let message = refused(&[
        "--at",
        "2040-01-01T00:00:00Z",
        "--metadata",
        blob_path.to_str().unwrap(),
        "--metadata-root",
        &root,
        "--metadata-crl",
        crl_path.to_str().unwrap(),
    ]);
    assert!(message.contains("no current CRL"), "{message}");
    // A metadata BLOB that does not verify.
    let message = refused(&[
        "--metadata",
        blob_path.to_str().unwrap(),
        "--metadata-root",
        &rogue,
    ]);
    assert!(message.contains("attestation_untrusted"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}
