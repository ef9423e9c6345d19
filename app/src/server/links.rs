//! One-click links in emails. Each carries 256 random bits bound to one loan, one action and
//! the deadline it was issued for; only the SHA-256 is stored. Opening a link (GET, HEAD —
//! what mail scanners do) only reads; the confirmation page's button POSTs, and the token works
//! once. It is the authority for its one action: no sign-in is needed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::events::{self, Event};
use super::loans::{self, LoanContext, LoanError};
use super::models::{LinkToken, Loan};
use super::schema::link_tokens;
use super::{users, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::{policy, validate};
use crate::types::{
    EventKind, LinkAction, LinkStatus, LinkView, LoanId, LoanState, Policy, UserId,
};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("This link is not valid. Check that it was copied whole, or use the loan page.")]
    Unknown,
    #[error(transparent)]
    Loan(#[from] LoanError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for LinkError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl From<LinkError> for AppError {
    fn from(err: LinkError) -> Self {
        match err {
            LinkError::Unknown => AppError::NotFound("This link".into()),
            LinkError::Loan(loan) => loan.into(),
            LinkError::Db(db) => db.into(),
        }
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// How long an approve or deny link sent to an admin stays valid.
pub const DECISION_LINK_DAYS: i64 = 7;

/// Creates a link token for `action` on the loan, valid until `deadline`, acting as `user_id`
/// (an admin, for approve and deny; `None` is the borrower); returns the token.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
    action: LinkAction,
    deadline: DateTime<Utc>,
    user_id: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<String, DbError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    diesel::insert_into(link_tokens::table)
        .values((
            link_tokens::token_hash.eq(hash(&token)),
            link_tokens::loan_id.eq(loan_id),
            link_tokens::action.eq(action),
            link_tokens::deadline.eq(deadline),
            link_tokens::expires_at.eq(deadline),
            link_tokens::created_at.eq(now),
            link_tokens::user_id.eq(user_id),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// Where a token stands, from its row and its loan as they are now.
pub fn status(token: &LinkToken, loan: &Loan, policy: &Policy, now: DateTime<Utc>) -> LinkStatus {
    if let Some(used) = token.used_at {
        return LinkStatus::Used(used);
    }
    let current = match token.action {
        LinkAction::Return | LinkAction::Extend => {
            loan.state == LoanState::Ready && loan.expires_at == Some(token.deadline)
        }
        LinkAction::Approve | LinkAction::Deny => loan.state == LoanState::Requested,
    };
    if now >= token.expires_at || !current {
        return LinkStatus::Expired;
    }
    if token.action == LinkAction::Extend {
        if let Err(refusal) = policy::may_extend(
            loan.duration_hours,
            loan.extensions_used,
            token.deadline,
            policy.extension(),
        ) {
            return LinkStatus::Refused(refusal.to_string());
        }
    }
    LinkStatus::Valid
}

type Found = (LinkToken, LoanContext);

async fn find(conn: &mut AsyncPgConnection, token: &str, lock: bool) -> Result<Found, LinkError> {
    let hashed = hash(token.trim());
    let query = link_tokens::table
        .filter(link_tokens::token_hash.eq(&hashed))
        .select(LinkToken::as_select());
    let row = if lock {
        query.for_update().first(conn).await
    } else {
        query.first(conn).await
    }
    .optional()?
    .ok_or(LinkError::Unknown)?;
    let context = loans::context(conn, row.loan_id).await?;
    Ok((row, context))
}

fn view((token, c): &Found, now: DateTime<Utc>) -> LinkView {
    LinkView {
        status: status(token, &c.loan, &c.policy, now),
        action: token.action,
        loan_id: c.loan.id,
        pool_name: c.pool.name.clone(),
        machine_fqdn: c.fqdn.clone(),
        borrower_name: c.borrower.name.clone(),
        loan_state: c.loan.state,
        deadline: token.deadline,
        expires_at: c.loan.expires_at,
        extension_hours: c.policy.extension_hours,
        reason: c.loan.reason.clone(),
    }
}

/// What the confirmation page shows. Reads only.
pub async fn inspect(
    conn: &mut AsyncPgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<LinkView, LinkError> {
    Ok(view(&find(conn, token, false).await?, now))
}

/// Does the link's action, once. A used, expired or refused link changes nothing; the returned
/// view says what happened.
pub async fn redeem(
    conn: &mut AsyncPgConnection,
    token: &str,
    reason: &str,
    site_offsets: &[i32],
    now: DateTime<Utc>,
) -> Result<LinkView, LinkError> {
    conn.transaction(async |conn| {
        let found = find(conn, token, true).await?;
        let (row, LoanContext { loan, borrower, .. }) = &found;
        if view(&found, now).status != LinkStatus::Valid {
            return Ok(view(&found, now));
        }
        let action = row.action;
        if action == LinkAction::Deny {
            validate::note(
                reason,
                "Say why, so the requester knows what to do instead.",
            )
            .map_err(|m| LoanError::Invalid(vec![FieldError::new("reason", m)]))?;
        }
        diesel::update(link_tokens::table.find(row.id))
            .set(link_tokens::used_at.eq(now))
            .execute(conn)
            .await?;
        let admin = match row.user_id {
            Some(id) => users::find(conn, id).await?,
            None => None,
        };
        match action {
            LinkAction::Approve | LinkAction::Deny => {
                let admin = admin.filter(|a| a.is_admin()).ok_or(LinkError::Unknown)?;
                if action == LinkAction::Approve {
                    loans::approve(conn, &admin, loan.id, None, now).await?;
                } else {
                    loans::deny(conn, &admin, loan.id, reason, now).await?;
                }
            }
            LinkAction::Extend => {
                loans::extend(
                    conn,
                    borrower,
                    loan.id,
                    "from the email link",
                    site_offsets,
                    now,
                )
                .await?;
            }
            LinkAction::Return => {
                events::record(
                    conn,
                    loan.id,
                    now,
                    Event::new(EventKind::LinkUsed, "Return confirmed from the email link")
                        .by(borrower.id),
                )
                .await?;
                loans::return_loan(conn, borrower, loan.id, now).await?;
            }
        }
        Ok(view(&find(conn, token, false).await?, now))
    })
    .await
}
