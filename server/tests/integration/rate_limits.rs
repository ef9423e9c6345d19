//! Floods, slowed down: sign-ins and one-click link look-ups per client address (behind a
//! trusted proxy, the forwarded one), loan requests per person. Over the limit: 429 with
//! `Retry-After` and a page a person can read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use crate::common::http::Site;
use crate::common::*;
use crate::security::{ADMIN_FORM, CALLS};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::http::{header, Method, StatusCode};
use server::config::Config;

fn from(address: &str, mut request: Request<Body>) -> Request<Body> {
    let peer = SocketAddr::new(address.parse().unwrap(), 40000);
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

/// A development site behind one trusted proxy, 10.0.0.1.
fn behind_proxy(w: &World) -> Site {
    w.web_with(
        Config {
            dev_mode: Some(true),
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            ..Config::default()
        },
        "127.0.0.1:3000",
    )
}

/// A link look-up from `peer`, saying it is forwarded for `forwarded`.
async fn look_up_via(site: &Site, peer: &str, forwarded: &str) -> StatusCode {
    let request = site
        .request(Method::GET, "/l/abc")
        .header("x-forwarded-for", forwarded)
        .body(Body::empty())
        .unwrap();
    site.send(from(peer, request)).await.status
}

#[tokio::test]
async fn a_flood_of_sign_ins_or_link_look_ups_from_one_address_is_slowed_down() {
    let w = World::new().await;
    let site = w.web(true, "127.0.0.1:3000");
    let sign_in = |address: &str| {
        from(
            address,
            site.request(Method::POST, "/api/dev_login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT, "text/html")
                .body(Body::from(ADMIN_FORM))
                .unwrap(),
        )
    };
    for _ in 0..10 {
        assert_ne!(
            site.send(sign_in("192.0.2.1")).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let refused = site.send(sign_in("192.0.2.1")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        refused.body.contains("<h1>Slow down</h1>"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Too many requests"),
        "{}",
        refused.body
    );
    assert_ne!(
        site.send(sign_in("192.0.2.2")).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "another address is not held back"
    );

    let mut served = 0;
    for _ in 0..300 {
        let look_up = from(
            "198.51.100.9",
            site.request(Method::GET, &format!("/l/{}", "ab".repeat(32)))
                .body(Body::empty())
                .unwrap(),
        );
        if site.send(look_up).await.status != StatusCode::TOO_MANY_REQUESTS {
            served += 1;
        }
    }
    assert_eq!(served, 30, "30 link look-ups a minute, then 429");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_one_counted() {
    let w = World::new().await;
    let site = behind_proxy(&w);
    for _ in 0..30 {
        look_up_via(&site, "10.0.0.1", "203.0.113.5").await;
    }
    let proxied = look_up_via(&site, "10.0.0.1", "203.0.113.5").await;
    assert_eq!(proxied, StatusCode::TOO_MANY_REQUESTS);
    let other_client = look_up_via(&site, "10.0.0.1", "203.0.113.6").await;
    assert_ne!(other_client, StatusCode::TOO_MANY_REQUESTS);
    // A client that is not the proxy cannot pick its own address.
    for _ in 0..30 {
        look_up_via(&site, "192.0.2.50", "203.0.113.77").await;
    }
    let spoofed = look_up_via(&site, "192.0.2.50", "203.0.113.78").await;
    assert_eq!(spoofed, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_client_cannot_hide_behind_a_made_up_forwarded_address() {
    let w = World::new().await;
    let site = behind_proxy(&w);
    // Our proxy, reached over IPv6 as an IPv4-mapped address, is still our proxy: the
    // address it forwards is the one counted.
    for _ in 0..30 {
        look_up_via(&site, "::ffff:10.0.0.1", "203.0.113.5").await;
    }
    let mapped = look_up_via(&site, "10.0.0.1", "203.0.113.5").await;
    assert_eq!(mapped, StatusCode::TOO_MANY_REQUESTS);
    // Something that is not an address, between a chosen address and our proxy, stops the
    // walk: each request counts against the proxy's entry, not a fresh made-up client.
    let mut served = 0;
    for i in 0..40 {
        let forwarded = format!("198.51.100.{i}, not-an-address, 10.0.0.1");
        if look_up_via(&site, "10.0.0.1", &forwarded).await != StatusCode::TOO_MANY_REQUESTS {
            served += 1;
        }
    }
    assert_eq!(served, 30, "made-up addresses were each counted afresh");
}

#[tokio::test]
async fn one_person_cannot_flood_the_queue_with_loan_requests() {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 10;
    w.add_pool(spec).await;
    let mut config = Config {
        dev_mode: Some(true),
        ..Config::default()
    };
    config.limits.loan_requests_per_hour = 3;
    let site = w.web_with(config, "127.0.0.1:3000");
    let dana = site.sign_in("Dana", "developer").await;
    let eve = site.sign_in("Eve", "developer").await;
    let ask = CALLS[0].1;
    for _ in 0..3 {
        let reply = site.call("/api/request_loan", Some(&dana), ask).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let refused = site.call("/api/request_loan", Some(&dana), ask).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("RateLimited"), "{}", refused.body);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    assert_eq!(w.count("SELECT count(*) FROM loans").await, 3);
    let other = site.call("/api/request_loan", Some(&eve), ask).await;
    assert_eq!(other.status, StatusCode::OK, "someone else may still ask");
}
