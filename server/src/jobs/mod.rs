//! The scheduler. Workers claim due rows of the `jobs` table (`runner`) and hand each to the
//! job that knows how to run it; one file per job. Jobs plan, drive the hardware and record:
//! every change to a loan or machine is a call into the `loans` or `machines` service.

mod attempt;
mod context;
mod health;
mod lease;
mod machine_action;
mod purge_mail;
mod runner;
mod send_mail;
mod steps;
mod sweep;
mod timers;

pub use context::{backoff, JobContext, JobError, WorkerDeps};
pub use purge_mail::{purge as purge_mail_before, PURGED};
pub use runner::Worker;

use app::server::models::JobRow;
use app::server::queue::Job;
use app::types::{MailKind, Phase};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::mail::MailJob;
use steps::StepJob;

/// Makes sure every recurring job (the admins' daily digest, the waiting-line sweep, the purge
/// of old messages) is scheduled; run at every start.
pub async fn schedule_recurring(
    conn: &mut AsyncPgConnection,
    digest_hour_utc: u32,
    health: crate::config::HealthConfig,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    send_mail::schedule_digest(conn, digest_hour_utc, now).await?;
    sweep::schedule(conn, now).await?;
    purge_mail::schedule(conn, now).await?;
    health::schedule(conn, health, now).await?;
    Ok(())
}

/// The step a step job runs; `None` for the other kinds.
fn step_of(job: &Job) -> Option<StepJob> {
    let step = |phase, loan_id, index, machine| StepJob {
        phase,
        loan_id,
        index,
        machine,
    };
    match *job {
        Job::ProvisionStep { loan_id, step: i } => Some(step(Phase::Provision, loan_id, i, None)),
        Job::ReclaimStep {
            loan_id,
            step: i,
            machine_id,
        } => Some(step(Phase::Reclaim, loan_id, i, machine_id)),
        Job::SuspendStep { loan_id, step: i } => Some(step(Phase::Suspend, loan_id, i, None)),
        Job::ResumeStep { loan_id, step: i } => Some(step(Phase::Resume, loan_id, i, None)),
        Job::ExpireLoan { .. }
        | Job::EndGrace { .. }
        | Job::SendMail { .. }
        | Job::SweepWaiting
        | Job::PurgeMail
        | Job::MachineAction { .. }
        | Job::HealthSweep
        | Job::HealthCheck { .. } => None,
    }
}

/// The message a mail job sends; `None` for the other kinds.
fn mail_of(job: &Job) -> Option<MailJob> {
    match *job {
        Job::SendMail {
            mail,
            loan_id,
            about,
            offset_minutes,
            to_user,
        } => Some(MailJob {
            kind: mail,
            loan_id,
            about,
            offset_minutes,
            to_user,
        }),
        _ => None,
    }
}

/// Runs one job. Every kind has its arm: a job nobody runs does not compile.
async fn run(ctx: &JobContext, job: &Job) -> Result<(), JobError> {
    if let Some(step) = step_of(job) {
        return steps::run(ctx, step).await;
    }
    match *job {
        Job::ExpireLoan { loan_id, deadline } => timers::expire(ctx, loan_id, deadline).await,
        Job::EndGrace { loan_id, deadline } => timers::end_grace(ctx, loan_id, deadline).await,
        Job::SendMail { .. } => match mail_of(job) {
            Some(mail) => send_mail::run(ctx, mail).await,
            None => Err(JobError::permanent("a mail job without its message")),
        },
        Job::SweepWaiting => sweep::run(ctx).await,
        Job::PurgeMail => purge_mail::run(ctx).await,
        Job::MachineAction { action_id } => machine_action::run(ctx, action_id).await,
        Job::HealthSweep => health::sweep(ctx).await,
        Job::HealthCheck { machine_id } => health::check(ctx, machine_id).await,
        Job::ProvisionStep { .. }
        | Job::ReclaimStep { .. }
        | Job::SuspendStep { .. }
        | Job::ResumeStep { .. } => Err(JobError::permanent("a step job without its step")),
    }
}

/// Records a failed attempt of `job` (and, when `retry_at` is `None`, that it was given up),
/// inside the transaction that reschedules or retires the job row. A recurring job that gives
/// up schedules its next run, so one bad day never stops it.
async fn on_failure(
    deps: &WorkerDeps,
    conn: &mut AsyncPgConnection,
    row: &JobRow,
    job: &Job,
    failure: &JobError,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    if let Some(step) = step_of(job) {
        return steps::on_failure(conn, row, step, failure, retry_at, now).await;
    }
    let gave_up = retry_at.is_none();
    match *job {
        Job::SweepWaiting if gave_up => sweep::schedule(conn, now).await.map(|_| ()),
        Job::PurgeMail if gave_up => purge_mail::schedule(conn, now).await.map(|_| ()),
        Job::SendMail { .. } if gave_up => {
            let Some(mail) = mail_of(job) else {
                return Ok(());
            };
            // Never sent: its stored copy keeps no usable link either.
            send_mail::redact_unsent(conn, &mail).await?;
            if mail.kind == MailKind::Digest {
                send_mail::reschedule_digest(conn, mail.about, deps.digest_hour_utc, now).await?;
            }
            Ok(())
        }
        // Timers and mail only log: the loan is untouched and the job row keeps the error.
        Job::MachineAction { action_id } => {
            machine_action::gave_up(conn, action_id, failure, now).await
        }
        Job::HealthSweep if gave_up => health::schedule(conn, deps.health, now).await.map(|_| ()),
        Job::HealthSweep | Job::HealthCheck { .. } => Ok(()),
        Job::ExpireLoan { .. }
        | Job::EndGrace { .. }
        | Job::SendMail { .. }
        | Job::SweepWaiting
        | Job::PurgeMail
        | Job::ProvisionStep { .. }
        | Job::ReclaimStep { .. }
        | Job::SuspendStep { .. }
        | Job::ResumeStep { .. } => Ok(()),
    }
}
