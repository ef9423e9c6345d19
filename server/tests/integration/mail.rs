//! Messages over a real SMTP server (aiosmtpd, started by the test): what arrives, and that an
//! outage delays a message without losing or doubling it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::smtp::{self, SmtpSink};
use crate::common::*;
use app::server::loans;
use chrono::Duration;
use server::jobs::Worker;
use server::mail::Mailer;

fn smtp_worker(w: &World, sink: &SmtpSink) -> Worker {
    let mailer = Mailer::from_config(&sink.config()).unwrap();
    Worker::new(w.deps(jobs_config(), mailer))
}

#[tokio::test]
async fn messages_go_out_over_smtp_with_a_text_and_an_html_part() {
    let sink = SmtpSink::start().await;
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let worker = smtp_worker(&w, &sink);

    loans::request(&mut conn, &dana, &request("build"), w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let ready = &messages[0];
    assert_eq!(ready.to, "dana@example.com");
    assert_eq!(
        ready.subject,
        "Ready: your Pool build is build-01.test.example"
    );
    assert!(
        ready.text.contains("ssh tester@build-01.test.example"),
        "{}",
        ready.text
    );
    assert!(ready.html.contains("<html") && ready.html.contains("Your machine is ready"));
    let sql = w.sql().await;
    let row = sql
        .query_one("SELECT transport, sent_at IS NOT NULL FROM emails", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "smtp");
    assert!(row.get::<_, bool>(1));
}

#[tokio::test]
async fn an_smtp_outage_delays_a_reminder_which_then_arrives_exactly_once() {
    let mut sink = SmtpSink::start().await;
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let worker = smtp_worker(&w, &sink);
    let mut ask = request("build");
    ask.duration_hours = "2".into();
    loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    assert_eq!(sink.messages().len(), 1, "the ready message");

    sink.stop().await;
    w.clock.advance(Duration::minutes(61));
    worker.run_until_idle().await.unwrap();
    worker.run_until_idle().await.unwrap();

    let sql = w.sql().await;
    let job = sql
        .query_one("SELECT attempts, last_error, failed_at IS NULL FROM jobs WHERE payload->>'mail' = 'reminder' AND run_at > now() - interval '1 day' ORDER BY run_at LIMIT 1", &[])
        .await
        .unwrap();
    assert_eq!(job.get::<_, i32>(0), 1, "tried once, waiting for its retry");
    assert!(job
        .get::<_, String>(1)
        .contains("SMTP server did not take the message"));
    assert!(job.get::<_, bool>(2));
    let stored: i64 = sql
        .query_one(
            "SELECT count(*) FROM emails WHERE kind = 'reminder' AND sent_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "rendered once and kept for the retry");

    sink.resume().await;
    w.clock.advance(Duration::minutes(1));
    w.drain_with(&worker).await;
    w.drain_with(&worker).await;

    let reminders: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("goes back"))
        .collect();
    assert_eq!(reminders.len(), 1, "delivered exactly once");
    assert_eq!(smtp::links(&reminders[0].text).len(), 2);
    let sent: i64 = sql
        .query_one(
            "SELECT count(*) FROM emails WHERE kind = 'reminder' AND sent_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn a_sent_message_keeps_no_usable_link_and_old_bodies_are_purged() {
    let sink = SmtpSink::start().await;
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let worker = smtp_worker(&w, &sink);
    let mut ask = request("build");
    ask.duration_hours = "2".into();
    let id = loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap();
    w.drain_with(&worker).await;
    w.clock.advance(Duration::minutes(61));
    w.drain_with(&worker).await;

    let reminder = sink
        .messages()
        .into_iter()
        .find(|m| m.subject.contains("goes back"))
        .expect("the reminder arrived");
    let tokens = smtp::links(&reminder.text);
    assert_eq!(tokens.len(), 2, "return and extend");
    let sql = w.sql().await;
    let stored = sql
        .query_one(
            "SELECT body_text || body_html FROM emails WHERE kind = 'reminder' AND loan_id = $1",
            &[&id.0],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    for token in &tokens {
        assert!(
            !stored.contains(token.as_str()),
            "the stored copy holds a usable link"
        );
    }
    assert_eq!(
        stored.matches(server::mail::REDACTED).count(),
        4,
        "two links, text and HTML"
    );
    // The person's own copy still works.
    let view = app::server::links::inspect(&mut conn, &tokens[0], w.clock.now())
        .await
        .unwrap();
    assert_eq!(view.status, app::types::LinkStatus::Valid);

    // After the retention period, the text is gone; the row stays so nothing is sent twice.
    let purged = server::jobs::purge_mail_before(&mut conn, w.clock.now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 2, "the ready message and the reminder");
    let left: Vec<(String, String)> = sql
        .query("SELECT subject, body_text FROM emails ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(left
        .iter()
        .all(|(subject, body)| !subject.is_empty() && body == server::jobs::PURGED));
}

/// Every kind of message, drafted from a real loan in the state that sends it and rendered with
/// strict templates: a template that uses a variable its message does not supply fails here.
#[tokio::test]
async fn every_message_renders_from_the_context_its_job_builds() {
    use app::types::{LoanState, MailKind};
    use server::mail::{messages, MailJob, Templates};

    let w = World::new().await;
    let mut conn = w.conn().await;
    let mut spec = w.pool_spec("build");
    spec.grace_period_minutes = 60;
    w.add_pool(spec).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let id = w.borrow(&dana, "build").await;
    w.drain().await;
    let sql = w.sql().await;
    let deadline = loans::context(&mut conn, id).await.unwrap().loan.expires_at;
    let templates = Templates::load().unwrap();
    let now = w.clock.now();
    let set_state = async |state: LoanState| {
        sql.execute(
            "UPDATE loans SET state = $2, expired_at = now() WHERE id = $1",
            &[&id.0, &state.as_str()],
        )
        .await
        .unwrap();
    };
    for kind in MailKind::ALL {
        let (state, about, to_user) = match kind {
            MailKind::Reminder => (LoanState::Ready, deadline, None),
            MailKind::Expired => (LoanState::Expired, deadline, None),
            MailKind::NeedsApproval => (LoanState::Requested, None, Some(rex.id)),
            MailKind::TaskOpened => (LoanState::Provisioning, None, Some(rex.id)),
            MailKind::Approved => (LoanState::Waiting, None, None),
            MailKind::Digest => (LoanState::Ready, Some(now + Duration::hours(12)), None),
            MailKind::HealthFailed => {
                // The machine the loan used, taken out by a failed health check at `now`.
                sql.execute(
                    "UPDATE machines SET state = 'broken', state_reason = 'Health check failed: no session', health_failed_at = $1::text::timestamptz",
                    &[&now.to_rfc3339()],
                )
                .await
                .unwrap();
                (LoanState::Returned, Some(now), None)
            }
            _ => (LoanState::Ready, None, None),
        };
        set_state(state).await;
        let job = MailJob {
            kind: *kind,
            loan_id: (!matches!(kind, MailKind::Digest | MailKind::HealthFailed)).then_some(id),
            about,
            offset_minutes: None,
            to_user,
        };
        let draft = messages::draft(&mut conn, &job, "http://loaner.test", now)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{kind}: nothing to send"));
        assert!(!draft.recipients.is_empty(), "{kind}");
        let composed = templates
            .render(*kind, draft.subject, "http://loaner.test", draft.context)
            .unwrap_or_else(|e| panic!("{kind}: {e:#}"));
        assert!(!composed.text.trim().is_empty(), "{kind}");
        assert!(composed.html.contains("<html"), "{kind}");
        assert!(
            !composed.text.contains("none"),
            "{kind}: an empty value printed:\n{}",
            composed.text
        );
    }
}

#[tokio::test]
async fn the_development_mailbox_keeps_its_links_because_it_is_where_they_are_read() {
    let w = World::new().await;
    let mut conn = w.conn().await;
    w.add_pool(w.pool_spec("build")).await;
    let dana = w.developer("Dana").await;
    let mut ask = request("build");
    ask.duration_hours = "2".into();
    loans::request(&mut conn, &dana, &ask, w.clock.now())
        .await
        .unwrap();
    w.drain().await;
    w.clock.advance(Duration::minutes(61));
    w.drain().await;
    let stored: String = w
        .sql()
        .await
        .query_one("SELECT body_text FROM emails WHERE kind = 'reminder'", &[])
        .await
        .unwrap()
        .get(0);
    let tokens = smtp::links(&stored);
    assert_eq!(tokens.len(), 2, "{stored}");
    let view = app::server::links::inspect(&mut conn, &tokens[0], w.clock.now())
        .await
        .unwrap();
    assert_eq!(view.status, app::types::LinkStatus::Valid);
}
