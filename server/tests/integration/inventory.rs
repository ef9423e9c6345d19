//! `loaner inventory sync`: the database made to match an inventory file — created, updated and
//! retired rows, a second run that changes nothing, invalid files reported by line and field,
//! all-or-nothing writes, dry runs, and the command itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::common::*;
use app::server::{loans, policies, pools};
use app::types::{ApprovalMode, DriverKind, Phase};
use diesel_async::AsyncPgConnection;
use server::inventory::{self, SyncError, SyncReport, REMOVED};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/inventory");

/// A fixture, with its step commands pointing at the test's w.scripts.
fn fixture(name: &str, w: &World) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name))
        .unwrap()
        .replace("@SCRIPTS@", &w.scripts.dir.path().display().to_string())
}

/// The file without the `[[pool]]` or `[[machine]]` entry that contains `needle`.
fn without(text: &str, needle: &str) -> String {
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

async fn sync(
    w: &World,
    conn: &mut AsyncPgConnection,
    text: &str,
    file_name: &str,
    dry_run: bool,
) -> Result<SyncReport, SyncError> {
    let commands = w.commands();
    inventory::sync(conn, text, file_name, &commands, dry_run, w.clock.now()).await
}

/// Every row of the tables a sync could touch, to prove that nothing changed.
async fn snapshot(sql: &tokio_postgres::Client) -> Vec<String> {
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

async fn text(sql: &tokio_postgres::Client, query: &str, fqdn: &str) -> Option<String> {
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

    let debian = pools::find_by_slug(&mut conn, "debian12-build")
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
    let policy = policies::effective(&mut conn, &debian).await.unwrap();
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

    let win = pools::find_by_slug(&mut conn, "win11-test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (win.login_user.as_str(), win.description.as_str()),
        ("loaner", "")
    );
    let policy = policies::effective(&mut conn, &win).await.unwrap();
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
    let debian = pools::find_by_slug(&mut conn, "debian12-build")
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

#[tokio::test]
async fn what_the_file_no_longer_lists_is_retired_and_a_loaned_machine_keeps_its_loan() {
    let w = World::new().await;
    let worker = w.worker();
    let mut conn = w.conn().await;
    let file = fixture("inventory.toml", &w);
    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let sql = w.sql().await;
    let dana = w.developer("Dana").await;
    sql.execute(
        "UPDATE users SET groups = '{releng}' WHERE id = $1",
        &[&dana.id.0],
    )
    .await
    .unwrap();
    let loan = loans::request(&mut conn, &dana, &request("debian12-build"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let loaned: String = sql
        .query_one(
            "SELECT m.fqdn FROM loans l JOIN machines m ON m.id = l.machine_id WHERE l.id = $1",
            &[&loan.0],
        )
        .await
        .unwrap()
        .get(0);
    let reduced = without(
        &without(
            &without(&file, &format!("fqdn = \"{loaned}\"")),
            "slug = \"win11-test\"",
        ),
        "fqdn = \"win11-test-01.example.com\"",
    );

    let report = sync(&w, &mut conn, &reduced, "inventory.toml", false)
        .await
        .unwrap();

    assert_eq!(
        report.changes,
        [
            "- pool win11-test (retired)".to_owned(),
            format!("- machine {loaned} (retired when its loan ends: {REMOVED})"),
            format!("- machine win11-test-01.example.com (retired: {REMOVED})"),
        ]
    );
    assert_eq!((report.created, report.updated, report.retired), (0, 0, 3));
    let state = "SELECT state || ' ' || coalesce(state_reason, '-') || ' / ' || coalesce(hold_state, '-') || ' ' || coalesce(hold_reason, '-') FROM machines WHERE fqdn = $1";
    assert_eq!(
        text(&sql, state, &loaned).await.unwrap(),
        format!("loaned - / retired {REMOVED}"),
        "the loan is not disturbed"
    );
    assert_eq!(
        text(&sql, state, "win11-test-01.example.com")
            .await
            .unwrap(),
        format!("retired {REMOVED} / - -")
    );
    assert_eq!(
        w.count("SELECT count(*) FROM pools WHERE retired_at IS NOT NULL AND slug = 'win11-test'")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM pools WHERE retired_at IS NULL")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM loans WHERE state = 'ready'")
            .await,
        1
    );
    let again = sync(&w, &mut conn, &reduced, "inventory.toml", false)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again}");

    // The loan ends: its clean-up retires the machine.
    loans::return_loan(&mut conn, &dana, loan, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    assert_eq!(
        text(&sql, state, &loaned).await.unwrap(),
        format!("retired {REMOVED} / - -")
    );

    // Listed again, what the sync retired comes back; what admins decided stays as it is.
    let others: Vec<String> = sql
        .query(
            "SELECT fqdn FROM machines WHERE fqdn LIKE 'deb12%' AND fqdn <> $1 ORDER BY fqdn",
            &[&loaned],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    sql.execute(
        "UPDATE machines SET state = 'retired', state_reason = 'dead disk' WHERE fqdn = $1",
        &[&others[0]],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE machines SET state = 'maintenance', state_reason = 'loud fan' WHERE fqdn = $1",
        &[&others[1]],
    )
    .await
    .unwrap();
    let report = sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    assert_eq!(
        report.changes,
        [
            "~ pool win11-test: retired → back in the catalogue".to_owned(),
            format!("~ machine {loaned}: retired → available"),
            "~ machine win11-test-01.example.com: retired → available".to_owned(),
        ]
    );
    assert_eq!(
        text(&sql, state, &loaned).await.unwrap(),
        "available - / - -"
    );
    assert_eq!(
        text(&sql, state, &others[0]).await.unwrap(),
        "retired dead disk / - -"
    );
    assert_eq!(
        text(&sql, state, &others[1]).await.unwrap(),
        "maintenance loud fan / - -"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM pools WHERE retired_at IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn an_invalid_file_names_every_problem_by_line_and_field_and_changes_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let file = fixture("inventory.toml", &w);
    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let sql = w.sql().await;
    let before = snapshot(&sql).await;

    let err = sync(
        &w,
        &mut conn,
        &fixture("invalid.toml", &w),
        "invalid.toml",
        false,
    )
    .await
    .unwrap_err();
    let SyncError::Invalid(problems) = err else {
        panic!("expected an invalid file, got {err:?}")
    };
    assert_eq!(
        problems,
        [
            "invalid.toml:9: pool[1].policy.default_duration_hours: The default cannot exceed the maximum (1 day).",
            "invalid.toml:14: pool[1].provision[1].action: \"power_up\" is not an action; use status, power_on, power_off, reboot, reimage, grant_access or revoke_access.",
            "invalid.toml:22: machine[2].fqdn: \"Bad_Host\" is not a host name like build-01.example.com.",
            "invalid.toml:27: machine[3].pool: There is no pool \"no-such-pool\" in this file or in the database.",
        ]
    );

    let err = sync(
        &w,
        &mut conn,
        &fixture("unknown_key.toml", &w),
        "unknown_key.toml",
        false,
    )
    .await
    .unwrap_err();
    let SyncError::Invalid(problems) = err else {
        panic!("expected an invalid file, got {err:?}")
    };
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .starts_with("unknown_key.toml:10: pool[1].provision[1].comand: Unknown key `comand`"),
        "{problems:?}"
    );

    // Host names differ only in case: the same machine, listed twice.
    let twice = format!(
        "{file}\n[[machine]]\nfqdn = \"DEB12-BUILD-01.example.com\"\npool = \"debian12-build\"\n"
    );
    let line = twice.lines().count() - 1;
    let err = sync(&w, &mut conn, &twice, "inventory.toml", false)
        .await
        .unwrap_err();
    let SyncError::Invalid(problems) = err else {
        panic!("expected an invalid file, got {err:?}")
    };
    let first = file
        .lines()
        .position(|l| l.contains("deb12-build-01"))
        .unwrap()
        + 1;
    assert_eq!(
        problems,
        [format!(
            "inventory.toml:{line}: machine[5].fqdn: The machine deb12-build-01.example.com is listed twice (first on line {first})."
        )]
    );

    assert_eq!(snapshot(&sql).await, before);
}

#[tokio::test]
async fn a_failure_while_writing_stores_nothing() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let file = fixture("inventory.toml", &w);
    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let sql = w.sql().await;
    // The database refuses one new machine, after the sync has written other changes.
    sql.batch_execute(
        "CREATE FUNCTION refuse_machine() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.fqdn = 'deb12-build-09.example.com' THEN RAISE EXCEPTION 'the rack is full'; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_machine BEFORE INSERT ON machines
             FOR EACH ROW EXECUTE FUNCTION refuse_machine();",
    )
    .await
    .unwrap();
    let before = snapshot(&sql).await;
    let changed = format!(
        "{}\n[[machine]]\nfqdn = \"deb12-build-09.example.com\"\npool = \"debian12-build\"\n",
        without(&file, "fqdn = \"deb12-build-02.example.com\"").replace(
            "name = \"Windows 11 test machine\"",
            "name = \"Windows 11 tester\""
        )
    );

    let err = sync(&w, &mut conn, &changed, "inventory.toml", false)
        .await
        .unwrap_err();

    assert!(matches!(err, SyncError::Inventory(_)), "{err:?}");
    assert!(err.to_string().contains("the rack is full"), "{err}");
    assert_eq!(snapshot(&sql).await, before);
}

#[tokio::test]
async fn a_dry_run_reports_the_changes_and_makes_none() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let sql = w.sql().await;
    let empty = snapshot(&sql).await;
    let file = fixture("inventory.toml", &w);

    let report = sync(&w, &mut conn, &file, "inventory.toml", true)
        .await
        .unwrap();

    assert!(report.dry_run);
    assert_eq!((report.created, report.updated, report.retired), (6, 0, 0));
    assert!(
        report
            .to_string()
            .ends_with("6 created, 0 updated, 0 retired\nDry run: nothing was changed.\n"),
        "{report}"
    );
    assert_eq!(snapshot(&sql).await, empty);

    sync(&w, &mut conn, &file, "inventory.toml", false)
        .await
        .unwrap();
    let before = snapshot(&sql).await;
    let changed = without(&file, "slug = \"win11-test\"");
    let report = sync(&w, &mut conn, &changed, "inventory.toml", true)
        .await
        .unwrap();
    assert_eq!(report.changes, ["- pool win11-test (retired)"]);
    assert_eq!(snapshot(&sql).await, before);
}

async fn loaner(w: &World, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"))
        .args(args)
        .env("DATABASE_URL", &w.db.url)
        .env("LOANER_COMMANDS_DIR", w.scripts.dir.path())
        .env("LOANER_MAIL__TRANSPORT", "mailbox")
        .env("LOANER_LOG", "warn")
        .env_remove("LOANER_CONFIG")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn the_command_syncs_a_good_file_and_rejects_a_bad_one() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("inventory.toml");
    let bad = dir.path().join("invalid.toml");
    std::fs::write(&good, fixture("inventory.toml", &w)).unwrap();
    std::fs::write(&bad, fixture("invalid.toml", &w)).unwrap();
    let (good, bad) = (good.display().to_string(), bad.display().to_string());
    let sql = w.sql().await;

    let dry = loaner(&w, &["inventory", "sync", "--dry-run", &good]).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).starts_with("+ pool debian12-build (Debian 12 build machine)\n"));
    assert!(
        stdout(&dry).ends_with("Dry run: nothing was changed.\n"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(w.count("SELECT count(*) FROM pools").await, 0);

    let run = loaner(&w, &["inventory", "sync", &good]).await;
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).ends_with("\n6 created, 0 updated, 0 retired\n"),
        "{}",
        stdout(&run)
    );
    assert_eq!(w.count("SELECT count(*) FROM machines").await, 4);
    let actor: String = sql
        .query_one(
            "SELECT DISTINCT actor FROM audit_log WHERE target_type <> 'site_policy'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "inventory sync (inventory.toml)");

    let again = loaner(&w, &["inventory", "sync", &good]).await;
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        format!("No changes: the database matches {good}.\n")
    );

    let before = snapshot(&sql).await;
    let failed = loaner(&w, &["inventory", "sync", &bad]).await;
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(stdout(&failed), "");
    let errors = stderr(&failed);
    assert!(
        errors.contains(&format!(
            "{bad}:22: machine[2].fqdn: \"Bad_Host\" is not a host name like build-01.example.com.\n"
        )),
        "{errors}"
    );
    assert!(
        errors.contains(&format!("{bad}:14: pool[1].provision[1].action: ")),
        "{errors}"
    );
    assert!(
        errors.contains(&format!(
            "loaner: {bad} is invalid (4 problems); nothing was changed"
        )),
        "{errors}"
    );
    assert_eq!(snapshot(&sql).await, before);
}

#[tokio::test]
async fn the_documented_example_is_a_valid_inventory() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/inventory.example.toml"
    ))
    .unwrap();

    let report = sync(&w, &mut conn, &example, "inventory.toml", false)
        .await
        .unwrap();

    assert_eq!(
        (report.created, report.updated, report.retired),
        (5, 0, 0),
        "{report}"
    );
    let again = sync(&w, &mut conn, &example, "inventory.toml", false)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again}");
}
