//! Domain vocabulary shared by the server and the browser: states, roles, steps, and the views
//! that server functions return. No I/O here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Declares a string-backed enum stored in a `TEXT` column with a database `CHECK`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value stored in the database and sent over the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The word shown to people.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// What a signed-in person may do.
    Role {
        Developer => "developer", "Developer";
        Admin => "admin", "Admin";
    }
}

text_enum! {
    /// Where a loan is in its life; see `rules::lifecycle` for the allowed moves.
    LoanState {
        Requested => "requested", "Requested";
        Approved => "approved", "Approved";
        Waiting => "waiting", "Waiting for a machine";
        Provisioning => "provisioning", "Provisioning";
        Ready => "ready", "Ready";
        Expired => "expired", "Expired";
        Returning => "returning", "Returning";
        Returned => "returned", "Returned";
        Reclaiming => "reclaiming", "Reclaiming";
        Reclaimed => "reclaimed", "Reclaimed";
        Denied => "denied", "Denied";
        Cancelled => "cancelled", "Cancelled";
        Failed => "failed", "Failed";
    }
}

text_enum! {
    /// Where a machine is.
    MachineState {
        Available => "available", "Available";
        Provisioning => "provisioning", "Provisioning";
        Loaned => "loaned", "Loaned";
        Reclaiming => "reclaiming", "Cleaning up";
        Maintenance => "maintenance", "Maintenance";
        Broken => "broken", "Broken";
        Retired => "retired", "Retired";
    }
}

text_enum! {
    /// Whether a pool's requests need an admin.
    ApprovalMode {
        Automatic => "automatic", "Automatic";
        Manual => "manual", "Needs an admin";
    }
}

text_enum! {
    /// The hardware actions every driver understands (SPEC §5).
    Action {
        Status => "status", "Status";
        PowerOn => "power_on", "Power on";
        PowerOff => "power_off", "Power off";
        Reboot => "reboot", "Reboot";
        Reimage => "reimage", "Re-image";
        GrantAccess => "grant_access", "Grant access";
        RevokeAccess => "revoke_access", "Revoke access";
    }
}

text_enum! {
    /// The drivers a step can use.
    DriverKind {
        Command => "command", "Command";
        Manual => "manual", "Manual";
        Ssh => "ssh", "SSH";
        Ipmi => "ipmi", "IPMI";
        SnmpPdu => "snmp_pdu", "SNMP PDU";
        AwsEc2 => "aws_ec2", "AWS EC2";
    }
}

text_enum! {
    /// Which of a pool's steps run: provisioning; clean-up; at expiry with a grace period, the
    /// clean-up steps that cut access (revoke access, power off); on restore, the provisioning
    /// steps that give it back (power on, grant access).
    Phase {
        Provision => "provision", "Provisioning";
        Reclaim => "reclaim", "Clean-up";
        Suspend => "suspend", "Revoking access";
        Resume => "resume", "Restoring access";
    }
}

text_enum! {
    /// The messages Loaner sends.
    MailKind {
        Ready => "ready", "Machine ready";
        Reminder => "reminder", "Reminder";
        Extended => "extended", "Loan extended";
        Returned => "returned", "Machine returned";
        Expired => "expired", "Loan expired";
        Reclaimed => "reclaimed", "Machine reclaimed";
        ProvisioningFailed => "provisioning_failed", "Provisioning failed";
        CleanupFailed => "cleanup_failed", "Clean-up failed";
        Digest => "digest", "Daily digest";
        NeedsApproval => "needs_approval", "Needs approval";
        Approved => "approved", "Request approved";
        Denied => "denied", "Request denied";
        TaskOpened => "task_opened", "Admin task";
    }
}

text_enum! {
    /// What a one-click link in an email does.
    LinkAction {
        Return => "return", "Return the machine";
        Extend => "extend", "Extend the loan";
        Approve => "approve", "Approve the request";
        Deny => "deny", "Deny the request";
    }
}

impl Phase {
    /// Which actions of the source list run in this phase; `None` means all of them.
    pub fn actions(self) -> Option<&'static [Action]> {
        match self {
            Self::Provision | Self::Reclaim => None,
            Self::Suspend => Some(&[Action::RevokeAccess, Action::PowerOff]),
            Self::Resume => Some(&[Action::PowerOn, Action::GrantAccess]),
        }
    }
}

