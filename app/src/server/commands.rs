//! Where the `command` driver's executables may live. Web admins write step lists; they must not
//! gain a shell as the service user (which holds the database and SMTP credentials). So a step's
//! command is a path inside one folder, `commands_dir`, chosen by whoever runs the server: a
//! relative path, or an absolute one under that folder; never `..`, never a symlink that leads
//! out. The same check runs when a pool is saved (web or inventory sync) and when a step runs.

use std::path::{Component, Path, PathBuf};

/// What a pool's steps and driver settings are checked against when they are saved (web or
/// inventory sync): the commands folder and the names of the server's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverSetup {
    pub commands: CommandsDir,
    pub credentials: crate::types::CredentialNames,
}

/// The folder step commands resolve in, canonicalised when the server starts (and again when a
/// command is checked, if it did not exist then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandsDir {
    root: PathBuf,
}

impl CommandsDir {
    /// The folder at `path` (canonicalised if it exists; as an absolute path otherwise).
    pub fn new(path: &Path) -> Self {
        let root = path.canonicalize().unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|cwd| cwd.join(path))
                .unwrap_or_else(|_| path.to_owned())
        });
        Self { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `command` is, by its words alone: inside the folder, without `..`.
    fn locate(&self, command: &str) -> Result<PathBuf, String> {
        let command = command.trim();
        if command.is_empty() {
            return Err("The command is empty.".into());
        }
        if command.chars().any(char::is_control) {
            return Err("The command contains a control character.".into());
        }
        let path = Path::new(command);
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(format!(
                "The command \"{command}\" contains \"..\"; name a file inside the commands folder ({}).",
                self.root.display()
            ));
        }
        let relative = if path.is_absolute() {
            path.strip_prefix(&self.root).map_err(|_| {
                format!(
                    "The command \"{command}\" is outside the commands folder ({}); only programs there may run.",
                    self.root.display()
                )
            })?
        } else {
            path
        };
        if relative.as_os_str().is_empty() {
            return Err(
                "The command names the commands folder itself, not a program in it.".into(),
            );
        }
        Ok(self.root.join(relative))
    }

    /// The real file, after following symlinks, if it stays inside the folder.
    fn inside(&self, command: &str, located: &Path) -> Result<PathBuf, String> {
        let real = located
            .canonicalize()
            .map_err(|e| format!("The command \"{command}\" cannot be found ({e})."))?;
        // The folder may have been created (or moved behind a link) after the server started.
        let real_root = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        if !real.starts_with(&real_root) {
            return Err(format!(
                "The command \"{command}\" leads outside the commands folder ({}) through a symbolic link.",
                self.root.display()
            ));
        }
        Ok(real)
    }

    /// Checks a command when a pool is saved. A command that does not exist yet is accepted (the
    /// scripts may be deployed after the inventory); one that exists must stay inside.
    pub fn check(&self, command: &str) -> Result<(), String> {
        let located = self.locate(command)?;
        if located.symlink_metadata().is_ok() {
            self.inside(command, &located)?;
        }
        Ok(())
    }

    /// The program to run for `command`, checked again just before it runs.
    pub fn resolve(&self, command: &str) -> Result<PathBuf, String> {
        let located = self.locate(command)?;
        self.inside(command, &located)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile_like::Dir, CommandsDir) {
        let dir = tempfile_like::Dir::new();
        std::fs::write(dir.path().join("ok.sh"), "#!/bin/sh\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/deep.sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/bin/sh", dir.path().join("shell")).unwrap();
        std::os::unix::fs::symlink("ok.sh", dir.path().join("alias.sh")).unwrap();
        let commands = CommandsDir::new(dir.path());
        (dir, commands)
    }

    /// A temporary folder without a dev-dependency on `tempfile` in `app`.
    mod tempfile_like {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let path = std::env::temp_dir().join(format!(
                    "loaner-commands-{}-{}",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn programs_inside_the_folder_resolve() {
        let (_dir, commands) = folder();
        assert!(commands.resolve("ok.sh").unwrap().ends_with("ok.sh"));
        assert!(commands.resolve("sub/deep.sh").is_ok());
        let absolute = commands.root().join("ok.sh");
        assert!(commands.resolve(absolute.to_str().unwrap()).is_ok());
        assert!(
            commands.resolve("alias.sh").is_ok(),
            "a link inside is fine"
        );
    }

    #[test]
    fn paths_outside_the_folder_are_refused() {
        let (_dir, commands) = folder();
        for bad in [
            "/bin/sh",
            "../ok.sh",
            "sub/../../etc/passwd",
            "/etc/passwd",
            "",
        ] {
            assert!(commands.check(bad).is_err(), "{bad}");
            assert!(commands.resolve(bad).is_err(), "{bad}");
        }
        let err = commands.resolve("shell").unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert!(commands.check("shell").is_err());
    }

    #[test]
    fn a_missing_program_may_be_saved_but_not_run() {
        let (_dir, commands) = folder();
        assert!(commands.check("later.sh").is_ok());
        assert!(commands
            .resolve("later.sh")
            .unwrap_err()
            .contains("cannot be found"));
    }

    #[test]
    fn a_folder_created_behind_a_link_after_start_still_runs_its_programs() {
        let dir = tempfile_like::Dir::new();
        let real = dir.path().join("real");
        let link = dir.path().join("steps");
        let commands = CommandsDir::new(&link);
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("ok.sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(commands.resolve("ok.sh").is_ok());
        std::os::unix::fs::symlink("/bin/sh", real.join("shell")).unwrap();
        assert!(commands.resolve("shell").is_err());
    }
}
