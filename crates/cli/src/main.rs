//! `latchkey`: inspect WebAuthn responses (and, as later work lands, run test vectors and
//! policy scenarios).

mod certificate;
mod input;
mod inspect;
mod scenario;
mod summary;
mod vectors;
mod verdict;

use std::io::Write as _;
use std::process::ExitCode;

const USAGE: &str = "\
usage: latchkey inspect [--as KIND] [--anchor ROOT]... [--at TIME]
                        [--metadata BLOB (--metadata-root ROOT)... (--metadata-crl CRL)...]
                        [FILE|-]
       latchkey vectors [--strict] FILE...
       latchkey scenario [--store memory|sqlite:PATH|postgres:URL] FILE...

Decodes what a browser or authenticator sent and prints it as JSON:
  - a registration or authentication response (PublicKeyCredential.toJSON()),
    or a JSON array of them (test-vector files: each case's `response`);
  - a bare attestationObject, authenticatorData or COSE key, in hex or base64url.
FILE defaults to standard input.

  --as KIND   read bare bytes as KIND: attestation-object, authenticator-data, cose-key
              (default: recognised from the bytes)

Registrations are also verified against their own client data (its challenge and
origin; the RP ID is the origin's host), showing the attestation type and its trust:
  --anchor ROOT          a root certificate (DER or PEM) trusted for every format
  --metadata BLOB        a FIDO MDS3 metadata BLOB, verified against the --metadata-root
                         certificates (one or more: the BLOB's root may be rotating);
                         its roots become anchors, its entry for the AAGUID is shown
  --metadata-crl CRL     a CRL (DER or PEM) for the BLOB's chain; with none, the chain's
                         revocation is not checked (blobRevocationChecked: false)
  --at TIME              the time certificates are checked at (RFC 3339; default now)

vectors runs WebAuthn test-vector cases (shared/vectors schema) through verification,
printing a line per case and `N passed, M failed`. Cases refused only for non-canonical
CBOR are retried in relaxed mode (marked); --strict turns that off.

scenario plays scenario files (shared/scenarios schema) against the whole stack with
software authenticators, printing a line per step and `N passed, M failed`.

Exit status: 0 success, 2 malformed input, bad usage or failing cases, 1 I/O error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(report) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`latchkey inspect x | head`) is not an error worth a message.
            let _ = writeln!(stdout, "{}", report.output);
            if report.failed == 0 {
                ExitCode::SUCCESS
            } else {
                eprintln!("latchkey: {} of {} failed", report.failed, report.total);
                ExitCode::from(2)
            }
        }
        Err(failure) => {
            eprintln!("latchkey: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

/// Why a command failed, and the exit status that says so.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) status: u8,
}

impl Failure {
    /// Malformed input or bad usage: exit status 2.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 2,
        }
    }

    /// The input could not be read: exit status 1.
    pub(crate) fn io(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 1,
        }
    }
}

fn run(args: &[String]) -> Result<inspect::Report, Failure> {
    let text = |output: String| inspect::Report {
        output,
        failed: 0,
        total: 0,
    };
    match args.split_first() {
        Some((command, rest)) if command == "inspect" => inspect::run(rest),
        Some((command, rest)) if command == "vectors" => vectors::run(rest),
        Some((command, rest)) if command == "scenario" => scenario::run(rest),
        Some((flag, _)) if flag == "--version" || flag == "-V" => {
            Ok(text(format!("latchkey {}", env!("CARGO_PKG_VERSION"))))
        }
        Some((flag, _)) if flag == "--help" || flag == "-h" || flag == "help" => {
            Ok(text(USAGE.to_owned()))
        }
        Some((command, _)) => Err(Failure::input(format!(
            "unknown command {command:?}\n{USAGE}"
        ))),
        None => Err(Failure::input(USAGE)),
    }
}
