//! Actions on a machine outside a loan's steps (status, power on/off, reboot, re-image), asked
//! for by an admin on the machine page or by `loaner action` on the command line. Both ask
//! here: the action is checked against the machine's drivers, recorded, audited with who asked,
//! and queued as a `machine_action` job; an action that disturbs a borrower needs a reason,
//! which goes on the loan's timeline and to the borrower by email.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

mod record;

pub use record::{find, finish, start, ActionRecord};

use super::models::{Machine, Pool, User};
use super::queue::{self, Job};
use super::schema::{loans, machine_actions, machines, pools};
use super::{audit, events, mail, DbError};
use crate::rules::validate;
use crate::server::events::Event;
use crate::types::{
    Action, ActionId, ActionState, DriverKind, EventKind, LoanId, LoanState, MachineActions,
    MachineDrivers, MachineId, MachineState, MailKind,
};

/// Who asks for an action.
pub enum Requester<'a> {
    Admin(&'a User),
    /// `loaner action` on the command line, as `command line (user@host)`.
    CommandLine(String),
}

impl Requester<'_> {
    fn name(&self) -> String {
        match self {
            Requester::Admin(user) => user.name.clone(),
            Requester::CommandLine(who) => who.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("There is no machine {0}.")]
    NoMachine(String),
    /// The action cannot run (the field at fault, and why).
    #[error("{1}")]
    Refused(&'static str, String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ActionError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

/// Actions that take the machine away from whoever uses it.
fn disturbs(action: Action) -> bool {
    matches!(action, Action::PowerOff | Action::Reboot | Action::Reimage)
}

/// The actions a machine page offers, in this order.
const OFFERED: [Action; 5] = [
    Action::Status,
    Action::PowerOn,
    Action::PowerOff,
    Action::Reboot,
    Action::Reimage,
];

/// The driver `action` goes through on a machine with `drivers`: the BMC or the cloud before
/// the PDU or ssh; a reboot tries each way in turn (`auto`). `Err` says why none can.
pub fn way(action: Action, drivers: &MachineDrivers) -> Result<DriverKind, String> {
    use DriverKind::*;
    let candidates: &[DriverKind] = match action {
        Action::Status => &[Ipmi, AwsEc2, SnmpPdu, Ssh],
        Action::PowerOn => &[Ipmi, AwsEc2, SnmpPdu],
        Action::PowerOff => &[Ipmi, AwsEc2, SnmpPdu, Ssh],
        Action::Reboot => {
            return if drivers.reboot_ways().is_empty() {
                Err("Nothing can reboot this machine: its driver settings configure none of ssh, ipmi, snmp_pdu, aws_ec2.".into())
            } else {
                Ok(Auto)
            };
        }
        Action::Reimage => {
            let checked = drivers
                .ssh
                .as_ref()
                .is_some_and(|s| s.image_command.is_some());
            if drivers.has(AwsEc2) {
                return Ok(AwsEc2);
            }
            return if drivers.has(Ipmi) && checked {
                Ok(Ipmi)
            } else if drivers.has(Ipmi) {
                Err("A network re-image through IPMI needs ssh.image_command in the pool's settings, to confirm the image.".into())
            } else {
                Err("Only the aws_ec2 and ipmi drivers re-image; this machine has neither.".into())
            };
        }
        Action::GrantAccess | Action::RevokeAccess => {
            return Err("Access is granted and revoked by a loan's own steps.".into())
        }
    };
    candidates
        .iter()
        .copied()
        .find(|k| drivers.has(*k))
        .ok_or_else(|| {
            format!(
                "No driver of this machine can {}; configure ipmi, aws_ec2 or snmp_pdu in its driver settings.",
                action.label().to_lowercase()
            )
        })
}

/// The loan holding `machine`, if any.
async fn holding_loan(
    conn: &mut AsyncPgConnection,
    machine: MachineId,
) -> Result<Option<LoanId>, DbError> {
    Ok(loans::table
        .filter(loans::machine_id.eq(machine))
        .filter(loans::state.eq_any(LoanState::HOLDING_MACHINE))
        .select(loans::id)
        .first(conn)
        .await
        .optional()?)
}

async fn machine_and_pool(
    conn: &mut AsyncPgConnection,
    id: MachineId,
) -> Result<Option<(Machine, Pool)>, DbError> {
    Ok(machines::table
        .inner_join(pools::table)
        .filter(machines::id.eq(id))
        .select((Machine::as_select(), Pool::as_select()))
        .first(conn)
        .await
        .optional()?)
}

/// Asks for `action` on machine `id`; returns the action's id once it is queued.
pub async fn request(
    conn: &mut AsyncPgConnection,
    who: Requester<'_>,
    id: MachineId,
    action: Action,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ActionId, ActionError> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        match &who {
            Requester::Admin(user) => audit::stamp(conn, Some(user), now).await?,
            Requester::CommandLine(name) => audit::stamp_as(conn, name, now).await?,
        }
        let Some((machine, pool)) = machine_and_pool(conn, id).await? else {
            return Err(ActionError::NoMachine(format!("#{id}")));
        };
        // One action at a time: taken in machine order, so two requests cannot both pass.
        diesel::sql_query("SELECT 1 FROM machines WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(id.0)
            .execute(conn)
            .await?;
        if machine.state == MachineState::Retired {
            return Err(ActionError::Refused(
                "action",
                format!("{} is retired: it takes no actions.", machine.fqdn),
            ));
        }
        let drivers = MachineDrivers::merged(&pool.driver_settings, &machine.driver_settings)
            .map_err(|m| ActionError::Refused("action", m))?;
        let driver = way(action, &drivers).map_err(|m| ActionError::Refused("action", m))?;
        let busy: Option<(i64, Action)> = machine_actions::table
            .filter(machine_actions::machine_id.eq(id))
            .filter(machine_actions::state.eq_any([ActionState::Queued, ActionState::Running]))
            .select((machine_actions::id, machine_actions::action))
            .first::<(i64, String)>(conn)
            .await
            .optional()?
            .map(|(n, a)| (n, Action::parse(&a).unwrap_or(Action::Status)));
        if let Some((other, what)) = busy {
            return Err(ActionError::Refused(
                "action",
                format!(
                    "Action #{other} ({}) on {} has not finished; wait for it first.",
                    what.label().to_lowercase(),
                    machine.fqdn
                ),
            ));
        }
        let loan = holding_loan(conn, id).await?;
        let reason = reason.trim();
        let reason = if loan.is_some() && disturbs(action) {
            Some(
                validate::note(
                    reason,
                    "This machine is on loan: say why, the borrower is told.",
                )
                .map_err(|m| ActionError::Refused("reason", m))?,
            )
        } else {
            Some(validate::optional_note(reason).map_err(|m| ActionError::Refused("reason", m))?)
                .filter(|r| !r.is_empty())
        };
        let requested_by = match &who {
            Requester::Admin(user) => Some(user.id),
            Requester::CommandLine(_) => None,
        };
        let action_id: i64 = diesel::insert_into(machine_actions::table)
            .values((
                machine_actions::machine_id.eq(id),
                machine_actions::action.eq(action.as_str()),
                machine_actions::driver.eq(driver.as_str()),
                machine_actions::loan_id.eq(loan),
                machine_actions::requested_by.eq(requested_by),
                machine_actions::requested_as.eq(who.name()),
                machine_actions::reason.eq(&reason),
                machine_actions::created_at.eq(now),
            ))
            .returning(machine_actions::id)
            .get_result(conn)
            .await?;
        let action_id = ActionId(action_id);
        queue::enqueue(conn, &Job::MachineAction { action_id }, now, now).await?;
        audit::about_machine(
            conn,
            "machine.action",
            id,
            &machine.fqdn,
            serde_json::json!({
                "action": action.as_str(),
                "driver": driver.as_str(),
                "reason": reason,
                "loan_id": loan,
                "action_id": action_id,
            }),
        )
        .await?;
        if let (Some(loan_id), true) = (loan, disturbs(action)) {
            let message = format!(
                "{} asked to {} this machine: {}",
                who.name(),
                action.label().to_lowercase(),
                reason.as_deref().unwrap_or_default()
            );
            let mut event = Event::new(EventKind::AdminAction, message);
            if let Requester::Admin(user) = &who {
                event = event.by(user.id);
            }
            events::record(conn, loan_id, now, event).await?;
            mail::send(conn, MailKind::MachineAction, loan_id, None, now).await?;
        }
        Ok(action_id)
    })
    .await
}

/// Why an action asked for earlier must not run now: the machine was lent (or is being set up or
/// cleaned) since, and its borrower was never told. `None`: it may run.
pub async fn stale_reason(
    conn: &mut AsyncPgConnection,
    record: &ActionRecord,
    machine_state: MachineState,
) -> Result<Option<String>, DbError> {
    let action = Action::parse(&record.action).unwrap_or(Action::Status);
    if action == Action::Status {
        return Ok(None);
    }
    let now_held = holding_loan(conn, record.machine_id).await?;
    if now_held != record.loan_id {
        return Ok(Some(format!(
            "the machine was {} since this action was asked for; ask again (its borrower must be told why)",
            match now_held {
                Some(loan) => format!("lent to loan #{loan}"),
                None => "returned".into(),
            }
        )));
    }
    if now_held.is_none() && machine_state.is_busy() {
        return Ok(Some(format!(
            "the machine is {} now; ask again when it is done",
            machine_state.label().to_lowercase()
        )));
    }
    Ok(None)
}

/// What the machine page shows about actions: what it can run, and the latest 50 it ran.
pub async fn overview(
    conn: &mut AsyncPgConnection,
    id: MachineId,
) -> Result<MachineActions, DbError> {
    let history: Vec<ActionRecord> = machine_actions::table
        .filter(machine_actions::machine_id.eq(id))
        .order(machine_actions::id.desc())
        .limit(50)
        .select(ActionRecord::as_select())
        .load(conn)
        .await?;
    let offered = match machine_and_pool(conn, id).await? {
        Some((machine, pool)) if machine.state != MachineState::Retired => {
            match MachineDrivers::merged(&pool.driver_settings, &machine.driver_settings) {
                Ok(drivers) => OFFERED
                    .iter()
                    .filter_map(|a| way(*a, &drivers).ok().map(|d| (*a, d)))
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        _ => Vec::new(),
    };
    let loans = match super::loans::list_for_machine(conn, id).await {
        Ok(loans) => loans,
        Err(super::loans::LoanError::Db(err)) => return Err(err),
        Err(_) => Vec::new(),
    };
    Ok(MachineActions {
        offered,
        loan_id: holding_loan(conn, id).await?,
        history: history.iter().map(ActionRecord::row).collect(),
        loans,
    })
}

/// The machine named `fqdn` (for the command line).
pub async fn machine_by_name(
    conn: &mut AsyncPgConnection,
    fqdn: &str,
) -> Result<Option<MachineId>, DbError> {
    Ok(machines::table
        .filter(machines::fqdn.eq(fqdn.trim().to_lowercase()))
        .select(machines::id)
        .first(conn)
        .await
        .optional()?)
}
