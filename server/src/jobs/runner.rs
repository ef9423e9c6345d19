//! Claiming and running jobs. A worker takes due rows with `FOR UPDATE SKIP LOCKED`, marks them
//! with its id and a lease, renews the lease while a job runs, and deletes the row in the same
//! transaction as the job's effects — so a job completes at most once, and a job whose worker
//! died is claimed again once its lease runs out. Failures are retried with capped exponential
//! backoff; the last failure gives the job up and lets it record what that means.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::server::loans::LoanError;
use app::server::models::JobRow;
use app::server::queue::{Job, Lane, CHANNEL};
use app::server::schema::jobs;
use app::server::{Clock, DbConn, DbError, DbPool, SiteSettings};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::JobsConfig;
use crate::drivers::Drivers;
use crate::mail::{Mailer, Templates};

/// What jobs need to do their work.
pub struct WorkerDeps {
    pub db: DbPool,
    pub clock: Clock,
    pub drivers: Drivers,
    /// For the dedicated `LISTEN` connection.
    pub database_url: String,
    pub config: JobsConfig,
    pub site: Arc<SiteSettings>,
    pub mailer: Mailer,
    pub templates: Templates,
}

impl WorkerDeps {
    pub async fn conn(&self) -> Result<DbConn, JobError> {
        Ok(app::server::db::conn(&self.db).await?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The work failed; it is tried again later unless `permanent` or out of attempts.
    #[error("{message}")]
    Failed {
        message: String,
        output: Option<String>,
        permanent: bool,
    },
    /// Not now: run again after the delay, without counting an attempt.
    #[error("deferred for {0:?}")]
    Defer(Duration),
    /// Another worker holds the job now (our lease ran out); leave it to them.
    #[error("another worker holds this job now")]
    LeaseLost,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl JobError {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            output: None,
            permanent: true,
        }
    }

    fn output(&self) -> Option<String> {
        match self {
            Self::Failed { output, .. } => output.clone(),
            _ => None,
        }
    }

    fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                permanent: true,
                ..
            }
        )
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<DbError> for JobError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<LoanError> for JobError {
    fn from(err: LoanError) -> Self {
        Self::Internal(err.into())
    }
}

/// One claimed job, as its code sees it.
pub struct JobContext {
    pub deps: Arc<WorkerDeps>,
    pub row: JobRow,
    worker_id: String,
}

impl JobContext {
    /// This run's attempt number, from 1.
    pub fn attempt(&self) -> i32 {
        self.row.attempts
    }

