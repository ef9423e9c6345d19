//! Every loan ends: timers at exact deadlines, reminders sent once, extensions within policy,
//! expiry with and without a grace period, restore, and the one-click links — with a clock the
//! tests move instead of sleeping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans::{self, LoanError};
use app::server::models::User;
use app::types::{Action, LoanState};
use chrono::Duration;

pub(crate) const OFFSETS: [i32; 3] = [48 * 60, 24 * 60, 60];

/// A ready loan of `hours` on a pool made by `spec`; returns its id and borrower.
pub(crate) async fn ready_loan(
    w: &World,
    worker: &server::jobs::Worker,
    spec: PoolSpec,
    hours: &str,
) -> (LoanId, User) {
    let mut conn = w.conn().await;
    let slug = spec.slug;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let mut ask = request(slug);
    ask.duration_hours = hours.to_owned();
    let id = loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap();
    w.drain_with(worker).await;
    (id, dana)
}

pub(crate) async fn mail_kinds(sql: &tokio_postgres::Client, loan_id: LoanId) -> Vec<String> {
    sql.query(
        "SELECT kind FROM emails WHERE loan_id = $1 ORDER BY id",
        &[&loan_id.0],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

pub(crate) async fn state(sql: &tokio_postgres::Client, loan_id: LoanId) -> String {
    sql.query_one("SELECT state FROM loans WHERE id = $1", &[&loan_id.0])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_ready_loan_has_its_expiry_and_reminders_scheduled_for_its_deadline() {
    let w = World::new().await;
    let worker = w.worker();
    let (id, _) = ready_loan(&w, &worker, w.pool_spec("build"), "72").await;
    let sql = w.sql().await;

    let jobs = sql
        .query(
            "SELECT kind, lane, (extract(epoch FROM l.expires_at - j.run_at) / 60)::int
             FROM jobs j JOIN loans l ON l.id = j.loan_id WHERE j.loan_id = $1 ORDER BY j.run_at",
            &[&id.0],
        )
        .await
        .unwrap();
    let scheduled: Vec<(String, String, i32)> = jobs
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        scheduled,
        vec![
            ("send_mail".into(), "work".into(), 2880),
            ("send_mail".into(), "work".into(), 1440),
            ("send_mail".into(), "work".into(), 60),
            ("expire_loan".into(), "timers".into(), 0),
        ]
    );
    assert_eq!(mail_kinds(&sql, id).await, ["ready"]);
    let ready: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'ready'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        ready.contains("ssh tester@build-01.test.example"),
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_reminder_is_sent_once_with_several_workers_and_restarts() {
    let w = World::new().await;
    let first = w.worker();
    let (id, _) = ready_loan(&w, &first, w.pool_spec("build"), "2").await;
    w.clock.advance(Duration::minutes(61));

    let (a, b, c) = (w.worker(), w.worker(), w.worker());
    let _ = tokio::join!(a.run_until_idle(), b.run_until_idle(), c.run_until_idle());
    // A restart: a new worker, and the deadline asked for again.
    let mut conn = w.conn().await;
    let loan = loans::context(&mut conn, id).await.unwrap();
    loans::arm_deadline(
        &mut conn,
        id,
        &loan.pool,
        loan.loan.expires_at.unwrap(),
        &OFFSETS,
        w.clock.now(),
    )
    .await
    .unwrap();
    w.worker().run_until_idle().await.unwrap();

    let sql = w.sql().await;
    assert_eq!(mail_kinds(&sql, id).await, ["ready", "reminder"]);
    let sent: i64 = sql
        .query_one(
            "SELECT count(*) FROM emails WHERE kind = 'reminder' AND sent_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sent, 1);
    let reminder: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'reminder'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        reminder.contains("ends in 59 min") || reminder.contains("ends in 58 min"),
        "{reminder}"
    );
    assert_eq!(
        smtp::links(&reminder).len(),
        2,
        "a Return link and an Extend link"
    );
}

#[tokio::test]
async fn extending_moves_the_deadline_rearms_the_reminders_and_stops_at_each_cap() {
    let w = World::new().await;
    let worker = w.worker();
    let mut spec = w.pool_spec("build");
    spec.max_duration_hours = 48;
    spec.max_total_hours = 60;
    let (id, dana) = ready_loan(&w, &worker, spec, "24").await;
    let mut conn = w.conn().await;
    let before = loans::context(&mut conn, id)
        .await
        .unwrap()
        .loan
        .expires_at
        .unwrap();
    w.clock.advance(Duration::hours(23));

    let new = loans::extend(&mut conn, &dana, id, "by Dana", &OFFSETS, w.clock.now())
        .await
        .unwrap();

    assert_eq!(new, before + Duration::hours(24));
    let sql = w.sql().await;
    let timers: Vec<(String, i64)> = sql
        .query(
            "SELECT kind, (extract(epoch FROM l.expires_at - j.run_at) / 60)::bigint FROM jobs j JOIN loans l ON l.id = j.loan_id
             WHERE j.loan_id = $1 AND (kind = 'expire_loan' OR payload->>'mail' = 'reminder') ORDER BY run_at",
            &[&id.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        timers,
        vec![
            ("send_mail".into(), 1440),
            ("send_mail".into(), 60),
            ("expire_loan".into(), 0)
        ],
        "the old deadline's timers are gone; the new one's are armed"
    );
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "extended" && e.message.contains("1 of 2 extensions used")));

    let refusal = loans::extend(&mut conn, &dana, id, "by Dana", &OFFSETS, w.clock.now())
        .await
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "Another 1 day would take this loan past the pool's limit of 60 hours in total."
    );
    let eve = w.developer("Eve").await;
    assert!(matches!(
        loans::extend(&mut conn, &eve, id, "by Eve", &OFFSETS, w.clock.now()).await,
        Err(LoanError::NotFound(_))
    ));
    worker.run_until_idle().await.unwrap();
    assert_eq!(mail_kinds(&sql, id).await, ["ready", "extended"]);
}

#[tokio::test]
async fn the_number_of_extensions_is_capped_too() {
    let w = World::new().await;
    let worker = w.worker();
    let mut spec = w.pool_spec("build");
    spec.max_extensions = 1;
    let (id, dana) = ready_loan(&w, &worker, spec, "8").await;
    let mut conn = w.conn().await;
    loans::extend(&mut conn, &dana, id, "by Dana", &OFFSETS, w.clock.now())
        .await
        .unwrap();
    let refusal = loans::extend(&mut conn, &dana, id, "by Dana", &OFFSETS, w.clock.now())
        .await
        .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "This loan was extended 1 times already, the most this pool allows."
    );
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(
        detail.extension.unwrap().refusal.as_deref(),
        Some(refusal.to_string().as_str())
    );
}

