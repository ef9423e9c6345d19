//! Live updates pushed to open pages: a change committed to a loan reaches every open stream of
//! that loan's page within 500 ms, with 500 streams open; other loans' streams stay quiet; the
//! page then reads the change through its server function; at shutdown every stream ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use app::server::events::{self, Event};
use app::types::{EventKind, LoanId};
use diesel_async::AsyncConnection;

use crate::common::World;

const STREAMS: usize = 500;

/// A loan of the `build` pool for whoever `cookie` signs in, requested as the form sends it.
async fn borrow(site: &crate::common::http::Site, cookie: &str) -> LoanId {
    let form = format!(
        "pool=build&reason=Live&bug_ref=&duration_hours=4&ssh_public_key={}",
        crate::common::http::urlencode(crate::common::world::SSH_KEY)
    );
    let reply = site.call("/api/request_loan", Some(cookie), &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    LoanId(reply.body.parse().unwrap())
}

/// Reads a stream until an event named `name` arrives; the time it did.
async fn wait_for(response: &mut reqwest::Response, seen: &mut String, name: &str) -> Instant {
    let marker = format!("event: {name}\n");
    loop {
        if let Some(at) = seen.find(&marker) {
            seen.drain(..at + marker.len());
            return Instant::now();
        }
        let chunk = response
            .chunk()
            .await
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_change_reaches_five_hundred_open_loan_pages_within_500_ms() {
    let w = World::new().await;
    let mut spec = w.pool_spec("build");
    spec.machines = 2;
    w.add_pool(spec).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // 500 pages of one borrower: above the default per-person limit, which a site may raise.
    let config = server::config::Config {
        dev_mode: Some(true),
        limits: server::config::LimitsConfig {
            live_pages_per_person: STREAMS + 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let state = w.app_state(config, &address.to_string());
    let live = state.live.clone();
    let site = crate::common::http::Site {
        router: server::http::router(state.clone()),
        state,
        host: address.to_string(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server::runtime::serve_http(
        listener,
        site.router.clone(),
        stopped,
    ));
    let dana = site.sign_in("Dana", "developer").await;
    let mut loans = Vec::new();
    for _ in 0..2 {
        loans.push(borrow(&site, &dana).await);
    }
    let (watched, other) = (loans[0], loans[1]);

    // 500 pages open on the watched loan, one on the other; each waits until subscribed.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let open = |loan: LoanId| {
        let (client, dana) = (client.clone(), dana.clone());
        async move {
            let mut response = client
                .get(format!("http://{address}/live/loans/{loan}"))
                .header("cookie", dana)
                .header("accept", "text/event-stream")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let mut seen = String::new();
            wait_for(&mut response, &mut seen, "ready").await;
            (response, seen)
        }
    };
    let mut pages = Vec::with_capacity(STREAMS);
    for chunk in (0..STREAMS).collect::<Vec<_>>().chunks(50) {
        let opened = futures::future::join_all(chunk.iter().map(|_| open(watched))).await;
        pages.extend(opened);
    }
    let (mut quiet, mut quiet_seen) = open(other).await;
    let receivers: Vec<_> = pages
        .into_iter()
        .map(|(mut response, mut seen)| {
            tokio::spawn(async move { wait_for(&mut response, &mut seen, "changed").await })
        })
        .collect();
    // Let the state of the world settle (the request's own changes were announced before the
    // streams opened; nothing is pending now).
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A step's output, committed.
    let mut conn = w.conn().await;
    let now = w.clock.now();
    conn.transaction(async |c| {
        events::record(
            c,
            watched,
            now,
            Event::new(EventKind::StepSucceeded, "Install the toolchain: done")
                .output("toolchain 1.95 installed"),
        )
        .await
    })
    .await
    .unwrap();
    let committed = Instant::now();

    let mut late = Vec::with_capacity(STREAMS);
    for receiver in receivers {
        let at = tokio::time::timeout(Duration::from_secs(10), receiver)
            .await
            .expect("every open page hears of the change")
            .unwrap();
        late.push(at.saturating_duration_since(committed));
    }
    late.sort();
    println!(
        "{STREAMS} streams: change seen after p50 {:?}, max {:?}",
        late[STREAMS / 2],
        late[STREAMS - 1]
    );
    assert!(
        late[STREAMS - 1] <= Duration::from_millis(500),
        "the slowest page heard of the change after {:?}",
        late[STREAMS - 1]
    );

    // The other loan's page heard nothing.
    let heard = tokio::time::timeout(
        Duration::from_millis(300),
        wait_for(&mut quiet, &mut quiet_seen, "changed"),
    )
    .await;
    assert!(heard.is_err(), "another loan's page was told of the change");

    // The page then reads the output through its server function.
    let reply = site
        .call(
            "/api/get_loan",
            Some(&dana),
            &format!("id={watched}&polling=true"),
        )
        .await;
    assert!(
        reply.body.contains("toolchain 1.95 installed"),
        "{}",
        reply.body
    );

    // At shutdown every stream ends, so the server stops with pages still open.
    stop.send(true).unwrap();
    live.close();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while quiet.chunk().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "an open stream outlived the shutdown");
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("the server stopped with pages open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn only_the_borrower_and_admins_may_follow_a_loan() {
    let (_w, site) = crate::http::with_one_pool().await;
    let dana = site.sign_in("Dana", "developer").await;
    let id = borrow(&site, &dana).await;
    let eve = site.sign_in("Eve", "developer").await;
    let rex = site.sign_in("Rex", "admin").await;
    let path = format!("/live/loans/{id}");
    assert_eq!(site.page(&path, None).await.status, 401);
    assert_eq!(
        site.page(&path, Some(&eve)).await.status,
        404,
        "like a loan that does not exist"
    );
    assert_eq!(
        site.page("/live/loans/999999", Some(&dana)).await.status,
        404
    );
    assert_eq!(site.page("/live/loans/x%27", Some(&dana)).await.status, 404);
    for cookie in [&dana, &rex] {
        let reply = site.page(&path, Some(cookie)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        assert!(reply.body.starts_with("event: ready"), "{}", reply.body);
    }
    assert_eq!(site.page("/live/admin", Some(&dana)).await.status, 403);
    assert_eq!(site.page("/live/admin", None).await.status, 401);
    assert_eq!(site.page("/live/admin", Some(&rex)).await.status, 200);
}

#[tokio::test]
async fn a_stream_ends_with_its_session_and_one_person_may_hold_twenty() {
    use axum::body::Body;
    use axum::http::Method;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let (w, site) = crate::http::with_one_pool().await;
    let dana = site.sign_in("Dana", "developer").await;
    let id = borrow(&site, &dana).await;
    let open = |cookie: String| {
        let site = site.clone();
        async move {
            let request = site
                .request(Method::GET, &format!("/live/loans/{id}"))
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap();
            site.router.clone().oneshot(request).await.unwrap()
        }
    };

    // Twenty live pages, then a refusal naming the rule; closing one admits another.
    let mut held = Vec::new();
    for _ in 0..app::server::live::DEFAULT_STREAMS_PER_PERSON {
        let response = open(dana.clone()).await;
        assert_eq!(response.status(), 200);
        held.push(response);
    }
    let refused = open(dana.clone()).await;
    assert_eq!(refused.status(), 429);
    let text = refused.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("live pages per person"));
    held.pop();
    let mut stream = open(dana.clone()).await.into_body();
    assert!(stream.frame().await.is_some(), "the ready event");
    drop(held);

    // Her sessions ended (signed out everywhere, or ended by an admin): a stream checks its
    // session at most once a minute, so a minute on, the next change ends the stream instead of
    // reaching it.
    w.sql()
        .await
        .batch_execute("DELETE FROM sessions")
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::seconds(61));
    let mut conn = w.conn().await;
    let now = w.clock.now();
    conn.transaction(async |c| {
        events::record(
            c,
            id,
            now,
            Event::new(EventKind::StepSucceeded, "after sign-out"),
        )
        .await
    })
    .await
    .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.frame())
        .await
        .expect("the stream ends");
    let heard = next.and_then(|f| f.ok()).and_then(|f| f.into_data().ok());
    assert!(heard.is_none(), "a signed-out session heard: {heard:?}");
}
