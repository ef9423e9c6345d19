//! Loans: list, borrow, follow, extend, return, cancel. A developer's token sees and changes its
//! owner's loans only; an admin's token with the `admin` scope lists everyone's.

use std::time::Duration;

use app::error::AppError;
use app::server::loans::{self, LoanRequest, LoanSearch};
use app::types::{LoanDetail, LoanId, LoanState, Scope};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{as_token, reply, wait_for, ApiError, Body, Caller, Id, Params};

/// `GET /api/v1/loans` parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `all` for everyone's loans (admins); the caller's own otherwise.
    pub scope: Option<String>,
    /// Comma-separated states: `ready,provisioning`; `active` for every open one.
    pub state: Option<String>,
    /// A pool's slug.
    pub pool: Option<String>,
    /// The `next` cursor of the previous page.
    pub before: Option<LoanId>,
    /// 1–100, default 50.
    pub limit: Option<i64>,
}

fn states(text: &str) -> Result<Vec<LoanState>, ApiError> {
    let mut states = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if word == "active" {
            states.extend_from_slice(&LoanState::ACTIVE);
            continue;
        }
        match LoanState::parse(word) {
            Some(state) => states.push(state),
            None => {
                let known: Vec<&str> = LoanState::ALL.iter().map(|s| s.as_str()).collect();
                return Err(AppError::field(
                    "state",
                    format!(
                        "Unknown state {word:?}; use active or any of {}.",
                        known.join(", ")
                    ),
                )
                .into());
            }
        }
    }
    Ok(states)
}

pub async fn list(
    caller: Caller,
    Params(params): Params<ListParams>,
) -> Result<Response, ApiError> {
    caller.require(Scope::LoansRead)?;
    let owner = match params.scope.as_deref() {
        None | Some("mine") => Some(caller.grant.user.id),
        Some("all") => {
            caller.require(Scope::Admin)?;
            None
        }
        Some(_) => return Err(AppError::field("scope", "Use mine (the default) or all.").into()),
    };
    let limit = params.limit.unwrap_or(50);
    if !(1..=loans::LOAN_PAGE).contains(&limit) {
        return Err(AppError::field(
            "limit",
            format!("Ask for 1 to {} loans at a time.", loans::LOAN_PAGE),
        )
        .into());
    }
    let search = LoanSearch {
        owner,
        states: params.state.as_deref().map(states).transpose()?,
        pool_slug: params.pool.map(|p| p.trim().to_owned()),
        before: params.before,
        limit,
    };
    let mut conn = caller.conn().await?;
    let page = loans::search(&mut conn, search)
        .await
        .map_err(AppError::from)?;
    Ok(reply(
        StatusCode::OK,
        &serde_json::json!({ "loans": page.loans, "next": page.older }),
    ))
}

/// `POST /api/v1/loans` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLoan {
    pub pool: String,
    pub reason: String,
    #[serde(default)]
    pub bug_ref: Option<String>,
    /// How long, in hours; the pool's default when left out.
    #[serde(default)]
    pub duration_hours: Option<i32>,
    pub ssh_public_key: String,
    /// Wait in the pool's line when no machine is free, instead of being refused.
    #[serde(default)]
    pub wait_in_line: bool,
}

/// `?wait=SECONDS`: answer once the loan has moved on (or after that long).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    pub wait: Option<u64>,
}

