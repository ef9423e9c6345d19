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
    sections(&drivers)?;
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

/// Each section's fields, beyond their types.
fn sections(drivers: &MachineDrivers) -> Result<(), String> {
    if let Some(ssh) = &drivers.ssh {
        optional(ssh.host.as_deref(), "ssh.host", host)?;
        optional(ssh.user.as_deref(), "ssh.user", |u| {
            super::validate::unix_user(u).map(|_| ())
        })?;
        optional(
            ssh.authorized_keys.as_deref(),
            "ssh.authorized_keys",
            remote_path,
        )?;
        optional(ssh.image_command.as_deref(), "ssh.image_command", |c| {
            if c.trim().is_empty() || c.len() > 500 {
                Err("give a command of at most 500 characters.".into())
            } else {
                Ok(())
            }
        })?;
    }
    if let Some(ipmi) = &drivers.ipmi {
        optional(ipmi.host.as_deref(), "ipmi.host", host)?;
        if ipmi.cipher_suite.is_some_and(|c| c > 17) {
            return Err("ipmi.cipher_suite: IPMI cipher suites are 0 to 17.".into());
        }
    }
    if let Some(pdu) = &drivers.snmp_pdu {
        optional(pdu.host.as_deref(), "snmp_pdu.host", host)?;
        optional(pdu.control_oid.as_deref(), "snmp_pdu.control_oid", oid)?;
        if pdu.outlet == Some(0) {
            return Err("snmp_pdu.outlet: outlets are numbered from 1.".into());
        }
    }
    if let Some(ec2) = &drivers.aws_ec2 {
        optional(ec2.endpoint.as_deref(), "aws_ec2.endpoint", |e| {
            let rest = e
                .strip_prefix("https://")
                .or_else(|| e.strip_prefix("http://"));
            match rest {
                Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(()),
                _ => Err("give the endpoint as an http:// or https:// address.".into()),
            }
        })?;
        for (field, value) in [
            ("aws_ec2.region", &ec2.region),
            ("aws_ec2.instance_id", &ec2.instance_id),
            ("aws_ec2.image_id", &ec2.image_id),
            ("aws_ec2.instance_type", &ec2.instance_type),
            ("aws_ec2.subnet_id", &ec2.subnet_id),
            ("aws_ec2.key_name", &ec2.key_name),
        ] {
            optional(value.as_deref(), field, cloud_id)?;
        }
    }
    Ok(())
}

fn optional(
    value: Option<&str>,
    field: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    value.map_or(Ok(()), |v| check(v).map_err(|m| format!("{field}: {m}")))
}

/// A host name or an IP address (IPv6 in brackets or bare).
fn host(text: &str) -> Result<(), String> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && !text.starts_with('-')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a host name or address.",
            text.escape_debug()
        ))
    }
}

/// A file on the machine: absolute or `~user/…`, plain characters, no `..`.
fn remote_path(text: &str) -> Result<(), String> {
    let ok = (text.starts_with('/') || text.starts_with('~'))
        && !text.split('/').any(|part| part == "..")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~'));
    if ok {
        Ok(())
    } else {
        Err("give an absolute path (or ~user/…) of letters, digits, / . _ - only.".into())
    }
}

fn oid(text: &str) -> Result<(), String> {
    let digits = text.strip_prefix('.').unwrap_or(text);
    if !digits.is_empty()
        && digits
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a numeric OID like .1.3.6.1.4.1.318.1.1.4.4.2.1.3.",
            text.escape_debug()
        ))
    }
}

fn cloud_id(text: &str) -> Result<(), String> {
    if !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a valid identifier.",
            text.escape_debug()
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

#[cfg(test)]
mod driver_section_tests {
    use super::*;
    use serde_json::json;

    fn known() -> CredentialNames {
        ["bmc-lab1".to_owned(), "pdu-a".to_owned()]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_credential_the_server_does_not_hold_is_refused_naming_the_field() {
        let ok = json!({"ipmi": {"host": "bmc-01", "credentials": "bmc-lab1"}});
        assert!(driver_settings(&ok, &known()).is_ok());
        let err =
            driver_settings(&json!({"ipmi": {"credentials": "bmc-lab9"}}), &known()).unwrap_err();
        assert!(
            err.starts_with("ipmi.credentials")
                && err.contains("bmc-lab9")
                && err.contains("bmc-lab1"),
            "{err}"
        );
        let err = driver_settings(
            &json!({"snmp_pdu": {"credentials": "x"}}),
            &CredentialNames::new(),
        )
        .unwrap_err();
        assert!(err.contains("no secrets file"), "{err}");
        let err =
            driver_settings(&json!({"ssh": {"credentials": "Bad Name"}}), &known()).unwrap_err();
        assert!(err.contains("not a credential name"), "{err}");
    }

    #[test]
    fn driver_fields_that_would_reach_a_command_line_are_checked() {
        for (settings, field) in [
            (json!({"ipmi": {"host": "-oProxyCommand=x"}}), "ipmi.host"),
            (json!({"ssh": {"host": "a b"}}), "ssh.host"),
            (
                json!({"ssh": {"authorized_keys": "/home/x/../../etc/passwd"}}),
                "ssh.authorized_keys",
            ),
            (
                json!({"ssh": {"authorized_keys": "/tmp/k;rm -rf /"}}),
                "ssh.authorized_keys",
            ),
            (
                json!({"snmp_pdu": {"control_oid": "1.3.x"}}),
                "snmp_pdu.control_oid",
            ),
            (json!({"snmp_pdu": {"outlet": 0}}), "snmp_pdu.outlet"),
            (
                json!({"aws_ec2": {"endpoint": "file:///etc"}}),
                "aws_ec2.endpoint",
            ),
            (
                json!({"aws_ec2": {"instance_id": "i-1&Action=TerminateInstances"}}),
                "aws_ec2.instance_id",
            ),
            (json!({"ipmi": {"cipher_suite": 99}}), "ipmi.cipher_suite"),
        ] {
            let err = driver_settings(&settings, &known()).unwrap_err();
            assert!(err.starts_with(field), "{settings}: {err}");
        }
        let err = driver_settings(&json!({"ipmi": {"hostname": "x"}}), &known()).unwrap_err();
        assert!(err.contains("hostname"), "{err}");
    }

    #[test]
    fn an_ipmi_reimage_needs_a_check_that_confirms_the_image() {
        use crate::types::{Action, DriverKind, Step};
        let reimage = Step {
            name: "Network install".into(),
            action: Action::Reimage,
            driver: DriverKind::Ipmi,
            command: None,
            timeout_secs: None,
            instructions: None,
        };
        let err = steps_fit_settings(std::slice::from_ref(&reimage), &json!({})).unwrap_err();
        assert!(err.contains("ssh.image_command"), "{err}");
        let checked = json!({"ssh": {"image_command": "cat /etc/loaner-image"}});
        assert!(steps_fit_settings(&[reimage], &checked).is_ok());
    }
}
