//! The authorization matrix: every server function, page and plain route of the real router,
//! called as a visitor, as Dana (a developer who owns every loan of the fixture), as Eve
//! (another developer, acting on Dana's loans) and as Rex (an admin), with the exact status
//! each must get. The matrix is compared with what the app registers — the server-function
//! registry, the Leptos route list and the `.route("…")` calls in `server/src` — so a new
//! endpoint without an entry, or an entry for one that is gone, fails the test by name.
//! Nothing a visitor or Eve gets back may show Dana's loans, whatever its status. The site runs
//! as `loaner serve` does in development: the development login, no single sign-on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::http::{Reply, Site};
use crate::common::*;
use crate::oversight::manual;
use app::server::schema::loans as loans_table;
use app::server::{links, loans};
use app::types::{ApprovalMode, LinkAction};
use axum::body::Body;
use axum::http::{header, Method};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// The callers, in the order of every entry's expected statuses.
const CALLERS: [&str; 4] = [
    "a visitor",
    "Dana (owner)",
    "Eve (another developer)",
    "Rex (admin)",
];
/// Where the site answers; posts carry this origin, as the app's own pages do.
const BIND: &str = "127.0.0.1:3000";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Function,
    Page,
    /// A plain axum route; its path starts with its method (`GET /healthz`).
    Route,
}

/// One endpoint: what it is registered as, how the matrix calls it, and the status for each
/// of `CALLERS`. `{name}` in `call` is a value of the fixture (see `Fixture::values`).
struct Entry {
    kind: Kind,
    path: &'static str,
    /// A server function's form; a page's or a route's URL (a route's body after a space).
    call: &'static str,
    expect: [u16; 4],
}

#[rustfmt::skip]
const fn function(path: &'static str, form: &'static str, expect: [u16; 4]) -> Entry {
    Entry { kind: Kind::Function, path, call: form, expect }
}

#[rustfmt::skip]
const fn page(path: &'static str, url: &'static str, expect: [u16; 4]) -> Entry {
    Entry { kind: Kind::Page, path, call: url, expect }
}

#[rustfmt::skip]
const fn route(path: &'static str, call: &'static str, expect: [u16; 4]) -> Entry {
    Entry { kind: Kind::Route, path, call, expect }
}

/// What only Dana and admins may see of Dana's loans: her reason and her machines' names.
const DANAS: [&str; 2] = ["Reproduce a crash", ".test.example"];

const ANYONE: [u16; 4] = [200, 200, 200, 200];
const SIGNED_IN: [u16; 4] = [401, 200, 200, 200];
/// The owner and admins; another developer's loan answers like a missing one.
const OWNER: [u16; 4] = [401, 200, 404, 200];
const ADMIN: [u16; 4] = [401, 403, 403, 200];
/// Admins only, and the admin's request is then refused on its merits (422, the field named).
const ADMIN_REFUSED: [u16; 4] = [401, 403, 403, 422];

