//! Admin server functions that read records: the development mailbox and the audit log.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{AuditPage, MailId, MailSummary, MailView};

/// The development mailbox (development mode only).
#[server(prefix = "/api/admin", endpoint = "list_mail")]
pub async fn list_mail() -> Result<Vec<MailSummary>, AppError> {
    use crate::server::{context, mailbox};
    let (state, _) = context::require_admin().await?;
    if !state.site.dev_mode {
        return Err(context::fail(AppError::NotFound(
            "The development mailbox".into(),
        )));
    }
    let mut conn = state.conn().await.map_err(context::fail)?;
    mailbox::list(&mut conn).await.map_err(context::fail)
}

/// One message of the development mailbox.
#[server(prefix = "/api/admin", endpoint = "get_mail")]
pub async fn get_mail(id: MailId) -> Result<MailView, AppError> {
    use crate::server::{context, mailbox};
    let (state, _) = context::require_admin().await?;
    if !state.site.dev_mode {
        return Err(context::fail(AppError::NotFound(
            "The development mailbox".into(),
        )));
    }
    let mut conn = state.conn().await.map_err(context::fail)?;
    mailbox::get(&mut conn, id)
        .await
        .map_err(context::fail)?
        .ok_or_else(|| context::fail(AppError::NotFound(format!("Message {id}"))))
}

/// One page of the audit log, filtered, newest first: the entries older than entry `before`
/// (the newest without it).
#[server(prefix = "/api/admin", endpoint = "search_audit")]
pub async fn search_audit(
    actor: String,
    target: String,
    kind: String,
    from: String,
    to: String,
    before: Option<String>,
) -> Result<AuditPage, AppError> {
    use crate::server::{audit, context};
    let (state, _) = context::require_admin().await?;
    let filter = crate::types::AuditFilter {
        actor,
        target,
        kind,
        from,
        to,
    };
    audit::check_filter(&filter).map_err(|e| context::fail(AppError::Validation(e)))?;
    let before = match before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            context::fail(AppError::field(
                "before",
                "Give the number of an audit entry.",
            ))
        })?),
    };
    let mut conn = state.conn().await.map_err(context::fail)?;
    audit::page(&mut conn, &filter, before)
        .await
        .map_err(context::fail)
}
