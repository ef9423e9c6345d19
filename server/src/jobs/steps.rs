//! The step jobs (`provision_step`, `reclaim_step`, `suspend_step`, `resume_step`): ask the loan
//! what step `index` means now (`loans::next_step`), run it through its driver, and record the
//! outcome and queue the next step in one transaction.

use std::time::Duration;

use app::server::loans::{self, LoanError, StepFailure, StepPlan};
use app::server::models::JobRow;
use app::server::{machines, tasks};
use app::types::{LoanId, MachineId, Phase};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{JobContext, JobError};
use crate::drivers::Target;

/// While another step still runs, clean-up of the same machine waits this long.
const WAIT_FOR_OTHER_STEPS: Duration = Duration::from_secs(2);

/// Which step of which list a job runs.
#[derive(Clone, Copy, Debug)]
pub struct StepJob {
    pub phase: Phase,
    pub loan_id: LoanId,
    pub index: u32,
    /// The machine to clean when it is not the loan's (the old machine of a moved loan).
    pub machine: Option<MachineId>,
}

/// Loan errors no retry can fix end the job at once.
fn failed(err: LoanError) -> JobError {
    match err {
        LoanError::NotFound(_) | LoanError::BadSteps { .. } | LoanError::NoMachine(_) => {
            JobError::permanent(err.to_string())
        }
        other => other.into(),
    }
}

pub async fn run(ctx: &JobContext, job: StepJob) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let offsets = &deps.site.reminder_offsets_minutes;
    let mut conn = deps.conn().await?;
    let now = deps.clock.now();
    let plan = loans::next_step(
        &mut conn,
        job.loan_id,
        job.phase,
        job.index,
        job.machine,
        ctx.attempt(),
        now,
    )
    .await
    .map_err(failed)?;
    let run = match plan {
        StepPlan::NotWanted => return ctx.finish(&mut conn).await,
        StepPlan::WaitForOtherSteps => return Err(JobError::Defer(WAIT_FOR_OTHER_STEPS)),
        StepPlan::PhaseDone { pool } => {
            return conn
                .transaction(async |c| {
                    ctx.take(c).await?;
                    let (id, phase, machine) = (job.loan_id, job.phase, job.machine);
                    loans::finish_phase(c, id, &pool, phase, machine, offsets, now).await?;
                    Ok(())
                })
                .await;
        }
        StepPlan::Manual {
            record,
            machine_id,
            instructions,
        } => {
            return conn
                .transaction(async |c| {
                    ctx.take(c).await?;
                    tasks::open(c, job.loan_id, machine_id, &record, &instructions, now).await?;
                    Ok(())
                })
                .await;
        }
        StepPlan::Run(run) => run,
    };
    loans::record_step_started(&mut conn, job.loan_id, &run.record, now).await?;
    // Steps take seconds to minutes: do not hold a pooled connection meanwhile.
    drop(conn);

    let target = Target {
        machine: &run.machine,
        pool: &run.pool,
        loan: Some(&run.loan),
        borrower: run.borrower.as_ref(),
        phase: job.phase,
        attempt: ctx.attempt(),
    };
    let output = deps
        .drivers
        .run_step(&run.step, &target)
        .await
        .map_err(|err| JobError::Failed {
            message: err.to_string(),
            output: err.output(),
            permanent: err.is_permanent(),
        })?;

    let mut conn = deps.conn().await?;
    let now = deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        machines::record_driver_change(
            c,
            run.machine.id,
            output.machine_settings.as_ref(),
            output.current_image.as_deref(),
            now,
        )
        .await?;
        loans::step_succeeded(
            c,
            job.loan_id,
            &run.pool,
            &run.record,
            output.text,
            offsets,
            now,
        )
        .await?;
        Ok(())
    })
    .await
}

/// Puts the failed attempt on the timeline; after the last one, fails the loan (provisioning)
/// or marks the machine broken (clean-up).
pub async fn on_failure(
    conn: &mut AsyncPgConnection,
    row: &JobRow,
    job: StepJob,
    failure: &JobError,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let failure = StepFailure {
        message: failure.to_string(),
        output: failure.output(),
        attempt: row.attempts,
        max_attempts: row.max_attempts,
        retry_at,
    };
    loans::record_step_attempt_failed(
        conn,
        job.loan_id,
        job.phase,
        job.index,
        job.machine,
        &failure,
        now,
    )
    .await?;
    Ok(())
}