#[rustfmt::skip]
const MATRIX: &[Entry] = &[
    // Who is signed in, the development login, the catalogue and email links: anyone.
    function("/api/get_session", "", ANYONE),
    function("/api/dev_login", "name=Zoe&email=zoe%40example.com&role=developer", ANYONE),
    function("/api/list_pools", "", ANYONE),
    function("/api/catalogue_cards", "", ANYONE),
    function("/api/get_link", "token={link}", ANYONE),
    function("/api/use_link", "token={link}", ANYONE),
    // A developer's own business.
    function("/api/get_request_form", "pool=build", SIGNED_IN),
    function("/api/my_loans", "", SIGNED_IN),
    function("/api/request_loan", "pool=gated&reason=why&bug_ref=123&duration_hours=8&ssh_public_key=ssh-ed25519+AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7%2ByCspE9CRdOHU%2Bq8ScWEUPH01OALC+ada%40laptop", SIGNED_IN),
    function("/api/get_loan", "id={ready}", OWNER),
    function("/api/extend_loan", "id={ready}", OWNER),
    function("/api/return_loan", "id={to_return}", OWNER),
    function("/api/cancel_loan", "id={to_cancel}", OWNER),
    // Sessions: one's own only. Dana's other browser is ended before "all the others" are.
    function("/api/my_sessions", "", SIGNED_IN),
    function("/api/end_my_session", "id={other_browser}", [401, 200, 404, 404]),
    function("/api/end_other_sessions", "", SIGNED_IN),
    // Admins only, with arguments an admin's call succeeds with.
    function("/api/admin/overview", "", ADMIN),
    function("/api/admin/list_approvals", "", ADMIN),
    function("/api/admin/approve_loans", "ids[0]={to_approve}", ADMIN),
    function("/api/admin/deny_loan", "id={to_deny}&reason=no", ADMIN),
    function("/api/admin/close_task", "id={task}&outcome=done", ADMIN),
    function("/api/admin/list_loans", "", ADMIN),
    function("/api/admin/force_return", "id={to_force}&reason=why", ADMIN),
    function("/api/admin/move_targets", "id={ready}", ADMIN),
    function("/api/admin/move_loan", "id={to_move}&machine={spare}", ADMIN),
    function("/api/admin/extend_override", "id={ready}&hours=1&reason=why", ADMIN),
    function("/api/admin/restore_loan", "id={to_restore}", ADMIN),
    function("/api/admin/list_machines", "", ADMIN),
    function("/api/admin/get_machine", "id={idle}", ADMIN),
    function("/api/admin/save_machine", "id=0&fqdn=new-01.test.example&pool=build&driver_settings=&notes=rack", ADMIN),
    function("/api/admin/set_machine_state", "id={idle}&state=maintenance&reason=fan", ADMIN),
    function("/api/admin/get_machine_actions", "id={idle}", ADMIN),
    // The test pools' machines have no hardware drivers: an admin is refused with the field
    // at fault (422), the others never get that far.
    function("/api/admin/run_machine_action", "id={idle}&action=reboot&reason=", ADMIN_REFUSED),
    function("/api/admin/list_pools", "", ADMIN),
    function("/api/admin/get_pool", "slug=build", ADMIN),
    function("/api/admin/save_pool", "existing=&slug=fresh&name=Fresh&description=d&platform=Linux&image_name=img&image_version=1&login_user=tester&provision_steps=&reclaim_steps=&driver_settings=&approval_mode=&default_duration_hours=&max_duration_hours=&extension_hours=&max_extensions=&max_total_hours=&bug_required=&grace_period_minutes=&max_loans_per_user=&allowed_groups=", ADMIN),
    function("/api/admin/retire_pool", "slug=idle&retired=true", ADMIN),
    function("/api/admin/get_policies", "", ADMIN),
    function("/api/admin/save_site_policy", "approval_mode=automatic&default_duration_hours=24&max_duration_hours=72&extension_hours=24&max_extensions=2&max_total_hours=168&bug_required=no&grace_period_minutes=0&max_loans_per_user=&max_loans_per_user_per_pool=", ADMIN),
    function("/api/admin/search_audit", "actor=&target=&kind=&from=&to=", ADMIN),
    function("/api/admin/list_mail", "", ADMIN),
    function("/api/admin/get_mail", "id={mail}", ADMIN),
    function("/api/admin/list_people", "", ADMIN),
    function("/api/admin/end_sessions", "id={dana}", ADMIN),
    // Pages. Admin pages answer 401 and 403 themselves (the guard sets the status; the page
    // explains), so does a page that needs a sign-in; someone else's loan is "not found".
    page("/", "/", ANYONE),
    page("/login", "/login", ANYONE),
    page("/signed-out", "/signed-out", ANYONE),
    page("/account", "/account", SIGNED_IN),
    page("/request/{pool}", "/request/build", SIGNED_IN),
    page("/loans", "/loans", SIGNED_IN),
    page("/loans/{id}", "/loans/{ready}", OWNER),
    page("/l/{token}", "/l/{link}", ANYONE),
    page("/admin", "/admin", ADMIN),
    page("/admin/approvals", "/admin/approvals", ADMIN),
    page("/admin/policies", "/admin/policies", ADMIN),
    page("/admin/pools", "/admin/pools", ADMIN),
    page("/admin/pools/{slug}", "/admin/pools/build", ADMIN),
    page("/admin/loans", "/admin/loans", ADMIN),
    page("/admin/machines", "/admin/machines", ADMIN),
    page("/admin/machines/{id}", "/admin/machines/{idle}", ADMIN),
    page("/admin/audit", "/admin/audit", ADMIN),
    page("/admin/people", "/admin/people", ADMIN),
    page("/admin/mailbox", "/admin/mailbox", ADMIN),
    page("/admin/mailbox/{id}", "/admin/mailbox/{mail}", ADMIN),
    // API tokens: one's own; an admin also lists (and revokes) everyone's.
    function("/api/list_api_tokens", "", SIGNED_IN),
    function("/api/create_api_token", "name=ci&scope_loans_read=on", SIGNED_IN),
    function("/api/revoke_api_token", "id={token}", [401, 200, 404, 200]),
    page("/account/tokens", "/account/tokens", SIGNED_IN),
    // Statistics: the summary for everyone signed in (the admins' tables: statistics.rs).
    function("/api/stats", "days=30&from=&to=&pool=", SIGNED_IN),
    page("/stats", "/stats", SIGNED_IN),
    route("GET /stats/{file}", "/stats/loans-per-day.csv", SIGNED_IN),
    // In development mode (loopback only, where anyone may sign in as an admin) metrics need no
    // token; outside it they are off, or need a token or their own address (metrics.rs).
    route("GET /metrics", "/metrics", ANYONE),
    // Plain routes.
    route("GET /admin/audit.csv", "/admin/audit.csv", ADMIN),
    route("GET /healthz", "/healthz", ANYONE),
    // Live updates: a loan's stream for its borrower and admins; the dashboard's for admins.
    route("GET /live/loans/{id}", "/live/loans/{ready}", OWNER),
    route("GET /live/admin", "/live/admin", ADMIN),
    // The browser bundle: public files (GET and HEAD only, as any method here runs).
    route("ANY /pkg", "/pkg/loaner.css", ANYONE),
    route("GET /readyz", "/readyz", ANYONE),
    // The JSON API takes API tokens only: a signed-in browser's cookie gets 401 on every
    // endpoint (the scope matrix in api.rs covers tokens); an unknown endpoint is a JSON 404.
    route("GET /api/v1/me", "/api/v1/me", [401, 401, 401, 401]),
    route("GET /api/v1/pools", "/api/v1/pools", [401, 401, 401, 401]),
    route("GET /api/v1/loans", "/api/v1/loans", [401, 401, 401, 401]),
    route("POST /api/v1/loans", "/api/v1/loans -", [401, 401, 401, 401]),
    route("GET /api/v1/loans/{id}", "/api/v1/loans/{ready}", [401, 401, 401, 401]),
    route("POST /api/v1/loans/{id}/extend", "/api/v1/loans/{ready}/extend", [401, 401, 401, 401]),
    route("POST /api/v1/loans/{id}/return", "/api/v1/loans/{to_return}/return", [401, 401, 401, 401]),
    route("POST /api/v1/loans/{id}/cancel", "/api/v1/loans/{to_cancel}/cancel", [401, 401, 401, 401]),
    route("GET /api/v1/approvals", "/api/v1/approvals", [401, 401, 401, 401]),
    route("POST /api/v1/approvals/{id}/approve", "/api/v1/approvals/{to_approve}/approve", [401, 401, 401, 401]),
    route("POST /api/v1/approvals/{id}/deny", "/api/v1/approvals/{to_deny}/deny", [401, 401, 401, 401]),
    route("GET /api/v1/machines", "/api/v1/machines", [401, 401, 401, 401]),
    route("GET /api/v1/machines/{host}", "/api/v1/machines/build-01.test.example", [401, 401, 401, 401]),
    route("POST /api/v1/machines/{host}/actions", "/api/v1/machines/build-01.test.example/actions", [401, 401, 401, 401]),
    route("GET /api/v1/machines/{host}/actions/{id}", "/api/v1/machines/build-01.test.example/actions/1", [401, 401, 401, 401]),
    route("GET /api/v1/audit", "/api/v1/audit", [401, 401, 401, 401]),
    route("GET /api/v1/docs", "/api/v1/docs", ANYONE),
    route("GET /api/v1/openapi.json", "/api/v1/openapi.json", ANYONE),
    route("ANY /api/v1/{*rest}", "/api/v1/nothing", [404, 404, 404, 404]),
    // Single sign-on is not configured here (the development login is): nothing to start or
    // finish. Signing out works for anyone and lands on the signed-out page.
    route("GET /auth/login", "/auth/login?next=%2Floans", [404, 404, 404, 404]),
    route("GET /auth/callback", "/auth/callback?code=c&state=s", [404, 404, 404, 404]),
    route("POST /auth/logout", "/auth/logout", [303, 303, 303, 303]),
    // Registered only with the test clock on (a development server on loopback): absent here.
    route("POST /_test/clock", "/_test/clock advance_secs=60", [404, 404, 404, 404]),
];

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Function => "server function",
        Kind::Page => "page",
        Kind::Route => "route",
    }
}

