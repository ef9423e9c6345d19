//! The drivers' secrets (BMC password, PDU community, cloud secret key, ssh private keys) never
//! reach a loan's history, a log line, an email, the audit log, the job table or a page: a real
//! `loaner worker` process runs loans that succeed and fail through every driver, with debug
//! logging, and everything they left is searched for each secret.

use super::*;
use crate::common::peers::{
    closed_port, Lab, BMC_PASSWORD, CLOUD_KEY_ID, CLOUD_SECRET, PDU_COMMUNITY,
};
use app::server::loans;
use app::types::LoanState;
use server::drivers::ec2_api::Ec2;

async fn wait_for(w: &World, id: LoanId, want: LoanState) {
    let sql = w.sql().await;
    for _ in 0..300 {
        let state: String = sql
            .query_one("SELECT state FROM loans WHERE id = $1", &[&id.0])
            .await
            .unwrap()
            .get(0);
        if state == want.as_str() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("loan {id} never reached {want}:\n{}", history(w, id).await);
}

#[tokio::test]
async fn no_secret_reaches_a_history_log_email_audit_entry_job_or_page() {
    let lab = Lab::shared().await;
    lab.reset(false);
    let hardware = lab.hardware();
    let ec2 = Ec2 {
        http: &hardware.http,
        endpoint: lab.ec2_endpoint(),
        region: "us-east-1".into(),
        access_key_id: CLOUD_KEY_ID.into(),
        secret_access_key: CLOUD_SECRET.into(),
        timeout: std::time::Duration::from_secs(10),
    };
    let instance = ec2
        .run_instance(&[
            ("ImageId", "ami-12c6146b"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ])
        .await
        .unwrap();

    let w = World::new().await;
    let mut everything = lab.settings(12);
    everything["aws_ec2"] = serde_json::json!({
        "endpoint": lab.ec2_endpoint(), "credentials": "lab-cloud", "instance_id": instance,
        "ready_timeout_secs": 30,
    });
    rig(
        &w,
        "everything",
        vec![
            hw("Power on", Action::PowerOn, DriverKind::Ipmi),
            hw("Outlet on", Action::PowerOn, DriverKind::SnmpPdu),
            hw("Start the instance", Action::PowerOn, DriverKind::AwsEc2),
            hw("Install your key", Action::GrantAccess, DriverKind::Ssh),
        ],
        vec![
            hw("Remove your key", Action::RevokeAccess, DriverKind::Ssh),
            hw("Reboot", Action::Reboot, DriverKind::Auto),
        ],
        serde_json::json!({}),
        everything,
    )
    .await;
    let mut failing = lab.settings(13);
    failing["ipmi"]["port"] = closed_port().into();
    failing["snmp_pdu"]["port"] = closed_port().into();
    rig(
        &w,
        "failing",
        vec![hw("Reboot", Action::Reboot, DriverKind::Auto)],
        vec![hw("Outlet off", Action::PowerOff, DriverKind::SnmpPdu)],
        serde_json::json!({"reboot_order": ["ipmi", "snmp_pdu"]}),
        failing,
    )
    .await;
    w.admin("Rex").await;
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;

    let log_path = lab
        .dir
        .join(format!("worker-{}.log", rand::random::<u32>()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"))
        .arg("worker")
        .env("DATABASE_URL", &w.db.url)
        .env("LOANER_PUBLIC_URL", "http://loaner.test")
        .env("LOANER_COMMANDS_DIR", w.scripts.dir.path())
        .env("LOANER_MAIL__TRANSPORT", "mailbox")
        .env("LOANER_JOBS__POLL_SECS", "1")
        .env("LOANER_JOBS__BACKOFF_BASE_MS", "50")
        .env("LOANER_JOBS__BACKOFF_MAX_SECS", "1")
        .env("LOANER_DRIVERS__CREDENTIALS_FILE", lab.secrets_file())
        .env("LOANER_DRIVERS__KNOWN_HOSTS", lab.known_hosts())
        .env("LOANER_DRIVERS__POLL_MS", "200")
        .env("LOANER_DRIVERS__CALL_TIMEOUT_SECS", "10")
        .env("LOANER_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let good = loans::request(
        &mut conn,
        &dana,
        &borrow_with_lab_key(&lab, "everything"),
        w.clock.now(),
    )
    .await
    .unwrap();
    let bad = w.borrow(&dana, "failing").await;
    wait_for(&w, good, LoanState::Ready).await;
    assert!(lab.borrower_can_log_in("borrower"));
    wait_for(&w, bad, LoanState::Failed).await;
    loans::return_loan(&mut conn, &dana, good, w.clock.now())
        .await
        .unwrap();
    wait_for(&w, good, LoanState::Returned).await;
    let sql = w.sql().await;
    for _ in 0..300 {
        let busy: i64 = sql
            .query_one(
                "SELECT count(*) FROM machines WHERE state IN ('reclaiming', 'provisioning')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if busy == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    worker.kill().await.unwrap();

    let mut places: Vec<(String, String)> = Vec::new();
    for (name, query) in [
        (
            "loan history",
            "SELECT string_agg(t::text, E'\\n') FROM loan_events t",
        ),
        (
            "audit log",
            "SELECT string_agg(t::text, E'\\n') FROM audit_log t",
        ),
        ("emails", "SELECT string_agg(t::text, E'\\n') FROM emails t"),
        ("jobs", "SELECT string_agg(t::text, E'\\n') FROM jobs t"),
        (
            "machines",
            "SELECT string_agg(t::text, E'\\n') FROM machines t",
        ),
        ("pools", "SELECT string_agg(t::text, E'\\n') FROM pools t"),
    ] {
        let text: Option<String> = sql.query_one(query, &[]).await.unwrap().get(0);
        places.push((name.to_owned(), text.unwrap_or_default()));
    }
    places.push((
        "worker log".into(),
        std::fs::read_to_string(&log_path).unwrap(),
    ));
    let site = w.web(true, "127.0.0.1:3000");
    let admin = site.sign_in("Rex", "admin").await;
    let developer = site.sign_in("Dana", "developer").await;
    for (path, cookie) in [
        (format!("/loans/{}", good.0), &developer),
        (format!("/loans/{}", bad.0), &developer),
        (format!("/loans/{}", bad.0), &admin),
        ("/admin/machines".to_owned(), &admin),
        ("/admin/pools/everything".to_owned(), &admin),
        ("/admin/audit".to_owned(), &admin),
        ("/admin/mailbox".to_owned(), &admin),
    ] {
        let page = site.page(&path, Some(cookie)).await;
        assert_eq!(page.status, axum::http::StatusCode::OK, "{path}");
        places.push((format!("page {path}"), page.body));
    }

    // The things searched hold what happened (so an empty search cannot pass).
    let story = &places[0].1;
    assert!(
        story.contains("power reads on") && story.contains("every way to reboot"),
        "{story}"
    );
    assert!(places[3].1.contains("lab-bmc") || places[4].1.contains("lab-bmc"));
    assert!(places
        .iter()
        .any(|(n, t)| n == "worker log" && t.contains("driver action finished")));

    let private_keys: Vec<String> = ["manage", "power"]
        .iter()
        .map(|k| {
            let text = std::fs::read_to_string(lab.key(k)).unwrap();
            // A line of the key's body, which any copy of the key would contain.
            text.lines().nth(1).unwrap().to_owned()
        })
        .collect();
    let mut secrets = vec![
        BMC_PASSWORD.to_owned(),
        PDU_COMMUNITY.to_owned(),
        CLOUD_SECRET.to_owned(),
    ];
    secrets.extend(private_keys);
    for (place, text) in &places {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret ({}…) is in the {place}",
                &secret[..6]
            );
        }
    }
}
