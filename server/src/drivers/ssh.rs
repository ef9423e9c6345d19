//! The `ssh` driver: acts through the machine's own sshd with two keys of Loaner's.
//! - The power key is limited on the machine by a forced command (`command="…",no-pty` in its
//!   `authorized_keys` line), which gets `status`, `reboot` or `poweroff` in
//!   `SSH_ORIGINAL_COMMAND`; `status` prints the boot id (`/proc/sys/kernel/random/boot_id`), so
//!   a reboot is confirmed by a new one. `docs/drivers/loaner-power` is such a script.
//! - The key-management key installs the borrower's key for the loan (marked `loaner-loan-ID`)
//!   and removes exactly that line at the end; the key travels on stdin, never in a command.
//!
//! Host keys are checked against the site's `known_hosts` (`[drivers] known_hosts`); without
//! one the driver refuses to connect rather than trust whatever answers.

use std::sync::Arc;
use std::time::Duration;

use app::types::{Action, DriverKind, SshSettings, Step};

use super::tool::{poll_until, Call, PrivateDir};
use super::{ActionOutput, Credential, Driver, DriverError, Hardware, Target};

pub struct SshDriver {
    hw: Arc<Hardware>,
}

/// Where and as whom to connect, and with which key.
struct Login<'a> {
    host: String,
    port: u16,
    user: String,
    key: &'a Credential,
    settings: SshSettings,
}

const DEFAULT_SETTLE_SECS: u32 = 10;
const DEFAULT_READY_SECS: u32 = 600;

impl SshDriver {
    pub fn new(hw: Arc<Hardware>) -> Self {
        Self { hw }
    }

    fn login<'a>(&'a self, target: &Target<'_>, power: bool) -> Result<Login<'a>, DriverError> {
        let settings = target.settings()?.ssh.ok_or_else(|| {
            DriverError::Config(format!(
                "{} has no ssh settings (driver settings \"ssh\")",
                target.machine.fqdn
            ))
        })?;
        let (field, name) = if power {
            match settings.power_credentials.as_deref() {
                Some(name) => ("ssh.power_credentials", Some(name)),
                None => ("ssh.credentials", settings.credentials.as_deref()),
            }
        } else {
            ("ssh.credentials", settings.credentials.as_deref())
        };
        let host = settings
            .host
            .clone()
            .unwrap_or_else(|| target.machine.fqdn.clone());
        let key = self.hw.credential(field, name, &host)?;
        Ok(Login {
            host,
            port: settings.port.unwrap_or(22),
            user: key
                .username
                .clone()
                .or_else(|| settings.user.clone())
                .unwrap_or_else(|| "root".into()),
            key,
            settings,
        })
    }

    /// Runs `command` on the machine (as the forced command sees it, for the power key).
    async fn ssh(
        &self,
        login: &Login<'_>,
        command: &str,
        stdin: Option<String>,
    ) -> Result<String, DriverError> {
        let known_hosts = self.hw.known_hosts.as_ref().ok_or_else(|| {
            DriverError::Config(
                "no known_hosts file is configured ([drivers] known_hosts): Loaner does not trust a host key it has not been given".into(),
            )
        })?;
        let private = PrivateDir::new()?;
        let key_file = match (&login.key.private_key_file, &login.key.private_key) {
            (Some(path), _) => path.clone(),
            (None, Some(key)) => {
                let mut text = key.0.trim().to_owned();
                text.push('\n');
                private.write("key", &text)?
            }
            (None, None) => {
                return Err(DriverError::Config(
                    "the ssh credential has neither private_key nor private_key_file".into(),
                ))
            }
        };
        let timeout = self.hw.call_timeout;
        let mut call = Call::new("ssh", timeout).args([
            "-F".to_owned(),
            "/dev/null".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "IdentityAgent=none".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "-o".into(),
            format!("ConnectTimeout={}", timeout.as_secs().clamp(1, 30)),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-i".into(),
            key_file.display().to_string(),
            "-p".into(),
            login.port.to_string(),
            "-l".into(),
            login.user.clone(),
            "--".into(),
            login.host.clone(),
            command.to_owned(),
        ]);
        if let Some(text) = stdin {
            call = call.stdin(text);
        }
        let result = call.run().await;
        drop(private);
        result.map_err(|err| match err {
            DriverError::Exit { status, output, .. } if status.contains("255") => {
                DriverError::Failed {
                    message: format!(
                        "ssh to {}@{}:{} failed (refused, unreachable, or the host key is not the one in known_hosts)",
                        login.user, login.host, login.port
                    ),
                    output,
                }
            }
            other => other,
        })
    }

    /// The boot id the power script prints for `status`.
    async fn boot_id(&self, login: &Login<'_>) -> Result<String, DriverError> {
        let out = self.ssh(login, "status", None).await?;
        Ok(out.trim().to_owned())
    }

