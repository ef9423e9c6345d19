//! The snmp_pdu driver against snmpd emulating an APC outlet column: off, on and reboot read
//! back; a wrong community and an agent that is not there give clear errors.

use super::*;
use crate::common::peers::{Lab, PDU_COMMUNITY};

#[tokio::test]
async fn an_outlet_switches_off_on_and_reboots_and_reads_back() {
    let lab = Lab::shared().await;
    let w = World::new().await;
    let outlet = 7;
    let _ = std::fs::remove_file(lab.state("pdu").join(format!("{outlet}.log")));
    let _ = std::fs::remove_file(lab.state("pdu").join(outlet.to_string()));
    let machine = rig(
        &w,
        "pdu-boxes",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(outlet),
    )
    .await;
    let drivers = lab.drivers(w.commands());
    let run = |action| {
        let drivers = &drivers;
        let w = &w;
        async move { act(w, drivers, machine, &hw("Act", action, DriverKind::SnmpPdu)).await }
    };

    let off = run(Action::PowerOff).await.unwrap();
    assert!(off.text.contains("reads off"), "{}", off.text);
    let status = run(Action::Status).await.unwrap();
    assert!(
        status.text.ends_with(&format!(".{outlet} is off")),
        "{}",
        status.text
    );
    let on = run(Action::PowerOn).await.unwrap();
    assert!(on.text.contains("reads on"), "{}", on.text);
    let rebooted = run(Action::Reboot).await.unwrap();
    assert!(
        rebooted.text.contains("power-cycled") && rebooted.text.contains("reads on"),
        "{}",
        rebooted.text
    );
    assert_eq!(lab.log("pdu", &format!("{outlet}.log")), ["2", "1", "3"]);

    // A model whose reboot is off, a pause, on (no reboot value).
    let mut manual = lab.settings(outlet);
    manual["snmp_pdu"]["control_oid"] = ".1.3.6.1.4.1.318.1.1.4.4.2.1.3".into();
    let other = rig(
        &w,
        "pdu-plain",
        vec![],
        vec![],
        serde_json::json!({}),
        manual,
    )
    .await;
    let done = act(
        &w,
        &drivers,
        other,
        &hw("Reboot", Action::Reboot, DriverKind::SnmpPdu),
    )
    .await
    .unwrap();
    assert!(
        done.text.contains("reads off") && done.text.contains("reads on"),
        "{}",
        done.text
    );
    assert_eq!(
        lab.log("pdu", &format!("{outlet}.log")),
        ["2", "1", "3", "2", "1"]
    );
}

#[tokio::test]
async fn a_wrong_community_or_an_absent_agent_is_explained_without_the_community() {
    let lab = Lab::shared().await;
    let w = World::new().await;
    let mut gone = lab.settings(8);
    gone["snmp_pdu"]["port"] = crate::common::peers::closed_port().into();
    let machine = rig(&w, "pdu-gone", vec![], vec![], serde_json::json!({}), gone).await;
    let drivers = lab.drivers(w.commands());
    let err = act(
        &w,
        &drivers,
        machine,
        &hw("Off", Action::PowerOff, DriverKind::SnmpPdu),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no answer from the PDU"), "{err}");
    assert!(!format!("{err:?}").contains(PDU_COMMUNITY));

    let drivers = lab.drivers_with_secrets(
        w.commands(),
        "[lab-pdu]\ncommunity = \"public\"\nhosts = [\"127.0.0.1\"]\n",
    );
    let real = rig(
        &w,
        "pdu-real",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(8),
    )
    .await;
    let err = act(
        &w,
        &drivers,
        real,
        &hw("Off", Action::PowerOff, DriverKind::SnmpPdu),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("community is wrong"), "{err}");
    assert!(
        lab.log("pdu", "8.log").is_empty(),
        "the outlet was not switched"
    );
}

#[tokio::test]
async fn a_credential_is_never_sent_to_a_host_its_secrets_entry_does_not_list() {
    let lab = Lab::shared().await;
    let w = World::new().await;
    // An admin points the PDU setting at an address of their own, to catch the community.
    let mut elsewhere = lab.settings(19);
    elsewhere["snmp_pdu"]["host"] = "127.0.0.2".into();
    elsewhere["ipmi"]["host"] = "127.0.0.2".into();
    let machine = rig(
        &w,
        "pdu-elsewhere",
        vec![],
        vec![],
        serde_json::json!({}),
        elsewhere,
    )
    .await;
    let drivers = lab.drivers(w.commands());
    for driver in [DriverKind::SnmpPdu, DriverKind::Ipmi] {
        let err = act(&w, &drivers, machine, &hw("Status", Action::Status, driver))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("may not be sent to 127.0.0.2") && text.contains("nothing was sent"),
            "{text}"
        );
        assert!(err.is_permanent());
        assert!(!format!("{err:?}").contains(PDU_COMMUNITY));
    }
}
