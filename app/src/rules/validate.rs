//! Validation of what people type. Each function returns the cleaned value or the message to show
//! next to the field.

/// The longest reason we keep.
pub const MAX_REASON_CHARS: usize = 2000;
const MAX_BUG_REF_CHARS: usize = 500;
#[cfg(feature = "ssr")]
const MAX_SSH_KEY_CHARS: usize = 16 * 1024;
#[cfg(feature = "ssr")]
const MIN_RSA_BITS: usize = 2048;

/// A non-empty reason of reasonable length, trimmed.
pub fn reason(input: &str) -> Result<String, String> {
    let text = input.trim();
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
    if text.is_empty() {
        Err(format!("Enter the {what}."))
    } else if text.chars().count() > max {
        Err(format!("Keep the {what} under {max} characters."))
    } else {
        Ok(text.to_owned())
    }
}

/// Checks a pool's step list: every step named, with a driver this server has, a command for
/// the `command` driver and instructions for `manual` steps.
pub fn steps(steps: &[crate::types::Step]) -> Result<(), String> {
    use crate::types::DriverKind;
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        if step.name.trim().is_empty() {
            return Err(format!("Step {n} has no name."));
        }
        match step.driver {
            DriverKind::Command => {
                if step.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(format!("Step {n} (\"{}\") uses the command driver but names no command.", step.name));
                }
            }
            DriverKind::Manual => {
                if step.instructions.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(format!("Step {n} (\"{}\") is manual but has no instructions for the admin.", step.name));
                }
            }
            other => {
                return Err(format!(
                    "Step {n} (\"{}\") uses the {} driver, which this version of Loaner does not provide yet; use command or manual.",
                    step.name,
                    other.label()
                ))
            }
        }
        if step.timeout_secs == Some(0) {
            return Err(format!(
                "Step {n} (\"{}\") has a time limit of 0 seconds.",
                step.name
            ));
        }
    }
    Ok(())
}

/// A valid SSH public key, as OpenSSH writes it in a `.pub` file.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshPublicKey {
    /// The key normalised to one `authorized_keys` line: `algorithm base64 [comment]`.
    pub line: String,
    pub comment: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// Parses an OpenSSH public key and refuses weak or unsupported ones.
#[cfg(feature = "ssr")]
pub fn ssh_public_key(input: &str) -> Result<SshPublicKey, String> {
    use ssh_key::{public::KeyData, HashAlg, PublicKey};

    let text = input.trim();
    if text.is_empty() {
        return Err("Paste your SSH public key (the contents of ~/.ssh/id_ed25519.pub).".into());
    }
    if text.contains("PRIVATE KEY") {
        return Err(
            "That is a private key: never share it. Paste the public key (the .pub file) instead."
                .into(),
        );
    }
    if text.len() > MAX_SSH_KEY_CHARS {
        return Err("That is too long to be an SSH public key.".into());
    }
    if text.lines().count() > 1 {
        return Err("Paste exactly one public key, on one line.".into());
    }
    let key = PublicKey::from_openssh(text).map_err(|_| {
        "That is not an OpenSSH public key. It should look like \"ssh-ed25519 AAAAC3Nza… you@host\"."
            .to_owned()
    })?;
    match key.key_data() {
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEd25519(_)
        | KeyData::SkEcdsaSha2NistP256(_) => {}
        KeyData::Rsa(rsa) => {
            let bits = rsa
                .n
                .as_positive_bytes()
                .map(|bytes| {
                    let leading = bytes.first().map_or(8, |b| b.leading_zeros() as usize);
                    bytes.len() * 8 - leading
                })
                .unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "This RSA key has {bits} bits; use at least {MIN_RSA_BITS}, or better an Ed25519 key."
                ));
            }
        }
        _ => {
            return Err(format!(
                "Keys of type {} are not accepted; use Ed25519, ECDSA or RSA.",
                key.algorithm().as_str()
            ))
        }
    }
    let line = key
        .to_openssh()
        .map_err(|_| "That SSH public key could not be read back.".to_owned())?;
    Ok(SshPublicKey {
        line,
        comment: key.comment().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

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
    fn step_lists_need_what_their_driver_needs() {
        use crate::types::{Action, DriverKind, Step};
        let step = |driver, command: Option<&str>, instructions: Option<&str>| Step {
            name: "Rack it".into(),
            action: Action::PowerOn,
            driver,
            command: command.map(Into::into),
            timeout_secs: None,
            instructions: instructions.map(Into::into),
        };
        assert!(steps(&[step(DriverKind::Command, Some("/bin/true"), None)]).is_ok());
        assert!(steps(&[step(DriverKind::Manual, None, Some("Plug in the dongle"))]).is_ok());
        assert!(steps(&[step(DriverKind::Command, None, None)])
            .unwrap_err()
            .contains("names no command"));
        assert!(steps(&[step(DriverKind::Manual, None, None)])
            .unwrap_err()
            .contains("no instructions"));
        assert!(steps(&[step(DriverKind::Ipmi, None, None)])
            .unwrap_err()
            .contains("IPMI"));
    }

    #[test]
    fn names_are_required() {
        assert_eq!(person_name(" Ada ").unwrap(), "Ada");
        assert!(person_name("").is_err());
    }

    #[cfg(feature = "ssr")]
    mod ssh {
        use super::super::*;

        const ED25519: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop";

        #[test]
        fn an_ed25519_key_is_accepted() {
            let key = ssh_public_key(&format!("  {ED25519}\n")).unwrap();
            assert_eq!(key.line, ED25519);
            assert_eq!(key.comment, "ada@laptop");
            assert!(key.fingerprint.starts_with("SHA256:"));
        }

        #[test]
        fn garbage_and_private_keys_are_refused() {
            assert!(ssh_public_key("").is_err());
            assert!(ssh_public_key("ssh-ed25519 notbase64 x").is_err());
            assert!(ssh_public_key("hello world").is_err());
            let private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
            assert!(ssh_public_key(private).unwrap_err().contains("private key"));
            assert!(ssh_public_key(&format!("{ED25519}\n{ED25519}")).is_err());
        }

        #[test]
        fn short_rsa_keys_are_refused() {
            // A 1024-bit RSA key.
            let rsa1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDlmoPQ8bMnGEwI5k0lfHQZ7DJMNIl4ukQ2B4znrrRz1Fw83Hb3MFY7UlIqcDMR3i8hsm8lFDUYnDMM8C4mtbzeBeZ0uTNTB/q/p8uEnrfWmNiXwVzxgvM0gRx9BkQjqNBmKlwc7t0GKL9uH6j78CyFrf6I8/x0g4uFyWLYpCTPlQ== old@box";
            let err = ssh_public_key(rsa1024).unwrap_err();
            assert!(err.contains("1024 bits"), "{err}");
        }
    }
}
