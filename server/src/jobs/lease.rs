//! Keeping a running job's lease (heartbeat) and waking idle workers when jobs are enqueued
//! (`LISTEN`).

use std::sync::Arc;
use std::time::Duration;

use app::server::queue::CHANNEL;
use app::server::schema::jobs;
use app::types::{JobId, Lane};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use tokio::sync::{watch, Notify};

use super::{JobError, WorkerDeps};

/// A running job's heartbeat: renews its lease until dropped (also when the job panics).
pub(super) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub(super) fn start(
        deps: Arc<WorkerDeps>,
        job_id: JobId,
        worker_id: String,
        lease: chrono::Duration,
    ) -> Self {
        Self(tokio::spawn(heartbeat(deps, job_id, worker_id, lease)))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a running job's lease fresh.
async fn heartbeat(
    deps: Arc<WorkerDeps>,
    job_id: JobId,
    worker_id: String,
    lease: chrono::Duration,
) {
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
                tracing::warn!(job.id = %job_id, "lost the lease of a running job");
                return;
            }
            Err(err) => {
                tracing::warn!(job.id = %job_id, error = %err, "could not renew a job lease")
            }
        }
    }
}

/// Wakes the worker's loop for the lane a job was enqueued in (the announcement's payload; all
/// loops for any other payload). Polling covers the gaps while this reconnects.
pub(super) async fn listen(
    url: String,
    wakes: Vec<(Lane, Arc<Notify>)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let wake_all = || wakes.iter().for_each(|(_, w)| w.notify_one());
    let wake = |payload: &str| match wakes.iter().find(|(lane, _)| lane.as_str() == payload) {
        Some((_, w)) => w.notify_one(),
        None => wake_all(),
    };
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
                            Some(Ok(note)) => { wake(&note.payload); false }
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
