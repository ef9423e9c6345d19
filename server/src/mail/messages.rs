//! What each message says and to whom: its subject, the facts its templates show, and its
//! recipients, built from the database when the message is about to be sent. Templates (in
//! `templates/`) only lay these out; every variable a template uses is supplied here, and the
//! templates are rendered strictly, so a missing one fails loudly.

use anyhow::Context;
use app::format::{relative, when};
use app::rules::policy::{self, format_hours};
use app::server::loans::{self, LoanContext};
use app::server::schema::{loan_events, loans as loans_table};
use app::server::{links, users as people};
use app::types::{EventKind, LinkAction, LoanId, LoanState, MailKind, UserId};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use minijinja::Value;

use super::{to_value, LoanFacts};

/// What one message is about, as its job names it.
#[derive(Clone, Copy, Debug)]
pub struct MailJob {
    pub kind: MailKind,
    pub loan_id: Option<LoanId>,
    /// The deadline (or, for the digest, the day) the message is about.
    pub about: Option<DateTime<Utc>>,
    pub offset_minutes: Option<i32>,
    /// One person the message is for (each admin gets their own approve/deny links).
    pub to_user: Option<UserId>,
}

impl MailJob {
    /// The key that keeps this message from being stored or sent twice.
    pub fn dedupe_key(&self) -> String {
        app::server::mail::dedupe_key(
            self.kind,
            self.loan_id,
            self.about,
            self.offset_minutes,
            self.to_user,
        )
    }
}

/// A message ready to render: subject, template context, recipients.
#[derive(Clone, Debug)]
pub struct Draft {
    pub subject: String,
    pub context: Value,
    pub recipients: Vec<String>,
    pub loan_id: Option<LoanId>,
}

/// How long an approve or deny link sent to an admin stays valid.
const DECISION_LINK_DAYS: i64 = links::DECISION_LINK_DAYS;

/// The facts every loan message shows.
pub fn facts(c: &LoanContext, site_url: &str) -> LoanFacts {
    let fqdn = c.fqdn.clone().unwrap_or_else(|| "(no machine)".into());
    LoanFacts {
        id: c.loan.id,
        url: format!("{site_url}/loans/{}", c.loan.id),
        pool_name: c.pool.name.clone(),
        ssh_command: format!("ssh {}@{fqdn}", c.pool.login_user),
        fqdn,
        borrower_name: c.borrower.name.clone(),
        reason: c.loan.reason.clone(),
        bug: c.loan.bug_ref.clone(),
        expires_at: c.loan.expires_at.map(when),
    }
}

