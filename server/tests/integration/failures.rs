//! Jobs that fail: retried with growing delays then given up; a panic is a failure like any
//! other (retried, its lease let go); a recurring job that gave up comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use app::server::loans;
use app::types::Action;
use server::jobs::Worker;
use server::mail::Mailer;

#[tokio::test]
async fn failures_are_retried_with_growing_delays_then_given_up() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("broken");
    spec.provision = vec![step(
        "Power on",
        Action::PowerOn,
        &w.scripts.path("fail.sh"),
    )];
    spec.reclaim = vec![];
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let id = loans::request(&mut conn, &dana, &request("broken"), w.clock.now())
        .await
        .unwrap();
    let mut config = jobs_config();
    config.backoff_base_ms = 60_000;
    config.backoff_max_secs = 3600;
    let worker = Worker::new(w.deps(config, Mailer::Mailbox));
    let sql = w.sql().await;
    let delay = async |sql: &tokio_postgres::Client| -> f64 {
        let row = sql
            .query_one("SELECT extract(epoch FROM run_at)::float8, attempts FROM jobs WHERE kind = 'provision_step'", &[])
            .await
            .unwrap();
        row.get::<_, f64>(0) - w.clock.now().timestamp_millis() as f64 / 1000.0
    };

    worker.run_until_idle().await.unwrap();
    let first = delay(&sql).await;
    assert!(
        (50.0..=70.0).contains(&first),
        "first retry after ~60 s, was {first}"
    );
    w.clock.advance(chrono::Duration::seconds(70));
    worker.run_until_idle().await.unwrap();
    let second = delay(&sql).await;
    assert!(
        (100.0..=140.0).contains(&second),
        "second retry after ~120 s, was {second}"
    );
    w.clock.advance(chrono::Duration::seconds(140));
    worker.run_until_idle().await.unwrap();

    let job = sql
        .query_one("SELECT attempts, failed_at IS NOT NULL, last_error FROM jobs WHERE kind = 'provision_step'", &[])
        .await
        .unwrap();
    assert_eq!(job.get::<_, i32>(0), 3);
    assert!(job.get::<_, bool>(1));
    assert!(job.get::<_, String>(2).contains("exited with status 3"));
    let state: String = sql
        .query_one("SELECT state FROM loans WHERE id = $1", &[&id.0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "failed");
}

/// A driver that falls over: the one way to make a job panic on purpose.
struct Panicking;

#[async_trait::async_trait]
impl server::drivers::Driver for Panicking {
    fn kind(&self) -> app::types::DriverKind {
        app::types::DriverKind::Command
    }

    async fn run(
        &self,
        _: Action,
        _: &app::types::Step,
        _: &server::drivers::Target<'_>,
    ) -> Result<server::drivers::ActionOutput, server::drivers::DriverError> {
        panic!("the driver fell over")
    }
}

#[tokio::test]
async fn a_panicking_job_is_retried_and_given_up_like_a_failing_one() {
    let w = World::new().await;
    let mut spec = w.pool_spec("shaky");
    spec.provision.truncate(1);
    spec.reclaim.truncate(1);
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let id = w.borrow(&dana, "shaky").await;
    let drivers = server::drivers::Drivers::new(vec![Arc::new(Panicking)]);
    let worker = Worker::new(w.deps_with(jobs_config(), Mailer::Mailbox, drivers));

    worker.run_until_idle().await.unwrap();

    let sql = w.sql().await;
    let job = sql
        .query_one(
            "SELECT attempts, locked_by IS NULL, run_at > now(), last_error FROM jobs WHERE loan_id = $1 AND kind = 'provision_step'",
            &[&id.0],
        )
        .await
        .unwrap();
    assert_eq!(job.get::<_, i32>(0), 1);
    assert!(
        job.get::<_, bool>(1),
        "its lease was let go, not renewed forever"
    );
    assert!(job.get::<_, bool>(2), "it waits for its retry");
    assert!(job
        .get::<_, String>(3)
        .contains("the job panicked: the driver fell over"));

    w.drain_with(&worker).await;
    let detail = app::server::loans::detail(&mut *w.conn().await, &dana, id)
        .await
        .unwrap();
    assert_eq!(detail.summary.state, app::types::LoanState::Failed);
    assert!(detail
        .events
        .iter()
        .any(|e| e.message.contains("attempt 3 of 3") && e.message.contains("panicked")));
}

