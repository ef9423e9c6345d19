//! The `machine_action` job: runs an action an admin or the command line asked for
//! (`app::server::machine_actions`) through the machine's driver, and records how it went. A
//! failed action is recorded on the action (and the loan it disturbed), not retried: the person
//! who asked sees it and decides.

use app::server::machine_actions::{self, ActionRecord};
use app::server::machines as machine_service;
use app::server::models::{Loan, Machine, Pool, User};
use app::server::schema::{loans, machines, pools, users};
use app::types::{Action, ActionId, DriverKind, Phase, Step};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{JobContext, JobError};
use crate::drivers::Target;

pub async fn run(ctx: &JobContext, id: ActionId) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let mut conn = deps.conn().await?;
    let Some(record) = machine_actions::start(&mut conn, id, deps.clock.now()).await? else {
        return ctx.finish(&mut conn).await;
    };
    let machine: Machine = machines::table
        .find(record.machine_id)
        .first(&mut conn)
        .await
        .map_err(|e| JobError::permanent(format!("machine #{}: {e}", record.machine_id)))?;
    if let Some(why) = machine_actions::stale_reason(&mut conn, &record, machine.state).await? {
        let now = deps.clock.now();
        return conn
            .transaction(async |c| {
                ctx.take(c).await?;
                machine_actions::finish(c, &record, Err((format!("Not run: {why}."), None)), now)
                    .await?;
                Ok(())
            })
            .await;
    }
    let pool: Pool = pools::table.find(machine.pool_id).first(&mut conn).await?;
    let loan: Option<Loan> = match record.loan_id {
        Some(loan_id) => loans::table
            .find(loan_id)
            .first(&mut conn)
            .await
            .optional()?,
        None => None,
    };
    let borrower: Option<User> = match &loan {
        Some(loan) => users::table
            .find(loan.user_id)
            .select(User::as_select())
            .first(&mut conn)
            .await
            .optional()?,
        None => None,
    };
    drop(conn);

    let action = Action::parse(&record.action)
        .ok_or_else(|| JobError::permanent(format!("unknown action {}", record.action)))?;
    let driver = DriverKind::parse(&record.driver)
        .ok_or_else(|| JobError::permanent(format!("unknown driver {}", record.driver)))?;
    let step = Step {
        name: format!("{} (asked by {})", action.label(), record.requested_as),
        action,
        driver,
        command: None,
        timeout_secs: None,
        instructions: None,
    };
    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: loan.as_ref(),
        borrower: borrower.as_ref(),
        phase: Phase::Provision,
        attempt: ctx.attempt(),
    };
    let result = deps.drivers.run_step(&step, &target).await;

    let mut conn = deps.conn().await?;
    let now = deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        let outcome = match result {
            Ok(done) => {
                machine_service::record_driver_change(
                    c,
                    machine.id,
                    done.machine_settings.as_ref(),
                    done.current_image.as_deref(),
                    now,
                )
                .await?;
                Ok(done.text)
            }
            Err(err) => Err((err.to_string(), err.output())),
        };
        machine_actions::finish(c, &record, outcome, now).await?;
        Ok(())
    })
    .await
}

/// The job itself failed (not the action: a lost database, a vanished machine): the action
/// is recorded as failed with the reason.
pub async fn gave_up(
    conn: &mut AsyncPgConnection,
    id: ActionId,
    failure: &JobError,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let Some(record): Option<ActionRecord> = machine_actions::find(conn, id).await? else {
        return Ok(());
    };
    if record.finished_at.is_none() {
        machine_actions::finish(conn, &record, Err((failure.to_string(), None)), now).await?;
    }
    Ok(())
}
