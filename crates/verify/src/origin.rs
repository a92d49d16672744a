//! Which origins may run a ceremony (WebAuthn §13.4.9, §7.1 steps 9-11).

use crate::error::{Error, Result};

/// The origins a relying party accepts.
///
/// By default an origin must equal one in the list exactly, as the browser serialises it
/// (`https://example.com`, lowercase, no path). Native-app origins such as
/// `android:apk-key-hash:...` are opaque strings and also match exactly. Subdomains and
/// cross-origin iframes are opt-in.
///
/// ```
/// use latchkey_verify::Origins;
///
/// let origins = Origins::new(["https://example.com"]).allow_subdomains_of("example.com");
/// assert!(origins.check("https://login.example.com", false, None).is_ok());
/// assert!(origins.check("https://example.com.evil.com", false, None).is_err());
/// assert!(origins.check("https://example.com", true, None).is_err()); // cross-origin: not allowed
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins {
    allowed: Vec<String>,
    subdomains_of: Option<String>,
    cross_origin: bool,
    top_origins: Vec<String>,
    cross_origin_without_top_origin: bool,
}

impl Origins {
    /// Accepts exactly these origins.
    #[must_use]
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(allowed: I) -> Self {
        Self {
            allowed: allowed.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Also accepts subdomains of the allowed web origins (same scheme and port) that lie
    /// within `rp_id`, at a dot boundary: `https://a.example.com` for `https://example.com`,
    /// never `https://evilexample.com`. WebAuthn §13.4.8 advises against it by default.
    #[must_use]
    pub fn allow_subdomains_of(mut self, rp_id: &str) -> Self {
        self.subdomains_of = Some(rp_id.to_ascii_lowercase());
        self
    }

    /// Allows the ceremony inside cross-origin iframes (`crossOrigin: true`), with
    /// `topOrigin` one of `top_origins`. When that list is not empty, a cross-origin
    /// ceremony must name its top origin: browsers that predate `topOrigin` are only
    /// accepted after [`allow_cross_origin_without_top_origin`](Self::allow_cross_origin_without_top_origin).
    #[must_use]
    pub fn allow_cross_origin<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        top_origins: I,
    ) -> Self {
        self.cross_origin = true;
        self.top_origins = top_origins.into_iter().map(Into::into).collect();
        self
    }

    /// Also accepts a cross-origin ceremony whose client data has no `topOrigin`, as
    /// browsers before WebAuthn Level 3 send it: the top-level page is then unknown. A
    /// looser mode, for older browsers only.
    #[must_use]
    pub fn allow_cross_origin_without_top_origin(mut self) -> Self {
        self.cross_origin_without_top_origin = true;
        self
    }

    /// The exactly allowed origins.
    #[must_use]
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Checks a client data's `origin`, `crossOrigin` and `topOrigin`.
    ///
    /// # Errors
    ///
    /// [`Error::OriginMismatch`], [`Error::CrossOriginNotAllowed`] or
    /// [`Error::TopOriginMismatch`].
    pub fn check(&self, origin: &str, cross_origin: bool, top_origin: Option<&str>) -> Result<()> {
        if !self.origin_allowed(origin) {
            return Err(Error::OriginMismatch);
        }
        if cross_origin && !self.cross_origin {
            return Err(Error::CrossOriginNotAllowed);
        }
        match top_origin {
            Some(top) if !self.cross_origin || !self.top_origins.iter().any(|t| t == top) => {
                Err(Error::TopOriginMismatch)
            }
            None if cross_origin
                && !self.top_origins.is_empty()
                && !self.cross_origin_without_top_origin =>
            {
                Err(Error::TopOriginMismatch)
            }
            _ => Ok(()),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.allowed.iter().any(|a| a == origin) {
            return true;
        }
        let Some(rp_id) = &self.subdomains_of else {
            return false;
        };
        let Some(candidate) = WebOrigin::parse(origin) else {
            return false;
        };
        if !within(candidate.host, rp_id) {
            return false;
        }
        self.allowed
            .iter()
            .filter_map(|a| WebOrigin::parse(a))
            .any(|allowed| {
                allowed.scheme == candidate.scheme
                    && allowed.port == candidate.port
                    && strict_subdomain(candidate.host, allowed.host)
            })
    }
}

/// `host` is `domain` or below it at a dot boundary.
fn within(host: &str, domain: &str) -> bool {
    host == domain || strict_subdomain(host, domain)
}

fn strict_subdomain(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'))
}

/// A serialised web origin `scheme://host[:port]`, as browsers write it: lowercase host of
/// letters, digits, `-` and `.`, no user info, no path.
struct WebOrigin<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<&'a str>,
}

impl<'a> WebOrigin<'a> {
    fn parse(origin: &'a str) -> Option<Self> {
        let (scheme, rest) = origin.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let (host, port) = match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        (host_ok && port_ok).then_some(Self { scheme, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = "https://example.com";

    #[test]
    fn exact_matching_refuses_look_alikes() {
        // C.64.
        let origins = Origins::new([RP]);
        assert!(origins.check(RP, false, None).is_ok());
        for bad in [
            "https://example.com.evil.com",
            "https://evilexample.com",
            "https://example.com:8443",
            "http://example.com",
            "null",
            "https://sub.example.com",
            "https://EXAMPLE.com",
            "https://example.com/",
            "https://user@example.com",
            "",
        ] {
            assert_eq!(
                origins.check(bad, false, None),
                Err(Error::OriginMismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn opaque_origins_match_exactly() {
        // C.65.
        let app = "android:apk-key-hash:pNiP5iKyQ8JwgGOaKA1zGPUPJIS-0H1xKCQcfIoGLck";
        let origins = Origins::new([RP, app]);
        assert!(origins.check(app, false, None).is_ok());
        for bad in [
            "android:apk-key-hash:pNiP5iKyQ8JwgGOaKA1zGPUPJIS-0H1xKCQcfIoGLcK",
            "android:apk-key-hash:",
            "ios:bundle-id:com.foo.baz",
        ] {
            assert_eq!(
                origins.check(bad, false, None),
                Err(Error::OriginMismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn subdomains_only_when_enabled_and_at_a_dot_boundary() {
        // C.147.
        let origins = Origins::new([RP]).allow_subdomains_of("example.com");
        assert!(origins.check("https://a.example.com", false, None).is_ok());
        assert!(
            origins
                .check("https://a.b.example.com", false, None)
                .is_ok()
        );
        for bad in [
            "https://evilexample.com",
            "https://a.example.com:8443", // other port
            "http://a.example.com",       // other scheme
            "https://a.example.com.evil.com",
            "https://.example.com",
            "https://A.example.com",
            "https://a.example.com/path",
        ] {
            assert_eq!(
                origins.check(bad, false, None),
                Err(Error::OriginMismatch),
                "{bad}"
            );
        }
        // Subdomains of the configured origin must also lie within the RP ID.
        let narrow = Origins::new(["https://example.com"]).allow_subdomains_of("idm.example.com");
        assert!(
            narrow
                .check("https://other.example.com", false, None)
                .is_err()
        );
        assert!(
            narrow
                .check("https://x.idm.example.com", false, None)
                .is_ok()
        );
    }

    #[test]
    fn cross_origin_and_top_origin() {
        // C.66, C.67.
        let same_origin_only = Origins::new([RP]);
        assert_eq!(
            same_origin_only.check(RP, true, None),
            Err(Error::CrossOriginNotAllowed)
        );
        assert_eq!(
            same_origin_only.check(RP, false, Some("https://example.com")),
            Err(Error::TopOriginMismatch)
        );
        let framed = Origins::new([RP]).allow_cross_origin(["https://shop.example"]);
        assert_eq!(framed.check(RP, true, None), Err(Error::TopOriginMismatch));
        assert!(
            framed
                .clone()
                .allow_cross_origin_without_top_origin()
                .check(RP, true, None)
                .is_ok()
        );
        assert!(framed.check(RP, true, Some("https://shop.example")).is_ok());
        assert_eq!(
            framed.check(RP, true, Some("https://attacker.example")),
            Err(Error::TopOriginMismatch)
        );
    }
}
