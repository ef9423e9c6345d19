//! The HTTP surface through the real router: who may call which server function and open
//! which page, the development login's limits, and the cross-site guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans;
use app::server::Clock;
use app::types::Role;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use server::config::Config;
use tower::ServiceExt;

/// Every admin server function. A new one must be added here, which makes this test call it
/// as a visitor, a developer and an admin.
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
    "/api/logout",
    "/api/my_loans",
    "/api/request_loan",
    "/api/return_loan",
    "/api/use_link",
];

/// Arguments to call an admin function with, for the functions that take some.
const SAMPLE_ARGUMENTS: &[(&str, &str)] = &[
    ("/api/admin/approve_loans", "ids[0]=1"),
    ("/api/admin/close_task", "id=1&outcome=done"),
    ("/api/admin/deny_loan", "id=1&reason=no"),
    ("/api/admin/extend_override", "id=1&hours=1&reason=why"),
    ("/api/admin/force_return", "id=1&reason=why"),
    ("/api/admin/get_machine", "id=1"),
    ("/api/admin/get_mail", "id=1"),
    ("/api/admin/get_pool", "slug=nope"),
    ("/api/admin/move_loan", "id=1&machine=1"),
    ("/api/admin/move_targets", "id=1"),
    ("/api/admin/restore_loan", "id=1"),
    ("/api/admin/retire_pool", "slug=nope&retired=true"),
    ("/api/admin/save_machine", "id=0&fqdn=&pool=&driver_settings=&notes="),
    ("/api/admin/save_pool", "existing=&slug=&name=&description=&platform=&image_name=&image_version=&login_user=&provision_steps=&reclaim_steps=&driver_settings=&approval_mode=&default_duration_hours=&max_duration_hours=&extension_hours=&max_extensions=&max_total_hours=&bug_required=&grace_period_minutes=&max_loans_per_user=&allowed_groups="),
    ("/api/admin/save_site_policy", "approval_mode=automatic&default_duration_hours=24&max_duration_hours=72&extension_hours=24&max_extensions=2&max_total_hours=168&bug_required=no&grace_period_minutes=0&max_loans_per_user=&max_loans_per_user_per_pool="),
    ("/api/admin/search_audit", "actor=&target=&kind=&from=&to="),
    ("/api/admin/set_machine_state", "id=1&state=available&reason="),
];

fn sample_arguments(path: &str) -> &'static str {
    SAMPLE_ARGUMENTS
        .iter()
        .find(|(p, _)| *p == path)
        .map_or("", |(_, args)| args)
}

fn router(db: &TestDb, dev_mode: bool, bind: &str) -> Router {
    let config = Config {
        database_url: Some(db.url.clone()),
        dev_mode: Some(dev_mode),
        ..Config::default()
    };
    let state =
        server::runtime::app_state(&config, db.pool(), Clock::system(), bind.parse().unwrap());
    server::http::router(state)
}

