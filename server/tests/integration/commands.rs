//! The `command` driver's contract with site scripts, and its fence: a web admin who writes a
//! step list must not get a shell as the service user. Commands run only from `commands_dir`
//! (no absolute path elsewhere, no `..`, no symlink out), checked when a pool is saved, when an
//! inventory is synced and again when the step runs; pools and machines pass only `SITE_*`
//! variables to their scripts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use crate::common::*;
use app::server::inventory::{self, InventoryError, MachineSpec, PoolSpec as Spec};
use app::server::models::{Loan, Machine, Pool};
use app::types::{Action, ApprovalMode, LoanState, MachineState, Phase};
use chrono::Utc;
use server::drivers::{CommandDriver, Driver, DriverError, Target};

fn target_fixtures(settings: serde_json::Value) -> (Machine, Pool, Loan) {
    let now = Utc::now();
    let machine = Machine {
        id: MachineId(7),
        fqdn: "box-07.test.example".into(),
        pool_id: PoolId(1),
        state: MachineState::Provisioning,
        state_reason: None,
        driver_settings: serde_json::json!({"env": {"SITE_BMC_HOST": "bmc-07.test.example"}}),
        notes: String::new(),
        current_image: None,
        last_health_check_at: None,
        created_at: now,
        updated_at: now,
        hold_state: None,
        hold_reason: None,
        health_note: None,
        health_ok_streak: 0,
        health_failed_at: None,
    };
    let pool = Pool {
        id: PoolId(1),
        slug: "boxes".into(),
        name: "Boxes".into(),
        description: String::new(),
        platform: "Linux".into(),
        image_name: "img".into(),
        image_version: "2".into(),
        login_user: "tester".into(),
        provision_steps: serde_json::json!([]),
        reclaim_steps: serde_json::json!([]),
        approval_mode: Some(ApprovalMode::Automatic),
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
        driver_settings: settings,
    };
    let loan = Loan {
        id: LoanId(42),
        user_id: UserId(1),
        pool_id: PoolId(1),
        machine_id: Some(MachineId(7)),
        state: LoanState::Provisioning,
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

fn driver(w: &World) -> CommandDriver {
    CommandDriver {
        commands: w.commands(),
        default_timeout: Duration::from_secs(30),
    }
}

fn target<'a>(fixtures: &'a (Machine, Pool, Loan), phase: Phase) -> Target<'a> {
    Target {
        machine: &fixtures.0,
        pool: &fixtures.1,
        loan: Some(&fixtures.2),
        borrower: None,
        phase,
        attempt: 2,
    }
}

#[tokio::test]
async fn a_command_sees_the_machine_the_loan_and_site_variables_and_nothing_of_the_server() {
    let w = World::new().await;
    let script = w
        .scripts
        .write("env.sh", "env | sort\necho 'to stderr' >&2");
    let fixtures = target_fixtures(serde_json::json!({"env": {
        "SITE_CONSOLE_SERVER": "cons-3.test.example",
        "SITE_BMC_HOST": "the pool's, overridden by the machine's",
    }}));

    let output = driver(&w)
        .run(
            Action::GrantAccess,
            &step("Install key", Action::GrantAccess, &script),
            &target(&fixtures, Phase::Provision),
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
        "SITE_BMC_HOST=bmc-07.test.example",
        "SITE_CONSOLE_SERVER=cons-3.test.example",
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
async fn a_step_whose_settings_would_change_how_its_script_runs_fails_without_running_it() {
    let w = World::new().await;
    let marker = w.scripts.path("ran");
    let script = w
        .scripts
        .write("env.sh", &format!("touch {}", marker.display()));
    // Settings written into the database behind the editor's back (an old row, a bad sync).
    for (name, value) in [
        ("PATH", "/tmp/evil"),
        ("LD_PRELOAD", "/tmp/evil.so"),
        ("BASH_ENV", "/tmp/evil.sh"),
        ("LOANER_LOAN_ID", "999"),
        ("SITE_OK", "line\u{0}break"),
    ] {
        let fixtures =
            target_fixtures(serde_json::json!({"env": {name: value, "SITE_FINE": "yes"}}));
        let err = driver(&w)
            .run(
                Action::Status,
                &step("Look", Action::Status, &script),
                &target(&fixtures, Phase::Provision),
            )
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("env.{name}")) && message.contains("did not run"),
            "{name}: {message}"
        );
        assert!(!marker.exists(), "the script ran with {name} set");
    }
}

