//! Steps and loan policies: what a pool asks its drivers to do, and the rules it lends by.

use serde::{Deserialize, Serialize};

use super::{Action, ApprovalMode, DriverKind};

/// One step of a pool's provisioning or clean-up, run through a driver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the timeline calls it ("Re-image to debian-12").
    pub name: String,
    pub action: Action,
    #[serde(default = "default_driver")]
    pub driver: DriverKind,
    /// The executable for the `command` driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u32>,
    /// What an admin does, for a `manual` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

fn default_driver() -> DriverKind {
    DriverKind::Command
}

/// The loan policy that applies to one pool: its own settings, or the site's where it has none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub approval_mode: ApprovalMode,
    pub default_duration_hours: i32,
    pub max_duration_hours: i32,
    pub extension_hours: i32,
    pub max_extensions: i32,
    /// The longest a loan may run, first duration and extensions together.
    pub max_total_hours: i32,
    pub bug_required: bool,
    /// How long an expired loan's machine is kept before it is re-imaged.
    pub grace_period_minutes: i32,
    /// Active loans one person may hold in this pool.
    pub max_loans_per_user_in_pool: Option<i32>,
    /// Active loans one person may hold over all pools (a site-wide cap).
    pub max_loans_per_user: Option<i32>,
    /// Who may borrow: `None` is everyone, else members of one of these groups.
    pub allowed_groups: Option<Vec<String>>,
}

/// The site's defaults, which every pool inherits where it sets nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteDefaults {
    pub approval_mode: ApprovalMode,
    pub default_duration_hours: i32,
    pub max_duration_hours: i32,
    pub extension_hours: i32,
    pub max_extensions: i32,
    pub max_total_hours: i32,
    pub bug_required: bool,
    pub grace_period_minutes: i32,
    pub max_loans_per_user: Option<i32>,
    pub max_loans_per_user_per_pool: Option<i32>,
}

/// What one pool sets itself; `None` inherits the site's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOverrides {
    pub approval_mode: Option<ApprovalMode>,
    pub default_duration_hours: Option<i32>,
    pub max_duration_hours: Option<i32>,
    pub extension_hours: Option<i32>,
    pub max_extensions: Option<i32>,
    pub max_total_hours: Option<i32>,
    pub bug_required: Option<bool>,
    pub grace_period_minutes: Option<i32>,
    pub max_loans_per_user: Option<i32>,
    pub allowed_groups: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_defaults_to_the_command_driver() {
        let step: Step =
            serde_json::from_str(r#"{"name":"Re-image","action":"reimage","command":"x.sh"}"#)
                .unwrap();
        assert_eq!(step.driver, DriverKind::Command);
        assert_eq!(step.action, Action::Reimage);
    }
}
