//! The command-line client for borrowers: `loaner login`, `pools`, `borrow`, `loans`, `show`,
//! `extend`, `return`, `cancel`. It talks to a Loaner site's JSON API (`/api/v1`) with a
//! personal API token, kept with the site's address in the user's config directory (mode 0600)
//! or given by `LOANER_URL` and `LOANER_TOKEN`. Human text by default, `--json` for scripts.
//!
//! Exit status: 0 done; 1 failed (the site or the network failed, or the loan failed);
//! 2 refused (not signed in, not allowed, invalid, a policy said no); 3 timed out (`--wait`).
// Printing to the terminal is what the client is for.
#![allow(clippy::print_stdout)]

pub mod admin;
mod store;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use app::types::{LoanDetail, LoanState};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

pub use store::Login;

/// What the client can do.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Remember a Loaner site and your API token (from the API tokens page) for the other
    /// commands. The token is read from LOANER_TOKEN or asked for; it is checked before it is
    /// stored (in your config directory, readable by you only).
    Login {
        /// The site's address, e.g. https://loaner.example.com
        url: String,
    },
    /// The machine types you can borrow, with free machines.
    Pools,
    /// Borrow a machine of POOL (its slug, as `loaner pools` lists).
    Borrow {
        pool: String,
        /// Why you need it (shown to admins and in the history).
        #[arg(long)]
        reason: String,
        /// A bug or ticket the loan is for.
        #[arg(long)]
        bug: Option<String>,
        /// How long, in hours (the pool's default when left out).
        #[arg(long)]
        hours: Option<i32>,
        /// Your SSH public key file (default: ~/.ssh/id_ed25519.pub, then id_ecdsa.pub, id_rsa.pub).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Wait in the pool's line when no machine is free.
        #[arg(long)]
        queue: bool,
        /// Wait until the machine is ready and print how to reach it.
        #[arg(long)]
        wait: bool,
        /// The longest to wait, in seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// Your loans (everyone's with --all, for admins).
    Loans {
        #[arg(long)]
        all: bool,
        /// Only loans in these states (comma-separated), or `active`.
        #[arg(long)]
        state: Option<String>,
    },
    /// One loan with its history and how to reach its machine.
    Show { id: i64 },
    /// Extend a ready loan by its pool's extension.
    Extend { id: i64 },
    /// Give a machine back: it is cleaned and returns to the pool.
    Return { id: i64 },
    /// Call off a loan that is not ready yet.
    Cancel { id: i64 },
    /// Admins: approve a loan waiting for approval.
    Approve {
        id: i64,
        /// Approve for fewer hours than asked.
        #[arg(long)]
        hours: Option<i32>,
    },
    /// Admins: deny a loan waiting for approval; the requester is told why.
    Deny {
        id: i64,
        #[arg(long)]
        reason: String,
    },
}

/// How a client command ended.
#[derive(Debug)]
pub enum Failure {
    /// The site said no (4xx): exit 2.
    Refused(String),
    /// The site or the network failed, or the loan did: exit 1.
    Failed(String),
    /// `--wait` ran out: exit 3.
    TimedOut(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Failed(_) => ExitCode::from(1),
            Failure::Refused(_) => ExitCode::from(2),
            Failure::TimedOut(_) => ExitCode::from(3),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Refused(m) | Failure::Failed(m) | Failure::TimedOut(m) => m,
        }
    }
}

/// A site and a token to call it with.
pub struct Api {
    http: reqwest::Client,
    login: Login,
}

impl Api {
    pub fn new(login: Login) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("loaner-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| Failure::Failed(format!("cannot start an HTTP client: {e}")))?;
        Ok(Self { http, login })
    }

