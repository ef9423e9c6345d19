//! The views server functions return to the pages: plain data, no I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// A signed-in person as the pages see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: UserId,
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
    /// The identity provider's display name when single sign-on is configured.
    pub sso_name: Option<String>,
}

/// One page of "All loans", newest first; `older` is where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanPage {
    pub loans: Vec<LoanSummary>,
    /// The last loan of this page when older loans follow (the next page's `before`).
    pub older: Option<LoanId>,
}

/// One row of "My loans" or "All loans".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanSummary {
    pub id: LoanId,
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
    pub kind: EventKind,
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
    /// The bug reference's page in the site's tracker (`bug_url_template`).
    #[serde(default)]
    pub bug_url: Option<String>,
    pub ssh_key_comment: String,
    pub events: Vec<LoanEventView>,
    pub connection: Option<ConnectionInfo>,
    pub progress: Option<Progress>,
    pub can_cancel: bool,
    pub can_return: bool,
    /// Who is looking: an admin (who gets the admin panel), and whether it is the borrower
    /// (who reads "your machine").
    pub viewer_is_admin: bool,
    pub viewer_is_borrower: bool,
    /// The free machines of the pool an admin could move a ready loan to: (id, name). Empty for
    /// anyone else.
    pub move_targets: Vec<(MachineId, String)>,
}

/// One page of the admin's machine table, and how many machines are in each state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachinePage {
    pub rows: Vec<MachineRow>,
    /// Every machine of the site by state (not only this page's), in `MachineState::ALL` order.
    pub counts: Vec<(MachineState, i64)>,
    /// The state the table is filtered to, if any.
    pub state: Option<MachineState>,
    /// This page, from 1, and how many there are (at least 1).
    pub page: i64,
    pub pages: i64,
}

/// One row of the admin's machine table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRow {
    pub id: MachineId,
    pub fqdn: String,
    pub pool_slug: String,
    pub pool_name: String,
    pub state: MachineState,
    pub state_reason: Option<String>,
    pub current_image: Option<String>,
    pub loan_id: Option<LoanId>,
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
    pub loan_id: LoanId,
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
    /// The bug reference's page in the site's tracker (`bug_url_template`).
    pub bug_url: Option<String>,
    pub duration_hours: i32,
    /// The requester's other loans that are still active.
    pub current_loans: Vec<LoanSummary>,
}

/// An open task for an admin: a manual step a loan waits on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: TaskId,
    pub loan_id: LoanId,
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
    pub id: Option<MachineId>,
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
    pub current_image: Option<String>,
    pub last_health_check_at: Option<DateTime<Utc>>,
    /// What the last health check (or status) said.
    pub health_note: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    /// Every kind of entry there is, for the filter.
    pub kinds: Vec<String>,
    /// The last entry of this page when older entries match (the next page's `before`).
    pub older: Option<i64>,
}

/// One entry of the audit log, as the page and the CSV show it.
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
    pub id: MailId,
    pub kind: MailKind,
    pub recipients: Vec<String>,
    pub subject: String,
    pub loan_id: Option<LoanId>,
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

/// One action an admin (or the command line) ran on a machine, with what the driver printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRow {
    pub id: ActionId,
    pub action: Action,
    /// The driver it went through (`auto`: each way the machine has, in turn).
    pub driver: DriverKind,
    pub requested_as: String,
    pub reason: Option<String>,
    pub state: ActionState,
    pub output: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What the machine page offers: the actions its drivers can run now, each with the driver it
/// would use, and whether asking disturbs a borrower (then a reason is required).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineActions {
    pub offered: Vec<(Action, DriverKind)>,
    /// The loan holding the machine, whose borrower an action would disturb.
    pub loan_id: Option<LoanId>,
    pub history: Vec<ActionRow>,
    /// Its latest loans, newest first.
    pub loans: Vec<LoanSummary>,
}
