//! Hardware drivers: one trait, an implementation per way of acting on a machine (SPEC §5).
//! A pool's step names the driver and the action; the driver gets the machine, the loan and the
//! step, and returns the action's output for the loan's history.

mod command;

pub use command::CommandDriver;

use std::collections::HashMap;
use std::sync::Arc;

use app::server::models::{Loan, Machine, Pool, User};
use app::types::{Action, DriverKind, Phase, Step};

/// What a driver acts on.
pub struct Target<'a> {
    pub machine: &'a Machine,
    pub pool: &'a Pool,
    pub loan: Option<&'a Loan>,
    pub borrower: Option<&'a User>,
    pub phase: Phase,
    pub attempt: i32,
}

/// What an action printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionOutput {
    pub text: String,
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
    /// The step or the machine is configured in a way no retry can fix.
    #[error("{0}")]
    Config(String),
}

impl DriverError {
    /// Whatever the action printed before it failed.
    pub fn output(&self) -> Option<String> {
        match self {
            Self::Exit { output, .. } | Self::Timeout { output, .. } => Some(output.clone()),
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
}

impl Drivers {
    pub fn new(drivers: Vec<Arc<dyn Driver>>) -> Self {
        Self {
            by_kind: drivers.into_iter().map(|d| (d.kind(), d)).collect(),
        }
    }

    /// Runs one step through the driver it names.
    pub async fn run_step(
        &self,
        step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let driver = self.by_kind.get(&step.driver).ok_or_else(|| {
            DriverError::Config(format!(
                "step \"{}\" uses the {} driver, which this server does not provide",
                step.name,
                step.driver.label()
            ))
        })?;
        let started = std::time::Instant::now();
        let result = driver.run(step.action, step, target).await;
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
