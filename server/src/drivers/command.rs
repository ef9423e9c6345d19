//! The `command` driver: runs a site-provided executable (a playbook wrapper, a vendor tool)
//! for a step, with the machine and loan in `LOANER_*` environment variables and a time limit.
//! Its combined stdout and stderr become the step's output in the loan history. Only programs
//! inside `commands_dir` run, checked again here just before each run; pools and machines add
//! only `SITE_*` variables to the environment (a step whose settings hold anything else fails).

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use app::rules::validate;
use app::server::commands::CommandsDir;
use app::types::{Action, DriverKind, Step};

use super::{ActionOutput, Driver, DriverError, Target};

/// Output beyond this is cut, keeping the end (where errors are).
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

pub struct CommandDriver {
    /// The only folder commands may run from.
    pub commands: CommandsDir,
    pub default_timeout: Duration,
}

/// The environment a step's command sees, or why the step must not run: a setting that is not
/// a site variable (saving refuses them; one that got into the database anyway — an old row, a
/// hand edit — would change how the script runs, so the step fails naming it).
fn environment(
    action: Action,
    step: &Step,
    target: &Target<'_>,
) -> Result<Vec<(String, String)>, DriverError> {
    let machine = target.machine;
    let pool = target.pool;
    let mut env = vec![
        ("LOANER_ACTION", action.as_str().to_owned()),
        ("LOANER_STEP", step.name.clone()),
        ("LOANER_PHASE", target.phase.as_str().to_owned()),
        ("LOANER_ATTEMPT", target.attempt.to_string()),
        ("LOANER_MACHINE_ID", machine.id.to_string()),
        ("LOANER_MACHINE_FQDN", machine.fqdn.clone()),
        ("LOANER_POOL", pool.slug.clone()),
        ("LOANER_PLATFORM", pool.platform.clone()),
        ("LOANER_IMAGE_NAME", pool.image_name.clone()),
        ("LOANER_IMAGE_VERSION", pool.image_version.clone()),
        ("LOANER_LOGIN_USER", pool.login_user.clone()),
    ];
    if let Some(loan) = target.loan {
        env.push(("LOANER_LOAN_ID", loan.id.to_string()));
        env.push(("LOANER_SSH_PUBLIC_KEY", loan.ssh_public_key.clone()));
        if let Some(expires) = loan.expires_at {
            env.push(("LOANER_EXPIRES_AT", expires.to_rfc3339()));
        }
    }
    if let Some(user) = target.borrower {
        env.push(("LOANER_BORROWER_EMAIL", user.email.clone()));
        env.push(("LOANER_BORROWER_NAME", user.name.clone()));
    }
    let mut env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    // The site's own settings (`{"env": {"SITE_BMC_HOST": "…"}}`) for its scripts: the pool's,
    // then the machine's, so a machine's value wins (the last of equal names is the one set).
    for (owner, settings) in [
        ("pool", &pool.driver_settings),
        ("machine", &machine.driver_settings),
    ] {
        let extra = settings.get("env").and_then(|e| e.as_object());
        for (key, value) in extra.into_iter().flatten() {
            let value = value.as_str().ok_or_else(|| {
                DriverError::Config(format!(
                    "the {owner}'s driver setting env.{} is not text. The step did not run.",
                    key.escape_debug()
                ))
            })?;
            let usable =
                validate::site_variable_name(key).and_then(|()| validate::clean(value, false));
            if let Err(why) = usable {
                return Err(DriverError::Config(format!(
                    "the {owner}'s driver setting env.{} cannot be passed to a script: {why} The step did not run.",
                    key.escape_debug()
                )));
            }
            env.push((key.clone(), value.to_owned()));
        }
    }
    Ok(env)
}

#[async_trait::async_trait]
impl Driver for CommandDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Command
    }

    async fn run(
        &self,
        action: Action,
        step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        let command = step.command.as_deref().ok_or_else(|| {
            DriverError::Config(format!("step \"{}\" names no command to run", step.name))
        })?;
        let path = self
            .commands
            .resolve(command)
            .map_err(DriverError::Config)?;
        let what = path
            .file_name()
            .map_or_else(|| command.to_owned(), |n| n.to_string_lossy().into_owned());
        let timeout = step
            .timeout_secs
            .map_or(self.default_timeout, |s| Duration::from_secs(u64::from(s)));

        // One pipe for stdout and stderr keeps their lines in the order they were written.
        let (reader, writer) = std::io::pipe().map_err(|e| DriverError::Start {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let writer_err = writer.try_clone().map_err(|e| DriverError::Start {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let mut cmd = tokio::process::Command::new(&path);
        cmd.env_clear()
            .envs(
                ["PATH", "HOME", "LANG", "TZ"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(environment(action, step, target)?)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer_err))
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| DriverError::Start {
            what: what.clone(),
            message: e.to_string(),
        })?;
        // Our copies of the pipe's write end must go, or the reader never sees the end.
        drop(cmd);
        let pid = child.id();
        let collect = tokio::task::spawn_blocking(move || read_tail(reader));

        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => status.map_err(|e| DriverError::Start {
                what: what.clone(),
                message: e.to_string(),
            })?,
            Err(_) => {
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.wait().await;
                let output = collect.await.unwrap_or_default();
                return Err(DriverError::Timeout {
                    what,
                    secs: timeout.as_secs(),
                    output,
                });
            }
        };
        // Children the script left running would hold the pipe open: stop them too.
        if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let output = collect.await.unwrap_or_default();
        if status.success() {
            Ok(ActionOutput::text(output))
        } else {
            let status = match status.code() {
                Some(code) => format!("status {code}"),
                None => "a signal".to_owned(),
            };
            Err(DriverError::Exit {
                what,
                status,
                output,
            })
        }
    }
}

/// Reads to the end, keeping at most the last `MAX_OUTPUT_BYTES`.
fn read_tail(mut reader: impl Read) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > MAX_OUTPUT_BYTES * 2 {
                    kept.drain(..kept.len() - MAX_OUTPUT_BYTES);
                    cut = true;
                }
            }
        }
    }
    if kept.len() > MAX_OUTPUT_BYTES {
        kept.drain(..kept.len() - MAX_OUTPUT_BYTES);
        cut = true;
    }
    let text = String::from_utf8_lossy(&kept).into_owned();
    if cut {
        format!("[… earlier output cut …]\n{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::read_tail;

    #[test]
    fn long_output_keeps_its_end() {
        let text = format!("{}END", "x".repeat(300_000));
        let kept = read_tail(text.as_bytes());
        assert!(kept.starts_with("[… earlier output cut …]"));
        assert!(kept.ends_with("END"));
        assert!(kept.len() < 70_000);
    }
}