    /// Takes the job off the queue inside the caller's transaction, so it disappears exactly
    /// when the job's effects are committed, and names the scheduler as the actor for the audit
    /// log. Fails if another worker has taken it over.
    pub async fn take(&self, conn: &mut AsyncPgConnection) -> Result<(), JobError> {
        // What the job changes is the scheduler's doing, at the scheduler's time.
        app::server::audit::stamp(conn, None, self.deps.clock.now()).await?;
        let deleted = diesel::delete(
            jobs::table
                .filter(jobs::id.eq(self.row.id))
                .filter(jobs::locked_by.eq(&self.worker_id)),
        )
        .execute(conn)
        .await?;
        if deleted == 1 {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// Completes a job that has nothing (more) to do.
    pub async fn finish(&self, conn: &mut AsyncPgConnection) -> Result<(), JobError> {
        conn.transaction(async |c| self.take(c).await).await
    }
}

/// The delay before retry number `attempt` (1-based): base × 2^(attempt−1), capped, ±10 %.
pub fn backoff(config: &JobsConfig, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let base = config.backoff_base_ms.saturating_mul(1u64 << exponent);
    let capped = base.min(config.backoff_max_secs.saturating_mul(1000));
    let jitter = rand::rng().random_range(0.9..=1.1);
    Duration::from_millis((capped as f64 * jitter) as u64)
}

pub struct Worker {
    deps: Arc<WorkerDeps>,
    id: String,
}

impl Worker {
    pub fn new(deps: Arc<WorkerDeps>) -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "host".to_owned());
        let suffix: u32 = rand::rng().random();
        Self {
            id: format!("{host}:{}:{suffix:08x}", std::process::id()),
            deps,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.deps.config.lease_secs).unwrap_or(60))
    }

    /// Runs jobs until `shutdown` turns true, then waits a little for running jobs. Each lane
    /// has its own slots, so a queue full of long steps never delays a timer.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let lanes = [
            (Lane::Timers, self.deps.config.timer_concurrency),
            (Lane::Work, self.deps.config.concurrency),
        ];
        let wakes: Vec<Arc<Notify>> = lanes.iter().map(|_| Arc::new(Notify::new())).collect();
        let listener = tokio::spawn(listen(
            self.deps.database_url.clone(),
            wakes.clone(),
            shutdown.clone(),
        ));
        tracing::info!(worker.id = %self.id, "worker started");
        let mut loops = JoinSet::new();
        for ((lane, slots), wake) in lanes.into_iter().zip(wakes) {
            loops.spawn(self.clone().run_lane(lane, slots, wake, shutdown.clone()));
        }
        let mut result = Ok(());
        while let Some(done) = loops.join_next().await {
            if let Ok(Err(err)) = done {
                result = Err(err);
            }
        }
        listener.abort();
        tracing::info!(worker.id = %self.id, "worker stopped");
        result
    }

    async fn run_lane(
        self: Arc<Self>,
        lane: Lane,
        concurrency: usize,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut running = JoinSet::new();
        let poll = Duration::from_secs(self.deps.config.poll_secs.max(1));
        loop {
            while running.try_join_next().is_some() {}
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.context("worker slots closed")?,
                _ = shutdown.changed() => break,
            };
            if *shutdown.borrow() {
                break;
            }
            let mut permits = vec![first];
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                permits.push(permit);
            }
            let claimed = match self.claim(permits.len(), Some(lane)).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, lane = lane.as_str(), "could not claim jobs");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                drop(permits);
                let wait = self.next_due_in(lane).await.unwrap_or(poll).min(poll);
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            for (row, permit) in claimed.into_iter().zip(permits) {
                let worker = self.clone();
                running.spawn(async move {
                    worker.run_one(row).await;
                    drop(permit);
                });
            }
        }
        let grace = Duration::from_secs(10);
        if tokio::time::timeout(grace, async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(lane = lane.as_str(), "jobs still running at shutdown; their leases will run out and another worker will take them");
        }
        Ok(())
    }

    /// Runs due jobs one at a time until none is left; returns how many ran. For tests and
    /// one-off command-line use.
    pub async fn run_until_idle(&self) -> anyhow::Result<usize> {
        let mut count = 0;
        loop {
            let rows = self.claim(1, None).await?;
            if rows.is_empty() {
                return Ok(count);
            }
            for row in rows {
                self.run_one(row).await;
                count += 1;
            }
        }
    }

    /// Claims up to `limit` due jobs of `lane` (of any lane with `None`).
    async fn claim(&self, limit: usize, lane: Option<Lane>) -> anyhow::Result<Vec<JobRow>> {
        let now = self.deps.clock.now();
        let mut conn = self.deps.conn().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let rows = diesel::sql_query(include_str!("claim.sql"))
            .bind::<diesel::sql_types::Timestamptz, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(i64::try_from(limit).unwrap_or(1))
            .bind::<diesel::sql_types::Text, _>(&self.id)
            .bind::<diesel::sql_types::Timestamptz, _>(now + self.lease())
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(lane.map(Lane::as_str))
            .load::<JobRow>(&mut conn)
            .await?;
        Ok(rows)
    }

    /// How long until the next job of `lane` falls due (or a lease runs out).
    async fn next_due_in(&self, lane: Lane) -> Option<Duration> {
        let mut conn = self.deps.conn().await.ok()?;
        let next: Option<DateTime<Utc>> = jobs::table
            .filter(jobs::failed_at.is_null())
            .filter(jobs::lane.eq(lane.as_str()))
            .select(diesel::dsl::min(diesel::dsl::sql::<
                diesel::sql_types::Timestamptz,
            >(
                "GREATEST(run_at, COALESCE(locked_until, run_at))",
            )))
            .first(&mut conn)
            .await
            .ok()?;
        let wait = next? - self.deps.clock.now();
        Some(wait.to_std().unwrap_or(Duration::ZERO))
    }

    async fn run_one(&self, row: JobRow) {
        let job = match Job::from_payload(&row.payload) {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(job.id = row.id, job.kind = %row.kind, error = %err, "job payload does not parse; giving it up");
                let ctx = self.context(row);
                let failure = JobError::permanent(format!("unreadable payload: {err}"));
                self.retire(&ctx, None, &failure).await;
                return;
            }
        };
        let span = tracing::info_span!("job", job.id = row.id, job.kind = %row.kind, job.attempt = row.attempts);
        self.run_claimed(row, job).instrument(span).await;
    }

    async fn run_claimed(&self, row: JobRow, job: Job) {
        let ctx = self.context(row);
        let heartbeat = tokio::spawn(heartbeat(
            self.deps.clone(),
            ctx.row.id,
            self.id.clone(),
            self.lease(),
        ));
        let started = std::time::Instant::now();
        let result = super::run(&ctx, &job).await;
        heartbeat.abort();
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(()) => tracing::info!(duration_ms, "job done"),
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

    fn context(&self, row: JobRow) -> JobContext {
        JobContext {
            deps: self.deps.clone(),
            row,
            worker_id: self.id.clone(),
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
                if let Some(job) = job {
                    super::on_failure(c, row, job, failure, retry_at, now).await?;
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

/// Keeps a running job's lease fresh.
async fn heartbeat(deps: Arc<WorkerDeps>, job_id: i64, worker_id: String, lease: chrono::Duration) {
    let every = (lease / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(10))
        .max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(every).await;
        let renewed = async {
            let mut conn = deps.conn().await?;
            let n = diesel::update(
                jobs::table
                    .filter(jobs::id.eq(job_id))
                    .filter(jobs::locked_by.eq(&worker_id)),
            )
            .set(jobs::locked_until.eq(deps.clock.now() + lease))
            .execute(&mut conn)
            .await?;
            Ok::<_, JobError>(n)
        }
        .await;
        match renewed {
            Ok(1) => {}
            Ok(_) => {
                tracing::warn!(job.id = job_id, "lost the lease of a running job");
                return;
            }
            Err(err) => {
                tracing::warn!(job.id = job_id, error = %err, "could not renew a job lease")
            }
        }
    }
}

/// Wakes the worker's lanes when a job is enqueued. Polling covers the gaps while this
/// reconnects.
async fn listen(url: String, wakes: Vec<Arc<Notify>>, mut shutdown: watch::Receiver<bool>) {
    let wake_all = || wakes.iter().for_each(|w| w.notify_one());
    loop {
        let session = async {
            let mut conn = AsyncPgConnection::establish(&url).await?;
            diesel::sql_query(format!("LISTEN {CHANNEL}"))
                .execute(&mut conn)
                .await?;
            // Something may have been enqueued while we were not listening.
            wake_all();
            loop {
                let health_check = {
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    tokio::select! {
                        next = notifications.next() => match next {
                            Some(Ok(_)) => { wake_all(); false }
                            Some(Err(err)) => return Err::<(), anyhow::Error>(err.into()),
                            None => return Ok(()),
                        },
                        _ = tokio::time::sleep(Duration::from_secs(30)) => true,
                    }
                };
                if health_check {
                    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
                }
            }
        };
        tokio::select! {
            result = session => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "job notifications interrupted; reconnecting");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
