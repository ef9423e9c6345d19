//! The waiting line: approved loans that found no free machine get the first one that comes
//! back, first come first served, exactly once, with no human action.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans;
use app::server::models::User;
use app::types::LoanState;

async fn ask(w: &World, who: &User) -> LoanId {
    let mut conn = w.conn().await;
    let mut wanted = request("scarce");
    wanted.wait = true;
    loans::request(&mut conn, who, &wanted, w.clock.now())
        .await
        .unwrap()
}

async fn state_of(w: &World, who: &User, id: LoanId) -> (LoanState, Option<i64>) {
    let mut conn = w.conn().await;
    let d = loans::detail(&mut conn, who, id).await.unwrap();
    (d.summary.state, d.queue_position)
}

#[tokio::test]
async fn waiting_loans_get_returned_machines_first_come_first_served() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("scarce");
    spec.machines = 1;
    w.add_pool(spec).await;
    let (a, b, c) = (
        w.developer("Ann").await,
        w.developer("Bob").await,
        w.developer("Cat").await,
    );
    let worker = w.worker();
    let first = ask(&w, &a).await;
    w.drain_with(&worker).await;
    let second = ask(&w, &b).await;
    let third = ask(&w, &c).await;

    assert_eq!(state_of(&w, &a, first).await.0, LoanState::Ready);
    assert_eq!(
        state_of(&w, &b, second).await,
        (LoanState::Waiting, Some(1))
    );
    assert_eq!(state_of(&w, &c, third).await, (LoanState::Waiting, Some(2)));
    let detail = loans::detail(&mut conn, &b, second).await.unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind.as_str() == "waiting" && e.message.contains("#1")));

    // Without the wish to wait, an exhausted pool still refuses and stores nothing.
    let refused = loans::request(&mut conn, &c, &request("scarce"), w.clock.now()).await;
    assert!(matches!(
        refused,
        Err(loans::LoanError::PoolExhausted { .. })
    ));

    loans::return_loan(&mut conn, &a, first, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    assert_eq!(
        state_of(&w, &b, second).await.0,
        LoanState::Ready,
        "the first in line got it"
    );
    assert_eq!(
        state_of(&w, &c, third).await,
        (LoanState::Waiting, Some(1)),
        "and the next moved up"
    );

    // Cancelling leaves the line.
    loans::cancel(&mut conn, &c, third, w.clock.now())
        .await
        .unwrap();
    loans::return_loan(&mut conn, &b, second, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    assert_eq!(state_of(&w, &c, third).await.0, LoanState::Cancelled);
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'available'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn returned_machines_go_to_waiting_loans_exactly_once_with_several_workers() {
    let w = World::new().await;
    let nap = w.scripts.write("nap.sh", "sleep 0.2\necho ok");
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("scarce");
    spec.machines = 3;
    spec.reclaim = vec![step("Wipe", app::types::Action::Reimage, &nap)];
    w.add_pool(spec).await;
    let mut people = Vec::new();
    for n in 0..8 {
        people.push(w.developer(&format!("Dev {n}")).await);
    }
    let mut ids = Vec::new();
    for person in &people {
        ids.push(ask(&w, person).await);
    }
    w.drain().await;
    let sql = w.sql().await;
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'ready'")
            .await,
        3
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'waiting'")
            .await,
        5
    );

    for (person, id) in people.iter().zip(&ids).take(3) {
        loans::return_loan(&mut conn, person, *id, w.clock.now())
            .await
            .unwrap();
    }
    let (a, b, c) = (w.worker(), w.worker(), w.worker());
    async fn run(worker: &server::jobs::Worker, w: &World) {
        while w.outstanding().await > 0 {
            worker.run_until_idle().await.unwrap();
        }
    }
    tokio::join!(run(&a, &w), run(&b, &w), run(&c, &w));

    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'ready'")
            .await,
        3,
        "three new loans got the three machines"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'waiting'")
            .await,
        2
    );
    let served: Vec<LoanId> = sql
        .query(
            "SELECT id FROM loans WHERE state = 'ready' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| LoanId(r.get(0)))
        .collect();
    assert_eq!(served, ids[3..6].to_vec(), "first come, first served");
    let assigned = "SELECT count(*) FROM loan_events WHERE kind = 'machine_assigned' GROUP BY loan_id HAVING count(*) > 1";
    assert!(
        sql.query(assigned, &[]).await.unwrap().is_empty(),
        "no loan got two machines"
    );
    assert_eq!(
        w.count("SELECT count(DISTINCT machine_id) FROM loans WHERE state = 'ready'")
            .await,
        3
    );
}

#[tokio::test]
async fn the_sweep_serves_a_line_that_a_freed_machine_missed() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("scarce");
    spec.machines = 1;
    w.add_pool(spec).await;
    let ann = w.developer("Ann").await;
    let sql = w.sql().await;
    // The only machine is out of service, so the loan waits.
    sql.execute("UPDATE machines SET state = 'maintenance'", &[])
        .await
        .unwrap();
    let id = ask(&w, &ann).await;
    assert_eq!(state_of(&w, &ann, id).await.0, LoanState::Waiting);
    // Someone puts the machine back behind Loaner's back; the sweep notices.
    sql.execute("UPDATE machines SET state = 'available'", &[])
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
    w.clock.advance(chrono::Duration::minutes(6));
    w.drain().await;
    assert_eq!(state_of(&w, &ann, id).await.0, LoanState::Ready);
}
