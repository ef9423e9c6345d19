//! `loaner inventory sync`: the database made to match an inventory file — created, updated and
//! retired rows, a second run that changes nothing, invalid files reported by line and field,
//! all-or-nothing writes, dry runs, and the command itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::common::*;
use app::server::{policies, pools};
use app::types::{ApprovalMode, DriverKind, Phase};
use diesel_async::AsyncPgConnection;
use server::inventory::{self, SyncError, SyncReport};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inventory");

/// A fixture, with its step commands pointing at the test's w.scripts.
pub(crate) fn fixture(name: &str, w: &World) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name))
        .unwrap()
        .replace("@SCRIPTS@", &w.scripts.dir.path().display().to_string())
}

/// The file without the `[[pool]]` or `[[machine]]` entry that contains `needle`.
pub(crate) fn without(text: &str, needle: &str) -> String {
    let mut entries: Vec<String> = Vec::new();
    for line in text.lines() {
        if entries.is_empty() || line.starts_with("[[pool]]") || line.starts_with("[[machine]]") {
            entries.push(String::new());
        }
        let entry = entries.last_mut().unwrap();
        entry.push_str(line);
        entry.push('\n');
    }
    let needle = needle.to_lowercase();
    entries
        .into_iter()
        .filter(|e| !e.to_lowercase().contains(&needle))
        .collect()
}

pub(crate) async fn sync(
    w: &World,
    conn: &mut AsyncPgConnection,
    text: &str,
    file_name: &str,
    dry_run: bool,
) -> Result<SyncReport, SyncError> {
    let setup = w.setup();
    inventory::sync(conn, text, file_name, &setup, dry_run, w.clock.now()).await
}

/// Every row of the tables a sync could touch, to prove that nothing changed.
pub(crate) async fn snapshot(sql: &tokio_postgres::Client) -> Vec<String> {
    let mut tables = Vec::new();
    for table in ["pools", "machines", "loans", "jobs", "audit_log"] {
        let query = format!(
            "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') FROM {table} t"
        );
        let row = sql.query_one(&query, &[]).await.unwrap();
        tables.push(format!("{table}: {}", row.get::<_, String>(0)));
    }
    tables
}

