//! `loaner action ACTION HOST [--wait]`: asks for an action on a machine exactly as the machine
//! page does (`app::server::machine_actions::request`: checked, audited, queued as a job for the
//! workers), then, with `--wait`, follows it and prints what the driver printed. The exit status
//! says how it went: 0 done, 1 refused or failed, 2 still running when the wait ran out.

use std::time::Duration;

use anyhow::{bail, Context};
use app::server::machine_actions::{self, ActionError, Requester};
use app::server::Clock;
use app::types::{Action, ActionState};

use crate::config::Config;
use crate::runtime::Database;

/// How `loaner action` ended.
pub enum Outcome {
    Done,
    Failed,
    StillRunning,
}

pub async fn run(
    config: &Config,
    action: &str,
    host: &str,
    reason: &str,
    wait: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let Some(action) = Action::parse(action.trim()) else {
        let known: Vec<&str> = [
            Action::Status,
            Action::PowerOn,
            Action::PowerOff,
            Action::Reboot,
            Action::Reimage,
        ]
        .iter()
        .map(|a| a.as_str())
        .collect();
        bail!(
            "unknown action \"{action}\"; use one of: {}",
            known.join(", ")
        );
    };
    let db = Database::open(config, 2).await?;
    let result = follow(&db, action, host, reason, wait).await;
    db.close();
    result
}

/// What the action printed goes to stdout (for scripts); the progress to stderr.
fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

fn who() -> String {
    // From the process's user id, not $USER, which the caller sets as they like.
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name);
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    format!("command line ({user}@{host})")
}

async fn follow(
    db: &Database,
    action: Action,
    host: &str,
    reason: &str,
    wait: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let mut conn = db.pool.get().await.context("no database connection")?;
    let clock = Clock::system();
    let Some(machine) = machine_actions::machine_by_name(&mut conn, host).await? else {
        bail!("there is no machine named {host}");
    };
    let id = match machine_actions::request(
        &mut conn,
        Requester::CommandLine(who()),
        machine,
        action,
        reason,
        clock.now(),
    )
    .await
    {
        Ok(id) => id,
        Err(ActionError::Refused(field, why)) => {
            eprintln!("loaner: refused ({field}): {why}");
            return Ok(Outcome::Failed);
        }
        Err(other) => return Err(other.into()),
    };
    let Some(limit) = wait else {
        out(&format!(
            "Queued action #{id}: {} of {host}.",
            action.label().to_lowercase()
        ));
        return Ok(Outcome::Done);
    };
    eprintln!(
        "Action #{id}: {} of {host}; waiting for a worker…",
        action.label().to_lowercase()
    );
    let started = std::time::Instant::now();
    let mut said_running = false;
    loop {
        let record = machine_actions::find(&mut conn, id)
            .await?
            .context("the action disappeared")?;
        let row = record.row();
        match row.state {
            ActionState::Succeeded => {
                out(&row.output);
                eprintln!(
                    "Done: {} of {host} through {}.",
                    action.label().to_lowercase(),
                    row.driver.label()
                );
                return Ok(Outcome::Done);
            }
            ActionState::Failed => {
                if !row.output.is_empty() {
                    out(&row.output);
                }
                eprintln!("loaner: failed: {}", row.error.unwrap_or_default());
                return Ok(Outcome::Failed);
            }
            ActionState::Running if !said_running => {
                eprintln!("Running through {}…", row.driver.label());
                said_running = true;
            }
            ActionState::Queued | ActionState::Running => {}
        }
        if started.elapsed() >= limit {
            eprintln!(
                "loaner: action #{id} is still {} after {} s (is a worker running? `loaner serve` or `loaner worker`)",
                row.state.label().to_lowercase(),
                limit.as_secs()
            );
            return Ok(Outcome::StillRunning);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
