//! `[oidc]`: single sign-on settings, their checks, and the client secret (only from the
//! environment or a file, never from the configuration file).

use std::path::{Path, PathBuf};

use anyhow::Context;
use app::server::PublicUrl;
use serde::{Deserialize, Serialize};

/// A secret (the OIDC client secret) that never shows in logs or `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How Loaner authenticates to the provider's token endpoint with the client secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic (the default of most providers).
    ClientSecretBasic,
    /// In the form body.
    ClientSecretPost,
}

/// `[oidc]`: the company's identity provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Only from the environment (`LOANER_OIDC__CLIENT_SECRET`) or `client_secret_file`; none
    /// for a public client.
    pub client_secret: Option<Secret>,
    /// A file holding the client secret (a mounted secret); surrounding whitespace is ignored.
    pub client_secret_file: Option<PathBuf>,
    /// How the client authenticates at the token endpoint.
    pub client_auth_method: ClientAuthMethod,
    /// Asked for at sign-in; `openid` is always asked for.
    pub scopes: Vec<String>,
    /// The claim (in the ID token or from userinfo) that lists the person's groups.
    pub groups_claim: String,
    /// Members of any of these groups (exact names) are admins.
    pub admin_groups: Vec<String>,
    /// These people (by verified email) are admins whatever their groups.
    pub admin_emails: Vec<String>,
    /// When set, only emails in these domains may sign in.
    pub allowed_email_domains: Vec<String>,
    /// Accept an email the provider does not mark verified (Microsoft Entra ID never sends
    /// `email_verified`). Only together with `allowed_email_domains`: the provider must be the
    /// authority for those domains.
    pub trust_unverified_email: bool,
    /// Shown on the button: "Sign in with {display_name}".
    pub display_name: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            client_secret_file: None,
            client_auth_method: ClientAuthMethod::ClientSecretBasic,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            groups_claim: "groups".into(),
            admin_groups: Vec::new(),
            admin_emails: Vec::new(),
            allowed_email_domains: Vec::new(),
            trust_unverified_email: false,
            display_name: "single sign-on".into(),
        }
    }
}

impl OidcConfig {
    /// The client secret, from the environment or its file.
    pub fn secret(&self) -> anyhow::Result<Option<Secret>> {
        if let Some(secret) = &self.client_secret {
            return Ok(Some(secret.clone()));
        }
        let Some(file) = &self.client_secret_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(file).with_context(|| {
            format!("oidc.client_secret_file {} cannot be read", file.display())
        })?;
        let secret = text.trim();
        anyhow::ensure!(
            !secret.is_empty(),
            "oidc.client_secret_file {} is empty",
            file.display()
        );
        Ok(Some(Secret(secret.to_owned())))
    }

    pub(super) fn validate(&self, public_url: &PublicUrl) -> anyhow::Result<()> {
        let issuer = PublicUrl::parse(&self.issuer).map_err(|_| {
            anyhow::anyhow!("oidc.issuer must be an http(s) URL, not {:?}", self.issuer)
        })?;
        anyhow::ensure!(
            issuer.https || issuer.is_loopback(),
            "oidc.issuer must use https (plain http only on a loopback address for testing)"
        );
        anyhow::ensure!(
            public_url.https || public_url.is_loopback(),
            "single sign-on needs an https public_url (the provider sends people back to it with their sign-in code)"
        );
        anyhow::ensure!(
            !self.client_id.trim().is_empty(),
            "oidc.client_id must be set"
        );
        anyhow::ensure!(
            !self.groups_claim.trim().is_empty(),
            "oidc.groups_claim must name a claim"
        );
        anyhow::ensure!(
            !self.display_name.trim().is_empty() && self.display_name.chars().count() <= 60,
            "oidc.display_name must be 1–60 characters"
        );
        for scope in &self.scopes {
            anyhow::ensure!(
                !scope.is_empty()
                    && scope
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
                "oidc.scopes: {scope:?} is not a scope name"
            );
        }
        for domain in &self.allowed_email_domains {
            anyhow::ensure!(
                !domain.is_empty() && !domain.contains('@') && domain.contains('.'),
                "oidc.allowed_email_domains: {domain:?} is not a domain (write example.com, without @)"
            );
        }
        for email in &self.admin_emails {
            anyhow::ensure!(
                app::rules::validate::email(email).is_ok(),
                "oidc.admin_emails: {email:?} is not an email address"
            );
        }
        anyhow::ensure!(
            !self.trust_unverified_email || !self.allowed_email_domains.is_empty(),
            "oidc.trust_unverified_email needs oidc.allowed_email_domains: only emails in domains the provider is the authority for may be trusted unverified"
        );
        anyhow::ensure!(
            self.client_secret.is_none() || self.client_secret_file.is_none(),
            "set oidc.client_secret or oidc.client_secret_file, not both"
        );
        Ok(())
    }
}

/// The client secret must not sit in a configuration file that is checked in or shared: it is
/// read from the environment or `oidc.client_secret_file` only.
pub(super) fn refuse_secrets_in(file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read configuration file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("configuration file {} is not valid TOML", file.display()))?;
    let written = table
        .get("oidc")
        .and_then(|oidc| oidc.get("client_secret"))
        .is_some();
    let token_written = table
        .get("metrics")
        .and_then(|metrics| metrics.get("token"))
        .is_some();
    anyhow::ensure!(
        !token_written,
        "metrics.token must not be written in {}: set LOANER_METRICS__TOKEN instead",
        file.display()
    );
    anyhow::ensure!(
        !written,
        "oidc.client_secret must not be written in {}: set LOANER_OIDC__CLIENT_SECRET or oidc.client_secret_file instead",
        file.display()
    );
    Ok(())
}
