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
