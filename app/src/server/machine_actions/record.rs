//! The record of one machine action as its job runs it: found, started, finished (with the
//! outcome on a disturbed loan's timeline).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::disturbs;
use crate::server::events::{self, Event};
use crate::server::schema::machine_actions;
use crate::server::DbError;
use crate::types::{
    Action, ActionId, ActionRow, ActionState, DriverKind, EventKind, LoanId, MachineId,
};

/// The action record a job runs.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = machine_actions, check_for_backend(diesel::pg::Pg))]
pub struct ActionRecord {
    pub id: ActionId,
    pub machine_id: MachineId,
    pub action: String,
    pub driver: String,
    pub loan_id: Option<LoanId>,
    pub requested_as: String,
    pub reason: Option<String>,
    pub state: String,
    pub output: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl ActionRecord {
    pub fn row(&self) -> ActionRow {
        ActionRow {
            id: self.id,
            action: Action::parse(&self.action).unwrap_or(Action::Status),
            driver: DriverKind::parse(&self.driver).unwrap_or(DriverKind::Auto),
            requested_as: self.requested_as.clone(),
            reason: self.reason.clone(),
            state: ActionState::parse(&self.state).unwrap_or(ActionState::Failed),
            output: self.output.clone(),
            error: self.error.clone(),
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: ActionId,
) -> Result<Option<ActionRecord>, DbError> {
    Ok(machine_actions::table
        .find(id)
        .select(ActionRecord::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Marks a queued action running (or one whose worker died while running it); `None` when it
/// has finished already.
pub async fn start(
    conn: &mut AsyncPgConnection,
    id: ActionId,
    now: DateTime<Utc>,
) -> Result<Option<ActionRecord>, DbError> {
    Ok(diesel::update(
        machine_actions::table.find(id).filter(
            machine_actions::state
                .eq_any([ActionState::Queued.as_str(), ActionState::Running.as_str()]),
        ),
    )
    .set((
        machine_actions::state.eq(ActionState::Running.as_str()),
        machine_actions::started_at.eq(now),
    ))
    .returning(ActionRecord::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// Records how an action ended; a loan it disturbed gets the outcome on its timeline.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    record: &ActionRecord,
    outcome: Result<String, (String, Option<String>)>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let (state, output, error) = match outcome {
        Ok(output) => (ActionState::Succeeded, output, None),
        Err((error, output)) => (ActionState::Failed, output.unwrap_or_default(), Some(error)),
    };
    diesel::update(machine_actions::table.find(record.id))
        .set((
            machine_actions::state.eq(state.as_str()),
            machine_actions::output.eq(&output),
            machine_actions::error.eq(&error),
            machine_actions::finished_at.eq(now),
        ))
        .execute(conn)
        .await?;
    let action = Action::parse(&record.action).unwrap_or(Action::Status);
    if let (Some(loan_id), true) = (record.loan_id, disturbs(action)) {
        let message = match &error {
            None => format!(
                "{} of this machine (asked by {}): done.",
                action.label(),
                record.requested_as
            ),
            Some(e) => format!(
                "{} of this machine (asked by {}) failed: {e}",
                action.label(),
                record.requested_as
            ),
        };
        events::record(
            conn,
            loan_id,
            now,
            Event::new(EventKind::AdminActionDone, message).output(output),
        )
        .await?;
    }
    Ok(())
}
