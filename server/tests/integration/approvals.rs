//! Requests that need an admin, the caps and groups of the policy, and the audit log they feed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use app::server::loans::{self, LoanError};
use app::types::{ApprovalMode, LoanState};

async fn manual_pool(w: &World, machines: usize) {
    let mut spec = w.pool_spec("gpu");
    spec.approval = ApprovalMode::Manual;
    spec.machines = machines;
    w.add_pool(spec).await;
}

async fn state(sql: &tokio_postgres::Client, id: LoanId) -> String {
    sql.query_one("SELECT state FROM loans WHERE id = $1", &[&id.0])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_manual_pool_waits_for_an_admin_who_approves_or_denies_with_a_reason() {
    let w = World::new().await;
    manual_pool(&w, 2).await;
    let mut conn = w.conn().await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let ada = w.admin("Ada").await;
    let sql = w.sql().await;

    let first = loans::request(&mut conn, &dana, &request("gpu"), w.clock.now())
        .await
        .unwrap();
    assert_eq!(state(&sql, first).await, "requested");
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE machine_id IS NOT NULL")
            .await,
        0
    );
    let queue = loans::queue(&mut conn).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].summary.borrower_name, "Dana");
    // Each admin gets the request by email with approve and deny links of their own.
    w.worker().run_until_idle().await.unwrap();
    let asked: Vec<String> = sql
        .query(
            "SELECT recipients[1] FROM emails WHERE kind = 'needs_approval' ORDER BY recipients[1]",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(asked, ["ada@example.com", "rex@example.com"]);
    let bodies: Vec<String> = sql
        .query(
            "SELECT body_text FROM emails WHERE kind = 'needs_approval'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(smtp::links(&bodies[0]).len(), 2);
    assert_ne!(smtp::links(&bodies[0]), smtp::links(&bodies[1]));

    assert!(matches!(
        loans::approve(&mut conn, &dana, first, None, w.clock.now()).await,
        Err(LoanError::AdminsOnly)
    ));
    let bad = loans::approve(&mut conn, &rex, first, Some(100), w.clock.now())
        .await
        .unwrap_err();
    assert!(matches!(bad, LoanError::Invalid(f) if f[0].field == "duration_hours"));
    let after = loans::approve(&mut conn, &rex, first, Some(4), w.clock.now())
        .await
        .unwrap();
    assert_eq!(after, LoanState::Provisioning);
    let detail = loans::detail(&mut conn, &dana, first).await.unwrap();
    assert_eq!(detail.duration_hours, 4);
    assert!(detail.events.iter().any(|e| e.kind.as_str() == "shortened"));
    assert!(detail.events.iter().any(|e| e.message == "Approved by Rex"));

    let second = loans::request(&mut conn, &dana, &request("gpu"), w.clock.now())
        .await
        .unwrap();
    let no_reason = loans::deny(&mut conn, &ada, second, "  ", w.clock.now())
        .await
        .unwrap_err();
    assert!(matches!(no_reason, LoanError::Invalid(f) if f[0].field == "reason"));
    loans::deny(&mut conn, &ada, second, "Use the try server", w.clock.now())
        .await
        .unwrap();
    assert_eq!(state(&sql, second).await, "denied");
    assert!(
        loans::approve(&mut conn, &rex, second, None, w.clock.now())
            .await
            .is_err(),
        "a denied request stays denied"
    );
    w.drain().await;
    let told: Vec<String> = sql
        .query(
            "SELECT kind FROM emails WHERE loan_id = $1 ORDER BY id",
            &[&second.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(told.contains(&"denied".to_owned()), "{told:?}");
    let denial: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'denied'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(denial.contains("Use the try server"));
}

#[tokio::test]
async fn approving_several_at_once_is_all_or_nothing() {
    let w = World::new().await;
    manual_pool(&w, 3).await;
    let mut conn = w.conn().await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            loans::request(&mut conn, &dana, &request("gpu"), w.clock.now())
                .await
                .unwrap(),
        );
    }
    let sql = w.sql().await;
    loans::deny(&mut conn, &rex, ids[2], "Not this one", w.clock.now())
        .await
        .unwrap();
    let before = w.count("SELECT count(*) FROM loan_events").await;

    // The third was denied meanwhile: the first two stay in the queue too.
    let refused = loans::approve_many(&mut conn, &rex, &ids, None, w.clock.now())
        .await
        .unwrap_err();
    assert!(matches!(refused, LoanError::Transition(_)), "{refused:?}");
    assert_eq!(state(&sql, ids[0]).await, "requested");
    assert_eq!(state(&sql, ids[1]).await, "requested");
    assert_eq!(w.count("SELECT count(*) FROM loan_events").await, before);

    loans::approve_many(&mut conn, &rex, &ids[..2], None, w.clock.now())
        .await
        .unwrap();
    assert_eq!(state(&sql, ids[0]).await, "provisioning");
    assert_eq!(state(&sql, ids[1]).await, "provisioning");
    assert!(loans::queue(&mut conn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approvals_of_one_request_assign_one_machine() {
    let w = World::new().await;
    manual_pool(&w, 3).await;
    let mut conn = w.conn().await;
    let dana = w.developer("Dana").await;
    let id = loans::request(&mut conn, &dana, &request("gpu"), w.clock.now())
        .await
        .unwrap();
    let mut admins = Vec::new();
    for n in 0..6 {
        admins.push(w.admin(&format!("Admin {n}")).await);
    }
    drop(conn);

    let start = Arc::new(tokio::sync::Barrier::new(admins.len()));
    let tasks: Vec<_> = admins
        .into_iter()
        .map(|admin| {
            let pool = w.pool.clone();
            let start = start.clone();
            let clock = w.clock.clone();
            tokio::spawn(async move {
                let mut conn = pool.get().await.unwrap();
                start.wait().await;
                loans::approve(&mut conn, &admin, id, None, clock.now()).await
            })
        })
        .collect();
    let mut approved = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => approved += 1,
            Err(LoanError::Transition(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
    }

    assert_eq!(approved, 1);
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'provisioning'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loan_events WHERE kind = 'machine_assigned'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM jobs WHERE kind = 'provision_step'")
            .await,
        1
    );
}

#[tokio::test]
async fn groups_and_per_person_caps_refuse_with_a_reason_and_store_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    w.add_pool(w.pool_spec("test")).await;
    w.add_pool(w.pool_spec("gfx")).await;
    let sql = w.sql().await;
    sql.batch_execute(
        "UPDATE site_policy SET max_loans_per_user = 2, max_loans_per_user_per_pool = 1;
         UPDATE pools SET allowed_groups = '{gfx,perf}' WHERE slug = 'gfx';",
    )
    .await
    .unwrap();
    let dana = w.developer("Dana").await;
    sql.execute(
        "UPDATE users SET groups = '{web}' WHERE id = $1",
        &[&dana.id.0],
    )
    .await
    .unwrap();
    let mut ask = request("build");
    ask.wait = true;

    loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap();
    let second_here = loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap_err();
    assert_eq!(
        second_here.to_string(),
        "You already hold 1 loan from this pool; it allows 1 per person. Return one first."
    );
    loans::request(&mut conn, &dana, &request("test"), w.clock.now())
        .await
        .unwrap();
    let third = loans::request(&mut conn, &dana, &request("gfx"), w.clock.now())
        .await
        .unwrap_err();
    assert!(
        third
            .to_string()
            .starts_with("This pool lends only to members of gfx, perf"),
        "{third}"
    );
    sql.execute(
        "UPDATE users SET groups = '{perf}' WHERE id = $1",
        &[&dana.id.0],
    )
    .await
    .unwrap();
    let third = loans::request(&mut conn, &dana, &request("gfx"), w.clock.now())
        .await
        .unwrap_err();
    assert_eq!(
        third.to_string(),
        "You already hold 2 loans; the site allows 2 per person over all pools. Return one first."
    );
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 2);
    // Returning one makes room again.
    let first = loans::list_for_user(&mut conn, &dana)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    w.drain().await;
    loans::return_loan(&mut conn, &dana, first, w.clock.now())
        .await
        .unwrap();
    loans::request(&mut conn, &dana, &request("gfx"), w.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_audit_log_records_who_changed_what_and_refuses_to_be_changed() {
    let w = World::new().await;
    manual_pool(&w, 1).await;
    let mut conn = w.conn().await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let id = loans::request(&mut conn, &dana, &request("gpu"), w.clock.now())
        .await
        .unwrap();
    loans::approve(&mut conn, &rex, id, None, w.clock.now())
        .await
        .unwrap();
    w.drain().await;
    let sql = w.sql().await;

    let rows: Vec<(String, String, String, Option<String>)> = sql
        .query(
            "SELECT actor, kind, target_id, after->>'state' FROM audit_log WHERE target_type = 'loans' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let id_text = id.to_string();
    assert_eq!(
        rows,
        vec![
            (
                "Dana".into(),
                "loans.create".into(),
                id_text.clone(),
                Some("requested".into())
            ),
            (
                "Rex".into(),
                "loans.state".into(),
                id_text.clone(),
                Some("approved".into())
            ),
            (
                "Rex".into(),
                "loans.state".into(),
                id_text.clone(),
                Some("provisioning".into())
            ),
            (
                "scheduler".into(),
                "loans.state".into(),
                id_text,
                Some("ready".into())
            ),
        ]
    );
    let machine: (String, String) = sql
        .query_one("SELECT before->>'state', after->>'state' FROM audit_log WHERE kind = 'machines.state' AND actor = 'Rex'", &[])
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(machine, ("available".into(), "provisioning".into()));

    for statement in [
        "UPDATE audit_log SET actor = 'nobody'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = sql.execute(statement, &[]).await.unwrap_err();
        assert!(
            pg_error(&err).contains("append-only"),
            "{statement}: {err:?}"
        );
    }
    let filtered = app::server::audit::search(
        &mut conn,
        &app::types::AuditFilter {
            actor: "rex".into(),
            kind: "loans".into(),
            ..Default::default()
        },
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(filtered.len(), 2);
    let csv = app::server::audit::to_csv(&filtered).unwrap();
    assert!(csv.starts_with("id,at,actor,kind,target_type,target_id,target,before,after\n"));
    assert_eq!(csv.lines().count(), 3);
}
