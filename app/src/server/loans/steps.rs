//! The state changes the scheduler makes as a pool's steps run: each step's start, failure and
//! success go on the timeline, and the last step of a phase moves the loan and its machine on.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::{lock, set_state, start_cleanup, LoanError};
use crate::rules::lifecycle::{self as rules, LoanAction};
use crate::server::events::{self, Event, EventKind};
use crate::server::models::{Loan, Pool};
use crate::server::queue::{self, Job};
use crate::server::schema::loans;
use crate::server::{lifecycle, machines, mail, waiting, DbError};
use crate::types::{LoanState, MachineState, MailKind, Phase};

/// Which step of which list is running.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub phase: Phase,
    /// Zero-based position in the pool's list.
    pub index: u32,
    pub total: u32,
    pub name: String,
    /// The machine the step acts on when it is not the loan's (the old machine of a moved loan).
    pub machine_id: Option<i64>,
}

impl StepRecord {
    fn title(&self) -> String {
        format!("Step {} of {}: {}", self.index + 1, self.total, self.name)
    }

    fn details(&self, attempt: i32) -> serde_json::Value {
        json!({
            "phase": self.phase.as_str(),
            "step": self.index,
            "total": self.total,
            "name": self.name,
            "attempt": attempt,
        })
    }
}

/// Puts "step started" on the timeline, so the page can show what runs now.
pub async fn record_step_started(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    step: &StepRecord,
    attempt: i32,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let retry = if attempt > 1 {
        format!(" (attempt {attempt})")
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
        .details(step.details(attempt)),
    )
    .await
}

