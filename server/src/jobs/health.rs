//! The health-check jobs (`app::server::health` decides what a result means): `health_sweep`
//! queues a `health_check` of every machine due, every `[health] interval_minutes`; a check
//! runs the machine's `status` through its driver and then the settings' `health_check` step.

use app::server::health;
use app::server::machine_actions;
use app::server::models::{Machine, Pool};
use app::server::queue::{self, Job};
use app::server::schema::{machines, pools};
use app::types::{Action, MachineDrivers, MachineId, MachineState, Phase, Step};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{JobContext, JobError};
use crate::config::HealthConfig;
use crate::drivers::Target;

const KEY: &str = "health-sweep";

/// Schedules the next sweep unless one is scheduled (or checks are off).
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    config: HealthConfig,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let minutes = config.interval(false);
    if minutes == 0 {
        return Ok(false);
    }
    let at = now + Duration::minutes(i64::from(minutes));
    Ok(queue::enqueue_once(conn, &Job::HealthSweep, at, now, KEY).await?)
}

pub async fn sweep(ctx: &JobContext) -> Result<(), JobError> {
    let mut conn = ctx.deps.conn().await?;
    let now = ctx.deps.clock.now();
    let due = health::due(&mut conn).await?;
    conn.transaction(async |c| {
        ctx.take(c).await?;
        let mut queued = 0;
        for (machine, pool) in &due {
            if health::checkable(machine, pool) {
                let job = Job::HealthCheck {
                    machine_id: machine.id,
                };
                let key = format!("health:{}:{}", machine.id, now.timestamp());
                queued += usize::from(queue::enqueue_once(c, &job, now, now, &key).await?);
            }
        }
        tracing::debug!(queued, "health checks queued");
        schedule(c, ctx.deps.health, now).await?;
        Ok(())
    })
    .await
}

pub async fn check(ctx: &JobContext, id: MachineId) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let mut conn = deps.conn().await?;
    let found: Option<(Machine, Pool)> = machines::table
        .inner_join(pools::table)
        .filter(machines::id.eq(id))
        .select((Machine::as_select(), Pool::as_select()))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((machine, pool)) = found else {
        return ctx.finish(&mut conn).await;
    };
    // Only machines out of loans: a loan's own steps look after its machine.
    let due = machine.state == MachineState::Available
        || (machine.state == MachineState::Broken && machine.health_failed_at.is_some());
    let settings = MachineDrivers::merged(&pool.driver_settings, &machine.driver_settings);
    let way = settings
        .as_ref()
        .ok()
        .and_then(|s| machine_actions::way(Action::Status, s).ok());
    let (true, Some(driver)) = (due, way) else {
        return ctx.finish(&mut conn).await;
    };
    drop(conn);

    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: None,
        borrower: None,
        phase: Phase::Provision,
        attempt: ctx.attempt(),
    };
    let status = Step {
        name: "Health check".into(),
        action: Action::Status,
        driver,
        command: None,
        timeout_secs: None,
        instructions: None,
    };
    let mut result = deps
        .drivers
        .run_step(&status, &target)
        .await
        .map(|o| o.text);
    if let (Ok(first), Some(extra)) = (&result, settings.ok().and_then(|s| s.health_check)) {
        result = deps
            .drivers
            .run_step(&extra, &target)
            .await
            .map(|o| format!("{first}\n{}: {}", extra.name, o.text.trim()));
    }

    let mut conn = deps.conn().await?;
    let now = deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        match &result {
            Ok(note) => {
                let back =
                    health::record_good(c, id, note, deps.health.return_after_good_checks, now)
                        .await?;
                if back {
                    tracing::info!(machine.fqdn = %machine.fqdn, "good health checks brought a machine back");
                }
            }
            Err(err) => {
                let problem = match err.output() {
                    Some(output) => format!("{err} ({})", output.lines().last().unwrap_or("").trim()),
                    None => err.to_string(),
                };
                if health::record_bad(c, id, &problem, now).await? {
                    tracing::warn!(machine.fqdn = %machine.fqdn, %problem, "a health check took a machine out of the pool");
                }
            }
        }
        Ok(())
    })
    .await
}
