//! What every request and job can reach.

use std::net::IpAddr;
use std::sync::Arc;

use leptos::config::LeptosOptions;

use super::commands::DriverSetup;
use super::limits::RateLimits;
use super::{Clock, DbPool};

/// The address people reach the site at, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    /// As configured, without a trailing slash: `https://loaner.example.com`.
    pub url: String,
    pub https: bool,
    /// Lower-cased host name or address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl PublicUrl {
    /// Reads `http[s]://host[:port][/path]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = text.trim().trim_end_matches('/').to_owned();
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(format!(
                "public_url {url:?} must start with http:// or https://"
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = split_authority(authority)
            .ok_or_else(|| format!("public_url {url:?} has no usable host"))?;
        let port = port.unwrap_or(if https { 443 } else { 80 });
        Ok(Self {
            url,
            https,
            host,
            port,
        })
    }

    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        origin_of(scheme, &self.host, self.port)
    }

    /// Whether the host is a loopback name or address.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// `scheme://host[:port]` with the default port left out, the way browsers write an origin.
fn origin_of(scheme: &str, host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match (scheme, port) {
        ("http", 80) | ("https", 443) => format!("{scheme}://{host}"),
        _ => format!("{scheme}://{host}:{port}"),
    }
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL such as a `Referer`.
pub fn origin_of_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = split_authority(authority)?;
    Some(origin_of(&scheme, &host, port.unwrap_or(default_port)))
}

/// `host[:port]` (a `Host` header, the authority of a URL) as a lower-cased host and a port.
pub fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains(['@', ' ', '/', '\\']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port.parse().ok()?)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_control()) {
        return None;
    }
    Some((host.to_ascii_lowercase(), port))
}

/// How the site is run; fixed at start-up.
#[derive(Clone, Debug)]
pub struct SiteSettings {
    /// Zero-configuration development mode: dev login, development mailbox, demo inventory.
    pub dev_mode: bool,
    /// The server is bound to a loopback address, so the development login may be offered.
    pub bound_to_loopback: bool,
    /// The address people reach the site at, used in links and checked against `Host`.
    pub public_url: PublicUrl,
    /// Other `host:port` pairs the site answers for: in development mode, the bound address
    /// and `localhost`.
    pub also_reachable_at: Vec<(String, u16)>,
    /// Set the `Secure` flag on cookies (and name them `__Host-…`): the site is served over TLS.
    pub secure_cookies: bool,
    /// How people sign in: the identity provider's display name when single sign-on is
    /// configured (the development login is then never offered).
    pub sso_name: Option<String>,
    /// How long a sign-in lasts at most.
    pub session_hours: i64,
    /// A session unused this long ends.
    pub session_idle_minutes: i64,
    /// Minutes before a deadline that reminders go out, unless a pool says otherwise.
    pub reminder_offsets_minutes: Vec<i32>,
    /// Tests may move the clock through `POST /_test/clock` (development on loopback only).
    pub test_clock: bool,
    /// The only folder the `command` driver runs programs from, and the names of the
    /// credentials driver settings may use.
    pub drivers: DriverSetup,
    /// Reverse proxies whose `X-Forwarded-For` names the real client (for rate limits).
    pub trusted_proxies: Vec<IpAddr>,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// The longest an API token may live, in days.
    pub api_token_max_days: i64,
    /// The bug tracker's address for a bug reference, `{}` standing for it (Bugzilla:
    /// `https://bugzilla.example.com/show_bug.cgi?id={}`).
    pub bug_url_template: Option<String>,
    /// `/metrics` is served on the site's address (not on a separate one, and not off).
    pub metrics_on_site: bool,
    /// The SHA-256 of the bearer token a scraper of `/metrics` must send, when one is
    /// configured (the token itself is kept nowhere, so no log of these settings shows it).
    pub metrics_token_sha256: Option<[u8; 32]>,
}

impl SiteSettings {
    /// The development login is offered only in development mode on a loopback address, and
    /// never when single sign-on is configured.
    pub fn dev_login_allowed(&self) -> bool {
        self.dev_mode && self.bound_to_loopback && self.sso_name.is_none()
    }

