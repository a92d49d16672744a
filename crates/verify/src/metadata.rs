//! FIDO Metadata Service (MDS3): the metadata BLOB, verified against a root the service
//! pins, and its entries looked up by AAGUID.
//!
//! The BLOB is a JWS (FIDO Metadata Service v3.0 §3.1.7) whose header `x5c` must chain
//! to the pinned root at the verification time, signed RS256 or ES256. Its payload
//! (§3.1.6):
//!
//! ```text
//! dictionary MetadataBLOBPayload {
//!     DOMString                        legalHeader;
//!     required Number                  no;
//!     required DOMString               nextUpdate;
//!     required MetadataBLOBPayloadEntry[] entries;
//! };
//! dictionary MetadataBLOBPayloadEntry {
//!     AAGUID                           aaguid;
//!     DOMString[]                      attestationCertificateKeyIdentifiers;
//!     MetadataStatement                metadataStatement;
//!     required StatusReport[]          statusReports;
//!     required DOMString               timeOfLastStatusChange;
//!     ...
//! };
//! ```
//!
//! No I/O: the service downloads the BLOB and its root and passes them in. Certificate
//! revocation lists of the BLOB's chain are not fetched.

use std::time::SystemTime;

use latchkey_cose::{Aaguid, Algorithm};
use serde::Deserialize;

use crate::certificate::Cert;
use crate::error::{Error, Result};
use crate::jws::{Jws, JwsError};
use crate::revocation::{MAX_CRLS, RevocationList, check_not_revoked};
use crate::trust::{PathRules, TrustAnchors, check_path};

/// Largest BLOB accepted, in bytes (the FIDO service's is a few MiB).
pub const MAX_BLOB_BYTES: usize = 32 * 1024 * 1024;
/// Most entries accepted in one BLOB.
pub const MAX_ENTRIES: usize = 20_000;
/// Most attestation root certificates accepted per entry.
pub const MAX_ROOTS_PER_ENTRY: usize = 16;
/// Most attestation certificate key identifiers accepted per entry.
pub const MAX_KEY_IDENTIFIERS_PER_ENTRY: usize = 1024;

/// What the service knows of the BLOBs it accepted before, for the rollback check (MDS3
/// §3.1.8: a BLOB whose `no` is not greater than the last one's is ignored). The service
/// stores the number [`MetadataBlob::accept_after`] returns (one integer, in its database)
/// and passes it back with the next BLOB, so that an attacker who can answer the fetch
/// cannot roll metadata back to before a compromise report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastAccepted {
    /// The service never accepted a BLOB (its very first start, nothing stored): any
    /// `no` is accepted.
    Never,
    /// The `no` of the last BLOB the service accepted: this BLOB's must be greater.
    Number(u64),
    /// The service reloads the BLOB it accepted last, whose `no` it stored (a restart that
    /// refetches while no newer BLOB is out): this BLOB's `no` must be that number or
    /// greater. The FIDO Alliance never signs two BLOBs with one number, so the same
    /// number is the same BLOB, not a rollback.
    Reload(u64),
}

/// A metadata BLOB whose signature, chain and freshness were verified.
#[derive(Clone, Debug)]
pub struct MetadataBlob {
    number: u64,
    next_update: String,
    entries: Vec<MetadataEntry>,
}

/// One authenticator model's metadata.
#[derive(Clone, Debug)]
pub struct MetadataEntry {
    aaguid: Option<Aaguid>,
    key_identifiers: Vec<[u8; 20]>,
    description: Option<String>,
    status_reports: Vec<StatusReport>,
    attestation_roots: Vec<Vec<u8>>,
}

/// A status the FIDO Alliance reported for an authenticator model (MDS3 §3.1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthenticatorStatus {
    /// `NOT_FIDO_CERTIFIED`.
    NotFidoCertified,
    /// `FIDO_CERTIFIED` or one of its levels (`FIDO_CERTIFIED_L1` ... `_L3plus`).
    FidoCertified,
    /// `SELF_ASSERTION_SUBMITTED`.
    SelfAssertionSubmitted,
    /// `UPDATE_AVAILABLE`: a firmware update fixes a problem.
    UpdateAvailable,
    /// `USER_VERIFICATION_BYPASS`: malware can make the authenticator skip verification.
    UserVerificationBypass,
    /// `ATTESTATION_KEY_COMPROMISE`: attestations of this model can be forged.
    AttestationKeyCompromise,
    /// `USER_KEY_REMOTE_COMPROMISE`: credential keys can be extracted remotely.
    UserKeyRemoteCompromise,
    /// `USER_KEY_PHYSICAL_COMPROMISE`: credential keys can be extracted with the device.
    UserKeyPhysicalCompromise,
    /// `REVOKED`: the model's certification is withdrawn.
    Revoked,
    /// A status this version does not know, as written.
    Unknown(String),
}

