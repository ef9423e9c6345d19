//! Measured scenarios shared by the precision test and the benchmark (`cargo bench -p server`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::{lifecycle, loans, queue, Clock};
use app::types::{Action, Role};
use chrono::{DurationRound, Utc};
use diesel::prelude::*;

use super::*;

/// Percentiles of a set of measurements, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
        Self {
            count: values.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: values.last().copied().unwrap_or_default(),
        }
    }
}

/// `n` ready loans whose deadlines are spread over one clock minute (real time), a worker
/// running as `loaner serve` runs it, and how late after its deadline each reclaim started.
/// The clean-up steps take 200 ms each, so the work lane is busy while the timers fire.
pub async fn reclaim_lateness(db: &TestDb, n: usize) -> Spread {
    let pool = db.pool();
    let clock = Clock::system();
    let scripts = Scripts::new();
    let nap = scripts.write("nap.sh", "sleep 0.2\necho cleaned");
    let mut conn = pool.get().await.unwrap();
    let mut spec = PoolSpec::new("burst", &scripts);
    spec.machines = n;
    spec.provision = vec![];
    spec.reclaim = vec![step("Wipe", Action::Reimage, &nap)];
    insert_pool(&mut conn, spec).await;
    let dana = user(&mut conn, "Dana", Role::Developer).await;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(
            loans::request(&mut conn, &dana, &request("burst"), clock.now())
                .await
                .unwrap(),
        );
    }
    drain(&worker(db, &pool, &clock), &clock, &pool).await;

    // Deadlines spread over one minute, starting 8 s from now.
    let minute = (Utc::now() + chrono::Duration::seconds(8))
        .duration_trunc(chrono::Duration::milliseconds(1))
        .unwrap();
    let sql = db.sql().await;
    for (i, id) in ids.iter().enumerate() {
        let deadline = minute + chrono::Duration::milliseconds((i as i64 * 60_000) / n as i64);
        diesel_async::RunQueryDsl::execute(
            diesel::update(app::server::schema::loans::table.find(*id))
                .set(app::server::schema::loans::expires_at.eq(deadline)),
            &mut conn,
        )
        .await
        .unwrap();
        let context = loans::context(&mut conn, *id).await.unwrap();
        queue::cancel_deadline_jobs(&mut conn, *id).await.unwrap();
        lifecycle::arm_deadline(&mut conn, *id, &context.pool, deadline, &[], clock.now())
            .await
            .unwrap();
    }
    drop(conn);

    let mut config = jobs_config();
    config.poll_secs = 5;
    let worker = Arc::new(server::jobs::Worker::new(worker_deps(
        db, &pool, &clock, config,
    )));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let started = Instant::now();
    let counted = "SELECT count(*) FROM loan_events WHERE kind = 'reclaim_started'";
    while count(&sql, counted).await < n as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the reclaims did not all start"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();

    let late: Vec<f64> = sql
        .query(
            "SELECT extract(epoch FROM e.at - l.expires_at)::float8 * 1000 FROM loan_events e JOIN loans l ON l.id = e.loan_id WHERE e.kind = 'reclaim_started'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, f64>(0))
        .collect();
    Spread::of(late)
}
