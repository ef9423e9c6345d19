//! The driver sections of a pool's or machine's settings (`ssh`, `ipmi`, `snmp_pdu`,
//! `aws_ec2`): each field checked beyond its type. `steps::driver_settings` calls this after the
//! settings parse.

use crate::types::MachineDrivers;

/// Each section's fields, beyond their types.
pub(super) fn sections(drivers: &MachineDrivers) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::super::steps::{driver_settings, steps_fit_settings};
    use crate::types::CredentialNames;
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
