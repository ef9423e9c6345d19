//! Rows as diesel reads and writes them. Services turn them into the views in `crate::types`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{jobs, loan_events, loans, machines, pools, users};
use crate::types::{
    ApprovalMode, EventKind, JobId, JobKind, Lane, LinkAction, LoanId, LoanState, MachineId,
    MachineState, MailId, MailKind, Phase, PolicyOverrides, PoolId, Role, SiteDefaults, Step,
    TaskId, TaskState, UserId, UserView,
};

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub groups: Vec<Option<String>>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The groups single sign-on (or the development login) reported.
    pub fn groups(&self) -> Vec<String> {
        self.groups.iter().flatten().cloned().collect()
    }

    pub fn view(&self) -> UserView {
        UserView {
            id: self.id,
            name: self.name.clone(),
            email: self.email.clone(),
            role: self.role,
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = pools, check_for_backend(diesel::pg::Pg))]
pub struct Pool {
    pub id: PoolId,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub image_name: String,
    pub image_version: String,
    pub login_user: String,
    pub provision_steps: serde_json::Value,
    pub reclaim_steps: serde_json::Value,
    pub approval_mode: Option<ApprovalMode>,
    pub default_duration_hours: Option<i32>,
    pub max_duration_hours: Option<i32>,
    pub bug_required: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub extension_hours: Option<i32>,
    pub max_extensions: Option<i32>,
    pub max_total_hours: Option<i32>,
    pub reminder_offsets_minutes: Option<Vec<Option<i32>>>,
    pub grace_period_minutes: Option<i32>,
    pub max_loans_per_user: Option<i32>,
    pub allowed_groups: Option<Vec<Option<String>>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub driver_settings: serde_json::Value,
}

impl Pool {
    /// What this pool sets itself; the rest comes from the site's defaults.
    pub fn overrides(&self) -> PolicyOverrides {
        PolicyOverrides {
            approval_mode: self.approval_mode,
            default_duration_hours: self.default_duration_hours,
            max_duration_hours: self.max_duration_hours,
            extension_hours: self.extension_hours,
            max_extensions: self.max_extensions,
            max_total_hours: self.max_total_hours,
            bug_required: self.bug_required,
            grace_period_minutes: self.grace_period_minutes,
            max_loans_per_user: self.max_loans_per_user,
            allowed_groups: self
                .allowed_groups
                .as_ref()
                .map(|g| g.iter().flatten().cloned().collect()),
        }
    }

    /// The pool's reminder offsets, or the site's when the pool has none of its own.
    pub fn reminder_offsets(&self, site_default: &[i32]) -> Vec<i32> {
        match &self.reminder_offsets_minutes {
            Some(offsets) => offsets.iter().flatten().copied().collect(),
            None => site_default.to_vec(),
        }
    }

    /// The steps that run in `phase`. Steps are validated when a pool is saved, so a list
    /// that does not parse is a bug worth failing loudly on.
    pub fn steps(&self, phase: Phase) -> Result<Vec<Step>, serde_json::Error> {
        let raw = match phase {
            Phase::Provision | Phase::Resume => &self.provision_steps,
            Phase::Reclaim | Phase::Suspend => &self.reclaim_steps,
        };
        let steps: Vec<Step> = serde_json::from_value(raw.clone())?;
        Ok(match phase.actions() {
            None => steps,
            Some(actions) => steps
                .into_iter()
                .filter(|s| actions.contains(&s.action))
                .collect(),
        })
    }

    /// `image@version`, as machines record what they run.
    pub fn image_label(&self) -> String {
        format!("{}@{}", self.image_name, self.image_version)
    }
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = pools)]
pub struct NewPool {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub image_name: String,
    pub image_version: String,
    pub login_user: String,
    pub provision_steps: serde_json::Value,
    pub reclaim_steps: serde_json::Value,
    pub approval_mode: Option<ApprovalMode>,
    pub default_duration_hours: Option<i32>,
    pub max_duration_hours: Option<i32>,
    pub bug_required: Option<bool>,
    pub extension_hours: Option<i32>,
    pub max_extensions: Option<i32>,
    pub max_total_hours: Option<i32>,
    pub grace_period_minutes: Option<i32>,
}

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = machines, check_for_backend(diesel::pg::Pg))]
pub struct Machine {
    pub id: MachineId,
    pub fqdn: String,
    pub pool_id: PoolId,
    pub state: MachineState,
    pub state_reason: Option<String>,
    pub driver_settings: serde_json::Value,
    pub notes: String,
    pub current_image: Option<String>,
    pub last_health_check_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub hold_state: Option<MachineState>,
    pub hold_reason: Option<String>,
    /// What the last health check said.
    pub health_note: Option<String>,
    /// Good health checks in a row.
    pub health_ok_streak: i32,
    /// When a failed health check took the machine out of the pool.
    pub health_failed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = machines)]
