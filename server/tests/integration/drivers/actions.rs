//! Machine actions outside loans: asked for by an admin (the machine page's server function) or
//! by `loaner action` on the command line, both through one request and one job, audited, and
//! told to a disturbed borrower.

use super::*;
use crate::common::peers::{closed_port, Lab};
use app::server::machine_actions::{self, ActionError, Requester};
use app::types::{ActionState, LoanState};

#[tokio::test]
async fn an_admin_reboots_a_loaned_machine_only_with_a_reason_and_the_borrower_is_told() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let machine = rig(
        &w,
        "acted",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(14),
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let rex = w.admin("Rex").await;
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;
    let loan = w.borrow(&dana, "acted").await;
    w.drain_with(&worker).await;

    let refused = machine_actions::request(
        &mut conn,
        Requester::Admin(&rex),
        machine,
        Action::Reboot,
        " ",
        w.clock.now(),
    )
    .await;
    assert!(
        matches!(refused, Err(ActionError::Refused("reason", ref m)) if m.contains("borrower is told")),
        "{refused:?}"
    );
    let none = machine_actions::request(
        &mut conn,
        Requester::Admin(&rex),
        machine,
        Action::Reimage,
        "x",
        w.clock.now(),
    )
    .await;
    assert!(
        matches!(none, Err(ActionError::Refused("action", ref m)) if m.contains("re-image")),
        "{none:?}"
    );

    let id = machine_actions::request(
        &mut conn,
        Requester::Admin(&rex),
        machine,
        Action::Reboot,
        "Kernel hung",
        w.clock.now(),
    )
    .await
    .unwrap();
    let again = machine_actions::request(
        &mut conn,
        Requester::Admin(&rex),
        machine,
        Action::Status,
        "",
        w.clock.now(),
    )
    .await;
    assert!(
        matches!(again, Err(ActionError::Refused("action", ref m)) if m.contains("has not finished")),
        "{again:?}"
    );
    w.drain_with(&worker).await;

    let row = machine_actions::find(&mut conn, id)
        .await
        .unwrap()
        .unwrap()
        .row();
    assert_eq!(row.state, ActionState::Succeeded, "{row:?}");
    assert_eq!(row.driver, DriverKind::Auto);
    assert!(
        row.output.contains("Attempt 1 of 3: SSH — rebooted"),
        "{}",
        row.output
    );
    let overview = machine_actions::overview(&mut conn, machine).await.unwrap();
    assert_eq!(overview.loan_id, Some(loan));
    assert_eq!(overview.history[0].id, id);
    assert!(overview.offered.iter().any(|(a, _)| *a == Action::PowerOn));

    let story = history(&w, loan).await;
    assert!(
        story.contains("Rex asked to reboot this machine: Kernel hung"),
        "{story}"
    );
    assert!(
        story.contains("Reboot of this machine (asked by Rex): done."),
        "{story}"
    );
    let detail = app::server::loans::detail(&mut conn, &dana, loan)
        .await
        .unwrap();
    assert_eq!(detail.summary.state, LoanState::Ready, "the loan goes on");
    let sql = w.sql().await;
    let mail = sql
        .query_one(
            "SELECT array_to_string(recipients, ','), subject, body_text FROM emails WHERE kind = 'machine_action'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(mail.get::<_, String>(0), dana.email);
    assert!(mail.get::<_, String>(2).contains("Kernel hung"));
    let audit = sql
        .query_one(
            "SELECT actor, after::text FROM audit_log WHERE kind = 'machine.action'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(audit.get::<_, String>(0), "Rex");
    assert!(audit.get::<_, String>(1).contains("Kernel hung"));
}

#[tokio::test]
async fn loaner_action_runs_the_same_job_prints_the_output_and_exits_by_outcome() {
    let lab = Lab::shared().await;
    lab.reset(false);
    let w = World::new().await;
    rig(
        &w,
        "cli",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(15),
    )
    .await;
    let mut dead = lab.settings(15);
    dead["ipmi"]["port"] = closed_port().into();
    rig(&w, "cli-dead", vec![], vec![], serde_json::json!({}), dead).await;
    let env = [
        (
            "LOANER_DRIVERS__CREDENTIALS_FILE",
            lab.secrets_file().display().to_string(),
        ),
        (
            "LOANER_DRIVERS__KNOWN_HOSTS",
            lab.known_hosts().display().to_string(),
        ),
        ("LOANER_DRIVERS__POLL_MS", "200".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _worker = w.worker_process(&env);
    let action = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_loaner"));
        command
            .arg("action")
            .args(args)
            .env("DATABASE_URL", &w.db.url)
            .env("LOANER_PUBLIC_URL", "http://loaner.test")
            .env("LOANER_LOG", "warn")
            .envs(env.iter().copied());
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, stdout, stderr) = action(&[
        "power_on",
        "cli-01.test.example",
        "--wait",
        "--timeout",
        "60",
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("power reads on"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(lab.state("ipmi").join("power"))
            .unwrap()
            .trim(),
        "1"
    );

    let (code, stdout, stderr) = action(&[
        "power_on",
        "cli-dead-01.test.example",
        "--wait",
        "--timeout",
        "60",
    ]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("failed") && stderr.contains("no session"),
        "{stderr}"
    );

    let (code, _, stderr) = action(&["reimage", "cli-01.test.example", "--wait"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("refused (action)") && stderr.contains("image_command"),
        "{stderr}"
    );
    let (code, _, stderr) = action(&["explode", "cli-01.test.example"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unknown action"), "{stderr}");
    let (code, _, stderr) = action(&["status", "nowhere.test.example"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no machine named"), "{stderr}");

    let sql = w.sql().await;
    let asked: String = sql
        .query_one(
            "SELECT requested_as FROM machine_actions ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(asked.starts_with("command line ("), "{asked}");
    let audited: i64 = sql
        .query_one("SELECT count(*) FROM audit_log WHERE kind = 'machine.action' AND actor LIKE 'command line (%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn an_action_asked_for_before_the_machine_was_lent_never_runs_on_the_borrower() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let machine = rig(
        &w,
        "raced",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(18),
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let rex = w.admin("Rex").await;
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;
    // Available: no reason needed, nobody to tell.
    let id = machine_actions::request(
        &mut conn,
        Requester::Admin(&rex),
        machine,
        Action::PowerOff,
        "",
        w.clock.now(),
    )
    .await
    .unwrap();
    // A loan takes the machine before a worker gets to the action.
    let loan = w.borrow(&dana, "raced").await;
    w.drain_with(&worker).await;

    let row = machine_actions::find(&mut conn, id)
        .await
        .unwrap()
        .unwrap()
        .row();
    assert_eq!(row.state, ActionState::Failed);
    let error = row.error.unwrap_or_default();
    assert!(error.contains(&format!("lent to loan #{loan}")), "{error}");
    assert!(
        !lab.log("ipmi", "calls").iter().any(|c| c == "set power 0"),
        "the machine was not powered off"
    );
    let detail = app::server::loans::detail(&mut conn, &dana, loan)
        .await
        .unwrap();
    assert_eq!(detail.summary.state, LoanState::Ready);
}

#[tokio::test]
async fn an_admins_token_runs_an_action_through_the_api_and_follows_it_to_its_end() {
    use crate::api::{api, json, token};
    use app::types::Scope;
    use axum::http::{Method, StatusCode};
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let machine = rig(
        &w,
        "remote",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(15),
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let site = w.web(true, "127.0.0.1:3000");
    let rex = w.admin("Rex").await;
    let dana = w.developer("Dana").await;
    let host: String = w
        .sql()
        .await
        .query_one("SELECT fqdn FROM machines WHERE id = $1", &[&machine.0])
        .await
        .unwrap()
        .get(0);
    let ops = token(&w, &rex, "ops", &[Scope::MachinesAct]).await;
    let reader = token(&w, &rex, "read", &[Scope::MachinesRead]).await;
    // A developer cannot make a machines token; one written into the database does nothing.
    let danas = token(&w, &dana, "dana", &[Scope::LoansWrite]).await;
    let sql = w.sql().await;
    tokio_postgres::Client::execute(
        &sql,
        "UPDATE api_tokens SET scopes = '{machines:act,loans:write}' WHERE name = 'dana'",
        &[],
    )
    .await
    .unwrap();

    let path = format!("/api/v1/machines/{host}/actions");
    let body = serde_json::json!({ "action": "status" }).to_string();
    // A developer's token is refused whatever its scopes say; a read-only one cannot act.
    for (secret, rule) in [(&danas, "admins_only"), (&reader, "token_scope")] {
        let refused = api(&site, Method::POST, &path, Some(secret), Some(&body)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(json(&refused)["error"]["rule"], rule, "{}", refused.body);
    }
    let bad = api(
        &site,
        Method::POST,
        &path,
        Some(&ops),
        Some(r#"{"action": "explode"}"#),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(json(&bad)["error"]["fields"][0]["field"], "action");

    let queued = api(&site, Method::POST, &path, Some(&ops), Some(&body)).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    let action = json(&queued)["id"].as_i64().unwrap();
    assert_eq!(
        queued.header("location"),
        Some(format!("{path}/{action}").as_str())
    );
    let follow = format!("{path}/{action}?wait=20");
    let (done, ()) = tokio::join!(
        api(&site, Method::GET, &follow, Some(&reader), None),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            w.drain_with(&worker).await
        }
    );
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let done = json(&done);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(
        done["output"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("power"),
        "{done}"
    );

    let overview = json(
        &api(
            &site,
            Method::GET,
            &format!("/api/v1/machines/{host}"),
            Some(&reader),
            None,
        )
        .await,
    );
    assert_eq!(
        overview["actions"]["history"][0]["id"], action,
        "{overview}"
    );
    let listed = json(&api(&site, Method::GET, "/api/v1/machines", Some(&reader), None).await);
    assert!(listed.to_string().contains(&host), "{listed}");
    let missing = api(
        &site,
        Method::GET,
        "/api/v1/machines/nowhere.example",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let actor: String = w
        .sql()
        .await
        .query_one("SELECT actor FROM audit_log WHERE target_type = 'machines' AND kind = 'machine.action' ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert!(actor.starts_with("Rex via API token “ops”"), "{actor}");
}