impl LoanState {
    /// The loan is over: nothing more will happen to it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Returned | Self::Reclaimed | Self::Denied | Self::Cancelled | Self::Failed
        )
    }

    /// The loan holds its machine (the database's unique index uses the same list).
    pub fn holds_machine(self) -> bool {
        matches!(
            self,
            Self::Provisioning | Self::Ready | Self::Expired | Self::Returning | Self::Reclaiming
        )
    }

    /// Something is happening that the borrower is waiting on.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Self::Requested
                | Self::Approved
                | Self::Waiting
                | Self::Provisioning
                | Self::Returning
                | Self::Reclaiming
        )
    }
}

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

/// A signed-in person as the pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl UserView {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Who is looking, and how the site runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<UserView>,
    pub dev_mode: bool,
}

/// A pool as the catalogue shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolCard {
    pub slug: String,
    pub name: String,
    pub platform: String,
    /// The description as written (Markdown), and rendered to safe HTML.
    pub description: String,
    pub description_html: String,
    pub image_name: String,
    pub image_version: String,
    pub free: i64,
    pub total: i64,
    /// Approved loans waiting for a machine of this pool.
    pub waiting: i64,
    pub policy: Policy,
    /// The caps that apply, as sentences.
    pub caps: Vec<String>,
}

/// One row of "My loans" or "All loans".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanSummary {
    pub id: i64,
    pub state: LoanState,
    pub pool_slug: String,
    pub pool_name: String,
    pub machine_fqdn: Option<String>,
    pub borrower_name: String,
    pub borrower_email: String,
    pub reason: String,
    pub bug_ref: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// One entry of a loan's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanEventView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `None` when the scheduler acted.
    pub actor: Option<String>,
    pub kind: String,
    pub message: String,
    pub output: Option<String>,
}

/// How to reach a ready machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub fqdn: String,
    pub user: String,
    pub ssh_command: String,
}

/// How far the running step list has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub phase: Phase,
    pub done: u32,
    pub total: u32,
    /// The step running now, if one is.
    pub current: Option<String>,
}

/// Whether and how far the borrower can extend a loan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionOffer {
    pub hours: i32,
    pub used: i32,
    pub max: i32,
    /// Why an extension would be refused now (which cap), if it would.
    pub refusal: Option<String>,
}

/// Everything the loan page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanDetail {
    pub summary: LoanSummary,
    pub duration_hours: i32,
    pub extension: Option<ExtensionOffer>,
    /// When the machine is re-imaged, for an expired loan in its grace period.
    pub grace_until: Option<DateTime<Utc>>,
    /// The loan's place in its pool's waiting line.
    pub queue_position: Option<i64>,
    /// The manual step an admin has to do before the loan moves on.
    pub waiting_for_admin: Option<String>,
    /// Why an admin denied, shortened, took back or extended the loan.
    pub decision_reason: Option<String>,
    pub ssh_key_comment: String,
    pub events: Vec<LoanEventView>,
    pub connection: Option<ConnectionInfo>,
    pub progress: Option<Progress>,
    pub can_cancel: bool,
    pub can_return: bool,
}

/// What the request form needs to know about a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFormInfo {
    pub pool: PoolCard,
    /// The durations offered, in hours, never above the pool's maximum.
    pub durations: Vec<i32>,
}

/// One row of the admin's machine table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRow {
    pub id: i64,
    pub fqdn: String,
    pub pool_slug: String,
    pub pool_name: String,
    pub state: MachineState,
    pub state_reason: Option<String>,
    pub current_image: Option<String>,
    pub loan_id: Option<i64>,
    pub borrower_name: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Where a one-click link stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkStatus {
    /// It can be used: the page offers the button.
    Valid,
    /// It was used already, at this time.
    Used(DateTime<Utc>),
    /// Its deadline passed or moved, or the loan is over.
    Expired,
    /// It is valid, but the action is not allowed any more (why).
    Refused(String),
}

