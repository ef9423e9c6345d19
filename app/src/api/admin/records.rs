//! Admin server functions that read records: the development mailbox and the audit log.

use leptos::prelude::*;

use crate::error::AppError;
use crate::types::{AuditRow, MailId, MailSummary, MailView};

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

/// The audit log, filtered, newest first.
#[server(prefix = "/api/admin", endpoint = "search_audit")]
pub async fn search_audit(
    actor: String,
    target: String,
    kind: String,
    from: String,
    to: String,
) -> Result<(Vec<AuditRow>, Vec<String>), AppError> {
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
    let mut conn = state.conn().await.map_err(context::fail)?;
    let rows = audit::search(&mut conn, &filter, None)
        .await
        .map_err(context::fail)?;
    let kinds = audit::kinds(&mut conn).await.map_err(context::fail)?;
    Ok((rows, kinds))
}
