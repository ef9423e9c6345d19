//! What admins do from scripts: the approval queue, machines and their actions, the audit log.
//! Each needs its scope and an owner who is an admin now; the services are the pages'.

use std::time::Duration;

use app::error::AppError;
use app::server::loans;
use app::server::machine_actions::{self, Requester};
use app::server::{audit, machines};
use app::types::{Action, ActionId, ActionState, AuditFilter, LoanId, MachineId, Scope};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::loans::WaitParams;
use super::{as_token, reply, wait_for, ApiError, Body, Caller, Id, Params};

impl Caller {
    /// `scope`, and an owner who is an admin now: machines and the queue are admins' business
    /// whatever a token says.
    fn require_admin_for(&self, scope: Scope) -> Result<(), ApiError> {
        self.require(scope)?;
        if self.grant.user.is_admin() {
            return Ok(());
        }
        Err(AppError::Refused {
            rule: "admins_only".into(),
            message: "Only admins may do that; this token's owner is not an admin.".into(),
        }
        .into())
    }
}

/// `GET /api/v1/approvals`: loans waiting for an admin, oldest first.
pub async fn approvals(caller: Caller) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::Admin)?;
    let mut conn = caller.conn().await?;
    let queue = loans::queue(&mut conn).await.map_err(AppError::from)?;
    Ok(reply(StatusCode::OK, &json!({ "approvals": queue })))
}

/// `POST /api/v1/approvals/{id}/approve` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// A shorter duration than asked for, in hours.
    pub duration_hours: Option<i32>,
}

pub async fn approve(
    caller: Caller,
    Id(id): Id<LoanId>,
    Params(params): Params<Approve>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::Admin)?;
    let hours = params.duration_hours;
    let now = caller.state.clock.now();
    let admin = &caller.grant.user;
    let mut conn = caller.conn().await?;
    let state = as_token(&mut conn, &caller.grant, async |conn| {
        loans::approve(conn, admin, id, hours, now)
            .await
            .map_err(AppError::from)
    })
    .await?;
    Ok(reply(StatusCode::OK, &json!({ "id": id, "state": state })))
}

/// `POST /api/v1/approvals/{id}/deny` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deny {
    /// Why, told to the requester.
    pub reason: String,
}

pub async fn deny(
    caller: Caller,
    Id(id): Id<LoanId>,
    Body(body): Body<Deny>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::Admin)?;
    let now = caller.state.clock.now();
    let admin = &caller.grant.user;
    let mut conn = caller.conn().await?;
    as_token(&mut conn, &caller.grant, async |conn| {
        loans::deny(conn, admin, id, &body.reason, now)
            .await
            .map_err(AppError::from)
    })
    .await?;
    Ok(reply(
        StatusCode::OK,
        &json!({ "id": id, "state": "denied" }),
    ))
}

/// `GET /api/v1/machines` parameters: the machines page's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineParams {
    pub state: Option<String>,
    pub page: Option<String>,
}

pub async fn machine_list(
    caller: Caller,
    Params(params): Params<MachineParams>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::MachinesRead)?;
    let (filter, page) =
        app::rules::paging::machine_page(params.state.as_deref(), params.page.as_deref())
            .map_err(AppError::Validation)?;
    let mut conn = caller.conn().await?;
    let table = machines::table(&mut conn, filter, page).await?;
    Ok(reply(StatusCode::OK, &table))
}

/// The machine named `host` (its inventory name), or 404.
async fn machine(caller: &Caller, host: &str) -> Result<MachineId, ApiError> {
    let mut conn = caller.conn().await?;
    machine_actions::machine_by_name(&mut conn, host)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Machine {host}")).into())
}

/// `GET /api/v1/machines/{host}`: what it can run, its latest actions and loans.
pub async fn machine_get(caller: Caller, Id(host): Id<String>) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::MachinesRead)?;
    let id = machine(&caller, &host).await?;
    let mut conn = caller.conn().await?;
    let overview = machine_actions::overview(&mut conn, id).await?;
    Ok(reply(
        StatusCode::OK,
        &json!({ "id": id, "fqdn": host, "actions": overview }),
    ))
}

/// `POST /api/v1/machines/{host}/actions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunAction {
    /// status, power_on, power_off, reboot or reimage.
    pub action: String,
    /// Why (required when the machine is on loan and the action disturbs its borrower).
    #[serde(default)]
    pub reason: String,
}

pub async fn run_action(
    caller: Caller,
    Id(host): Id<String>,
    Params(params): Params<WaitParams>,
    Body(body): Body<RunAction>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::MachinesAct)?;
    let wait = wait_for(params.wait)?;
    let action = Action::parse(body.action.trim()).ok_or_else(|| {
        AppError::field(
            "action",
            "Choose status, power_on, power_off, reboot or reimage.",
        )
    })?;
    let id = machine(&caller, &host).await?;
    let now = caller.state.clock.now();
    let admin = &caller.grant.user;
    let mut conn = caller.conn().await?;
    let action_id = as_token(&mut conn, &caller.grant, async |conn| {
        machine_actions::request(conn, Requester::Admin(admin), id, action, &body.reason, now)
            .await
            .map_err(AppError::from)
    })
    .await?;
    drop(conn);
    let row = action_row(&caller, id, action_id, wait).await?;
    let status = match row.state {
        ActionState::Queued | ActionState::Running => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    let location = format!("/api/v1/machines/{host}/actions/{action_id}");
    let mut response = reply(status, &row);
    if let Ok(value) = location.parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    Ok(response)
}

/// `GET /api/v1/machines/{host}/actions/{id}`: one action, with `?wait=` until it finishes.
pub async fn action_get(
    caller: Caller,
    Id((host, action_id)): Id<(String, ActionId)>,
    Params(params): Params<WaitParams>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::MachinesRead)?;
    let wait = wait_for(params.wait)?;
    let id = machine(&caller, &host).await?;
    let row = action_row(&caller, id, action_id, wait).await?;
    Ok(reply(StatusCode::OK, &row))
}

/// Action `action_id` of machine `id`, once finished or when `wait` runs out.
async fn action_row(
    caller: &Caller,
    id: MachineId,
    action_id: ActionId,
    wait: Option<Duration>,
) -> Result<app::types::ActionRow, ApiError> {
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default();
    loop {
        let mut conn = caller.conn().await?;
        let overview = machine_actions::overview(&mut conn, id).await?;
        drop(conn);
        let row = overview
            .history
            .into_iter()
            .find(|a| a.id == action_id)
            .ok_or_else(|| ApiError::from(AppError::NotFound(format!("Action {action_id}"))))?;
        let finished = !matches!(row.state, ActionState::Queued | ActionState::Running);
        if finished || tokio::time::Instant::now() >= deadline {
            return Ok(row);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET /api/v1/audit` parameters: the audit page's filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub kind: String,
    /// A date, YYYY-MM-DD.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// The `next` of the previous page.
    pub before: Option<i64>,
}

pub async fn audit_search(
    caller: Caller,
    Params(params): Params<AuditParams>,
) -> Result<Response, ApiError> {
    caller.require_admin_for(Scope::Admin)?;
    let filter = AuditFilter {
        actor: params.actor,
        target: params.target,
        kind: params.kind,
        from: params.from,
        to: params.to,
    };
    audit::check_filter(&filter).map_err(AppError::Validation)?;
    let mut conn = caller.conn().await?;
    let page = audit::page(&mut conn, &filter, params.before).await?;
    Ok(reply(StatusCode::OK, &page))
}
