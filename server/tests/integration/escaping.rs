//! What people type is shown as text: markup in a loan's reason or a pool's name never runs on
//! the pages that render their tables and cards to HTML in one pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::http::urlencode;
use crate::common::*;

/// Markup typed into a loan's reason or a pool's name is shown as text on the pages that render
/// their tables and cards to HTML in one pass (my loans, all loans, the kept catalogue), never
/// run as markup.
#[tokio::test]
async fn markup_in_a_reason_or_a_pool_name_is_shown_as_text() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let attack = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    w.sql()
        .await
        .execute(
            "UPDATE pools SET name = $1 WHERE slug = 'build'",
            &[&attack],
        )
        .await
        .unwrap();
    let site = w.web(true, "127.0.0.1:3000");
    let ada = site.sign_in("ada", "developer").await;
    let form = format!(
        "pool=build&reason={}&bug_ref=&duration_hours=4&ssh_public_key={}",
        urlencode(attack),
        urlencode(crate::common::world::SSH_KEY)
    );
    let reply = site.call("/api/request_loan", Some(&ada), &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let admin = site.sign_in("rex", "admin").await;
    for (path, cookie) in [("/", &ada), ("/loans", &ada), ("/admin/loans", &admin)] {
        let page = site.page(path, Some(cookie)).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path} shows the text: {}",
            page.body
        );
        assert!(
            !page.body.contains("<script>alert"),
            "{path} runs no script"
        );
        assert!(!page.body.contains("<img src=x"), "{path} adds no element");
    }
}
