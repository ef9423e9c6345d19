//! One-click links from reminder emails: each works once, only for the deadline it was issued
//! for, and reading it (as mail scanners do) changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use crate::lifecycle::{ready_loan, state, OFFSETS};
use app::server::links::{self, LinkError};
use app::types::{LinkStatus, LoanState};
use chrono::Duration;

#[tokio::test]
async fn a_return_link_works_once_and_reading_it_changes_nothing() {
    let w = World::new().await;
    let worker = w.worker();
    let (id, _) = ready_loan(&w, &worker, w.pool_spec("build"), "2").await;
    w.clock.advance(Duration::minutes(61));
    worker.run_until_idle().await.unwrap();
    let sql = w.sql().await;
    let body: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'reminder'", &[])
        .await
        .unwrap()
        .get(0);
    let tokens = smtp::links(&body);
    let (return_token, extend_token) = (&tokens[0], &tokens[1]);
    let mut conn = w.conn().await;

    for _ in 0..3 {
        let view = links::inspect(&mut conn, return_token, w.clock.now())
            .await
            .unwrap();
        assert_eq!(view.status, LinkStatus::Valid);
        assert_eq!(view.loan_id, id);
    }
    assert_eq!(
        state(&sql, id).await,
        "ready",
        "reading a link changes nothing"
    );

    let done = links::redeem(&mut conn, return_token, "", &OFFSETS, w.clock.now())
        .await
        .unwrap();
    assert!(matches!(done.status, LinkStatus::Used(_)));
    assert_eq!(done.loan_state, LoanState::Returning);
    let events_after_first: i64 = sql
        .query_one(
            "SELECT count(*) FROM loan_events WHERE loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap()
        .get(0);
    let again = links::redeem(&mut conn, return_token, "", &OFFSETS, w.clock.now())
        .await
        .unwrap();
    assert!(matches!(again.status, LinkStatus::Used(_)));
    let events_after_second: i64 = sql
        .query_one(
            "SELECT count(*) FROM loan_events WHERE loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        events_after_first, events_after_second,
        "a second use is a no-op"
    );
    assert_eq!(
        links::inspect(&mut conn, extend_token, w.clock.now())
            .await
            .unwrap()
            .status,
        LinkStatus::Expired
    );
    assert!(matches!(
        links::inspect(&mut conn, &"0".repeat(64), w.clock.now()).await,
        Err(LinkError::Unknown)
    ));
}

#[tokio::test]
async fn an_extend_link_extends_once_and_the_old_deadlines_links_expire() {
    let w = World::new().await;
    let worker = w.worker();
    let (id, _) = ready_loan(&w, &worker, w.pool_spec("build"), "2").await;
    w.clock.advance(Duration::minutes(61));
    worker.run_until_idle().await.unwrap();
    let sql = w.sql().await;
    let body: String = sql
        .query_one("SELECT body_text FROM emails WHERE kind = 'reminder'", &[])
        .await
        .unwrap()
        .get(0);
    let tokens = smtp::links(&body);
    let mut conn = w.conn().await;

    let extended = links::redeem(&mut conn, &tokens[1], "", &OFFSETS, w.clock.now())
        .await
        .unwrap();

    assert!(matches!(extended.status, LinkStatus::Used(_)));
    assert_eq!(
        extended.expires_at,
        Some(extended.deadline + Duration::hours(24))
    );
    assert_eq!(
        links::inspect(&mut conn, &tokens[0], w.clock.now())
            .await
            .unwrap()
            .status,
        LinkStatus::Expired
    );
    let twice = links::redeem(&mut conn, &tokens[1], "", &OFFSETS, w.clock.now())
        .await
        .unwrap();
    assert_eq!(twice.expires_at, extended.expires_at, "not extended twice");
    assert_eq!(state(&sql, id).await, "ready");

    // A link past its deadline does nothing either.
    w.clock.advance(Duration::days(2));
    assert_eq!(
        links::inspect(&mut conn, &tokens[0], w.clock.now())
            .await
            .unwrap()
            .status,
        LinkStatus::Expired
    );
}