    /// The cookie that binds the sign-in `state` names to the browser that started it: one per
    /// sign-in in flight (named after its `state`), so two tabs signing in at once both finish.
    pub fn sign_in_cookie_name(&self, state: &str) -> String {
        use sha2::Digest;
        let tag = hex::encode(sha2::Sha256::digest(state.as_bytes()));
        let base = if self.secure_cookies {
            "__Host-loaner_sign_in"
        } else {
            "loaner_sign_in"
        };
        format!("{base}_{}", &tag[..12])
    }

    /// Where a bug reference leads: itself when it is a web address, else the tracker's page
    /// for it (`bug_url_template`, the reference percent-encoded), else nowhere.
    pub fn bug_url(&self, bug: &str) -> Option<String> {
        let bug = bug.trim();
        if bug.starts_with("https://") || bug.starts_with("http://") {
            return Some(bug.to_owned());
        }
        let template = self.bug_url_template.as_deref()?;
        (!bug.is_empty()).then(|| template.replace("{}", &crate::format::query_value(bug)))
    }

    /// The session rules: absolute lifetime and idle timeout.
    pub fn session_policy(&self) -> super::sessions::SessionPolicy {
        super::sessions::SessionPolicy {
            lifetime: chrono::Duration::hours(self.session_hours),
            idle: chrono::Duration::minutes(self.session_idle_minutes),
        }
    }

    /// The session cookie's name: `__Host-` prefixed when it is `Secure`, so that no subdomain
    /// and no plain-http page can set it.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-loaner_session"
        } else {
            "loaner_session"
        }
    }

    /// Whether a request's `Host` names this site.
    pub fn answers_for(&self, host_header: &str) -> bool {
        let Some((host, port)) = split_authority(host_header) else {
            return false;
        };
        let default_port = if self.public_url.https { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        (host == self.public_url.host && port == self.public_url.port)
            || self
                .also_reachable_at
                .iter()
                .any(|(h, p)| *h == host && *p == port)
    }

    /// Whether an `Origin` (or the origin of a `Referer`) is this site.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if origin == self.public_url.origin() {
            return true;
        }
        let scheme = if self.public_url.https {
            "https"
        } else {
            "http"
        };
        self.also_reachable_at
            .iter()
            .any(|(h, p)| origin == origin_of(scheme, h, *p))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: DbPool,
    pub clock: Clock,
    pub site: Arc<SiteSettings>,
    pub limits: Arc<RateLimits>,
    pub leptos_options: LeptosOptions,
    /// Live updates for open pages.
    pub live: super::live::Live,
    /// The catalogue's cards, kept until the database announces a change.
    pub catalogue: Arc<super::snapshot::Snapshot<crate::types::RenderedCatalogue>>,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// A pooled database connection.
    pub async fn conn(&self) -> Result<super::DbConn, super::DbError> {
        super::db::conn(&self.db).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_taken_apart() {
        let url = PublicUrl::parse("https://Loaner.Example.com/").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.https),
            ("loaner.example.com", 443, true)
        );
        assert_eq!(url.origin(), "https://loaner.example.com");
        let local = PublicUrl::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(local.origin(), "http://127.0.0.1:3000");
        assert!(local.is_loopback());
        assert!(PublicUrl::parse("ftp://x").is_err());
        assert!(PublicUrl::parse("http://").is_err());
        assert_eq!(
            PublicUrl::parse("http://[::1]:8080").unwrap().origin(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn a_referer_gives_its_origin() {
        assert_eq!(
            origin_of_url("https://Loaner.example.com:443/loans/7?x#y").as_deref(),
            Some("https://loaner.example.com")
        );
        assert_eq!(
            origin_of_url("http://127.0.0.1:3000/login").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(origin_of_url("javascript:alert(1)"), None);
        assert_eq!(origin_of_url("https://user@evil.example/"), None);
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("EVIL.test:3000"),
            Some(("evil.test".into(), Some(3000)))
        );
        assert_eq!(
            split_authority("example.com"),
            Some(("example.com".into(), None))
        );
        assert_eq!(split_authority("[::1]:80"), Some(("::1".into(), Some(80))));
        for bad in ["", "a@b", "host:port", "a b", "[::1"] {
            assert_eq!(split_authority(bad), None, "{bad}");
        }
    }
}
