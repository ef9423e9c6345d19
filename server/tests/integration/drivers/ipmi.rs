//! The ipmi driver against ipmi_sim: every power change and the network boot read back from the
//! BMC; a re-image counts only once the image check confirms the pool's image.

use super::*;
use crate::common::peers::{Lab, BMC_PASSWORD};

#[tokio::test]
async fn power_changes_and_network_boot_read_back_from_the_bmc() {
    let lab = Lab::shared().await;
    lab.reset(false);
    let w = World::new().await;
    let machine = rig(
        &w,
        "bmc-boxes",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(4),
    )
    .await;
    let drivers = lab.drivers(w.commands());
    let run = |action| {
        let drivers = &drivers;
        let w = &w;
        async move { act(w, drivers, machine, &hw("Act", action, DriverKind::Ipmi)).await }
    };

    let status = run(Action::Status).await.unwrap();
    assert!(status.text.contains("power is off"), "{}", status.text);
    let on = run(Action::PowerOn).await.unwrap();
    assert!(on.text.contains("power reads on"), "{}", on.text);
    assert_eq!(
        std::fs::read_to_string(lab.state("ipmi").join("power"))
            .unwrap()
            .trim(),
        "1"
    );

    let cycled = run(Action::Reboot).await.unwrap();
    assert!(
        cycled.text.contains("power was on") && cycled.text.contains("Cycle"),
        "{}",
        cycled.text
    );
    let calls = lab.log("ipmi", "calls");
    let off_at = calls
        .iter()
        .rposition(|c| c == "set power 0")
        .expect("a cycle powers off");
    assert!(
        calls[off_at..].iter().any(|c| c == "set power 1"),
        "then on again: {calls:?}"
    );

    let off = run(Action::PowerOff).await.unwrap();
    assert!(off.text.contains("power reads off"), "{}", off.text);
    assert_eq!(
        std::fs::read_to_string(lab.state("ipmi").join("power"))
            .unwrap()
            .trim(),
        "0"
    );
}

#[tokio::test]
async fn a_reimage_boots_from_the_network_and_counts_only_when_the_image_check_agrees() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let image_file = lab.state("ssh").join("image");
    let pool_settings = serde_json::json!({
        "ssh": {"image_command": format!("cat {}", image_file.display())},
    });
    let machine = rig(
        &w,
        "pxe-boxes",
        vec![],
        vec![],
        pool_settings,
        lab.settings(5),
    )
    .await;
    let drivers = lab.drivers(w.commands());
    let reimage = hw("Network install", Action::Reimage, DriverKind::Ipmi);

    std::fs::write(&image_file, "ubuntu-22.04\n").unwrap();
    let err = act(&w, &drivers, machine, &reimage).await.unwrap_err();
    assert!(
        err.to_string().contains("does not run the pool's image"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(lab.state("ipmi").join("boot"))
            .unwrap()
            .trim(),
        "pxe"
    );

    std::fs::write(&image_file, "test-image 1.0\n").unwrap();
    let done = act(&w, &drivers, machine, &reimage).await.unwrap();
    assert!(
        done.text.contains("Force PXE") && done.text.contains("names test-image"),
        "{}",
        done.text
    );
    assert_eq!(done.current_image.as_deref(), Some("test-image@1.0"));
}

#[tokio::test]
async fn a_wrong_password_or_a_dead_bmc_is_explained_and_the_password_never_shows() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let mut dead = lab.settings(6);
    dead["ipmi"]["port"] = crate::common::peers::closed_port().into();
    let machine = rig(&w, "dead-bmc", vec![], vec![], serde_json::json!({}), dead).await;
    let drivers = lab.drivers(w.commands());
    let err = act(
        &w,
        &drivers,
        machine,
        &hw("Status", Action::Status, DriverKind::Ipmi),
    )
    .await
    .unwrap_err();
    let text = format!("{err}\n{}", err.output().unwrap_or_default());
    assert!(text.contains("no session"), "{text}");
    assert!(!text.contains(BMC_PASSWORD));

    // The same BMC with a password it does not know.
    let drivers = lab.drivers_with_secrets(w.commands(), "[lab-bmc]\nusername = \"admin\"\npassword = \"not-the-password\"\nhosts = [\"127.0.0.1\"]\n");
    let good = rig(
        &w,
        "good-bmc",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(6),
    )
    .await;
    let err = act(
        &w,
        &drivers,
        good,
        &hw("Status", Action::Status, DriverKind::Ipmi),
    )
    .await
    .unwrap_err();
    let text = format!("{err}\n{}", err.output().unwrap_or_default());
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}
