//! The job `sweep_waiting`: every few minutes, hand any free machine to the first loan waiting
//! for its pool. Freeing a machine does this at once; the sweep catches what slipped through
//! (a machine freed while its pool's line was being served by another transaction).

use app::server::queue::{self, Job};
use app::server::waiting;
use chrono::{DateTime, Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{JobContext, JobError};

const EVERY_MINUTES: i64 = 5;
const KEY: &str = "sweep-waiting";

/// Schedules the sweep unless it is scheduled already.
pub async fn schedule(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> Result<bool, JobError> {
    Ok(queue::enqueue_once(
        conn,
        &Job::SweepWaiting,
        now + Duration::minutes(EVERY_MINUTES),
        now,
        KEY,
    )
    .await?)
}

pub async fn run(ctx: &JobContext) -> Result<(), JobError> {
    let mut conn = ctx.deps.conn().await?;
    let now = ctx.deps.clock.now();
    let pools = waiting::pools_with_waiting(&mut conn).await?;
    let mut served = 0;
    for pool_id in pools {
        served += conn
            .transaction(async |c| {
                app::server::audit::stamp(c, None, now).await?;
                Ok::<_, JobError>(waiting::fill(c, pool_id, now).await?)
            })
            .await?;
    }
    if served > 0 {
        tracing::info!(served, "the sweep gave waiting loans a machine");
    }
    conn.transaction(async |c| {
        ctx.take(c).await?;
        schedule(c, now).await?;
        Ok(())
    })
    .await
}
