//! The job queue's producer side. A job is a row written in the caller's transaction, so it
//! exists exactly when the state change that asked for it was committed; `NOTIFY` wakes the
//! workers at commit. The consumer side (claiming, leases, retries) lives in the server crate.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use super::models::NewJob;
use super::schema::jobs;
use super::DbError;
use crate::types::{ActionId, JobId, JobKind, Lane, LoanId, MachineId, MailKind, Phase, UserId};

/// The channel workers `LISTEN` on.
pub const CHANNEL: &str = "loaner_jobs";

/// Every kind of work the scheduler does, with what it needs to find its subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Run one step of the pool's provisioning list for a loan.
    ProvisionStep { loan_id: LoanId, step: u32 },
    /// Run one step of the pool's clean-up list on the machine a loan held (`machine_id`, or
    /// the loan's machine: a loan moved to another machine has its old one cleaned).
    ReclaimStep {
        loan_id: LoanId,
        step: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        machine_id: Option<MachineId>,
    },
    /// At expiry with a grace period: cut access (revoke, power off) but keep the machine.
    SuspendStep { loan_id: LoanId, step: u32 },
    /// After an admin restored an expired loan: give access back (power on, grant access).
    ResumeStep { loan_id: LoanId, step: u32 },
    /// The loan's deadline: expire it (stale if the deadline moved).
    ExpireLoan {
        loan_id: LoanId,
        deadline: DateTime<Utc>,
    },
    /// The end of an expired loan's grace period: re-image the machine.
    EndGrace {
        loan_id: LoanId,
        deadline: DateTime<Utc>,
    },
    /// Render and send one message.
    SendMail {
        mail: MailKind,
        loan_id: Option<LoanId>,
        /// The deadline (or day) the message is about.
        about: Option<DateTime<Utc>>,
        offset_minutes: Option<i32>,
        /// One person the message is for (each admin gets their own approve/deny links).
        #[serde(default)]
        to_user: Option<UserId>,
    },
    /// Hands free machines to waiting loans in every pool: the safety net behind the hand-over
    /// that freeing a machine does at once. Runs every few minutes.
    SweepWaiting,
    /// Blanks the bodies of messages older than the retention period. Runs daily.
    PurgeMail,
    /// An admin's (or the command line's) action on a machine.
    MachineAction { action_id: ActionId },
    /// Queues a health check of every machine out of a loan. Recurring.
    HealthSweep,
    /// One machine's health check.
    HealthCheck { machine_id: MachineId },
}

impl Job {
    /// A step job of `phase`.
    pub fn step(phase: Phase, loan_id: LoanId, step: u32) -> Self {
        match phase {
            Phase::Provision => Self::ProvisionStep { loan_id, step },
            Phase::Reclaim => Self::ReclaimStep {
                loan_id,
                step,
                machine_id: None,
            },
            Phase::Suspend => Self::SuspendStep { loan_id, step },
            Phase::Resume => Self::ResumeStep { loan_id, step },
        }
    }

    pub fn kind(&self) -> JobKind {
        match self {
            Self::ProvisionStep { .. } => JobKind::ProvisionStep,
            Self::ReclaimStep { .. } => JobKind::ReclaimStep,
            Self::SuspendStep { .. } => JobKind::SuspendStep,
            Self::ResumeStep { .. } => JobKind::ResumeStep,
            Self::ExpireLoan { .. } => JobKind::ExpireLoan,
            Self::EndGrace { .. } => JobKind::EndGrace,
            Self::SendMail { .. } => JobKind::SendMail,
            Self::SweepWaiting => JobKind::SweepWaiting,
            Self::PurgeMail => JobKind::PurgeMail,
            Self::MachineAction { .. } => JobKind::MachineAction,
            Self::HealthSweep => JobKind::HealthSweep,
            Self::HealthCheck { .. } => JobKind::HealthCheck,
        }
    }

