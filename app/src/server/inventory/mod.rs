//! The inventory: pools and machines, created and changed by admins in the UI or by
//! `loaner inventory sync FILE`. Every change is checked first (all problems reported at once,
//! nothing stored) and written in one transaction; the audit triggers record it. The rules for
//! step commands and driver settings are the same for both ways in.

mod write;

pub use write::{
    save_machine, save_pool, save_site_policy, set_machine_state, set_pool_retired, write_machine,
    write_pool,
};

use super::commands::{CommandsDir, DriverSetup};
use super::loans::LoanError;
use super::DbError;
use crate::error::{AppError, FieldError};
use crate::rules::{policy, validate};
use crate::types::{PolicyOverrides, SiteDefaults, Step};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("{0} was not found.")]
    NotFound(String),
    #[error(transparent)]
    Loan(#[from] LoanError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for InventoryError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl From<InventoryError> for AppError {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid(fields) => AppError::Validation(fields),
            InventoryError::NotFound(what) => AppError::NotFound(what),
            InventoryError::Loan(loan) => loan.into(),
            InventoryError::Db(db) => db.into(),
        }
    }
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> InventoryError {
    InventoryError::Invalid(vec![FieldError::new(field, message)])
}

/// A pool as an admin or an inventory file describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub image_name: String,
    pub image_version: String,
    pub login_user: String,
    pub provision_steps: Vec<Step>,
    pub reclaim_steps: Vec<Step>,
    pub policy: PolicyOverrides,
    /// Settings every machine of the pool shares; a machine's own settings win.
    pub driver_settings: serde_json::Value,
}

/// A machine as an admin or an inventory file describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct MachineSpec {
    pub fqdn: String,
    pub pool: String,
    pub driver_settings: serde_json::Value,
    pub notes: String,
}

/// Checks a step list's commands against the folder they must live in.
fn check_commands(steps: &[Step], commands: &CommandsDir) -> Result<(), String> {
    for (i, step) in steps.iter().enumerate() {
        if let Some(command) = &step.command {
            commands
                .check(command)
                .map_err(|m| format!("Step {} (\"{}\"): {m}", i + 1, step.name))?;
        }
    }
    Ok(())
}

/// Driver settings, their credentials, and the command of their health check step.
fn check_settings(settings: &serde_json::Value, setup: &DriverSetup) -> Result<(), String> {
    validate::driver_settings(settings, &setup.credentials)?;
    let drivers = crate::types::MachineDrivers::parse(settings)?;
    match &drivers.health_check {
        Some(step) => check_commands(std::slice::from_ref(step), &setup.commands)
            .map_err(|m| format!("health_check: {m}")),
        None => Ok(()),
    }
}

/// Checks and normalises a pool, against the site's defaults for the policy it inherits and
/// the folder its step commands must live in.
pub fn check_pool(
    spec: &PoolSpec,
    site: &SiteDefaults,
    setup: &DriverSetup,
) -> Result<PoolSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut keep = |field: &str, result: Result<String, String>| {
        result
            .map_err(|m| errors.push(FieldError::new(field, m)))
            .unwrap_or_default()
    };
    let checked = PoolSpec {
        slug: keep("slug", validate::slug(&spec.slug)),
        name: keep("name", validate::short_text(&spec.name, "name", 120)),
        description: keep("description", validate::description(&spec.description)),
        platform: keep(
            "platform",
            validate::short_text(&spec.platform, "platform", 80),
        ),
        image_name: keep(
            "image_name",
            validate::short_text(&spec.image_name, "image name", 120),
        ),
        image_version: keep(
            "image_version",
            validate::short_text(&spec.image_version, "image version", 80),
        ),
        login_user: keep("login_user", validate::unix_user(&spec.login_user)),
        provision_steps: spec.provision_steps.clone(),
        reclaim_steps: spec.reclaim_steps.clone(),
        policy: spec.policy.clone(),
        driver_settings: spec.driver_settings.clone(),
    };
    if let Err(m) = check_settings(&spec.driver_settings, setup) {
        errors.push(FieldError::new("driver_settings", m));
    }
    for (field, steps) in [
        ("provision_steps", &spec.provision_steps),
        ("reclaim_steps", &spec.reclaim_steps),
    ] {
        let checked = validate::steps(steps)
            .and_then(|()| check_commands(steps, &setup.commands))
            .and_then(|()| validate::steps_fit_settings(steps, &spec.driver_settings));
        if let Err(m) = checked {
            errors.push(FieldError::new(field, m));
        }
    }
    if let Err((field, m)) = policy::check_policy(&policy::resolve(site, &spec.policy)) {
        errors.push(FieldError::new(field, m));
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(errors)
    }
}

/// Checks and normalises a machine.
pub fn check_machine(
    spec: &MachineSpec,
    setup: &DriverSetup,
) -> Result<MachineSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let fqdn = validate::fqdn(&spec.fqdn)
        .map_err(|m| errors.push(FieldError::new("fqdn", m)))
        .unwrap_or_default();
    if let Err(m) = check_settings(&spec.driver_settings, setup) {
        errors.push(FieldError::new("driver_settings", m));
    }
    let notes = validate::optional_note(&spec.notes)
        .map_err(|m| errors.push(FieldError::new("notes", m)))
        .unwrap_or_default();
    if errors.is_empty() {
        Ok(MachineSpec {
            fqdn,
            notes,
            ..spec.clone()
        })
    } else {
        Err(errors)
    }
}
