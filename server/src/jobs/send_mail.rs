//! The job `send_mail`: render a message once (with its one-click links), hand it to the
//! transport, and record it as sent together with taking the job off the queue. A retry after
//! a failed send re-sends the same stored message; a stale reminder (the deadline moved, the
//! loan ended) is dropped unsent.

use app::components::format::relative;
use app::rules::policy::{self, format_hours};
use app::server::loans::{self, LoanContext};
use app::server::models::{Email, NewEmail};
use app::server::schema::{emails, loan_events, loans as loans_table};
use app::server::{links, mail, users as people};
use app::types::{LinkAction, LoanState, MailKind};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use minijinja::Value;

use super::{JobContext, JobError, WorkerDeps};
use crate::mail::{to_value, LoanFacts};

/// What one message is about, as the job names it.
#[derive(Clone, Copy, Debug)]
pub struct MailJob {
    pub kind: MailKind,
    pub loan_id: Option<i64>,
    pub about: Option<DateTime<Utc>>,
    pub offset_minutes: Option<i32>,
    pub to_user: Option<i64>,
}

pub async fn run(ctx: &JobContext, job: MailJob) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let key = mail::dedupe_key(
        job.kind,
        job.loan_id,
        job.about,
        job.offset_minutes,
        job.to_user,
    );
    let mut conn = deps.conn().await?;
    let stored: Option<Email> = emails::table
        .filter(emails::dedupe_key.eq(&key))
        .select(Email::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let email = match stored {
        Some(email) => Some(email),
        None => prepare(&mut conn, deps, job, &key).await?,
    };
    if let Some(email) = &email {
        if email.sent_at.is_none() {
            deps.mailer
                .send(email)
                .await
                .map_err(|message| JobError::Failed {
                    message,
                    output: None,
                    permanent: false,
                })?;
        }
    }
    let now = deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        if let Some(email) = &email {
            diesel::update(
                emails::table
                    .find(email.id)
                    .filter(emails::sent_at.is_null()),
            )
            .set((
                emails::sent_at.eq(now),
                emails::transport.eq(deps.mailer.name()),
            ))
            .execute(c)
            .await?;
        }
        if job.kind == MailKind::Digest {
            if let Some(about) = job.about {
                mail::schedule(
                    c,
                    MailKind::Digest,
                    None,
                    Some(about + Duration::days(1)),
                    None,
                    about + Duration::days(1),
                    now,
                )
                .await?;
            }
        }
        Ok(())
    })
    .await
}

