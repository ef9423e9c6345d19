//! Personal API tokens as the tokens page and the API show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiTokenId, UserId};

/// What an API token may be used for. Its owner's role limits it further: `admin` does
/// nothing on a developer's token. Written `loans:read` and so on, on the wire and in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    LoansRead,
    LoansWrite,
    MachinesRead,
    MachinesAct,
    Admin,
}

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Scope::LoansRead,
        Scope::LoansWrite,
        Scope::MachinesRead,
        Scope::MachinesAct,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::LoansRead => "loans:read",
            Scope::LoansWrite => "loans:write",
            Scope::MachinesRead => "machines:read",
            Scope::MachinesAct => "machines:act",
            Scope::Admin => "admin",
        }
    }

    /// What the scope lets a token do, for the tokens page.
    pub fn label(self) -> &'static str {
        match self {
            Scope::LoansRead => "See your loans and the catalogue",
            Scope::LoansWrite => "Borrow, extend, return and cancel loans",
            Scope::MachinesRead => "See machines (admins)",
            Scope::MachinesAct => "Run power and re-image actions on machines (admins)",
            Scope::Admin => "Everything an admin may do (admins only)",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == text)
    }

    /// Every scope's name, for messages: "loans:read, loans:write, …".
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Scope::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown scope {text:?}; expected one of {}",
                Scope::names()
            ))
        })
    }
}

/// One token as its owner (or an admin) sees it; never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub id: ApiTokenId,
    pub owner_id: UserId,
    pub owner: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The secret's first characters, to tell tokens apart: `loaner_3fa94c…`.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub live: bool,
}

/// A request for a new token, as the form sends it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub name: String,
    pub scopes: Vec<String>,
    /// As typed; empty means the default (90 days).
    pub expires_in_days: String,
}

/// The tokens page's lists: the caller's, and (for admins) everyone's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenLists {
    pub mine: Vec<ApiTokenView>,
    pub everyone: Option<Vec<ApiTokenView>>,
}

/// A token just made: the one time its secret is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedApiToken {
    pub token: ApiTokenView,
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_written_as_their_names_and_unknown_ones_are_refused() {
        for scope in Scope::ALL {
            let json = serde_json::to_string(scope).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
            assert_eq!(serde_json::from_str::<Scope>(&json).ok(), Some(*scope));
        }
        assert!(serde_json::from_str::<Scope>("\"loans_read\"").is_err());
        assert_eq!(Scope::parse("root"), None);
    }
}
