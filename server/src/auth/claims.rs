//! From verified claims to a person: the email (verified, in an allowed domain), the name, the
//! groups (from the configured claim) and the role they give. Pure, so every rule is tested
//! without a provider.

use app::rules::validate;
use app::types::{Role, SignInProblem};
use serde_json::Value;

use crate::config::OidcConfig;

/// Who the provider says signed in, as Loaner will store them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    pub role: Role,
}

/// The most groups kept, and the longest group name: a provider's answer is input too.
const MAX_GROUPS: usize = 200;
const MAX_GROUP_LEN: usize = 200;

/// The groups in `claim`: a list of strings or one string. Anything else gives no groups.
pub fn groups_from(claim: Option<&Value>) -> Option<Vec<String>> {
    let mut groups: Vec<String> = match claim? {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_LEN)
            .filter(|g| !g.chars().any(char::is_control))
            .map(str::to_owned)
            .collect(),
        Value::String(one) if !one.trim().is_empty() => vec![one.trim().to_owned()],
        _ => return None,
    };
    groups.sort();
    groups.dedup();
    Some(groups)
}

/// Decides who signed in, or why they may not.
pub fn decide(
    config: &OidcConfig,
    email: Option<&str>,
    email_verified: Option<bool>,
    name: Option<&str>,
    groups: Vec<String>,
) -> Result<Person, SignInProblem> {
    let email = email
        .filter(|_| email_verified == Some(true) || config.trust_unverified_email)
        .and_then(|e| validate::email(e).ok())
        .ok_or(SignInProblem::NoVerifiedEmail)?
        .to_ascii_lowercase();
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    if !config.allowed_email_domains.is_empty()
        && !config
            .allowed_email_domains
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    {
        return Err(SignInProblem::DomainNotAllowed);
    }
    let name = name
        .and_then(|n| validate::person_name(n).ok())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let admin = groups.iter().any(|g| config.admin_groups.contains(g))
        || config
            .admin_emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(&email));
    // Admin is decided on every group; only the first MAX_GROUPS are kept for pool policies.
    let mut groups = groups;
    groups.truncate(MAX_GROUPS);
    Ok(Person {
        email,
        name,
        groups,
        role: if admin { Role::Admin } else { Role::Developer },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        OidcConfig {
            admin_groups: vec!["releng-admins".into()],
            admin_emails: vec!["Boss@Example.com".into()],
            allowed_email_domains: vec!["example.com".into()],
            ..OidcConfig::default()
        }
    }

    fn groups(list: &[&str]) -> Vec<String> {
        list.iter().map(|g| g.to_string()).collect()
    }

    #[test]
    fn members_of_an_admin_group_are_admins_and_others_developers() {
        let admin = decide(
            &config(),
            Some("ada@example.com"),
            Some(true),
            Some("Ada"),
            groups(&["releng-admins", "gfx"]),
        )
        .unwrap();
        assert_eq!(admin.role, Role::Admin);
        let dev = decide(
            &config(),
            Some("bob@example.com"),
            Some(true),
            Some("Bob"),
            groups(&["gfx"]),
        )
        .unwrap();
        assert_eq!(dev.role, Role::Developer);
        // Exact names only: a group that merely contains the admin group's name is not it.
        let near = decide(
            &config(),
            Some("eve@example.com"),
            Some(true),
            None,
            groups(&["releng-admins-old", "/releng-admins/x"]),
        )
        .unwrap();
        assert_eq!(near.role, Role::Developer);
    }

    #[test]
    fn listed_emails_are_admins_whatever_their_groups() {
        let boss = decide(
            &config(),
            Some("boss@example.com"),
            Some(true),
            None,
            Vec::new(),
        )
        .unwrap();
        assert_eq!(boss.role, Role::Admin);
        assert_eq!(boss.name, "boss", "no name claim: the email's local part");
    }

    #[test]
    fn an_unverified_or_missing_email_is_refused() {
        assert_eq!(
            decide(
                &config(),
                Some("ada@example.com"),
                Some(false),
                None,
                Vec::new()
            ),
            Err(SignInProblem::NoVerifiedEmail)
        );
        assert_eq!(
            decide(&config(), Some("ada@example.com"), None, None, Vec::new()),
            Err(SignInProblem::NoVerifiedEmail)
        );
        assert_eq!(
            decide(&config(), None, Some(true), None, Vec::new()),
            Err(SignInProblem::NoVerifiedEmail)
        );
        assert_eq!(
            decide(
                &config(),
                Some("not an email"),
                Some(true),
                None,
                Vec::new()
            ),
            Err(SignInProblem::NoVerifiedEmail)
        );
    }

    #[test]
    fn an_unverified_email_is_trusted_only_when_configured() {
        let entra = OidcConfig {
            trust_unverified_email: true,
            ..config()
        };
        let person = decide(&entra, Some("Ada@Example.com"), None, None, Vec::new()).unwrap();
        assert_eq!(person.email, "ada@example.com");
        assert_eq!(
            decide(&entra, Some("ada@elsewhere.test"), None, None, Vec::new()),
            Err(SignInProblem::DomainNotAllowed)
        );
    }

    #[test]
    fn other_domains_are_refused_when_domains_are_listed() {
        assert_eq!(
            decide(
                &config(),
                Some("mallory@evil.example"),
                Some(true),
                None,
                Vec::new()
            ),
            Err(SignInProblem::DomainNotAllowed)
        );
        // A look-alike subdomain is another domain.
        assert_eq!(
            decide(
                &config(),
                Some("m@example.com.evil.test"),
                Some(true),
                None,
                Vec::new()
            ),
            Err(SignInProblem::DomainNotAllowed)
        );
        let open = OidcConfig {
            allowed_email_domains: Vec::new(),
            ..config()
        };
        assert!(decide(
            &open,
            Some("anyone@anywhere.test"),
            Some(true),
            None,
            Vec::new()
        )
        .is_ok());
    }

    #[test]
    fn groups_come_as_a_list_or_one_string_and_are_cleaned() {
        assert_eq!(
            groups_from(Some(&json!(["b", "a", "a", "", 7, "x\u{0007}"]))),
            Some(groups(&["a", "b"]))
        );
        assert_eq!(groups_from(Some(&json!("solo"))), Some(groups(&["solo"])));
        assert_eq!(groups_from(Some(&json!({"not": "a list"}))), None);
        assert_eq!(groups_from(None), None);
        let mut many: Vec<String> = (0..500).map(|n| format!("g{n:03}")).collect();
        many.push("releng-admins".into());
        let kept = groups_from(Some(&json!(many))).unwrap();
        let person = decide(&config(), Some("ada@example.com"), Some(true), None, kept).unwrap();
        assert_eq!(person.groups.len(), MAX_GROUPS, "at most {MAX_GROUPS} kept");
        assert_eq!(
            person.role,
            Role::Admin,
            "the admin group counts even past the first {MAX_GROUPS}"
        );
    }
}