#[tokio::test]
async fn at_its_deadline_a_loan_is_reclaimed_and_the_borrower_told() {
    let w = World::new().await;
    let worker = w.worker();
    let (id, dana) = ready_loan(&w, &worker, w.pool_spec("build"), "8").await;
    let sql = w.sql().await;

    w.clock.advance(Duration::hours(7) + Duration::minutes(59));
    worker.run_until_idle().await.unwrap();
    assert_eq!(state(&sql, id).await, "ready");
    w.clock.advance(Duration::minutes(1));
    worker.run_until_idle().await.unwrap();

    assert_eq!(state(&sql, id).await, "reclaimed");
    let mut conn = w.conn().await;
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    let kinds: Vec<&str> = detail.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"reclaim_started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"cleanup_finished"));
    assert_eq!(
        mail_kinds(&sql, id).await,
        ["ready", "reminder", "expired", "reclaimed"]
    );
    let available: i64 = sql
        .query_one(
            "SELECT count(*) FROM machines WHERE state = 'available'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(available, 3);
}

#[tokio::test]
async fn with_a_grace_period_access_is_cut_and_the_machine_kept_until_it_ends() {
    let w = World::new().await;
    let revokes = w.scripts.path("revokes");
    let revoke = w.scripts.write(
        "revoke.sh",
        &format!("echo revoked >> {}", revokes.display()),
    );
    let worker = w.worker();
    let mut spec = w.pool_spec("mac");
    spec.grace_period_minutes = 120;
    spec.reclaim = vec![
        step("Revoke access", Action::RevokeAccess, &revoke),
        step("Re-image", Action::Reimage, &w.scripts.path("ok.sh")),
    ];
    let (id, dana) = ready_loan(&w, &worker, spec, "4").await;
    let sql = w.sql().await;

    w.clock.advance(Duration::hours(4));
    worker.run_until_idle().await.unwrap();

    assert_eq!(state(&sql, id).await, "expired");
    assert_eq!(
        std::fs::read_to_string(&revokes).unwrap().lines().count(),
        1,
        "access cut at once"
    );
    let machine: String = sql
        .query_one(
            "SELECT m.state FROM machines m JOIN loans l ON l.machine_id = m.id WHERE l.id = $1",
            &[&id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(machine, "loaned", "kept during the grace period");
    let mut conn = w.conn().await;
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert!(detail.connection.is_none());
    assert!(detail.grace_until.is_some());
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "access_revoked"));
    let expired: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'expired'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(expired.contains("kept as it is until"), "{expired}");

    w.clock.advance(Duration::minutes(119));
    worker.run_until_idle().await.unwrap();
    assert_eq!(state(&sql, id).await, "expired");
    w.clock.advance(Duration::minutes(1));
    w.drain_with(&worker).await;
    assert_eq!(state(&sql, id).await, "reclaimed");
    assert_eq!(
        std::fs::read_to_string(&revokes).unwrap().lines().count(),
        2,
        "and again in the full clean-up"
    );
}

#[tokio::test]
async fn an_admin_restores_an_expired_loan_within_its_grace_period() {
    let w = World::new().await;
    let worker = w.worker();
    let mut spec = w.pool_spec("mac");
    spec.grace_period_minutes = 60;
    spec.reclaim = vec![step(
        "Revoke access",
        Action::RevokeAccess,
        &w.scripts.path("ok.sh"),
    )];
    let (id, dana) = ready_loan(&w, &worker, spec, "4").await;
    w.clock.advance(Duration::hours(4));
    worker.run_until_idle().await.unwrap();
    let mut conn = w.conn().await;
    let rex = w.admin("Rex").await;

    assert!(matches!(
        loans::restore(&mut conn, &dana, id, &OFFSETS, w.clock.now()).await,
        Err(LoanError::AdminsOnly)
    ));
    let deadline = loans::restore(&mut conn, &rex, id, &OFFSETS, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let hours = (deadline - w.clock.now()).num_minutes() as f64 / 60.0;
    assert!(
        (23.9..=24.0).contains(&hours),
        "a new deadline one extension length away: {hours}"
    );
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Ready);
    let kinds: Vec<&str> = detail.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"restored") && kinds.contains(&"access_restored"),
        "{kinds:?}"
    );
    // The end of the old grace period does nothing now.
    w.clock.advance(Duration::hours(2));
    worker.run_until_idle().await.unwrap();
    assert_eq!(
        loans::detail(&mut conn, &dana, id)
            .await
            .unwrap()
            .summary
            .state,
        LoanState::Ready
    );
}
