//! Attacks on the HTTP surface, each made the way an attacker would make it, through the real
//! router: a page on another name that resolves here (DNS rebinding), posts from other sites,
//! open redirects after sign-in, control characters in every field, huge bodies, floods of
//! sign-ins, link look-ups and loan requests, framing and script injection, and a proxy in front
//! of the development login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::http::urlencode;
use crate::common::http::{Reply, Site};
use crate::common::*;
use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use server::config::Config;

pub(crate) const ADMIN_FORM: &str = "name=Mallory&email=mallory@example.com&role=admin";

async fn sessions(w: &World) -> i64 {
    w.count("SELECT count(*) FROM sessions").await
}

#[tokio::test]
async fn a_page_on_another_host_name_cannot_sign_in_or_read_anything() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    // A DNS-rebinding page: evil.test resolves to 127.0.0.1, so its own origin matches its Host.
    let request = Request::post("/api/dev_login")
        .header(header::HOST, "evil.test:3000")
        .header(header::ORIGIN, "http://evil.test:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(ADMIN_FORM))
        .unwrap();
    let reply = site.send(request).await;
    assert_eq!(
        reply.status,
        StatusCode::MISDIRECTED_REQUEST,
        "{}",
        reply.body
    );
    assert!(reply.header("set-cookie").is_none());
    assert_eq!(sessions(&w).await, 0, "no session was started");
    for path in ["/", "/admin", "/api/get_session"] {
        let request = Request::get(path)
            .header(header::HOST, "evil.test:3000")
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap();
        let reply = site.send(request).await;
        assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST, "{path}");
        // The refusal page may load its stylesheet and nothing else.
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            "{path}"
        );
        assert!(reply.body.contains("answers for"), "{path}: {}", reply.body);
    }
    // Load balancers probe health with whatever Host they like.
    let probe = Request::get("/healthz")
        .header(header::HOST, "10.0.0.7")
        .body(Body::empty())
        .unwrap();
    assert_eq!(site.send(probe).await.status, StatusCode::OK);
    // In development mode the bound address and localhost are this site too.
    let local = Request::get("/")
        .header(header::HOST, "localhost:3000")
        .body(Body::empty())
        .unwrap();
    assert_eq!(site.send(local).await.status, StatusCode::OK);
}

use axum::http::Request;

