//! The zero-configuration database: a private PostgreSQL cluster in a local folder, started with
//! the machine's own `initdb` and `pg_ctl`, reached over a unix socket only (no TCP port), and
//! stopped again when Loaner stops.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The database and superuser name inside the private cluster.
const NAME: &str = "loaner";

/// A running private cluster.
#[derive(Debug)]
pub struct PrivateCluster {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    run_as: Option<(u32, u32)>,
    started_here: bool,
}

impl PrivateCluster {
    /// Creates (first time) and starts the cluster under `data_dir`, or joins it if another
    /// Loaner process already started it. Returns once it accepts connections and the
    /// `loaner` database exists.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_server_binaries()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let pgdata = data_dir.join("pg");
        // The socket lives in the data folder; unix socket paths are limited to ~107 bytes.
        anyhow::ensure!(
            pgdata.as_os_str().len() < 90,
            "the data folder path {} is too long for a PostgreSQL socket; set LOANER_DATA_DIR to a shorter one",
            pgdata.display()
        );
        let run_as = postgres_user_if_root()?;
        let mut cluster = Self {
            bin_dir,
            pgdata,
            run_as,
            started_here: false,
        };
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init()?;
        }
        if cluster.is_running() {
            tracing::info!(pgdata = %cluster.pgdata.display(), "joining the running private PostgreSQL");
        } else {
            cluster
                .run_pg_ctl(&[
                    "-D",
                    path_str(&cluster.pgdata)?,
                    "-o",
                    &format!("-k {} -c listen_addresses=''", path_str(&cluster.pgdata)?),
                    "-l",
                    path_str(&cluster.pgdata.join("server.log"))?,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ])
                .with_context(|| {
                    format!(
                        "the private PostgreSQL did not start; see {}",
                        cluster.pgdata.join("server.log").display()
                    )
                })?;
            cluster.started_here = true;
            tracing::info!(pgdata = %cluster.pgdata.display(), "started the private PostgreSQL");
        }
        cluster.ensure_database()?;
        Ok(cluster)
    }

    /// The URL of the `loaner` database, over the cluster's unix socket.
    pub fn database_url(&self) -> String {
        self.url_for(NAME)
    }

    /// The URL of another database in the cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{NAME}@/{database}?host={}",
            self.pgdata.display()
        )
    }

    /// Stops the cluster if this process started it.
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        match path_str(&self.pgdata)
            .and_then(|pgdata| self.run_pg_ctl(&["-D", pgdata, "-m", "fast", "-w", "stop"]))
        {
            Ok(()) => tracing::info!("stopped the private PostgreSQL"),
            Err(err) => tracing::warn!(error = %err, "could not stop the private PostgreSQL"),
        }
    }

    fn init(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.pgdata)?;
        self.hand_over(&self.pgdata)?;
        let status = self
            .command("initdb")
            .args([
                "-D",
                path_str(&self.pgdata)?,
                "-A",
                "trust",
                "-U",
                NAME,
                "-E",
                "UTF8",
            ])
            .args(["--locale=C.UTF-8", "--no-sync"])
            .output()
            .context("could not run initdb")?;
        if !status.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&status.stderr).trim()
            );
        }
        Ok(())
    }

    fn is_running(&self) -> bool {
        path_str(&self.pgdata).is_ok_and(|pgdata| {
            self.command("pg_ctl")
                .args(["-D", pgdata, "status"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    fn ensure_database(&self) -> anyhow::Result<()> {
        let psql = |sql: &str| -> anyhow::Result<String> {
            let out = self
                .command("psql")
                .args(["-h", path_str(&self.pgdata)?, "-U", NAME, "-d", "postgres"])
                .args(["-XtAq", "-v", "ON_ERROR_STOP=1", "-c", sql])
                .output()
                .context("could not run psql")?;
            if !out.status.success() {
                bail!(
                    "psql failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        if psql(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{NAME}'"
        ))? != "1"
        {
            psql(&format!("CREATE DATABASE {NAME}"))?;
        }
        Ok(())
    }

    fn run_pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .args(args)
            .output()
            .context("could not run pg_ctl")?;
        if !out.status.success() {
            bail!(
                "pg_ctl {} failed: {}{}",
                args.last().copied().unwrap_or_default(),
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// A command for one of the server's binaries, run as the `postgres` user when we are root
    /// (PostgreSQL refuses to run as root).
    fn command(&self, program: &str) -> Command {
        let bin = self.bin_dir.join(program);
        let mut command = Command::new(if bin.exists() {
            bin
        } else {
            PathBuf::from(program)
        });
        command.env("LC_ALL", "C.UTF-8").env_remove("PGDATABASE");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Gives `dir` to the `postgres` user when we are root.
    fn hand_over(&self, dir: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", dir.display()))?;
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        Ok(())
    }
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// The folder holding `initdb` and `pg_ctl`: `pg_config --bindir`, then the Debian and Red Hat
/// layouts (newest version first), then `PATH`.
pub fn find_server_binaries() -> anyhow::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    versioned.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    candidates.extend(versioned);
    candidates.push(PathBuf::from("/usr/pgsql/bin"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.into_iter().find(|dir| has_both(dir)).ok_or_else(|| {
        anyhow::anyhow!(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found, so Loaner cannot start its private database.\n\
             Install them — Debian/Ubuntu: `apt-get install postgresql`; Fedora/RHEL: `dnf install postgresql-server`; \
             macOS: `brew install postgresql@16` — or point Loaner at an existing database with DATABASE_URL=postgres://…"
        )
    })
}

/// As root, the uid/gid of the `postgres` user to run the cluster as.
fn postgres_user_if_root() -> anyhow::Result<Option<(u32, u32)>> {
    if !nix::unistd::Uid::effective().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")
        .context("cannot look up the postgres user")?
        .context(
            "Loaner runs as root, and PostgreSQL refuses to run as root; there is no `postgres` user to run it as. \
             Run Loaner as an ordinary user, or create a `postgres` user, or set DATABASE_URL.",
        )?;
    Ok(Some((user.uid.as_raw(), user.gid.as_raw())))
}
