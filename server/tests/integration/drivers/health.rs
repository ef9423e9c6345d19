//! Health checks of machines out of loans, against the real BMC: a failing check takes an
//! available machine out of the pool once and emails the admins once; good checks bring it back
//! when the site allows; the settings' extra check step counts too.

use super::*;
use crate::common::peers::{closed_port, Lab};
use app::server::queue::{self, Job};
use app::types::MachineState;
use server::config::HealthConfig;

fn health_worker(w: &World, lab: &Lab, return_after: u32) -> server::jobs::Worker {
    let deps = w.deps_with(
        jobs_config(),
        server::mail::Mailer::Mailbox,
        lab.drivers(w.commands()),
    );
    let deps = server::jobs::WorkerDeps {
        health: HealthConfig {
            interval_minutes: Some(15),
            return_after_good_checks: return_after,
        },
        ..std::sync::Arc::into_inner(deps).unwrap()
    };
    server::jobs::Worker::new(std::sync::Arc::new(deps))
}

async fn sweep(w: &World, worker: &server::jobs::Worker) {
    let conn = w.conn().await;
    queue::enqueue(&conn, &Job::HealthSweep, w.clock.now(), w.clock.now())
        .await
        .unwrap();
    w.drain_with(worker).await;
}

async fn machine(w: &World, id: MachineId) -> (String, Option<String>, Option<String>) {
    let row = w
        .sql()
        .await
        .query_one(
            "SELECT state, state_reason, health_note FROM machines WHERE id = $1",
            &[&id.0],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn a_failed_check_breaks_a_machine_once_emails_once_and_good_checks_bring_it_back() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let mut settings = lab.settings(16);
    let dead_port = closed_port();
    settings["ipmi"]["port"] = dead_port.into();
    let id = rig(
        &w,
        "checked",
        vec![],
        vec![],
        serde_json::json!({}),
        settings,
    )
    .await;
    let rex = w.admin("Rex").await;
    let worker = health_worker(&w, &lab, 2);

    sweep(&w, &worker).await;
    let (state, reason, note) = machine(&w, id).await;
    assert_eq!(state, MachineState::Broken.as_str());
    assert!(
        reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("Health check failed:"),
        "{reason:?}"
    );
    assert!(note.unwrap_or_default().contains("no session"));
    sweep(&w, &worker).await;
    let sql = w.sql().await;
    let mails = sql
        .query("SELECT array_to_string(recipients, ','), subject, body_text FROM emails WHERE kind = 'health_failed'", &[])
        .await
        .unwrap();
    assert_eq!(mails.len(), 1, "one email, not one per check");
    assert_eq!(mails[0].get::<_, String>(0), rex.email);
    assert!(mails[0]
        .get::<_, String>(1)
        .contains("checked-01.test.example"));
    assert!(mails[0].get::<_, String>(2).contains("/admin/machines/"));

    // Repaired: the BMC answers again. Two good checks in a row bring it back.
    sql.batch_execute(&format!(
        "UPDATE machines SET driver_settings = jsonb_set(driver_settings, '{{ipmi,port}}', '{}') WHERE id = {}",
        lab.ipmi_port, id.0
    ))
    .await
    .unwrap();
    sweep(&w, &worker).await;
    let (state, _, note) = machine(&w, id).await;
    assert_eq!(state, "broken", "one good check is not enough");
    assert!(note.unwrap_or_default().contains("power is on"));
    sweep(&w, &worker).await;
    assert_eq!(machine(&w, id).await.0, "available");

    // A machine an admin marked broken stays broken, whatever its checks say.
    sql.batch_execute(&format!(
        "UPDATE machines SET state = 'broken', state_reason = 'fan noise', health_failed_at = NULL WHERE id = {}",
        id.0
    ))
    .await
    .unwrap();
    sweep(&w, &worker).await;
    sweep(&w, &worker).await;
    assert_eq!(machine(&w, id).await.0, "broken");
}

#[tokio::test]
async fn the_settings_check_step_counts_and_checks_are_off_without_a_status_driver() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let fail = w.scripts.path("fail.sh").display().to_string();
    let pool = serde_json::json!({
        "health_check": {"name": "Disks and services", "action": "status", "command": fail},
    });
    let id = rig(&w, "deep", vec![], vec![], pool, lab.settings(17)).await;
    let plain = rig(
        &w,
        "plain",
        vec![],
        vec![],
        serde_json::json!({}),
        serde_json::json!({}),
    )
    .await;
    w.admin("Rex").await;
    let worker = health_worker(&w, &lab, 0);
    sweep(&w, &worker).await;
    let (state, reason, _) = machine(&w, id).await;
    assert_eq!(state, "broken");
    assert!(reason.unwrap_or_default().contains("fail.sh"));
    let (state, _, note) = machine(&w, plain).await;
    assert_eq!(
        (state.as_str(), note),
        ("available", None),
        "nothing to check it with"
    );
}
