//! A pool's step lists and driver settings, as an admin writes them: what each driver needs,
//! and the site variables its scripts may be given.

use super::validate::clean;
use crate::types::{CredentialNames, MachineDrivers};

/// Site variables a pool or machine passes to its step commands must start with this.
pub const SITE_VARIABLE_PREFIX: &str = "SITE_";

/// Checks a pool's step list: every step named, with a driver this server has, a command for
/// the `command` driver and instructions for `manual` steps.
pub fn steps(steps: &[crate::types::Step]) -> Result<(), String> {
    use crate::types::DriverKind;
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        if step.name.trim().is_empty() {
            return Err(format!("Step {n} has no name."));
        }
        if step.name.chars().count() > 200 {
            return Err(format!("Step {n} has a name over 200 characters."));
        }
        clean(&step.name, false)
            .and_then(|()| clean(step.instructions.as_deref().unwrap_or_default(), true))
            .map_err(|m| format!("Step {n}: {m}"))?;
        match step.driver {
            DriverKind::Command => {
                if step.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(format!(
                        "Step {n} (\"{}\") uses the command driver but names no command.",
                        step.name
                    ));
                }
            }
            DriverKind::Manual => {
                if step
                    .instructions
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
                {
                    return Err(format!(
                        "Step {n} (\"{}\") is manual but has no instructions for the admin.",
                        step.name
                    ));
                }
            }
            hardware => {
                let supported = hardware.supported_actions().unwrap_or_default();
                if !supported.contains(&step.action) {
                    let can: Vec<&str> = supported.iter().map(|a| a.label()).collect();
                    return Err(format!(
                        "Step {n} (\"{}\"): the {} driver cannot {}; it can: {}.",
                        step.name,
                        hardware.label(),
                        step.action.label().to_lowercase(),
                        can.join(", ")
                    ));
                }
                if step.command.is_some() {
                    return Err(format!(
                        "Step {n} (\"{}\") names a command, but only the command driver runs one.",
                        step.name
                    ));
                }
            }
        }
        if step.timeout_secs == Some(0) {
            return Err(format!(
                "Step {n} (\"{}\") has a time limit of 0 seconds.",
                step.name
            ));
        }
    }
    Ok(())
}

/// Driver settings: a JSON object. Its `env` (variables for the `command` driver's scripts) maps
/// names starting with `SITE_` (capitals, digits, underscores) to text; its driver sections
/// (`ssh`, `ipmi`, `snmp_pdu`, `aws_ec2`) hold only their own fields, and every credential they
/// name is one of `credentials` (the names in the server's secrets file); no value anywhere holds
/// a control character.
pub fn driver_settings(
    settings: &serde_json::Value,
    credentials: &CredentialNames,
) -> Result<(), String> {
    let Some(object) = settings.as_object() else {
        return Err(format!(
            "Driver settings are a JSON object, like {{\"env\": {{\"{SITE_VARIABLE_PREFIX}BMC_HOST\": \"bmc-01\"}}}}."
        ));
    };
    if let Some(env) = object.get("env") {
        let Some(env) = env.as_object() else {
            return Err("\"env\" is an object of names and text values.".into());
        };
        for (name, value) in env {
            site_variable_name(name)?;
            if !value.is_string() {
                return Err(format!("The value of {name} must be text."));
            }
        }
    }
    no_control_in(settings)?;
    let drivers = MachineDrivers::parse(settings)?;
    super::driver_sections::sections(&drivers)?;
    if let Some(check) = &drivers.health_check {
        if check.action != crate::types::Action::Status {
            return Err("health_check: the step's action is status.".into());
        }
        steps(std::slice::from_ref(check)).map_err(|m| format!("health_check: {m}"))?;
    }
    for (field, name) in drivers.credential_names() {
        credential_name(name).map_err(|m| format!("{field}: {m}"))?;
        if !credentials.contains(name) {
            return Err(if credentials.is_empty() {
                format!("{field} names the credential \"{name}\", but this server has no secrets file (set credentials_file) or LOANER_SECRET__ variables.")
            } else {
                let known: Vec<&str> = credentials.iter().map(String::as_str).collect();
                format!("{field} names the credential \"{name}\", which the server's secrets do not hold; it has: {}.", known.join(", "))
            });
        }
    }
    Ok(())
}

