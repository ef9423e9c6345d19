//! The plan a loan's step jobs follow, and what each attempt records: which step runs next (or
//! waits, or is an admin's to do), its start, its failures and its success. The last step of a
//! phase hands over to `phases`.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::phases::{cleanup_failed, finish_phase, provision_failed};
use super::{lock, LoanError};
use crate::server::events::{self, Event};
use crate::server::models::{Loan, Machine, Pool, User};
use crate::server::queue::{self, Job};
use crate::server::{machines, pools, users, DbError};
use crate::types::{DriverKind, EventKind, JobKind, LoanId, LoanState, MachineId, Phase, Step};

/// Which step of which list is running.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub phase: Phase,
    /// Zero-based position in the pool's list.
    pub index: u32,
    pub total: u32,
    pub name: String,
    /// The machine the step acts on when it is not the loan's (the old machine of a moved loan).
    pub machine_id: Option<MachineId>,
    /// This run's attempt, from 1.
    pub attempt: i32,
}

impl StepRecord {
    fn title(&self) -> String {
        format!("Step {} of {}: {}", self.index + 1, self.total, self.name)
    }

    fn details(&self) -> serde_json::Value {
        json!({
            "phase": self.phase.as_str(),
            "step": self.index,
            "total": self.total,
            "name": self.name,
            "attempt": self.attempt,
        })
    }
}

/// Everything a driver needs to run one step.
#[derive(Clone, Debug)]
pub struct StepRun {
    pub step: Step,
    pub record: StepRecord,
    pub loan: Loan,
    pub pool: Pool,
    pub machine: Machine,
    pub borrower: Option<User>,
}

/// What a step job does now.
#[derive(Clone, Debug)]
pub enum StepPlan {
    /// The loan no longer wants this phase (cancelled, restored or reclaimed meanwhile):
    /// whoever changed the loan queued what comes next.
    NotWanted,
    /// Another step still runs on the machine; clean it only after that one ends.
    WaitForOtherSteps,
    /// No step is left: the phase is over (`finish_phase`).
    PhaseDone { pool: Box<Pool> },
    /// A step no script can do: an admin task opens (`tasks::open`) and the loan waits.
    Manual {
        record: StepRecord,
        machine_id: MachineId,
        instructions: String,
    },
    /// Run the step through its driver.
    Run(Box<StepRun>),
}

/// Whether the loan still wants the steps of `phase` (it may have been cancelled, restored or
/// reclaimed while a step ran). Clean-up always runs to the end.
pub fn phase_wanted(phase: Phase, state: LoanState) -> bool {
    match phase {
        Phase::Provision => state == LoanState::Provisioning,
        Phase::Suspend => state == LoanState::Expired,
        Phase::Resume => state == LoanState::Ready,
        Phase::Reclaim => true,
    }
}

/// The other step kinds that may still run on a machine being cleaned.
const OTHER_STEPS: [JobKind; 3] = [
    JobKind::ProvisionStep,
    JobKind::SuspendStep,
    JobKind::ResumeStep,
];

/// Decides what step `index` of `phase` means for the loan now.
pub async fn next_step(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    phase: Phase,
    index: u32,
    machine: Option<MachineId>,
    attempt: i32,
    now: DateTime<Utc>,
) -> Result<StepPlan, LoanError> {
    let loan = super::views::find(conn, loan_id).await?;
    let pool = pools::find(conn, loan.pool_id).await?;
    let steps = steps_of(&pool, phase)?;
    if !phase_wanted(phase, loan.state) {
        return Ok(StepPlan::NotWanted);
    }
    if phase == Phase::Reclaim && queue::is_running(conn, loan_id, &OTHER_STEPS, now).await? {
        return Ok(StepPlan::WaitForOtherSteps);
    }
    let Some(step) = steps.get(index as usize).cloned() else {
        return Ok(StepPlan::PhaseDone {
            pool: Box::new(pool),
        });
    };
    let record = StepRecord {
        phase,
        index,
        total: u32::try_from(steps.len()).unwrap_or(u32::MAX),
        name: step.name.clone(),
        machine_id: machine,
        attempt,
    };
    let machine_id = machine
        .or(loan.machine_id)
        .ok_or(LoanError::NoMachine(loan_id))?;
    if step.driver == DriverKind::Manual {
        return Ok(StepPlan::Manual {
            record,
            machine_id,
            instructions: step.instructions.clone().unwrap_or_default(),
        });
    }
    let machine = machines::find(conn, machine_id).await?;
    let borrower = users::find(conn, loan.user_id).await?;
    Ok(StepPlan::Run(Box::new(StepRun {
        step,
        record,
        loan,
        pool,
        machine,
        borrower,
    })))
}

