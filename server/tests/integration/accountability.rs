//! Refusals that say which rule refused and with which numbers, caps that ship with the site,
//! sign-ins and role changes in the audit log, and an audit export a spreadsheet cannot run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use crate::security::CALLS;
use app::types::Role;
use axum::http::StatusCode;

#[tokio::test]
async fn a_policy_refusal_names_the_rule_and_the_numbers() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    w.set_caps(Some(1), None).await;
    let site = w.web(true, "127.0.0.1:3000");
    let dana = site.sign_in("Dana", "developer").await;
    let first = site
        .call("/api/request_loan", Some(&dana), CALLS[0].1)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = site
        .call("/api/request_loan", Some(&dana), CALLS[0].1)
        .await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    let error: app::error::AppError = serde_json::from_str(&second.body).unwrap();
    assert_eq!(
        error,
        app::error::AppError::Refused {
            rule: "max_loans_per_user".into(),
            message: "You already hold 1 loan; the site allows 1 per person over all pools. Return one first.".into(),
        }
    );
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 1);
}

#[tokio::test]
async fn sign_ins_and_role_changes_are_audited_with_the_person_as_the_actor() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    site.sign_in("Dana", "developer").await;
    site.sign_in("Dana", "admin").await;
    let rows = w
        .sql()
        .await
        .query(
            "SELECT a.kind, a.actor, a.actor_id = u.id, a.after::text FROM audit_log a, users u
             WHERE u.email = 'dana@example.com' AND a.target_type = 'users' ORDER BY a.id",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, Option<bool>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        [
            ("user.sign_in".into(), "Dana".into(), Some(true)),
            ("users.update".into(), "Dana".into(), Some(true)),
            ("user.sign_in".into(), "Dana".into(), Some(true)),
        ],
        "sign-in, role change, sign-in"
    );
    let change: String = rows[1].get(3);
    assert!(change.contains("\"role\": \"admin\""), "{change}");
}

#[tokio::test]
async fn two_first_sign_ins_of_one_person_at_once_both_succeed() {
    let w = World::new().await;
    // Another sign-in (another tab) has created the row but not yet committed.
    let other = w.sql().await;
    other
        .batch_execute(
            "BEGIN; INSERT INTO users (email, name, role, created_at, last_login_at)
             VALUES ('kim@example.com', 'Kim', 'developer', now(), now())",
        )
        .await
        .unwrap();
    let commit_soon = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        other.batch_execute("COMMIT").await.unwrap();
    };
    let (kim, ()) = tokio::join!(w.person("Kim", Role::Developer, &[]), commit_soon);
    assert_eq!(kim.email, "kim@example.com");
    assert_eq!(
        w.count("SELECT count(*) FROM users WHERE email = 'kim@example.com'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM audit_log WHERE kind = 'user.sign_in'")
            .await,
        1,
        "the sign-in that waited is recorded"
    );
}

#[tokio::test]
async fn the_audit_export_does_not_hand_spreadsheets_a_formula() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    // A display name is whatever single sign-on says; this one is a spreadsheet formula.
    let evil = site
        .call(
            "/api/dev_login",
            None,
            "name=%3DHYPERLINK(%22http%3A%2F%2Fevil.example%22)&email=m%40example.com&role=developer",
        )
        .await;
    assert_eq!(evil.status, StatusCode::OK, "{}", evil.body);
    let admin = site.sign_in("Rex", "admin").await;
    let csv = site.page("/admin/audit.csv", Some(&admin)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.contains("\"'=HYPERLINK("), "{}", csv.body);
    assert!(
        !csv.body.contains(",=") && !csv.body.contains(",\"="),
        "a cell starts with =: {}",
        csv.body
    );
}

#[tokio::test]
async fn a_fresh_site_policy_caps_loans_per_person() {
    let db = TestDb::new().await;
    let row = db
        .sql()
        .await
        .query_one(
            "SELECT max_loans_per_user, max_loans_per_user_per_pool FROM site_policy",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, Option<i32>>(0), row.get::<_, Option<i32>>(1)),
        (Some(3), Some(2))
    );
}

/// A request's statements go to PostgreSQL together (pipelined); the requester's row must be
/// locked before their loans are counted, or requests sent at once all count none and all pass.
#[tokio::test]
async fn one_persons_requests_sent_at_once_stay_within_the_caps() {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 12;
    w.add_pool(spec).await;
    w.sql()
        .await
        .batch_execute("UPDATE site_policy SET max_loans_per_user_per_pool = 2")
        .await
        .unwrap();
    let dana = w.developer("Dana").await;
    let attempts = (0..10).map(|_| async {
        let mut conn = w.conn().await;
        app::server::loans::request(&mut conn, &dana, &request("build"), w.clock.now()).await
    });
    let outcomes = futures::future::join_all(attempts).await;

    let granted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(granted, 2, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(
            refused.to_string(),
            "You already hold 2 loans from this pool; it allows 2 per person. Return one first."
        );
    }
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 2);
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'provisioning'")
            .await,
        2
    );
}
