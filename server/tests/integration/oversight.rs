//! What admins do: manual steps (tasks), machines taken out of service without disturbing a
//! loan, force return, moving a loan, extending beyond policy, and the inventory's checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::inventory::{self, InventoryError, MachineSpec, PoolSpec as Spec};
use app::server::loans::{self, LoanError};
use app::server::tasks;
use app::types::{Action, DriverKind, LoanState, MachineState, Step};
use chrono::Duration;

const OFFSETS: [i32; 1] = [60];

fn manual(name: &str) -> Step {
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
            true,
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
        false,
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
        true,
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
            true,
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
        false,
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

#[tokio::test]
async fn an_admin_forces_a_return_moves_a_loan_and_extends_beyond_policy() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("build");
    spec.max_extensions = 0;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let sql = w.sql().await;
    let before = loans::detail(&mut conn, &dana, id).await.unwrap();
    let old_fqdn = before.summary.machine_fqdn.clone().unwrap();
    let deadline = before.summary.expires_at.unwrap();

    // Move to another machine: the new one is provisioned, the deadline stays, the old is cleaned.
    let targets = loans::move_targets(&mut conn, &rex, id).await.unwrap();
    assert_eq!(targets.len(), 2);
    assert!(matches!(
        loans::move_to(&mut conn, &dana, id, targets[0].0, w.clock.now()).await,
        Err(LoanError::AdminsOnly)
    ));
    loans::move_to(&mut conn, &rex, id, targets[0].0, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let moved = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(moved.summary.state, LoanState::Ready);
    assert_eq!(
        moved.summary.machine_fqdn.as_deref(),
        Some(targets[0].1.as_str())
    );
    assert_eq!(moved.summary.expires_at, Some(deadline));
    assert!(moved.events.iter().any(|e| e.kind.as_str() == "moved"));
    let old_state: String = sql
        .query_one("SELECT state FROM machines WHERE fqdn = $1", &[&old_fqdn])
        .await
        .unwrap()
        .get(0);
    assert_eq!(old_state, "available");

    // Beyond policy: the pool allows no extensions, an admin may still.
    assert!(matches!(
        loans::extend(&mut conn, &dana, id, "by Dana", &OFFSETS, w.clock.now()).await,
        Err(LoanError::ExtensionRefused(_))
    ));
    let no_reason =
        loans::extend_beyond_policy(&mut conn, &rex, id, 48, " ", &OFFSETS, w.clock.now()).await;
    assert!(matches!(no_reason, Err(LoanError::Invalid(_))));
    let new = loans::extend_beyond_policy(
        &mut conn,
        &rex,
        id,
        48,
        "release week",
        &OFFSETS,
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(new, deadline + Duration::hours(48));
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "override" && e.message.contains("override")));

    // Force return: a reason is required, the borrower is told.
    assert!(matches!(
        loans::force_return(&mut conn, &rex, id, "", w.clock.now()).await,
        Err(LoanError::Invalid(_))
    ));
    loans::force_return(&mut conn, &rex, id, "the lab is being moved", w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    assert_eq!(
        loans::detail(&mut conn, &dana, id)
            .await
            .unwrap()
            .summary
            .state,
        LoanState::Returned
    );
    let told = sql
        .query_one(
            "SELECT recipients[1], subject, body_text, body_html FROM emails WHERE kind = 'returned'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(told.get::<_, String>(0), "dana@example.com");
    assert!(told.get::<_, String>(1).starts_with("Taken back: "));
    for body in [told.get::<_, String>(2), told.get::<_, String>(3)] {
        assert!(
            body.contains("Taken back by admin Rex: the lab is being moved"),
            "{body}"
        );
        assert!(!body.contains("Thanks for returning"), "{body}");
    }
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        3
    );
}

#[tokio::test]
async fn the_inventory_checks_everything_before_it_stores_anything() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let rex = w.admin("Rex").await;
    let spec = Spec {
        slug: "Bad Slug".into(),
        name: " ".into(),
        description: "**Fast** machines".into(),
        platform: "Linux".into(),
        image_name: "img".into(),
        image_version: "1".into(),
        login_user: "root user".into(),
        provision_steps: vec![Step {
            command: None,
            ..manual("x")
        }
        .clone()],
        reclaim_steps: vec![Step {
            driver: DriverKind::Command,
            instructions: None,
            ..manual("Wipe")
        }],
        policy: app::types::PolicyOverrides {
            default_duration_hours: Some(100),
            max_duration_hours: Some(8),
            ..Default::default()
        },
        driver_settings: serde_json::json!(["CONSOLE=cons-3"]),
    };
    let err = inventory::save_pool(&mut conn, &rex, None, &spec, &w.commands(), w.clock.now())
        .await
        .unwrap_err();
    let InventoryError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    let mut names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "default_duration_hours",
            "driver_settings",
            "login_user",
            "name",
            "reclaim_steps",
            "slug"
        ]
    );
    let sql = w.sql().await;
    assert_eq!(w.count("SELECT count(*) FROM pools").await, 0);

    let good = Spec {
        slug: "arm".into(),
        name: "ARM boards".into(),
        login_user: "pi".into(),
        reclaim_steps: vec![],
        policy: Default::default(),
        driver_settings: serde_json::json!({"env": {"SITE_CONSOLE": "cons-3"}}),
        ..spec
    };
    inventory::save_pool(&mut conn, &rex, None, &good, &w.commands(), w.clock.now())
        .await
        .unwrap();
    let twice = inventory::save_pool(&mut conn, &rex, None, &good, &w.commands(), w.clock.now())
        .await
        .unwrap_err();
    assert!(matches!(twice, InventoryError::Invalid(f) if f[0].field == "slug"));
    let settings: String = sql
        .query_one(
            "SELECT driver_settings::text FROM pools WHERE slug = 'arm'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(settings, r#"{"env": {"SITE_CONSOLE": "cons-3"}}"#);
    let machine = MachineSpec {
        fqdn: "Pi-01.Lab.Example.COM".into(),
        pool: "arm".into(),
        driver_settings: serde_json::json!({}),
        notes: String::new(),
    };
    let id = inventory::save_machine(&mut conn, &rex, None, &machine, w.clock.now())
        .await
        .unwrap();
    let fqdn: String = sql
        .query_one("SELECT fqdn FROM machines WHERE id = $1", &[&id.0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fqdn, "pi-01.lab.example.com");
    let bad = MachineSpec {
        fqdn: "pi_02".into(),
        pool: "nope".into(),
        driver_settings: serde_json::json!([1]),
        ..machine
    };
    let InventoryError::Invalid(fields) =
        inventory::save_machine(&mut conn, &rex, None, &bad, w.clock.now())
            .await
            .unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["fqdn", "driver_settings"]
    );
    let cards = app::server::pools::catalogue(&mut conn).await.unwrap();
    assert_eq!(
        cards[0].description_html.trim(),
        "<p><strong>Fast</strong> machines</p>"
    );
}
