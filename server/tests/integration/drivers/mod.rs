//! The hardware drivers against the real programs on the other end (`common::peers`): sshd,
//! ipmi_sim, snmpd and moto. Loans go through the real queue and database; single actions go
//! through `Drivers::run_step` exactly as a step job runs them. These tests share the peers'
//! state, so nextest runs them one at a time (group `peers` in `.config/nextest.toml`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod ec2;
mod escalation;
mod health;
mod ipmi;
mod pdu;
mod secrets;
mod ssh;

use crate::common::peers::Lab;
use crate::common::*;
use app::server::loans::LoanRequest;
use app::server::models::{Machine, Pool};
use app::server::schema::{machines, pools};
use app::types::{Action, DriverKind, Step};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use server::drivers::{ActionOutput, DriverError, Drivers, Target};

/// A step through a hardware driver.
pub fn hw(name: &str, action: Action, driver: DriverKind) -> Step {
    Step {
        name: name.to_owned(),
        action,
        driver,
        command: None,
        timeout_secs: None,
        instructions: None,
    }
}

/// A pool `slug` of one machine whose steps are `provision` and `reclaim`, with the pool's and
/// the machine's driver settings; returns the machine.
pub async fn rig(
    w: &World,
    slug: &'static str,
    provision: Vec<Step>,
    reclaim: Vec<Step>,
    pool_settings: serde_json::Value,
    machine_settings: serde_json::Value,
) -> MachineId {
    let mut spec = w.pool_spec(slug);
    spec.provision = provision;
    spec.reclaim = reclaim;
    spec.machines = 1;
    let pool_id = w.add_pool(spec).await;
    let mut conn = w.conn().await;
    diesel::update(pools::table.find(pool_id))
        .set((
            pools::driver_settings.eq(pool_settings),
            // Borrowers log in to the lab's sshd as the one user it lets in.
            pools::login_user.eq(crate::common::peers::current_user()),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::update(machines::table.filter(machines::pool_id.eq(pool_id)))
        .set(machines::driver_settings.eq(machine_settings))
        .returning(machines::id)
        .get_result(&mut conn)
        .await
        .unwrap()
}

/// Runs one action on machine `id` through `drivers`, as a step job would (no loan).
pub async fn act(
    w: &World,
    drivers: &Drivers,
    id: MachineId,
    step: &Step,
) -> Result<ActionOutput, DriverError> {
    let mut conn = w.conn().await;
    let machine: Machine = machines::table.find(id).first(&mut conn).await.unwrap();
    let pool: Pool = pools::table
        .find(machine.pool_id)
        .first(&mut conn)
        .await
        .unwrap();
    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: None,
        borrower: None,
        phase: app::types::Phase::Provision,
        attempt: 1,
    };
    drivers.run_step(step, &target).await
}

/// A worker whose drivers reach the lab.
pub fn lab_worker(w: &World, lab: &Lab) -> server::jobs::Worker {
    server::jobs::Worker::new(w.deps_with(
        jobs_config(),
        server::mail::Mailer::Mailbox,
        lab.drivers(w.commands()),
    ))
}

/// A request for `pool` with the lab borrower's public key.
pub fn borrow_with_lab_key(lab: &Lab, pool: &str) -> LoanRequest {
    LoanRequest {
        ssh_public_key: lab.public_key("borrower"),
        ..request(pool)
    }
}

/// The full text (message and output) of a loan's history.
pub async fn history(w: &World, loan: LoanId) -> String {
    let sql = w.sql().await;
    sql.query(
        "SELECT message || E'\\n' || coalesce(output, '') FROM loan_events WHERE loan_id = $1 ORDER BY id",
        &[&loan.0],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect::<Vec<_>>()
    .join("\n")
}
