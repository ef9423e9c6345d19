//! Step scripts for tests: a folder of small shell scripts (it is the `commands_dir` of the
//! test's workers), and steps that run them.

use std::path::{Path, PathBuf};

use app::types::{Action, DriverKind, Step};

/// A folder of step scripts for one test; removed when dropped.
pub struct Scripts {
    pub dir: tempfile::TempDir,
}

impl Scripts {
    pub fn new() -> Self {
        let scripts = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        scripts.write(
            "ok.sh",
            "echo \"$LOANER_STEP on $LOANER_MACHINE_FQDN for loan $LOANER_LOAN_ID\"",
        );
        scripts.write(
            "fail.sh",
            "echo \"cannot reach the BMC of $LOANER_MACHINE_FQDN\" >&2\nexit 3",
        );
        scripts
    }

    /// Writes an executable shell script and returns its path.
    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).expect("chmod");
        path
    }

    /// A file in the folder (a script, or one the scripts write for the test to read).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A `command` step running `script`.
pub fn step(name: &str, action: Action, script: &Path) -> Step {
    Step {
        name: name.to_owned(),
        action,
        driver: DriverKind::Command,
        command: Some(script.display().to_string()),
        timeout_secs: Some(30),
        instructions: None,
    }
}
