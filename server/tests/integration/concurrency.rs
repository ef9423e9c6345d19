//! Many people asking for the same few machines at the same moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::common::*;
use app::server::loans::{self, LoanError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_requests_for_three_free_machines_give_three_loans_and_seventeen_refusals(
) {
    let w = World::new().await;
    let conn = w.conn().await;
    w.add_pool(w.pool_spec("scarce")).await;
    let mut people = Vec::new();
    for n in 0..20 {
        people.push(w.developer(&format!("Dev {n}")).await);
    }
    drop(conn);

    let start = Arc::new(tokio::sync::Barrier::new(people.len()));
    let now = w.clock.now();
    let tasks: Vec<_> = people
        .into_iter()
        .map(|person| {
            let pool = w.pool.clone();
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
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 3);
    assert_eq!(
        w.count("SELECT count(DISTINCT machine_id) FROM loans")
            .await,
        3
    );
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state = 'provisioning'")
            .await,
        3
    );
    assert_eq!(w.count("SELECT count(*) FROM loan_events").await, 9);
    assert_eq!(w.count("SELECT count(*) FROM jobs").await, 3);
}
