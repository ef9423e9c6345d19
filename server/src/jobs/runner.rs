//! Claiming jobs. A worker takes due rows with `FOR UPDATE SKIP LOCKED`, marks them with its id
//! and a lease, renews the lease while a job runs (`lease`), and deletes the row in the same
//! transaction as the job's effects — so a job completes at most once, and a job whose worker
//! died is claimed again once its lease runs out. Each lane (timers, work) has its own slots.
//! Running one claimed job, and what happens when it fails, is `attempt`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::server::models::JobRow;
use app::server::schema::jobs;
use app::types::{JobKind, Lane};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use rand::Rng;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::lease::listen;
use super::{JobContext, WorkerDeps};

pub struct Worker {
    pub(super) deps: Arc<WorkerDeps>,
    pub(super) id: String,
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

    pub(super) fn lease(&self) -> chrono::Duration {
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
            lanes
                .iter()
                .map(|(lane, _)| *lane)
                .zip(wakes.clone())
                .collect(),
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
            let mut claimed = match self.claim(permits.len(), Some(lane)).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(error = %err, lane = lane.as_str(), "could not claim jobs");
                    Vec::new()
                }
            };
            if claimed.len() > permits.len() {
                let surplus = claimed.split_off(permits.len());
                self.release(&surplus).await;
            }
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
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(
                JobKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .load::<JobRow>(&mut conn)
            .await?;
        Ok(rows)
    }

    /// Hands back rows claimed beyond the free slots (the claim never should take more), so
    /// they run now rather than when their lease runs out.
    async fn release(&self, rows: &[JobRow]) {
        tracing::warn!(
            count = rows.len(),
            "claimed more jobs than free slots; releasing the rest"
        );
        let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
        let released = async {
            let mut conn = self.deps.conn().await?;
            diesel::update(
                jobs::table
                    .filter(jobs::id.eq_any(&ids))
                    .filter(jobs::locked_by.eq(&self.id)),
            )
            .set((
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::locked_by.eq(None::<String>),
                jobs::locked_until.eq(None::<DateTime<Utc>>),
            ))
            .execute(&mut conn)
            .await?;
            Ok::<_, super::JobError>(())
        }
        .await;
        if let Err(err) = released {
            tracing::warn!(error = %err, "could not release surplus jobs; their leases will run out");
        }
    }

    /// How long until the next job of `lane` falls due (or a lease runs out). Two questions an
    /// index answers at once, asked together, instead of a look at every job of the lane: the
    /// earliest job no one holds, and the earliest lease to run out (a held job was due when
    /// it was claimed, so its lease's end is when it is due again).
    async fn next_due_in(&self, lane: Lane) -> Option<Duration> {
        let conn = self.deps.conn().await.ok()?;
        let pending = jobs::table
            .filter(jobs::failed_at.is_null())
            .filter(jobs::lane.eq(lane));
        let (free, leased): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = futures::try_join!(
            pending
                .filter(jobs::locked_until.is_null())
                .select(diesel::dsl::min(jobs::run_at))
                .get_result(&mut &*conn),
            pending
                .filter(jobs::locked_until.is_not_null())
                .select(diesel::dsl::min(jobs::locked_until))
                .get_result(&mut &*conn),
        )
        .ok()?;
        let next = free.into_iter().chain(leased).min()?;
        Some(
            (next - self.deps.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }

    pub(super) fn context(&self, row: JobRow) -> JobContext {
        JobContext {
            deps: self.deps.clone(),
            row,
            worker_id: self.id.clone(),
        }
    }
}
