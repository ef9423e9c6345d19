//! The loan history: one append-only row per thing that happened, written in the transaction
//! of the change it records.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::NewLoanEvent;
use super::schema::loan_events;
use super::DbError;
use crate::types::{EventKind, LoanId, UserId};

/// One entry to append.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub message: String,
    /// `None` when the scheduler acted.
    pub actor_id: Option<UserId>,
    pub output: Option<String>,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            actor_id: None,
            output: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn by(mut self, actor_id: UserId) -> Self {
        self.actor_id = Some(actor_id);
        self
    }

    pub fn output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Appends `event` to the loan's history.
pub async fn record(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), DbError> {
    record_all(conn, loan_id, now, vec![event]).await
}

/// Appends `events`, in order, to the loan's history in one statement.
pub async fn record_all(
    conn: &AsyncPgConnection,
    loan_id: LoanId,
    now: DateTime<Utc>,
    events: Vec<Event>,
) -> Result<(), DbError> {
    let rows: Vec<NewLoanEvent> = events
        .into_iter()
        .map(|event| NewLoanEvent {
            loan_id,
            at: now,
            actor_id: event.actor_id,
            kind: event.kind,
            message: event.message,
            output: event.output,
            details: event.details,
        })
        .collect();
    diesel::insert_into(loan_events::table)
        .values(&rows)
        .execute(&mut &*conn)
        .await?;
    Ok(())
}
