//! Crashes around a deadline: the deadline passes while Loaner is down, a real worker process
//! starts reclaiming and is killed (SIGKILL) mid-step; after a restart the loan is reclaimed
//! exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use crate::lifecycle::{mail_kinds, ready_loan, state};
use app::server::{loans, queue};
use app::types::Action;

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_deadline_and_reclaim_leaves_the_loan_reclaimed_exactly_once() {
    let w = World::new().await;
    let runs = w.scripts.path("runs");
    let started = w.scripts.path("started");
    let pids = w.scripts.path("pids");
    let wipe = w.scripts.write(
        "wipe_once.sh",
        &format!(
            "echo $$ >> {pids}\necho run >> {runs}\nif [ \"$(wc -l < {runs})\" -eq 1 ]; then touch {started}; sleep 120; fi\necho wiped",
            pids = pids.display(),
            runs = runs.display(),
            started = started.display()
        ),
    );
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("crashy");
    spec.reclaim = vec![step("Wipe", Action::Reimage, &wipe)];
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let id = loans::request(&mut conn, &dana, &request("crashy"), w.clock.now())
        .await
        .unwrap();
    w.drain().await;

    // The deadline passed two seconds ago, while no worker ran.
    let sql = w.sql().await;
    sql.execute("UPDATE loans SET expires_at = date_trunc('milliseconds', now()) - interval '2 seconds' WHERE id = $1", &[&id.0])
        .await
        .unwrap();
    let context = loans::context(&mut conn, id).await.unwrap();
    queue::cancel_deadline_jobs(&mut conn, id).await.unwrap();
    loans::arm_deadline(
        &mut conn,
        id,
        &context.pool,
        context.loan.expires_at.unwrap(),
        &[60],
        w.clock.now(),
    )
    .await
    .unwrap();

    // Loaner starts; its worker expires the loan, starts the wipe, and is killed.
    let mut first = w.worker_process(&[]);
    wait_for("the wipe to start", async || started.exists()).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let state: String = sql
        .query_one("SELECT state FROM loans WHERE id = $1", &[&id.0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "reclaiming");

    // Loaner restarts.
    let _second = w.worker_process(&[]);
    wait_for("the loan to be reclaimed", async || {
        w.count(&format!(
            "SELECT count(*) FROM loans WHERE id = {id} AND state = 'reclaimed'"
        ))
        .await
            == 1
    })
    .await;

    let events = |kind: &str| {
        format!("SELECT count(*) FROM loan_events WHERE loan_id = {id} AND kind = '{kind}'")
    };
    assert_eq!(w.count(&events("reclaim_started")).await, 1);
    assert_eq!(
        w.count(&events("step_succeeded")).await,
        4,
        "3 provisioning steps, 1 wipe"
    );
    assert_eq!(w.count(&events("cleanup_finished")).await, 1);
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap().lines().count(),
        2,
        "the wipe ran again after the crash"
    );
    wait_for("the messages", async || {
        w.count(&format!(
            "SELECT count(*) FROM emails WHERE loan_id = {id} AND kind IN ('expired', 'reclaimed')"
        ))
        .await
            == 2
    })
    .await;
    assert_eq!(
        w.count(&format!(
            "SELECT count(*) FROM emails WHERE loan_id = {id} AND kind = 'expired'"
        ))
        .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        3
    );

    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }
}

#[tokio::test]
async fn a_deadline_that_passed_while_loaner_was_down_is_handled_once_at_start() {
    let w = World::new().await;
    let worker_before = w.worker();
    let (id, _) = ready_loan(&w, &worker_before, w.pool_spec("build"), "72").await;
    drop(worker_before);

    // Loaner is down for five days; the deadline and every reminder pass.
    w.clock.advance(chrono::Duration::days(5));
    let after = w.worker();
    w.drain_with(&after).await;
    w.drain().await;

    let sql = w.sql().await;
    assert_eq!(state(&sql, id).await, "reclaimed");
    let count = |kind: &'static str| {
        let sql = &sql;
        async move {
            let n: i64 = sql
                .query_one(
                    "SELECT count(*) FROM loan_events WHERE loan_id = $1 AND kind = $2",
                    &[&id.0, &kind],
                )
                .await
                .unwrap()
                .get(0);
            n
        }
    };
    assert_eq!(count("reclaim_started").await, 1);
    assert_eq!(count("cleanup_finished").await, 1);
    assert_eq!(
        mail_kinds(&sql, id).await,
        ["ready", "expired", "reclaimed"],
        "no reminders for a deadline already past"
    );
}
