//! What admins do to loans and the inventory: force a return, move a loan, extend beyond
//! policy, and save pools whose every problem is named before anything is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use crate::oversight::{manual, OFFSETS};
use app::server::inventory::{self, InventoryError, MachineSpec, PoolSpec as Spec};
use app::server::loans::{self, LoanError};
use app::types::{DriverKind, LoanState, Step};
use chrono::Duration;

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
    let err = inventory::save_pool(&mut conn, &rex, None, &spec, &w.setup(), w.clock.now())
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
    inventory::save_pool(&mut conn, &rex, None, &good, &w.setup(), w.clock.now())
        .await
        .unwrap();
    let twice = inventory::save_pool(&mut conn, &rex, None, &good, &w.setup(), w.clock.now())
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
    let id = inventory::save_machine(&mut conn, &rex, None, &machine, &w.setup(), w.clock.now())
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
        inventory::save_machine(&mut conn, &rex, None, &bad, &w.setup(), w.clock.now())
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
