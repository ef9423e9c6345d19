//! Asking for a machine. The pool's policy decides: who may borrow, how many loans one person may
//! hold, whether an admin must approve. An approved loan gets a free machine in the same
//! transaction, or waits first-come-first-served when the requester chose to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use super::form::{check, LoanRequest};
use super::{lock, set_state, LoanError};
use crate::error::FieldError;
use crate::rules::lifecycle::{self, LoanAction};
use crate::rules::policy;
use crate::server::events::{self, Event};
use crate::server::models::{Machine, NewLoan, Pool, User};
use crate::server::queue::{self, Job};
use crate::server::schema::{loans, users};
use crate::server::{audit, machines, mail, policies, pools, waiting, DbError};
use crate::types::{
    ApprovalMode, EventKind, LoanId, LoanState, MachineState, MailKind, Phase, PoolId, UserId,
};

/// Requests a loan. What happens next is the pool's policy: it waits for an admin, or it is
/// approved and gets a free machine in the same transaction, or (when the requester chose to)
/// waits in line for one. With no free machine and no wish to wait, nothing is stored.
pub async fn request(
    conn: &mut AsyncPgConnection,
    user: &User,
    input: &LoanRequest,
    now: DateTime<Utc>,
) -> Result<LoanId, LoanError> {
    // Asked together (pipelined: one round trip), as are the statements below marked so.
    let (pool, site) = futures::try_join!(
        pools::find_by_slug(conn, input.pool.trim()),
        policies::site_defaults(conn),
    )?;
    let pool = pool.filter(|p| p.retired_at.is_none()).ok_or_else(|| {
        LoanError::Invalid(vec![FieldError::new(
            "pool",
            "Choose a machine type from the catalogue.",
        )])
    })?;
    let policy = policy::resolve(&site, &pool.overrides());
    let checked = check(&policy, input)?;
    let automatic = policy.approval_mode == ApprovalMode::Automatic;

    conn.transaction(async |conn| {
        // Pipelined, as the other batches below; PostgreSQL runs them in this order, so the
        // requester's row is locked (one request at a time per person) before their loans are
        // counted, and the caps hold under concurrent requests. On the way: a free machine is
        // claimed (a refusal below rolls the claim back; a request for the same pool that ran
        // meanwhile skipped it and may have joined the line: the waiting sweep serves it within
        // minutes), the loan's id is drawn, and the place at the end of the line is counted.
        let shared = &*conn;
        let ((), groups, active, free, loan_id, place) = futures::try_join!(
            audit::stamp(shared, Some(user), now),
            lock_requester(shared, user.id),
            active_pools(shared, user.id),
            async {
                match automatic {
                    true => machines::claim_free(shared, pool.id).await,
                    false => Ok(None),
                }
            },
            next_loan_id(shared),
            async {
                match automatic && input.wait {
                    true => waiting::place_at_end(shared, pool.id, now).await,
                    false => Ok(0),
                }
            },
        )?;
        let in_pool = active.iter().filter(|p| **p == pool.id).count() as i64;
        policy::may_request(&policy, &groups, active.len() as i64, in_pool)
            .map_err(LoanError::Refused)?;

        // Where the loan starts, decided before it is written so that its row is written once:
        // waiting for an admin, or approved and then on a free machine or in the line.
        let start = match policy.approval_mode {
            ApprovalMode::Manual => Start::Approval,
            ApprovalMode::Automatic => match free {
                Some(machine) => Start::Machine(Box::new(machine)),
                None if input.wait => Start::Line,
                None => {
                    return Err(LoanError::PoolExhausted {
                        pool: pool.name.clone(),
                    })
                }
            },
        };
        let state = start.state()?;
        let row = NewLoan {
            id: loan_id,
            user_id: user.id,
            pool_id: pool.id,
            machine_id: match &start {
                Start::Machine(machine) => Some(machine.id),
                _ => None,
            },
            state,
            reason: checked.reason.clone(),
            bug_ref: checked.bug_ref.clone(),
            duration_hours: checked.duration_hours,
            ssh_public_key: checked.ssh_key_line.clone(),
            approved_at: (state != LoanState::Requested).then_some(now),
            requested_at: now,
            updated_at: now,
        };
        let duration = policy::format_hours(checked.duration_hours);
        let mut history = vec![Event::new(
            EventKind::Requested,
            format!("{} requested {} for {duration}", user.name, pool.name),
        )
        .by(user.id)];
        // The loan, its history and the rest go together (the loan first: the rest refer to it).
        let shared = &*conn;
        match &start {
            Start::Approval => {
                history.push(Event::new(
                    EventKind::AwaitingApproval,
                    "This pool needs an admin's approval; the admins have been told",
                ));
                futures::try_join!(
                    insert_loan(shared, &row),
                    events::record_all(shared, loan_id, now, history),
                )?;
            }
            Start::Machine(machine) => {
                history.extend([approved_event(None), assigned_event(machine, None)]);
                futures::try_join!(
                    insert_loan(shared, &row),
                    events::record_all(shared, loan_id, now, history),
                    hand_over(shared, loan_id, machine, now),
                )?;
            }
            Start::Line => {
                history.extend([approved_event(None), waiting_event(&pool, place)]);
                futures::try_join!(
                    insert_loan(shared, &row),
                    events::record_all(shared, loan_id, now, history),
                )?;
            }
        }
        if let Start::Approval = start {
            mail::send_to_each_admin(conn, MailKind::NeedsApproval, loan_id, None, now).await?;
        }
        Ok(loan_id)
    })
    .await
}