/// What the confirmation page of a one-click link shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub status: LinkStatus,
    pub action: LinkAction,
    pub loan_id: i64,
    pub pool_name: String,
    pub machine_fqdn: Option<String>,
    pub borrower_name: String,
    pub loan_state: LoanState,
    /// The deadline the link was issued for.
    pub deadline: DateTime<Utc>,
    /// The loan's deadline now.
    pub expires_at: Option<DateTime<Utc>>,
    pub extension_hours: i32,
    /// Why the borrower asked, for approve and deny links.
    pub reason: String,
}

/// A request waiting for an admin, with what the admin needs to decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub summary: LoanSummary,
    pub duration_hours: i32,
    /// The requester's other loans that are still active.
    pub current_loans: Vec<LoanSummary>,
}

/// An open task for an admin: a manual step a loan waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: i64,
    pub loan_id: i64,
    pub pool_name: String,
    pub machine_fqdn: String,
    pub borrower_name: String,
    pub phase: Phase,
    pub step_name: String,
    pub instructions: String,
    pub created_at: DateTime<Utc>,
}

/// What the admin dashboard shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub approvals: i64,
    pub waiting: i64,
    pub active_loans: i64,
    pub broken_machines: i64,
    pub tasks: Vec<TaskRow>,
}

/// One pool's policy: what it sets and what applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRow {
    pub slug: String,
    pub name: String,
    pub overrides: PolicyOverrides,
    pub effective: Policy,
}

/// The policy page: the site's defaults and every pool's policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoliciesView {
    pub site: SiteDefaults,
    pub pools: Vec<PolicyRow>,
}

/// A pool in the admin's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAdminRow {
    pub slug: String,
    pub name: String,
    pub platform: String,
    pub image: String,
    pub machines: i64,
    pub approval_mode: ApprovalMode,
    pub retired: bool,
}

/// A pool as its editor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolEdit {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub image_name: String,
    pub image_version: String,
    pub login_user: String,
    /// The step lists as pretty JSON, for editing.
    pub provision_steps: String,
    pub reclaim_steps: String,
    /// Settings its machines share, as pretty JSON.
    pub driver_settings: String,
    pub overrides: PolicyOverrides,
    pub site: SiteDefaults,
    pub retired: bool,
}

/// A machine as its editor shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineEdit {
    pub id: Option<i64>,
    pub fqdn: String,
    pub pool: String,
    pub driver_settings: String,
    pub notes: String,
    pub state: MachineState,
    pub state_reason: Option<String>,
    /// The state it goes to when its current loan's clean-up is done.
    pub hold_state: Option<MachineState>,
    /// (slug, name) of every pool, for the pool choice.
    pub pools: Vec<(String, String)>,
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub target_type: String,
    pub target_id: String,
    pub target: String,
    /// What changed, as JSON: the values before and after.
    pub before: String,
    pub after: String,
}

/// What the audit page filters by; empty fields match everything. Dates are `YYYY-MM-DD`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub actor: String,
    pub target: String,
    pub kind: String,
    pub from: String,
    pub to: String,
}

/// One message in the development mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSummary {
    pub id: i64,
    pub kind: MailKind,
    pub recipients: Vec<String>,
    pub subject: String,
    pub loan_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub transport: Option<String>,
}

/// One message with its bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    pub summary: MailSummary,
    pub body_text: String,
    pub body_html: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_text() {
        for state in LoanState::ALL {
            assert_eq!(LoanState::parse(state.as_str()), Some(*state));
        }
        for state in MachineState::ALL {
            assert_eq!(MachineState::parse(state.as_str()), Some(*state));
        }
        assert_eq!(LoanState::parse("borrowed"), None);
    }

    #[test]
    fn a_step_defaults_to_the_command_driver() {
        let step: Step =
            serde_json::from_str(r#"{"name":"Re-image","action":"reimage","command":"/x"}"#)
                .unwrap();
        assert_eq!(step.driver, DriverKind::Command);
        assert_eq!(step.action, Action::Reimage);
    }

    #[test]
    fn machine_holding_states_are_not_terminal() {
        for state in LoanState::ALL {
            assert!(!(state.holds_machine() && state.is_terminal()), "{state}");
        }
    }
}
