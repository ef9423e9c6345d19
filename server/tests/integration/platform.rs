//! What the server stands on: migrations that revert, the private PostgreSQL of the
//! zero-configuration mode, and the command driver's contract with site scripts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use app::server::models::{Loan, Machine, Pool};
use app::types::{Action, Phase};
use chrono::Utc;
use server::drivers::{CommandDriver, Driver, DriverError, Target};

#[tokio::test]
async fn every_migration_reverts_and_applies_again() {
    let db = TestDb::new().await;
    let sql = db.sql().await;
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'";
    assert_eq!(count(&sql, tables).await, 12);

    let reverted = server::database::revert_all(&db.url).await.unwrap();
    assert_eq!(count(&sql, tables).await, 0);
    let applied = server::database::migrate(&db.url).await.unwrap();

    assert_eq!(reverted, applied);
    assert_eq!(count(&sql, tables).await, 12);
}

#[tokio::test]
async fn the_private_cluster_starts_serves_and_stops() {
    let dir = tempfile::Builder::new()
        .prefix("lpg")
        .tempdir_in("/tmp")
        .unwrap();
    // As root the cluster runs as `postgres`, which must be able to reach the folder.
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();

    let data_dir = dir.path().to_owned();
    let cluster =
        tokio::task::spawn_blocking(move || server::private_pg::PrivateCluster::start(&data_dir))
            .await
            .unwrap()
            .unwrap();
    let url = cluster.database_url();
    assert!(url.starts_with("postgres://loaner@/loaner?host=/"), "{url}");
    assert!(server::database::migrate(&url).await.unwrap() >= 5);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let listen: String = client
        .query_one("SHOW listen_addresses", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(listen, "", "no TCP port: unix socket only");
    drop(client);

    cluster.stop();
    assert!(tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .is_err());
}

fn target_fixtures() -> (Machine, Pool, Loan) {
    let now = Utc::now();
    let machine = Machine {
        id: 7,
        fqdn: "box-07.test.example".into(),
        pool_id: 1,
        state: "provisioning".into(),
        state_reason: None,
        driver_settings: serde_json::json!({"env": {"BMC_HOST": "bmc-07.test.example"}}),
        notes: String::new(),
        current_image: None,
        last_health_check_at: None,
        created_at: now,
        updated_at: now,
        hold_state: None,
        hold_reason: None,
    };
    let pool = Pool {
        id: 1,
        slug: "boxes".into(),
        name: "Boxes".into(),
        description: String::new(),
        platform: "Linux".into(),
        image_name: "img".into(),
        image_version: "2".into(),
        login_user: "tester".into(),
        provision_steps: serde_json::json!([]),
        reclaim_steps: serde_json::json!([]),
        approval_mode: Some("automatic".into()),
        default_duration_hours: Some(1),
        max_duration_hours: Some(2),
        bug_required: Some(false),
        created_at: now,
        updated_at: now,
        extension_hours: Some(1),
        max_extensions: Some(1),
        max_total_hours: Some(3),
        reminder_offsets_minutes: None,
        grace_period_minutes: Some(0),
        max_loans_per_user: None,
        allowed_groups: None,
        retired_at: None,
        driver_settings: serde_json::json!({"env": {
            "CONSOLE_SERVER": "cons-3.test.example",
            "BMC_HOST": "the pool's, overridden by the machine's",
        }}),
    };
    let loan = Loan {
        id: 42,
        user_id: 1,
        pool_id: 1,
        machine_id: Some(7),
        state: "provisioning".into(),
        reason: "x".into(),
        bug_ref: None,
        duration_hours: 1,
        ssh_public_key: SSH_KEY.into(),
        expires_at: None,
        approved_by: None,
        requested_at: now,
        approved_at: None,
        ready_at: None,
        ended_at: None,
        updated_at: now,
        extensions_used: 0,
        expired_at: None,
        decision_reason: None,
    };
    (machine, pool, loan)
}

fn driver() -> CommandDriver {
    CommandDriver {
        commands_dir: std::env::temp_dir(),
        default_timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn a_command_sees_the_machine_and_loan_and_nothing_of_the_server() {
    let scripts = Scripts::new();
    let script = scripts.write("env.sh", "env | sort\necho 'to stderr' >&2");
    let (machine, pool, loan) = target_fixtures();
    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: Some(&loan),
        borrower: None,
        phase: Phase::Provision,
        attempt: 2,
    };

    let output = driver()
        .run(
            Action::GrantAccess,
            &step("Install key", Action::GrantAccess, &script),
            &target,
        )
        .await
        .unwrap()
        .text;

    for expected in [
        "LOANER_ACTION=grant_access",
        "LOANER_ATTEMPT=2",
        "LOANER_LOAN_ID=42",
        "LOANER_MACHINE_FQDN=box-07.test.example",
        "LOANER_IMAGE_NAME=img",
        "LOANER_PHASE=provision",
        "BMC_HOST=bmc-07.test.example",
        "CONSOLE_SERVER=cons-3.test.example",
        &format!("LOANER_SSH_PUBLIC_KEY={SSH_KEY}"),
        "to stderr",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected} in:\n{output}"
        );
    }
    assert!(
        !output.contains("overridden"),
        "the machine's setting wins:\n{output}"
    );
    assert!(
        !output.contains("CARGO_MANIFEST_DIR"),
        "the server's environment leaked:\n{output}"
    );
}

#[tokio::test]
async fn a_command_that_runs_too_long_is_stopped_with_its_output_kept() {
    let scripts = Scripts::new();
    let script = scripts.write(
        "hang.sh",
        "echo 'waiting for the BMC'\nsleep 60 &\nsleep 60",
    );
    let (machine, pool, loan) = target_fixtures();
    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: Some(&loan),
        borrower: None,
        phase: Phase::Reclaim,
        attempt: 1,
    };
    let mut hang = step("Power off", Action::PowerOff, &script);
    hang.timeout_secs = Some(1);

    let started = Instant::now();
    let err = driver()
        .run(Action::PowerOff, &hang, &target)
        .await
        .unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, DriverError::Timeout { secs: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "hang.sh did not finish within 1 s and was stopped"
    );
    assert!(err.output().unwrap().contains("waiting for the BMC"));
    assert!(!err.is_permanent());
}

#[tokio::test]
async fn a_missing_command_or_a_step_without_one_is_reported() {
    let (machine, pool, loan) = target_fixtures();
    let target = Target {
        machine: &machine,
        pool: &pool,
        loan: Some(&loan),
        borrower: None,
        phase: Phase::Provision,
        attempt: 1,
    };
    let missing = step(
        "Power on",
        Action::PowerOn,
        std::path::Path::new("/nonexistent/power_on.sh"),
    );
    let err = driver()
        .run(Action::PowerOn, &missing, &target)
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("could not start power_on.sh"),
        "{err}"
    );

    let mut no_command = missing.clone();
    no_command.command = None;
    let err = driver()
        .run(Action::PowerOn, &no_command, &target)
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.to_string(), "step \"Power on\" names no command to run");
}
