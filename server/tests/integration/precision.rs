//! Timer precision: every expired loan's reclaim starts within 2 seconds of its deadline, even
//! with 200 loans expiring in the same minute and the work lane busy with clean-up steps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::scenarios;
use crate::common::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_loans_expiring_in_one_minute_are_each_reclaimed_within_two_seconds() {
    let w = World::new().await;

    let late = scenarios::reclaim_lateness(&w, 200).await;

    println!(
        "reclaim lateness over {} loans: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        late.count, late.p50, late.p99, late.max
    );
    assert_eq!(late.count, 200);
    assert!(
        late.max <= 2000.0,
        "a reclaim started {:.0} ms after its deadline",
        late.max
    );
    assert!(
        late.min >= 0.0,
        "a reclaim started {:.0} ms before its deadline",
        -late.min
    );
}
