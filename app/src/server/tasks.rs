//! Admin tasks: steps no script can do (`manual` driver). The loan waits at the step until an
//! admin marks the task done (the loan moves on) or failed (as if the step gave up).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::events::{self, Event};
use super::loans::{self, LoanError, StepRecord};
use super::models::{AdminTask, User};
use super::schema::{admin_tasks, loans as loans_table, machines, pools, users};
use super::{audit, mail, DbError};
use crate::error::FieldError;
use crate::rules::validate;
use crate::types::{
    EventKind, LoanId, MachineId, MailKind, Phase, TaskId, TaskOutcome, TaskRow, TaskState,
};

/// Opens the task for a manual step (once per loan, machine and step) and tells the admins.
/// Returns false if it was open already.
pub async fn open(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    machine_id: MachineId,
    step: &StepRecord,
    instructions: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let created = diesel::insert_into(admin_tasks::table)
        .values((
            admin_tasks::loan_id.eq(loan_id),
            admin_tasks::machine_id.eq(machine_id),
            admin_tasks::phase.eq(step.phase),
            admin_tasks::step_index.eq(i32::try_from(step.index).unwrap_or(i32::MAX)),
            admin_tasks::step_name.eq(&step.name),
            admin_tasks::instructions.eq(instructions),
            admin_tasks::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if created == 0 {
        return Ok(false);
    }
    events::record(
        conn,
        loan_id,
        now,
        Event::new(
            EventKind::WaitingForAdmin,
            format!("Waiting for an admin: {}", step.name),
        )
        .details(json!({ "phase": step.phase.as_str(), "step": step.index, "total": step.total, "name": step.name })),
    )
    .await?;
    mail::send_to_each_admin(conn, MailKind::TaskOpened, loan_id, Some(now), now).await?;
    Ok(true)
}

/// Open tasks, oldest first.
pub async fn list_open(conn: &mut AsyncPgConnection) -> Result<Vec<TaskRow>, DbError> {
    type Row = (AdminTask, String, String, String);
    let rows: Vec<Row> = admin_tasks::table
        .filter(admin_tasks::state.eq(TaskState::Open))
        .inner_join(loans_table::table.inner_join(pools::table))
        .inner_join(machines::table)
        .inner_join(users::table.on(users::id.eq(loans_table::user_id)))
        .order(admin_tasks::created_at.asc())
        .select((
            AdminTask::as_select(),
            pools::name,
            machines::fqdn,
            users::name,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(task, pool_name, machine_fqdn, borrower_name)| TaskRow {
            id: task.id,
            loan_id: task.loan_id,
            pool_name,
            machine_fqdn,
            borrower_name,
            phase: task.phase,
            step_name: task.step_name,
            instructions: task.instructions,
            created_at: task.created_at,
        })
        .collect())
}

/// The admin did the step (`done`) or could not (`!done`); the loan moves on accordingly.
pub async fn close(
    conn: &mut AsyncPgConnection,
    admin: &User,
    task_id: TaskId,
    outcome: TaskOutcome,
    note: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    if !admin.is_admin() {
        return Err(LoanError::AdminsOnly);
    }
    let done = outcome == TaskOutcome::Done;
    let invalid = |m| LoanError::Invalid(vec![FieldError::new("note", m)]);
    let note = if done {
        validate::optional_note(note).map_err(invalid)?
    } else {
        validate::note(note, "Say what went wrong.").map_err(invalid)?
    };
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(admin), now).await?;
        let task: AdminTask = admin_tasks::table
            .find(task_id)
            .for_update()
            .select(AdminTask::as_select())
            .first(conn)
            .await
            .optional()?
            .ok_or(LoanError::TaskNotFound(task_id))?;
        if task.state != TaskState::Open {
            return Err(LoanError::TaskClosed);
        }
        diesel::update(admin_tasks::table.find(task.id))
            .set((
                admin_tasks::state.eq(match outcome {
                    TaskOutcome::Done => TaskState::Done,
                    TaskOutcome::Failed => TaskState::Failed,
                }),
                admin_tasks::closed_at.eq(now),
                admin_tasks::closed_by.eq(admin.id),
                admin_tasks::note.eq(&note),
            ))
            .execute(conn)
            .await?;
        let context = loans::context(conn, task.loan_id).await?;
        let phase = task.phase;
        let steps = context.pool.steps(phase).unwrap_or_default();
        let record = StepRecord {
            phase,
            index: u32::try_from(task.step_index).unwrap_or(0),
            total: u32::try_from(steps.len()).unwrap_or(0),
            name: task.step_name.clone(),
            machine_id: Some(task.machine_id),
            attempt: 1,
        };
        let verb = if done { "did" } else { "could not do" };
        let said = if note.is_empty() {
            String::new()
        } else {
            format!(": {note}")
        };
        events::record(
            conn,
            task.loan_id,
            now,
            Event::new(
                EventKind::TaskDone,
                format!("{} {verb} \"{}\"{said}", admin.name, task.step_name),
            )
            .by(admin.id),
        )
        .await?;
        if done {
            let output = format!("Done by {}{said}", admin.name);
            loans::step_succeeded(
                conn,
                task.loan_id,
                &context.pool,
                &record,
                output,
                site_offsets,
                now,
            )
            .await
        } else {
            let why = format!("{} could not do it: {note}", admin.name);
            match phase {
                Phase::Provision => {
                    loans::provision_failed(conn, task.loan_id, &record, &why, now).await
                }
                Phase::Reclaim => {
                    loans::cleanup_failed(conn, task.loan_id, &record, &why, now).await
                }
                Phase::Suspend | Phase::Resume => Ok(()),
            }
        }
    })
    .await
}

/// Closes the loan's open tasks when the loan is called off.
pub async fn cancel_for_loan(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        admin_tasks::table
            .filter(admin_tasks::loan_id.eq(loan_id))
            .filter(admin_tasks::state.eq(TaskState::Open)),
    )
    .set((
        admin_tasks::state.eq(TaskState::Cancelled),
        admin_tasks::closed_at.eq(now),
    ))
    .execute(conn)
    .await?)
}
