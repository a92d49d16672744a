//! X.509 certificate summaries for `x5c` chains.

use der::Decode as _;
use serde_json::{Value as Json, json};
use x509_cert::Certificate;

use crate::summary::hex;

/// Subject, issuer, serial and validity of a DER certificate, or why it does not parse.
///
/// Some authenticators ship certificates that strict DER refuses (non-DER BasicConstraints,
/// negative serials); inspect reports that per certificate instead of failing.
pub(crate) fn summary(der: &[u8]) -> Json {
    match Certificate::from_der(der) {
        Ok(cert) => {
            let tbs = cert.tbs_certificate();
            json!({
                "subject": tbs.subject().to_string(),
                "issuer": tbs.issuer().to_string(),
                "serial": hex(tbs.serial_number().as_bytes()),
                "notBefore": tbs.validity().not_before.to_string(),
                "notAfter": tbs.validity().not_after.to_string(),
                "length": der.len(),
            })
        }
        Err(e) => json!({ "error": format!("not a DER certificate: {e}"), "length": der.len() }),
    }
}
