//! Configuration: built-in defaults, then an optional TOML file, then `LOANER_*` environment
//! variables (nested keys with `__`, e.g. `LOANER_JOBS__LEASE_SECS`). `DATABASE_URL` is read too.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use app::server::PublicUrl;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the web server listens.
    pub bind: SocketAddr,
    /// The database; without one, a private PostgreSQL cluster is started under `data_dir`.
    pub database_url: Option<String>,
    /// Local state of the zero-configuration mode (the private cluster).
    pub data_dir: PathBuf,
    /// Development mode (dev login, demo inventory). Defaults to on exactly when no
    /// `database_url` is given.
    pub dev_mode: Option<bool>,
    /// Seed the demo inventory into an empty private database.
    pub seed_demo: bool,
    /// The address people reach the site at; defaults to `http://{bind}`.
    pub public_url: Option<String>,
    /// The built site (WASM, CSS, static files).
    pub site_root: PathBuf,
    /// Mark cookies `Secure` even though `public_url` is http (they always are with https).
    pub secure_cookies: bool,
    /// A session ends this long after sign-in, however busy.
    pub session_hours: i64,
    /// The longest a personal API token may live, in days (a token lives 90 days unless its
    /// maker chooses otherwise).
    pub api_token_max_days: i64,
    /// The bug tracker's page for a bug reference, `{}` standing for the reference (Bugzilla:
    /// `https://bugzilla.example.com/show_bug.cgi?id={}`). Without it, references are shown
    /// as text (those that are web addresses link to themselves).
    pub bug_url_template: Option<String>,
    /// A session unused this long ends.
    pub session_idle_minutes: i64,
    /// Single sign-on through an OpenID Connect provider; the development login is never
    /// offered when this is set.
    pub oidc: Option<OidcConfig>,
    /// The only folder the `command` driver runs programs from. Defaults to the demo scripts
    /// (`server/demo`) in development mode and `./steps` otherwise.
    pub commands_dir: Option<PathBuf>,
    /// Reverse proxies (exact addresses) whose `X-Forwarded-For` names the real client.
    pub trusted_proxies: Vec<IpAddr>,
    pub limits: LimitsConfig,
    pub jobs: JobsConfig,
    pub drivers: DriversConfig,
    pub health: HealthConfig,
    pub mail: MailConfig,
    pub reminders: RemindersConfig,
    pub metrics: MetricsConfig,
    /// Lets tests move the server's clock through `POST /_test/clock` (development mode on
    /// loopback only). Never switch this on for real use.
    pub test_clock: bool,
}

/// How much one client may send, and how often.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sign-in attempts per client address and minute.
    pub sign_ins_per_minute: u32,
    /// One-click email link pages and confirmations per client address and minute.
    pub link_views_per_minute: u32,
    /// Loan requests per person and hour.
    pub loan_requests_per_hour: u32,
    /// API calls per person (all their tokens together) and minute.
    pub api_calls_per_minute: u32,
    /// The largest request body, in KiB.
    pub body_kib: usize,
    /// Live pages (event streams) one person may hold open at once.
    pub live_pages_per_person: usize,
    /// Statistics pages and CSV downloads per person and minute.
    pub statistics_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let limits = app::server::limits::LimitSettings::default();
        Self {
            sign_ins_per_minute: limits.sign_ins_per_minute,
            link_views_per_minute: limits.link_views_per_minute,
            loan_requests_per_hour: limits.loan_requests_per_hour,
            api_calls_per_minute: limits.api_calls_per_minute,
            body_kib: 64,
            live_pages_per_person: app::server::live::DEFAULT_STREAMS_PER_PERSON,
            statistics_per_minute: limits.statistics_per_minute,
        }
    }
}

impl LimitsConfig {
    pub fn settings(&self) -> app::server::limits::LimitSettings {
        app::server::limits::LimitSettings {
            sign_ins_per_minute: self.sign_ins_per_minute,
            link_views_per_minute: self.link_views_per_minute,
            loan_requests_per_hour: self.loan_requests_per_hour,
            api_calls_per_minute: self.api_calls_per_minute,
            statistics_per_minute: self.statistics_per_minute,
        }
    }
}