pub(crate) async fn text(sql: &tokio_postgres::Client, query: &str, fqdn: &str) -> Option<String> {
    sql.query_one(query, &[&fqdn]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_first_sync_creates_the_pools_and_machines_the_file_lists() {
    let w = World::new().await;
    let mut conn = w.conn().await;

    let report = sync(
        &w,
        &mut conn,
        &fixture("inventory.toml", &w),
        "inventory.toml",
        false,
    )
    .await
    .unwrap();

    assert_eq!(
        report.changes,
        [
            "+ pool debian12-build (Debian 12 build machine)",
            "+ pool win11-test (Windows 11 test machine)",
            "+ machine deb12-build-01.example.com (pool debian12-build)",
            "+ machine deb12-build-02.example.com (pool debian12-build)",
            "+ machine deb12-build-03.example.com (pool debian12-build)",
            "+ machine win11-test-01.example.com (pool win11-test)",
        ]
    );
    assert_eq!((report.created, report.updated, report.retired), (6, 0, 0));
    assert!(report
        .to_string()
        .ends_with("\n6 created, 0 updated, 0 retired\n"));

    let debian = pools::find_by_slug(&conn, "debian12-build")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(debian.login_user, "builder");
    assert_eq!(debian.image_label(), "debian-12-build@2026.11.3");
    assert_eq!(
        debian.description,
        "16 cores, 64 GB RAM. The same image as the CI builders."
    );
    assert_eq!(
        debian.extension_hours, None,
        "keys the file leaves out inherit"
    );
    assert_eq!(
        debian.driver_settings,
        serde_json::json!({"env": {"SITE_CONSOLE_SERVER": "cons-1"}})
    );
    let policy = policies::effective(&conn, &debian).await.unwrap();
    assert_eq!(policy.approval_mode, ApprovalMode::Automatic);
    assert_eq!(
        (
            policy.default_duration_hours,
            policy.max_duration_hours,
            policy.max_total_hours
        ),
        (24, 168, 336)
    );
    assert_eq!((policy.extension_hours, policy.max_extensions), (24, 2));
    assert_eq!(
        policy.allowed_groups,
        Some(vec!["releng".to_owned(), "gfx".to_owned()])
    );
    let provision = debian.steps(Phase::Provision).unwrap();
    assert_eq!(provision.len(), 3);
    assert_eq!(provision[0].timeout_secs, Some(120));
    assert_eq!(
        provision[0].command,
        Some(w.scripts.path("ok.sh").display().to_string())
    );
    assert_eq!(debian.steps(Phase::Reclaim).unwrap().len(), 2);

    let win = pools::find_by_slug(&conn, "win11-test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (win.login_user.as_str(), win.description.as_str()),
        ("loaner", "")
    );
    let policy = policies::effective(&conn, &win).await.unwrap();
    assert_eq!(policy.approval_mode, ApprovalMode::Manual);
    assert!(policy.bug_required);
    assert_eq!(
        (policy.default_duration_hours, policy.max_duration_hours),
        (24, 72)
    );
    assert_eq!(
        win.steps(Phase::Provision).unwrap()[0].driver,
        DriverKind::Manual
    );

    let sql = w.sql().await;
    let rows = sql
        .query(
            "SELECT m.fqdn, p.slug, m.state, m.notes, m.driver_settings -> 'env' ->> 'SITE_BMC_HOST'
             FROM machines m JOIN pools p ON p.id = m.pool_id ORDER BY m.fqdn",
            &[],
        )
        .await
        .unwrap();
    let machines: Vec<(String, String, String, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let row = |fqdn: &str, pool: &str, notes: &str, bmc: Option<&str>| {
        (
            fqdn.into(),
            pool.into(),
            "available".into(),
            notes.into(),
            bmc.map(Into::into),
        )
    };
    assert_eq!(
        machines,
        [
            row(
                "deb12-build-01.example.com",
                "debian12-build",
                "rack 4, slot 12",
                Some("bmc-01")
            ),
            row("deb12-build-02.example.com", "debian12-build", "", None),
            row("deb12-build-03.example.com", "debian12-build", "", None),
            row("win11-test-01.example.com", "win11-test", "", None),
        ]
    );
    let actors = sql
        .query(
            "SELECT DISTINCT actor, actor_id FROM audit_log WHERE target_type <> 'site_policy'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(actors.len(), 1);
    assert_eq!(
        actors[0].get::<_, String>(0),
        "inventory sync (inventory.toml)"
    );
    assert_eq!(actors[0].get::<_, Option<i64>>(1), None);
}

#[tokio::test]
async fn a_second_sync_of_the_same_file_changes_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let file = fixture("inventory.toml", &w);
    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let sql = w.sql().await;
    let before = snapshot(&sql).await;

    let report = sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();

    assert!(report.is_empty(), "{report}");
    assert_eq!(
        report.to_string(),
        "No changes: the database matches inventory.toml.\n"
    );
    assert_eq!(snapshot(&sql).await, before);
}

#[tokio::test]
async fn changing_a_field_in_the_file_updates_just_that() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let file = fixture("inventory.toml", &w);
    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let sql = w.sql().await;
    let win_before = text(
        &sql,
        "SELECT updated_at::text FROM pools WHERE slug = $1",
        "win11-test",
    )
    .await;
    let audit_before = w.count("SELECT max(id) FROM audit_log").await;
    let changed = file
        .replace("max_duration_hours = 168", "max_duration_hours = 48")
        .replace("allowed_groups = [\"releng\", \"gfx\"]\n", "")
        .replace("notes = \"rack 4, slot 12\"", "notes = \"rack 5\"")
        .replace("\"cons-1\"", "\"cons-2\"");

    let report = sync(&w, &mut conn, &changed, "inventory.toml", false)
        .await
        .unwrap();

    assert_eq!(
        report.changes,
        [
            "~ pool debian12-build: max_duration_hours 168 → 48, allowed_groups [releng, gfx] → inherited, \
             driver_settings {\"env\":{\"SITE_CONSOLE_SERVER\":\"cons-1\"}} → {\"env\":{\"SITE_CONSOLE_SERVER\":\"cons-2\"}}",
            "~ machine deb12-build-01.example.com: notes \"rack 4, slot 12\" → \"rack 5\"",
        ]
    );
    assert_eq!((report.created, report.updated, report.retired), (0, 2, 0));
    let debian = pools::find_by_slug(&conn, "debian12-build")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(debian.max_duration_hours, Some(48));
    assert_eq!(debian.allowed_groups, None);
    assert_eq!(debian.name, "Debian 12 build machine");
    assert_eq!(
        text(
            &sql,
            "SELECT notes FROM machines WHERE fqdn = $1",
            "deb12-build-01.example.com"
        )
        .await,
        Some("rack 5".to_owned())
    );
    assert_eq!(
        text(
            &sql,
            "SELECT updated_at::text FROM pools WHERE slug = $1",
            "win11-test"
        )
        .await,
        win_before,
        "rows that match the file are not written"
    );
    let kinds: Vec<String> = sql
        .query(
            "SELECT kind FROM audit_log WHERE id > $1 ORDER BY id",
            &[&audit_before],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kinds, ["pools.update", "machines.update"]);
}
