//! `/metrics` in Prometheus's text format: what the HTTP layer and the job runner count as they
//! go (requests by route and status with their latency, job runs and failures with their run
//! time, timers' lateness, emails sent and failed), and what the database says at scrape time
//! (loans by state, machines by pool and state, the queue by kind with its oldest due job,
//! emails waiting to be sent).
//!
//! The counters are the serving process's own: jobs run by a separate `loaner worker` are
//! counted there, not here (the queue's gauges are the whole site's).

use std::sync::OnceLock;
use std::time::Instant;

use app::server::AppState;
use app::types::{JobKind, LoanState, MachineState};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets in seconds: from a quick page to a slow provisioning step.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Starts recording (once per process) and returns what renders the figures.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(&BUCKETS) {
            Ok(with_buckets) => with_buckets,
            Err(err) => {
                tracing::warn!(error = %err, "metrics: no histogram buckets; summaries instead");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("metrics: another recorder was installed first; /metrics shows only the database's figures");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "loaner_http_requests_total",
        "HTTP requests answered, by route, method and status"
    );
    describe_histogram!(
        "loaner_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request (to its headers), by route and method"
    );
    describe_counter!(
        "loaner_jobs_run_total",
        "Job runs by kind and outcome (done, failed, deferred, lease_lost)"
    );
    describe_histogram!(
        "loaner_job_duration_seconds",
        Unit::Seconds,
        "Run time of a job, by kind"
    );
    describe_histogram!(
        "loaner_timer_lateness_seconds",
        Unit::Seconds,
        "How long after its due time a timer (reminder, expiry, end of grace) started, by kind"
    );
    describe_counter!(
        "loaner_emails_sent_total",
        "Emails handed to the mail transport"
    );
    describe_counter!(
        "loaner_emails_failed_total",
        "Attempts to send an email that failed (each is retried)"
    );
    describe_gauge!("loaner_loans", "Loans by state");
    describe_gauge!("loaner_machines", "Machines by pool and state");
    describe_gauge!(
        "loaner_jobs_queued",
        "Jobs in the queue (due or later), by kind"
    );
    describe_gauge!("loaner_jobs_due", "Jobs due now and not running, by kind");
    describe_gauge!(
        "loaner_jobs_oldest_due_seconds",
        "Age of the oldest due job that is not running, by kind"
    );
    describe_gauge!(
        "loaner_jobs_given_up",
        "Jobs that failed their last attempt and are kept for admins, by kind"
    );
    describe_gauge!("loaner_emails_pending", "Emails written and not yet sent");
}

/// The route a request matched, carried on the response to [`count_requests`].
#[derive(Clone)]
struct RouteLabel(String);

/// Route layer: tags the response with the matched route's pattern (`/loans/{id}`), so the
/// label never holds an id or a token, and unmatched paths share one label.
pub async fn tag_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(path) = matched {
        response
            .extensions_mut()
            .insert(RouteLabel(path.as_str().to_owned()));
    }
    response
}

/// Counts every request by route, method and status, with its latency.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or_else(|| "other".to_owned(), |r| r.0.clone());
    let status = response.status().as_u16().to_string();
    counter!("loaner_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    histogram!("loaner_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The method, or "other" for any a client may make up.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A job run ended.
pub fn job_ran(kind: JobKind, outcome: &'static str, seconds: f64) {
    counter!("loaner_jobs_run_total", "kind" => kind.as_str(), "outcome" => outcome).increment(1);
    histogram!("loaner_job_duration_seconds", "kind" => kind.as_str()).record(seconds);
}

/// A timer started `late` after it was due.
pub fn timer_started(kind: JobKind, due: DateTime<Utc>, now: DateTime<Utc>) {
    let late = (now - due).num_milliseconds().max(0) as f64 / 1000.0;
    histogram!("loaner_timer_lateness_seconds", "kind" => kind.as_str()).record(late);
}

pub fn email_sent() {
    counter!("loaner_emails_sent_total").increment(1);
}

pub fn email_failed() {
    counter!("loaner_emails_failed_total").increment(1);
}

/// `GET /metrics`: the figures, for a scraper with the token (when one is configured).
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.site.metrics_token_sha256 {
        if !bearer_matches(&headers, expected) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"loaner metrics\"")],
                "metrics: send the configured token (metrics.token) as Authorization: Bearer …\n",
            )
                .into_response();
        }
    }
    let handle = install();
    if let Err(err) = read_gauges(&state).await {
        tracing::warn!(error = %err, "metrics: could not read the database's figures");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics: the database did not answer\n",
        )
            .into_response();
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Compares the presented bearer token's SHA-256 with the configured one's, every byte, so the
/// time taken says nothing about how much of it matched.
fn bearer_matches(headers: &HeaderMap, expected: &[u8; 32]) -> bool {
    use sha2::{Digest, Sha256};
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let digest = Sha256::digest(presented.as_bytes());
    let differ = digest
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    differ == 0 && !presented.is_empty()
}

