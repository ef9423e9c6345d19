//! The job `purge_mail`: once a day, the bodies of messages older than the retention period are
//! blanked. The rows stay (they keep a message from being sent twice) with their subject and
//! recipients; what they said, and any link in it, is gone. The same daily job deletes ended
//! sessions (past their lifetime or idle too long) and sign-ins never finished.

use app::server::queue::{self, Job};
use app::server::schema::emails;
use app::server::sessions;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::{JobContext, JobError};

const KEY: &str = "purge-mail";
/// What a purged body says instead.
pub const PURGED: &str = "(This message's text was removed after the retention period.)";

/// Schedules the next purge, a day from `now`, unless one is scheduled.
pub async fn schedule(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> Result<bool, JobError> {
    Ok(queue::enqueue_once(conn, &Job::PurgeMail, now + Duration::days(1), now, KEY).await?)
}

/// Blanks the bodies of messages created before `before`; returns how many.
pub async fn purge(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> Result<usize, JobError> {
    Ok(diesel::update(
        emails::table
            .filter(emails::created_at.lt(before))
            .filter(emails::body_text.ne(PURGED)),
    )
    .set((emails::body_text.eq(PURGED), emails::body_html.eq(PURGED)))
    .execute(conn)
    .await?)
}

pub async fn run(ctx: &JobContext) -> Result<(), JobError> {
    let mut conn = ctx.deps.conn().await?;
    let now = ctx.deps.clock.now();
    let days = i64::from(ctx.deps.mail_retention_days);
    conn.transaction(async |c| {
        ctx.take(c).await?;
        let purged = purge(c, now - Duration::days(days)).await?;
        if purged > 0 {
            tracing::info!(purged, retention_days = days, "purged old message bodies");
        }
        let sessions = sessions::purge_stale(c, now, ctx.deps.site.session_policy()).await?;
        let attempts = crate::auth::attempts::purge_expired(c, now).await?;
        if sessions + attempts > 0 {
            tracing::info!(
                sessions,
                attempts,
                "deleted ended sessions and unfinished sign-ins"
            );
        }
        schedule(c, now).await?;
        Ok(())
    })
    .await
}
