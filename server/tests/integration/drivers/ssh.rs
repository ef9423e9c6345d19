//! The ssh driver against a real sshd: the borrower's key is installed for the loan and exactly
//! that key removed at its end; reboots go through a key the machine limits to a forced command.

use super::*;
use crate::common::peers::Lab;
use app::server::loans;
use app::types::LoanState;

#[tokio::test]
async fn a_borrower_can_log_in_during_the_loan_and_not_after_and_other_keys_stay() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    rig(
        &w,
        "ssh-boxes",
        vec![hw("Install your key", Action::GrantAccess, DriverKind::Ssh)],
        vec![hw("Remove your key", Action::RevokeAccess, DriverKind::Ssh)],
        serde_json::json!({}),
        lab.settings(1),
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;
    assert!(
        !lab.borrower_can_log_in("borrower"),
        "no access before the loan"
    );

    let id = loans::request(
        &mut conn,
        &dana,
        &borrow_with_lab_key(&lab, "ssh-boxes"),
        w.clock.now(),
    )
    .await
    .unwrap();
    w.drain_with(&worker).await;
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(
        detail.summary.state,
        LoanState::Ready,
        "{}",
        history(&w, id).await
    );
    assert!(
        lab.borrower_can_log_in("borrower"),
        "the borrower's key works during the loan"
    );
    let keys = std::fs::read_to_string(lab.authorized_keys()).unwrap();
    assert!(keys.contains(&format!("loaner-loan-{}", id.0)), "{keys}");

    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    assert!(
        !lab.borrower_can_log_in("borrower"),
        "the key is gone after the loan"
    );
    let keys = std::fs::read_to_string(lab.authorized_keys()).unwrap();
    assert!(!keys.contains("loaner-loan-"), "{keys}");
    for other in ["power", "manage", "stranger"] {
        assert!(
            keys.contains(&lab.public_key(other)),
            "{other}'s key was kept: {keys}"
        );
    }
    assert!(
        lab.borrower_can_log_in("stranger"),
        "an unrelated key still works"
    );
    let story = history(&w, id).await;
    assert!(
        story.contains("key added") && story.contains("removed 1 line(s)"),
        "{story}"
    );
}

#[tokio::test]
async fn a_reboot_through_the_restricted_key_is_confirmed_by_a_new_boot_id() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let machine = rig(
        &w,
        "ssh-reboot",
        vec![],
        vec![],
        serde_json::json!({}),
        lab.settings(2),
    )
    .await;
    let drivers = lab.drivers(w.commands());

    let done = act(
        &w,
        &drivers,
        machine,
        &hw("Reboot", Action::Reboot, DriverKind::Ssh),
    )
    .await
    .unwrap();
    assert!(
        done.text.contains("answered again") && done.text.contains('→'),
        "{}",
        done.text
    );
    assert_eq!(lab.log("ssh", "calls")[..3], ["status", "reboot", "status"]);

    // The power key runs the forced command whatever it is asked.
    let forced = std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            lab.known_hosts().display()
        ))
        .arg("-i")
        .arg(lab.key("power"))
        .arg("-p")
        .arg(lab.ssh_port.to_string())
        .arg(format!("{}@127.0.0.1", lab.user))
        .arg("cat /etc/passwd")
        .output()
        .unwrap();
    assert!(!forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stderr).contains("refused: cat /etc/passwd"));

    let off = act(
        &w,
        &drivers,
        machine,
        &hw("Power off", Action::PowerOff, DriverKind::Ssh),
    )
    .await
    .unwrap();
    assert!(off.text.contains("stopped answering"), "{}", off.text);
    let err = act(
        &w,
        &drivers,
        machine,
        &hw("Status", Action::Status, DriverKind::Ssh),
    )
    .await
    .unwrap_err();
    let text = format!("{err}\n{}", err.output().unwrap_or_default());
    assert!(text.contains("the machine is off"), "{text}");
}

#[tokio::test]
async fn a_host_key_not_in_known_hosts_is_refused() {
    let lab = Lab::shared().await;
    lab.reset(true);
    let w = World::new().await;
    let mut settings = lab.settings(3);
    // The same sshd under another name: its key is not pinned for that name.
    settings["ssh"]["host"] = "localhost".into();
    let machine = rig(
        &w,
        "ssh-pinned",
        vec![],
        vec![],
        serde_json::json!({}),
        settings,
    )
    .await;
    let drivers = lab.drivers(w.commands());
    let err = act(
        &w,
        &drivers,
        machine,
        &hw("Status", Action::Status, DriverKind::Ssh),
    )
    .await
    .unwrap_err();
    let text = format!("{err}\n{}", err.output().unwrap_or_default());
    assert!(text.contains("host key"), "{text}");
    assert!(
        lab.log("ssh", "calls").is_empty(),
        "nothing ran on the machine"
    );
}