    /// Calls `path` and returns its JSON, or the site's refusal as a [`Failure`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.login.url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&self.login.token)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Failed(format!("cannot reach {url}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::Failed(format!("{url}: the answer broke off: {e}")))?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            Failure::Failed(format!(
                "{url} answered {status} with something that is not Loaner's JSON"
            ))
        })?;
        if status.is_success() {
            return Ok(value);
        }
        let error = &value["error"];
        let message = error["message"]
            .as_str()
            .unwrap_or("no reason given")
            .to_owned();
        let mut text = match error["rule"].as_str() {
            Some(rule) => format!("refused ({rule}): {message}"),
            None => message,
        };
        for field in error["fields"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n  {}: {}",
                field["field"].as_str().unwrap_or("?"),
                field["message"].as_str().unwrap_or("")
            ));
        }
        Err(match status {
            s if s.is_client_error() => Failure::Refused(text),
            _ => Failure::Failed(text),
        })
    }
}

/// Runs a client command; `json` prints the site's JSON instead of text.
pub async fn run(command: ClientCommand, json_output: bool) -> Result<(), Failure> {
    if let ClientCommand::Login { url } = &command {
        return login(url, json_output).await;
    }
    let login = store::load()?;
    check_url(&login.url)?;
    let api = Api::new(login)?;
    let print = |value: &Value, human: String| {
        if json_output {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{human}");
        }
    };
    match command {
        ClientCommand::Login { .. } => Ok(()),
        ClientCommand::Approve { id, hours } => {
            let (value, human) = admin::approve(&api, id, hours).await?;
            print(&value, human);
            Ok(())
        }
        ClientCommand::Deny { id, reason } => {
            let (value, human) = admin::deny(&api, id, &reason).await?;
            print(&value, human);
            Ok(())
        }
        ClientCommand::Pools => {
            let pools = api.call(Method::GET, "/api/v1/pools", None).await?;
            print(&pools, text::pools(&pools));
            Ok(())
        }
        ClientCommand::Loans { all, state } => {
            let mut path = format!(
                "/api/v1/loans?limit=100&scope={}",
                if all { "all" } else { "mine" }
            );
            if let Some(state) = state {
                path.push_str(&format!(
                    "&state={}",
                    app::rules::paths::query_value(&state)
                ));
            }
            let loans = api.call(Method::GET, &path, None).await?;
            print(&loans, text::loans(&loans));
            Ok(())
        }
        ClientCommand::Show { id } => {
            let loan = api
                .call(Method::GET, &format!("/api/v1/loans/{id}"), None)
                .await?;
            print(&loan, text::loan(&detail(&loan)?));
            Ok(())
        }
        ClientCommand::Extend { id }
        | ClientCommand::Return { id }
        | ClientCommand::Cancel { id } => {
            let verb = match command {
                ClientCommand::Extend { .. } => "extend",
                ClientCommand::Return { .. } => "return",
                _ => "cancel",
            };
            let loan = api
                .call(Method::POST, &format!("/api/v1/loans/{id}/{verb}"), None)
                .await?;
            let detail = detail(&loan)?;
            let done = match verb {
                "extend" => format!(
                    "Loan {id} extended: it now ends {}.\n",
                    detail
                        .summary
                        .expires_at
                        .map(text::when)
                        .unwrap_or_else(|| "later".into())
                ),
                "return" => format!(
                    "Loan {id} returned: the machine is being cleaned for the next person.\n"
                ),
                _ => format!("Loan {id} cancelled.\n"),
            };
            print(&loan, done);
            Ok(())
        }
        ClientCommand::Borrow {
            pool,
            reason,
            bug,
            hours,
            key,
            queue,
            wait,
            timeout,
        } => {
            let key = store::public_key(key)?;
            let body = json!({
                "pool": pool, "reason": reason, "bug_ref": bug, "duration_hours": hours,
                "ssh_public_key": key, "wait_in_line": queue,
            });
            let loan = api.call(Method::POST, "/api/v1/loans", Some(body)).await?;
            let first = detail(&loan)?;
            if !wait {
                print(&loan, text::borrowed(&first));
                return Ok(());
            }
            let (value, last) =
                follow(&api, first, Duration::from_secs(timeout), json_output).await?;
            print(&value, text::loan(&last));
            match last.summary.state {
                LoanState::Ready => Ok(()),
                state if moving(state) => Err(Failure::TimedOut(format!(
                    "loan {} is still {} after {timeout} s; follow it with `loaner show {}`",
                    last.summary.id,
                    state.label().to_lowercase(),
                    last.summary.id
                ))),
                state => Err(Failure::Failed(format!(
                    "loan {} ended {}: see `loaner show {}`",
                    last.summary.id,
                    state.label().to_lowercase(),
                    last.summary.id
                ))),
            }
        }
    }
}

