//! The inventory: pools and machines, created and changed by admins in the UI or by
//! `loaner inventory sync FILE`. Every change is checked first (all problems reported at once,
//! nothing stored) and written in one transaction; the audit triggers record it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::loans::LoanError;
use super::models::{Machine, NewMachine, User};
use super::schema::{loans, machines, pools, site_policy};
use super::{audit, db::is_unique_violation, policies, waiting, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::{policy, validate};
use crate::types::{LoanState, MachineState, PolicyOverrides, SiteDefaults, Step};

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

fn invalid(field: &str, message: impl Into<String>) -> InventoryError {
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

const SETTINGS_SHAPE: &str =
    "Driver settings are a JSON object, like {\"env\": {\"BMC\": \"bmc-01\"}}.";

/// Checks and normalises a pool, against the site's defaults for the policy it inherits.
pub fn check_pool(spec: &PoolSpec, site: &SiteDefaults) -> Result<PoolSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut keep = |field: &str, result: Result<String, String>| {
        result
            .map_err(|m| errors.push(FieldError::new(field, m)))
            .unwrap_or_default()
    };
    let checked = PoolSpec {
        slug: keep("slug", validate::slug(&spec.slug)),
        name: keep("name", validate::short_text(&spec.name, "name", 120)),
        description: spec.description.trim().to_owned(),
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
        login_user: keep("login_user", login_user(&spec.login_user)),
        provision_steps: spec.provision_steps.clone(),
        reclaim_steps: spec.reclaim_steps.clone(),
        policy: spec.policy.clone(),
        driver_settings: spec.driver_settings.clone(),
    };
    if !spec.driver_settings.is_object() {
        errors.push(FieldError::new("driver_settings", SETTINGS_SHAPE));
    }
    if spec.description.chars().count() > 10_000 {
        errors.push(FieldError::new(
            "description",
            "Keep the description under 10,000 characters.",
        ));
    }
    if let Err(m) = validate::steps(&spec.provision_steps) {
        errors.push(FieldError::new("provision_steps", m));
    }
    if let Err(m) = validate::steps(&spec.reclaim_steps) {
        errors.push(FieldError::new("reclaim_steps", m));
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

fn login_user(input: &str) -> Result<String, String> {
    let user = input.trim();
    let ok = !user.is_empty()
        && user.len() <= 32
        && user
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if ok {
        Ok(user.to_owned())
    } else {
        Err("Use a Unix user name like builder.".into())
    }
}

/// Checks and normalises a machine.
pub fn check_machine(spec: &MachineSpec) -> Result<MachineSpec, Vec<FieldError>> {
    let mut errors = Vec::new();
    let fqdn = validate::fqdn(&spec.fqdn)
        .map_err(|m| errors.push(FieldError::new("fqdn", m)))
        .unwrap_or_default();
    if !spec.driver_settings.is_object() {
        errors.push(FieldError::new("driver_settings", SETTINGS_SHAPE));
    }
    if spec.notes.chars().count() > 2000 {
        errors.push(FieldError::new(
            "notes",
            "Keep the notes under 2,000 characters.",
        ));
    }
    if errors.is_empty() {
        Ok(MachineSpec {
            fqdn,
            ..spec.clone()
        })
    } else {
        Err(errors)
    }
}

fn groups(policy: &PolicyOverrides) -> Option<Vec<Option<String>>> {
    policy
        .allowed_groups
        .as_ref()
        .map(|g| g.iter().cloned().map(Some).collect())
}

/// Creates a pool (`existing` = None) or changes the pool with slug `existing`. Returns its id.
pub async fn save_pool(
    conn: &mut AsyncPgConnection,
    actor: &User,
    existing: Option<&str>,
    spec: &PoolSpec,
    now: DateTime<Utc>,
) -> Result<i64, InventoryError> {
    let site = policies::site_defaults(conn).await?;
    let spec = check_pool(spec, &site).map_err(InventoryError::Invalid)?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        write_pool(conn, existing, &spec, now).await
    })
    .await
}

/// Writes a checked pool in the caller's transaction.
pub async fn write_pool(
    conn: &mut AsyncPgConnection,
    existing: Option<&str>,
    spec: &PoolSpec,
    now: DateTime<Utc>,
) -> Result<i64, InventoryError> {
    let p = &spec.policy;
    let values = (
        pools::slug.eq(&spec.slug),
        pools::name.eq(&spec.name),
        pools::description.eq(&spec.description),
        pools::platform.eq(&spec.platform),
        pools::image_name.eq(&spec.image_name),
        pools::image_version.eq(&spec.image_version),
        pools::login_user.eq(&spec.login_user),
        pools::provision_steps.eq(serde_json::to_value(&spec.provision_steps).unwrap_or_default()),
        pools::reclaim_steps.eq(serde_json::to_value(&spec.reclaim_steps).unwrap_or_default()),
        pools::driver_settings.eq(&spec.driver_settings),
        (
            pools::approval_mode.eq(p.approval_mode.map(|m| m.as_str())),
            pools::default_duration_hours.eq(p.default_duration_hours),
            pools::max_duration_hours.eq(p.max_duration_hours),
            pools::extension_hours.eq(p.extension_hours),
            pools::max_extensions.eq(p.max_extensions),
            pools::max_total_hours.eq(p.max_total_hours),
            pools::bug_required.eq(p.bug_required),
            pools::grace_period_minutes.eq(p.grace_period_minutes),
            pools::max_loans_per_user.eq(p.max_loans_per_user),
            pools::allowed_groups.eq(groups(p)),
        ),
        pools::updated_at.eq(now),
    );
    let result = match existing {
        None => {
            diesel::insert_into(pools::table)
                .values(values)
                .returning(pools::id)
                .get_result(conn)
                .await
        }
        Some(slug) => {
            diesel::update(pools::table.filter(pools::slug.eq(slug)))
                .set(values)
                .returning(pools::id)
                .get_result(conn)
                .await
        }
    };
    match result {
        Ok(id) => Ok(id),
        Err(diesel::result::Error::NotFound) => Err(InventoryError::NotFound(format!(
            "Pool \"{}\"",
            existing.unwrap_or_default()
        ))),
        Err(err) if is_unique_violation(&err, "pools_slug_key") => Err(invalid(
            "slug",
            format!("A pool called \"{}\" exists already.", spec.slug),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Takes a pool out of the catalogue (its loans run to their end) or brings it back.
pub async fn set_pool_retired(
    conn: &mut AsyncPgConnection,
    actor: &User,
    slug: &str,
    retired: bool,
    now: DateTime<Utc>,
) -> Result<(), InventoryError> {
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let changed = diesel::update(pools::table.filter(pools::slug.eq(slug)))
            .set((
                pools::retired_at.eq(retired.then_some(now)),
                pools::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        if changed == 0 {
            return Err(InventoryError::NotFound(format!("Pool \"{slug}\"")));
        }
        Ok(())
    })
    .await
}

/// Creates a machine (`id` = None) or changes one. Returns its id.
pub async fn save_machine(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: Option<i64>,
    spec: &MachineSpec,
    now: DateTime<Utc>,
) -> Result<i64, InventoryError> {
    let spec = check_machine(spec).map_err(InventoryError::Invalid)?;
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        write_machine(conn, id, &spec, now).await
    })
    .await
}

/// Writes a checked machine in the caller's transaction; a new machine serves the pool's
/// waiting line at once.
pub async fn write_machine(
    conn: &mut AsyncPgConnection,
    id: Option<i64>,
    spec: &MachineSpec,
    now: DateTime<Utc>,
) -> Result<i64, InventoryError> {
    let pool_id: i64 = pools::table
        .filter(pools::slug.eq(&spec.pool))
        .select(pools::id)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| {
            invalid(
                "pool",
                format!("There is no pool called \"{}\".", spec.pool),
            )
        })?;
    let result = match id {
        None => {
            diesel::insert_into(machines::table)
                .values(NewMachine {
                    fqdn: spec.fqdn.clone(),
                    pool_id,
                    driver_settings: spec.driver_settings.clone(),
                    notes: spec.notes.clone(),
                    current_image: None,
                })
                .returning(machines::id)
                .get_result(conn)
                .await
        }
        Some(id) => {
            diesel::update(machines::table.find(id))
                .set((
                    machines::fqdn.eq(&spec.fqdn),
                    machines::pool_id.eq(pool_id),
                    machines::driver_settings.eq(&spec.driver_settings),
                    machines::notes.eq(&spec.notes),
                    machines::updated_at.eq(now),
                ))
                .returning(machines::id)
                .get_result(conn)
                .await
        }
    };
    let machine_id = match result {
        Ok(machine_id) => machine_id,
        Err(diesel::result::Error::NotFound) => {
            return Err(InventoryError::NotFound(format!(
                "Machine {}",
                id.unwrap_or_default()
            )))
        }
        Err(err) if is_unique_violation(&err, "machines_fqdn_key") => {
            return Err(invalid(
                "fqdn",
                format!("{} is in the inventory already.", spec.fqdn),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    waiting::fill(conn, pool_id, now).await?;
    Ok(machine_id)
}

/// Moves a machine into or out of service. A machine in an active loan is not disturbed: the
/// new state waits until the loan's clean-up is done. `reason` is required except for
/// `available`.
pub async fn set_machine_state(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: i64,
    target: MachineState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<MachineState, InventoryError> {
    let reason = reason.trim();
    if !matches!(
        target,
        MachineState::Available
            | MachineState::Maintenance
            | MachineState::Broken
            | MachineState::Retired
    ) {
        return Err(invalid(
            "state",
            "Choose available, maintenance, broken or retired.",
        ));
    }
    if target != MachineState::Available && reason.is_empty() {
        return Err(invalid(
            "reason",
            "Say why, for whoever looks at the machine next.",
        ));
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        let machine: Machine = machines::table
            .find(id)
            .for_update()
            .select(Machine::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or_else(|| InventoryError::NotFound(format!("Machine {id}")))?;
        let in_loan: bool = diesel::select(diesel::dsl::exists(
            loans::table.filter(loans::machine_id.eq(id)).filter(
                loans::state.eq_any(
                    LoanState::ALL
                        .iter()
                        .filter(|s| s.holds_machine())
                        .map(|s| s.as_str()),
                ),
            ),
        ))
        .get_result(conn)
        .await?;
        let busy = in_loan
            || matches!(
                machine.state(),
                MachineState::Provisioning | MachineState::Loaned | MachineState::Reclaiming
            );
        if busy {
            let (hold, why) = match target {
                MachineState::Available => (None, None),
                other => (Some(other.as_str()), Some(reason)),
            };
            diesel::update(machines::table.find(id))
                .set((
                    machines::hold_state.eq(hold),
                    machines::hold_reason.eq(why),
                    machines::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            return Ok(machine.state());
        }
        diesel::update(machines::table.find(id))
            .set((
                machines::state.eq(target.as_str()),
                machines::state_reason.eq((target != MachineState::Available).then_some(reason)),
                machines::hold_state.eq(None::<String>),
                machines::hold_reason.eq(None::<String>),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        if target == MachineState::Available {
            waiting::fill(conn, machine.pool_id, now).await?;
        }
        Ok(target)
    })
    .await
}

/// Changes the site's defaults (every pool that does not set a value inherits it).
pub async fn save_site_policy(
    conn: &mut AsyncPgConnection,
    actor: &User,
    site: &SiteDefaults,
    now: DateTime<Utc>,
) -> Result<(), InventoryError> {
    if let Err((field, message)) =
        policy::check_policy(&policy::resolve(site, &PolicyOverrides::default()))
    {
        return Err(invalid(field, message));
    }
    if site.max_loans_per_user_per_pool.is_some_and(|n| n < 1) {
        return Err(invalid(
            "max_loans_per_user_per_pool",
            "Must be at least 1 (leave empty for no cap).",
        ));
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        diesel::update(site_policy::table)
            .set((
                site_policy::approval_mode.eq(site.approval_mode.as_str()),
                site_policy::default_duration_hours.eq(site.default_duration_hours),
                site_policy::max_duration_hours.eq(site.max_duration_hours),
                site_policy::extension_hours.eq(site.extension_hours),
                site_policy::max_extensions.eq(site.max_extensions),
                site_policy::max_total_hours.eq(site.max_total_hours),
                site_policy::bug_required.eq(site.bug_required),
                site_policy::grace_period_minutes.eq(site.grace_period_minutes),
                site_policy::max_loans_per_user.eq(site.max_loans_per_user),
                site_policy::max_loans_per_user_per_pool.eq(site.max_loans_per_user_per_pool),
                site_policy::updated_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}