#[tokio::test]
async fn a_program_outside_the_commands_folder_never_runs() {
    let w = World::new().await;
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("ran");
    let evil = outside.path().join("evil.sh");
    std::fs::write(&evil, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    let mut perms = std::fs::metadata(&evil).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&evil, perms).unwrap();
    std::os::unix::fs::symlink(&evil, w.scripts.path("innocent.sh")).unwrap();
    let fixtures = target_fixtures(serde_json::json!({}));

    let escapes = [
        evil.display().to_string(),
        "/bin/sh".to_owned(),
        format!(
            "../{}/evil.sh",
            outside.path().file_name().unwrap().to_string_lossy()
        ),
        "innocent.sh".to_owned(),
    ];
    for command in &escapes {
        let mut attempt = step("Escape", Action::Status, std::path::Path::new("x"));
        attempt.command = Some(command.clone());
        let err = driver(&w)
            .run(
                Action::Status,
                &attempt,
                &target(&fixtures, Phase::Provision),
            )
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{command}: {err}");
        assert!(
            err.to_string().contains("commands folder"),
            "{command}: {err}"
        );
    }
    assert!(!marker.exists(), "a program outside the folder ran");
}

#[tokio::test]
async fn saving_a_pool_or_machine_refuses_escaping_commands_and_foreign_variables() {
    let w = World::new().await;
    let rex = w.admin("Rex").await;
    let mut conn = w.conn().await;
    let ok = w.scripts.path("ok.sh");
    std::os::unix::fs::symlink("/bin/sh", w.scripts.path("shell")).unwrap();
    let spec = |command: &str, env: serde_json::Value| Spec {
        slug: "boxes".into(),
        name: "Boxes".into(),
        description: String::new(),
        platform: "Linux".into(),
        image_name: "img".into(),
        image_version: "1".into(),
        login_user: "tester".into(),
        provision_steps: vec![step(
            "Power on",
            Action::PowerOn,
            std::path::Path::new(command),
        )],
        reclaim_steps: vec![],
        policy: Default::default(),
        driver_settings: env,
    };
    for command in ["/bin/sh", "../ok.sh", "shell", "/etc/passwd"] {
        let err = inventory::save_pool(
            &mut conn,
            &rex,
            None,
            &spec(command, serde_json::json!({})),
            &w.setup(),
            w.clock.now(),
        )
        .await
        .unwrap_err();
        let InventoryError::Invalid(fields) = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields[0].field, "provision_steps", "{command}");
        assert!(
            fields[0].message.contains("commands folder"),
            "{command}: {}",
            fields[0].message
        );
    }
    for name in ["PATH", "LD_PRELOAD", "BASH_ENV", "LOANER_MACHINE_FQDN"] {
        let err = inventory::save_pool(
            &mut conn,
            &rex,
            None,
            &spec("ok.sh", serde_json::json!({"env": {name: "x"}})),
            &w.setup(),
            w.clock.now(),
        )
        .await
        .unwrap_err();
        let InventoryError::Invalid(fields) = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields[0].field, "driver_settings", "{name}");
        assert!(fields[0].message.contains("SITE_"), "{}", fields[0].message);
    }
    let machine = MachineSpec {
        fqdn: "box-01.test.example".into(),
        pool: "boxes".into(),
        driver_settings: serde_json::json!({"env": {"LD_PRELOAD": "/tmp/x.so"}}),
        notes: String::new(),
    };
    let err = inventory::save_machine(&mut conn, &rex, None, &machine, &w.setup(), w.clock.now())
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::Invalid(ref f) if f[0].field == "driver_settings"));
    assert_eq!(
        w.count("SELECT count(*) FROM pools").await,
        0,
        "nothing stored"
    );

    // Inside the folder, by name or by absolute path, is fine.
    let good = spec(
        ok.to_str().unwrap(),
        serde_json::json!({"env": {"SITE_BMC_HOST": "bmc-1"}}),
    );
    inventory::save_pool(&mut conn, &rex, None, &good, &w.setup(), w.clock.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_command_that_runs_too_long_is_stopped_with_its_output_kept() {
    let w = World::new().await;
    let script = w.scripts.write(
        "hang.sh",
        "echo 'waiting for the BMC'\nsleep 60 &\nsleep 60",
    );
    let fixtures = target_fixtures(serde_json::json!({}));
    let mut hang = step("Power off", Action::PowerOff, &script);
    hang.timeout_secs = Some(1);

    let started = Instant::now();
    let err = driver(&w)
        .run(Action::PowerOff, &hang, &target(&fixtures, Phase::Reclaim))
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
    let w = World::new().await;
    let fixtures = target_fixtures(serde_json::json!({}));
    let missing = step(
        "Power on",
        Action::PowerOn,
        std::path::Path::new("power_on.sh"),
    );
    let err = driver(&w)
        .run(
            Action::PowerOn,
            &missing,
            &target(&fixtures, Phase::Provision),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"power_on.sh\" cannot be found"),
        "{err}"
    );

    let mut no_command = missing.clone();
    no_command.command = None;
    let err = driver(&w)
        .run(
            Action::PowerOn,
            &no_command,
            &target(&fixtures, Phase::Provision),
        )
        .await
        .unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(err.to_string(), "step \"Power on\" names no command to run");
}
