//! Mail intents. A state change that should tell someone queues a `send_mail` job in its own
//! transaction; the job renders and sends the message after commit. The job's key makes one
//! message per (kind, loan, deadline[, reminder offset]), however often it is asked for.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use super::queue::{self, Job};
use super::{users, DbError};
use crate::types::{LoanId, MailKind, UserId};

/// The unique key of one message.
pub fn dedupe_key(
    kind: MailKind,
    loan_id: Option<LoanId>,
    about: Option<DateTime<Utc>>,
    offset_minutes: Option<i32>,
    to_user: Option<UserId>,
) -> String {
    let mut key = format!("mail:{}", kind.as_str());
    for part in [
        loan_id.map(|id| id.to_string()),
        about.map(|at| at.timestamp_micros().to_string()),
        offset_minutes.map(|m| m.to_string()),
        to_user.map(|u| format!("u{u}")),
    ]
    .into_iter()
    .flatten()
    {
        key.push(':');
        key.push_str(&part);
    }
    key
}

/// Queues a message, due at `run_at`; returns false if it was queued before.
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    kind: MailKind,
    loan_id: Option<LoanId>,
    about: Option<DateTime<Utc>>,
    offset_minutes: Option<i32>,
    run_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let job = Job::SendMail {
        mail: kind,
        loan_id,
        about,
        offset_minutes,
        to_user: None,
    };
    let key = dedupe_key(kind, loan_id, about, offset_minutes, None);
    queue::enqueue_once(conn, &job, run_at, now, &key).await
}

/// Queues one message about a loan for each admin (each with links of their own).
pub async fn send_to_each_admin(
    conn: &mut AsyncPgConnection,
    kind: MailKind,
    loan_id: LoanId,
    about: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    let admins = users::admins(conn).await?;
    for admin in &admins {
        let job = Job::SendMail {
            mail: kind,
            loan_id: Some(loan_id),
            about,
            offset_minutes: None,
            to_user: Some(admin.id),
        };
        let key = dedupe_key(kind, Some(loan_id), about, None, Some(admin.id));
        queue::enqueue_once(conn, &job, now, now, &key).await?;
    }
    Ok(admins.len())
}

/// Queues a message about a loan, to go out now.
pub async fn send(
    conn: &mut AsyncPgConnection,
    kind: MailKind,
    loan_id: LoanId,
    about: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    schedule(conn, kind, Some(loan_id), about, None, now, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_name_the_kind_loan_deadline_and_offset() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        assert_eq!(
            dedupe_key(
                MailKind::Reminder,
                Some(LoanId(7)),
                Some(at),
                Some(60),
                None
            ),
            format!("mail:reminder:7:{}:60", at.timestamp_micros())
        );
        assert_eq!(
            dedupe_key(MailKind::Ready, Some(LoanId(7)), None, None, None),
            "mail:ready:7"
        );
        assert_eq!(
            dedupe_key(
                MailKind::NeedsApproval,
                Some(LoanId(7)),
                None,
                None,
                Some(UserId(3))
            ),
            "mail:needs_approval:7:u3"
        );
    }
}
