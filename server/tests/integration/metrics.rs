//! `/metrics`: only with the token, in a form Prometheus's own `promtool` accepts, and with
//! counters and gauges that move while a loan goes through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::http::{Reply, Site};
use crate::common::*;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use server::config::{Config, MetricsConfig, Secret};
use std::io::Write;

const TOKEN: &str = "scrape-me-0123456789abcdef";

fn metrics_site(w: &World) -> Site {
    w.web_with(
        Config {
            dev_mode: Some(true),
            metrics: MetricsConfig {
                enabled: Some(true),
                token: Some(Secret(TOKEN.into())),
                bind: None,
            },
            ..Config::default()
        },
        "127.0.0.1:3000",
    )
}

async fn scrape(site: &Site, authorization: Option<&str>, cookie: Option<&str>) -> Reply {
    let mut request = site.request(Method::GET, "/metrics");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    site.send(request.body(Body::empty()).unwrap()).await
}

/// The sum of the samples of `name` that carry every one of `labels`.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `promtool check metrics` on the scrape; panics with what it said unless it is clean.
fn promtool_accepts(body: &str) {
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {promtool} (scripts/test installs it): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool refused the metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_are_refused_without_the_token_whoever_asks() {
    let w = World::new().await;
    let site = metrics_site(&w);
    let admin = site.sign_in("Rex", "admin").await;
    for (authorization, cookie) in [
        (None, None),
        (Some("Bearer wrong-token-0123456789"), None),
        (Some(&format!("Basic {TOKEN}")[..]), None),
        (Some("Bearer "), None),
        (None, Some(admin.as_str())),
    ] {
        let reply = scrape(&site, authorization, cookie).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?} {cookie:?}"
        );
        assert!(reply.body.contains("metrics.token"), "the refusal says why");
        assert!(!reply.body.contains("loaner_"), "nothing leaks");
    }
    let reply = scrape(&site, Some(&format!("Bearer {TOKEN}")), None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn without_metrics_enabled_there_is_no_metrics_endpoint() {
    let w = World::new().await;
    let site = w.web_with(
        Config {
            dev_mode: Some(true),
            metrics: MetricsConfig {
                enabled: Some(false),
                token: None,
                bind: None,
            },
            ..Config::default()
        },
        "127.0.0.1:3000",
    );
    let reply = scrape(&site, Some(&format!("Bearer {TOKEN}")), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn scraped_during_a_loan_the_counters_move_and_promtool_accepts_every_scrape() {
    let w = World::new().await;
    let site = metrics_site(&w);
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let bearer = format!("Bearer {TOKEN}");

    let before = scrape(&site, Some(&bearer), None).await;
    assert_eq!(before.status, StatusCode::OK);
    assert!(before
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    promtool_accepts(&before.body);
    assert_eq!(
        value(
            &before.body,
            "loaner_machines",
            &[("pool", "build"), ("state", "available")]
        ),
        3.0
    );
    assert_eq!(
        value(&before.body, "loaner_loans", &[("state", "ready")]),
        0.0
    );

    let id = w.borrow(&dana, "build").await;
    let queued = scrape(&site, Some(&bearer), None).await;
    assert_eq!(
        value(
            &queued.body,
            "loaner_jobs_queued",
            &[("kind", "provision_step")]
        ),
        1.0
    );
    assert_eq!(
        value(&queued.body, "loaner_loans", &[("state", "provisioning")]),
        1.0
    );
    w.drain().await;
    let page = site.page(&format!("/loans/{id}"), None).await;
    assert_ne!(page.status, StatusCode::INTERNAL_SERVER_ERROR);

    let after = scrape(&site, Some(&bearer), None).await;
    promtool_accepts(&after.body);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after.body, name, labels) - value(&before.body, name, labels)
    };
    assert_eq!(
        moved(
            "loaner_jobs_run_total",
            &[("kind", "provision_step"), ("outcome", "done")]
        ),
        3.0
    );
    assert_eq!(
        moved(
            "loaner_job_duration_seconds_count",
            &[("kind", "provision_step")]
        ),
        3.0
    );
    assert!(
        moved("loaner_emails_sent_total", &[]) >= 1.0,
        "the ready email went out"
    );
    assert_eq!(
        value(&after.body, "loaner_loans", &[("state", "ready")]),
        1.0
    );
    assert_eq!(
        value(
            &after.body,
            "loaner_machines",
            &[("pool", "build"), ("state", "loaned")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after.body,
            "loaner_jobs_queued",
            &[("kind", "provision_step")]
        ),
        0.0
    );
    // The scrapes themselves, and the loan page under its pattern, never its id.
    assert_eq!(
        moved(
            "loaner_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &after.body,
            "loaner_http_requests_total",
            &[("route", "/loans/{id}")]
        ),
        1.0
    );
    assert!(
        !after.body.contains(&format!("/loans/{id}\"")),
        "no ids in labels"
    );
    assert!(
        value(
            &after.body,
            "loaner_http_request_duration_seconds_count",
            &[("route", "/loans/{id}")]
        ) >= 1.0
    );
}

#[test]
fn outside_development_mode_metrics_need_a_token_or_their_own_address() {
    let config = |token: Option<&str>, bind: Option<&str>| Config {
        database_url: Some("postgres://db.example/loaner".into()),
        public_url: Some("https://loaner.example.com".into()),
        metrics: MetricsConfig {
            enabled: Some(true),
            token: token.map(|t| Secret(t.into())),
            bind: bind.map(|b| b.parse().unwrap()),
        },
        ..Config::default()
    };
    let refused = config(None, None).validate().unwrap_err().to_string();
    assert!(refused.contains("metrics.token"), "{refused}");
    assert!(config(Some("short"), None).validate().is_err());
    config(Some(TOKEN), None).validate().unwrap();
    config(None, Some("127.0.0.1:9464")).validate().unwrap();
    let open = config(None, Some("0.0.0.0:9464"))
        .validate()
        .unwrap_err()
        .to_string();
    assert!(open.contains("reachable from other machines"), "{open}");
    config(Some(TOKEN), Some("0.0.0.0:9464"))
        .validate()
        .unwrap();
    let off = Config {
        database_url: Some("postgres://db.example/loaner".into()),
        public_url: Some("https://loaner.example.com".into()),
        ..Config::default()
    };
    assert!(
        !off.metrics.enabled(off.dev_mode()),
        "off by default in production"
    );
}