impl AuthenticatorStatus {
    fn parse(text: &str) -> Self {
        match text {
            "NOT_FIDO_CERTIFIED" => Self::NotFidoCertified,
            "SELF_ASSERTION_SUBMITTED" => Self::SelfAssertionSubmitted,
            "UPDATE_AVAILABLE" => Self::UpdateAvailable,
            "USER_VERIFICATION_BYPASS" => Self::UserVerificationBypass,
            "ATTESTATION_KEY_COMPROMISE" => Self::AttestationKeyCompromise,
            "USER_KEY_REMOTE_COMPROMISE" => Self::UserKeyRemoteCompromise,
            "USER_KEY_PHYSICAL_COMPROMISE" => Self::UserKeyPhysicalCompromise,
            "REVOKED" => Self::Revoked,
            certified if certified.starts_with("FIDO_CERTIFIED") => Self::FidoCertified,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether the status says the authenticator's keys, attestation or user
    /// verification cannot be relied on (revoked, or one of the compromise statuses).
    #[must_use]
    pub fn is_compromise(&self) -> bool {
        matches!(
            self,
            Self::Revoked
                | Self::AttestationKeyCompromise
                | Self::UserVerificationBypass
                | Self::UserKeyRemoteCompromise
                | Self::UserKeyPhysicalCompromise
        )
    }
}

/// One status report of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The status.
    pub status: AuthenticatorStatus,
    /// Since when (ISO 8601 date), when given.
    pub effective_date: Option<String>,
    /// The lowest authenticator version the report applies to, when given.
    pub authenticator_version: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    no: u64,
    next_update: String,
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    aaguid: Option<String>,
    #[serde(default)]
    attestation_certificate_key_identifiers: Vec<String>,
    metadata_statement: Option<RawStatement>,
    status_reports: Vec<RawStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    description: Option<String>,
    #[serde(default)]
    attestation_root_certificates: Vec<String>,
    #[serde(default)]
    attestation_certificate_key_identifiers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    status: String,
    effective_date: Option<String>,
    authenticator_version: Option<u64>,
}

impl MetadataBlob {
    /// Verifies a metadata BLOB (the JWS text the FIDO service serves) against
    /// `roots`, the root certificates the service pins (DER; more than one while the FIDO
    /// Alliance moves its BLOB to a new root, as it did from GlobalSign R3 to R46 in
    /// 2026), and the CRLs the service fetched with it, at `now`.
    ///
    /// Checks, in order: size, JWS form, `alg` (RS256 or ES256), the header chain to the
    /// root with every certificate valid at `now`, revocation (every certificate below the
    /// root needs a current CRL signed by its issuer, and none may be listed), the
    /// signature by the chain's leaf, the payload, and that `now` is not past `nextUpdate`
    /// (a stale BLOB is refused: fetch a new one). Then refuse a rolled-back BLOB with
    /// [`accept_after`](Self::accept_after), from the number the service stored.
    ///
    /// ```no_run
    /// # fn fetch(_: &str) -> Vec<u8> { Vec::new() }
    /// use latchkey_verify::{MetadataBlob, RevocationList};
    ///
    /// // The service fetches, away from the request path: the BLOB, and the CRL at each
    /// // distribution point its chain names. The root it pinned long before.
    /// let blob = String::from_utf8(fetch("https://mds3.fidoalliance.org/")).unwrap_or_default();
    /// let root = fetch("the pinned root certificate");
    /// let roots = [root.as_slice()];
    /// let crls = [fetch("the root's CRL"), fetch("the intermediate's CRL")];
    /// let crls = crls.iter().map(|der| RevocationList::parse(der)).collect::<Result<Vec<_>, _>>()?;
    /// let metadata = MetadataBlob::verify(&blob, &roots, &crls, std::time::SystemTime::now())?;
    /// # Ok::<(), latchkey_verify::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MetadataUntrusted`] for a bad signature, a chain that does not reach the
    /// root, an expired or revoked certificate or one without a current CRL, a disallowed
    /// `alg`, or a stale BLOB; [`Error::MetadataMalformed`] for text that is not a JWS or
    /// a payload that is not MDS3 JSON; [`Error::Limit`] past [`MAX_BLOB_BYTES`],
    /// [`MAX_ENTRIES`], [`MAX_ROOTS_PER_ENTRY`] or [`MAX_CRLS`].
    pub fn verify(
        jws: &str,
        roots: &[&[u8]],
        crls: &[RevocationList],
        now: SystemTime,
    ) -> Result<Self> {
        if crls.len() > MAX_CRLS {
            return Err(Error::Limit("more than MAX_CRLS revocation lists"));
        }
        Self::verify_checking(jws, roots, Some(crls), now)
    }