fn steps_of(pool: &Pool, phase: Phase) -> Result<Vec<Step>, LoanError> {
    pool.steps(phase).map_err(|e| LoanError::BadSteps {
        pool: pool.slug.clone(),
        message: e.to_string(),
    })
}

/// Puts "step started" on the timeline, so the page can show what runs now.
pub async fn record_step_started(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    step: &StepRecord,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let retry = if step.attempt > 1 {
        format!(" (attempt {})", step.attempt)
    } else {
        String::new()
    };
    events::record(
        conn,
        loan_id,
        now,
        Event::new(
            EventKind::StepStarted,
            format!("{}: started{retry}", step.title()),
        )
        .details(step.details()),
    )
    .await
}

/// One failed attempt of a step job.
#[derive(Clone, Debug)]
pub struct StepFailure {
    pub message: String,
    pub output: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    /// When it runs again; `None` when this was the last attempt.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Puts a failed attempt and its output on the timeline; after the last one, fails the loan
/// (provisioning) or marks the machine broken (clean-up).
pub async fn record_step_attempt_failed(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    phase: Phase,
    index: u32,
    machine: Option<MachineId>,
    failure: &StepFailure,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = super::views::find(conn, loan_id).await?;
    let pool = pools::find(conn, loan.pool_id).await?;
    let steps = pool.steps(phase).unwrap_or_default();
    let record = StepRecord {
        phase,
        index,
        total: u32::try_from(steps.len()).unwrap_or(u32::MAX),
        name: steps
            .get(index as usize)
            .map_or_else(|| format!("step {}", index + 1), |s| s.name.clone()),
        machine_id: machine,
        attempt: failure.attempt,
    };
    let next = match failure.retry_at {
        Some(at) => format!("; trying again at {} UTC", at.format("%H:%M:%S")),
        None => "; giving up".to_owned(),
    };
    let mut event = Event::new(
        EventKind::StepFailed,
        format!(
            "{}: failed (attempt {} of {}): {}{next}",
            record.title(),
            failure.attempt,
            failure.max_attempts,
            failure.message
        ),
    )
    .details(record.details());
    if let Some(output) = &failure.output {
        event = event.output(output.clone());
    }
    events::record(conn, loan_id, now, event).await?;
    if failure.retry_at.is_none() {
        match phase {
            Phase::Provision => {
                provision_failed(conn, loan_id, &record, &failure.message, now).await?
            }
            Phase::Reclaim => cleanup_failed(conn, loan_id, &record, &failure.message, now).await?,
            // Cutting or restoring access gave up: the timeline says so, and the clean-up at
            // the end of the grace period (or the next deadline) runs every step again.
            Phase::Suspend | Phase::Resume => {}
        }
    }
    Ok(())
}

/// Records a step's success and moves on: the next step's job, or the end of the phase.
pub async fn step_succeeded(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    step: &StepRecord,
    output: String,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(EventKind::StepSucceeded, format!("{}: done", step.title()))
            .output(output)
            .details(step.details()),
    )
    .await?;
    let next = step.index + 1;
    if !phase_wanted(step.phase, loan.state) {
        // Cancelled (or restored, or reclaimed) while the step ran; whoever changed the loan
        // queued what comes next.
        Ok(())
    } else if next < step.total {
        let job = match (step.phase, step.machine_id) {
            (Phase::Reclaim, Some(machine)) => Job::ReclaimStep {
                loan_id,
                step: next,
                machine_id: Some(machine),
            },
            (phase, _) => Job::step(phase, loan_id, next),
        };
        queue::enqueue(conn, &job, now, now).await?;
        Ok(())
    } else {
        finish_phase(
            conn,
            loan.id,
            pool,
            step.phase,
            step.machine_id,
            site_offsets,
            now,
        )
        .await
    }
}