/// The message `job` asks for, or `None` when there is nothing (more) to say: a reminder whose
/// deadline moved, a request already decided, a digest of an empty day. Issues the message's
/// one-click links in the caller's transaction.
pub async fn draft(
    c: &mut AsyncPgConnection,
    job: &MailJob,
    site_url: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Draft>> {
    match (job.kind, job.loan_id) {
        (MailKind::Digest, _) => digest(c, job, site_url).await,
        (MailKind::HealthFailed, _) => health_failed(c, job, site_url).await,
        (_, Some(loan_id)) => about_loan(c, job, loan_id, site_url, now).await,
        (_, None) => Ok(None),
    }
}

async fn about_loan(
    c: &mut AsyncPgConnection,
    job: &MailJob,
    loan_id: LoanId,
    site_url: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Draft>> {
    let ctx = loans::context(c, loan_id).await?;
    let loan = &ctx.loan;
    let facts = facts(&ctx, site_url);
    let to_borrower = vec![ctx.borrower.email.clone()];
    let loan_value = to_value(&facts);
    let (subject, context, recipients) = match job.kind {
        MailKind::Ready => (
            format!("Ready: your {} is {}", ctx.pool.name, facts.fqdn),
            minijinja::context! { loan => loan_value },
            to_borrower,
        ),
        MailKind::Reminder => {
            let Some(deadline) = job.about else {
                return Ok(None);
            };
            // Stale (the deadline moved, the loan ended) or too late to be of use.
            if loan.state != LoanState::Ready
                || loan.expires_at != Some(deadline)
                || now >= deadline
            {
                return Ok(None);
            }
            let return_token =
                links::issue(c, loan.id, LinkAction::Return, deadline, None, now).await?;
            let extension = policy::may_extend(
                loan.duration_hours,
                loan.extensions_used,
                deadline,
                ctx.policy.extension(),
            );
            let extend_url = match &extension {
                Ok(_) => Some(format!(
                    "{site_url}/l/{}",
                    links::issue(c, loan.id, LinkAction::Extend, deadline, None, now).await?
                )),
                Err(_) => None,
            };
            let time_left = relative(deadline, now);
            (
                format!("{} goes back {time_left}: return or extend it", facts.fqdn),
                minijinja::context! {
                    loan => loan_value,
                    time_left => time_left,
                    return_url => format!("{site_url}/l/{return_token}"),
                    extend_url => extend_url,
                    extension_label => format_hours(ctx.policy.extension_hours),
                    extend_refusal => extension.err().map(|e| e.to_string()),
                },
                to_borrower,
            )
        }
        MailKind::Extended => (
            format!(
                "Extended: {} is yours until {}",
                facts.fqdn,
                facts.expires_at.clone().unwrap_or_default()
            ),
            minijinja::context! { loan => loan_value },
            to_borrower,
        ),
        MailKind::Returned => {
            // An admin's forced return says who took the machine back and why.
            let taken_back = last_event(c, loan_id, EventKind::ForcedReturn).await?;
            let subject = if taken_back.is_empty() {
                format!("Returned: {} goes back to the pool", facts.fqdn)
            } else {
                format!("Taken back: {} (loan #{})", facts.fqdn, loan.id)
            };
            (
                subject,
                minijinja::context! { loan => loan_value, taken_back },
                to_borrower,
            )
        }
        MailKind::Expired => {
            let grace_until = loan
                .expired_at
                .filter(|_| loan.state == LoanState::Expired)
                .map(|at| when(at + Duration::minutes(i64::from(ctx.policy.grace_period_minutes))));
            (
                format!("Your loan of {} has ended", facts.fqdn),
                minijinja::context! {
                    loan => loan_value,
                    deadline => job.about.map(when),
                    grace_until => grace_until,
                },
                to_borrower,
            )
        }
        MailKind::Reclaimed => (
            format!("Reclaimed: {} is back in the pool", facts.fqdn),
            minijinja::context! { loan => loan_value },
            to_borrower,
        ),
        MailKind::ProvisioningFailed => (
            format!("Provisioning failed: loan #{} on {}", loan.id, facts.fqdn),
            minijinja::context! {
                loan => loan_value,
                failure => last_event(c, loan_id, EventKind::Failed).await?,
            },
            admin_emails(c).await?,
        ),
        MailKind::CleanupFailed => (
            format!(
                "Broken: {} (clean-up after loan #{} failed)",
                facts.fqdn, loan.id
            ),
            minijinja::context! {
                loan => loan_value,
                failure => last_event(c, loan_id, EventKind::MachineBroken).await?,
            },
            admin_emails(c).await?,
        ),
        MailKind::NeedsApproval => {
            let Some(admin) = admin(c, job.to_user).await? else {
                return Ok(None);
            };
            if loan.state != LoanState::Requested {
                return Ok(None);
            }
            let until = now + Duration::days(DECISION_LINK_DAYS);
            let approve =
                links::issue(c, loan.id, LinkAction::Approve, until, Some(admin.id), now).await?;
            let deny =
                links::issue(c, loan.id, LinkAction::Deny, until, Some(admin.id), now).await?;
            (
                format!(
                    "Approve? {} asks for a {} machine",
                    ctx.borrower.name, ctx.pool.name
                ),
                minijinja::context! {
                    loan => loan_value,
                    admin_name => admin.name.clone(),
                    duration => format_hours(loan.duration_hours),
                    approve_url => format!("{site_url}/l/{approve}"),
                    deny_url => format!("{site_url}/l/{deny}"),
                    queue_url => format!("{site_url}/admin/approvals"),
                },
                vec![admin.email],
            )
        }
        MailKind::Approved => (
            format!(
                "Approved: your {} request (loan #{})",
                ctx.pool.name, loan.id
            ),
            minijinja::context! { loan => loan_value, waiting => loan.state == LoanState::Waiting },
            to_borrower,
        ),
        MailKind::Denied => (
            format!("Denied: your {} request (loan #{})", ctx.pool.name, loan.id),
            minijinja::context! {
                loan => loan_value,
                reason => loan.decision_reason.clone().unwrap_or_default(),
            },
            to_borrower,
        ),
        MailKind::TaskOpened => {
            let Some(admin) = admin(c, job.to_user).await? else {
                return Ok(None);
            };
            (
                format!("Task: {} needs you for loan #{}", facts.fqdn, loan.id),
                minijinja::context! {
                    loan => loan_value,
                    step => last_event(c, loan_id, EventKind::WaitingForAdmin).await?,
                    dashboard_url => format!("{site_url}/admin"),
                },
                vec![admin.email],
            )
        }
        MailKind::MachineAction => (
            format!("An admin acts on {} (loan #{})", facts.fqdn, loan.id),
            minijinja::context! {
                loan => loan_value,
                notice => last_event(c, loan_id, EventKind::AdminAction).await?,
            },
            to_borrower,
        ),
        MailKind::Digest | MailKind::HealthFailed => return Ok(None),
    };
    Ok(Some(Draft {
        subject,
        context,
        recipients,
        loan_id: Some(loan.id),
    }))
}

/// The admin a personal message is for, if they still are one.
async fn admin(
    c: &mut AsyncPgConnection,
    to_user: Option<UserId>,
) -> anyhow::Result<Option<app::server::models::User>> {
    let Some(id) = to_user else {
        return Ok(None);
    };
    Ok(people::find(c, id).await?.filter(|a| a.is_admin()))
}

async fn admin_emails(c: &mut AsyncPgConnection) -> anyhow::Result<Vec<String>> {
    Ok(people::admins(c)
        .await?
        .into_iter()
        .map(|u| u.email)
        .collect())
}

/// The message of the loan's latest event of `kind` (what failed, for the admins).
async fn last_event(
    c: &mut AsyncPgConnection,
    loan_id: LoanId,
    kind: EventKind,
) -> anyhow::Result<String> {
    Ok(loan_events::table
        .filter(loan_events::loan_id.eq(loan_id))
        .filter(loan_events::kind.eq(kind))
        .order(loan_events::id.desc())
        .select(loan_events::message)
        .first(c)
        .await
        .optional()
        .context("reading the loan's history")?
        .unwrap_or_default())
}

/// The admins' message about machines a failed health check took out of the pool (once per
/// failure, not per check).
async fn health_failed(
    c: &mut AsyncPgConnection,
    job: &MailJob,
    site_url: &str,
) -> anyhow::Result<Option<Draft>> {
    let Some(at) = job.about else {
        return Ok(None);
    };
    let found = app::server::health::failed_at(c, at).await?;
    let found: Vec<_> = found
        .into_iter()
        .filter(|(m, _)| m.state == app::types::MachineState::Broken)
        .collect();
    let Some(fqdn) = <[_]>::first(&found).map(|(m, _): &(_, _)| m.fqdn.clone()) else {
        return Ok(None);
    };
    let broken: Vec<Value> = found
        .into_iter()
        .map(|(m, p)| {
            minijinja::context! {
                fqdn => m.fqdn,
                pool => p.name,
                reason => m.state_reason.unwrap_or_default(),
                url => format!("{site_url}/admin/machines/{}", m.id),
            }
        })
        .collect();
    Ok(Some(Draft {
        subject: format!("Broken: {fqdn} failed its health check"),
        context: minijinja::context! { machines => broken, checked_at => when(at) },
        recipients: admin_emails(c).await?,
        loan_id: None,
    }))
}

/// The admins' daily list of loans that policy approved without them.
async fn digest(
    c: &mut AsyncPgConnection,
    job: &MailJob,
    site_url: &str,
) -> anyhow::Result<Option<Draft>> {
    let Some(until) = job.about else {
        return Ok(None);
    };
    let since = until - Duration::days(1);
    let rows: Vec<LoanId> = loans_table::table
        .filter(loans_table::approved_by.is_null())
        .filter(loans_table::approved_at.ge(since))
        .filter(loans_table::approved_at.lt(until))
        .order(loans_table::id)
        .select(loans_table::id)
        .load(c)
        .await
        .context("reading the day's loans")?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut list = Vec::new();
    for id in rows {
        list.push(facts(&loans::context(c, id).await?, site_url));
    }
    Ok(Some(Draft {
        subject: format!(
            "Loaner digest: {} loan(s) approved automatically",
            list.len()
        ),
        context: minijinja::context! {
            loans => to_value(&list),
            since => when(since),
            until => when(until),
        },
        recipients: admin_emails(c).await?,
        loan_id: None,
    }))
}
