//! Running one claimed job: its heartbeat, its outcome, and what a failure means — a retry with
//! capped exponential backoff, or, after the last attempt, giving it up and letting the job
//! record what that means. A panic is a failure like any other.

use app::server::models::JobRow;
use app::server::queue::Job;
use app::server::schema::jobs;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use futures::FutureExt;
use std::time::Duration;
use tracing::Instrument;

use super::lease::Heartbeat;
use super::{backoff, JobContext, JobError, Worker};

impl Worker {
    pub(super) async fn run_one(&self, row: JobRow) {
        let job = match Job::from_payload(&row.payload) {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(job.id = %row.id, job.kind = %row.kind, error = %err, "job payload does not parse; giving it up");
                let ctx = self.context(row);
                let failure = JobError::permanent(format!("unreadable payload: {err}"));
                self.retire(&ctx, None, &failure).await;
                return;
            }
        };
        let span = tracing::info_span!("job", job.id = %row.id, job.kind = %row.kind, job.attempt = row.attempts);
        self.run_claimed(row, job).instrument(span).await;
    }

    async fn run_claimed(&self, row: JobRow, job: Job) {
        if row.lane == app::types::Lane::Timers {
            crate::telemetry::timer_started(row.kind, row.run_at, self.deps.clock.now());
        }
        let kind = row.kind;
        let ctx = self.context(row);
        let heartbeat =
            Heartbeat::start(self.deps.clone(), ctx.row.id, self.id.clone(), self.lease());
        let started = std::time::Instant::now();
        // A panicking job is a failed attempt like any other: retried, then given up.
        let result = std::panic::AssertUnwindSafe(super::run(&ctx, &job))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(JobError::Failed {
                    message: format!("the job panicked: {}", panic_message(&panic)),
                    output: None,
                    permanent: false,
                })
            });
        drop(heartbeat);
        let duration_ms = started.elapsed().as_millis() as u64;
        let outcome = match &result {
            Ok(()) => "done",
            Err(JobError::LeaseLost) => "lease_lost",
            Err(JobError::Defer(_)) => "deferred",
            Err(_) => "failed",
        };
        crate::telemetry::job_ran(kind, outcome, started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                self.clear(&ctx).await;
                tracing::info!(duration_ms, "job done")
            }
            Err(JobError::LeaseLost) => {
                tracing::warn!(duration_ms, "job was taken over by another worker")
            }
            Err(JobError::Defer(after)) => self.defer(&ctx, after).await,
            Err(failure) => {
                tracing::warn!(duration_ms, error = %failure, "job failed");
                self.retire(&ctx, Some(&job), &failure).await;
            }
        }
    }

    /// Removes a finished job's row if the job did not take itself off the queue, so that it
    /// is never claimed again.
    async fn clear(&self, ctx: &JobContext) {
        let cleared = async {
            let mut conn = self.deps.conn().await?;
            let n = diesel::delete(
                jobs::table
                    .filter(jobs::id.eq(ctx.row.id))
                    .filter(jobs::locked_by.eq(&self.id)),
            )
            .execute(&mut conn)
            .await?;
            Ok::<_, JobError>(n)
        }
        .await;
        match cleared {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "the job finished without taking itself off the queue; its row was removed"
            ),
            Err(err) => tracing::warn!(error = %err, "could not remove a finished job's row"),
        }
    }

    /// Puts the job back for later without counting this run as an attempt.
    async fn defer(&self, ctx: &JobContext, after: Duration) {
        let run_at = self.deps.clock.now()
            + chrono::Duration::from_std(after).unwrap_or_else(|_| chrono::Duration::seconds(1));
        let result = async {
            let mut conn = self.deps.conn().await?;
            diesel::update(
                jobs::table
                    .filter(jobs::id.eq(ctx.row.id))
                    .filter(jobs::locked_by.eq(&self.id)),
            )
            .set((
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::run_at.eq(run_at),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(&mut conn)
            .await?;
            Ok::<_, JobError>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not defer job; its lease will run out");
        }
    }

    /// Schedules a retry, or gives the job up after its last attempt, recording either.
    async fn retire(&self, ctx: &JobContext, job: Option<&Job>, failure: &JobError) {
        let row = &ctx.row;
        let now = self.deps.clock.now();
        let retry_at = (!failure.is_permanent() && row.attempts < row.max_attempts).then(|| {
            now + chrono::Duration::from_std(backoff(&self.deps.config, row.attempts))
                .unwrap_or_else(|_| chrono::Duration::seconds(60))
        });
        let message = failure.to_string();
        let result = async {
            let mut conn = self.deps.conn().await?;
            conn.transaction(async |c| {
                let still_ours: Option<i64> = jobs::table
                    .filter(jobs::id.eq(row.id))
                    .filter(jobs::locked_by.eq(&self.id))
                    .select(jobs::id)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                if still_ours.is_none() {
                    return Err(JobError::LeaseLost);
                }
                let target = jobs::table.filter(jobs::id.eq(row.id));
                match retry_at {
                    Some(at) => {
                        diesel::update(target)
                            .set((
                                jobs::run_at.eq(at),
                                jobs::locked_by.eq(None::<String>),
                                jobs::locked_until.eq(None::<DateTime<Utc>>),
                                jobs::last_error.eq(&message),
                            ))
                            .execute(c)
                            .await?
                    }
                    None => {
                        diesel::update(target)
                            .set((
                                jobs::failed_at.eq(now),
                                jobs::locked_by.eq(None::<String>),
                                jobs::locked_until.eq(None::<DateTime<Utc>>),
                                jobs::last_error.eq(&message),
                            ))
                            .execute(c)
                            .await?
                    }
                };
                // After the row is retired: a recurring job that gave up schedules its next run
                // under the same key, which is free only once this row counts as failed.
                if let Some(job) = job {
                    super::on_failure(&self.deps, c, row, job, failure, retry_at, now).await?;
                }
                Ok(())
            })
            .await
        }
        .await;
        match (result, retry_at) {
            (Ok(()), Some(at)) => tracing::info!(retry_at = %at, "job will be retried"),
            (Ok(()), None) => {
                tracing::error!(error = %message, output = ?failure.output().map(|o| o.len()), "job gave up after its last attempt")
            }
            (Err(err), _) => {
                tracing::warn!(error = %err, "could not record the job failure; its lease will run out")
            }
        }
    }
}

/// The message a panic carried.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}
