//! The development mailbox: every message Loaner rendered, newest first, as it was sent.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::Email;
use super::schema::emails;
use super::DbError;
use crate::types::{MailId, MailSummary, MailView};

const SHOWN: i64 = 200;

fn summary(email: &Email) -> MailSummary {
    MailSummary {
        id: email.id,
        kind: email.kind,
        recipients: email.recipients(),
        subject: email.subject.clone(),
        loan_id: email.loan_id,
        created_at: email.created_at,
        sent_at: email.sent_at,
        transport: email.transport.clone(),
    }
}

/// The latest messages.
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<MailSummary>, DbError> {
    let rows: Vec<Email> = emails::table
        .order(emails::id.desc())
        .limit(SHOWN)
        .select(Email::as_select())
        .load(conn)
        .await?;
    Ok(rows.iter().map(summary).collect())
}

/// One message with its bodies.
pub async fn get(conn: &mut AsyncPgConnection, id: MailId) -> Result<Option<MailView>, DbError> {
    let row: Option<Email> = emails::table
        .find(id)
        .select(Email::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|email| MailView {
        summary: summary(&email),
        body_text: email.body_text,
        body_html: email.body_html,
    }))
}
