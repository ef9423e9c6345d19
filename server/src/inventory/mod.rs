//! `loaner inventory sync FILE [--dry-run]`: the inventory as code. A TOML file lists pools
//! and machines; the sync creates and updates them to match, retires what the file no longer
//! lists, and prints the difference. An invalid file changes nothing and every problem is
//! reported as `FILE:LINE: path: message`. Everything is written in one transaction, under
//! the audit actor `inventory sync (FILE)`. The format is described in `docs/inventory.md`.

mod apply;
mod check;
mod convert;
mod diff;
mod file;
mod locate;

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use app::server::commands::DriverSetup;
use app::server::inventory::InventoryError;
use app::server::loans::LoanError;
use app::server::schema::pools;
use app::server::{audit, policies, Clock, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::config::Config;
use crate::runtime::Database;

pub use apply::REMOVED;

/// Why a sync changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The file is invalid: one `FILE:LINE: path: message` line per problem.
    #[error("the inventory file is invalid:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The database refused a row the file's checks accepted (a concurrent change).
    #[error("the database refused {target}: {message}")]
    Refused { target: String, message: String },
    #[error(transparent)]
    Inventory(InventoryError),
    #[error(transparent)]
    Loan(#[from] LoanError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SyncError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

/// What a sync changed, or with `--dry-run` would change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The file as the messages name it.
    pub file_name: String,
    /// One line per change: `+ pool …`, `~ machine …: notes "" → "rack 4"`, `- pool … (retired)`.
    pub changes: Vec<String>,
    /// Pools and machines created.
    pub created: usize,
    /// Pools and machines changed, brought back into service included.
    pub updated: usize,
    /// Pools and machines retired, now or when their loan ends.
    pub retired: usize,
    /// Nothing was stored.
    pub dry_run: bool,
}

impl SyncReport {
    /// The database matched the file already.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn created(&mut self, line: String) {
        self.created += 1;
        self.changes.push(line);
    }

    fn updated(&mut self, line: String) {
        self.updated += 1;
        self.changes.push(line);
    }

    fn retired(&mut self, line: String) {
        self.retired += 1;
        self.changes.push(line);
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            writeln!(f, "No changes: the database matches {}.", self.file_name)?;
        } else {
            for line in &self.changes {
                writeln!(f, "{line}")?;
            }
            writeln!(
                f,
                "{} created, {} updated, {} retired",
                self.created, self.updated, self.retired
            )?;
        }
        if self.dry_run {
            writeln!(f, "Dry run: nothing was changed.")?;
        }
        Ok(())
    }
}

/// Ends the transaction without storing anything.
enum Abort {
    Failed(SyncError),
    DryRun(SyncReport),
}

impl From<diesel::result::Error> for Abort {
    fn from(err: diesel::result::Error) -> Self {
        Self::Failed(err.into())
    }
}

impl From<DbError> for Abort {
    fn from(err: DbError) -> Self {
        Self::Failed(err.into())
    }
}

impl From<SyncError> for Abort {
    fn from(err: SyncError) -> Self {
        Self::Failed(err)
    }
}

/// Makes the database match the inventory file `source` (named `file_name` in messages and in
/// the audit log), all or nothing. With `dry_run` the same changes are made and rolled back,
/// so the report (and any database refusal) is exactly what a real run would give.
pub async fn sync(
    conn: &mut AsyncPgConnection,
    source: &str,
    file_name: &str,
    commands: &DriverSetup,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<SyncReport, SyncError> {
    let parsed = file::parse(source, file_name).map_err(SyncError::Invalid)?;
    let short_name = Path::new(file_name)
        .file_name()
        .map_or(file_name.into(), |n| n.to_string_lossy());
    let actor = format!("inventory sync ({short_name})");
    let result = conn
        .transaction(async |conn| {
            let site = policies::site_defaults(conn).await?;
            let known: HashSet<String> = pools::table
                .select(pools::slug)
                .load::<String>(conn)
                .await?
                .into_iter()
                .collect();
            let inventory = parsed
                .check(&site, &known, commands)
                .map_err(SyncError::Invalid)?;
            audit::stamp_as(conn, &actor, now).await?;
            let mut report = SyncReport {
                file_name: file_name.to_owned(),
                dry_run,
                ..SyncReport::default()
            };
            apply::apply(conn, &inventory, now, &mut report).await?;
            if dry_run {
                return Err(Abort::DryRun(report));
            }
            Ok(report)
        })
        .await;
    match result {
        Ok(report) | Err(Abort::DryRun(report)) => Ok(report),
        Err(Abort::Failed(err)) => Err(err),
    }
}

/// `loaner inventory sync FILE [--dry-run]`: prints the diff on stdout, or every problem of an
/// invalid file on stderr and fails.
pub async fn sync_file(config: &Config, path: &Path, dry_run: bool) -> anyhow::Result<()> {
    let source =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file_name = path.display().to_string();
    // A file that is not even TOML fails before any database is opened.
    if let Err(problems) = file::parse(&source, &file_name) {
        return invalid(&file_name, &problems);
    }
    let setup = config.driver_setup()?;
    let db = Database::open(config, 2).await?;
    let result = async {
        let mut conn = db.pool.get().await.context("no database connection")?;
        Ok::<_, anyhow::Error>(
            sync(
                &mut conn,
                &source,
                &file_name,
                &setup,
                dry_run,
                Clock::system().now(),
            )
            .await,
        )
    }
    .await;
    db.close();
    match result? {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            write!(out, "{report}").context("cannot write to stdout")?;
            Ok(())
        }
        Err(SyncError::Invalid(problems)) => invalid(&file_name, &problems),
        Err(err) => Err(anyhow::Error::new(err)
            .context(format!("cannot sync {file_name}; nothing was changed"))),
    }
}

fn invalid(file_name: &str, problems: &[String]) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    for line in problems {
        // Best effort: the summary below still fails the command.
        let _ = writeln!(err, "{line}");
    }
    let count = match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    anyhow::bail!("{file_name} is invalid ({count}); nothing was changed")
}