pub struct NewMachine {
    pub fqdn: String,
    pub pool_id: PoolId,
    pub driver_settings: serde_json::Value,
    pub notes: String,
    pub current_image: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = loans, check_for_backend(diesel::pg::Pg))]
pub struct Loan {
    pub id: LoanId,
    pub user_id: UserId,
    pub pool_id: PoolId,
    pub machine_id: Option<MachineId>,
    pub state: LoanState,
    pub reason: String,
    pub bug_ref: Option<String>,
    pub duration_hours: i32,
    pub ssh_public_key: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub approved_by: Option<UserId>,
    pub requested_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub ready_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub extensions_used: i32,
    pub expired_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
}

// `treat_none_as_default_value = false` (here and on the other rows written on every request):
// `None` is written as NULL, which is these columns' only default anyway, so the INSERT's text never
// changes and the connection keeps it prepared instead of preparing it again (a round trip more).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = loans, treat_none_as_default_value = false)]
pub struct NewLoan {
    pub id: LoanId,
    pub user_id: UserId,
    pub pool_id: PoolId,
    pub machine_id: Option<MachineId>,
    pub state: LoanState,
    pub reason: String,
    pub bug_ref: Option<String>,
    pub duration_hours: i32,
    pub ssh_public_key: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = loan_events, check_for_backend(diesel::pg::Pg))]
pub struct LoanEvent {
    pub id: i64,
    pub loan_id: LoanId,
    pub at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    pub kind: EventKind,
    pub message: String,
    pub output: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = loan_events, treat_none_as_default_value = false)]
pub struct NewLoanEvent {
    pub loan_id: LoanId,
    pub at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    pub kind: EventKind,
    pub message: String,
    pub output: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub id: JobId,
    pub kind: JobKind,
    pub payload: serde_json::Value,
    pub loan_id: Option<LoanId>,
    pub run_at: DateTime<Utc>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub failed_at: Option<DateTime<Utc>>,
    pub lane: Lane,
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = jobs, treat_none_as_default_value = false)]
pub struct NewJob {
    pub kind: JobKind,
    pub lane: Lane,
    pub payload: serde_json::Value,
    pub loan_id: Option<LoanId>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
    pub dedupe_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::emails, check_for_backend(diesel::pg::Pg))]
pub struct Email {
    pub id: MailId,
    pub kind: MailKind,
    pub loan_id: Option<LoanId>,
    pub recipients: Vec<Option<String>>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub dedupe_key: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub transport: Option<String>,
}

impl Email {
    pub fn recipients(&self) -> Vec<String> {
        self.recipients.iter().flatten().cloned().collect()
    }
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = super::schema::emails, treat_none_as_default_value = false)]
pub struct NewEmail {
    pub kind: MailKind,
    pub loan_id: Option<LoanId>,
    pub recipients: Vec<String>,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub dedupe_key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::link_tokens, check_for_backend(diesel::pg::Pg))]
pub struct LinkToken {
    pub id: i64,
    pub token_hash: Vec<u8>,
    pub loan_id: LoanId,
    pub action: LinkAction,
    pub deadline: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub user_id: Option<UserId>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::site_policy, check_for_backend(diesel::pg::Pg))]
pub struct SitePolicy {
    pub id: bool,
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
    pub updated_at: DateTime<Utc>,
}

impl SitePolicy {
    pub fn defaults(&self) -> SiteDefaults {
        SiteDefaults {
            approval_mode: self.approval_mode,
            default_duration_hours: self.default_duration_hours,
            max_duration_hours: self.max_duration_hours,
            extension_hours: self.extension_hours,
            max_extensions: self.max_extensions,
            max_total_hours: self.max_total_hours,
            bug_required: self.bug_required,
            grace_period_minutes: self.grace_period_minutes,
            max_loans_per_user: self.max_loans_per_user,
            max_loans_per_user_per_pool: self.max_loans_per_user_per_pool,
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::admin_tasks, check_for_backend(diesel::pg::Pg))]
pub struct AdminTask {
    pub id: TaskId,
    pub loan_id: LoanId,
    pub machine_id: MachineId,
    pub phase: Phase,
    pub step_index: i32,
    pub step_name: String,
    pub instructions: String,
    pub state: TaskState,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<UserId>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::audit_log, check_for_backend(diesel::pg::Pg))]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    pub actor: String,
    pub kind: String,
    pub target_type: String,
    pub target_id: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}