    /// [`verify`](Self::verify) without the revocation check: for tools and tests that
    /// have no CRLs at hand. A service should not rely on metadata verified this way.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), less revocation.
    pub fn verify_without_revocation(jws: &str, roots: &[&[u8]], now: SystemTime) -> Result<Self> {
        Self::verify_checking(jws, roots, None, now)
    }

    fn verify_checking(
        jws: &str,
        roots: &[&[u8]],
        crls: Option<&[RevocationList]>,
        now: SystemTime,
    ) -> Result<Self> {
        if jws.len() > MAX_BLOB_BYTES {
            return Err(Error::Limit("metadata BLOB larger than MAX_BLOB_BYTES"));
        }
        let jws = Jws::parse(jws.trim_end()).map_err(|e| match e {
            JwsError::Malformed(why) => Error::MetadataMalformed(why),
            JwsError::TooManyCertificates => Error::Limit("JWS x5c holds more than 5 certificates"),
            JwsError::Certificate(_) => Error::MetadataMalformed("JWS x5c certificate"),
        })?;
        let algorithm = match jws.alg.as_str() {
            "RS256" => Algorithm::Rs256,
            "ES256" => Algorithm::Es256,
            _ => {
                return Err(Error::MetadataUntrusted(
                    "metadata JWS alg is not RS256 or ES256",
                ));
            }
        };
        let roots = roots
            .iter()
            .map(|der| Cert::parse(der))
            .collect::<Result<Vec<_>>>()?;
        let anchors: Vec<&Cert> = roots.iter().collect();
        let root = check_path(&jws.chain, &anchors, now, PathRules::default())
            .map_err(Error::MetadataUntrusted)?;
        if let Some(crls) = crls {
            check_not_revoked(&jws.chain, root, crls, now).map_err(Error::MetadataUntrusted)?;
        }
        if !jws.signed_by_leaf(algorithm) {
            return Err(Error::MetadataUntrusted("metadata JWS signature invalid"));
        }
        let payload: Payload = serde_json::from_slice(&jws.payload)
            .map_err(|_| Error::MetadataMalformed("metadata payload is not MDS3 JSON"))?;
        let next_update = day_number(&payload.next_update).ok_or(Error::MetadataMalformed(
            "nextUpdate is not a YYYY-MM-DD date",
        ))?;
        let today = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| {
            i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX)
        });
        if today > next_update {
            return Err(Error::MetadataUntrusted(
                "metadata BLOB is past its nextUpdate",
            ));
        }
        if payload.entries.len() > MAX_ENTRIES {
            return Err(Error::Limit(
                "metadata BLOB has more than MAX_ENTRIES entries",
            ));
        }
        let entries = payload
            .entries
            .into_iter()
            .map(MetadataEntry::from_raw)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            number: payload.no,
            next_update: payload.next_update,
            entries,
        })
    }

    /// Refuses this BLOB unless its number is above `previous`, the number of the last
    /// BLOB the service accepted: an attacker who can answer the fetch must not roll the
    /// metadata back to before a revocation.
    ///
    /// # Errors
    ///
    /// [`Error::MetadataUntrusted`] when [`number`](Self::number) is not above `previous`.
    pub fn check_newer_than(&self, previous: u64) -> Result<()> {
        if self.number <= previous {
            return Err(Error::MetadataUntrusted(
                "metadata BLOB number is not above the last one accepted",
            ));
        }
        Ok(())
    }

    /// Checks this BLOB's number against what the service accepted before and returns
    /// the number to store for the next check: the BLOB's own.
    ///
    /// ```
    /// # fn check(blob: &latchkey_verify::MetadataBlob, stored: Option<u64>) -> latchkey_verify::Result<()> {
    /// use latchkey_verify::metadata::LastAccepted;
    ///
    /// let last = stored.map_or(LastAccepted::Never, LastAccepted::Number);
    /// let to_store = blob.accept_after(last)?;
    /// # let _ = to_store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MetadataUntrusted`] (code `attestation_untrusted`) when the BLOB's number
    /// is not greater than [`LastAccepted::Number`], or below [`LastAccepted::Reload`].
    pub fn accept_after(&self, last: LastAccepted) -> Result<u64> {
        let fresh = match last {
            LastAccepted::Never => true,
            LastAccepted::Number(previous) => self.number > previous,
            LastAccepted::Reload(previous) => self.number >= previous,
        };
        if fresh {
            Ok(self.number)
        } else {
            Err(Error::MetadataUntrusted(
                "metadata BLOB number is not above the last one accepted",
            ))
        }
    }

    /// The BLOB's serial number (`no`): it grows with every BLOB the service publishes.
    #[must_use]
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The date by which a newer BLOB will be out (`nextUpdate`, YYYY-MM-DD).
    #[must_use]
    pub fn next_update(&self) -> &str {
        &self.next_update
    }

    /// Every entry.
    #[must_use]
    pub fn entries(&self) -> &[MetadataEntry] {
        &self.entries
    }

    /// The entry of an authenticator model (FIDO2 entries carry an AAGUID).
    #[must_use]
    pub fn entry(&self, aaguid: Aaguid) -> Option<&MetadataEntry> {
        self.entries.iter().find(|e| e.aaguid == Some(aaguid))
    }

    /// The first entry that lists this attestation certificate key identifier (U2F and
    /// other entries without an AAGUID are known by these).
    #[must_use]
    pub fn entry_by_key_identifier(&self, key_identifier: &[u8; 20]) -> Option<&MetadataEntry> {
        self.entries
            .iter()
            .find(|e| e.key_identifiers.contains(key_identifier))
    }

    /// Whether the metadata reports a compromise (see [`MetadataEntry::is_compromised`])
    /// for the authenticator of a registration: the entry of its AAGUID, or any entry
    /// listing one of its attestation certificate key identifiers
    /// ([`VerifiedRegistration::attestation_key_identifiers`](crate::VerifiedRegistration::attestation_key_identifiers)),
    /// which is how U2F and zero-AAGUID authenticators are listed.
    #[must_use]
    pub fn reports_compromise(&self, aaguid: Aaguid, key_identifiers: &[[u8; 20]]) -> bool {
        self.entries.iter().any(|e| {
            (e.aaguid == Some(aaguid)
                || e.key_identifiers
                    .iter()
                    .any(|k| key_identifiers.contains(k)))
                && e.is_compromised()
        })
    }

    /// Adds every entry's attestation roots to `anchors`, each for its own AAGUID only,
    /// skipping entries whose status is a compromise. Returns how many roots were added.
    ///
    /// # Errors
    ///
    /// When a root is not DER X.509 (the BLOB verified, so this means the FIDO service
    /// published a broken certificate).
    pub fn add_roots_to(&self, anchors: &mut TrustAnchors) -> Result<usize> {
        let mut added = 0;
        for entry in self.entries.iter().filter(|e| !e.is_compromised()) {
            let Some(aaguid) = entry.aaguid else { continue };
            for root in &entry.attestation_roots {
                anchors.add_for_aaguid(aaguid, root)?;
                added += 1;
            }
        }
        Ok(added)
    }
}

