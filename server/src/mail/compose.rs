//! Rendering messages. Templates are files next to this one, compiled into the binary; HTML
//! is auto-escaped.

use anyhow::Context;
use app::types::MailKind;
use minijinja::{Environment, Value};
use serde::Serialize;

/// A rendered message.
#[derive(Clone, Debug)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What every loan message shows about its loan.
#[derive(Clone, Debug, Serialize)]
pub struct LoanFacts {
    pub id: i64,
    pub url: String,
    pub pool_name: String,
    pub fqdn: String,
    pub borrower_name: String,
    pub reason: String,
    pub bug: Option<String>,
    /// Formatted, in UTC.
    pub expires_at: Option<String>,
    pub ssh_command: String,
}

macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "layout.html",
    "macros.html",
    "ready.txt",
    "ready.html",
    "reminder.txt",
    "reminder.html",
    "extended.txt",
    "extended.html",
    "returned.txt",
    "returned.html",
    "expired.txt",
    "expired.html",
    "reclaimed.txt",
    "reclaimed.html",
    "provisioning_failed.txt",
    "provisioning_failed.html",
    "cleanup_failed.txt",
    "cleanup_failed.html",
    "digest.txt",
    "digest.html",
    "needs_approval.txt",
    "needs_approval.html",
    "approved.txt",
    "approved.html",
    "denied.txt",
    "denied.html",
    "task_opened.txt",
    "task_opened.html",
];

/// A template value from anything serialisable.
pub fn to_value<T: Serialize>(value: T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("mail template {name} does not parse"))?;
        }
        Ok(Self { env })
    }

    /// Renders the text and HTML bodies of `kind` with `context` (which must contain
    /// `subject` and `site_url`).
    pub fn render(
        &self,
        kind: MailKind,
        subject: String,
        context: Value,
    ) -> anyhow::Result<Composed> {
        let context = minijinja::context! { subject => subject.clone(), ..context };
        let render = |ext: &str| -> anyhow::Result<String> {
            let name = format!("{}.{ext}", kind.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&context))
                .with_context(|| format!("rendering {name}"))
        };
        Ok(Composed {
            text: render("txt")?,
            html: render("html")?,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> LoanFacts {
        LoanFacts {
            id: 7,
            url: "http://loaner.test/loans/7".into(),
            pool_name: "Debian 12 build machine".into(),
            fqdn: "deb-01.test".into(),
            borrower_name: "Dana <script>".into(),
            reason: "Repro".into(),
            bug: Some("123".into()),
            expires_at: Some("2026-11-22 12:00 UTC".into()),
            ssh_command: "ssh builder@deb-01.test".into(),
        }
    }

    #[test]
    fn every_kind_renders_text_and_html() {
        let templates = Templates::load().unwrap();
        for kind in MailKind::ALL {
            let context = minijinja::context! {
                site_url => "http://loaner.test",
                loan => to_value(facts()),
                time_left => "in 1 h",
                return_url => "http://loaner.test/l/r",
                extend_url => "http://loaner.test/l/e",
                extension_label => "1 day",
                failure => "exited with status 3",
                deadline => "2026-11-22 12:00 UTC",
                loans => to_value(vec![facts()]),
                since => "a", until => "b",
            };
            let composed = templates.render(*kind, "Subject".into(), context).unwrap();
            assert!(!composed.text.trim().is_empty(), "{kind}");
            assert!(composed.html.contains("<html"), "{kind}");
            assert!(
                !composed.html.contains("<script>"),
                "{kind}: HTML is escaped"
            );
        }
    }

    #[test]
    fn the_reminder_offers_both_links() {
        let templates = Templates::load().unwrap();
        let context = minijinja::context! {
            site_url => "http://loaner.test",
            loan => to_value(facts()),
            time_left => "in 1 h",
            return_url => "http://loaner.test/l/RET",
            extend_url => "http://loaner.test/l/EXT",
            extension_label => "1 day",
        };
        let composed = templates
            .render(MailKind::Reminder, "s".into(), context)
            .unwrap();
        assert!(composed.text.contains("http://loaner.test/l/RET"));
        assert!(composed
            .text
            .contains("Extend it by 1 day:\nhttp://loaner.test/l/EXT"));
        // minijinja escapes `/` in HTML as `&#x2f;`, which browsers and mail clients decode.
        let html = composed.html.replace("&#x2f;", "/");
        assert!(html.contains("href=\"http://loaner.test/l/EXT\""), "{html}");
        assert!(composed.html.contains("Return now"));
    }
}
