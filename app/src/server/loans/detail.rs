//! The loan page: a loan with its timeline, what its borrower may do next and how to connect.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::timeline::{fold_steps, key_comment, progress};
use super::views::{summaries, Which};
use super::{authorize, LoanError};
use crate::rules::{lifecycle, policy};
use crate::server::models::{LoanEvent, Pool, User};
use crate::server::schema::{admin_tasks, loan_events, pools, users};
use crate::server::{policies, waiting, DbError};
use crate::types::{
    ConnectionInfo, ExtensionOffer, LoanDetail, LoanId, LoanState, PoolId, TaskState,
};

/// Everything the loan page shows, for its borrower or an admin.
pub async fn detail(
    conn: &mut AsyncPgConnection,
    viewer: &User,
    loan_id: LoanId,
) -> Result<LoanDetail, LoanError> {
    let (summary, loan) = summaries(conn, Which::loan(loan_id))
        .await?
        .pop()
        .ok_or(LoanError::NotFound(loan_id))?;
    authorize(viewer, &loan)?;
    let state = loan.state;
    // Asked together (pipelined: one round trip), once the viewer may see the loan.
    let (pool, site, rows, waiting_for_admin, queue_position) = futures::try_join!(
        pool_of(conn, loan.pool_id),
        policies::site_defaults(conn),
        timeline_rows(conn, loan_id),
        open_task(conn, loan_id),
        async {
            match state {
                LoanState::Waiting => waiting::position(conn, &loan).await.map(Some),
                _ => Ok(None),
            }
        },
    )?;
    let policy = policy::resolve(&site, &pool.overrides());
    let progress = progress(state, &rows);
    let events = fold_steps(rows);
    let connection = match (state, &summary.machine_fqdn) {
        (LoanState::Ready, Some(fqdn)) => Some(ConnectionInfo {
            ssh_command: format!("ssh {}@{fqdn}", pool.login_user),
            fqdn: fqdn.clone(),
            user: pool.login_user.clone(),
        }),
        _ => None,
    };
    let extension = (state == LoanState::Ready).then(|| ExtensionOffer {
        hours: policy.extension_hours,
        used: loan.extensions_used,
        max: policy.max_extensions,
        refusal: loan.expires_at.and_then(|expires| {
            policy::may_extend(
                loan.duration_hours,
                loan.extensions_used,
                expires,
                policy.extension(),
            )
            .err()
            .map(|e| e.to_string())
        }),
    });
    let grace_until = match (state, loan.expired_at) {
        (LoanState::Expired, Some(at)) => {
            Some(at + chrono::Duration::minutes(i64::from(policy.grace_period_minutes)))
        }
        _ => None,
    };
    let move_targets = if viewer.is_admin() && state == LoanState::Ready {
        super::move_targets(conn, viewer, loan_id).await?
    } else {
        Vec::new()
    };
    Ok(LoanDetail {
        viewer_is_admin: viewer.is_admin(),
        viewer_is_borrower: viewer.id == loan.user_id,
        move_targets,
        extension,
        grace_until,
        queue_position,
        waiting_for_admin,
        decision_reason: loan.decision_reason.clone(),
        bug_url: None,
        duration_hours: loan.duration_hours,
        ssh_key_comment: key_comment(&loan.ssh_public_key),
        events,
        connection,
        progress,
        can_cancel: lifecycle::can_cancel(state),
        can_return: lifecycle::can_return(state),
        summary,
    })
}

/// The loan's pool, for its login name and policy.
async fn pool_of(conn: &AsyncPgConnection, id: PoolId) -> Result<Pool, DbError> {
    Ok(pools::table
        .find(id)
        .select(Pool::as_select())
        .first(&mut &*conn)
        .await?)
}

/// The loan's history, oldest first, with the name of whoever acted.
async fn timeline_rows(
    conn: &AsyncPgConnection,
    loan_id: LoanId,
) -> Result<Vec<(LoanEvent, Option<String>)>, DbError> {
    Ok(loan_events::table
        .left_join(users::table)
        .filter(loan_events::loan_id.eq(loan_id))
        .order(loan_events::id.asc())
        .select((LoanEvent::as_select(), users::name.nullable()))
        .load(&mut &*conn)
        .await?)
}

/// The manual step an admin has yet to do for the loan, if any.
async fn open_task(conn: &AsyncPgConnection, loan_id: LoanId) -> Result<Option<String>, DbError> {
    Ok(admin_tasks::table
        .filter(admin_tasks::loan_id.eq(loan_id))
        .filter(admin_tasks::state.eq(TaskState::Open))
        .select(admin_tasks::step_name)
        .first(&mut &*conn)
        .await
        .optional()?)
}
