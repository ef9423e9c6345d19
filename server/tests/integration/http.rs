//! The HTTP surface through the real router: admin pages' statuses, what someone else's loan
//! looks like, the development login's limits, and one-click links opened the way mail scanners
//! open them. Who may call which server function is the matrix in authorization.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::http::Site;
use crate::common::*;
use axum::http::StatusCode;

pub(crate) async fn with_one_pool() -> (World, Site) {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 1;
    w.add_pool(spec).await;
    let site = w.web(true, "127.0.0.1:3000");
    (w, site)
}

#[tokio::test]
async fn every_admin_page_answers_401_to_visitors_and_403_to_developers() {
    let (_w, site) = with_one_pool().await;
    let developer = site.sign_in("Dana", "developer").await;
    let admin = site.sign_in("Rex", "admin").await;
    // Every page of the app under /admin, found in its route list, so a new page is covered.
    let mut paths: Vec<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|route| route.path().to_owned())
        .filter(|path| path == "/admin" || path.starts_with("/admin/"))
        .map(|path| path.replace("{slug}", "build").replace("{id}", "1"))
        .collect();
    assert!(paths.len() >= 10, "{paths:?}");
    paths.push("/admin/audit.csv".to_owned());
    for path in &paths {
        assert_eq!(
            site.page(path, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let refused = site.page(path, Some(&developer)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !refused.body.contains("build-"),
            "{path} leaked: {}",
            refused.body
        );
        let allowed = site.page(path, Some(&admin)).await.status;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&allowed),
            "{path} as an admin: {allowed}"
        );
    }
    for path in ["/admin/loans", "/admin/machines", "/admin/pools/build"] {
        let refused = site.page(path, Some(&developer)).await;
        assert!(refused.body.contains("Not allowed"), "{path}");
        assert_eq!(
            site.page(path, Some(&admin)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
}

#[tokio::test]
async fn someone_elses_loan_answers_exactly_like_a_loan_that_does_not_exist() {
    let (w, site) = with_one_pool().await;
    let dana = site.sign_in("Dana", "developer").await;
    let eve = site.sign_in("Eve", "developer").await;
    let dana_user = w.developer("Dana").await;
    let id = w.borrow(&dana_user, "build").await;
    let missing = LoanId(id.0 + 1000);

    let own = site
        .call("/api/get_loan", Some(&dana), &format!("id={id}"))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert!(own.body.contains("Reproduce a crash"));
    for function in ["get_loan", "cancel_loan", "return_loan", "extend_loan"] {
        let path = format!("/api/{function}");
        let other = site.call(&path, Some(&eve), &format!("id={id}")).await;
        let absent = site.call(&path, Some(&eve), &format!("id={missing}")).await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{function}: {}",
            other.body
        );
        assert_eq!(
            other.body.replace(&id.to_string(), "N"),
            absent.body.replace(&missing.to_string(), "N"),
            "{function}: someone else's loan is told apart from a missing one"
        );
        assert!(!other.body.contains("Reproduce a crash"));
    }
    let state: String = w
        .sql()
        .await
        .query_one("SELECT state FROM loans WHERE id = $1", &[&id.0])
        .await
        .unwrap()
        .get(0);
    assert_eq!(state, "provisioning", "nothing changed");
    assert_eq!(
        site.call("/api/my_loans", None, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let page_of_other = site.page(&format!("/loans/{id}"), Some(&eve)).await;
    assert!(!page_of_other.body.contains("Reproduce a crash"));
    assert!(
        page_of_other.body.contains("was not found"),
        "{}",
        page_of_other.body
    );
}

#[tokio::test]
async fn the_request_form_reports_field_errors_with_422() {
    let (_w, site) = with_one_pool().await;
    let dana = site.sign_in("Dana", "developer").await;

    let reply = site
        .call(
            "/api/request_loan",
            Some(&dana),
            "pool=build&reason=&bug_ref=soon&duration_hours=8&ssh_public_key=hello",
        )
        .await;

    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: app::error::AppError = serde_json::from_str(&reply.body).unwrap();
    assert!(error.field_message("reason").is_some());
    assert!(error.field_message("bug_ref").is_some());
    assert!(error.field_message("ssh_public_key").is_some());
    assert!(error.field_message("duration_hours").is_none());
}

#[tokio::test]
async fn the_development_login_exists_only_in_development_mode_on_loopback() {
    let w = World::new().await;
    let form = "name=Mallory&email=mallory@example.com&role=admin";
    let production = w.web(false, "127.0.0.1:3000");
    let refused = production.call("/api/dev_login", None, form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("switched off"), "{}", refused.body);
    let session = production.call("/api/get_session", None, "").await;
    assert!(
        session.body.contains("\"dev_mode\":false"),
        "{}",
        session.body
    );
    let exposed = w.web(true, "0.0.0.0:3000");
    assert_eq!(
        exposed.call("/api/dev_login", None, form).await.status,
        StatusCode::FORBIDDEN
    );
    let local = w.web(true, "127.0.0.1:3000");
    let bad = local
        .call("/api/dev_login", None, "name=&email=nope&role=root")
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: app::error::AppError = serde_json::from_str(&bad.body).unwrap();
    for field in ["name", "email", "role"] {
        assert!(error.field_message(field).is_some(), "{field}");
    }
    assert_eq!(
        w.count("SELECT count(*) FROM sessions").await,
        0,
        "no refused sign-in started a session"
    );
}

#[tokio::test]
async fn health_checks_answer_and_unknown_pages_are_404() {
    let (_w, site) = with_one_pool().await;
    assert_eq!(site.page("/healthz", None).await.body, "ok");
    assert_eq!(site.page("/readyz", None).await.body, "ready");
    assert_eq!(
        site.page("/no/such/page", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_missing_task_or_loan_is_named_for_what_it_is() {
    let (_w, site) = with_one_pool().await;
    let admin = site.sign_in("Rex", "admin").await;
    let task = site
        .call("/api/admin/close_task", Some(&admin), "id=999&outcome=done")
        .await;
    assert_eq!(task.status, StatusCode::NOT_FOUND);
    assert!(task.body.contains("Task 999"), "{}", task.body);
    let targets = site
        .call("/api/admin/move_targets", Some(&admin), "id=999")
        .await;
    assert_eq!(targets.status, StatusCode::NOT_FOUND);
    assert!(targets.body.contains("Loan 999"), "{}", targets.body);
}
