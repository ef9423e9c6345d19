//! Loans that do not go to plan, and what the database itself refuses: failing clean-ups and
//! provisioning, cancelling mid-way, a machine in two loans, history rewritten.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans::{self, LoanError};
use app::types::{Action, LoanState};

#[tokio::test]
async fn a_failing_clean_up_is_retried_then_marks_the_machine_broken_and_says_so() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("flaky");
    spec.reclaim = vec![step(
        "Wipe disk",
        Action::Reimage,
        &w.scripts.path("fail.sh"),
    )];
    spec.machines = 1;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("flaky"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Returned);
    let failures: Vec<_> = detail
        .events
        .iter()
        .filter(|e| e.kind.as_str() == "step_failed")
        .collect();
    assert_eq!(failures.len(), 3, "three attempts");
    assert!(failures[0].message.contains("attempt 1 of 3"));
    assert!(failures[0]
        .output
        .as_deref()
        .unwrap()
        .contains("cannot reach the BMC"));
    assert!(failures[2].message.contains("giving up"));
    let last = detail.events.last().unwrap();
    assert_eq!(last.kind.as_str(), "machine_broken");
    assert!(last.message.contains("Wipe disk"));
    let sql = w.sql().await;
    let machine = sql
        .query_one("SELECT state, state_reason FROM machines", &[])
        .await
        .unwrap();
    assert_eq!(machine.get::<_, String>(0), "broken");
    assert!(machine.get::<_, String>(1).contains("exited with status 3"));
    let job = sql
        .query_one("SELECT attempts, failed_at IS NOT NULL FROM jobs", &[])
        .await
        .unwrap();
    assert_eq!(job.get::<_, i32>(0), 3);
    assert!(
        job.get::<_, bool>(1),
        "the given-up job stays for admins to read"
    );
}

#[tokio::test]
async fn a_failing_provisioning_fails_the_loan_and_cleans_the_machine() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("bad");
    spec.provision.insert(
        1,
        step(
            "Flash firmware",
            Action::Reimage,
            &w.scripts.path("fail.sh"),
        ),
    );
    spec.machines = 1;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("bad"), w.clock.now())
        .await
        .unwrap();

    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Failed);
    let kinds: Vec<&str> = detail.events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"failed"));
    assert_eq!(kinds.last(), Some(&"cleanup_finished"));
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        1
    );
}

#[tokio::test]
async fn cancelling_during_provisioning_stops_it_and_cleans_up() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let worker = w.worker();
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();

    loans::cancel(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Cancelled);
    assert!(!detail.events.iter().any(|e| e.kind.as_str() == "ready"));
    assert_eq!(
        detail.events.last().unwrap().kind.as_str(),
        "cleanup_finished"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        3
    );
    // A ready loan can no longer be cancelled, and a cancelled one not returned.
    let again = loans::return_loan(&mut conn, &dana, id, w.clock.now()).await;
    assert!(matches!(again, Err(LoanError::Transition(_))));
}

#[tokio::test]
async fn the_database_refuses_a_machine_in_two_active_loans_and_unknown_states() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let id = loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    let sql = w.sql().await;

    let second = sql
        .execute(
            "INSERT INTO loans (user_id, pool_id, machine_id, state, reason, duration_hours, ssh_public_key, requested_at, updated_at)
             SELECT user_id, pool_id, machine_id, 'ready', 'x', 1, 'k', now(), now() FROM loans WHERE id = $1",
            &[&id.0],
        )
        .await
        .unwrap_err();
    assert!(
        pg_error(&second).contains("loans_one_active_loan_per_machine"),
        "{second:?}"
    );

    let bad_state = sql
        .execute(
            "UPDATE loans SET state = 'borrowed' WHERE id = $1",
            &[&id.0],
        )
        .await
        .unwrap_err();
    assert!(
        pg_error(&bad_state).contains("loans_state_check"),
        "{bad_state:?}"
    );
    let bad_machine = sql
        .execute("UPDATE machines SET state = 'lost'", &[])
        .await
        .unwrap_err();
    assert!(
        pg_error(&bad_machine).contains("machines_state_check"),
        "{bad_machine:?}"
    );
}

#[tokio::test]
async fn loan_history_is_append_only() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    let sql = w.sql().await;

    for statement in [
        "UPDATE loan_events SET message = 'nothing happened'",
        "DELETE FROM loan_events",
        "TRUNCATE loan_events",
    ] {
        let err = sql.execute(statement, &[]).await.unwrap_err();
        assert!(
            pg_error(&err).contains("append-only"),
            "{statement}: {err:?}"
        );
    }
    assert_eq!(w.count("SELECT count(*) FROM loan_events").await, 3);
}
