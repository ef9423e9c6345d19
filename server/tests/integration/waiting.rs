//! The waiting line: approved loans that found no free machine get the first one that comes
//! back, first come first served, exactly once, with no human action.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::models::User;
use app::server::{loans, Clock, DbPool};
use app::types::{LoanState, Role};

async fn ask(pool: &DbPool, who: &User, clock: &Clock) -> i64 {
    let mut conn = pool.get().await.unwrap();
    let mut wanted = request("scarce");
    wanted.wait = true;
    loans::request(&mut conn, who, &wanted, clock.now())
        .await
        .unwrap()
}

async fn state_of(pool: &DbPool, who: &User, id: i64) -> (LoanState, Option<i64>) {
    let mut conn = pool.get().await.unwrap();
    let d = loans::detail(&mut conn, who, id).await.unwrap();
    (d.summary.state, d.queue_position)
}

#[tokio::test]
async fn waiting_loans_get_returned_machines_first_come_first_served() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let clock = Clock::system();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    let mut spec = PoolSpec::new("scarce", &scripts);
    spec.machines = 1;
    insert_pool(&mut conn, spec).await;
    let (a, b, c) = (
        user(&mut conn, "Ann", Role::Developer).await,
        user(&mut conn, "Bob", Role::Developer).await,
        user(&mut conn, "Cat", Role::Developer).await,
    );
    let worker = worker(&db, &pool, &clock);
    let first = ask(&pool, &a, &clock).await;
    drain(&worker, &clock, &pool).await;
    let second = ask(&pool, &b, &clock).await;
    let third = ask(&pool, &c, &clock).await;

    assert_eq!(state_of(&pool, &a, first).await.0, LoanState::Ready);
    assert_eq!(
        state_of(&pool, &b, second).await,
        (LoanState::Waiting, Some(1))
    );
    assert_eq!(
        state_of(&pool, &c, third).await,
        (LoanState::Waiting, Some(2))
    );
    let detail = loans::detail(&mut conn, &b, second).await.unwrap();
    assert!(detail
        .events
        .iter()
        .any(|e| e.kind == "waiting" && e.message.contains("#1")));

    // Without the wish to wait, an exhausted pool still refuses and stores nothing.
    let refused = loans::request(&mut conn, &c, &request("scarce"), clock.now()).await;
    assert!(matches!(
        refused,
        Err(loans::LoanError::PoolExhausted { .. })
    ));

    loans::return_loan(&mut conn, &a, first, clock.now())
        .await
        .unwrap();
    drain(&worker, &clock, &pool).await;

    assert_eq!(
        state_of(&pool, &b, second).await.0,
        LoanState::Ready,
        "the first in line got it"
    );
    assert_eq!(
        state_of(&pool, &c, third).await,
        (LoanState::Waiting, Some(1)),
        "and the next moved up"
    );

    // Cancelling leaves the line.
    loans::cancel(&mut conn, &c, third, clock.now())
        .await
        .unwrap();
    loans::return_loan(&mut conn, &b, second, clock.now())
        .await
        .unwrap();
    drain(&worker, &clock, &pool).await;
    assert_eq!(state_of(&pool, &c, third).await.0, LoanState::Cancelled);
    let sql = db.sql().await;
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM machines WHERE state = 'available'"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn returned_machines_go_to_waiting_loans_exactly_once_with_several_workers() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let clock = Clock::system();
    let scripts = Scripts::new();
    let nap = scripts.write("nap.sh", "sleep 0.2\necho ok");
    let mut conn = pool.get().await.unwrap();
    let mut spec = PoolSpec::new("scarce", &scripts);
    spec.machines = 3;
    spec.reclaim = vec![step("Wipe", app::types::Action::Reimage, &nap)];
    insert_pool(&mut conn, spec).await;
    let mut people = Vec::new();
    for n in 0..8 {
        people.push(user(&mut conn, &format!("Dev {n}"), Role::Developer).await);
    }
    let mut ids = Vec::new();
    for person in &people {
        ids.push(ask(&pool, person, &clock).await);
    }
    drain(&worker(&db, &pool, &clock), &clock, &pool).await;
    let sql = db.sql().await;
    assert_eq!(
        count(&sql, "SELECT count(*) FROM loans WHERE state = 'ready'").await,
        3
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM loans WHERE state = 'waiting'").await,
        5
    );

    for (person, id) in people.iter().zip(&ids).take(3) {
        loans::return_loan(&mut conn, person, *id, clock.now())
            .await
            .unwrap();
    }
    let (a, b, c) = (
        worker(&db, &pool, &clock),
        worker(&db, &pool, &clock),
        worker(&db, &pool, &clock),
    );
    async fn run(w: &server::jobs::Worker, pool: &DbPool, clock: &Clock) {
        while outstanding(pool, clock).await > 0 {
            w.run_until_idle().await.unwrap();
        }
    }
    tokio::join!(
        run(&a, &pool, &clock),
        run(&b, &pool, &clock),
        run(&c, &pool, &clock)
    );

    assert_eq!(
        count(&sql, "SELECT count(*) FROM loans WHERE state = 'ready'").await,
        3,
        "three new loans got the three machines"
    );
    assert_eq!(
        count(&sql, "SELECT count(*) FROM loans WHERE state = 'waiting'").await,
        2
    );
    let served: Vec<i64> = sql
        .query(
            "SELECT id FROM loans WHERE state = 'ready' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(served, ids[3..6].to_vec(), "first come, first served");
    let assigned = "SELECT count(*) FROM loan_events WHERE kind = 'machine_assigned' GROUP BY loan_id HAVING count(*) > 1";
    assert!(
        sql.query(assigned, &[]).await.unwrap().is_empty(),
        "no loan got two machines"
    );
    assert_eq!(
        count(
            &sql,
            "SELECT count(DISTINCT machine_id) FROM loans WHERE state = 'ready'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn the_sweep_serves_a_line_that_a_freed_machine_missed() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let clock = Clock::system();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    let mut spec = PoolSpec::new("scarce", &scripts);
    spec.machines = 1;
    insert_pool(&mut conn, spec).await;
    let ann = user(&mut conn, "Ann", Role::Developer).await;
    let sql = db.sql().await;
    // The only machine is out of service, so the loan waits.
    sql.execute("UPDATE machines SET state = 'maintenance'", &[])
        .await
        .unwrap();
    let id = ask(&pool, &ann, &clock).await;
    assert_eq!(state_of(&pool, &ann, id).await.0, LoanState::Waiting);
    // Someone puts the machine back behind Loaner's back; the sweep notices.
    sql.execute("UPDATE machines SET state = 'available'", &[])
        .await
        .unwrap();
    server::jobs::schedule_sweep(&mut conn, clock.now())
        .await
        .unwrap();
    clock.advance(chrono::Duration::minutes(6));
    drain(&worker(&db, &pool, &clock), &clock, &pool).await;
    assert_eq!(state_of(&pool, &ann, id).await.0, LoanState::Ready);
}
