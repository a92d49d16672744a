//! The relying party: who the service is to browsers, and what it accepts.

use latchkey_cose::Algorithm;
use latchkey_verify::{CredProtect, Origins};

use crate::error::{Error, Result};
use crate::json::{AttestationConveyance, Hint};

/// A relying party: RP ID and name, origins, algorithms, attestation conveyance and
/// timeouts. Built once, validated at build time.
///
/// ```
/// use latchkey::RelyingParty;
///
/// let rp = RelyingParty::builder("example.com", "Example Exchange")
///     .origin("https://example.com")
///     .build()?;
/// assert_eq!(rp.id(), "example.com");
/// assert!(RelyingParty::builder("192.168.0.1", "x").origin("https://192.168.0.1").build().is_err());
/// # Ok::<(), latchkey::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RelyingParty {
    id: String,
    name: String,
    origins: Vec<String>,
    related_origins: Vec<String>,
    hints: Vec<Hint>,
    subdomains: bool,
    top_origins: Option<Vec<String>>,
    cross_origin_without_top_origin: bool,
    algorithms: Vec<Algorithm>,
    allow_rs1: bool,
    attestation: AttestationConveyance,
    timeout_ms: u64,
    cred_protect: Option<CredProtect>,
    app_id: Option<String>,
}

/// Builds a [`RelyingParty`]; see [`RelyingParty::builder`].
#[derive(Clone, Debug)]
pub struct RelyingPartyBuilder {
    rp: RelyingParty,
}

/// The algorithms offered by default, in order of preference: what every current
/// authenticator supports, then the rest this library verifies.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Es256,
    Algorithm::EdDsa,
    Algorithm::Es384,
    Algorithm::Rs256,
    Algorithm::Ps256,
];

impl RelyingParty {
    /// Starts a relying party with its RP ID (a registrable domain) and display name.
    #[must_use]
    pub fn builder(id: &str, name: &str) -> RelyingPartyBuilder {
        RelyingPartyBuilder {
            rp: Self {
                id: id.to_owned(),
                name: name.to_owned(),
                origins: Vec::new(),
                related_origins: Vec::new(),
                hints: Vec::new(),
                subdomains: false,
                top_origins: None,
                cross_origin_without_top_origin: false,
                algorithms: DEFAULT_ALGORITHMS.to_vec(),
                allow_rs1: false,
                attestation: AttestationConveyance::None,
                timeout_ms: 300_000,
                cred_protect: None,
                app_id: None,
            },
        }
    }

    /// The RP ID.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The display name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Algorithms offered in `pubKeyCredParams` (and accepted at registration).
    #[must_use]
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Whether RS1 (RSASSA-PKCS1-v1_5 with SHA-1) is verified: set by
    /// [`RelyingPartyBuilder::allow_rs1`].
    #[must_use]
    pub fn allows_rs1(&self) -> bool {
        self.allow_rs1
    }

    /// Attestation conveyance requested.
    #[must_use]
    pub fn attestation(&self) -> AttestationConveyance {
        self.attestation
    }

    /// Whether the relying party asks for `enterprise` attestation: only then are
    /// attestation certificates carrying the FIDO enterprise serial extension accepted.
    #[must_use]
    pub fn enterprise_attestation(&self) -> bool {
        self.attestation == AttestationConveyance::Enterprise
    }

    /// Ceremony timeout in milliseconds, as told to the browser.
    #[must_use]
    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }

    /// The `credProtect` level registrations request and enforce, if any.
    #[must_use]
    pub fn cred_protect(&self) -> Option<CredProtect> {
        self.cred_protect
    }

    /// The FIDO AppID of the U2F service this relying party succeeds, if any.
    #[must_use]
    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    /// Hints sent in every options object.
    #[must_use]
    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }

    /// The `/.well-known/webauthn` document (WebAuthn L3 §5.11, related origin
    /// requests): serve it at `https://<RP ID>/.well-known/webauthn` so that browsers let
    /// the related origins use this RP ID.
    #[must_use]
    pub fn well_known_webauthn(&self) -> serde_json::Value {
        serde_json::json!({ "origins": self.related_origins })
    }

    /// The origin rules for verification: the origins, and the related origins.
    #[must_use]
    pub fn origin_rules(&self) -> Origins {
        let all = self.origins.iter().chain(&self.related_origins).cloned();
        let mut origins = Origins::new(all);
        if self.subdomains {
            origins = origins.allow_subdomains_of(&self.id);
        }
        if let Some(top) = &self.top_origins {
            origins = origins.allow_cross_origin(top.iter().cloned());
        }
        if self.cross_origin_without_top_origin {
            origins = origins.allow_cross_origin_without_top_origin();
        }
        origins
    }
}

