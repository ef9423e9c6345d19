//! Where the client keeps the site and the token: `LOANER_URL` and `LOANER_TOKEN` when both are
//! set (CI scripts), else `client.toml` in the user's config directory
//! (`$XDG_CONFIG_HOME/loaner`, or `~/.config/loaner`), written readable by its owner only.

use std::io::{BufRead, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Failure;

/// A site and the token to use there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Login {
    pub url: String,
    pub token: String,
}

/// The file the login is kept in.
pub fn path() -> Result<PathBuf, Failure> {
    if let Some(file) = std::env::var_os("LOANER_CLIENT_CONFIG") {
        return Ok(PathBuf::from(file));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(Failure::Failed(
                    "neither XDG_CONFIG_HOME nor HOME is set: set LOANER_CLIENT_CONFIG".into(),
                ))
            }
        },
    };
    Ok(base.join("loaner").join("client.toml"))
}

/// The login to use: the environment's, or the stored one.
pub fn load() -> Result<Login, Failure> {
    if let (Ok(url), Ok(token)) = (std::env::var("LOANER_URL"), std::env::var("LOANER_TOKEN")) {
        if !url.trim().is_empty() && !token.trim().is_empty() {
            return Ok(Login {
                url: url.trim().to_owned(),
                token: token.trim().to_owned(),
            });
        }
    }
    let path = path()?;
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Failure::Refused(format!(
            "not signed in: run `loaner login https://your-loaner-site` first (or set LOANER_URL and LOANER_TOKEN); {} is missing",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        Failure::Failed(format!(
            "{} is not a login this client wrote: {e}",
            path.display()
        ))
    })
}

/// Stores `login` (mode 0600); returns where.
pub fn save(login: &Login) -> Result<PathBuf, Failure> {
    let path = path()?;
    let failed =
        |e: std::io::Error| Failure::Failed(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let text = toml::to_string(login).map_err(|e| Failure::Failed(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    // A file made earlier with wider permissions is narrowed too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    Ok(path)
}

/// Asks for the token on the terminal.
pub fn ask_token(url: &str) -> Result<String, Failure> {
    eprint!("API token for {url} (make one at {url}/account/tokens): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Failed(format!("cannot read the token: {e}")))?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::Refused("no token given".into()));
    }
    Ok(token)
}

/// The SSH public key to install: `given`, or the first of the usual files.
pub fn public_key(given: Option<PathBuf>) -> Result<String, Failure> {
    let candidates = match given {
        Some(path) => vec![path],
        None => {
            let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
            ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
                .iter()
                .map(|name| home.join(".ssh").join(name))
                .collect()
        }
    };
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Ok(text.trim().to_owned());
        }
    }
    Err(Failure::Refused(format!(
        "no SSH public key found ({}); give one with --key",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}
