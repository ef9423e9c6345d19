//! Sign-in and sessions as people see them: why a sign-in was refused, their own sessions, and
//! the people list admins manage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Role, SessionId, UserId};

/// Why a single sign-on attempt ended without a session. The callback sends the browser to
/// `/login?problem=<code>`; the sign-in page explains it and offers to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInProblem {
    /// The person pressed Cancel (or declined) at the provider.
    Cancelled,
    /// The sign-in link was used already, is too old, or was not started here.
    Expired,
    /// It was started in another browser (the binding cookie does not match).
    OtherBrowser,
    /// The provider could not be reached or answered with an error.
    ProviderUnavailable,
    /// The provider's answer did not pass the checks (signature, issuer, audience, nonce…).
    Rejected,
    /// The provider did not give a verified email address.
    NoVerifiedEmail,
    /// The email's domain is not one this site accepts.
    DomainNotAllowed,
    /// The email belongs to another account of this site, signed in through another identity.
    AccountConflict,
}

impl SignInProblem {
    pub const ALL: [SignInProblem; 8] = [
        Self::Cancelled,
        Self::Expired,
        Self::OtherBrowser,
        Self::ProviderUnavailable,
        Self::Rejected,
        Self::NoVerifiedEmail,
        Self::DomainNotAllowed,
        Self::AccountConflict,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::OtherBrowser => "other_browser",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::Rejected => "rejected",
            Self::NoVerifiedEmail => "no_verified_email",
            Self::DomainNotAllowed => "domain_not_allowed",
            Self::AccountConflict => "account_conflict",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// A heading for the sign-in page.
    pub fn title(self) -> &'static str {
        match self {
            Self::Cancelled => "Sign-in cancelled",
            Self::Expired => "That sign-in link has expired",
            Self::OtherBrowser => "Sign-in started in another browser",
            Self::ProviderUnavailable => "The sign-in service is unavailable",
            Self::Rejected => "The sign-in could not be verified",
            Self::NoVerifiedEmail => "No verified email address",
            Self::DomainNotAllowed => "This email address is not accepted here",
            Self::AccountConflict => "This email belongs to another account",
        }
    }

    /// What happened and what to do, in plain words; `provider` names the identity provider.
    pub fn explanation(self, provider: &str) -> String {
        match self {
            Self::Cancelled => format!("You cancelled at {provider}, so you are not signed in. Nothing was changed."),
            Self::Expired => "Sign-in links work once and for ten minutes. This one was already used, was too old, or was not started on this site. Start again.".to_owned(),
            Self::OtherBrowser => "The sign-in finished in a different browser (or with cookies blocked) from the one that started it, so it was refused to protect your account. Start again in this browser.".to_owned(),
            Self::ProviderUnavailable => format!("{provider} could not be reached or answered with an error. Try again in a minute; if it keeps failing, tell your admins."),
            Self::Rejected => format!("The answer from {provider} did not pass Loaner's checks, so nobody was signed in. Try again; if it keeps failing, tell your admins (the server log says which check failed)."),
            Self::NoVerifiedEmail => format!("{provider} did not give Loaner a verified email address for your account. Ask your identity admins to verify it, then try again."),
            Self::DomainNotAllowed => "Loaner on this site accepts accounts from its company's email domains only. Sign in with your work account.".to_owned(),
            Self::AccountConflict => "A different account already uses this email address here. Ask a Loaner admin to sort it out.".to_owned(),
        }
    }
}

/// One of a person's signed-in sessions, as their account page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: SessionId,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// "Firefox on Linux", from the browser's User-Agent.
    pub browser: String,
    pub address: String,
    /// "Acme SSO", "development login".
    pub via: String,
    /// The session this page was loaded with.
    pub current: bool,
}

/// A person as the admins' people page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub groups: Vec<String>,
    pub last_sign_in: Option<DateTime<Utc>>,
    pub active_sessions: i64,
}
