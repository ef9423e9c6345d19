//! The mail settings (`[mail]`: transport, SMTP server, sender, digest, retention) and the
//! reminders' timing (`[reminders]`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Send through the SMTP server below.
    Smtp,
    /// Keep messages in the database for the development mailbox page; nothing is sent.
    Mailbox,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// Defaults to `mailbox` in development mode and `smtp` otherwise.
    pub transport: Option<MailTransport>,
    pub host: String,
    /// Defaults to 25 (none), 587 (starttls) or 465 (tls).
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Loaner <loaner@example.com>`.
    pub from: String,
    pub timeout_secs: u64,
    /// Hour of the day (UTC) the admins' daily digest goes out.
    pub digest_hour_utc: u32,
    /// Days a sent message keeps its text; then it is blanked (subject and recipients stay).
    pub retention_days: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemindersConfig {
    /// Minutes before a deadline that reminders go out, unless a pool sets its own.
    pub offsets_minutes: Vec<i32>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: None,
            host: "localhost".into(),
            port: None,
            tls: TlsMode::Starttls,
            username: None,
            password: None,
            from: "Loaner <loaner@localhost>".into(),
            timeout_secs: 20,
            digest_hour_utc: 8,
            retention_days: 90,
        }
    }
}

impl Default for RemindersConfig {
    fn default() -> Self {
        Self {
            offsets_minutes: vec![48 * 60, 24 * 60, 60],
        }
    }
}

impl MailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        })
    }
}
