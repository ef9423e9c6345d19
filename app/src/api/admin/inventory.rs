//! Admin server functions about the inventory: pools, machines and the site's loan policy.
//! The editors post plain HTML forms, so a save function takes one argument per form field.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{
    MachineEdit, MachineId, MachinePage, MachineState, PoliciesView, PoolAdminRow, PoolEdit,
};

/// One page of the machines (in `state`, or all), with their states and borrowers, and how
/// many machines are in each state.
#[server(prefix = "/api/admin", endpoint = "list_machines")]
pub async fn admin_list_machines(
    state: Option<String>,
    page: Option<String>,
) -> Result<MachinePage, AppError> {
    use crate::server::{context, machines};
    let (app, _) = context::require_admin().await?;
    let (filter, page) = crate::rules::paging::machine_page(state.as_deref(), page.as_deref())
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = app.conn().await.map_err(context::fail)?;
    machines::table(&mut conn, filter, page)
        .await
        .map_err(context::fail)
}

/// The site's defaults and every pool's policy.
#[server(prefix = "/api/admin", endpoint = "get_policies")]
pub async fn get_policies() -> Result<PoliciesView, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    admin_views::policies(&mut conn)
        .await
        .map_err(context::fail)
}

/// Changes the site's defaults.
#[server(prefix = "/api/admin", endpoint = "save_site_policy")]
pub async fn save_site_policy(
    approval_mode: String,
    default_duration_hours: String,
    max_duration_hours: String,
    extension_hours: String,
    max_extensions: String,
    max_total_hours: String,
    bug_required: String,
    grace_period_minutes: String,
    max_loans_per_user: String,
    max_loans_per_user_per_pool: String,
) -> Result<(), AppError> {
    use crate::server::{context, forms, inventory};
    let (state, admin) = context::require_admin().await?;
    let fields = forms::PolicyFields {
        approval_mode,
        default_duration_hours,
        max_duration_hours,
        extension_hours,
        max_extensions,
        max_total_hours,
        bug_required,
        grace_period_minutes,
        max_loans_per_user,
        allowed_groups: String::new(),
    };
    let mut form = forms::Form::default();
    let site = fields.site(&max_loans_per_user_per_pool, &mut form);
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    inventory::save_site_policy(&mut conn, &admin, &site, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Every pool, for the inventory page.
#[server(prefix = "/api/admin", endpoint = "list_pools")]
pub async fn admin_list_pools() -> Result<Vec<PoolAdminRow>, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    admin_views::pools(&mut conn).await.map_err(context::fail)
}

/// A pool for its editor (an empty slug: a new pool).
#[server(prefix = "/api/admin", endpoint = "get_pool")]
pub async fn get_pool(slug: String) -> Result<PoolEdit, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    let slug = (!slug.is_empty()).then_some(slug);
    admin_views::pool_edit(&mut conn, slug.as_deref())
        .await
        .map_err(context::fail)
}

/// Creates a pool (`existing` empty) or saves the pool called `existing`. Returns its slug.
#[server(prefix = "/api/admin", endpoint = "save_pool")]
pub async fn save_pool(
    existing: String,
    slug: String,
    name: String,
    description: String,
    platform: String,
    image_name: String,
    image_version: String,
    login_user: String,
    provision_steps: String,
    reclaim_steps: String,
    driver_settings: String,
    approval_mode: String,
    default_duration_hours: String,
    max_duration_hours: String,
    extension_hours: String,
    max_extensions: String,
    max_total_hours: String,
    bug_required: String,
    grace_period_minutes: String,
    max_loans_per_user: String,
    allowed_groups: String,
) -> Result<String, AppError> {
    use crate::server::{context, forms, inventory};
    let (state, admin) = context::require_admin().await?;
    let mut form = forms::Form::default();
    let policy = forms::PolicyFields {
        approval_mode,
        default_duration_hours,
        max_duration_hours,
        extension_hours,
        max_extensions,
        max_total_hours,
        bug_required,
        grace_period_minutes,
        max_loans_per_user,
        allowed_groups,
    }
    .overrides(&mut form);
    let spec = inventory::PoolSpec {
        slug,
        name,
        description,
        platform,
        image_name,
        image_version,
        login_user,
        provision_steps: form.steps("provision_steps", &provision_steps),
        reclaim_steps: form.steps("reclaim_steps", &reclaim_steps),
        policy,
        driver_settings: form.json_object("driver_settings", &driver_settings),
    };
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let existing = (!existing.is_empty()).then_some(existing);
    let mut conn = state.conn().await.map_err(context::fail)?;
    inventory::save_pool(
        &mut conn,
        &admin,
        existing.as_deref(),
        &spec,
        &state.site.drivers,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    Ok(spec.slug.trim().to_owned())
}

/// Takes a pool out of the catalogue, or brings it back.
#[server(prefix = "/api/admin", endpoint = "retire_pool")]
pub async fn retire_pool(slug: String, retired: bool) -> Result<(), AppError> {
    use crate::server::{context, inventory};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    inventory::set_pool_retired(&mut conn, &admin, &slug, retired, state.clock.now())
        .await
        .map_err(context::fail)
}

/// A machine for its editor (`id` 0: a new machine).
#[server(prefix = "/api/admin", endpoint = "get_machine")]
pub async fn get_machine(id: MachineId) -> Result<MachineEdit, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    admin_views::machine_edit(&mut conn, (id.0 > 0).then_some(id))
        .await
        .map_err(context::fail)
}

/// Creates (`id` 0) or saves a machine. Returns its id.
#[server(prefix = "/api/admin", endpoint = "save_machine")]
pub async fn save_machine(
    id: MachineId,
    fqdn: String,
    pool: String,
    driver_settings: String,
    notes: String,
) -> Result<MachineId, AppError> {
    use crate::server::{context, forms::Form, inventory};
    let (state, admin) = context::require_admin().await?;
    let mut form = Form::default();
    let spec = inventory::MachineSpec {
        fqdn,
        pool,
        driver_settings: form.json_object("driver_settings", &driver_settings),
        notes,
    };
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    inventory::save_machine(
        &mut conn,
        &admin,
        (id.0 > 0).then_some(id),
        &spec,
        &state.site.drivers,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)
}

/// Puts a machine into or out of service (a loaned machine changes when its loan is over).
#[server(prefix = "/api/admin", endpoint = "set_machine_state")]
pub async fn set_machine_state(
    id: MachineId,
    state: String,
    reason: String,
) -> Result<MachineState, AppError> {
    use crate::server::{context, inventory};
    let (app, admin) = context::require_admin().await?;
    let target = MachineState::parse(&state)
        .ok_or_else(|| context::fail(AppError::field("state", "Choose a state.")))?;
    let mut conn = app.conn().await.map_err(context::fail)?;
    inventory::set_machine_state(&mut conn, &admin, id, target, &reason, app.clock.now())
        .await
        .map_err(context::fail)
}
