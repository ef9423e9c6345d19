//! Addresses on this site: where to go after signing in (only a clean local path is followed)
//! and the sign-in link that comes back to a page.

use super::validate::is_bidi_control;

/// Where to go after signing in: a clean path on this site. Anything else (another site, a
/// protocol-relative `//host`, a path with control characters or backslashes that browsers
/// turn into one) goes to the home page.
pub fn next_path(next: Option<&str>) -> String {
    let Some(path) = next else {
        return "/".to_owned();
    };
    let clean = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2000
        && !path
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\' || is_bidi_control(c));
    if clean {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The sign-in page, asked to come back to `path` afterwards (when that is a clean path).
pub fn login_path(path: &str) -> String {
    let next = next_path(Some(path));
    if next == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", query_value(&next))
    }
}

/// Percent-encodes text for a query parameter's value (a path keeps its slashes).
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_link_comes_back_to_a_clean_path_only() {
        assert_eq!(
            login_path("/loans/7?x=1&y=2"),
            "/login?next=/loans/7%3Fx%3D1%26y%3D2"
        );
        assert_eq!(login_path("/"), "/login");
        assert_eq!(login_path("//evil.example"), "/login");
    }

    #[test]
    fn only_clean_local_paths_are_followed_after_sign_in() {
        assert_eq!(next_path(Some("/loans/3?tab=x")), "/loans/3?tab=x");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "evil.example",
            "",
        ] {
            assert_eq!(next_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(next_path(None), "/");
    }
}
