//! The aws_ec2 driver against moto's EC2 endpoint: a cloud machine goes request → instance
//! started → ready → return → instance replaced from the pool's image → available.

use super::*;
use crate::common::peers::{Lab, CLOUD_KEY_ID, CLOUD_SECRET};
use app::server::loans;
use app::types::{LoanState, MachineState};
use server::drivers::ec2_api::Ec2;

const FIRST_IMAGE: &str = "ami-12c6146b";
const POOL_IMAGE: &str = "ami-1e749f67";

#[tokio::test]
async fn a_cloud_loan_starts_its_instance_and_its_return_replaces_it_from_the_pools_image() {
    let lab = Lab::shared().await;
    let hardware = lab.hardware();
    let ec2 = Ec2 {
        http: &hardware.http,
        endpoint: lab.ec2_endpoint(),
        region: "eu-west-1".into(),
        access_key_id: CLOUD_KEY_ID.into(),
        secret_access_key: CLOUD_SECRET.into(),
        timeout: std::time::Duration::from_secs(10),
    };
    let first = ec2
        .run_instance(&[
            ("ImageId", FIRST_IMAGE),
            ("MinCount", "1"),
            ("MaxCount", "1"),
        ])
        .await
        .unwrap();
    ec2.call("StopInstances", &[("InstanceId.1", &first)])
        .await
        .unwrap();

    let w = World::new().await;
    let pool_settings = serde_json::json!({"aws_ec2": {
        "endpoint": lab.ec2_endpoint(), "region": "eu-west-1", "image_id": POOL_IMAGE,
        "credentials": "lab-cloud", "ready_timeout_secs": 30,
    }});
    let machine = rig(
        &w,
        "cloud",
        vec![hw(
            "Start the instance",
            Action::PowerOn,
            DriverKind::AwsEc2,
        )],
        vec![hw(
            "Replace the instance",
            Action::Reimage,
            DriverKind::AwsEc2,
        )],
        pool_settings,
        serde_json::json!({"aws_ec2": {"instance_id": first}}),
    )
    .await;
    let worker = lab_worker(&w, &lab);
    let dana = w.developer("Dana").await;
    let mut conn = w.conn().await;

    let id = w.borrow(&dana, "cloud").await;
    w.drain_with(&worker).await;
    let detail = loans::detail(&mut conn, &dana, id).await.unwrap();
    assert_eq!(
        detail.summary.state,
        LoanState::Ready,
        "{}",
        history(&w, id).await
    );
    assert_eq!(ec2.describe(&first).await.unwrap().state, "running");

    loans::return_loan(&mut conn, &dana, id, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    let sql = w.sql().await;
    let row = sql
        .query_one(
            "SELECT state, driver_settings->'aws_ec2'->>'instance_id', current_image FROM machines WHERE id = $1",
            &[&machine.0],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, String>(0),
        MachineState::Available.as_str(),
        "{}",
        history(&w, id).await
    );
    let replaced: String = row.get(1);
    assert_ne!(replaced, first, "a new instance is recorded");
    assert_eq!(row.get::<_, String>(2), "test-image@1.0");
    let new = ec2.describe(&replaced).await.unwrap();
    assert_eq!(
        (new.state.as_str(), new.image_id.as_str()),
        ("running", POOL_IMAGE)
    );
    assert_eq!(ec2.describe(&first).await.unwrap().state, "terminated");
    let story = history(&w, id).await;
    assert!(
        story.contains(&format!("terminated the old instance {first}")),
        "{story}"
    );

    // Stop, start and status on the replacement read back from the cloud.
    let drivers = lab.drivers(w.commands());
    let off = act(
        &w,
        &drivers,
        machine,
        &hw("Stop", Action::PowerOff, DriverKind::AwsEc2),
    )
    .await
    .unwrap();
    assert!(off.text.contains("stopped after"), "{}", off.text);
    let status = act(
        &w,
        &drivers,
        machine,
        &hw("Status", Action::Status, DriverKind::AwsEc2),
    )
    .await
    .unwrap();
    assert!(
        status.text.contains(&format!("{replaced} is stopped")),
        "{}",
        status.text
    );
    let on = act(
        &w,
        &drivers,
        machine,
        &hw("Start", Action::PowerOn, DriverKind::AwsEc2),
    )
    .await
    .unwrap();
    assert!(on.text.contains("running after"), "{}", on.text);
}

#[tokio::test]
async fn an_instance_the_cloud_does_not_know_is_a_clear_refusal() {
    let lab = Lab::shared().await;
    let w = World::new().await;
    let machine = rig(
        &w,
        "cloud-missing",
        vec![],
        vec![],
        serde_json::json!({"aws_ec2": {"endpoint": lab.ec2_endpoint(), "credentials": "lab-cloud"}}),
        serde_json::json!({"aws_ec2": {"instance_id": "i-0000000000000dead"}}),
    )
    .await;
    let drivers = lab.drivers(w.commands());
    let err = act(
        &w,
        &drivers,
        machine,
        &hw("Start", Action::PowerOn, DriverKind::AwsEc2),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("InvalidInstanceID"), "{err}");
    assert!(!format!("{err:?}").contains(CLOUD_SECRET));
}
