//! A pool's step lists and driver settings, as an admin writes them: what each driver needs,
//! and the site variables its scripts may be given.

use super::validate::clean;

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
                    return Err(format!("Step {n} (\"{}\") uses the command driver but names no command.", step.name));
                }
            }
            DriverKind::Manual => {
                if step.instructions.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(format!("Step {n} (\"{}\") is manual but has no instructions for the admin.", step.name));
                }
            }
            other => {
                return Err(format!(
                    "Step {n} (\"{}\") uses the {} driver, which this version of Loaner does not provide yet; use command or manual.",
                    step.name,
                    other.label()
                ))
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
/// names starting with `SITE_` (capitals, digits, underscores) to text; no value anywhere holds
/// a control character.
pub fn driver_settings(settings: &serde_json::Value) -> Result<(), String> {
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
    no_control_in(settings)
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
        assert!(steps(&[step(DriverKind::Ipmi, None, None)])
            .unwrap_err()
            .contains("IPMI"));
    }

    #[test]
    fn site_variables_are_named_site_and_never_touch_the_environment_that_runs_them() {
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
