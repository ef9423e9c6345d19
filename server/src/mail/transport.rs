//! Handing messages over: to an SMTP server (none, STARTTLS or implicit TLS, with optional
//! credentials), or to the development mailbox (the message already sits in the database).

use std::time::Duration;

use anyhow::Context;
use app::server::models::Email;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, MailTransport, TlsMode};

pub enum Mailer {
    Mailbox,
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        if config.mail_transport() == MailTransport::Mailbox {
            return Ok(Self::Mailbox);
        }
        let mail = &config.mail;
        let builder = match mail.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mail.host),
            TlsMode::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&mail.host)
                    .with_context(|| format!("cannot use {} for STARTTLS", mail.host))?
            }
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&mail.host)
                .with_context(|| format!("cannot use {} for TLS", mail.host))?,
        };
        let mut builder = builder
            .port(mail.port())
            .timeout(Some(Duration::from_secs(mail.timeout_secs)));
        if let (Some(user), Some(password)) = (&mail.username, &mail.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = mail
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from is not an address: {e}"))?;
        Ok(Self::Smtp {
            transport: builder.build(),
            from,
        })
    }

    /// `smtp` or `mailbox`, as recorded on the message.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::Smtp { .. } => "smtp",
        }
    }

    /// Whether messages leave Loaner (SMTP); the development mailbox keeps them here, where
    /// they are read.
    pub fn delivers(&self) -> bool {
        matches!(self, Self::Smtp { .. })
    }

    /// Sends the message; an error means it was not accepted and should be retried.
    pub async fn send(&self, email: &Email) -> Result<(), String> {
        let Self::Smtp { transport, from } = self else {
            return Ok(());
        };
        let mut builder = Message::builder()
            .from(from.clone())
            .subject(email.subject.clone());
        for to in email.recipients() {
            let mailbox: Mailbox = to
                .parse()
                .map_err(|e| format!("recipient {to} is not an address: {e}"))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                email.body_text.clone(),
                email.body_html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server did not take the message: {e}"))
    }
}
