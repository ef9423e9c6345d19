//! Loans against a real PostgreSQL: requesting, provisioning, returning, cancelling, failures,
//! and the invariants the database itself enforces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans::{self, LoanError};
use app::types::LoanState;

#[tokio::test]
async fn a_request_assigns_a_machine_and_writes_loan_history_and_job_together() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;

    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();

    let sql = w.sql().await;
    let row = sql
        .query_one(
            "SELECT l.state, m.state, m.id = l.machine_id FROM loans l JOIN machines m ON m.id = l.machine_id WHERE l.id = $1",
            &[&id.0],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "provisioning");
    assert_eq!(row.get::<_, String>(1), "provisioning");
    let kinds: Vec<String> = sql
        .query(
            "SELECT kind FROM loan_events WHERE loan_id = $1 ORDER BY id",
            &[&id.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["requested", "approved", "machine_assigned"]);
    let jobs = sql
        .query(
            "SELECT kind, payload->>'step' FROM jobs WHERE loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].get::<_, String>(0), "provision_step");
    assert_eq!(jobs[0].get::<_, Option<String>>(1).as_deref(), Some("0"));
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        2
    );
}

#[tokio::test]
async fn an_invalid_request_reports_every_field_and_stores_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("win");
    spec.bug_required = true;
    spec.max_duration_hours = 24;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let bad = loans::LoanRequest {
        pool: "win".into(),
        reason: "   ".into(),
        bug_ref: String::new(),
        duration_hours: "48".into(),
        ssh_public_key: "ssh-ed25519 AAAA broken".into(),
        wait: false,
    };

    let err = loans::request(&mut conn, &dana, &bad, w.clock.now())
        .await
        .unwrap_err();

    let LoanError::Invalid(fields) = err else {
        panic!("expected field errors, got {err:?}")
    };
    let mut names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["bug_ref", "duration_hours", "reason", "ssh_public_key"]
    );
    let duration = fields.iter().find(|f| f.field == "duration_hours").unwrap();
    assert_eq!(
        duration.message,
        "This pool lends machines for at most 1 day."
    );
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 0);
    assert_eq!(w.count("SELECT count(*) FROM loan_events").await, 0);
    assert_eq!(w.count("SELECT count(*) FROM jobs").await, 0);
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        3
    );
}

#[tokio::test]
async fn an_unknown_pool_or_a_garbage_duration_is_a_field_error() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let now = w.clock.now();

    let unknown = loans::request(&mut conn, &dana, &request("nope"), now).await;
    assert!(matches!(unknown, Err(LoanError::Invalid(f)) if f[0].field == "pool"));
    let mut garbage = request("build");
    garbage.duration_hours = "a while".into();
    let err = loans::request(&mut conn, &dana, &garbage, now).await;
    assert!(matches!(err, Err(LoanError::Invalid(f)) if f[0].field == "duration_hours"));
}

#[tokio::test]
async fn an_exhausted_pool_refuses_clearly_and_stores_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("mac");
    spec.machines = 1;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let now = w.clock.now();
    loans::request(&mut conn, &dana, &request("mac"), now)
        .await
        .unwrap();

    let err = loans::request(&mut conn, &dana, &request("mac"), now)
        .await
        .unwrap_err();

    assert!(matches!(err, LoanError::PoolExhausted { .. }));
    assert_eq!(
        err.to_string(),
        "No Pool mac machine is free right now. Try again in a while, or pick another pool."
    );
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 1);
    assert_eq!(w.count("SELECT count(*) FROM jobs").await, 1);
}

#[tokio::test]
async fn a_loan_provisions_to_ready_and_its_return_cleans_the_machine_back_into_the_pool() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();

    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Ready);
    let connection = detail.connection.expect("connection details when ready");
    assert_eq!(
        connection.ssh_command,
        format!("ssh tester@{}", connection.fqdn)
    );
    let expires = detail.summary.expires_at.expect("expiry set when ready");
    let hours = (expires - w.clock.now()).num_minutes() as f64 / 60.0;
    assert!((7.9..=8.0).contains(&hours), "{hours}");
    let outputs: Vec<String> = detail
        .events
        .iter()
        .filter(|e| e.kind.as_str() == "step_succeeded")
        .map(|e| e.output.clone().unwrap_or_default())
        .collect();
    assert_eq!(outputs.len(), 3);
    assert!(outputs[1].starts_with(&format!("Re-image on {} for loan {id}", connection.fqdn)));
    assert_eq!(detail.events.last().unwrap().kind.as_str(), "ready");
    let sql = w.sql().await;
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'loaned'")
            .await,
        1
    );

    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Returned);
    assert!(detail.summary.ended_at.is_some());
    assert!(detail.connection.is_none());
    assert_eq!(
        detail.events.last().unwrap().kind.as_str(),
        "cleanup_finished"
    );
    let machine = sql
        .query_one(
            "SELECT state, current_image FROM machines WHERE fqdn = $1",
            &[&connection.fqdn],
        )
        .await
        .unwrap();
    assert_eq!(machine.get::<_, String>(0), "available");
    assert_eq!(machine.get::<_, String>(1), "test-image@1.0");
    assert_eq!(w.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn developers_act_only_on_their_own_loans_and_admins_on_any() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let eve = w.developer("Eve").await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    assert!(matches!(
        loans::detail(&mut conn, &eve, id).await,
        Err(LoanError::NotFound(_))
    ));
    assert!(matches!(
        loans::return_loan(&mut conn, &eve, id, w.clock.now()).await,
        Err(LoanError::NotFound(_))
    ));
    assert!(loans::list_for_user(&mut conn, &eve)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        loans::list_for_user(&mut conn, &dana).await.unwrap().len(),
        1
    );

    assert!(loans::detail(&mut conn, &rex, id).await.is_ok());
    loans::return_loan(&mut conn, &rex, id, w.clock.now())
        .await
        .unwrap();
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.message == "Returned by admin Rex"));
}
