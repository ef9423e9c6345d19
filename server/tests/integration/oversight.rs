//! What admins do: manual steps (tasks), machines taken out of service without disturbing a
//! loan, force return, moving a loan, extending beyond policy, and the inventory's checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::inventory::{self, InventoryError};
use app::server::loans::{self, LoanError};
use app::server::tasks;
use app::types::{Action, DriverKind, LoanState, MachineState, Step, TaskOutcome};

pub(crate) const OFFSETS: [i32; 1] = [60];

pub(crate) fn manual(name: &str) -> Step {
    Step {
        name: name.into(),
        action: Action::PowerOn,
        driver: DriverKind::Manual,
        command: None,
        timeout_secs: None,
        instructions: Some("Plug the JTAG probe into the front port".into()),
    }
}

#[tokio::test]
async fn a_manual_step_waits_for_an_admin_and_the_loan_moves_on_when_it_is_done() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("probe");
    spec.provision.insert(1, manual("Attach the debug probe"));
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("probe"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(
        detail.summary.state,
        LoanState::Provisioning,
        "the loan waits"
    );
    assert_eq!(
        detail.waiting_for_admin.as_deref(),
        Some("Attach the debug probe")
    );
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "waiting_for_admin"));
    let open = tasks::list_open(&mut conn).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].instructions,
        "Plug the JTAG probe into the front port"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM emails WHERE kind = 'task_opened'")
            .await,
        1,
        "the admin was told"
    );

    assert!(matches!(
        tasks::close(
            &mut conn,
            &dana,
            open[0].id,
            TaskOutcome::Done,
            "",
            &OFFSETS,
            w.clock.now()
        )
        .await,
        Err(LoanError::AdminsOnly)
    ));
    let no_note = tasks::close(
        &mut conn,
        &rex,
        open[0].id,
        TaskOutcome::Failed,
        "",
        &OFFSETS,
        w.clock.now(),
    )
    .await;
    assert!(
        matches!(no_note, Err(LoanError::Invalid(_))),
        "a failure needs a note"
    );
    tasks::close(
        &mut conn,
        &rex,
        open[0].id,
        TaskOutcome::Done,
        "probe attached",
        &OFFSETS,
        w.clock.now(),
    )
    .await
    .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Ready);
    assert!(detail.events.iter().any(|e| e.kind.as_str() == "task_done"
        && e.message == "Rex did \"Attach the debug probe\": probe attached"));
    assert_eq!(
        detail
            .events
            .iter()
            .filter(|e| e.kind.as_str() == "step_succeeded")
            .count(),
        4
    );
    assert!(matches!(
        tasks::close(
            &mut conn,
            &rex,
            open[0].id,
            TaskOutcome::Done,
            "",
            &OFFSETS,
            w.clock.now()
        )
        .await,
        Err(LoanError::TaskClosed)
    ));
}

#[tokio::test]
async fn a_failed_manual_step_fails_the_loan_and_cleans_the_machine() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("probe");
    spec.provision = vec![manual("Attach the debug probe")];
    spec.machines = 1;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("probe"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let task = tasks::list_open(&mut conn).await.unwrap().remove(0);

    tasks::close(
        &mut conn,
        &rex,
        task.id,
        TaskOutcome::Failed,
        "the probe is broken",
        &OFFSETS,
        w.clock.now(),
    )
    .await
    .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Failed);
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "failed" && e.message.contains("the probe is broken")));
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        1
    );
}

#[tokio::test]
async fn maintenance_on_a_loaned_machine_waits_for_the_loan_to_end() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 2;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let sql = w.sql().await;
    let machine = MachineId(
        sql.query_one("SELECT machine_id FROM loans WHERE id = $1", &[&id.0])
            .await
            .unwrap()
            .get(0),
    );
    let idle = MachineId(
        sql.query_one("SELECT id FROM machines WHERE id <> $1", &[&machine.0])
            .await
            .unwrap()
            .get(0),
    );

    let missing = inventory::set_machine_state(
        &mut conn,
        &rex,
        idle,
        MachineState::Broken,
        "",
        w.clock.now(),
    )
    .await;
    assert!(
        matches!(missing, Err(InventoryError::Invalid(_))),
        "a reason is required"
    );
    assert_eq!(
        inventory::set_machine_state(
            &mut conn,
            &rex,
            idle,
            MachineState::Broken,
            "PSU died",
            w.clock.now()
        )
        .await
        .unwrap(),
        MachineState::Broken
    );
    let now_state = inventory::set_machine_state(
        &mut conn,
        &rex,
        machine,
        MachineState::Maintenance,
        "firmware update",
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(now_state, MachineState::Loaned, "the loan is not disturbed");
    assert_eq!(
        loans::detail(&mut conn, &dana, id)
            .await
            .unwrap()
            .summary
            .state,
        LoanState::Ready
    );

    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let row = sql
        .query_one(
            "SELECT state, state_reason FROM machines WHERE id = $1",
            &[&machine.0],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "maintenance");
    assert_eq!(row.get::<_, String>(1), "firmware update");
    let reason: String = sql
        .query_one(
            "SELECT state_reason FROM machines WHERE id = $1",
            &[&idle.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason, "PSU died");
}
