//! Many people asking for the same few machines at the same moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use app::server::loans::{self, LoanError};
use app::server::Clock;
use app::types::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_requests_for_three_free_machines_give_three_loans_and_seventeen_refusals(
) {
    let db = TestDb::new().await;
    let pool = db.pool();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    insert_pool(&mut conn, PoolSpec::new("scarce", &scripts)).await;
    let mut people = Vec::new();
    for n in 0..20 {
        people.push(user(&mut conn, &format!("Dev {n}"), Role::Developer).await);
    }
    drop(conn);

    let start = Arc::new(tokio::sync::Barrier::new(people.len()));
    let now = Clock::system().now();
    let tasks: Vec<_> = people
        .into_iter()
        .map(|person| {
            let pool = pool.clone();
            let start = start.clone();
            tokio::spawn(async move {
                let mut conn = pool.get().await.unwrap();
                start.wait().await;
                loans::request(&mut conn, &person, &request("scarce"), now).await
            })
        })
        .collect();
    let mut granted = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => granted += 1,
            Err(LoanError::PoolExhausted { pool }) => {
                assert_eq!(pool, "Pool scarce");
                refused += 1;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }

    assert_eq!((granted, refused), (3, 17));
    let sql = db.sql().await;
    assert_eq!(count(&sql, "SELECT count(*) FROM loans").await, 3);
    assert_eq!(
        count(&sql, "SELECT count(DISTINCT machine_id) FROM loans").await,
        3
    );
    assert_eq!(
        count(
            &sql,
            "SELECT count(*) FROM machines WHERE state = 'provisioning'"
        )
        .await,
        3
    );
    assert_eq!(count(&sql, "SELECT count(*) FROM loan_events").await, 9);
    assert_eq!(count(&sql, "SELECT count(*) FROM jobs").await, 3);
}