    pub fn loan_id(&self) -> Option<LoanId> {
        match self {
            Self::ProvisionStep { loan_id, .. }
            | Self::ReclaimStep { loan_id, .. }
            | Self::SuspendStep { loan_id, .. }
            | Self::ResumeStep { loan_id, .. }
            | Self::ExpireLoan { loan_id, .. }
            | Self::EndGrace { loan_id, .. } => Some(*loan_id),
            Self::SendMail { loan_id, .. } => *loan_id,
            Self::SweepWaiting
            | Self::PurgeMail
            | Self::MachineAction { .. }
            | Self::HealthSweep
            | Self::HealthCheck { .. } => None,
        }
    }

    pub fn lane(&self) -> Lane {
        match self {
            Self::ExpireLoan { .. } | Self::EndGrace { .. } => Lane::Timers,
            _ => Lane::Work,
        }
    }

    /// A job that schedules its own next run: when it gives up, the next run is scheduled
    /// anyway, so a failure never stops it for good.
    pub fn is_recurring(&self) -> bool {
        matches!(
            self,
            Self::SweepWaiting
                | Self::PurgeMail
                | Self::HealthSweep
                | Self::SendMail {
                    mail: MailKind::Digest,
                    ..
                }
        )
    }

    /// How many times the job is tried before it is given up. Mail keeps trying for hours
    /// (the backoff is capped), so an SMTP outage delays messages but loses none.
    pub fn max_attempts(&self) -> i32 {
        match self {
            Self::ProvisionStep { .. }
            | Self::ReclaimStep { .. }
            | Self::SuspendStep { .. }
            | Self::ResumeStep { .. } => 3,
            Self::ExpireLoan { .. }
            | Self::EndGrace { .. }
            | Self::SweepWaiting
            | Self::PurgeMail
            | Self::HealthSweep => 20,
            Self::SendMail { .. } => 60,
            // An admin watches it and asks again if they want: no silent retries of a reboot.
            Self::MachineAction { .. } | Self::HealthCheck { .. } => 1,
        }
    }

    /// Reads a job back from its stored payload.
    pub fn from_payload(payload: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(payload.clone())
    }
}