async fn post_with(site: &Site, headers: &[(&str, &str)]) -> Reply {
    let mut request = site
        .request(Method::POST, "/api/dev_login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    site.send(request.body(Body::from(ADMIN_FORM)).unwrap())
        .await
}

#[tokio::test]
async fn posts_from_other_sites_are_refused_by_origin_fetch_metadata_or_referer() {
    let w = World::new().await;
    let mut config = Config {
        dev_mode: Some(true),
        ..Config::default()
    };
    config.limits.sign_ins_per_minute = 100;
    let site = w.web_with(config, "127.0.0.1:3000");
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("origin", "http://127.0.0.1:3001")],
        vec![("origin", "https://127.0.0.1:3000")],
        vec![("origin", "null")],
        vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("referer", "https://evil.example/page")],
    ] {
        let reply = post_with(&site, &headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(
            reply.body.contains("same_origin"),
            "{headers:?}: {}",
            reply.body
        );
    }
    assert_eq!(sessions(&w).await, 0);
    for headers in [
        vec![("origin", "http://127.0.0.1:3000")],
        vec![("sec-fetch-site", "same-origin")],
        // A plain form on a no-referrer page (the one-click link pages) of this site.
        vec![("origin", "null"), ("sec-fetch-site", "same-origin")],
        vec![("referer", "http://127.0.0.1:3000/login")],
        vec![],
    ] {
        let reply = post_with(&site, &headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{headers:?}: {}", reply.body);
    }
}

#[tokio::test]
async fn after_sign_in_only_a_clean_local_path_is_followed() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    for (next, expected) in [
        ("%2Floans%2F7", "/loans/7"),
        ("%2F%09%2Fevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("https%3A%2F%2Fevil.example", "/"),
    ] {
        let reply = site
            .form_post(
                "/api/dev_login",
                "/login",
                &format!("name=Dana&email=dana%40example.com&role=developer&next={next}"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FOUND, "{next}");
        assert_eq!(reply.header("location"), Some(expected), "{next}");
    }
}

/// Every server function with arguments that reach its service.
pub(crate) const CALLS: &[(&str, &str)] = &[
    ("/api/request_loan", "pool=build&reason=why&bug_ref=123&duration_hours=8&ssh_public_key=ssh-ed25519+AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7%2ByCspE9CRdOHU%2Bq8ScWEUPH01OALC+ada%40laptop"),
    ("/api/get_request_form", "pool=build"),
    ("/api/get_link", "token=abc"),
    ("/api/use_link", "token=abc&reason=why"),
    ("/api/dev_login", "name=Dana&email=dana%40example.com&role=developer&groups=gfx&next=%2F"),
    ("/api/admin/deny_loan", "id=1&reason=no"),
    ("/api/admin/close_task", "id=1&outcome=failed&note=broken"),
    ("/api/admin/force_return", "id=1&reason=why"),
    ("/api/admin/extend_override", "id=1&hours=1&reason=why"),
    ("/api/admin/get_pool", "slug=build"),
    ("/api/admin/retire_pool", "slug=build&retired=false"),
    ("/api/admin/save_machine", "id=0&fqdn=x.example.com&pool=build&driver_settings=%7B%7D&notes=rack"),
    ("/api/admin/save_pool", "existing=&slug=new-pool&name=New&description=d&platform=p&image_name=i&image_version=1&login_user=tester&provision_steps=&reclaim_steps=&driver_settings=%7B%7D&approval_mode=&default_duration_hours=&max_duration_hours=&extension_hours=&max_extensions=&max_total_hours=&bug_required=&grace_period_minutes=&max_loans_per_user=&allowed_groups=gfx"),
    ("/api/admin/save_site_policy", "approval_mode=automatic&default_duration_hours=24&max_duration_hours=72&extension_hours=24&max_extensions=2&max_total_hours=168&bug_required=no&grace_period_minutes=0&max_loans_per_user=&max_loans_per_user_per_pool="),
    ("/api/admin/search_audit", "actor=a&target=t&kind=k&from=2026-01-01&to=2026-12-31"),
    ("/api/admin/set_machine_state", "id=1&state=maintenance&reason=fan"),
];

#[tokio::test]
async fn control_characters_in_any_field_are_refused_and_never_a_500() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let admin = site.sign_in("Rex", "admin").await;
    let before = w.count("SELECT count(*) FROM loans").await;
    for (path, form) in CALLS {
        for (i, pair) in form.split('&').enumerate() {
            for evil in ["%00", "%E2%80%AE", "%1B"] {
                let mut fields: Vec<String> = form.split('&').map(str::to_owned).collect();
                fields[i] = format!("{pair}{evil}x");
                let reply = site.call(path, Some(&admin), &fields.join("&")).await;
                assert!(
                    reply.status.is_client_error() || reply.status.is_success(),
                    "{path} with {evil} in {pair}: {} {}",
                    reply.status,
                    reply.body
                );
                assert_ne!(
                    reply.status,
                    StatusCode::OK,
                    "{path} accepted {evil} in {pair}"
                );
            }
        }
    }
    // What a person sees: the field and the character, and nothing stored.
    let reply = site
        .call(
            "/api/request_loan",
            Some(&admin),
            &CALLS[0].1.replace("reason=why", "reason=why%00"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error: app::error::AppError = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        error.field_message("reason").as_deref(),
        Some("Remove the control character U+0000 from this field.")
    );
    assert_eq!(w.count("SELECT count(*) FROM loans").await, before);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_before_it_is_read() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    // Declared: refused at once, whatever follows.
    let declared = site
        .request(Method::POST, "/api/dev_login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::CONTENT_LENGTH, "52428800")
        .body(Body::from("name=x"))
        .unwrap();
    let reply = site.send(declared).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    // Streamed without a length: cut off at the limit.
    let chunks = futures::stream::iter(
        (0..200).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'a'; 1024]))),
    );
    let streamed = site
        .request(Method::POST, "/api/dev_login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/html")
        .body(Body::from_stream(chunks))
        .unwrap();
    let reply = site.send(streamed).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.body.contains("at most 64 KiB"), "{}", reply.body);
    // Just under the limit is an ordinary request.
    let fine = format!("{ADMIN_FORM}&groups={}", "g".repeat(60 * 1024));
    let reply = site.call("/api/dev_login", None, &fine).await;
    assert_ne!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn every_response_carries_security_headers_and_pages_allow_only_their_own_scripts() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let page = site.page("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.header("content-security-policy").unwrap().to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the page's policy");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let scripts = page.body.matches("<script").count();
    assert!(scripts >= 1, "the page hydrates");
    assert_eq!(
        page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every inline script carries the nonce:\n{}",
        page.body
    );
    assert!(!page.body.contains("style=\""), "no inline styles either");
    let other = site.page("/", None).await;
    assert_ne!(
        other.header("content-security-policy"),
        Some(csp.as_str()),
        "a nonce per response"
    );
    for reply in [page, site.call("/api/get_session", None, "").await] {
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("referrer-policy"), Some("same-origin"));
        assert!(
            reply.header("strict-transport-security").is_none(),
            "http: no HSTS"
        );
    }
    let json = site.call("/api/get_session", None, "").await;
    assert!(json
        .header("content-security-policy")
        .unwrap()
        .starts_with("default-src 'none'"));
}

