//! The loan history: one append-only row per thing that happened, written in the transaction
//! of the change it records.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::NewLoanEvent;
use super::schema::loan_events;
use super::DbError;

/// What a timeline entry records; the page picks its icon from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Requested,
    Approved,
    MachineAssigned,
    StepStarted,
    StepSucceeded,
    StepFailed,
    Ready,
    ReturnRequested,
    Cancelled,
    Failed,
    CleanupFinished,
    MachineBroken,
    Extended,
    Expired,
    ReclaimStarted,
    Restored,
    AccessRevoked,
    AccessRestored,
    LinkUsed,
    AwaitingApproval,
    Waiting,
    Denied,
    Shortened,
    WaitingForAdmin,
    TaskDone,
    Moved,
    ForcedReturn,
    Override,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::MachineAssigned => "machine_assigned",
            Self::StepStarted => "step_started",
            Self::StepSucceeded => "step_succeeded",
            Self::StepFailed => "step_failed",
            Self::Ready => "ready",
            Self::ReturnRequested => "return_requested",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::CleanupFinished => "cleanup_finished",
            Self::MachineBroken => "machine_broken",
            Self::Extended => "extended",
            Self::Expired => "expired",
            Self::ReclaimStarted => "reclaim_started",
            Self::Restored => "restored",
            Self::AccessRevoked => "access_revoked",
            Self::AccessRestored => "access_restored",
            Self::LinkUsed => "link_used",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Waiting => "waiting",
            Self::Denied => "denied",
            Self::Shortened => "shortened",
            Self::WaitingForAdmin => "waiting_for_admin",
            Self::TaskDone => "task_done",
            Self::Moved => "moved",
            Self::ForcedReturn => "forced_return",
            Self::Override => "override",
        }
    }
}

/// One entry to append.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub message: String,
    /// `None` when the scheduler acted.
    pub actor_id: Option<i64>,
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

    pub fn by(mut self, actor_id: i64) -> Self {
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
    loan_id: i64,
    now: DateTime<Utc>,
    event: Event,
) -> Result<(), DbError> {
    diesel::insert_into(loan_events::table)
        .values(NewLoanEvent {
            loan_id,
            at: now,
            actor_id: event.actor_id,
            kind: event.kind.as_str().to_owned(),
            message: event.message,
            output: event.output,
            details: event.details,
        })
        .execute(conn)
        .await?;
    Ok(())
}