impl RelyingPartyBuilder {
    /// Accepts ceremonies from this origin (exact match).
    #[must_use]
    pub fn origin(mut self, origin: &str) -> Self {
        self.rp.origins.push(origin.to_owned());
        self
    }

    /// Accepts ceremonies from an origin of another domain that uses this RP ID (related
    /// origin requests, WebAuthn L3 §5.11); it is listed in
    /// [`RelyingParty::well_known_webauthn`].
    #[must_use]
    pub fn related_origin(mut self, origin: &str) -> Self {
        self.rp.related_origins.push(origin.to_owned());
        self
    }

    /// Hints for the browser's UI in every options object (WebAuthn L3 §5.8.7).
    #[must_use]
    pub fn hints(mut self, hints: &[Hint]) -> Self {
        self.rp.hints = hints.to_vec();
        self
    }

    /// Also accepts subdomains of the origins within the RP ID (off by default, §13.4.8).
    #[must_use]
    pub fn allow_subdomains(mut self) -> Self {
        self.rp.subdomains = true;
        self
    }

    /// Allows cross-origin iframes with these top-level origins: a cross-origin
    /// ceremony must name one of them as its `topOrigin`.
    #[must_use]
    pub fn top_origins(mut self, top_origins: &[&str]) -> Self {
        self.rp.top_origins = Some(top_origins.iter().map(|s| (*s).to_owned()).collect());
        self
    }

    /// Also accepts a cross-origin ceremony without `topOrigin`, as browsers before
    /// WebAuthn Level 3 send it (the top-level page is then unknown). A looser mode, for
    /// older browsers only; it needs [`top_origins`](Self::top_origins).
    #[must_use]
    pub fn allow_cross_origin_without_top_origin(mut self) -> Self {
        self.rp.cross_origin_without_top_origin = true;
        self
    }

    /// Replaces the offered algorithms. RS1 ([`Algorithm::Rs1`], SHA-1) is refused at
    /// [`build`](Self::build) unless [`allow_rs1`](Self::allow_rs1) enables it: without
    /// it, such a passkey would register and then never sign in (C.35).
    #[must_use]
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.rp.algorithms = algorithms.to_vec();
        self
    }

    /// Verifies RS1 (RSASSA-PKCS1-v1_5 with SHA-1, COSE -65535) signatures: RS1 keys
    /// (offer [`Algorithm::Rs1`] in [`algorithms`](Self::algorithms) too), and `tpm`
    /// attestations and certificates signed with SHA-1. SHA-1 is broken for collision
    /// resistance: enable it only for TPMs and old Windows Hello credentials that need it.
    #[must_use]
    pub fn allow_rs1(mut self) -> Self {
        self.rp.allow_rs1 = true;
        self
    }

    /// Requests attestation (default [`AttestationConveyance::None`]). Only with
    /// [`AttestationConveyance::Enterprise`] are attestation certificates that carry the
    /// FIDO enterprise serial extension (1.3.6.1.4.1.45724.1.1.2) accepted.
    #[must_use]
    pub fn attestation(mut self, conveyance: AttestationConveyance) -> Self {
        self.rp.attestation = conveyance;
        self
    }

    /// Requests `credProtect` at `level` in every registration, with
    /// `enforceCredentialProtectionPolicy` (CTAP 2.1 §12.1): a registration whose
    /// authenticator applied a lower level, or said nothing, is refused
    /// (`user_verification_required`). The level is stored with the passkey and every
    /// assertion is held to it.
    #[must_use]
    pub fn cred_protect(mut self, level: CredProtect) -> Self {
        self.rp.cred_protect = Some(level);
        self
    }

    /// The FIDO AppID of the U2F service this relying party succeeds (WebAuthn §10.1.1,
    /// §10.1.2). Registrations then ask for `appidExclude` so that a security key already
    /// enrolled through U2F is not enrolled twice, and authentications that offer a
    /// credential imported with [`Passkeys::import_u2f`](crate::Passkeys::import_u2f) ask
    /// for `appid`. Only those imported credentials may sign with the AppID's hash.
    #[must_use]
    pub fn app_id(mut self, app_id: &str) -> Self {
        self.rp.app_id = Some(app_id.to_owned());
        self
    }

    /// Sets the ceremony timeout told to the browser.
    #[must_use]
    pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
        self.rp.timeout_ms = timeout_ms;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an RP ID that is an IP address, a single label (other than
    /// `localhost`), has empty labels, labels over 63 characters, characters outside
    /// `a-z0-9-` or hyphens at a label's ends (C.150); no origin; no algorithm; RS1
    /// offered without [`allow_rs1`](Self::allow_rs1) (C.35); a related origin or an
    /// AppID that is not https.
    pub fn build(self) -> Result<RelyingParty> {
        validate_rp_id(&self.rp.id)?;
        if self.rp.origins.is_empty() {
            return Err(Error::Config("at least one origin is required"));
        }
        if self.rp.algorithms.is_empty() {
            return Err(Error::Config("at least one algorithm is required"));
        }
        if self.rp.algorithms.contains(&Algorithm::Rs1) && !self.rp.allow_rs1 {
            return Err(Error::Config(
                "RS1 (SHA-1) is offered but not enabled with allow_rs1",
            ));
        }
        if !self
            .rp
            .related_origins
            .iter()
            .all(|o| o.starts_with("https://"))
        {
            return Err(Error::Config("related origins must be https"));
        }
        if self
            .rp
            .app_id
            .as_deref()
            .is_some_and(|app_id| !app_id.starts_with("https://"))
        {
            return Err(Error::Config("the AppID must be an https URL"));
        }
        Ok(self.rp)
    }
}