/// A pool's steps against its own settings: re-imaging through IPMI (network boot) counts only
/// when a check can confirm the image, so such a pool needs `ssh.image_command`.
pub fn steps_fit_settings(
    steps: &[crate::types::Step],
    settings: &serde_json::Value,
) -> Result<(), String> {
    use crate::types::{Action, DriverKind};
    let drivers = MachineDrivers::parse(settings)?;
    let checked = drivers
        .ssh
        .as_ref()
        .is_some_and(|s| s.image_command.is_some());
    for (i, step) in steps.iter().enumerate() {
        if step.driver == DriverKind::Ipmi && step.action == Action::Reimage && !checked {
            return Err(format!(
                "Step {} (\"{}\") re-images through IPMI, which only boots the machine from the network; set ssh.image_command in the pool's driver settings so Loaner can confirm the new image before handing the machine out.",
                i + 1,
                step.name
            ));
        }
    }
    Ok(())
}

/// A credential's name: small letters, digits and dashes (it is also an environment variable's
/// part, `LOANER_SECRET__BMC_LAB1__PASSWORD`).
pub fn credential_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a credential name: use small letters, digits and dashes.",
            name.escape_debug()
        ))
    }
}

/// A site variable's name: `SITE_` then capitals, digits and underscores. Anything else could
/// change how the step's program runs (`PATH`, `LD_PRELOAD`, `BASH_ENV`, `LOANER_*`).
pub fn site_variable_name(name: &str) -> Result<(), String> {
    let rest = name.strip_prefix(SITE_VARIABLE_PREFIX).unwrap_or_default();
    if !rest.is_empty()
        && name.len() <= 64
        && rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" cannot be set: site variables are named {SITE_VARIABLE_PREFIX}SOMETHING (capitals, digits, underscores), so they never change PATH, LD_*, BASH_ENV or Loaner's own LOANER_* variables.",
            name.chars().filter(|c| !c.is_control()).collect::<String>()
        ))
    }
}

fn no_control_in(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::String(text) => clean(text, false),
        serde_json::Value::Array(items) => items.iter().try_for_each(no_control_in),
        serde_json::Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| clean(k, false).and_then(|()| no_control_in(v))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_lists_need_what_their_driver_needs() {
        use crate::types::{Action, DriverKind, Step};
        let step = |driver, command: Option<&str>, instructions: Option<&str>| Step {
            name: "Rack it".into(),
            action: Action::PowerOn,
            driver,
            command: command.map(Into::into),
            timeout_secs: None,
            instructions: instructions.map(Into::into),
        };
        assert!(steps(&[step(DriverKind::Command, Some("/bin/true"), None)]).is_ok());
        assert!(steps(&[step(DriverKind::Manual, None, Some("Plug in the dongle"))]).is_ok());
        assert!(steps(&[step(DriverKind::Command, None, None)])
            .unwrap_err()
            .contains("names no command"));
        assert!(steps(&[step(DriverKind::Manual, None, None)])
            .unwrap_err()
            .contains("no instructions"));
        assert!(steps(&[step(DriverKind::Ipmi, None, None)]).is_ok());
        let mut grant = step(DriverKind::Ipmi, None, None);
        grant.action = Action::GrantAccess;
        let err = steps(&[grant]).unwrap_err();
        assert!(err.contains("IPMI driver cannot grant access"), "{err}");
        let mut reboot = step(DriverKind::Ssh, Some("/bin/true"), None);
        reboot.action = Action::Reboot;
        assert!(steps(&[reboot])
            .unwrap_err()
            .contains("only the command driver"));
    }

    #[test]
    fn site_variables_are_named_site_and_never_touch_the_environment_that_runs_them() {
        let driver_settings = |v: &serde_json::Value| driver_settings(v, &CredentialNames::new());
        assert!(
            driver_settings(&json!({"env": {"SITE_BMC_HOST": "bmc-01"}, "notes": "x"})).is_ok()
        );
        for name in [
            "PATH",
            "LD_PRELOAD",
            "BASH_ENV",
            "ENV",
            "LOANER_LOAN_ID",
            "SITE_",
            "site_x",
            "SITE_A-B",
        ] {
            let err = driver_settings(&json!({"env": {name: "x"}})).unwrap_err();
            assert!(err.contains("cannot be set"), "{name}: {err}");
        }
        assert!(driver_settings(&json!([1])).is_err());
        assert!(driver_settings(&json!({"env": {"SITE_X": 1}})).is_err());
        assert!(driver_settings(&json!({"env": {"SITE_X": "a\u{0}b"}})).is_err());
        assert!(driver_settings(&json!({"deep": ["\u{0}"]})).is_err());
    }
}