/// `[drivers]`: what the hardware drivers need from the site.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriversConfig {
    /// The secrets file: TOML, a table per credential (`[bmc-lab1] username, password`),
    /// readable by its owner only. `LOANER_SECRET__{NAME}__{FIELD}` variables add to it.
    pub credentials_file: Option<PathBuf>,
    /// The site's `known_hosts` for the ssh driver: machines' host keys are checked against it
    /// and an unknown key is refused (never trusted on first use).
    pub known_hosts: Option<PathBuf>,
    /// The longest one call of `ssh`, `ipmitool`, `snmpset` or the cloud's API may take.
    pub call_timeout_secs: u64,
    /// How often a driver looks again while waiting for a machine to come back.
    pub poll_ms: u64,
}

impl Default for DriversConfig {
    fn default() -> Self {
        Self {
            credentials_file: None,
            known_hosts: None,
            call_timeout_secs: 30,
            poll_ms: 1000,
        }
    }
}

/// `[health]`: health checks of machines out of loans.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Minutes between checks of every available machine; 0 turns them off. Defaults to 15,
    /// and to off in development mode (the demo's machines and BMCs do not exist).
    pub interval_minutes: Option<u32>,
    /// Good checks in a row that bring back a machine a failed check took out; 0: only an
    /// admin does.
    pub return_after_good_checks: u32,
}

impl HealthConfig {
    /// Minutes between sweeps (0: off), the default filled in.
    pub fn interval(&self, dev_mode: bool) -> u32 {
        self.interval_minutes
            .unwrap_or(if dev_mode { 0 } else { 15 })
    }

    /// These settings with the default filled in for a server in (or out of) development mode.
    pub fn resolved(self, dev_mode: bool) -> Self {
        Self {
            interval_minutes: Some(self.interval(dev_mode)),
            ..self
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Run a worker inside `loaner serve` as well.
    pub in_serve: bool,
    /// Jobs one worker runs at once (steps, mail).
    pub concurrency: usize,
    /// Timer jobs (expiry, end of grace) one worker runs at once, apart from the others.
    pub timer_concurrency: usize,
    /// How long a claimed job is reserved for its worker; renewed while it runs.
    pub lease_secs: u64,
    /// How often an idle worker looks for due jobs when no notification arrives.
    pub poll_secs: u64,
    /// First retry delay; doubled per attempt up to `backoff_max_secs`.
    pub backoff_base_ms: u64,
    pub backoff_max_secs: u64,
    /// Default time limit of a step's command.
    pub step_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: None,
            data_dir: PathBuf::from(".loaner"),
            dev_mode: None,
            seed_demo: true,
            public_url: None,
            site_root: PathBuf::from("target/site"),
            secure_cookies: false,
            session_hours: 12,
            api_token_max_days: 365,
            bug_url_template: None,
            session_idle_minutes: 240,
            oidc: None,
            commands_dir: None,
            trusted_proxies: Vec::new(),
            limits: LimitsConfig::default(),
            jobs: JobsConfig::default(),
            drivers: DriversConfig::default(),
            health: HealthConfig::default(),
            mail: MailConfig::default(),
            reminders: RemindersConfig::default(),
            metrics: MetricsConfig::default(),
            test_clock: false,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            in_serve: true,
            concurrency: 8,
            timer_concurrency: 4,
            lease_secs: 60,
            poll_secs: 5,
            backoff_base_ms: 2000,
            backoff_max_secs: 300,
            step_timeout_secs: 600,
        }
    }
}

