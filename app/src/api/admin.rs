//! Admin-only server functions. Every function here is under `/api/admin` and starts with
//! `require_admin`; `server/tests/integration/http.rs` calls each one as a developer and as a visitor.
//!
//! The editors post plain HTML forms, so a save function takes one argument per form field.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{
    AdminOverview, ApprovalRow, AuditRow, LoanId, LoanSummary, MachineEdit, MachineId, MachineRow,
    MachineState, MailId, MailSummary, MailView, PoliciesView, PoolAdminRow, PoolEdit, TaskId,
};

/// Every loan, newest first.
#[server(prefix = "/api/admin", endpoint = "list_loans")]
pub async fn admin_list_loans() -> Result<Vec<LoanSummary>, AppError> {
    use crate::server::{context, loans};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::list_all(&mut conn).await.map_err(context::fail)
}

/// Every machine with its state and borrower.
#[server(prefix = "/api/admin", endpoint = "list_machines")]
pub async fn admin_list_machines() -> Result<Vec<MachineRow>, AppError> {
    use crate::server::{context, machines};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    machines::table(&mut conn).await.map_err(context::fail)
}

/// Gives an expired loan in its grace period back to its borrower.
#[server(prefix = "/api/admin", endpoint = "restore_loan")]
pub async fn restore_loan(id: LoanId) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::restore(
        &mut conn,
        &admin,
        id,
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)?;
    Ok(())
}

/// The development mailbox (development mode only).
#[server(prefix = "/api/admin", endpoint = "list_mail")]
pub async fn list_mail() -> Result<Vec<MailSummary>, AppError> {
    use crate::server::{context, mailbox};
    let (state, _) = context::require_admin().await?;
    if !state.site.dev_mode {
        return Err(context::fail(AppError::NotFound(
            "The development mailbox".into(),
        )));
    }
    let mut conn = state.conn().await.map_err(context::fail)?;
    mailbox::list(&mut conn).await.map_err(context::fail)
}

/// One message of the development mailbox.
#[server(prefix = "/api/admin", endpoint = "get_mail")]
pub async fn get_mail(id: MailId) -> Result<MailView, AppError> {
    use crate::server::{context, mailbox};
    let (state, _) = context::require_admin().await?;
    if !state.site.dev_mode {
        return Err(context::fail(AppError::NotFound(
            "The development mailbox".into(),
        )));
    }
    let mut conn = state.conn().await.map_err(context::fail)?;
    mailbox::get(&mut conn, id)
        .await
        .map_err(context::fail)?
        .ok_or_else(|| context::fail(AppError::NotFound(format!("Message {id}"))))
}

/// What needs an admin now.
#[server(prefix = "/api/admin", endpoint = "overview")]
pub async fn get_overview() -> Result<AdminOverview, AppError> {
    use crate::server::{admin_views, context};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    admin_views::overview(&mut conn)
        .await
        .map_err(context::fail)
}

/// Requests waiting for an admin.
#[server(prefix = "/api/admin", endpoint = "list_approvals")]
pub async fn list_approvals() -> Result<Vec<ApprovalRow>, AppError> {
    use crate::server::{context, loans};
    let (state, _) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::queue(&mut conn).await.map_err(context::fail)
}

/// Approves requests; `duration_hours` (empty: as asked) shortens them.
#[server(prefix = "/api/admin", endpoint = "approve_loans")]
pub async fn approve_loans(
    ids: Vec<LoanId>,
    duration_hours: Option<String>,
) -> Result<usize, AppError> {
    use crate::server::{context, forms::Form, loans};
    let (state, admin) = context::require_admin().await?;
    let mut form = Form::default();
    let hours = form.optional_int(
        "duration_hours",
        duration_hours.as_deref().unwrap_or_default(),
    );
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::approve_many(&mut conn, &admin, &ids, hours, state.clock.now())
        .await
        .map_err(context::fail)?;
    Ok(ids.len())
}

/// Denies a request; the reason goes to the requester.
#[server(prefix = "/api/admin", endpoint = "deny_loan")]
pub async fn deny_loan(id: LoanId, reason: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::deny(&mut conn, &admin, id, &reason, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Marks an admin task done (the loan moves on) or failed.
#[server(prefix = "/api/admin", endpoint = "close_task")]
pub async fn close_task(id: TaskId, outcome: String, note: Option<String>) -> Result<(), AppError> {
    use crate::server::{context, tasks};
    let (state, admin) = context::require_admin().await?;
    let done = match outcome.as_str() {
        "done" => true,
        "failed" => false,
        _ => {
            return Err(context::fail(AppError::field(
                "outcome",
                "Choose done or failed.",
            )))
        }
    };
    let mut conn = state.conn().await.map_err(context::fail)?;
    tasks::close(
        &mut conn,
        &admin,
        id,
        done,
        note.as_deref().unwrap_or_default(),
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map_err(context::fail)
}

/// Takes a machine back early; the borrower is told why.
#[server(prefix = "/api/admin", endpoint = "force_return")]
pub async fn force_return(id: LoanId, reason: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::force_return(&mut conn, &admin, id, &reason, state.clock.now())
        .await
        .map_err(context::fail)
}

/// The free machines a loan could move to: (id, name).
#[server(prefix = "/api/admin", endpoint = "move_targets")]
pub async fn move_targets(id: LoanId) -> Result<Vec<(MachineId, String)>, AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::move_targets(&mut conn, &admin, id)
        .await
        .map_err(context::fail)
}

/// Moves a ready loan to another machine of its pool.
#[server(prefix = "/api/admin", endpoint = "move_loan")]
pub async fn move_loan(id: LoanId, machine: String) -> Result<(), AppError> {
    use crate::server::{context, loans};
    let (state, admin) = context::require_admin().await?;
    let machine: MachineId = machine
        .parse()
        .map_err(|_| context::fail(AppError::field("machine", "Choose a machine.")))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::move_to(&mut conn, &admin, id, machine, state.clock.now())
        .await
        .map_err(context::fail)
}

/// Extends a loan past its pool's policy (an override, with a reason).
#[server(prefix = "/api/admin", endpoint = "extend_override")]
pub async fn extend_override(id: LoanId, hours: String, reason: String) -> Result<(), AppError> {
    use crate::server::{context, forms::Form, loans};
    let (state, admin) = context::require_admin().await?;
    let mut form = Form::default();
    let hours = form.int("hours", &hours);
    form.finish()
        .map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    loans::extend_beyond_policy(
        &mut conn,
        &admin,
        id,
        hours,
        &reason,
        &state.site.reminder_offsets_minutes,
        state.clock.now(),
    )
    .await
    .map(|_| ())
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
        &state.site.commands,
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

/// The audit log, filtered, newest first.
#[server(prefix = "/api/admin", endpoint = "search_audit")]
pub async fn search_audit(
    actor: String,
    target: String,
    kind: String,
    from: String,
    to: String,
) -> Result<(Vec<AuditRow>, Vec<String>), AppError> {
    use crate::server::{audit, context};
    let (state, _) = context::require_admin().await?;
    let filter = crate::types::AuditFilter {
        actor,
        target,
        kind,
        from,
        to,
    };
    audit::check_filter(&filter).map_err(|e| context::fail(AppError::Validation(e)))?;
    let mut conn = state.conn().await.map_err(context::fail)?;
    let rows = audit::search(&mut conn, &filter, None)
        .await
        .map_err(context::fail)?;
    let kinds = audit::kinds(&mut conn).await.map_err(context::fail)?;
    Ok((rows, kinds))
}
