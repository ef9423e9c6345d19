//! The HTTP surface through the real router: who may call which server function and open which
//! page, what someone else's loan looks like, the development login's limits, and one-click
//! links opened the way mail scanners open them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::http::Site;
use crate::common::*;
use axum::http::StatusCode;

/// Every admin server function. A new one must be added here, which makes the test call it as
/// a visitor, a developer and an admin.
const ADMIN_FUNCTIONS: &[&str] = &[
    "/api/admin/approve_loans",
    "/api/admin/close_task",
    "/api/admin/deny_loan",
    "/api/admin/extend_override",
    "/api/admin/force_return",
    "/api/admin/get_machine",
    "/api/admin/get_mail",
    "/api/admin/get_policies",
    "/api/admin/get_pool",
    "/api/admin/list_approvals",
    "/api/admin/list_loans",
    "/api/admin/list_machines",
    "/api/admin/list_mail",
    "/api/admin/list_pools",
    "/api/admin/move_loan",
    "/api/admin/move_targets",
    "/api/admin/overview",
    "/api/admin/restore_loan",
    "/api/admin/retire_pool",
    "/api/admin/save_machine",
    "/api/admin/save_pool",
    "/api/admin/save_site_policy",
    "/api/admin/search_audit",
    "/api/admin/set_machine_state",
];

/// Every other server function: a caller's own business. An admin function registered outside
/// `/api/admin` fails the test until it is moved or listed here deliberately.
const SELF_SERVICE_FUNCTIONS: &[&str] = &[
    "/api/cancel_loan",
    "/api/dev_login",
    "/api/extend_loan",
    "/api/get_link",
    "/api/get_loan",
    "/api/get_request_form",
    "/api/get_session",
    "/api/list_pools",
    "/api/my_loans",
    "/api/request_loan",
    "/api/return_loan",
    "/api/use_link",
];

/// Arguments to call an admin function with, and what an admin gets back with them in a world
/// with one pool ("build"), one machine (id 1) and no loans.
const ADMIN_CALLS: &[(&str, &str, u16)] = &[
    ("/api/admin/approve_loans", "ids[0]=1", 404),
    ("/api/admin/close_task", "id=1&outcome=done", 404),
    ("/api/admin/deny_loan", "id=1&reason=no", 404),
    ("/api/admin/extend_override", "id=1&hours=1&reason=why", 404),
    ("/api/admin/force_return", "id=1&reason=why", 404),
    ("/api/admin/get_machine", "id=1", 200),
    ("/api/admin/get_mail", "id=1", 404),
    ("/api/admin/get_policies", "", 200),
    ("/api/admin/get_pool", "slug=nope", 404),
    ("/api/admin/list_approvals", "", 200),
    ("/api/admin/list_loans", "", 200),
    ("/api/admin/list_machines", "", 200),
    ("/api/admin/list_mail", "", 200),
    ("/api/admin/list_pools", "", 200),
    ("/api/admin/move_loan", "id=1&machine=1", 404),
    ("/api/admin/move_targets", "id=1", 404),
    ("/api/admin/overview", "", 200),
    ("/api/admin/restore_loan", "id=1", 404),
    ("/api/admin/retire_pool", "slug=nope&retired=true", 404),
    ("/api/admin/save_machine", "id=0&fqdn=&pool=&driver_settings=&notes=", 422),
    ("/api/admin/save_pool", "existing=&slug=&name=&description=&platform=&image_name=&image_version=&login_user=&provision_steps=&reclaim_steps=&driver_settings=&approval_mode=&default_duration_hours=&max_duration_hours=&extension_hours=&max_extensions=&max_total_hours=&bug_required=&grace_period_minutes=&max_loans_per_user=&allowed_groups=", 422),
    ("/api/admin/save_site_policy", "approval_mode=automatic&default_duration_hours=24&max_duration_hours=72&extension_hours=24&max_extensions=2&max_total_hours=168&bug_required=no&grace_period_minutes=0&max_loans_per_user=&max_loans_per_user_per_pool=", 200),
    ("/api/admin/search_audit", "actor=&target=&kind=&from=&to=", 200),
    ("/api/admin/set_machine_state", "id=1&state=available&reason=", 200),
];

fn registered() -> (Vec<&'static str>, Vec<&'static str>) {
    let mut paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    paths.sort_unstable();
    paths
        .into_iter()
        .partition(|p| p.starts_with("/api/admin/"))
}

pub(crate) async fn with_one_pool() -> (World, Site) {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 1;
    w.add_pool(spec).await;
    let site = w.web(true, "127.0.0.1:3000");
    (w, site)
}

#[tokio::test]
async fn every_server_function_is_listed_and_admin_ones_refuse_visitors_and_developers() {
    let (admin_paths, other) = registered();
    assert_eq!(
        admin_paths, ADMIN_FUNCTIONS,
        "admin functions changed: list them in ADMIN_FUNCTIONS"
    );
    assert_eq!(
        other, SELF_SERVICE_FUNCTIONS,
        "server functions changed: list them"
    );
    let listed: Vec<&str> = ADMIN_CALLS.iter().map(|(p, ..)| *p).collect();
    assert_eq!(
        listed, ADMIN_FUNCTIONS,
        "every admin function has a sample call"
    );

    let (_w, site) = with_one_pool().await;
    let developer = site.sign_in("Dana", "developer").await;
    let admin = site.sign_in("Rex", "admin").await;
    for (path, args, expected) in ADMIN_CALLS {
        let anonymous = site.call(path, None, args).await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{path} as a visitor"
        );
        assert!(
            anonymous.body.contains("Unauthorized"),
            "{path}: {}",
            anonymous.body
        );
        let dev = site.call(path, Some(&developer), args).await;
        assert_eq!(dev.status, StatusCode::FORBIDDEN, "{path} as a developer");
        assert!(dev.body.contains("Forbidden"), "{path}: {}", dev.body);
        let answer = site.call(path, Some(&admin), args).await;
        assert_eq!(
            answer.status.as_u16(),
            *expected,
            "{path} as an admin: {}",
            answer.body
        );
    }
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
        .map(|path| path.replace(":slug", "build").replace(":id", "1"))
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
