//! Runs the programs the hardware drivers speak through (`ssh`, `ipmitool`, `snmpget`,
//! `snmpset`): a clean environment (only `PATH` and what the call sets, so no `LOANER_*` secret
//! or database address reaches them), secrets in the environment or in private files (never on
//! the command line, where any local user could read them), a time limit, and the output kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::DriverError;

/// The programs' search path: the system's, nothing a user controls.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Output beyond this is cut, keeping the end.
const MAX_OUTPUT: usize = 16 * 1024;

/// One call of a program.
pub struct Call<'a> {
    program: &'a str,
    args: Vec<String>,
    env: Vec<(&'a str, String)>,
    stdin: Option<String>,
    timeout: Duration,
}

/// What a finished call printed, and whether it succeeded.
pub struct Finished {
    pub ok: bool,
    pub status: String,
    pub output: String,
}

impl<'a> Call<'a> {
    pub fn new(program: &'a str, timeout: Duration) -> Self {
        Self {
            program,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            timeout,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }

    pub fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Runs the program; `Err` only when it could not start or ran out of time.
    pub async fn finish(self) -> Result<Finished, DriverError> {
        let mut command = tokio::process::Command::new(self.program);
        command
            .args(&self.args)
            .env_clear()
            .env("PATH", PATH)
            .env("LC_ALL", "C")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(|e| DriverError::Start {
            what: self.program.to_owned(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e}; install it on the machines that run Loaner's workers")
            } else {
                e.to_string()
            },
        })?;
        if let (Some(text), Some(mut pipe)) = (self.stdin, child.stdin.take()) {
            // A program that exits without reading its input is not an error here.
            let _ = pipe.write_all(text.as_bytes()).await;
        }
        let waited = tokio::time::timeout(self.timeout, child.wait_with_output()).await;
        let Ok(result) = waited else {
            return Err(DriverError::Timeout {
                what: self.program.to_owned(),
                secs: self.timeout.as_secs(),
                output: String::new(),
            });
        };
        let out = result.map_err(|e| DriverError::Start {
            what: self.program.to_owned(),
            message: e.to_string(),
        })?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(Finished {
            ok: out.status.success(),
            status: out.status.to_string(),
            output: tail(output.trim_end()),
        })
    }

    /// Runs the program and requires it to succeed; the error carries what it printed.
    pub async fn run(self) -> Result<String, DriverError> {
        let what = self.program.to_owned();
        let done = self.finish().await?;
        if done.ok {
            Ok(done.output)
        } else {
            Err(DriverError::Exit {
                what,
                status: done.status,
                output: done.output,
            })
        }
    }
}

/// The end of `text`, without control characters other than line breaks and tabs: what a
/// machine or BMC prints is untrusted (a NUL would not store, an escape sequence would reach the
/// terminal of `loaner action --wait`).
fn tail(text: &str) -> String {
    let text: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect();
    let text = text.as_str();
    if text.len() <= MAX_OUTPUT {
        return text.to_owned();
    }
    let mut start = text.len() - MAX_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… output cut …]\n{}", &text[start..])
}

/// A private folder (mode 0700) holding files a call needs and others must not read; removed
/// when dropped.
pub struct PrivateDir {
    dir: tempfile::TempDir,
}

impl PrivateDir {
    pub fn new() -> Result<Self, DriverError> {
        let dir = tempfile::Builder::new()
            .prefix("loaner-driver-")
            .tempdir()
            .map_err(|e| DriverError::Start {
                what: "a private folder for the call".into(),
                message: e.to_string(),
            })?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` with `contents`, readable by the owner only.
    pub fn write(&self, name: &str, contents: &str) -> Result<PathBuf, DriverError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.dir.path().join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(contents.as_bytes()).map(|()| f))
            .map_err(|e| DriverError::Start {
                what: format!("a private file for the call ({name})"),
                message: e.to_string(),
            })?;
        file.flush().ok();
        Ok(path)
    }
}

/// Waits until `check` says yes, looking every `every`, for at most `limit`. Returns the last
/// answer (`Ok(None)` when time ran out), with the seconds it took.
pub async fn poll_until<T, F, Fut>(
    limit: Duration,
    every: Duration,
    mut check: F,
) -> (Option<T>, Option<String>, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let started = tokio::time::Instant::now();
    let mut last_problem = None;
    loop {
        match check().await {
            Ok(Some(found)) => return (Some(found), None, started.elapsed().as_secs()),
            Ok(None) => {}
            Err(problem) => last_problem = Some(problem),
        }
        if started.elapsed() + every > limit {
            return (None, last_problem, started.elapsed().as_secs());
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_loses_control_characters_that_could_reach_a_terminal_or_the_database() {
        let evil = "power is on\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{0}\r\nnext\tline";
        assert_eq!(tail(evil), "power is on]52;c;cm0gLXJmIH4=\nnext\tline");
    }
}