/// Puts a failed attempt and its output on the timeline; `retry_at` is when it runs again.
#[allow(clippy::too_many_arguments)]
pub async fn record_step_attempt_failed(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    step: &StepRecord,
    error: &str,
    output: Option<String>,
    attempt: i32,
    max_attempts: i32,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let next = match retry_at {
        Some(at) => format!("; trying again at {} UTC", at.format("%H:%M:%S")),
        None => "; giving up".to_owned(),
    };
    let mut event = Event::new(
        EventKind::StepFailed,
        format!(
            "{}: failed (attempt {attempt} of {max_attempts}): {error}{next}",
            step.title()
        ),
    )
    .details(step.details(attempt));
    if let Some(output) = output {
        event = event.output(output);
    }
    events::record(conn, loan_id, now, event).await
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

/// Records a step's success and moves on: the next step's job, or the end of the phase.
#[allow(clippy::too_many_arguments)]
pub async fn step_succeeded(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    pool: &Pool,
    step: &StepRecord,
    output: String,
    attempt: i32,
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
            .details(step.details(attempt)),
    )
    .await?;
    let next = step.index + 1;
    if !phase_wanted(step.phase, loan.state()) {
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

/// The phase's steps are all done (or there were none): the loan is ready, or the machine is
/// clean and back in the pool.
#[allow(clippy::too_many_arguments)]
pub async fn finish_phase(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    pool: &Pool,
    phase: Phase,
    machine_id: Option<i64>,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    if !phase_wanted(phase, loan.state()) {
        return Ok(());
    }
    match phase {
        Phase::Provision => mark_ready(conn, &loan, pool, site_offsets, now).await,
        Phase::Reclaim => finish_cleanup(conn, &loan, pool, machine_id, now).await,
        Phase::Suspend => {
            let event = Event::new(
                EventKind::AccessRevoked,
                "Access revoked; the machine waits for the end of the grace period",
            );
            Ok(events::record(conn, loan.id, now, event).await?)
        }
        Phase::Resume => {
            let event = Event::new(EventKind::AccessRestored, "Access restored");
            Ok(events::record(conn, loan.id, now, event).await?)
        }
    }
}

async fn mark_ready(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    pool: &Pool,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let ready = rules::next(loan.state(), LoanAction::MarkReady)?;
    let Some(machine_id) = loan.machine_id else {
        return Err(LoanError::NotFound(loan.id));
    };
    let machine = machines::find(conn, machine_id).await?;
    // A loan moved to another machine keeps its deadline.
    let expires_at = loan
        .expires_at
        .unwrap_or_else(|| now + Duration::hours(i64::from(loan.duration_hours)));
    diesel::update(loans::table.find(loan.id))
        .set((
            loans::state.eq(ready.as_str()),
            loans::ready_at.eq(now),
            loans::expires_at.eq(expires_at),
            loans::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    machines::set_state(conn, machine_id, MachineState::Loaned, None, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::Ready,
            format!(
                "Ready: connect with ssh {}@{}. The loan ends {} UTC.",
                pool.login_user,
                machine.fqdn,
                expires_at.format("%Y-%m-%d %H:%M")
            ),
        ),
    )
    .await?;
    lifecycle::arm_deadline(conn, loan.id, pool, expires_at, site_offsets, now).await?;
    mail::send(conn, MailKind::Ready, loan.id, None, now).await?;
    Ok(())
}

async fn finish_cleanup(
    conn: &mut AsyncPgConnection,
    loan: &Loan,
    pool: &Pool,
    machine_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let Some(machine_id) = machine_id.or(loan.machine_id) else {
        return Ok(());
    };
    // The old machine of a moved loan: clean it, leave the loan alone.
    let moved_away = loan.machine_id != Some(machine_id);
    let machine_state = machines::mark_clean(conn, machine_id, &pool.image_label(), now).await?;
    if moved_away {
        events::record(
            conn,
            loan.id,
            now,
            Event::new(
                EventKind::CleanupFinished,
                "The machine the loan moved away from was cleaned",
            ),
        )
        .await?;
        if machine_state == MachineState::Available {
            waiting::fill(conn, pool.id, now).await?;
        }
        return Ok(());
    }
    if let Ok(to) = rules::next(loan.state(), LoanAction::FinishCleanup) {
        set_state(conn, loan.id, to, now).await?;
        if to == LoanState::Reclaimed {
            mail::send(conn, MailKind::Reclaimed, loan.id, None, now).await?;
        }
    }
    let whereto = match machine_state {
        MachineState::Available => "back in the pool".to_owned(),
        other => format!("set to {} as an admin asked", other.label().to_lowercase()),
    };
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::CleanupFinished,
            format!(
                "Machine cleaned, re-imaged to {} and {whereto}",
                pool.image_label()
            ),
        ),
    )
    .await?;
    // The first loan waiting for this pool gets the machine now.
    if machine_state == MachineState::Available {
        waiting::fill(conn, pool.id, now).await?;
    }
    Ok(())
}

/// Provisioning gave up: the loan fails and whatever was done to the machine is cleaned up.
pub async fn provision_failed(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    step: &StepRecord,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    if loan.state() != LoanState::Provisioning {
        return Ok(());
    }
    let failed = rules::next(loan.state(), LoanAction::Fail)?;
    set_state(conn, loan.id, failed, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::Failed,
            format!(
                "Provisioning failed at \"{}\": {error}. The machine is being cleaned up; please request again.",
                step.name
            ),
        ),
    )
    .await?;
    mail::send(conn, MailKind::ProvisioningFailed, loan.id, None, now).await?;
    start_cleanup(conn, &loan, now).await
}

/// Clean-up gave up: the machine is marked broken (admins look at it) and the loan ends.
pub async fn cleanup_failed(
    conn: &mut AsyncPgConnection,
    loan_id: i64,
    step: &StepRecord,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    let Some(machine_id) = step.machine_id.or(loan.machine_id) else {
        return Ok(());
    };
    let moved_away = loan.machine_id != Some(machine_id);
    let reason = format!(
        "Clean-up step \"{}\" failed after loan {}: {error}",
        step.name, loan.id
    );
    machines::set_state(conn, machine_id, MachineState::Broken, Some(&reason), now).await?;
    if !moved_away {
        if let Ok(to) = rules::next(loan.state(), LoanAction::FinishCleanup) {
            set_state(conn, loan.id, to, now).await?;
        }
    }
    mail::send(conn, MailKind::CleanupFailed, loan.id, None, now).await?;
    events::record(
        conn,
        loan.id,
        now,
        Event::new(
            EventKind::MachineBroken,
            format!(
                "Clean-up failed at \"{}\": {error}. The machine was marked broken and taken out of the pool for an admin to look at.",
                step.name
            ),
        ),
    )
    .await?;
    Ok(())
}
