//! Validation of what people type. Each function returns the cleaned value or the message to show
//! next to the field.

/// The longest reason we keep.
pub const MAX_REASON_CHARS: usize = 2000;
const MAX_BUG_REF_CHARS: usize = 500;
const MAX_NOTE_CHARS: usize = 2000;
const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// The invisible characters that change the direction text is shown in ("Trojan Source"): a
/// name or reason containing them reads differently from what it is.
pub(super) fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Refuses NUL and other control characters (line breaks and tabs are fine where `multiline`)
/// and bidi controls, naming the character found.
pub fn clean(text: &str, multiline: bool) -> Result<(), String> {
    for c in text.chars() {
        let allowed = multiline && matches!(c, '\n' | '\r' | '\t');
        if c.is_control() && !allowed {
            return Err(format!(
                "Remove the control character U+{:04X} from this field.",
                c as u32
            ));
        }
        if is_bidi_control(c) {
            return Err(format!(
                "Remove the invisible text-direction character U+{:04X} from this field.",
                c as u32
            ));
        }
    }
    Ok(())
}

/// A required free text (a reason for a decision, what went wrong): trimmed, at most 2,000
/// characters; `empty` is the message when nothing was written.
pub fn note(input: &str, empty: &str) -> Result<String, String> {
    let text = optional_note(input)?;
    if text.is_empty() {
        Err(empty.to_owned())
    } else {
        Ok(text)
    }
}

/// An optional free text (notes): trimmed, at most 2,000 characters.
pub fn optional_note(input: &str) -> Result<String, String> {
    let text = input.trim();
    clean(text, true)?;
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(format!("Keep this under {MAX_NOTE_CHARS} characters."));
    }
    Ok(text.to_owned())
}

/// A pool's description (Markdown): trimmed, at most 10,000 characters.
pub fn description(input: &str) -> Result<String, String> {
    let text = input.trim();
    clean(text, true)?;
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err("Keep the description under 10,000 characters.".into());
    }
    Ok(text.to_owned())
}

/// A non-empty reason of reasonable length, trimmed.
pub fn reason(input: &str) -> Result<String, String> {
    let text = input.trim();
    clean(text, true)?;
    if text.is_empty() {
        Err("Say briefly why you need the machine.".into())
    } else if text.chars().count() > MAX_REASON_CHARS {
        Err(format!(
            "Keep the reason under {MAX_REASON_CHARS} characters."
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// A bug reference: a number (`1234567`, `#1234567`, `bug 1234567`) or an http(s) link.
/// Empty is fine unless the pool requires one. Numbers are stored without decoration.
pub fn bug_ref(input: &str, required: bool) -> Result<Option<String>, String> {
    let text = input.trim();
    clean(text, false)?;
    if text.is_empty() {
        return if required {
            Err("This pool needs a bug number or link.".into())
        } else {
            Ok(None)
        };
    }
    if text.chars().count() > MAX_BUG_REF_CHARS {
        return Err(format!(
            "Keep the bug reference under {MAX_BUG_REF_CHARS} characters."
        ));
    }
    let lower = text.to_ascii_lowercase();
    let number = lower
        .strip_prefix("bug")
        .map(str::trim_start)
        .unwrap_or(&lower)
        .trim_start_matches('#');
    if !number.is_empty() && number.len() <= 12 && number.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Some(number.to_owned()));
    }
    if is_http_url(text) {
        return Ok(Some(text.to_owned()));
    }
    Err("Give a bug number (like 1234567) or a link starting with https://.".into())
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !text.chars().any(char::is_whitespace)
}

/// A display name: 1 to 120 characters, trimmed.
pub fn person_name(input: &str) -> Result<String, String> {
    let text = input.trim();
    clean(text, false)?;
    if text.is_empty() {
        Err("Enter a name.".into())
    } else if text.chars().count() > 120 {
        Err("Keep the name under 120 characters.".into())
    } else {
        Ok(text.to_owned())
    }
}

/// An email address of the form `local@domain.tld`, trimmed and lower-cased.
pub fn email(input: &str) -> Result<String, String> {
    let text = input.trim().to_lowercase();
    clean(&text, false)?;
    let valid = match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(|c| c.is_whitespace() || c == ',')
                && !domain.contains('@')
                && text.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(text)
    } else {
        Err("Enter an email address like ada@example.com.".into())
    }
}

/// A host name: lower-case labels of letters, digits and inner hyphens, with at least one dot.
pub fn fqdn(input: &str) -> Result<String, String> {
    let name = input.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if name.len() <= 253 && name.contains('.') && name.split('.').all(label_ok) {
        Ok(name)
    } else {
        Err(format!(
            "\"{}\" is not a host name like build-01.example.com.",
            input.trim()
        ))
    }
}

/// A Unix user name (the account a borrower logs in as): lower-case letters, digits, `_`, `.`
/// and `-`, starting with a letter or `_`, at most 32 bytes.
pub fn unix_user(input: &str) -> Result<String, String> {
    let user = input.trim();
    let ok = user.len() <= 32
        && user
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(user.to_owned())
    } else {
        Err("Use a Unix user name like builder.".into())
    }
}

