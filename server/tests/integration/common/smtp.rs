//! A real SMTP server for tests: Python's aiosmtpd, storing each message it accepts in a
//! Maildir that the test reads back. `SMTP_SINK_PYTHON` names the Python that has aiosmtpd
//! (scripts/test installs it in a virtualenv under target/).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    process: Option<tokio::process::Child>,
}

fn python() -> String {
    std::env::var("SMTP_SINK_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    pub async fn start() -> Self {
        let mut sink = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            process: None,
        };
        sink.resume().await;
        sink
    }

    /// Starts (again) on the same port and Maildir.
    pub async fn resume(&mut self) {
        let child = tokio::process::Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd (pip install aiosmtpd, or set SMTP_SINK_PYTHON)");
        self.process = Some(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if let Some(status) = self
                .process
                .as_mut()
                .and_then(|p| p.try_wait().ok().flatten())
            {
                panic!(
                    "aiosmtpd exited at start ({status}); is aiosmtpd installed for {}?",
                    python()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server: an outage.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            child.kill().await.unwrap();
            child.wait().await.unwrap();
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let new = self.dir.path().join("maildir/new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .iter()
            .map(|path| {
                let raw = std::fs::read(path).unwrap();
                let parsed = mailparse::parse_mail(&raw).unwrap();
                let header = |name: &str| {
                    use mailparse::MailHeaderMap;
                    parsed.headers.get_first_value(name).unwrap_or_default()
                };
                let mut text = String::new();
                let mut html = String::new();
                for part in parsed.subparts.iter().chain(std::iter::once(&parsed)) {
                    match part.ctype.mimetype.as_str() {
                        "text/plain" => text = part.get_body().unwrap(),
                        "text/html" => html = part.get_body().unwrap(),
                        _ => {}
                    }
                }
                Received {
                    to: header("To"),
                    subject: header("Subject"),
                    text,
                    html,
                }
            })
            .collect()
    }

    /// The SMTP settings that reach this server.
    pub fn config(&self) -> server::config::Config {
        let mut config = server::config::Config::default();
        config.mail.transport = Some(server::config::MailTransport::Smtp);
        config.mail.host = "127.0.0.1".to_owned();
        config.mail.port = Some(self.port);
        config.mail.tls = server::config::TlsMode::None;
        config.mail.timeout_secs = 5;
        config.mail.from = "Loaner <loaner@loaner.test>".to_owned();
        config
    }
}

/// The one-click links (`…/l/<token>`) in a message body.
pub fn links(body: &str) -> Vec<String> {
    body.split_whitespace()
        .flat_map(|word| word.split('"'))
        .filter_map(|word| {
            word.find("/l/").map(|i| {
                word[i + 3..]
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect::<String>()
            })
        })
        .filter(|token| token.len() == 64)
        .collect()
}
