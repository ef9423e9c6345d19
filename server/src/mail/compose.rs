//! Rendering messages. Templates are files next to this one, compiled into the binary; HTML
//! is auto-escaped, and a variable a template uses but the message does not supply is an error
//! (strict undefined), never an empty string.

use anyhow::Context;
use app::types::{LoanId, MailKind};
use minijinja::{Environment, UndefinedBehavior, Value};
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
    pub id: LoanId,
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
    "machine_action.txt",
    "machine_action.html",
    "health_failed.txt",
    "health_failed.html",
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
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("mail template {name} does not parse"))?;
        }
        Ok(Self { env })
    }

    /// Renders the text and HTML bodies of `kind` with `context`, plus the `subject` and the
    /// `site_url` every layout shows.
    pub fn render(
        &self,
        kind: MailKind,
        subject: String,
        site_url: &str,
        context: Value,
    ) -> anyhow::Result<Composed> {
        let context =
            minijinja::context! { subject => subject.clone(), site_url => site_url, ..context };
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
            id: LoanId(7),
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

    fn reminder(extend_url: Option<&str>) -> Value {
        minijinja::context! {
            loan => to_value(facts()),
            time_left => "in 1 h",
            return_url => "http://loaner.test/l/RET",
            extend_url => extend_url,
            extension_label => "1 day",
            extend_refusal => None::<String>,
        }
    }

    #[test]
    fn html_is_escaped() {
        let templates = Templates::load().unwrap();
        let context = minijinja::context! { loan => to_value(facts()) };
        let composed = templates
            .render(MailKind::Ready, "s".into(), "http://loaner.test", context)
            .unwrap();
        assert!(composed.html.contains("<html"));
        assert!(!composed.html.contains("<script>"), "{}", composed.html);
        assert!(composed.text.contains("Dana <script>"), "text stays text");
    }

    #[test]
    fn a_variable_the_message_does_not_supply_is_an_error() {
        let templates = Templates::load().unwrap();
        // The reminder uses `extend_refusal`; leave it out.
        let context = minijinja::context! {
            loan => to_value(facts()),
            time_left => "in 1 h",
            return_url => "http://loaner.test/l/RET",
            extend_url => None::<String>,
            extension_label => "1 day",
        };
        let err = templates
            .render(
                MailKind::Reminder,
                "s".into(),
                "http://loaner.test",
                context,
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains("undefined"), "{err:#}");
    }

    #[test]
    fn the_reminder_offers_both_links() {
        let templates = Templates::load().unwrap();
        let composed = templates
            .render(
                MailKind::Reminder,
                "s".into(),
                "http://loaner.test",
                reminder(Some("http://loaner.test/l/EXT")),
            )
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