    async fn reboot(&self, target: &Target<'_>) -> Result<ActionOutput, DriverError> {
        let login = self.login(target, true)?;
        let before = self.boot_id(&login).await?;
        // The connection may drop as the machine goes down: what counts is what follows.
        let asked = self.ssh(&login, "reboot", None).await;
        let asked_text = match &asked {
            Ok(out) => out.clone(),
            Err(err) => format!("({err})"),
        };
        let settle = login.settings.settle_secs.unwrap_or(DEFAULT_SETTLE_SECS);
        tokio::time::sleep(Duration::from_secs(u64::from(settle))).await;
        let limit = login
            .settings
            .ready_timeout_secs
            .unwrap_or(DEFAULT_READY_SECS);
        let (after, problem, secs) = poll_until(
            Duration::from_secs(u64::from(limit)),
            self.hw.poll,
            || async {
                match self.boot_id(&login).await {
                    Ok(id) if id != before => Ok(Some(id)),
                    Ok(_) => Ok(None),
                    Err(err) => Err(err.to_string()),
                }
            },
        )
        .await;
        match after {
            Some(after) => Ok(ActionOutput::text(format!(
                "ssh {}: reboot asked ({}); the machine answered again after {} s: {before} → {after}",
                login.host,
                asked_text.trim(),
                u64::from(settle) + secs
            ))),
            None => Err(DriverError::Failed {
                message: format!(
                    "{} did not come back with a new boot id within {limit} s of the reboot",
                    login.host
                ),
                output: format!(
                    "before: {before}\nreboot: {}\nlast problem: {}",
                    asked_text.trim(),
                    problem.unwrap_or_else(|| "it answered with the old boot id".into())
                ),
            }),
        }
    }

    async fn power_off(&self, target: &Target<'_>) -> Result<ActionOutput, DriverError> {
        let login = self.login(target, true)?;
        let asked = self.ssh(&login, "poweroff", None).await;
        let limit = login
            .settings
            .ready_timeout_secs
            .unwrap_or(DEFAULT_READY_SECS);
        let (gone, _, secs) = poll_until(
            Duration::from_secs(u64::from(limit)),
            self.hw.poll,
            || async { Ok::<_, String>(self.boot_id(&login).await.is_err().then_some(())) },
        )
        .await;
        match gone {
            Some(()) => Ok(ActionOutput::text(format!(
                "ssh {}: power off asked ({}); the machine stopped answering after {secs} s",
                login.host,
                asked.map_or_else(|e| e.to_string(), |o| o.trim().to_owned())
            ))),
            None => Err(DriverError::Failed {
                message: format!("{} still answers {limit} s after power off", login.host),
                output: String::new(),
            }),
        }
    }