#[tokio::test]
async fn a_recurring_job_that_gave_up_comes_back() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let pending = "SELECT count(*) FROM jobs WHERE failed_at IS NULL AND kind IN ('sweep_waiting', 'purge_mail', 'health_sweep')";
    server::jobs::schedule_recurring(
        &mut conn,
        8,
        server::config::HealthConfig::default(),
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(w.count(pending).await, 3);
    // All gave up (as after twenty failed attempts); a restart schedules them again.
    w.sql()
        .await
        .execute(
            "UPDATE jobs SET failed_at = now() WHERE kind IN ('sweep_waiting', 'purge_mail', 'health_sweep')",
            &[],
        )
        .await
        .unwrap();
    server::jobs::schedule_recurring(
        &mut conn,
        8,
        server::config::HealthConfig::default(),
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        w.count(pending).await,
        3,
        "the sweep, the purge and the health checks are back"
    );

    // A daily digest that gives up (the SMTP server is gone) schedules the next day's.
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    w.admin("Rex").await;
    w.borrow(&dana, "build").await;
    let about = w.clock.now() + chrono::Duration::hours(1);
    app::server::mail::schedule(
        &mut conn,
        app::types::MailKind::Digest,
        None,
        Some(about),
        None,
        w.clock.now(),
        w.clock.now(),
    )
    .await
    .unwrap();
    w.sql()
        .await
        .execute(
            "UPDATE jobs SET max_attempts = 1 WHERE kind = 'send_mail'",
            &[],
        )
        .await
        .unwrap();
    let mut nowhere = server::config::Config::default();
    nowhere.mail.transport = Some(server::config::MailTransport::Smtp);
    nowhere.mail.host = "127.0.0.1".into();
    nowhere.mail.port = Some(9);
    nowhere.mail.tls = server::config::TlsMode::None;
    nowhere.mail.timeout_secs = 2;
    let worker = Worker::new(w.deps(jobs_config(), Mailer::from_config(&nowhere).unwrap()));
    worker.run_until_idle().await.unwrap();
    let next_day = w
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM jobs WHERE failed_at IS NULL AND payload->>'mail' = 'digest' AND (payload->>'about')::timestamptz = $1::text::timestamptz",
            &[&(about + chrono::Duration::days(1)).to_rfc3339()],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(next_day, 1, "tomorrow's digest is scheduled");
}

#[tokio::test]
async fn a_sweep_whose_last_attempt_fails_schedules_the_next_one() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    server::jobs::schedule_recurring(
        &mut conn,
        8,
        server::config::HealthConfig::default(),
        w.clock.now(),
    )
    .await
    .unwrap();
    let sql = w.sql().await;
    sql.batch_execute(
        "UPDATE jobs SET max_attempts = 1 WHERE kind = 'sweep_waiting';
         -- The sweep's query now fails, as it would with the database in trouble.
         ALTER TABLE loans RENAME TO loans_elsewhere;",
    )
    .await
    .unwrap();
    w.clock.advance(chrono::Duration::minutes(30));
    w.worker().run_until_idle().await.unwrap();

    let sweeps = |failed: bool| {
        format!(
            "SELECT count(*) FROM jobs WHERE kind = 'sweep_waiting' AND (failed_at IS NOT NULL) = {failed}"
        )
    };
    assert_eq!(
        w.count(&sweeps(true)).await,
        1,
        "the sweep failed and gave up"
    );
    assert_eq!(
        w.count(&sweeps(false)).await,
        1,
        "and the next sweep is scheduled"
    );
}
