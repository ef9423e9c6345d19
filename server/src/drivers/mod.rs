//! Hardware drivers: one trait, an implementation per way of acting on a machine (SPEC §5).
//! A pool's step names the driver and the action; the driver gets the machine, the loan and the
//! step, and returns the action's output for the loan's history.

mod aws_ec2;
mod command;
pub mod credentials;
pub mod ec2_api;
mod escalate;
mod ipmi;
mod snmp_pdu;
mod ssh;
pub mod tool;

pub use aws_ec2::AwsEc2Driver;
pub use command::CommandDriver;
pub use credentials::{Credential, Credentials};
pub use ipmi::IpmiDriver;
pub use snmp_pdu::SnmpPduDriver;
pub use ssh::SshDriver;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use app::server::models::{Loan, Machine, Pool, User};
use app::types::{Action, DriverKind, MachineDrivers, Phase, Step};

/// What a driver acts on.
pub struct Target<'a> {
    pub machine: &'a Machine,
    pub pool: &'a Pool,
    pub loan: Option<&'a Loan>,
    pub borrower: Option<&'a User>,
    pub phase: Phase,
    pub attempt: i32,
}

impl Target<'_> {
    /// The machine's driver settings: its pool's with its own on top.
    pub fn settings(&self) -> Result<MachineDrivers, DriverError> {
        MachineDrivers::merged(&self.pool.driver_settings, &self.machine.driver_settings)
            .map_err(|m| DriverError::Config(format!("{}: {m}", self.machine.fqdn)))
    }

    /// The image the pool hands out, as `current_image` records it.
    pub fn pool_image(&self) -> String {
        format!("{}@{}", self.pool.image_name, self.pool.image_version)
    }
}

/// What an action printed, and what it changed about the machine for Loaner to record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionOutput {
    pub text: String,
    /// The machine's own driver settings after the action (a replaced cloud instance).
    pub machine_settings: Option<serde_json::Value>,
    /// The image the machine now runs, when the action confirmed it.
    pub current_image: Option<String>,
}

impl ActionOutput {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// What the hardware drivers share: the credentials, the site's known hosts, time limits.
pub struct Hardware {
    pub credentials: Credentials,
    pub known_hosts: Option<PathBuf>,
    /// The longest one call of a tool or API may take.
    pub call_timeout: Duration,
    /// How often a driver looks again while waiting for a machine.
    pub poll: Duration,
    pub http: reqwest::Client,
}

impl Hardware {
    /// The credential named by `field` (its value `name`), or why the action cannot run.
    pub fn credential(
        &self,
        field: &str,
        name: Option<&str>,
        host: &str,
    ) -> Result<&Credential, DriverError> {
        self.credentials
            .get(field, name, host)
            .map_err(DriverError::Config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{what} exited with {status}")]
    Exit {
        what: String,
        status: String,
        output: String,
    },
    #[error("{what} did not finish within {secs} s and was stopped")]
    Timeout {
        what: String,
        secs: u64,
        output: String,
    },
    #[error("could not start {what}: {message}")]
    Start { what: String, message: String },
    /// The machine or its controller answered, but not as the action needs (a refusal, a state
    /// that did not read back).
    #[error("{message}")]
    Failed { message: String, output: String },
    /// The step or the machine is configured in a way no retry can fix.
    #[error("{0}")]
    Config(String),
}

impl DriverError {
    /// Whatever the action printed before it failed.
    pub fn output(&self) -> Option<String> {
        match self {
            Self::Exit { output, .. }
            | Self::Timeout { output, .. }
            | Self::Failed { output, .. } => Some(output.clone()).filter(|o| !o.is_empty()),
            Self::Start { .. } | Self::Config(_) => None,
        }
    }

    /// Retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Config(_))
    }
}

#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    fn kind(&self) -> DriverKind;

    /// Performs `action` as `step` describes, on `target`.
    async fn run(
        &self,
        action: Action,
        step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError>;
}

/// The drivers this server can use, by kind.
#[derive(Clone, Default)]
pub struct Drivers {
    by_kind: HashMap<DriverKind, Arc<dyn Driver>>,
    /// Also the re-image check's way in.
    ssh: Option<Arc<SshDriver>>,
}

impl Drivers {
    pub fn new(drivers: Vec<Arc<dyn Driver>>) -> Self {
        Self {
            by_kind: drivers.into_iter().map(|d| (d.kind(), d)).collect(),
            ssh: None,
        }
    }

    /// The `command` driver and every hardware driver, sharing `hardware`.
    pub fn standard(command: CommandDriver, hardware: Arc<Hardware>) -> Self {
        let ssh = Arc::new(SshDriver::new(hardware.clone()));
        let mut drivers = Self::new(vec![
            Arc::new(command),
            ssh.clone(),
            Arc::new(IpmiDriver::new(hardware.clone())),
            Arc::new(SnmpPduDriver::new(hardware.clone())),
            Arc::new(AwsEc2Driver::new(hardware)),
        ]);
        drivers.ssh = Some(ssh);
        drivers
    }

    pub fn get(&self, kind: DriverKind) -> Result<&Arc<dyn Driver>, DriverError> {
        self.by_kind.get(&kind).ok_or_else(|| {
            DriverError::Config(format!(
                "the {} driver is not available on this server",
                kind.label()
            ))
        })
    }

    /// Runs one step through the driver it names (`auto`: each configured way in turn); a
    /// re-image then counts only once a check confirms the pool's image.
    pub async fn run_step(
        &self,
        step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let started = std::time::Instant::now();
        let result = match step.driver {
            DriverKind::Auto => escalate::run(self, step, target).await,
            kind => {
                let driver = self.get(kind)?;
                match driver.run(step.action, step, target).await {
                    Ok(done) if step.action == Action::Reimage => {
                        escalate::confirm_image(self, kind, target, done).await
                    }
                    other => other,
                }
            }
        };
        tracing::info!(
            machine.fqdn = %target.machine.fqdn,
            step.name = %step.name,
            step.driver = %step.driver,
            step.action = %step.action,
            duration_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "driver action finished"
        );
        result
    }
}