diesel::define_sql_function! {
    /// PostgreSQL's `nextval`: the next value of a sequence.
    fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

/// Draws the id of a new loan, so that the rows that refer to it can be sent with it.
async fn next_loan_id(conn: &AsyncPgConnection) -> Result<LoanId, DbError> {
    let id: i64 = diesel::select(nextval("loans_id_seq"))
        .get_result(&mut &*conn)
        .await?;
    Ok(LoanId(id))
}

/// Writes a new loan.
async fn insert_loan(conn: &AsyncPgConnection, row: &NewLoan) -> Result<(), DbError> {
    diesel::insert_into(loans::table)
        .values(row)
        .execute(&mut &*conn)
        .await?;
    Ok(())
}

/// Approves a requested loan (by `approver`, or by the pool's policy with `None`) and gives it a
/// free machine, or puts it in the pool's waiting line when `wait`; otherwise refuses.
pub(super) async fn approve_and_assign(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    approver: Option<&User>,
    wait: bool,
    now: DateTime<Utc>,
) -> Result<LoanState, LoanError> {
    let approved = lifecycle::next(LoanState::Requested, LoanAction::Approve)?;
    diesel::update(loans::table.find(loan_id))
        .set((
            loans::state.eq(approved),
            loans::approved_at.eq(now),
            loans::approved_by.eq(approver.map(|a| a.id)),
            loans::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    events::record(conn, loan_id, now, approved_event(approver)).await?;
    assign(conn, loan_id, pool, wait, now).await
}

/// The history's line for an approval.
fn approved_event(approver: Option<&User>) -> Event {
    match approver {
        None => Event::new(
            EventKind::Approved,
            "Approved automatically by the pool's policy",
        ),
        Some(admin) => {
            Event::new(EventKind::Approved, format!("Approved by {}", admin.name)).by(admin.id)
        }
    }
}

/// Gives a loan approved `now` a free machine, or puts it in the pool's waiting line when
/// `wait`; otherwise refuses.
async fn assign(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    pool: &Pool,
    wait: bool,
    now: DateTime<Utc>,
) -> Result<LoanState, LoanError> {
    match machines::claim_free(conn, pool.id).await? {
        Some(machine) => {
            start_provisioning(conn, loan_id, &machine, now).await?;
            Ok(LoanState::Provisioning)
        }
        None if wait => {
            let waiting = lifecycle::next(LoanState::Approved, LoanAction::Wait)?;
            set_state(conn, loan_id, waiting, now).await?;
            let place = waiting::place(conn, pool.id, now, loan_id).await?;
            events::record(conn, loan_id, now, waiting_event(pool, place)).await?;
            Ok(LoanState::Waiting)
        }
        None => Err(LoanError::PoolExhausted {
            pool: pool.name.clone(),
        }),
    }
}

/// Gives an approved (or waiting) loan `machine`, which the caller has locked, and queues the
/// first provisioning step.
pub(crate) async fn start_provisioning(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    machine: &Machine,
    now: DateTime<Utc>,
) -> Result<(), LoanError> {
    let loan = lock(conn, loan_id).await?;
    let to = lifecycle::next(loan.state, LoanAction::StartProvisioning)?;
    diesel::update(loans::table.find(loan_id))
        .set((
            loans::state.eq(to),
            loans::machine_id.eq(machine.id),
            loans::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    let waited = loan.approved_at.map(|at| now - at);
    events::record(conn, loan_id, now, assigned_event(machine, waited)).await?;
    Ok(hand_over(conn, loan_id, machine, now).await?)
}

/// The machine side of giving `machine` to a loan that already names it: the machine starts
/// provisioning and the first step is queued.
async fn hand_over(
    conn: &AsyncPgConnection,
    loan_id: LoanId,
    machine: &Machine,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let first_step = Job::step(Phase::Provision, loan_id, 0);
    // Pipelined.
    futures::try_join!(
        machines::set_state(conn, machine.id, MachineState::Provisioning, None, now),
        queue::enqueue(conn, &first_step, now, now),
    )?;
    Ok(())
}

/// Locks the requester's row for the rest of the transaction; their groups.
async fn lock_requester(conn: &AsyncPgConnection, user: UserId) -> Result<Vec<String>, DbError> {
    let groups: Vec<Option<String>> = users::table
        .find(user)
        // Not FOR UPDATE: the key stays, so rows that refer to the person are not held up.
        .for_no_key_update()
        .select(users::groups)
        .first(&mut &*conn)
        .await?;
    Ok(groups.into_iter().flatten().collect())
}

/// The pools of the requester's active loans, one entry per loan.
async fn active_pools(conn: &AsyncPgConnection, user: UserId) -> Result<Vec<PoolId>, DbError> {
    Ok(loans::table
        .filter(loans::user_id.eq(user))
        .filter(loans::state.eq_any(LoanState::ACTIVE))
        .select(loans::pool_id)
        .load(&mut &*conn)
        .await?)
}

/// Where a new loan starts.
enum Start {
    /// Waiting for an admin's approval.
    Approval,
    /// Approved, on this free machine (locked by this transaction).
    Machine(Box<Machine>),
    /// Approved, in the pool's waiting line.
    Line,
}

impl Start {
    /// The loan's state, reached from `Requested` by the lifecycle's own steps.
    fn state(&self) -> Result<LoanState, LoanError> {
        let requested = LoanState::Requested;
        Ok(match self {
            Start::Approval => requested,
            Start::Machine(_) => lifecycle::next(
                lifecycle::next(requested, LoanAction::Approve)?,
                LoanAction::StartProvisioning,
            )?,
            Start::Line => lifecycle::next(
                lifecycle::next(requested, LoanAction::Approve)?,
                LoanAction::Wait,
            )?,
        })
    }
}

/// The history's line for a machine given to a loan that waited `waited` since its approval.
fn assigned_event(machine: &Machine, waited: Option<chrono::TimeDelta>) -> Event {
    let waited = waited
        .filter(|w| w.num_seconds() >= 60)
        .map(|w| format!(" after waiting {} min", w.num_minutes()))
        .unwrap_or_default();
    Event::new(
        EventKind::MachineAssigned,
        format!("Machine {} assigned{waited}", machine.fqdn),
    )
    .details(json!({ "machine_id": machine.id, "fqdn": machine.fqdn }))
}

/// The history's line for a loan that joined `pool`'s waiting line at `place`.
fn waiting_event(pool: &Pool, place: i64) -> Event {
    Event::new(
        EventKind::Waiting,
        format!("No {} machine is free: waiting in line, #{place}. The first one that comes back is yours.", pool.name),
    )
}