pub async fn create(
    caller: Caller,
    Params(params): Params<WaitParams>,
    Body(body): Body<NewLoan>,
) -> Result<Response, ApiError> {
    caller.require(Scope::LoansWrite)?;
    let wait = wait_for(params.wait)?;
    let state = &caller.state;
    // As a developer unless the token may do what an admin may.
    let actor = caller.grant.actor();
    let user = &actor;
    state
        .limits
        .check_loan_request(user.id)
        .map_err(AppError::from)?;
    let mut conn = caller.conn().await?;
    let duration_hours = match body.duration_hours {
        Some(hours) => hours.to_string(),
        None => app::server::pools::request_form(&mut conn, body.pool.trim())
            .await?
            .map(|form| form.pool.policy.default_duration_hours)
            .map(|h| h.to_string())
            .unwrap_or_default(),
    };
    let input = LoanRequest {
        pool: body.pool,
        reason: body.reason,
        bug_ref: body.bug_ref.unwrap_or_default(),
        duration_hours,
        ssh_public_key: body.ssh_public_key,
        wait: body.wait_in_line,
    };
    let now = state.clock.now();
    let id = as_token(&mut conn, &caller.grant, async |conn| {
        loans::request(conn, user, &input, now)
            .await
            .map_err(AppError::from)
    })
    .await?;
    drop(conn);
    let detail = settled(&caller, id, wait).await?;
    let mut response = reply(StatusCode::CREATED, &detail);
    if let Ok(location) = format!("/api/v1/loans/{id}").parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

pub async fn get(
    caller: Caller,
    Id(id): Id<LoanId>,
    Params(params): Params<WaitParams>,
) -> Result<Response, ApiError> {
    caller.require(Scope::LoansRead)?;
    let wait = wait_for(params.wait)?;
    let detail = settled(&caller, id, wait).await?;
    Ok(reply(StatusCode::OK, &detail))
}

/// Loan `id` once it has left the states that move by themselves (waiting for a machine,
/// provisioning, cleaning up), or as it is when `wait` runs out.
async fn settled(
    caller: &Caller,
    id: LoanId,
    wait: Option<Duration>,
) -> Result<LoanDetail, ApiError> {
    let state = &caller.state;
    let read = async || -> Result<LoanDetail, ApiError> {
        let mut conn = caller.conn().await?;
        Ok(loans::detail(&mut conn, &caller.grant.actor(), id)
            .await
            .map_err(AppError::from)?)
    };
    let Some(wait) = wait else {
        return read().await;
    };
    let deadline = tokio::time::Instant::now() + wait;
    // Listening before reading, so that no change after the read goes unseen.
    let mut changes = state.live.subscribe(Duration::from_millis(200)).await;
    let mut detail = read().await?;
    while moving(detail.summary.state) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        // News of the loan wakes the wait; without the live listener, look twice a second.
        let nap = left.min(Duration::from_millis(500));
        match changes.as_mut() {
            Some(rx) => {
                let _ = tokio::time::timeout(left, async {
                    loop {
                        match rx.recv().await {
                            Ok(change) if change.concerns_loan(id) => break,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                tokio::time::sleep(nap).await;
                                break;
                            }
                        }
                    }
                })
                .await;
            }
            None => tokio::time::sleep(nap).await,
        }
        detail = read().await?;
    }
    Ok(detail)
}

/// States a loan leaves without anyone doing anything.
fn moving(state: LoanState) -> bool {
    matches!(
        state,
        LoanState::Approved | LoanState::Waiting | LoanState::Provisioning
    )
}

/// One loan change (extend, return, cancel) by the token's owner, answered with the loan.
async fn change(
    caller: Caller,
    id: LoanId,
    act: impl AsyncFnOnce(
        &mut diesel_async::AsyncPgConnection,
        &app::server::models::User,
        chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError>,
) -> Result<Response, ApiError> {
    caller.require(Scope::LoansWrite)?;
    let now = caller.state.clock.now();
    // As a developer unless the token may do what an admin may.
    let actor = caller.grant.actor();
    let user = &actor;
    let mut conn = caller.conn().await?;
    as_token(&mut conn, &caller.grant, async |conn| {
        act(conn, user, now).await
    })
    .await?;
    let detail = loans::detail(&mut conn, user, id)
        .await
        .map_err(AppError::from)?;
    Ok(reply(StatusCode::OK, &detail))
}

pub async fn extend(caller: Caller, Id(id): Id<LoanId>) -> Result<Response, ApiError> {
    let offsets = caller.state.site.reminder_offsets_minutes.clone();
    change(caller, id, async |conn, user, now| {
        let by = format!("by {}", user.name);
        loans::extend(conn, user, id, &by, &offsets, now)
            .await
            .map(|_| ())
            .map_err(AppError::from)
    })
    .await
}

pub async fn give_back(caller: Caller, Id(id): Id<LoanId>) -> Result<Response, ApiError> {
    change(caller, id, async |conn, user, now| {
        loans::return_loan(conn, user, id, now)
            .await
            .map(|_| ())
            .map_err(AppError::from)
    })
    .await
}

pub async fn cancel(caller: Caller, Id(id): Id<LoanId>) -> Result<Response, ApiError> {
    change(caller, id, async |conn, user, now| {
        loans::cancel(conn, user, id, now)
            .await
            .map(|_| ())
            .map_err(AppError::from)
    })
    .await
}
