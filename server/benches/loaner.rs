//! `cargo bench -p server --bench loaner`: how fast Loaner does what people wait for, against
//! the real PostgreSQL the tests use. Prints a Markdown table for the README.
//!
//! * request latency: one developer asking for a machine (validation, claim, loan, history and
//!   job in one transaction);
//! * provisioning throughput: loans of a pool without steps going from requested to ready
//!   through the queue (claim, run, complete, ready message);
//! * catalogue page: server-side render of `/` through the router;
//! * reclaim lateness: 200 loans expiring in one minute, each reclaim's start after its deadline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

// The tests' harness: the benchmark uses part of it.
#[allow(dead_code, unused_imports)]
#[path = "../tests/integration/common/mod.rs"]
mod common;

use std::time::Instant;

use axum::body::Body;
use axum::http::Method;
use common::scenarios::{self, Spread};
use common::*;
use tower::ServiceExt;

fn row(name: &str, unit: &str, spread: Spread) {
    println!(
        "| {name} | {} | {:.1} {unit} | {:.1} {unit} | {:.1} {unit} |",
        spread.count, spread.p50, spread.p99, spread.max
    );
}

async fn request_latency(n: usize) -> Spread {
    let w = World::new().await;
    let mut spec = w.pool_spec("bench");
    spec.machines = n;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        w.borrow(&dana, "bench").await;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Spread::of(times)
}

async fn provisioning_throughput(n: usize) -> f64 {
    let w = World::new().await;
    let mut spec = w.pool_spec("bench");
    spec.machines = n;
    spec.provision = vec![];
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    for _ in 0..n {
        w.borrow(&dana, "bench").await;
    }
    let mut config = jobs_config();
    config.concurrency = 8;
    let worker = std::sync::Arc::new(server::jobs::Worker::new(
        w.deps(config, server::mail::Mailer::Mailbox),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let running = tokio::spawn(worker.run(stopped));
    while w
        .count("SELECT count(*) FROM loans WHERE state = 'ready'")
        .await
        < n as i64
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    n as f64 / seconds
}

async fn catalogue_render(n: usize) -> Spread {
    let w = World::new().await;
    for slug in ["alpha", "beta", "gamma", "delta"] {
        w.add_pool(w.pool_spec(slug)).await;
    }
    let site = w.web(true, "127.0.0.1:3000");
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let request = site.request(Method::GET, "/").body(Body::empty()).unwrap();
        let start = Instant::now();
        let response = site.router.clone().oneshot(request).await.unwrap();
        let _ = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Spread::of(times)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("| measurement | samples | p50 | p99 | max |");
        println!("| --- | --- | --- | --- | --- |");
        row("request a loan (one transaction)", "ms", request_latency(300).await);
        row("render the catalogue page (SSR)", "ms", catalogue_render(300).await);
        row("reclaim start after the deadline, 200 loans in one minute", "ms", scenarios::reclaim_lateness(&World::new().await, 200).await);
        let rate = provisioning_throughput(500).await;
        println!("\nProvisioning through the queue (pool without steps, one worker): {rate:.0} loans/s requested → ready.");
    });
}
