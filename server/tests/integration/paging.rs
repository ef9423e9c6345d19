//! Long lists are paged on the server: all loans and the audit log by cursor (newest first),
//! machines by page number with a state filter. Each page link works without JavaScript, and a
//! cursor or page that is not one is refused with the field named, never a 500.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;

use crate::common::http::Site;
use crate::common::World;

/// Calls an admin list function and reads its answer.
async fn list<T: serde::de::DeserializeOwned>(
    site: &Site,
    cookie: &str,
    path: &str,
    form: &str,
) -> T {
    let reply = site.call(path, Some(cookie), form).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{path} {form}: {}",
        reply.body
    );
    serde_json::from_str(&reply.body).unwrap()
}

#[tokio::test]
async fn all_loans_come_a_page_at_a_time_newest_first_and_a_bad_cursor_is_refused() {
    let (w, site) = crate::http::with_one_pool().await;
    let admin = site.sign_in("Rex", "admin").await;
    let dana = w.developer("Dana").await;
    let first = w.borrow(&dana, "build").await;
    // 249 more past loans, one a minute before the other.
    w.sql()
        .await
        .batch_execute(&format!(
            "INSERT INTO loans (user_id, pool_id, state, reason, duration_hours, ssh_public_key, requested_at, updated_at)
             SELECT user_id, pool_id, 'returned', 'loan ' || i, 1, ssh_public_key,
                    requested_at - (i || ' minutes')::interval, updated_at
             FROM loans, generate_series(1, 249) AS i WHERE id = {first}"
        ))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut sizes = Vec::new();
    loop {
        let p: app::types::LoanPage = list(&site, &admin, "/api/admin/list_loans", &cursor).await;
        sizes.push(p.loans.len());
        let times: Vec<_> = p.loans.iter().map(|l| l.requested_at).collect();
        assert!(times.windows(2).all(|t| t[0] >= t[1]), "newest first");
        seen.extend(p.loans.iter().map(|l| l.id));
        match p.older {
            Some(id) => {
                assert_eq!(Some(id), p.loans.last().map(|l| l.id));
                cursor = format!("before={id}");
            }
            None => break,
        }
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(seen[0], first, "the newest loan comes first");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 250, "every loan once");

    // A cursor that is not a loan number is refused, never a 500.
    let reply = site
        .call(
            "/api/admin/list_loans",
            Some(&admin),
            "before=1%27%20OR%201%3D1",
        )
        .await;
    assert!(
        reply.status.is_client_error(),
        "{} {}",
        reply.status,
        reply.body
    );
    // A developer may not list everyone's loans.
    let developer = site.sign_in("Dana", "developer").await;
    let reply = site
        .call("/api/admin/list_loans", Some(&developer), "")
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // The page links the next page, which works without JavaScript.
    let html = site.page("/admin/loans", Some(&admin)).await;
    assert!(
        html.body
            .contains(&format!("/admin/loans?before={}", seen[99])),
        "the page links the older loans"
    );
    let html = site
        .page(&format!("/admin/loans?before={}", seen[199]), Some(&admin))
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains(&format!("/loans/{}", seen[249])));
    assert!(!html.body.contains("data-testid=\"older-loans\""));
}

#[tokio::test]
async fn machines_come_a_hundred_to_a_page_filtered_by_state_with_counts_of_all() {
    let w = World::new().await;
    let mut spec = w.pool_spec("rack");
    spec.machines = 230;
    w.add_pool(spec).await;
    w.sql()
        .await
        .batch_execute(
            "UPDATE machines SET state = 'broken', state_reason = 'fan' WHERE id IN (SELECT id FROM machines ORDER BY fqdn LIMIT 7)",
        )
        .await
        .unwrap();
    let site = w.web(true, "127.0.0.1:3000");
    let admin = site.sign_in("Rex", "admin").await;
    let path = "/api/admin/list_machines";

    let mut names = Vec::new();
    for n in 1..=3 {
        let page: app::types::MachinePage = list(&site, &admin, path, &format!("page={n}")).await;
        assert_eq!((page.page, page.pages), (n, 3));
        names.extend(page.rows.into_iter().map(|m| m.fqdn));
        let count = |s| page.counts.iter().find(|(c, _)| *c == s).unwrap().1;
        assert_eq!(count(app::types::MachineState::Available), 223);
        assert_eq!(count(app::types::MachineState::Broken), 7);
    }
    assert_eq!(names.len(), 230);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 230, "every machine once");

    let broken: app::types::MachinePage = list(&site, &admin, path, "state=broken").await;
    assert_eq!((broken.rows.len(), broken.pages), (7, 1));
    assert!(broken
        .rows
        .iter()
        .all(|m| m.state == app::types::MachineState::Broken));
    // A page past the end shows the last one.
    let last: app::types::MachinePage = list(&site, &admin, path, "page=99").await;
    assert_eq!((last.page, last.rows.len()), (3, 30));

    for (form, field) in [
        ("state=on+fire", "state"),
        ("page=0", "page"),
        ("page=1%3BDROP", "page"),
    ] {
        let reply = site.call(path, Some(&admin), form).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}: {}",
            reply.body
        );
        assert!(reply.body.contains(field), "{form}: {}", reply.body);
    }
    let developer = site.sign_in("Dana", "developer").await;
    assert_eq!(
        site.call(path, Some(&developer), "").await.status,
        StatusCode::FORBIDDEN
    );

    // The page: tiles filter, the pager keeps the filter.
    let html = site.page("/admin/machines?page=2", Some(&admin)).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains("Page 2 of 3"));
    assert!(html.body.contains("/admin/machines?page=3"));
    assert!(html.body.contains("/admin/machines?state=broken"));
    assert!(html.body.contains(&names[100]));
    assert!(!html.body.contains(&format!(">{}<", names[0])));
}

#[tokio::test]
async fn the_audit_log_comes_a_page_at_a_time_keeping_its_filter() {
    let (w, site) = crate::http::with_one_pool().await;
    let admin = site.sign_in("Rex", "admin").await;
    // 250 entries by Vera, and some by others.
    w.sql()
        .await
        .batch_execute(
            "INSERT INTO audit_log (at, actor, kind, target_type, target_id, target)
             SELECT now() - (i || ' seconds')::interval, 'Vera', 'machines.update', 'machines', i::text, 'm' || i
             FROM generate_series(1, 250) AS i",
        )
        .await
        .unwrap();
    let path = "/api/admin/search_audit";
    let filter = "actor=Vera&target=&kind=&from=&to=";
    let mut seen = Vec::new();
    let mut before = String::new();
    let mut sizes = Vec::new();
    loop {
        let page: app::types::AuditPage =
            list(&site, &admin, path, &format!("{filter}{before}")).await;
        assert!(page.rows.iter().all(|r| r.actor == "Vera"));
        assert!(
            page.rows.windows(2).all(|r| r[0].at >= r[1].at),
            "newest first"
        );
        sizes.push(page.rows.len());
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.older {
            Some(id) => before = format!("&before={id}"),
            None => break,
        }
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250);

    let reply = site
        .call(path, Some(&admin), &format!("{filter}&before=x"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.body.contains("before"));

    let html = site.page("/admin/audit?actor=Vera", Some(&admin)).await;
    assert!(html.body.contains("data-testid=\"older-entries\""));
    assert!(html
        .body
        .contains("/admin/audit?actor=Vera&amp;target=&amp;kind=&amp;from=&amp;to=&amp;before="));
}