/// Each server function's path and method, from the server-function registry.
type Functions = Vec<(&'static str, Method)>;

/// Every endpoint the app registers, and the method each server function is called with.
fn registered() -> (BTreeSet<(Kind, String)>, Functions) {
    let functions: Functions = leptos::server_fn::axum::server_fn_paths().collect();
    let mut found: BTreeSet<(Kind, String)> = functions
        .iter()
        .map(|(path, _)| (Kind::Function, (*path).to_owned()))
        .collect();
    found.extend(
        leptos_axum::generate_route_list(app::App)
            .iter()
            .map(|listing| (Kind::Page, listing.path().to_owned())),
    );
    found.extend(plain_routes());
    (found, functions)
}

/// The routes `server/src` adds with `.route("…", method(…))` (and `.nest`, `.route_service`,
/// `.nest_service`), read from the source so that one added anywhere is seen.
fn plain_routes() -> Vec<(Kind, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            for (at, _) in text.match_indices(call) {
                let line = text[..at].matches('\n').count() + 1;
                let rest = text[at + call.len()..].trim_start();
                let Some((path, after)) = rest.strip_prefix('"').and_then(|r| r.split_once('"'))
                else {
                    panic!(
                        "{}:{line}: a route whose path is not a string literal; write it as one so the authorization matrix sees it",
                        file.display()
                    );
                };
                let handler = &after[..after.find(".route").unwrap_or(after.len()).min(300)];
                let method = ["get", "post", "put", "patch", "delete"]
                    .into_iter()
                    .filter_map(|m| handler.find(&format!("{m}(")).map(|i| (i, m)))
                    .min()
                    .map_or("ANY", |(_, m)| m);
                routes.push((Kind::Route, format!("{} {path}", method.to_uppercase())));
            }
        }
    }
    routes
}

fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Fails, naming each one, when an endpoint has no entry, an entry names no endpoint, or an
/// endpoint has two entries.
fn check_coverage(registered: &BTreeSet<(Kind, String)>) {
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for entry in MATRIX {
        if !listed.insert((entry.kind, entry.path.to_owned())) {
            problems.push(format!(
                "{} `{}` has two entries",
                kind_name(entry.kind),
                entry.path
            ));
        }
    }
    for (kind, path) in registered.difference(&listed) {
        let name = match kind {
            Kind::Function => format!("`{}` ({path})", path.rsplit('/').next().unwrap()),
            Kind::Page | Kind::Route => format!("`{path}`"),
        };
        problems.push(format!(
            "{} {name} has no entry in the authorization matrix",
            kind_name(*kind)
        ));
    }
    for (kind, path) in listed.difference(registered) {
        problems.push(format!(
            "the authorization matrix has an entry for {} `{path}`, which the app does not register",
            kind_name(*kind)
        ));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Dana's loans: name, pool, and the state the matrix finds it in. Each one a call changes is
/// changed by that call only.
const LOANS: [(&str, &str, &str); 10] = [
    ("ready", "build", "ready"),
    ("to_return", "build", "ready"),
    ("to_force", "build", "ready"),
    ("to_move", "build", "ready"),
    ("to_link", "build", "ready"),
    // A one-hour loan that ran out, in its grace period.
    ("to_restore", "build", "expired"),
    ("to_cancel", "gated", "requested"),
    ("to_approve", "gated", "requested"),
    ("to_deny", "gated", "requested"),
    // Waits for an admin's manual step (the task).
    ("waits_for_task", "probe", "provisioning"),
];

/// One world per caller: a database of its own holding Dana's loans in every state the
/// matrix acts on, so each caller's calls (and mistakes) change nothing the others see.
struct Fixture {
    world: World,
    site: Site,
    values: Vec<(&'static str, String)>,
    /// The site folder: the bundle's stylesheet, which anyone may fetch.
    _files: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let w = World::new().await;
        let worker = w.worker();
        let mut build = w.pool_spec("build");
        build.machines = 8;
        build.grace_period_minutes = 60;
        w.add_pool(build).await;
        let mut gated = w.pool_spec("gated");
        gated.approval = ApprovalMode::Manual;
        gated.machines = 2;
        w.add_pool(gated).await;
        let mut probe = w.pool_spec("probe");
        probe.machines = 1;
        probe.provision.insert(1, manual("Attach the debug probe"));
        w.add_pool(probe).await;
        let mut idle = w.pool_spec("idle");
        idle.machines = 1;
        w.add_pool(idle).await;

        let dana = w.developer("Dana").await;
        let files = tempfile::tempdir().unwrap();
        std::fs::create_dir(files.path().join("pkg")).unwrap();
        std::fs::write(files.path().join("pkg/loaner.css"), "body {}").unwrap();
        let config = server::config::Config {
            dev_mode: Some(true),
            site_root: files.path().to_owned(),
            ..Default::default()
        };
        let site = w.web_with(config, BIND);
        // Dana signed in on another browser too: a session of hers that is not the caller's.
        site.sign_in("Dana", "developer").await;
        let mut conn = w.conn().await;
        let mut values = vec![("dana", dana.id.to_string())];
        for (name, pool, _) in LOANS {
            let mut ask = request(pool);
            if name == "to_restore" {
                ask.duration_hours = "1".to_owned();
            }
            let id = loans::request(&mut conn, &dana, &ask, w.clock.now())
                .await
                .unwrap();
            values.push((name, id.to_string()));
        }
        w.drain_with(&worker).await;
        // The one-hour loan runs out: expired, its machine kept for the grace period.
        w.clock.advance(Duration::hours(1));
        w.drain_with(&worker).await;

        let sql = w.sql().await;
        let number = async |query: &str| -> String {
            let row = sql.query_one(query, &[]).await.expect(query);
            row.get::<_, i64>(0).to_string()
        };
        let free = "SELECT m.id FROM machines m JOIN pools p ON p.id = m.pool_id WHERE p.slug = 'build' AND m.state = 'available' ORDER BY m.id";
        let sessions = "SELECT id FROM sessions WHERE user_id";
        values.extend([
            ("spare", number(&format!("{free} LIMIT 1")).await),
            ("idle", number(&format!("{free} OFFSET 1 LIMIT 1")).await),
            ("task", number("SELECT id FROM admin_tasks").await),
            ("mail", number("SELECT min(id) FROM emails").await),
            (
                "other_browser",
                number(&format!("{sessions} = {}", dana.id)).await,
            ),
        ]);
        let mut fixture = Self {
            site,
            world: w,
            values,
            _files: files,
        };
        for (name, _, state) in LOANS {
            let id = fixture.value(name);
            let actual = sql
                .query_one(&format!("SELECT state FROM loans WHERE id = {id}"), &[])
                .await
                .unwrap();
            assert_eq!(
                actual.get::<_, &str>(0),
                state,
                "the fixture's loan `{name}`"
            );
        }
        // Dana's one-click link to return `to_link`, as her reminder email carries it.
        let to_link = LoanId(fixture.value("to_link").parse().unwrap());
        let deadline: Option<DateTime<Utc>> = loans_table::table
            .find(to_link)
            .select(loans_table::expires_at)
            .first(&mut *conn)
            .await
            .unwrap();
        let now = fixture.world.clock.now();
        let token = links::issue(
            &mut conn,
            to_link,
            LinkAction::Return,
            deadline.unwrap(),
            None,
            now,
        )
        .await
        .unwrap();
        fixture.values.push(("link", token));
        // Dana's API token, which she (or an admin) may revoke.
        let ask = app::types::NewApiToken {
            name: "laptop".into(),
            scopes: vec!["loans:read".into()],
            expires_in_days: String::new(),
        };
        let (api_token, _) = app::server::tokens::create(&mut conn, &dana, &ask, 365, now)
            .await
            .unwrap();
        fixture.values.push(("token", api_token.id.to_string()));
        fixture
    }

    fn value(&self, name: &str) -> &str {
        &self.values.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// `text` with each `{name}` replaced by the fixture's value.
    fn fill(&self, text: &str) -> String {
        let filled = self
            .values
            .iter()
            .fold(text.to_owned(), |t, (name, value)| {
                t.replace(&format!("{{{name}}}"), value)
            });
        assert!(!filled.contains('{'), "an unknown placeholder in {text}");
        filled
    }
}

/// A session for caller `n` of `CALLERS`.
async fn session(site: &Site, n: usize) -> Option<String> {
    match n {
        0 => None,
        1 => Some(site.sign_in("Dana", "developer").await),
        2 => Some(site.sign_in("Eve", "developer").await),
        _ => Some(site.sign_in("Rex", "admin").await),
    }
}

/// Calls `entry` the way the app's own pages would (posts carry this site's `Origin`).
async fn call(
    site: &Site,
    entry: &Entry,
    method: Method,
    url: &str,
    cookie: Option<&str>,
) -> Reply {
    let (url, body) = match entry.kind {
        Kind::Function => (entry.path, url),
        Kind::Page => (url, ""),
        Kind::Route => url.split_once(' ').unwrap_or((url, "")),
    };
    let json = entry.kind == Kind::Function;
    let accept = if json {
        "application/json"
    } else {
        "text/html"
    };
    let mut request = site
        .request(method.clone(), url)
        .header(header::ACCEPT, accept);
    if method != Method::GET {
        request = request
            .header(header::ORIGIN, format!("http://{}", site.host))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    site.send(request.body(Body::from(body.to_owned())).unwrap())
        .await
}

/// Every entry as caller `n`; the lines that did not answer as expected.
async fn run_as(n: usize, functions: Functions) -> Vec<String> {
    let fixture = Fixture::new().await;
    let site = &fixture.site;
    let mut cookie = session(site, n).await;
    let mut failures = Vec::new();
    for entry in MATRIX {
        let method = match entry.kind {
            Kind::Function => functions
                .iter()
                .find(|(p, _)| *p == entry.path)
                .unwrap()
                .1
                .clone(),
            Kind::Page => Method::GET,
            Kind::Route => match entry.path.split(' ').next().unwrap() {
                "ANY" => Method::GET,
                method => method.parse().unwrap(),
            },
        };
        let url = fixture.fill(entry.call);
        let reply = call(site, entry, method, &url, cookie.as_deref()).await;
        let who = format!(
            "{} `{}` as {}",
            kind_name(entry.kind),
            entry.path,
            CALLERS[n]
        );
        let status = reply.status.as_u16();
        if status != entry.expect[n] {
            let body = reply.body.replace('\n', " ");
            failures.push(format!(
                "{who}: expected {}, got {status}: {body:.200}",
                entry.expect[n]
            ));
        }
        // Nobody else sees Dana's loans, except through her email link: its token is the
        // authority for the one loan it names.
        let leaked: Vec<&str> = DANAS
            .into_iter()
            .filter(|s| reply.body.contains(s))
            .collect();
        if matches!(n, 0 | 2) && !entry.call.contains("{link}") && !leaked.is_empty() {
            failures.push(format!("{who}: shows {leaked:?} of Dana's loans"));
        }
        // Signing out or in again replaces the caller's session: start a fresh one.
        if reply.header("set-cookie").is_some() {
            cookie = session(site, n).await;
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_answers_each_caller_as_the_authorization_matrix_says() {
    let (registered, functions) = registered();
    check_coverage(&registered);
    // One task per caller, as a server runs one per request.
    let callers = (0..CALLERS.len()).map(|n| tokio::spawn(run_as(n, functions.clone())));
    let failures: Vec<String> = futures::future::try_join_all(callers)
        .await
        .unwrap()
        .concat();
    assert!(
        failures.is_empty(),
        "{} calls did not answer as the matrix says:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