    /// The line Loaner writes for the loan's key: type and key, marked with the loan.
    fn key_line(target: &Target<'_>) -> Result<String, DriverError> {
        let loan = target.loan.ok_or_else(|| {
            DriverError::Config("granting or revoking access needs a loan".into())
        })?;
        let mut words = loan.ssh_public_key.split_whitespace();
        match (words.next(), words.next()) {
            (Some(kind), Some(key))
                if kind
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-@.".contains(&b))
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) =>
            {
                Ok(format!("{kind} {key} loaner-loan-{}", loan.id))
            }
            _ => Err(DriverError::Config(format!(
                "loan {} has no usable public key",
                loan.id
            ))),
        }
    }

    /// `script` as the machine should run it: as the pool's login user when Loaner signs in as
    /// root for someone else's keys, so that nothing the borrower placed in their own folder (a
    /// symbolic link to `/root/.ssh/authorized_keys`, a file swapped in mid-edit) is written with
    /// root's rights. The login user's name was checked when the pool was saved.
    fn as_login_user(login: &Login<'_>, target: &Target<'_>, script: &str) -> String {
        run_as(&login.user, &target.pool.login_user, script)
    }

    /// The borrower's `authorized_keys` on the machine, as the remote shell should see it.
    fn keys_file(login: &Login<'_>, target: &Target<'_>) -> String {
        login
            .settings
            .authorized_keys
            .clone()
            .unwrap_or_else(|| format!("~{}/.ssh/authorized_keys", target.pool.login_user))
    }

    async fn grant(&self, target: &Target<'_>) -> Result<ActionOutput, DriverError> {
        let login = self.login(target, false)?;
        let line = Self::key_line(target)?;
        // The path was checked when saved (letters, digits, / . _ - ~), so it is safe unquoted,
        // which lets the shell expand ~user.
        let file = Self::keys_file(&login, target);
        let script = format!(
            "set -e; umask 077; f={file}; mkdir -p \"$(dirname \"$f\")\"; IFS= read -r line; touch \"$f\"; \
             if grep -qxF -- \"$line\" \"$f\"; then echo \"the key was already there\"; else printf '%s\\n' \"$line\" >> \"$f\"; echo \"key added\"; fi; \
             grep -qxF -- \"$line\" \"$f\"; echo \"$(grep -c '' \"$f\") keys in $f\""
        );
        let script = Self::as_login_user(&login, target, &script);
        let out = self.ssh(&login, &script, Some(format!("{line}\n"))).await?;
        Ok(ActionOutput::text(format!(
            "ssh {}: borrower's key for loan {} installed.\n{out}",
            login.host,
            target.loan.map(|l| l.id.to_string()).unwrap_or_default()
        )))
    }

    async fn revoke(&self, target: &Target<'_>) -> Result<ActionOutput, DriverError> {
        let login = self.login(target, false)?;
        let line = Self::key_line(target)?;
        let file = Self::keys_file(&login, target);
        let script = format!(
            "set -e; f={file}; IFS= read -r line; if [ ! -f \"$f\" ]; then echo \"no $f: nothing to remove\"; exit 0; fi; \
             n=$(grep -cxF -- \"$line\" \"$f\" || true); t=$(mktemp \"$f.loaner.XXXXXX\"); \
             grep -vxF -- \"$line\" \"$f\" > \"$t\" || true; cat \"$t\" > \"$f\"; rm -f \"$t\"; \
             if grep -qxF -- \"$line\" \"$f\"; then echo \"the key is still there\" >&2; exit 1; fi; \
             echo \"removed $n line(s); $(grep -c '' \"$f\" || true) other keys kept\""
        );
        let script = Self::as_login_user(&login, target, &script);
        let out = self.ssh(&login, &script, Some(format!("{line}\n"))).await?;
        Ok(ActionOutput::text(format!(
            "ssh {}: borrower's key removed.\n{out}",
            login.host
        )))
    }

    /// Runs the pool's image check (`ssh.image_command`) with the key-management key, waiting
    /// for the machine to answer after its re-image, and requires its output to name the image.
    pub async fn check_image(&self, target: &Target<'_>) -> Result<ActionOutput, DriverError> {
        let login = self.login(target, false)?;
        let command = login
            .settings
            .image_command
            .clone()
            .ok_or_else(|| DriverError::Config("no ssh.image_command is configured".into()))?;
        let expect = login
            .settings
            .image_expect
            .clone()
            .unwrap_or_else(|| target.pool.image_name.clone());
        let limit = login
            .settings
            .ready_timeout_secs
            .unwrap_or(DEFAULT_READY_SECS);
        let (out, problem, secs) = poll_until(
            Duration::from_secs(u64::from(limit)),
            self.hw.poll,
            || async {
                self.ssh(&login, &command, None)
                    .await
                    .map(Some)
                    .map_err(|e| e.to_string())
            },
        )
        .await;
        let Some(out) = out else {
            return Err(DriverError::Failed {
                message: format!(
                    "the image check could not run on {} within {limit} s",
                    login.host
                ),
                output: problem.unwrap_or_default(),
            });
        };
        if out.contains(&expect) {
            Ok(ActionOutput::text(format!(
                "Image check ({command}) after {secs} s: \"{}\" names {expect}.",
                out.trim()
            )))
        } else {
            Err(DriverError::Failed {
                message: format!(
                    "{} does not run the pool's image: the check printed no \"{expect}\"",
                    login.host
                ),
                output: out,
            })
        }
    }
}

/// `script` run by `owner` when `user` (who signs in) is root and someone else.
fn run_as(user: &str, owner: &str, script: &str) -> String {
    if user == "root" && owner != "root" {
        format!(
            "runuser -u {owner} -- sh -c '{}'",
            script.replace('\'', "'\\''")
        )
    } else {
        script.to_owned()
    }
}

#[async_trait::async_trait]
impl Driver for SshDriver {
    fn kind(&self) -> DriverKind {
        DriverKind::Ssh
    }

    async fn run(
        &self,
        action: Action,
        _step: &Step,
        target: &Target<'_>,
    ) -> Result<ActionOutput, DriverError> {
        match action {
            Action::Status => {
                let login = self.login(target, true)?;
                let id = self.boot_id(&login).await?;
                Ok(ActionOutput::text(format!(
                    "ssh {}: answers (boot id {id})",
                    login.host
                )))
            }
            Action::Reboot => self.reboot(target).await,
            Action::PowerOff => self.power_off(target).await,
            Action::GrantAccess => self.grant(target).await,
            Action::RevokeAccess => self.revoke(target).await,
            Action::PowerOn | Action::Reimage => Err(DriverError::Config(format!(
                "the ssh driver cannot {}",
                action.label().to_lowercase()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::run_as;

    #[test]
    fn root_edits_someone_elses_keys_only_with_their_rights() {
        let script = "printf '%s %s\\n' \"$(id -un)\" 'quoted'";
        assert_eq!(run_as("loaner", "dev", script), script);
        assert_eq!(run_as("root", "root", script), script);
        let wrapped = run_as("root", "nobody", script);
        assert!(
            wrapped.starts_with("runuser -u nobody -- sh -c '"),
            "{wrapped}"
        );
        // Run as the remote shell would (root can switch to nobody): the script keeps its
        // quotes and runs as the owner.
        if nix::unistd::getuid().is_root() {
            let out = std::process::Command::new("sh")
                .args(["-c", &wrapped])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "nobody quoted\n");
        } else {
            let out = std::process::Command::new("sh")
                .args([
                    "-c",
                    &format!("echo {}", wrapped.replace("runuser -u nobody --", "")),
                ])
                .output();
            assert!(out.is_ok());
        }
    }
}
