//! What spans drivers: a reboot that tries each way the machine has (ssh, then IPMI, then the
//! PDU, as its settings order them) until one is confirmed, and the check that a re-imaged
//! machine runs the pool's image before it counts.

use app::types::{Action, DriverKind, Step};

use super::{ActionOutput, DriverError, Drivers, Target};

/// `auto` reboot: each configured way in turn, each verified by its driver (the host answers
/// again with a new boot id, the power state reads back). Every attempt and why it failed goes
/// into the output; when all fail, the step fails for good (no retry can add a way) and the
/// machine is marked broken by the step's failure path.
pub async fn run(
    drivers: &Drivers,
    step: &Step,
    target: &Target<'_>,
) -> Result<ActionOutput, DriverError> {
    if step.action != Action::Reboot {
        return Err(DriverError::Config(format!(
            "step \"{}\": the auto driver only reboots",
            step.name
        )));
    }
    let ways = target.settings()?.reboot_ways();
    if ways.is_empty() {
        return Err(DriverError::Config(format!(
            "{} has no way to reboot: its driver settings configure none of ssh, ipmi, snmp_pdu, aws_ec2",
            target.machine.fqdn
        )));
    }
    let mut log = Vec::new();
    for (i, kind) in ways.iter().enumerate() {
        let attempt = format!("Attempt {} of {}: {}", i + 1, ways.len(), kind.label());
        let result = match drivers.get(*kind) {
            Ok(driver) => driver.run(Action::Reboot, step, target).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(done) => {
                log.push(format!("{attempt} — rebooted.\n{}", done.text));
                return Ok(ActionOutput {
                    text: log.join("\n\n"),
                    ..done
                });
            }
            Err(err) => {
                let mut entry = format!("{attempt} — failed: {err}");
                if let Some(output) = err.output() {
                    entry.push('\n');
                    entry.push_str(&output);
                }
                log.push(entry);
            }
        }
    }
    let tried: Vec<&str> = ways.iter().map(|k| k.label()).collect();
    Err(DriverError::Failed {
        message: format!(
            "every way to reboot {} failed ({})",
            target.machine.fqdn,
            tried.join(", then ")
        ),
        output: log.join("\n\n"),
    })
}

/// A re-image counts once a check confirms the pool's image: the cloud's own record for EC2,
/// the pool's `ssh.image_command` otherwise. A `command` or `manual` re-image without such a
/// check is the site's own script's word.
pub async fn confirm_image(
    drivers: &Drivers,
    kind: DriverKind,
    target: &Target<'_>,
    done: ActionOutput,
) -> Result<ActionOutput, DriverError> {
    if done.current_image.is_some() {
        return Ok(done);
    }
    let settings = target.settings()?;
    let check = settings.ssh.as_ref().and_then(|s| s.image_command.clone());
    let Some(_) = check else {
        return if matches!(kind, DriverKind::Command | DriverKind::Manual) {
            Ok(done)
        } else {
            Err(DriverError::Config(format!(
                "the re-image of {} cannot be confirmed: set ssh.image_command in the pool's driver settings",
                target.machine.fqdn
            )))
        };
    };
    let ssh = drivers.ssh.as_ref().ok_or_else(|| {
        DriverError::Config("the ssh driver, which checks images, is not available".into())
    })?;
    let check = ssh.check_image(target).await?;
    Ok(ActionOutput {
        text: format!("{}\n\n{}", done.text, check.text),
        current_image: Some(target.pool_image()),
        ..done
    })
}
