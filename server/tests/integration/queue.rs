//! The job queue against a real PostgreSQL and real worker processes: leases, retries with
//! backoff, scheduled jobs, wake-ups by NOTIFY, and exactly-once completion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use app::server::loans;
use app::types::Action;
use server::jobs::Worker;
use server::mail::Mailer;

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_runs_again_after_its_lease_and_completes_once() {
    let w = World::new().await;
    let runs = w.scripts.path("runs");
    let started = w.scripts.path("started");
    let pids = w.scripts.path("pids");
    // The first run hangs (until its worker is killed); the second finishes.
    let slow = w.scripts.write(
        "slow_once.sh",
        &format!(
            "echo $$ >> {pids}\necho run >> {runs}\nn=$(wc -l < {runs})\nif [ \"$n\" -eq 1 ]; then touch {started}; sleep 120; fi\necho \"finished on run $n\"",
            pids = pids.display(),
            runs = runs.display(),
            started = started.display()
        ),
    );
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("killme");
    spec.provision = vec![step("Long re-image", Action::Reimage, &slow)];
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let id = loans::request(&mut conn, &dana, &request("killme"), w.clock.now())
        .await
        .unwrap();

    // A real worker process takes the job, then dies mid-step.
    let mut worker_process = w.worker_process(&[]);
    wait_for("the step to start", Duration::from_secs(30), async || {
        started.exists()
    })
    .await;
    worker_process.start_kill().unwrap();
    worker_process.wait().await.unwrap();

    let sql = w.sql().await;
    let job = sql
        .query_one(
            "SELECT attempts, locked_by IS NOT NULL FROM jobs WHERE loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap();
    assert_eq!(job.get::<_, i32>(0), 1);
    assert!(job.get::<_, bool>(1), "still leased to the dead worker");
    // Within the lease nobody else takes it.
    let mut config = jobs_config();
    config.lease_secs = 2;
    let rescuer = Worker::new(w.deps(config, Mailer::Mailbox));
    assert_eq!(rescuer.run_until_idle().await.unwrap(), 0);

    // After the lease it runs again, and completes once.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    wait_for(
        "the loan to be ready",
        Duration::from_secs(30),
        async || {
            rescuer.run_until_idle().await.unwrap();
            w.count(&format!(
                "SELECT count(*) FROM loans WHERE id = {id} AND state = 'ready'"
            ))
            .await
                == 1
        },
    )
    .await;

    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    let succeeded = w
        .count(&format!(
            "SELECT count(*) FROM loan_events WHERE loan_id = {id} AND kind = 'step_succeeded'"
        ))
        .await;
    assert_eq!(succeeded, 1);
    let output: String = sql
        .query_one(
            "SELECT output FROM loan_events WHERE loan_id = $1 AND kind = 'step_succeeded'",
            &[&id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert!(output.contains("finished on run 2"), "{output}");
    assert_eq!(
        w.count(&format!(
            "SELECT count(*) FROM loan_events WHERE loan_id = {id} AND kind = 'ready'"
        ))
        .await,
        1
    );
    let steps_left = "SELECT count(*) FROM jobs WHERE kind = 'provision_step'";
    assert_eq!(w.count(steps_left).await, 0);

    // The hung first run is an orphan of the killed worker; stop it.
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_is_woken_by_notify_not_by_polling() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("fast")).await;
    let dana = w.developer("Dana").await;
    let mut config = jobs_config();
    config.poll_secs = 120;
    let worker = Arc::new(Worker::new(w.deps(config, Mailer::Mailbox)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    tokio::time::sleep(Duration::from_millis(800)).await;

    let started = Instant::now();
    let id = loans::request(&mut conn, &dana, &request("fast"), w.clock.now())
        .await
        .unwrap();
    wait_for(
        "the loan to be ready",
        Duration::from_secs(20),
        async || {
            w.count(&format!(
                "SELECT count(*) FROM loans WHERE id = {id} AND state = 'ready'"
            ))
            .await
                == 1
        },
    )
    .await;

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_scheduled_job_waits_for_its_time() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("later")).await;
    let dana = w.developer("Dana").await;
    loans::request(&mut conn, &dana, &request("later"), w.clock.now())
        .await
        .unwrap();
    let sql = w.sql().await;
    sql.execute("UPDATE jobs SET run_at = run_at + interval '1 hour'", &[])
        .await
        .unwrap();
    let worker = w.worker();

    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    w.clock.advance(chrono::Duration::minutes(59));
    assert_eq!(worker.run_until_idle().await.unwrap(), 0);
    w.clock.advance(chrono::Duration::minutes(2));
    assert!(worker.run_until_idle().await.unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_run_the_same_job_twice() {
    let w = World::new().await;
    let nap = w.scripts.write("nap.sh", "sleep 0.1\necho napped");
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("busy");
    spec.machines = 8;
    spec.provision = vec![
        step("One", Action::PowerOn, &nap),
        step("Two", Action::Reimage, &nap),
    ];
    w.add_pool(spec).await;
    for n in 0..8 {
        let person = w.developer(&format!("Dev {n}")).await;
        loans::request(&mut conn, &person, &request("busy"), w.clock.now())
            .await
            .unwrap();
    }
    let a = w.worker();
    let b = w.worker();

    let (ran_a, ran_b) = tokio::join!(
        async {
            let mut n = 0;
            while w.outstanding().await > 0 {
                n += a.run_until_idle().await.unwrap();
            }
            n
        },
        async {
            let mut n = 0;
            while w.outstanding().await > 0 {
                n += b.run_until_idle().await.unwrap();
            }
            n
        },
    );

    assert_eq!(
        ran_a + ran_b,
        24,
        "8 loans × 2 steps and a ready message, each run once"
    );
    assert!(
        ran_a > 0 && ran_b > 0,
        "both workers took part ({ran_a}, {ran_b})"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loan_events WHERE kind = 'step_succeeded'")
            .await,
        16
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'ready'")
            .await,
        8
    );
}