fn detail(value: &Value) -> Result<LoanDetail, Failure> {
    serde_json::from_value(value.clone())
        .map_err(|e| Failure::Failed(format!("the site's answer is not a loan this client understands ({e}); is the client older than the site?")))
}

/// States a loan leaves by itself.
fn moving(state: LoanState) -> bool {
    matches!(
        state,
        LoanState::Requested | LoanState::Approved | LoanState::Waiting | LoanState::Provisioning
    )
}

/// Follows a loan until it is ready (or ends, or `timeout` runs out), with a progress bar on a
/// terminal.
async fn follow(
    api: &Api,
    mut loan: LoanDetail,
    timeout: Duration,
    quiet: bool,
) -> Result<(Value, LoanDetail), Failure> {
    let started = Instant::now();
    let bar = (!quiet).then(text::progress_bar);
    let mut value = Value::Null;
    loop {
        if let Some(bar) = &bar {
            text::show_progress(bar, &loan);
        }
        if !moving(loan.summary.state) {
            break;
        }
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        // The site holds each call until the loan moves on; asking again every 2 s lets the
        // bar follow each provisioning step.
        let wait = left.as_secs().clamp(1, 2);
        value = api
            .call(
                Method::GET,
                &format!("/api/v1/loans/{}?wait={wait}", loan.summary.id),
                None,
            )
            .await?;
        loan = detail(&value)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if value.is_null() {
        value = serde_json::to_value(&loan).unwrap_or_default();
    }
    Ok((value, loan))
}

async fn login(url: &str, json_output: bool) -> Result<(), Failure> {
    let url = url.trim().trim_end_matches('/').to_owned();
    check_url(&url)?;
    let token = match std::env::var("LOANER_TOKEN") {
        Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
        _ => store::ask_token(&url)?,
    };
    let login = Login { url, token };
    let api = Api::new(login.clone())?;
    let me = api.call(Method::GET, "/api/v1/me", None).await?;
    let path = store::save(&login)?;
    if json_output {
        println!("{}", serde_json::to_string_pretty(&me).unwrap_or_default());
    } else {
        println!(
            "Signed in to {} as {} ({}), with the token “{}”. Saved in {}.",
            login.url,
            me["name"].as_str().unwrap_or("?"),
            me["email"].as_str().unwrap_or("?"),
            me["token"]["name"].as_str().unwrap_or("?"),
            path.display()
        );
    }
    Ok(())
}

/// The token goes with every call: only over https, or plain http to this machine.
fn check_url(url: &str) -> Result<(), Failure> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Failure::Refused(format!(
            "{url:?} is not a web address (https://…)"
        )));
    };
    let host = rest.split('/').next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(())
    } else {
        Err(Failure::Refused(format!(
            "{url} is plain http: your token would cross the network unencrypted; use its https address"
        )))
    }
}

/// Runs `loaner action --remote`: through the site's API with the stored login.
pub async fn remote_action(
    action: &str,
    host: &str,
    reason: &str,
    timeout: u64,
    json_output: bool,
) -> Result<(), Failure> {
    let login = store::load()?;
    check_url(&login.url)?;
    let api = Api::new(login)?;
    let (value, human) = admin::action(&api, action, host, reason, timeout).await?;
    if json_output {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{human}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn tokens_go_over_https_or_to_this_machine_only() {
        for url in [
            "https://loaner.example.com",
            "http://127.0.0.1:3000",
            "http://localhost",
            "http://[::1]:8080/",
        ] {
            assert!(check_url(url).is_ok(), "{url}");
        }
        for url in [
            "http://loaner.example.com",
            "http://127.0.0.1.evil.example:3000",
            "http://localhost@evil.example",
            "ftp://loaner.example.com",
            "loaner.example.com",
        ] {
            assert!(check_url(url).is_err(), "{url}");
        }
    }
}
