//! Reboot escalation (`auto`): ssh first, then IPMI, then the PDU; each way confirmed before it
//! counts, every attempt on the timeline, and a machine with no working way marked broken with
//! the admins told.

use super::*;
use crate::common::peers::{closed_port, Lab};
use app::server::loans;
use app::types::LoanState;

fn reboot() -> Step {
    hw("Reboot", Action::Reboot, DriverKind::Auto)
}

#[tokio::test]
async fn a_refused_ssh_falls_back_to_ipmi_and_a_dead_bmc_to_the_pdu() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let drivers = lab.drivers(w.commands());

    let mut no_ssh = lab.settings(9);
    no_ssh["ssh"]["port"] = closed_port().into();
    let machine = rig(
        &w,
        "escalate-ipmi",
        vec![],
        vec![],
        serde_json::json!({}),
        no_ssh.clone(),
    )
    .await;
    let done = act(&w, &drivers, machine, &reboot()).await.unwrap();
    assert!(
        done.text.contains("Attempt 1 of 3: SSH — failed"),
        "{}",
        done.text
    );
    assert!(
        done.text.contains("Attempt 2 of 3: IPMI — rebooted"),
        "{}",
        done.text
    );
    assert!(!done.text.contains("Attempt 3"), "{}", done.text);
    assert!(lab.log("ipmi", "calls").iter().any(|c| c == "set power 0"));
    assert!(lab.log("pdu", "9.log").is_empty(), "the PDU was not needed");

    let mut no_bmc = no_ssh;
    no_bmc["ipmi"]["port"] = closed_port().into();
    let machine = rig(
        &w,
        "escalate-pdu",
        vec![],
        vec![],
        serde_json::json!({}),
        no_bmc,
    )
    .await;
    let done = act(&w, &drivers, machine, &reboot()).await.unwrap();
    assert!(
        done.text.contains("Attempt 2 of 3: IPMI — failed"),
        "{}",
        done.text
    );
    assert!(
        done.text.contains("Attempt 3 of 3: SNMP PDU — rebooted"),
        "{}",
        done.text
    );
    assert_eq!(lab.log("pdu", "9.log"), ["3"]);

    // An order of the site's own.
    let mut ordered = lab.settings(10);
    ordered["reboot_order"] = serde_json::json!(["snmp_pdu", "ipmi"]);
    let machine = rig(
        &w,
        "escalate-order",
        vec![],
        vec![],
        serde_json::json!({}),
        ordered,
    )
    .await;
    let done = act(&w, &drivers, machine, &reboot()).await.unwrap();
    assert!(
        done.text.starts_with("Attempt 1 of 2: SNMP PDU — rebooted"),
        "{}",
        done.text
    );
}

#[tokio::test]
async fn when_every_way_fails_the_machine_is_broken_the_admins_are_emailed_and_the_loan_says_so() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let mut dead = lab.settings(11);
    for section in ["ssh", "ipmi", "snmp_pdu"] {
        dead[section]["port"] = closed_port().into();
    }
    let machine = rig(
        &w,
        "all-dead",
        vec![],
        vec![reboot()],
        serde_json::json!({}),
        dead,
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let rex = w.admin("Rex").await;
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;
    let id = w.borrow(&dana, "all-dead").await;
    w.drain_with(&worker).await;
    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let sql = w.sql().await;
    let row = sql
        .query_one(
            "SELECT state, state_reason FROM machines WHERE id = $1",
            &[&machine.0],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "broken");
    assert!(
        row.get::<_, String>(1).contains("every way to reboot"),
        "{}",
        row.get::<_, String>(1)
    );
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(detail.summary.state, LoanState::Returned);
    let story = history(&w, id).await;
    for attempt in [
        "Attempt 1 of 3: SSH — failed",
        "Attempt 2 of 3: IPMI — failed",
        "Attempt 3 of 3: SNMP PDU — failed",
    ] {
        assert!(story.contains(attempt), "{attempt} in {story}");
    }
    assert!(story.contains("marked broken"), "{story}");
    let mails = sql
        .query(
            "SELECT array_to_string(recipients, ',') FROM emails WHERE kind = 'cleanup_failed' AND loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap();
    assert_eq!(mails.len(), 1, "one email");
    assert!(mails[0].get::<_, String>(0).contains(&rex.email));
}