fn validate_rp_id(id: &str) -> Result<()> {
    if id == "localhost" {
        return Ok(());
    }
    let labels: Vec<&str> = id.split('.').collect();
    if labels.len() < 2 {
        return Err(Error::Config(
            "RP ID must be a domain with at least two labels",
        ));
    }
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Error::Config("RP ID must not be an IP address"));
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(Error::Config("RP ID has an invalid label"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rp_ids_are_validated_at_build_time() {
        // C.150.
        let build = |id: &str| {
            RelyingParty::builder(id, "x")
                .origin("https://example.com")
                .build()
        };
        for good in [
            "example.com",
            "login.example.co.uk",
            "localhost",
            "xn--bcher-kva.example",
        ] {
            assert!(build(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "com",
            "192.168.0.1",
            "127.0.0.1",
            "example..com",
            ".example.com",
            "-a.example.com",
            "a-.example.com",
            "Example.com",
            "exa mple.com",
            "[::1]",
        ] {
            assert!(build(bad).is_err(), "{bad}");
        }
        assert!(
            RelyingParty::builder("example.com", "x").build().is_err(),
            "no origin"
        );
        let no_algs = RelyingParty::builder("example.com", "x")
            .origin("https://example.com")
            .algorithms(&[]);
        assert!(no_algs.build().is_err());
    }

    #[test]
    fn cross_origin_ceremonies_name_their_top_origin_unless_the_rp_allows_older_browsers() {
        let rp = "https://example.com";
        let framed = RelyingParty::builder("example.com", "x")
            .origin(rp)
            .top_origins(&["https://shop.example"]);
        let strict = framed.clone().build().unwrap().origin_rules();
        assert!(strict.check(rp, true, None).is_err());
        assert!(strict.check(rp, true, Some("https://shop.example")).is_ok());
        let legacy = framed
            .allow_cross_origin_without_top_origin()
            .build()
            .unwrap()
            .origin_rules();
        assert!(legacy.check(rp, true, None).is_ok());
        assert!(
            legacy
                .check(rp, true, Some("https://evil.example"))
                .is_err()
        );
    }

    #[test]
    fn hints_and_related_origins_are_validated() {
        let base = || RelyingParty::builder("example.com", "x").origin("https://example.com");
        assert!(
            base()
                .related_origin("http://example.co.uk")
                .build()
                .is_err()
        );
        assert!(
            base()
                .hints(&[Hint::SecurityKey, Hint::Hybrid])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn related_origins_are_published_and_accepted() {
        let rp = RelyingParty::builder("example.com", "x")
            .origin("https://example.com")
            .related_origin("https://example.co.uk")
            .hints(&[Hint::ClientDevice])
            .build()
            .unwrap();
        let document = rp.well_known_webauthn();
        assert_eq!(
            document,
            serde_json::json!({ "origins": ["https://example.co.uk"] })
        );
        let origins = rp.origin_rules();
        assert!(origins.check("https://example.co.uk", false, None).is_ok());
        assert!(origins.check("https://example.com", false, None).is_ok());
        assert!(origins.check("https://example.de", false, None).is_err());
        assert_eq!(rp.hints(), [Hint::ClientDevice]);
    }
}