impl Config {
    /// Reads the configuration from defaults, `file` (if given) and the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "configuration file {} does not exist",
                file.display()
            );
            oidc::refuse_secrets_in(file)?;
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            // LOANER_LOG (log filter), LOANER_LOG_FORMAT and LOANER_CONFIG (this file) are
            // read elsewhere.
            .merge(
                Env::prefixed("LOANER_")
                    .ignore(&["log", "log_format", "config"])
                    // Credentials (`LOANER_SECRET__…`) are read by the drivers alone.
                    .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("secret__"))
                    .split("__"),
            )
            .merge(Env::raw().only(&["DATABASE_URL"]));
        let config: Self = figment.extract().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    /// Zero-configuration development mode unless told otherwise.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode.unwrap_or(self.database_url.is_none())
    }

    pub fn mail_transport(&self) -> MailTransport {
        self.mail.transport.unwrap_or(if self.dev_mode() {
            MailTransport::Mailbox
        } else {
            MailTransport::Smtp
        })
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.reminders.offsets_minutes.iter().all(|m| *m > 0),
            "reminders.offsets_minutes must be positive numbers of minutes"
        );
        anyhow::ensure!(
            self.mail.digest_hour_utc < 24,
            "mail.digest_hour_utc must be 0–23"
        );
        anyhow::ensure!(
            self.jobs.concurrency > 0,
            "jobs.concurrency must be at least 1"
        );
        self.mail
            .from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("mail.from is not an address ({e})"))?;
        anyhow::ensure!(
            self.mail.retention_days > 0,
            "mail.retention_days must be at least 1"
        );
        let limits = &self.limits;
        anyhow::ensure!(
            limits.sign_ins_per_minute > 0
                && limits.link_views_per_minute > 0
                && limits.loan_requests_per_hour > 0
                && limits.api_calls_per_minute > 0
                && limits.statistics_per_minute > 0,
            "limits.* must be at least 1"
        );
        anyhow::ensure!(
            (1..=10 * 1024).contains(&limits.body_kib),
            "limits.body_kib must be 1–10240"
        );
        anyhow::ensure!(
            (1..=10_000).contains(&limits.live_pages_per_person),
            "limits.live_pages_per_person must be 1–10000"
        );
        anyhow::ensure!(
            (1..=24 * 90).contains(&self.session_hours),
            "session_hours must be 1–2160"
        );
        anyhow::ensure!(
            (1..=3650).contains(&self.api_token_max_days),
            "api_token_max_days must be 1–3650"
        );
        anyhow::ensure!(
            (5..=60 * 24 * 90).contains(&self.session_idle_minutes),
            "session_idle_minutes must be 5–129600"
        );
        if let Some(template) = &self.bug_url_template {
            anyhow::ensure!(
                (template.starts_with("https://") || template.starts_with("http://"))
                    && template.matches("{}").count() == 1
                    && !template.chars().any(char::is_whitespace),
                "bug_url_template must be an http(s) address with one {{}} where the bug goes, like https://bugzilla.example.com/show_bug.cgi?id={{}}"
            );
        }
        self.metrics.validate(self.dev_mode())?;
        let public_url = self.public_url().map_err(anyhow::Error::msg)?;
        if let Some(oidc) = &self.oidc {
            oidc.validate(&public_url)?;
        }
        if self.dev_mode() {
            anyhow::ensure!(
                self.database_url.is_none(),
                "dev_mode cannot be combined with database_url: the development login lets anyone be an admin, which must never reach a real database"
            );
            anyhow::ensure!(
                public_url.is_loopback(),
                "dev_mode needs a loopback public_url (like http://127.0.0.1:3000), not {}",
                public_url.url
            );
        }
        Ok(())
    }

    /// `serve` and `worker` put the site's address in pages, links and emails, and check every
    /// request's `Host` against it: outside development mode it must be said, not guessed.
    pub fn require_public_url(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.dev_mode() || self.public_url.is_some(),
            "public_url must be set outside development mode (LOANER_PUBLIC_URL=https://loaner.example.com): it is the address in every link and email, and requests for any other host name are refused"
        );
        Ok(())
    }

    /// The address people reach the site at: `public_url`, or `http://{bind}`.
    pub fn public_url(&self) -> Result<PublicUrl, String> {
        let text = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.bind));
        PublicUrl::parse(&text)
    }

    /// The folder step commands run from.
    /// What saved pools and machines are checked against: the commands folder and the names
    /// (only) of the credentials.
    pub fn driver_setup(&self) -> anyhow::Result<app::server::commands::DriverSetup> {
        let credentials = crate::drivers::Credentials::load(self.credentials_file()?.as_deref())?;
        Ok(app::server::commands::DriverSetup {
            commands: app::server::commands::CommandsDir::new(&self.commands_dir()),
            credentials: credentials.names(),
        })
    }

    /// The secrets file: the configured one, or in development mode the demo's placeholders.
    pub fn credentials_file(&self) -> anyhow::Result<Option<PathBuf>> {
        match &self.drivers.credentials_file {
            Some(path) => Ok(Some(path.clone())),
            None if self.dev_mode() && self.database_url.is_none() => {
                crate::demo::demo_secrets(&self.data_dir).map(Some)
            }
            None => Ok(None),
        }
    }

    pub fn commands_dir(&self) -> PathBuf {
        match &self.commands_dir {
            Some(dir) => dir.clone(),
            None if self.dev_mode() => crate::demo::scripts_dir(),
            None => PathBuf::from("steps"),
        }
    }
}

mod mail;
mod metrics;
mod oidc;

pub use mail::{MailConfig, MailTransport, RemindersConfig, TlsMode};
pub use metrics::MetricsConfig;
pub use oidc::{ClientAuthMethod, OidcConfig, Secret};

#[cfg(test)]
mod tests;
