//! The `aws_ec2` driver: a machine is an instance of an EC2-compatible cloud. Start, stop and
//! reboot are the API's, each confirmed by the instance's state; a re-image starts a fresh
//! instance from the pool's image, confirms it runs that image, terminates the old one and
//! records the new instance id in the machine's settings.

use std::sync::Arc;
use std::time::Duration;

use app::types::{Action, AwsEc2Settings, DriverKind, Step};

use super::ec2_api::Ec2;
use super::tool::poll_until;
use super::{ActionOutput, Driver, DriverError, Hardware, Target};

pub struct AwsEc2Driver {
    hw: Arc<Hardware>,
}

const DEFAULT_READY_SECS: u32 = 600;

impl AwsEc2Driver {
    pub fn new(hw: Arc<Hardware>) -> Self {
        Self { hw }
    }

    fn client<'a>(&'a self, settings: &AwsEc2Settings) -> Result<Ec2<'a>, DriverError> {
        let region = settings
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = settings
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://ec2.{region}.amazonaws.com/"));
        let host = reqwest::Url::parse(&endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| {
                DriverError::Config(format!("aws_ec2.endpoint {endpoint} has no host"))
            })?;
        let credential = self.hw.credential(
            "aws_ec2.credentials",
            settings.credentials.as_deref(),
            &host,
        )?;
        let (Some(key), Some(secret)) = (&credential.access_key_id, &credential.secret_access_key)
        else {
            return Err(DriverError::Config(
                "the aws_ec2 credential needs access_key_id and secret_access_key".into(),
            ));
        };
        Ok(Ec2 {
            http: &self.hw.http,
            endpoint,
            region,
            access_key_id: key.clone(),
            secret_access_key: secret.0.clone(),
            timeout: self.hw.call_timeout,
        })
    }

    /// Waits for instance `id` to reach `want`.
    async fn reach(
        &self,
        ec2: &Ec2<'_>,
        id: &str,
        want: &str,
        limit: Duration,
    ) -> Result<u64, DriverError> {
        let (seen, problem, secs) = poll_until(limit, self.hw.poll, || async {
            match ec2.describe(id).await {
                Ok(i) => Ok((i.state == want).then_some(())),
                Err(err) => Err(err.to_string()),
            }
        })
        .await;
        seen.map(|()| secs).ok_or_else(|| DriverError::Failed {
            message: format!(
                "instance {id} did not reach \"{want}\" within {} s",
                limit.as_secs()
            ),
            output: problem.unwrap_or_default(),
        })
    }

    async fn reimage(
        &self,
        ec2: &Ec2<'_>,
        settings: &AwsEc2Settings,
        old: &str,
        target: &Target<'_>,
        limit: Duration,
    ) -> Result<ActionOutput, DriverError> {
        let image = settings.image_id.clone().ok_or_else(|| {
            DriverError::Config(format!(
                "{}: aws_ec2.image_id (the pool's image) is not set",
                target.machine.fqdn
            ))
        })?;
        let instance_type = settings
            .instance_type
            .clone()
            .unwrap_or_else(|| "t3.micro".into());
        let mut params = vec![
            ("ImageId", image.as_str()),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("InstanceType", instance_type.as_str()),
            ("TagSpecification.1.ResourceType", "instance"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            (
                "TagSpecification.1.Tag.1.Value",
                target.machine.fqdn.as_str(),
            ),
        ];
        if let Some(subnet) = &settings.subnet_id {
            params.push(("SubnetId", subnet));
        }
        if let Some(key) = &settings.key_name {
            params.push(("KeyName", key));
        }
        let new = ec2.run_instance(&params).await?;
        let secs = self.reach(ec2, &new, "running", limit).await?;
        let running = ec2.describe(&new).await?;
        if running.image_id != image {
            // Do not leave a wrong instance behind; the old one stays the machine's.
            let _ = ec2
                .call("TerminateInstances", &[("InstanceId.1", &new)])
                .await;
            return Err(DriverError::Failed {
                message: format!(
                    "the new instance {new} runs {} instead of the pool's image {image}",
                    running.image_id
                ),
                output: String::new(),
            });
        }
        ec2.call("TerminateInstances", &[("InstanceId.1", old)])
            .await?;
        let mut machine = target.machine.driver_settings.clone();
        if let Some(section) = machine
            .as_object_mut()
            .map(|m| m.entry("aws_ec2").or_insert_with(|| serde_json::json!({})))
            .and_then(|s| s.as_object_mut())
        {
            section.insert("instance_id".into(), serde_json::Value::String(new.clone()));
        }
        Ok(ActionOutput {
            text: format!(
                "EC2: started {new} from {image} ({instance_type}); running after {secs} s and confirmed to run {image}; terminated the old instance {old}"
            ),
            machine_settings: Some(machine),
            current_image: Some(target.pool_image()),
        })
    }
}

#[async_trait::async_trait]
impl Driver for AwsEc2Driver {
    fn kind(&self) -> DriverKind {
        DriverKind::AwsEc2
    }

    async fn run(
        &self,
        action: Action,
        _step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let settings = target.settings()?.aws_ec2.ok_or_else(|| {
            DriverError::Config(format!("{} has no aws_ec2 settings", target.machine.fqdn))
        })?;
        let id = settings.instance_id.clone().ok_or_else(|| {
            DriverError::Config(format!(
                "{}: aws_ec2.instance_id is not set",
                target.machine.fqdn
            ))
        })?;
        let ec2 = self.client(&settings)?;
        let limit = Duration::from_secs(u64::from(
            settings.ready_timeout_secs.unwrap_or(DEFAULT_READY_SECS),
        ));
        let one = [("InstanceId.1", id.as_str())];
        let text = match action {
            Action::Status => {
                let i = ec2.describe(&id).await?;
                format!("EC2 instance {id} is {} (image {})", i.state, i.image_id)
            }
            Action::PowerOn => {
                ec2.call("StartInstances", &one).await?;
                let secs = self.reach(&ec2, &id, "running", limit).await?;
                format!("EC2 instance {id} started; running after {secs} s")
            }
            Action::PowerOff => {
                ec2.call("StopInstances", &one).await?;
                let secs = self.reach(&ec2, &id, "stopped", limit).await?;
                format!("EC2 instance {id} stopped after {secs} s")
            }
            Action::Reboot => {
                ec2.call("RebootInstances", &one).await?;
                let secs = self.reach(&ec2, &id, "running", limit).await?;
                format!("EC2 instance {id} rebooted; running after {secs} s")
            }
            Action::Reimage => return self.reimage(&ec2, &settings, &id, target, limit).await,
            Action::GrantAccess | Action::RevokeAccess => {
                return Err(DriverError::Config(format!(
                    "the aws_ec2 driver cannot {}; use ssh steps (or a command) for keys",
                    action.label().to_lowercase()
                )))
            }
        };
        Ok(ActionOutput::text(text))
    }
}
