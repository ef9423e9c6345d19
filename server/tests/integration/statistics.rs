//! The statistics page's figures over a history made through the real services with a moved
//! clock, so each answer is known by construction: six requests with every outcome, waits for
//! an admin and in line, provisioning that takes minutes, a return, a take-back, an expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use app::server::loans;
use app::server::stats::{self, check_filter};
use app::types::{ApprovalMode, Role, Spread, Stats, StatsFilter, StatsTable};
use chrono::Duration;

/// Within five seconds: the test's clock runs on while the steps run.
fn about(actual: Option<f64>, minutes: f64) -> bool {
    actual.is_some_and(|a| (a - minutes * 60.0).abs() < 5.0)
}

fn spread(s: Spread, loans: i64, median_min: f64, p90_min: f64) {
    assert_eq!(s.loans, loans, "{s:?}");
    assert!(
        about(s.median_secs, median_min),
        "median {s:?}, want {median_min} min"
    );
    assert!(about(s.p90_secs, p90_min), "p90 {s:?}, want {p90_min} min");
}

async fn figures(w: &World, filter: StatsFilter, admin: bool) -> Stats {
    let now = w.clock.now();
    let period = check_filter(&filter, now.date_naive()).unwrap();
    let (mut first, mut second) = (w.conn().await, w.conn().await);
    let site = w.site();
    stats::compute(
        &mut first,
        &mut second,
        filter,
        &period,
        admin,
        |b| site.bug_url(b),
        now,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn every_figure_matches_a_history_made_to_be_known() {
    let w = World::new().await;
    let mut auto = w.pool_spec("auto");
    auto.machines = 2;
    w.add_pool(auto).await;
    let mut gated = w.pool_spec("gated");
    gated.machines = 1;
    gated.approval = ApprovalMode::Manual;
    w.add_pool(gated).await;
    let dana = w.person("Dana", Role::Developer, &["kernel"]).await;
    let eli = w.person("Eli", Role::Developer, &["kernel", "qa"]).await;
    let rex = w.admin("Rex").await;
    let worker = w.worker();
    let mut conn = w.conn().await;
    let run = || async { worker.run_until_idle().await.unwrap() };
    let ask = |pool: &str, bug: &str, wait: bool| {
        let mut r = request(pool);
        r.bug_ref = bug.to_owned();
        r.wait = wait;
        r
    };

    // A: ready after 10 minutes of provisioning.
    let a = loans::request(
        &mut conn,
        &dana,
        &ask("auto", "1234567", false),
        w.clock.now(),
    )
    .await
    .unwrap();
    w.clock.advance(Duration::minutes(10));
    run().await;
    // B: 30 minutes waiting for an admin, 5 minutes provisioning.
    let b = loans::request(
        &mut conn,
        &eli,
        &ask("gated", "2000001", false),
        w.clock.now(),
    )
    .await
    .unwrap();
    w.clock.advance(Duration::minutes(30));
    loans::approve(&mut conn, &rex, b, None, w.clock.now())
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(5));
    run().await;
    // C takes the second machine (15 minutes to ready); D waits in line for A's machine.
    let c = loans::request(
        &mut conn,
        &eli,
        &ask("auto", "1234567", false),
        w.clock.now(),
    )
    .await
    .unwrap();
    let d = loans::request(
        &mut conn,
        &dana,
        &ask("auto", "1234567", true),
        w.clock.now(),
    )
    .await
    .unwrap();
    w.clock.advance(Duration::minutes(15));
    run().await;
    // A is returned; its clean-up ends 20 minutes later and D gets the machine at once.
    loans::return_loan(&mut conn, &dana, a, w.clock.now())
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(20));
    run().await;
    // E is denied; F waits in line and is cancelled; C is taken back.
    let e = loans::request(
        &mut conn,
        &eli,
        &ask("gated", "2000001", false),
        w.clock.now(),
    )
    .await
    .unwrap();
    loans::deny(&mut conn, &rex, e, "Use the CI pool", w.clock.now())
        .await
        .unwrap();
    let f = loans::request(
        &mut conn,
        &dana,
        &ask("auto", "1234567", true),
        w.clock.now(),
    )
    .await
    .unwrap();
    loans::cancel(&mut conn, &dana, f, w.clock.now())
        .await
        .unwrap();
    loans::force_return(&mut conn, &rex, c, "Needed for a release", w.clock.now())
        .await
        .unwrap();
    w.clock.advance(Duration::minutes(10));
    run().await;
    // B is returned; D runs out eight hours after it was ready and is reclaimed.
    loans::return_loan(&mut conn, &eli, b, w.clock.now())
        .await
        .unwrap();
    run().await;
    w.clock.advance(Duration::hours(8));
    run().await;
    let sql = w.sql().await;
    let states: Vec<String> = sql
        .query("SELECT state FROM loans ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        states,
        [
            "returned",
            "returned",
            "returned",
            "reclaimed",
            "denied",
            "cancelled"
        ],
        "the history came out as planned ({a} {b} {c} {d} {e} {f})"
    );

    let s = figures(&w, StatsFilter::default(), true).await;
    let counts = s.counts;
    assert_eq!(
        (
            counts.requested,
            counts.approved_automatically,
            counts.approved_by_admin
        ),
        (6, 4, 1)
    );
    assert_eq!(
        (counts.denied, counts.cancelled, counts.failed, counts.open),
        (1, 1, 0, 0)
    );
    let ends = s.endings;
    assert_eq!(
        (
            ends.returned,
            ends.expired,
            ends.forced,
            ends.extended_loans
        ),
        (2, 1, 1, 0)
    );
    // Ready after 10 (A), 35 (B), 15 (C) and 35 (D) minutes.
    spread(s.waits.total, 4, 25.0, 35.0);
    // Only B waited for an admin, only D in line.
    spread(s.waits.approval, 1, 30.0, 30.0);
    spread(s.waits.line, 1, 35.0, 35.0);
    spread(s.waits.provisioning, 4, 7.5, 13.5);
    let buckets: Vec<i64> = s.wait_buckets.iter().map(|b| b.loans).collect();
    assert_eq!(buckets, [0, 1, 1, 2, 0, 0, 0]);
    // Out of the pool: A 80 min, B 50, C 45, D 8 h 10 min.
    spread(s.out_of_pool, 4, 65.0, 80.0 + 0.7 * 410.0);
    let pool = |slug: &str| s.pool_use.iter().find(|p| p.slug == slug).unwrap().clone();
    spread(pool("auto").out_of_pool, 3, 80.0, 80.0 + 0.8 * 410.0);
    assert!((pool("auto").loaned_hours - (80.0 + 45.0 + 490.0) / 60.0).abs() < 0.01);
    assert_eq!((pool("auto").machines, pool("auto").idle_machines), (2, 0));
    let elapsed = (w.clock.now().timestamp() as f64 - a_requested(&sql).await) / 3600.0;
    assert!(
        pool("gated").available_hours >= elapsed,
        "the machine existed all along"
    );
    let per_day: i64 = s.per_day.iter().flat_map(|d| d.counts).sum();
    assert_eq!(per_day, 6);
    let by_outcome: Vec<i64> = (0..7)
        .map(|k| s.per_day.iter().map(|d| d.counts[k]).sum())
        .collect();
    assert_eq!(by_outcome, [2, 1, 1, 1, 1, 0, 0]);
    let day_hours: f64 = s
        .pool_days
        .iter()
        .filter(|d| d.slug == "auto")
        .map(|d| d.loaned_hours)
        .sum();
    assert!(
        (day_hours - pool("auto").loaned_hours).abs() < 0.01,
        "the days add up"
    );

    let admin = s.admin.clone().unwrap();
    let power_on = admin
        .steps
        .iter()
        .find(|r| r.phase == "provision" && r.name == "Power on")
        .unwrap();
    assert_eq!((power_on.runs, power_on.failed), (4, 0));
    let bugs: Vec<(String, i64, Option<String>)> = admin
        .bugs
        .iter()
        .map(|t| (t.name.clone(), t.loans, t.url.clone()))
        .collect();
    assert_eq!(
        bugs,
        [
            (
                "1234567".into(),
                4,
                Some("https://bugs.example.com/show_bug.cgi?id=1234567".into())
            ),
            (
                "2000001".into(),
                2,
                Some("https://bugs.example.com/show_bug.cgi?id=2000001".into())
            ),
        ]
    );
    let groups: Vec<(String, i64)> = admin
        .groups
        .iter()
        .map(|t| (t.name.clone(), t.loans))
        .collect();
    assert_eq!(groups, [("kernel".into(), 6), ("qa".into(), 3)]);

    // One pool: only its loans.
    let gated_only = figures(
        &w,
        StatsFilter {
            pool: "gated".into(),
            ..StatsFilter::default()
        },
        false,
    )
    .await;
    assert_eq!(
        (gated_only.counts.requested, gated_only.counts.denied),
        (2, 1)
    );
    assert!(
        gated_only.admin.is_none(),
        "developers see the summary only"
    );
    assert!(gated_only.table(StatsTable::Bugs).is_none());

    // The CSV is the table.
    let csv = stats::to_csv(&s.table(StatsTable::Waits).unwrap()).unwrap();
    assert_eq!(
        csv,
        "Wait,Loans\nunder 5 min,0\n5–15 min,1\n15–30 min,1\n30–60 min,2\n1–4 h,0\n4–24 h,0\nover a day,0\n"
    );
}

