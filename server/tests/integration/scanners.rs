//! One-click links opened the way mail scanners open them (HEAD, GET, a page load): nothing
//! changes until the confirmation page's button posts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::http::with_one_pool;
use app::server::loans;
use app::types::LinkAction;
use axum::body::Body;
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn opening_a_link_like_a_mail_scanner_changes_nothing_and_its_button_works_once() {
    let (w, site) = with_one_pool().await;
    let dana = w.developer("Dana").await;
    let id = w.borrow(&dana, "build").await;
    w.drain().await;
    let mut conn = w.conn().await;
    let deadline = loans::context(&mut conn, id)
        .await
        .unwrap()
        .loan
        .expires_at
        .unwrap();
    let token = app::server::links::issue(
        &mut conn,
        id,
        LinkAction::Return,
        deadline,
        None,
        w.clock.now(),
    )
    .await
    .unwrap();
    let link = format!("/l/{token}");
    let sql = w.sql().await;
    let snapshot = async || -> (String, i64, i64) {
        let row = sql
            .query_one(
                "SELECT (SELECT state FROM loans WHERE id = $1), (SELECT count(*) FROM loan_events WHERE loan_id = $1), (SELECT count(*) FROM link_tokens WHERE used_at IS NOT NULL)",
                &[&id.0],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    let before = snapshot().await;

    let head = site
        .send(
            site.request(Method::HEAD, &link)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    for _ in 0..2 {
        let page = site.page(&link, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Return build-01.test.example?"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Yes, return it now"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    }
    assert_eq!(snapshot().await, before, "HEAD and GET changed nothing");

    let confirm = site
        .form_post("/api/use_link", &link, &format!("token={token}"))
        .await;
    assert_eq!(
        confirm.status,
        StatusCode::FOUND,
        "the browser is sent back to the page"
    );
    let after = snapshot().await;
    assert_eq!(after.0, "returning");
    assert_eq!(after.2, 1);
    let done = site.page(&link, None).await;
    assert!(done.body.contains("This link was used at"), "{}", done.body);

    let again = site
        .form_post("/api/use_link", &link, &format!("token={token}"))
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert_eq!(snapshot().await, after, "a second POST is a no-op");
    let unknown = site.page(&format!("/l/{}", "ab".repeat(32)), None).await;
    assert!(unknown.body.contains("This link is not valid"));
}