impl MetadataEntry {
    fn from_raw(raw: RawEntry) -> Result<Self> {
        use base64::Engine as _;
        let aaguid = raw
            .aaguid
            .map(|text| {
                text.parse::<Aaguid>()
                    .map_err(|_| Error::MetadataMalformed("entry aaguid is not a UUID"))
            })
            .transpose()?;
        let mut key_identifiers = raw.attestation_certificate_key_identifiers;
        let (description, roots) = match raw.metadata_statement {
            Some(statement) => {
                key_identifiers.extend(statement.attestation_certificate_key_identifiers);
                (
                    statement.description,
                    statement.attestation_root_certificates,
                )
            }
            None => (None, Vec::new()),
        };
        if key_identifiers.len() > MAX_KEY_IDENTIFIERS_PER_ENTRY {
            return Err(Error::Limit(
                "metadata entry has more than MAX_KEY_IDENTIFIERS_PER_ENTRY key identifiers",
            ));
        }
        let mut parsed_identifiers: Vec<[u8; 20]> = Vec::with_capacity(key_identifiers.len());
        for text in &key_identifiers {
            let identifier = key_identifier(text).ok_or(Error::MetadataMalformed(
                "attestation certificate key identifier is not 40 hexadecimal digits",
            ))?;
            if !parsed_identifiers.contains(&identifier) {
                parsed_identifiers.push(identifier);
            }
        }
        if roots.len() > MAX_ROOTS_PER_ENTRY {
            return Err(Error::Limit(
                "metadata entry has more than MAX_ROOTS_PER_ENTRY roots",
            ));
        }
        let attestation_roots = roots
            .iter()
            .map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| Error::MetadataMalformed("attestation root is not base64"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            aaguid,
            key_identifiers: parsed_identifiers,
            description,
            status_reports: raw
                .status_reports
                .into_iter()
                .map(|r| StatusReport {
                    status: AuthenticatorStatus::parse(&r.status),
                    effective_date: r.effective_date,
                    authenticator_version: r.authenticator_version,
                })
                .collect(),
            attestation_roots,
        })
    }

    /// The model's AAGUID (absent for U2F and UAF entries).
    #[must_use]
    pub fn aaguid(&self) -> Option<Aaguid> {
        self.aaguid
    }

    /// The attestation certificate key identifiers the entry lists
    /// (`attestationCertificateKeyIdentifiers`, of the entry and of its statement): SHA-1
    /// of the subjectPublicKey BIT STRING of attestation certificates of the model.
    #[must_use]
    pub fn attestation_certificate_key_identifiers(&self) -> &[[u8; 20]] {
        &self.key_identifiers
    }

    /// The model's name (`metadataStatement.description`): a default passkey name.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Every status report, as published.
    #[must_use]
    pub fn status_reports(&self) -> &[StatusReport] {
        &self.status_reports
    }

    /// The most recent status: the report with the latest `effectiveDate` (reports
    /// without one count as oldest), the later one in the list on a tie.
    #[must_use]
    pub fn status(&self) -> Option<&AuthenticatorStatus> {
        self.status_reports
            .iter()
            .enumerate()
            .max_by_key(|(index, r)| (r.effective_date.as_deref().and_then(day_number), *index))
            .map(|(_, r)| &r.status)
    }

    /// Whether any report is a compromise status. Any, not only the latest: a later
    /// `UPDATE_AVAILABLE` fixes new devices, not the ones already in users' hands.
    #[must_use]
    pub fn is_compromised(&self) -> bool {
        self.status_reports.iter().any(|r| r.status.is_compromise())
    }

    /// The attestation root certificates (DER) the model's attestations chain to.
    #[must_use]
    pub fn attestation_roots(&self) -> &[Vec<u8>] {
        &self.attestation_roots
    }
}

/// A key identifier from its hexadecimal form (MDS3 writes lower case; either is read).
fn key_identifier(text: &str) -> Option<[u8; 20]> {
    let digits = text.as_bytes();
    if digits.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
fn day_number(text: &str) -> Option<i64> {
    let (year, rest) = text.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let number = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (y, m, d) = (number(year)?, number(month)?, number(day)?);
    if !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_aaguids() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("2000-03-01"), Some(11_017));
        assert_eq!(day_number("2024-02-29"), Some(19_782));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "+024-01-01",
            "2024-01-0a",
            "",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
        assert_eq!(
            "01020304-0506-0708-090A-0b0c0d0e0f10"
                .parse::<Aaguid>()
                .ok(),
            Some(Aaguid::from_bytes([
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
            ]))
        );
        for bad in [
            "01020304-0506-0708-090a-0b0c0d0e0f1",
            "01020304x0506-0708-090a-0b0c0d0e0f10",
            "0102030g-0506-0708-090a-0b0c0d0e0f10",
        ] {
            assert_eq!(bad.parse::<Aaguid>().ok(), None, "{bad}");
        }
    }
}