/// When the first loan was asked for, in seconds since 1970.
async fn a_requested(sql: &tokio_postgres::Client) -> f64 {
    sql.query_one(
        "SELECT EXTRACT(EPOCH FROM min(requested_at))::FLOAT8 FROM loans",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_failing_clean_up_step_and_the_machine_it_broke_are_counted_with_its_repair() {
    let w = World::new().await;
    let fail = w
        .scripts
        .write("fail.sh", "echo 'disk on fire' >&2; exit 1");
    let mut spec = w.pool_spec("flaky");
    spec.machines = 1;
    spec.reclaim[1].command = Some(fail.display().to_string());
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let id = w.borrow(&dana, "flaky").await;
    w.drain().await;
    let mut conn = w.conn().await;
    let returned_at = w.clock.now();
    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain().await;
    let broken_at = w.clock.now();
    w.clock.advance(Duration::hours(3));
    let machine = app::types::MachineId(w.count("SELECT id FROM machines").await);
    app::server::inventory::set_machine_state(
        &mut conn,
        &rex,
        machine,
        app::types::MachineState::Available,
        "Replaced the disk",
        w.clock.now(),
    )
    .await
    .unwrap();

    let s = figures(
        &w,
        StatsFilter {
            days: "7".into(),
            ..StatsFilter::default()
        },
        true,
    )
    .await;
    let admin = s.admin.unwrap();
    let wipe = admin
        .steps
        .iter()
        .find(|r| r.phase == "reclaim" && r.name == "Re-image")
        .unwrap();
    assert!(wipe.failed >= 1 && wipe.failed == wipe.runs, "{wipe:?}");
    assert_eq!(admin.broken.len(), 1, "{:?}", admin.broken);
    let broke = &admin.broken[0];
    assert_eq!(broke.fqdn, "flaky-01.test.example");
    assert!(broke.broken_at >= returned_at && broke.broken_at <= broken_at);
    let repaired = broke.repaired_at.expect("repaired");
    assert!(
        (repaired - (broken_at + Duration::hours(3)))
            .num_seconds()
            .abs()
            < 5
    );
    assert_eq!(admin.repair.loans, 1);
    let hours = (repaired - broke.broken_at).num_seconds() as f64;
    assert!(
        about(admin.repair.median_secs, hours / 60.0),
        "{:?}",
        admin.repair
    );
}

#[tokio::test]
async fn over_http_the_admins_tables_are_for_admins_and_a_bad_filter_names_its_field() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let site = w.web(true, "127.0.0.1:3000");
    let dev = site.sign_in("Dana", "developer").await;
    let admin = site.sign_in("Rex", "admin").await;
    let csv = |path: &str, cookie: Option<&str>| {
        let site = site.clone();
        let path = path.to_owned();
        let cookie = cookie.map(str::to_owned);
        async move {
            let mut request = site
                .request(axum::http::Method::GET, &path)
                .header("accept", "text/csv");
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            site.send(request.body(axum::body::Body::empty()).unwrap())
                .await
        }
    };
    use axum::http::StatusCode;
    assert_eq!(
        csv("/stats/step-failures.csv", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refused = csv("/stats/step-failures.csv", Some(&dev)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let ok = csv("/stats/step-failures.csv", Some(&admin)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, "Phase,Step,Runs,Failed,Failure %\n");
    assert!(ok
        .header("content-disposition")
        .is_some_and(|d| d.contains("loaner-step-failures.csv")));
    let summary = csv("/stats/wait-times.csv?days=7&pool=build", Some(&dev)).await;
    assert_eq!(summary.status, StatusCode::OK);
    assert!(summary.body.starts_with("Wait,Loans\nunder 5 min,0\n"));
    assert_eq!(
        csv("/stats/passwd", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    for (query, field) in [
        ("days=12", "days"),
        ("from=2026-13-01", "from"),
        ("from=2020-01-01&to=2026-01-01", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("pool=nope", "pool"),
    ] {
        let reply = csv(&format!("/stats/wait-times.csv?{query}"), Some(&admin)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(
            reply.body.contains(&format!("\"field\":\"{field}\"")),
            "{query}: {}",
            reply.body
        );
        let mut form: Vec<String> = ["days", "from", "to", "pool"]
            .iter()
            .filter(|key| !query.contains(&format!("{key}=")))
            .map(|key| format!("{key}="))
            .collect();
        form.push(query.to_owned());
        let call = site.call("/api/stats", Some(&admin), &form.join("&")).await;
        assert_eq!(
            call.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            call.body
        );
    }
}

#[tokio::test]
async fn a_simulated_week_is_finished_loans_the_statistics_count_whole() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    let plan = server::simulate::Plan {
        days: 7,
        loans_per_day: 10,
        seed: 3,
    };
    let written = server::simulate::run(&mut *w.conn().await, plan, w.clock.now())
        .await
        .unwrap();
    assert!(written.loans > 20, "{written:?}");
    let open = "SELECT count(*) FROM loans WHERE state NOT IN ('returned', 'reclaimed', 'denied', 'cancelled', 'failed')";
    assert_eq!(w.count(open).await, 0, "only finished loans");
    assert_eq!(
        w.count("SELECT count(*) FROM machines WHERE state <> 'available'")
            .await,
        0,
        "the machines are as they were"
    );
    let unknown =
        "SELECT count(*) FROM loan_facts WHERE assigned_at IS NOT NULL AND machine_id IS NULL";
    assert_eq!(w.count(unknown).await, 0, "every loan's machine is known");
    assert_eq!(
        w.count(
            "SELECT count(*) FROM users WHERE email LIKE '%@sim.loaner.test' AND role = 'admin'"
        )
        .await,
        0,
        "no simulated person is an admin"
    );
    let s = figures(
        &w,
        StatsFilter {
            days: "30".into(),
            ..StatsFilter::default()
        },
        true,
    )
    .await;
    assert_eq!(s.counts.requested, written.loans as i64);
    let build = s.pool_use.iter().find(|p| p.slug == "build").unwrap();
    assert!(build.loaned_hours > 0.0 && build.loaned_hours <= build.available_hours);
    assert_eq!(
        build.idle_machines, 0,
        "a week of loans touched every machine"
    );
}