#[derive(QueryableByName)]
struct StateCount {
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct MachineCount {
    #[diesel(sql_type = Text)]
    pool: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct QueueRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    queued: i64,
    #[diesel(sql_type = BigInt)]
    due: i64,
    #[diesel(sql_type = BigInt)]
    given_up: i64,
    #[diesel(sql_type = Nullable<Double>)]
    oldest: Option<f64>,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Sets the gauges from the database: four statements sent together. Every known state and
/// kind is set (to 0 when absent), so a figure that drops to nothing reads 0, not its last value.
async fn read_gauges(state: &AppState) -> Result<(), app::server::DbError> {
    let conn = state.conn().await?;
    let now = state.clock.now();
    let conn: &diesel_async::AsyncPgConnection = &conn;
    let (loans, machines, queue, pending) = futures::try_join!(
        diesel::sql_query("SELECT state, count(*) AS n FROM loans GROUP BY state")
            .load::<StateCount>(&mut &*conn),
        diesel::sql_query(
            "SELECT p.slug AS pool, m.state, count(*) AS n FROM machines m JOIN pools p ON p.id = m.pool_id
              WHERE p.retired_at IS NULL GROUP BY 1, 2 ORDER BY 1, 2"
        )
        .load::<MachineCount>(&mut &*conn),
        diesel::sql_query(
            "SELECT kind, count(*) FILTER (WHERE failed_at IS NULL) AS queued,
                    count(*) FILTER (WHERE failed_at IS NULL AND run_at <= $1 AND locked_by IS NULL) AS due,
                    count(*) FILTER (WHERE failed_at IS NOT NULL) AS given_up,
                    EXTRACT(EPOCH FROM $1 - min(run_at) FILTER (WHERE failed_at IS NULL AND run_at <= $1 AND locked_by IS NULL))::FLOAT8 AS oldest
               FROM jobs GROUP BY kind"
        )
        .bind::<Timestamptz, _>(now)
        .load::<QueueRow>(&mut &*conn),
        diesel::sql_query("SELECT count(*) AS n FROM emails WHERE sent_at IS NULL")
            .get_result::<Pending>(&mut &*conn),
    )?;
    for s in LoanState::ALL {
        let n = loans
            .iter()
            .find(|r| r.state == s.as_str())
            .map_or(0, |r| r.n);
        gauge!("loaner_loans", "state" => s.as_str()).set(n as f64);
    }
    let mut pools: Vec<&str> = machines.iter().map(|m| m.pool.as_str()).collect();
    pools.dedup();
    for pool in pools {
        for s in MachineState::ALL {
            let n = machines
                .iter()
                .find(|m| m.pool == pool && m.state == s.as_str())
                .map_or(0, |m| m.n);
            gauge!("loaner_machines", "pool" => pool.to_owned(), "state" => s.as_str())
                .set(n as f64);
        }
    }
    for kind in JobKind::ALL {
        let row = queue.iter().find(|q| q.kind == kind.as_str());
        let label = kind.as_str();
        gauge!("loaner_jobs_queued", "kind" => label).set(row.map_or(0, |r| r.queued) as f64);
        gauge!("loaner_jobs_due", "kind" => label).set(row.map_or(0, |r| r.due) as f64);
        gauge!("loaner_jobs_given_up", "kind" => label).set(row.map_or(0, |r| r.given_up) as f64);
        gauge!("loaner_jobs_oldest_due_seconds", "kind" => label)
            .set(row.and_then(|r| r.oldest).unwrap_or(0.0));
    }
    gauge!("loaner_emails_pending").set(pending.n as f64);
    Ok(())
}
