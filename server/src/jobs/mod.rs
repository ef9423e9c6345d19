//! The scheduler. Workers claim due rows of the `jobs` table (`runner`) and hand each to the
//! job that knows how to run it; one file per job.

mod runner;
mod send_mail;
mod steps;
mod sweep;
mod timers;

pub use runner::{backoff, JobContext, JobError, Worker, WorkerDeps};
pub use send_mail::schedule_digest;
pub use sweep::schedule as schedule_sweep;

use app::server::models::JobRow;
use app::server::queue::Job;
use app::types::Phase;
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use send_mail::MailJob;

/// A step job's phase, loan, step and (for cleaning a machine a loan moved away from) machine.
fn step_of(job: &Job) -> Option<(Phase, i64, u32, Option<i64>)> {
    match *job {
        Job::ProvisionStep { loan_id, step } => Some((Phase::Provision, loan_id, step, None)),
        Job::ReclaimStep {
            loan_id,
            step,
            machine_id,
        } => Some((Phase::Reclaim, loan_id, step, machine_id)),
        Job::SuspendStep { loan_id, step } => Some((Phase::Suspend, loan_id, step, None)),
        Job::ResumeStep { loan_id, step } => Some((Phase::Resume, loan_id, step, None)),
        _ => None,
    }
}

/// Runs one job.
async fn run(ctx: &JobContext, job: &Job) -> Result<(), JobError> {
    if let Some((phase, loan_id, step, machine)) = step_of(job) {
        return steps::run(ctx, phase, loan_id, step, machine).await;
    }
    match *job {
        Job::ExpireLoan { loan_id, deadline } => timers::expire(ctx, loan_id, deadline).await,
        Job::EndGrace { loan_id, deadline } => timers::end_grace(ctx, loan_id, deadline).await,
        Job::SendMail {
            mail,
            loan_id,
            about,
            offset_minutes,
            to_user,
        } => {
            let job = MailJob {
                kind: mail,
                loan_id,
                about,
                offset_minutes,
                to_user,
            };
            send_mail::run(ctx, job).await
        }
        Job::SweepWaiting => sweep::run(ctx).await,
        _ => Ok(()),
    }
}

/// Records a failed attempt of `job` (and, when `retry_at` is `None`, that it was given up),
/// inside the transaction that reschedules or retires the job row.
async fn on_failure(
    conn: &mut AsyncPgConnection,
    row: &JobRow,
    job: &Job,
    failure: &JobError,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    match step_of(job) {
        Some((phase, loan_id, step, machine)) => {
            steps::on_failure(
                conn, row, phase, loan_id, step, machine, failure, retry_at, now,
            )
            .await
        }
        // Timers and mail only log: the loan is untouched and the job row keeps the error.
        None => Ok(()),
    }
}
