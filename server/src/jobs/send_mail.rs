//! The job `send_mail`: draft a message once (with its one-click links), render it, store it,
//! hand it to the transport, and record it as sent together with taking the job off the queue.
//! A retry after a failed send re-sends the same stored message; a stale reminder (the deadline
//! moved, the loan ended) is dropped unsent. Once an SMTP server has taken a message, the stored
//! copy keeps no usable link: the tokens are cut out in the transaction that records the send.

use app::server::mail;
use app::server::models::{Email, NewEmail};
use app::server::schema::emails;
use app::types::MailKind;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{JobContext, JobError, WorkerDeps};
use crate::mail::{messages, redact_links, MailJob};

pub async fn run(ctx: &JobContext, job: MailJob) -> Result<(), JobError> {
    let deps = &ctx.deps;
    let key = job.dedupe_key();
    let mut conn = deps.conn().await?;
    let stored: Option<Email> = emails::table
        .filter(emails::dedupe_key.eq(&key))
        .select(Email::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let email = match stored {
        Some(email) => Some(email),
        None => prepare(&mut conn, deps, &job, &key).await?,
    };
    let unsent = email.as_ref().filter(|e| e.sent_at.is_none());
    if let Some(email) = unsent {
        deps.mailer.send(email).await.map_err(|message| {
            crate::telemetry::email_failed();
            JobError::Failed {
                message,
                output: None,
                permanent: false,
            }
        })?;
        crate::telemetry::email_sent();
    }
    let now = deps.clock.now();
    conn.transaction(async |c| {
        ctx.take(c).await?;
        if let Some(email) = unsent {
            // The development mailbox is where the message is read: it keeps its links.
            let (text, html) = match deps.mailer.delivers() {
                true => (
                    redact_links(&email.body_text),
                    redact_links(&email.body_html),
                ),
                false => (email.body_text.clone(), email.body_html.clone()),
            };
            diesel::update(
                emails::table
                    .find(email.id)
                    .filter(emails::sent_at.is_null()),
            )
            .set((
                emails::sent_at.eq(now),
                emails::transport.eq(deps.mailer.name()),
                emails::body_text.eq(text),
                emails::body_html.eq(html),
            ))
            .execute(c)
            .await?;
        }
        if job.kind == MailKind::Digest {
            if let Some(about) = job.about {
                schedule_digest_at(c, about + Duration::days(1), now).await?;
            }
        }
        Ok(())
    })
    .await
}

/// A message that was never sent (its job gave up): the stored copy's links are cut out.
pub async fn redact_unsent(conn: &mut AsyncPgConnection, job: &MailJob) -> Result<(), JobError> {
    let key = job.dedupe_key();
    let stored: Option<Email> = emails::table
        .filter(emails::dedupe_key.eq(&key))
        .filter(emails::sent_at.is_null())
        .select(Email::as_select())
        .first(conn)
        .await
        .optional()?;
    if let Some(email) = stored {
        diesel::update(emails::table.find(email.id))
            .set((
                emails::body_text.eq(redact_links(&email.body_text)),
                emails::body_html.eq(redact_links(&email.body_html)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Schedules the admins' daily digest at `at`, unless it is already scheduled.
async fn schedule_digest_at(
    conn: &mut AsyncPgConnection,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    Ok(mail::schedule(conn, MailKind::Digest, None, Some(at), None, at, now).await?)
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
    schedule_digest_at(conn, next, now).await
}

/// A digest that gave up: the next day's comes anyway.
pub async fn reschedule_digest(
    conn: &mut AsyncPgConnection,
    about: Option<DateTime<Utc>>,
    hour_utc: u32,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    match about {
        Some(about) if about + Duration::days(1) > now => {
            schedule_digest_at(conn, about + Duration::days(1), now).await
        }
        _ => schedule_digest(conn, hour_utc, now).await,
    }
}

/// Drafts, renders and stores the message (and its links) in one transaction. `None` when
/// there is nothing to send.
async fn prepare(
    conn: &mut AsyncPgConnection,
    deps: &WorkerDeps,
    job: &MailJob,
    key: &str,
) -> Result<Option<Email>, JobError> {
    let site_url = deps.site.public_url.url.clone();
    conn.transaction(async |c| {
        let now = deps.clock.now();
        let Some(draft) = messages::draft(c, job, &site_url, now).await? else {
            return Ok(None);
        };
        if draft.recipients.is_empty() {
            tracing::warn!(mail.kind = %job.kind, "nobody to send this message to");
            return Ok(None);
        }
        let composed = deps
            .templates
            .render(job.kind, draft.subject, &site_url, draft.context)
            .map_err(JobError::Internal)?;
        let email = diesel::insert_into(emails::table)
            .values(NewEmail {
                kind: job.kind,
                loan_id: draft.loan_id,
                recipients: draft.recipients,
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