/// Adds `job`, due at `run_at`, in the caller's transaction, and wakes the workers at commit.
pub async fn enqueue(
    conn: &AsyncPgConnection,
    job: &Job,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<JobId, DbError> {
    let row = new_job(job, run_at, now, None)?;
    // Sent together (pipelined): the row and the wake-up are one round trip.
    let (id, ()) = futures::try_join!(
        async {
            Ok::<JobId, DbError>(
                diesel::insert_into(jobs::table)
                    .values(row)
                    .returning(jobs::id)
                    .get_result(&mut &*conn)
                    .await?,
            )
        },
        notify(conn, Some(job.lane())),
    )?;
    Ok(id)
}

/// Adds `job` unless a pending job with the same `dedupe_key` exists; returns whether it was
/// added. A job with that key that gave up (`failed_at`) does not count: the key is unique only
/// among pending jobs, so a recurring job that failed once comes back.
pub async fn enqueue_once(
    conn: &mut AsyncPgConnection,
    job: &Job,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
    dedupe_key: &str,
) -> Result<bool, DbError> {
    let added = diesel::insert_into(jobs::table)
        .values(new_job(job, run_at, now, Some(dedupe_key.to_owned()))?)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if added > 0 {
        notify(conn, Some(job.lane())).await?;
    }
    Ok(added > 0)
}

/// Adds a timer (`ExpireLoan`, `EndGrace`) due at `at`, once per loan and deadline.
pub async fn enqueue_timer(
    conn: &mut AsyncPgConnection,
    job: &Job,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let (Job::ExpireLoan { loan_id, deadline } | Job::EndGrace { loan_id, deadline }) = job else {
        return enqueue(conn, job, at, now).await.map(|_| true);
    };
    let key = format!("{}:{loan_id}:{}", job.kind(), deadline.timestamp_micros());
    enqueue_once(conn, job, at, now, &key).await
}

/// Wakes the workers' loop for `lane`, or every loop with `None` (at commit, when called inside
/// a transaction). Waking only the lane that has new work keeps a burst of loan requests from
/// sending the timers' loop to look for due timers after each one.
pub async fn notify(conn: &AsyncPgConnection, lane: Option<Lane>) -> Result<(), DbError> {
    // `pg_notify` rather than a `NOTIFY` statement: a function call is a prepared statement the
    // connection keeps, where raw SQL is prepared afresh each time (a round trip more).
    let payload = lane.map(Lane::as_str).unwrap_or_default();
    diesel::select(pg_notify(CHANNEL, payload))
        .execute(&mut &*conn)
        .await?;
    Ok(())
}

diesel::define_sql_function! {
    /// PostgreSQL's `pg_notify`: `NOTIFY channel, payload`, delivered at commit. It returns
    /// `void`, which Diesel has no type for; it is only ever executed, never read.
    fn pg_notify(
        channel: diesel::sql_types::Text,
        payload: diesel::sql_types::Text,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// True while a worker holds a job of one of `kinds` for the loan (its lease has not run out).
pub async fn is_running(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    kinds: &[JobKind],
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let running = diesel::select(diesel::dsl::exists(
        jobs::table
            .filter(jobs::loan_id.eq(loan_id))
            .filter(jobs::kind.eq_any(kinds))
            .filter(jobs::failed_at.is_null())
            .filter(jobs::locked_until.gt(now)),
    ))
    .get_result(conn)
    .await?;
    Ok(running)
}

/// Removes a loan's pending deadline timers and reminders (the deadline moved or the loan
/// ended). A timer that is running right now cannot complete afterwards: its row is gone.
pub async fn cancel_deadline_jobs(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
) -> Result<usize, DbError> {
    let removed = diesel::delete(
        jobs::table
            .filter(jobs::loan_id.eq(loan_id))
            .filter(jobs::failed_at.is_null())
            .filter(
                jobs::kind
                    .eq_any([JobKind::ExpireLoan, JobKind::EndGrace])
                    .or(jobs::kind.eq(JobKind::SendMail).and(diesel::dsl::sql::<
                        diesel::sql_types::Bool,
                    >(
                        "payload->>'mail' = 'reminder'"
                    ))),
            ),
    )
    .execute(conn)
    .await?;
    Ok(removed)
}

fn new_job(
    job: &Job,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
    dedupe_key: Option<String>,
) -> Result<NewJob, DbError> {
    let payload = serde_json::to_value(job)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
    Ok(NewJob {
        kind: job.kind(),
        lane: job.lane(),
        payload,
        loan_id: job.loan_id(),
        run_at,
        max_attempts: job.max_attempts(),
        dedupe_key,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_have_their_own_lane() {
        let at = chrono::Utc::now();
        assert_eq!(
            Job::ExpireLoan {
                loan_id: LoanId(1),
                deadline: at
            }
            .lane(),
            Lane::Timers
        );
        assert_eq!(
            Job::step(Phase::Suspend, LoanId(1), 0).kind(),
            JobKind::SuspendStep
        );
        assert_eq!(Job::step(Phase::Reclaim, LoanId(1), 0).lane(), Lane::Work);
        let mail = Job::SendMail {
            mail: MailKind::Reminder,
            loan_id: Some(LoanId(1)),
            about: Some(at),
            offset_minutes: Some(60),
            to_user: None,
        };
        assert_eq!(
            Job::from_payload(&serde_json::to_value(&mail).unwrap()).unwrap(),
            mail
        );
    }

    #[test]
    fn a_job_round_trips_through_its_payload() {
        let job = Job::ReclaimStep {
            loan_id: LoanId(7),
            step: 2,
            machine_id: Some(MachineId(3)),
        };
        let payload = serde_json::to_value(&job).unwrap();
        assert_eq!(payload["kind"], job.kind().as_str());
        assert_eq!(Job::from_payload(&payload).unwrap(), job);
        assert_eq!(job.loan_id(), Some(LoanId(7)));
    }
}