/// A pool's short name for addresses: lower-case letters, digits and hyphens.
pub fn slug(input: &str) -> Result<String, String> {
    let slug = input.trim();
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug == "new" {
        Err("\"new\" is taken by the page that creates pools; choose another name.".into())
    } else if ok {
        Ok(slug.to_owned())
    } else {
        Err("Use lower-case letters, digits and hyphens, like win11-test.".into())
    }
}

/// A short required text (a name, a platform): trimmed, 1 to `max` characters.
pub fn short_text(input: &str, what: &str, max: usize) -> Result<String, String> {
    let text = input.trim();
    clean(text, false)?;
    if text.is_empty() {
        Err(format!("Enter the {what}."))
    } else if text.chars().count() > max {
        Err(format!("Keep the {what} under {max} characters."))
    } else {
        Ok(text.to_owned())
    }
}

#[cfg(feature = "ssr")]
pub use super::ssh_key::*;
pub use super::steps::{
    credential_name, driver_settings, site_variable_name, steps, steps_fit_settings,
    SITE_VARIABLE_PREFIX,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_trimmed_and_required() {
        assert_eq!(reason("  repro crash  ").unwrap(), "repro crash");
        assert!(reason("   ").is_err());
        assert!(reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
    }

    #[test]
    fn bug_numbers_are_normalised() {
        for input in [
            "1234567",
            "#1234567",
            "bug 1234567",
            "Bug#1234567",
            " 1234567 ",
        ] {
            assert_eq!(
                bug_ref(input, true).unwrap().as_deref(),
                Some("1234567"),
                "{input}"
            );
        }
    }

    #[test]
    fn bug_links_are_kept() {
        let url = "https://bugzilla.example.org/show_bug.cgi?id=965691";
        assert_eq!(bug_ref(url, true).unwrap().as_deref(), Some(url));
        assert!(bug_ref("http://bugs:8080/1", false).is_ok());
    }

    #[test]
    fn bad_bug_references_are_refused() {
        assert!(bug_ref("soon", false).is_err());
        assert!(bug_ref("ftp://x/1", false).is_err());
        assert!(bug_ref("https://", false).is_err());
        assert!(bug_ref("https://a b/1", false).is_err());
        assert!(bug_ref("12345678901234567", false).is_err());
    }

    #[test]
    fn a_missing_bug_is_refused_only_when_required() {
        assert_eq!(bug_ref("  ", false), Ok(None));
        assert_eq!(
            bug_ref("", true),
            Err("This pool needs a bug number or link.".to_owned())
        );
    }

    #[test]
    fn emails_need_a_domain() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn login_users_are_unix_user_names() {
        assert_eq!(unix_user(" builder ").unwrap(), "builder");
        assert!(unix_user("_svc.ci-2").is_ok());
        for bad in [
            "",
            "Builder",
            "2fast",
            "root;id",
            "a b",
            "-rf",
            &"x".repeat(33),
        ] {
            assert!(unix_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_names_are_checked_and_lower_cased() {
        assert_eq!(
            fqdn(" Build-01.Example.COM. ").unwrap(),
            "build-01.example.com"
        );
        for bad in [
            "build01",
            "-a.example.com",
            "a_b.example.com",
            "a..b",
            "",
            "a b.example.com",
        ] {
            assert!(fqdn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_are_for_addresses() {
        assert_eq!(slug(" win11-test ").unwrap(), "win11-test");
        for bad in ["Win11", "-x", "a b", "", "ä"] {
            assert!(slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_required() {
        assert_eq!(person_name(" Ada ").unwrap(), "Ada");
        assert!(person_name("").is_err());
    }

    #[test]
    fn control_and_direction_characters_are_refused_by_name() {
        assert!(reason("line one\nline two\ttabbed").is_ok());
        let err = reason("crash\u{0}").unwrap_err();
        assert_eq!(err, "Remove the control character U+0000 from this field.");
        assert!(
            person_name("Ada\nLovelace").is_err(),
            "no line breaks in a name"
        );
        let err = person_name("Ada \u{202E}ecalevol").unwrap_err();
        assert!(err.contains("U+202E"), "{err}");
        assert!(bug_ref("123\u{7}", false).is_err());
        assert!(short_text("Linux\u{2066}", "platform", 80).is_err());
        assert!(note("  ", "Say why.").unwrap_err() == "Say why.");
        assert!(note("ok\u{0}", "Say why.").is_err());
        assert_eq!(optional_note("  fine  ").unwrap(), "fine");
    }
}
