//! The jobs `provision_step` and `reclaim_step`: run one step of a pool's list through its
//! driver, then record the outcome and queue the next step in one transaction.

use app::server::loans::{self, phase_wanted, StepRecord};
use app::server::models::{JobRow, Loan};
use app::server::schema::loans as loans_table;
use app::server::{machines, pools, queue, tasks, users};
use app::types::{DriverKind, Phase};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::Duration;

use super::{JobContext, JobError};
use crate::drivers::Target;

/// While another step still runs, clean-up of the same machine waits this long.
const WAIT_FOR_PROVISIONING: Duration = Duration::from_secs(2);
const OTHER_STEPS: [&str; 3] = ["provision_step", "suspend_step", "resume_step"];

async fn load_loan(conn: &mut AsyncPgConnection, loan_id: i64) -> Result<Loan, JobError> {
    loans_table::table
        .find(loan_id)
        .select(Loan::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| JobError::permanent(format!("loan {loan_id} does not exist")))
}

pub async fn run(
    ctx: &JobContext,
    phase: Phase,
    loan_id: i64,
    index: u32,
    machine: Option<i64>,
) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let mut conn = deps.conn().await?;
    let loan = load_loan(&mut conn, loan_id).await?;
    let pool = pools::find(&mut conn, loan.pool_id).await?;
    let steps = pool.steps(phase).map_err(|e| {
        JobError::permanent(format!(
            "the {} steps of pool {} do not parse: {e}",
            phase.as_str(),
            pool.slug
        ))
    })?;
    let now = deps.clock.now();
    // Cancelled, restored or reclaimed meanwhile: whoever changed the loan queued what next.
    if !phase_wanted(phase, loan.state()) {
        return ctx.finish(&mut conn).await;
    }
    // Never clean a machine while another step is still running on it.
    if phase == Phase::Reclaim && queue::is_running(&mut conn, loan_id, &OTHER_STEPS, now).await? {
        return Err(JobError::Defer(WAIT_FOR_PROVISIONING));
    }
    let total = u32::try_from(steps.len()).unwrap_or(u32::MAX);
    let Some(step) = steps.get(index as usize) else {
        return conn
            .transaction(async |c| {
                ctx.take(c).await?;
                loans::finish_phase(
                    c,
                    loan_id,
                    &pool,
                    phase,
                    machine,
                    &deps.site.reminder_offsets_minutes,
                    now,
                )
                .await?;
                Ok(())
            })
            .await;
    };
    let record = StepRecord {
        phase,
        index,
        total,
        name: step.name.clone(),
        machine_id: machine,
    };
    let machine_id = machine
        .or(loan.machine_id)
        .ok_or_else(|| JobError::permanent(format!("loan {loan_id} has no machine")))?;
    // A manual step: an admin does it. The loan waits until the task is closed.
    if step.driver == DriverKind::Manual {
        let instructions = step.instructions.clone().unwrap_or_default();
        return conn
            .transaction(async |c| {
                ctx.take(c).await?;
                tasks::open(c, loan_id, machine_id, &record, &instructions, now).await?;
                Ok(())
            })
            .await;
    }
    let machine = machines::find(&mut conn, machine_id).await?;
    let borrower = users::find(&mut conn, loan.user_id).await?;
    loans::record_step_started(&mut conn, loan_id, &record, ctx.attempt(), now).await?;
    // Steps take seconds to minutes: do not hold a pooled connection meanwhile.
    drop(conn);

    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: Some(&loan),
        borrower: borrower.as_ref(),
        phase,
        attempt: ctx.attempt(),
    };
    let result = deps.drivers.run_step(step, &target).await;

    let mut conn = deps.conn().await?;
    let now = deps.clock.now();
    match result {
        Ok(output) => {
            conn.transaction(async |c| {
                ctx.take(c).await?;
                loans::step_succeeded(
                    c,
                    loan_id,
                    &pool,
                    &record,
                    output.text,
                    ctx.attempt(),
                    &deps.site.reminder_offsets_minutes,
                    now,
                )
                .await?;
                Ok(())
            })
            .await
        }
        Err(err) => Err(JobError::Failed {
            message: err.to_string(),
            output: err.output(),
            permanent: err.is_permanent(),
        }),
    }
}

/// Puts the failed attempt on the timeline; after the last one, fails the loan (provisioning)
/// or marks the machine broken (clean-up).
#[allow(clippy::too_many_arguments)]
pub async fn on_failure(
    conn: &mut AsyncPgConnection,
    row: &JobRow,
    phase: Phase,
    loan_id: i64,
    index: u32,
    machine: Option<i64>,
    failure: &JobError,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let loan = load_loan(conn, loan_id).await?;
    let pool = pools::find(conn, loan.pool_id).await?;
    let steps = pool.steps(phase).unwrap_or_default();
    let record = StepRecord {
        phase,
        index,
        total: u32::try_from(steps.len()).unwrap_or(u32::MAX),
        name: steps
            .get(index as usize)
            .map_or_else(|| format!("step {}", index + 1), |s| s.name.clone()),
        machine_id: machine,
    };
    let message = failure.to_string();
    let output = match failure {
        JobError::Failed { output, .. } => output.clone(),
        _ => None,
    };
    loans::record_step_attempt_failed(
        conn,
        loan_id,
        &record,
        &message,
        output,
        row.attempts,
        row.max_attempts,
        retry_at,
        now,
    )
    .await?;
    if retry_at.is_none() {
        match phase {
            Phase::Provision => {
                loans::provision_failed(conn, loan_id, &record, &message, now).await?
            }
            Phase::Reclaim => loans::cleanup_failed(conn, loan_id, &record, &message, now).await?,
            // Cutting or restoring access gave up: the timeline says so, and the clean-up at
            // the end of the grace period (or the next deadline) runs every step again.
            Phase::Suspend | Phase::Resume => {}
        }
    }
    Ok(())
}
