//! Inventory sync's harder cases: what the file no longer lists is retired (a loaned machine
//! keeps its loan), an invalid file is refused whole, a failure stores nothing, a dry run
//! changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use crate::inventory::{fixture, snapshot, sync, text, without};
use app::server::loans;
use server::inventory::{SyncError, REMOVED};

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