/// Schedules the admins' next daily digest, unless it is already scheduled.
pub async fn schedule_digest(
    conn: &mut AsyncPgConnection,
    hour_utc: u32,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let today = now
        .date_naive()
        .and_hms_opt(hour_utc, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let next = if today > now {
        today
    } else {
        today + Duration::days(1)
    };
    Ok(mail::schedule(conn, MailKind::Digest, None, Some(next), None, next, now).await?)
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn facts(c: &LoanContext, site_url: &str) -> LoanFacts {
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

/// Renders and stores the message (and its links) in one transaction. `None` when there is
/// nothing to send.
async fn prepare(
    conn: &mut AsyncPgConnection,
    deps: &WorkerDeps,
    job: MailJob,
    key: &str,
) -> Result<Option<Email>, JobError> {
    let site_url = deps.site.public_url.clone();
    conn.transaction(async |c| {
        let now = deps.clock.now();
        let Some((subject, context, recipients, loan_id)) = (match (job.kind, job.loan_id) {
            (MailKind::Digest, _) => digest(c, job, &site_url).await?,
            (_, Some(loan_id)) => about_loan(c, job, loan_id, &site_url, now).await?,
            (_, None) => None,
        }) else {
            return Ok(None);
        };
        if recipients.is_empty() {
            tracing::warn!(mail.kind = %job.kind, "nobody to send this message to");
            return Ok(None);
        }
        let context = minijinja::context! { site_url => site_url.clone(), ..context };
        let composed = deps
            .templates
            .render(job.kind, subject, context)
            .map_err(JobError::Internal)?;
        let email = diesel::insert_into(emails::table)
            .values(NewEmail {
                kind: job.kind.as_str().to_owned(),
                loan_id,
                recipients,
                subject: composed.subject,
                body_text: composed.text,
                body_html: composed.html,
                dedupe_key: key.to_owned(),
                created_at: now,
            })
            .returning(Email::as_returning())
            .get_result(c)
            .await?;
        Ok(Some(email))
    })
    .await
}

type Prepared = Option<(String, Value, Vec<String>, Option<i64>)>;

async fn about_loan(
    c: &mut AsyncPgConnection,
    job: MailJob,
    loan_id: i64,
    site_url: &str,
    now: DateTime<Utc>,
) -> Result<Prepared, JobError> {
    let ctx = loans::context(c, loan_id).await?;
    let loan = &ctx.loan;
    let facts = facts(&ctx, site_url);
    let to_borrower = vec![ctx.borrower.email.clone()];
    let loan_value = to_value(&facts);
    let prepared = match job.kind {
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
            if loan.state() != LoanState::Ready
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
            let taken_back = last_event(c, loan_id, "forced_return").await?;
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
                .filter(|_| loan.state() == LoanState::Expired)
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
            minijinja::context! { loan => loan_value, failure => last_event(c, loan_id, "failed").await? },
            admin_emails(c).await?,
        ),
        MailKind::CleanupFailed => (
            format!(
                "Broken: {} (clean-up after loan #{} failed)",
                facts.fqdn, loan.id
            ),
            minijinja::context! { loan => loan_value, failure => last_event(c, loan_id, "machine_broken").await? },
            admin_emails(c).await?,
        ),
        MailKind::NeedsApproval => {
            let Some(admin) = people::find(c, job.to_user.unwrap_or_default())
                .await?
                .filter(|a| a.is_admin())
            else {
                return Ok(None);
            };
            if loan.state() != LoanState::Requested {
                return Ok(None);
            }
            let until = now + Duration::days(links::DECISION_LINK_DAYS);
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
            minijinja::context! { loan => loan_value, waiting => loan.state() == LoanState::Waiting },
            to_borrower,
        ),
        MailKind::Denied => (
            format!("Denied: your {} request (loan #{})", ctx.pool.name, loan.id),
            minijinja::context! { loan => loan_value, reason => loan.decision_reason.clone().unwrap_or_default() },
            to_borrower,
        ),
        MailKind::TaskOpened => {
            let Some(admin) = people::find(c, job.to_user.unwrap_or_default())
                .await?
                .filter(|a| a.is_admin())
            else {
                return Ok(None);
            };
            (
                format!("Task: {} needs you for loan #{}", facts.fqdn, loan.id),
                minijinja::context! {
                    loan => loan_value,
                    step => last_event(c, loan_id, "waiting_for_admin").await?,
                    dashboard_url => format!("{site_url}/admin"),
                },
                vec![admin.email],
            )
        }
        MailKind::Digest => return Ok(None),
    };
    Ok(Some((prepared.0, prepared.1, prepared.2, Some(loan.id))))
}

async fn admin_emails(c: &mut AsyncPgConnection) -> Result<Vec<String>, JobError> {
    Ok(people::admins(c)
        .await?
        .into_iter()
        .map(|u| u.email)
        .collect())
}

/// The message of the loan's latest event of `kind` (what failed, for the admins).
async fn last_event(
    c: &mut AsyncPgConnection,
    loan_id: i64,
    kind: &str,
) -> Result<String, JobError> {
    Ok(loan_events::table
        .filter(loan_events::loan_id.eq(loan_id))
        .filter(loan_events::kind.eq(kind))
        .order(loan_events::id.desc())
        .select(loan_events::message)
        .first(c)
        .await
        .optional()?
        .unwrap_or_default())
}

/// The admins' daily list of loans that policy approved without them.
async fn digest(
    c: &mut AsyncPgConnection,
    job: MailJob,
    site_url: &str,
) -> Result<Prepared, JobError> {
    let Some(until) = job.about else {
        return Ok(None);
    };
    let since = until - Duration::days(1);
    let rows: Vec<i64> = loans_table::table
        .filter(loans_table::approved_by.is_null())
        .filter(loans_table::approved_at.ge(since))
        .filter(loans_table::approved_at.lt(until))
        .order(loans_table::id)
        .select(loans_table::id)
        .load(c)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut list = Vec::new();
    for id in rows {
        list.push(facts(&loans::context(c, id).await?, site_url));
    }
    let admins = admin_emails(c).await?;
    Ok(Some((
        format!(
            "Loaner digest: {} loan(s) approved automatically",
            list.len()
        ),
        minijinja::context! { loans => to_value(&list), since => when(since), until => when(until) },
        admins,
        None,
    )))
}
