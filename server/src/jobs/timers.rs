//! The jobs `expire_loan` and `end_grace`: due at the exact deadline (in the timers lane, so
//! long steps never delay them); each changes the loan in the same transaction that takes it
//! off the queue, so a deadline is handled exactly once, even across crashes and restarts.

use app::server::loans;
use app::types::LoanId;
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;

use super::{JobContext, JobError};

pub async fn expire(
    ctx: &JobContext,
    loan_id: LoanId,
    deadline: DateTime<Utc>,
) -> Result<(), JobError> {
    let mut conn = ctx.deps.conn().await?;
    let now = ctx.deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        if loans::expire(c, loan_id, deadline, now).await? {
            tracing::info!(
                loan.id = %loan_id,
                late_ms = (now - deadline).num_milliseconds(),
                "loan expired"
            );
        }
        Ok(())
    })
    .await
}

pub async fn end_grace(
    ctx: &JobContext,
    loan_id: LoanId,
    deadline: DateTime<Utc>,
) -> Result<(), JobError> {
    let mut conn = ctx.deps.conn().await?;
    let now = ctx.deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        loans::end_grace(c, loan_id, deadline, now).await?;
        Ok(())
    })
    .await
}
