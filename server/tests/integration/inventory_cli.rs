//! `loaner inventory sync` as a command, and the documented example file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use crate::inventory::{fixture, snapshot, sync};

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

/// `loaner migrate` on a new, empty database, with the log format asked for by `--log-format`
/// or by `LOANER_LOG_FORMAT` (which the configuration must leave alone).
async fn migrate_empty_database(w: &World, args: &[&str], env: &[(&str, &str)]) -> String {
    let empty = format!("{}_logs", w.db.name);
    let admin = w.sql().await;
    admin
        .batch_execute(&format!("CREATE DATABASE {empty}"))
        .await
        .unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"))
        .args(args)
        .env("DATABASE_URL", w.db.url.replacen(&w.db.name, &empty, 1))
        .env("LOANER_LOG", "info")
        .env_remove("LOANER_CONFIG")
        .env_remove("LOANER_LOG_FORMAT")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {empty} WITH (FORCE)"))
        .await
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    stderr(&run)
}

#[tokio::test]
async fn with_log_format_json_every_log_line_is_a_json_object() {
    let w = World::new().await;
    let by_flag = migrate_empty_database(&w, &["--log-format", "json", "migrate"], &[]).await;
    let by_env = migrate_empty_database(&w, &["migrate"], &[("LOANER_LOG_FORMAT", "json")]).await;
    for text in [by_flag, by_env] {
        check_json_logs(&text);
    }
}

fn check_json_logs(text: &str) {
    // Every line but the command's own closing sentence is a log line, and each is JSON.
    let (logs, said) = text.trim_end().rsplit_once('\n').unwrap_or(("", text));
    assert_eq!(said, "The database schema is up to date.");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().join("up.sql").exists())
        .count();
    let applied = lines
        .iter()
        .find(|l| l["fields"]["message"] == "applied database migrations")
        .unwrap_or_else(|| panic!("{logs}"));
    assert_eq!(applied["level"], "INFO");
    assert_eq!(applied["fields"]["migrations"], migrations);
    assert!(applied["timestamp"].is_string(), "{applied}");
}