struct Reply {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        set_cookie,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Calls a server function the way the app's WASM does.
async fn call(router: &Router, path: &str, cookie: Option<&str>, form: &str) -> Reply {
    let mut request = Request::post(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(router, request.body(Body::from(form.to_owned())).unwrap()).await
}

async fn page(router: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    send(router, request.body(Body::empty()).unwrap()).await
}

/// Signs in through the development login; returns the `Cookie` header value.
async fn sign_in(router: &Router, name: &str, role: &str) -> String {
    let email = format!("{}@example.com", name.to_lowercase());
    let reply = call(
        router,
        "/api/dev_login",
        None,
        &format!("name={name}&email={email}&role={role}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.set_cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn every_server_function_is_listed_and_admin_ones_refuse_visitors_and_developers() {
    let db = TestDb::new().await;
    let router = router(&db, true, "127.0.0.1:3000");
    let mut registered: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    registered.sort_unstable();
    let (admin, other): (Vec<&str>, Vec<&str>) = registered
        .into_iter()
        .partition(|p| p.starts_with("/api/admin/"));
    assert_eq!(
        admin, ADMIN_FUNCTIONS,
        "admin functions changed: list them in ADMIN_FUNCTIONS"
    );
    assert_eq!(
        other, SELF_SERVICE_FUNCTIONS,
        "server functions changed: list them"
    );

    let developer = sign_in(&router, "Dana", "developer").await;
    let admin_cookie = sign_in(&router, "Rex", "admin").await;
    for path in ADMIN_FUNCTIONS {
        let args = sample_arguments(path);
        let anonymous = call(&router, path, None, args).await;
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
        let dev = call(&router, path, Some(&developer), args).await;
        assert_eq!(dev.status, StatusCode::FORBIDDEN, "{path} as a developer");
        assert!(dev.body.contains("Forbidden"), "{path}: {}", dev.body);
        // An admin gets past authorization; the sample data may still be refused (404, 409).
        let admin = call(&router, path, Some(&admin_cookie), args).await;
        assert!(
            ![
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::BAD_REQUEST
            ]
            .contains(&admin.status),
            "{path} as an admin: {} {}",
            admin.status,
            admin.body
        );
    }
}

#[tokio::test]
async fn every_admin_page_answers_401_to_visitors_and_403_to_developers() {
    let db = TestDb::new().await;
    let scripts = Scripts::new();
    {
        let mut conn = db.pool().get().await.unwrap();
        insert_pool(&mut conn, PoolSpec::new("build", &scripts)).await;
    }
    let router = router(&db, true, "127.0.0.1:3000");
    let developer = sign_in(&router, "Dana", "developer").await;
    let admin = sign_in(&router, "Rex", "admin").await;
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
            page(&router, path, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let refused = page(&router, path, Some(&developer)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !refused.body.contains("build-"),
            "{path} leaked: {}",
            refused.body
        );
        let allowed = page(&router, path, Some(&admin)).await.status;
        assert!(
            ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&allowed),
            "{path} as an admin: {allowed}"
        );
    }
    for path in ["/admin/loans", "/admin/machines", "/admin/pools/build"] {
        let refused = page(&router, path, Some(&developer)).await;
        assert!(refused.body.contains("Not allowed"), "{path}");
        let allowed = page(&router, path, Some(&admin)).await;
        assert_eq!(allowed.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_developer_cannot_read_or_return_someone_elses_loan() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    insert_pool(&mut conn, PoolSpec::new("build", &scripts)).await;
    let router = router(&db, true, "127.0.0.1:3000");
    let dana = sign_in(&router, "Dana", "developer").await;
    let eve = sign_in(&router, "Eve", "developer").await;
    let dana_user = user(&mut conn, "Dana", Role::Developer).await;
    let id = loans::request(
        &mut conn,
        &dana_user,
        &request("build"),
        Clock::system().now(),
    )
    .await
    .unwrap();

    let own = call(&router, "/api/get_loan", Some(&dana), &format!("id={id}")).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert!(own.body.contains("Reproduce a crash"));
    let other = call(&router, "/api/get_loan", Some(&eve), &format!("id={id}")).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert!(!other.body.contains("Reproduce a crash"));
    let returned = call(&router, "/api/cancel_loan", Some(&eve), &format!("id={id}")).await;
    assert_eq!(returned.status, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&router, "/api/my_loans", None, "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let page_of_other = page(&router, &format!("/loans/{id}"), Some(&eve)).await;
    assert!(!page_of_other.body.contains("Reproduce a crash"));
}

#[tokio::test]
async fn the_request_form_reports_field_errors_with_422() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    insert_pool(&mut conn, PoolSpec::new("build", &scripts)).await;
    let router = router(&db, true, "127.0.0.1:3000");
    let dana = sign_in(&router, "Dana", "developer").await;

    let reply = call(
        &router,
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
    let db = TestDb::new().await;
    let form = "name=Mallory&email=mallory@example.com&role=admin";
    let production = router(&db, false, "127.0.0.1:3000");
    assert_eq!(
        call(&production, "/api/dev_login", None, form).await.status,
        StatusCode::FORBIDDEN
    );
    let session = call(&production, "/api/get_session", None, "").await;
    assert!(
        session.body.contains("\"dev_mode\":false"),
        "{}",
        session.body
    );
    let exposed = router(&db, true, "0.0.0.0:3000");
    assert_eq!(
        call(&exposed, "/api/dev_login", None, form).await.status,
        StatusCode::FORBIDDEN
    );
    let local = router(&db, true, "127.0.0.1:3000");
    let bad = call(&local, "/api/dev_login", None, "name=&email=nope&role=root").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: app::error::AppError = serde_json::from_str(&bad.body).unwrap();
    for field in ["name", "email", "role"] {
        assert!(error.field_message(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_health_checks_answer() {
    let db = TestDb::new().await;
    let router = router(&db, true, "127.0.0.1:3000");
    let request = Request::post("/api/logout")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, request).await.status, StatusCode::FORBIDDEN);
    assert_eq!(page(&router, "/healthz", None).await.body, "ok");
    assert_eq!(page(&router, "/readyz", None).await.body, "ready");
    assert_eq!(
        page(&router, "/no/such/page", None).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn send_head(router: &Router, path: &str) -> StatusCode {
    let request = Request::head(path)
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap().status()
}

/// A plain HTML form post (no JavaScript), as the confirmation page's button sends it.
async fn form_post(router: &Router, path: &str, referer: &str, form: &str) -> Reply {
    let request = Request::post(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ORIGIN, "http://127.0.0.1:3000")
        .header(header::REFERER, format!("http://127.0.0.1:3000{referer}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .body(Body::from(form.to_owned()))
        .unwrap();
    send(router, request).await
}

#[tokio::test]
async fn opening_a_link_like_a_mail_scanner_changes_nothing_and_its_button_works_once() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let clock = Clock::system();
    let scripts = Scripts::new();
    let mut conn = pool.get().await.unwrap();
    insert_pool(&mut conn, PoolSpec::new("build", &scripts)).await;
    let dana = user(&mut conn, "Dana", Role::Developer).await;
    let id = loans::request(&mut conn, &dana, &request("build"), clock.now())
        .await
        .unwrap();
    drain(&worker(&db, &pool, &clock), &clock, &pool).await;
    let deadline = loans::context(&mut conn, id)
        .await
        .unwrap()
        .loan
        .expires_at
        .unwrap();
    let token = app::server::links::issue(
        &mut conn,
        id,
        app::types::LinkAction::Return,
        deadline,
        None,
        clock.now(),
    )
    .await
    .unwrap();
    let router = router(&db, true, "127.0.0.1:3000");
    let link = format!("/l/{token}");
    let sql = db.sql().await;
    let snapshot = async || -> (String, i64, i64) {
        let row = sql
            .query_one(
                "SELECT (SELECT state FROM loans WHERE id = $1), (SELECT count(*) FROM loan_events WHERE loan_id = $1), (SELECT count(*) FROM link_tokens WHERE used_at IS NOT NULL)",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    let before = snapshot().await;

    assert_eq!(send_head(&router, &link).await, StatusCode::OK);
    for _ in 0..2 {
        let page = page(&router, &link, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("Return build-01.test.example?"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Yes, return it now"));
    }
    assert_eq!(snapshot().await, before, "HEAD and GET changed nothing");

    let confirm = form_post(&router, "/api/use_link", &link, &format!("token={token}")).await;
    assert_eq!(
        confirm.status,
        StatusCode::FOUND,
        "the browser is sent back to the page"
    );
    let after = snapshot().await;
    assert_eq!(after.0, "returning");
    assert_eq!(after.2, 1);
    let done = page(&router, &link, None).await;
    assert!(done.body.contains("This link was used at"), "{}", done.body);

    let again = form_post(&router, "/api/use_link", &link, &format!("token={token}")).await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert_eq!(snapshot().await, after, "a second POST is a no-op");
    let unknown = page(&router, &format!("/l/{}", "ab".repeat(32)), None).await;
    assert!(unknown.body.contains("This link is not valid"));
}