#[tokio::test]
async fn an_https_site_sends_hsts_and_only_secure_host_prefixed_cookies() {
    let w = World::new().await;
    let site = w.web_with(
        Config {
            dev_mode: Some(true),
            public_url: Some("https://127.0.0.1:3443".into()),
            ..Config::default()
        },
        "127.0.0.1:3443",
    );
    let reply = site
        .send(
            site.request(Method::POST, "/api/dev_login")
                .header(header::ORIGIN, "https://127.0.0.1:3443")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "application/json")
                .body(Body::from(
                    "name=Dana&email=dana@example.com&role=developer",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let cookie = reply.header("set-cookie").unwrap().to_owned();
    assert!(cookie.starts_with("__Host-loaner_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(reply
        .header("strict-transport-security")
        .is_some_and(|h| h.contains("max-age=")));
    let token = reply
        .cookie()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let session = |name: &str| format!("{name}={token}");
    let signed_in = site
        .call(
            "/api/get_session",
            Some(&session("__Host-loaner_session")),
            "",
        )
        .await;
    assert!(
        signed_in.body.contains("\"name\":\"Dana\""),
        "{}",
        signed_in.body
    );
    let plain = site
        .call("/api/get_session", Some(&session("loaner_session")), "")
        .await;
    assert!(
        plain.body.contains("\"user\":null"),
        "an unprefixed cookie is not the session"
    );
}

#[tokio::test]
async fn the_development_login_refuses_requests_that_came_through_a_proxy() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    for header in ["x-forwarded-for", "forwarded", "x-forwarded-host"] {
        let reply = post_with(&site, &[(header, "203.0.113.9")]).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{header}: {}",
            reply.body
        );
        assert!(reply.body.contains("not through a proxy"), "{}", reply.body);
    }
    assert_eq!(sessions(&w).await, 0);
}

#[tokio::test]
async fn the_pool_editor_refuses_a_shell_over_http() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    let admin = site.sign_in("Rex", "admin").await;
    let steps = serde_json::json!([{"name": "Own it", "action": "power_on", "command": "/bin/sh"}]);
    let form = format!(
        "existing=&slug=boxes&name=Boxes&description=&platform=Linux&image_name=img&image_version=1&login_user=tester&provision_steps={}&reclaim_steps=&driver_settings=&approval_mode=&default_duration_hours=&max_duration_hours=&extension_hours=&max_extensions=&max_total_hours=&bug_required=&grace_period_minutes=&max_loans_per_user=&allowed_groups=",
        urlencode(&steps.to_string())
    );
    let reply = site.call("/api/admin/save_pool", Some(&admin), &form).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let error: app::error::AppError = serde_json::from_str(&reply.body).unwrap();
    let message = error.field_message("provision_steps").unwrap();
    assert!(message.contains("outside the commands folder"), "{message}");
    assert_eq!(w.count("SELECT count(*) FROM pools").await, 0);
}
