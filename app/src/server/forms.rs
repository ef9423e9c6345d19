//! Reading the admin forms: every field arrives as text; these turn it into typed values or a
//! message for that field.

use crate::error::FieldError;
use crate::types::{ApprovalMode, PolicyOverrides, SiteDefaults, Step};

/// Collects the problems of a whole form, so they are shown all at once.
#[derive(Default)]
pub struct Form {
    pub errors: Vec<FieldError>,
}

impl Form {
    fn fail<T: Default>(&mut self, field: &str, message: impl Into<String>) -> T {
        self.errors.push(FieldError::new(field, message));
        T::default()
    }

    /// A whole number, or nothing when empty (inherit, or no cap).
    pub fn optional_int(&mut self, field: &str, text: &str) -> Option<i32> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match text.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => self.fail(field, "Enter a whole number, or leave it empty."),
        }
    }

    /// A required whole number.
    pub fn int(&mut self, field: &str, text: &str) -> i32 {
        match self.optional_int(field, text) {
            Some(n) => n,
            None if self.errors.iter().any(|e| e.field == field) => 0,
            None => self.fail(field, "Enter a whole number."),
        }
    }

    /// "yes"/"no", or nothing when empty (inherit).
    pub fn optional_bool(&mut self, field: &str, text: &str) -> Option<bool> {
        match text.trim() {
            "" | "inherit" => None,
            "yes" | "true" | "on" => Some(true),
            "no" | "false" | "off" => Some(false),
            _ => self.fail(field, "Choose yes or no."),
        }
    }

    /// "automatic"/"manual", or nothing when empty (inherit).
    pub fn optional_approval(&mut self, field: &str, text: &str) -> Option<ApprovalMode> {
        match text.trim() {
            "" | "inherit" => None,
            other => match ApprovalMode::parse(other) {
                Some(mode) => Some(mode),
                None => self.fail(field, "Choose automatic or manual."),
            },
        }
    }

    /// A comma-separated list of group names, or nothing when empty (everyone may borrow).
    pub fn groups(&mut self, field: &str, text: &str) -> Option<Vec<String>> {
        let groups: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(message) = groups
            .iter()
            .find_map(|g| crate::rules::validate::clean(g, false).err())
        {
            return self.fail(field, message);
        }
        if groups
            .iter()
            .any(|g| g.len() > 64 || g.contains(char::is_whitespace))
        {
            return self.fail(
                field,
                "Group names have no spaces; separate them with commas.",
            );
        }
        (!groups.is_empty()).then_some(groups)
    }

    /// A pool's step list, written as JSON.
    pub fn steps(&mut self, field: &str, text: &str) -> Vec<Step> {
        let text = text.trim();
        if text.is_empty() {
            return Vec::new();
        }
        match serde_json::from_str::<Vec<Step>>(text) {
            Ok(steps) => steps,
            Err(e) => self.fail(field, format!("This is not a list of steps ({e}). Each step looks like {{\"name\": \"Power on\", \"action\": \"power_on\", \"driver\": \"command\", \"command\": \"/path/script\"}}.")),
        }
    }

    /// A JSON object (driver settings).
    pub fn json_object(&mut self, field: &str, text: &str) -> serde_json::Value {
        let text = text.trim();
        if text.is_empty() {
            return serde_json::json!({});
        }
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) if value.is_object() => value,
            _ => self.fail(
                field,
                "Enter a JSON object, like {\"env\": {\"SITE_BMC_HOST\": \"bmc-01\"}}.",
            ),
        }
    }

    /// The collected problems, if any.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// The policy fields of the pool editor, as typed.
#[derive(Clone, Debug, Default)]
pub struct PolicyFields {
    pub approval_mode: String,
    pub default_duration_hours: String,
    pub max_duration_hours: String,
    pub extension_hours: String,
    pub max_extensions: String,
    pub max_total_hours: String,
    pub bug_required: String,
    pub grace_period_minutes: String,
    pub max_loans_per_user: String,
    pub allowed_groups: String,
}

impl PolicyFields {
    /// What the pool sets; empty fields inherit.
    pub fn overrides(&self, form: &mut Form) -> PolicyOverrides {
        PolicyOverrides {
            approval_mode: form.optional_approval("approval_mode", &self.approval_mode),
            default_duration_hours: form
                .optional_int("default_duration_hours", &self.default_duration_hours),
            max_duration_hours: form.optional_int("max_duration_hours", &self.max_duration_hours),
            extension_hours: form.optional_int("extension_hours", &self.extension_hours),
            max_extensions: form.optional_int("max_extensions", &self.max_extensions),
            max_total_hours: form.optional_int("max_total_hours", &self.max_total_hours),
            bug_required: form.optional_bool("bug_required", &self.bug_required),
            grace_period_minutes: form
                .optional_int("grace_period_minutes", &self.grace_period_minutes),
            max_loans_per_user: form.optional_int("max_loans_per_user", &self.max_loans_per_user),
            allowed_groups: form.groups("allowed_groups", &self.allowed_groups),
        }
    }

    /// The site's defaults; every field but the caps is required.
    pub fn site(&self, caps: &str, form: &mut Form) -> SiteDefaults {
        let approval = form.optional_approval("approval_mode", &self.approval_mode);
        let bug = form.optional_bool("bug_required", &self.bug_required);
        SiteDefaults {
            approval_mode: approval.unwrap_or(ApprovalMode::Automatic),
            default_duration_hours: form
                .int("default_duration_hours", &self.default_duration_hours),
            max_duration_hours: form.int("max_duration_hours", &self.max_duration_hours),
            extension_hours: form.int("extension_hours", &self.extension_hours),
            max_extensions: form.int("max_extensions", &self.max_extensions),
            max_total_hours: form.int("max_total_hours", &self.max_total_hours),
            bug_required: bug.unwrap_or(false),
            grace_period_minutes: form.int("grace_period_minutes", &self.grace_period_minutes),
            max_loans_per_user: form.optional_int("max_loans_per_user", &self.max_loans_per_user),
            max_loans_per_user_per_pool: form.optional_int("max_loans_per_user_per_pool", caps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_inherit_and_bad_ones_are_named() {
        let mut form = Form::default();
        let fields = PolicyFields {
            max_duration_hours: "48".into(),
            bug_required: "yes".into(),
            allowed_groups: "gfx, perf".into(),
            max_extensions: "many".into(),
            ..Default::default()
        };
        let overrides = fields.overrides(&mut form);
        assert_eq!(overrides.max_duration_hours, Some(48));
        assert_eq!(overrides.bug_required, Some(true));
        assert_eq!(overrides.approval_mode, None);
        assert_eq!(
            overrides.allowed_groups,
            Some(vec!["gfx".into(), "perf".into()])
        );
        let errors = form.finish().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "max_extensions");
    }

    #[test]
    fn steps_and_settings_are_json() {
        let mut form = Form::default();
        let steps = form.steps(
            "provision_steps",
            r#"[{"name":"Power on","action":"power_on","command":"/x"}]"#,
        );
        assert_eq!(steps.len(), 1);
        assert_eq!(
            form.json_object("driver_settings", "")
                .as_object()
                .map(|o| o.len()),
            Some(0)
        );
        form.json_object("driver_settings", "[1]");
        form.steps("reclaim_steps", "not json");
        let fields: Vec<String> = form
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["driver_settings", "reclaim_steps"]);
    }
}
