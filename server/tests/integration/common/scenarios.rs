//! Measured scenarios shared by the precision test and the benchmark (`cargo bench -p server`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::server::{loans, queue};
use app::types::Action;
use chrono::{DurationRound, Utc};
use diesel::prelude::*;

use super::*;

/// Percentiles of a set of measurements, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub count: usize,
    pub min: f64,
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
            min: values.first().copied().unwrap_or_default(),
            p50: at(0.50),
            p99: at(0.99),
            max: values.last().copied().unwrap_or_default(),
        }
    }
}

/// `n` ready loans whose deadlines are spread over one clock minute (real time), a worker
/// running as `loaner serve` runs it, and how late after its deadline each reclaim started.
/// The clean-up steps take 200 ms each, so the work lane is busy while the timers fire.
pub async fn reclaim_lateness(w: &World, n: usize) -> Spread {
    let nap = w.scripts.write("nap.sh", "sleep 0.2\necho cleaned");
    let mut spec = w.pool_spec("burst");
    spec.machines = n;
    spec.provision = vec![];
    spec.reclaim = vec![step("Wipe", Action::Reimage, &nap)];
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(w.borrow(&dana, "burst").await);
    }
    w.drain().await;
    let mut conn = w.conn().await;

    // Deadlines spread over one minute, starting 8 s from now.
    let minute = (Utc::now() + chrono::Duration::seconds(8))
        .duration_trunc(chrono::Duration::milliseconds(1))
        .unwrap();
    let sql = w.sql().await;
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
        loans::arm_deadline(&mut conn, *id, &context.pool, deadline, &[], w.clock.now())
            .await
            .unwrap();
    }
    drop(conn);

    let mut config = jobs_config();
    config.poll_secs = 5;
    let worker = Arc::new(server::jobs::Worker::new(
        w.deps(config, server::mail::Mailer::Mailbox),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let started = Instant::now();
    let counted = "SELECT count(*) FROM loan_events WHERE kind = 'reclaim_started'";
    while w.count(counted).await < n as i64 {
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
