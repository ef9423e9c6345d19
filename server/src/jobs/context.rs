//! What a running job can reach (`WorkerDeps`, `JobContext`), how it fails (`JobError`), and
//! how long a failed one waits before it is tried again (`backoff`).

use std::sync::Arc;
use std::time::Duration;

use app::server::loans::LoanError;
use app::server::models::JobRow;
use app::server::schema::jobs;
use app::server::{Clock, DbConn, DbError, DbPool, SiteSettings};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::Rng;

use crate::config::JobsConfig;
use crate::drivers::Drivers;
use crate::mail::{Mailer, Templates};

/// What jobs need to do their work.
pub struct WorkerDeps {
    pub db: DbPool,
    pub clock: Clock,
    pub drivers: Drivers,
    /// For the dedicated `LISTEN` connection.
    pub database_url: String,
    pub config: JobsConfig,
    pub site: Arc<SiteSettings>,
    pub mailer: Mailer,
    pub templates: Templates,
    /// When the admins' daily digest goes out (hour of the day, UTC).
    pub digest_hour_utc: u32,
    /// How long sent messages keep their text.
    pub mail_retention_days: u32,
    pub health: crate::config::HealthConfig,
}

impl WorkerDeps {
    pub async fn conn(&self) -> Result<DbConn, JobError> {
        Ok(app::server::db::conn(&self.db).await?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The work failed; it is tried again later unless `permanent` or out of attempts.
    #[error("{message}")]
    Failed {
        message: String,
        output: Option<String>,
        permanent: bool,
    },
    /// Not now: run again after the delay, without counting an attempt.
    #[error("deferred for {0:?}")]
    Defer(Duration),
    /// Another worker holds the job now (our lease ran out); leave it to them.
    #[error("another worker holds this job now")]
    LeaseLost,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl JobError {
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            output: None,
            permanent: true,
        }
    }

    /// What the failed work printed, if anything.
    pub fn output(&self) -> Option<String> {
        match self {
            Self::Failed { output, .. } => output.clone(),
            _ => None,
        }
    }

    pub(super) fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                permanent: true,
                ..
            }
        )
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<DbError> for JobError {
    fn from(err: DbError) -> Self {
        Self::Internal(err.into())
    }
}

impl From<LoanError> for JobError {
    fn from(err: LoanError) -> Self {
        Self::Internal(err.into())
    }
}

/// One claimed job, as its code sees it.
pub struct JobContext {
    pub deps: Arc<WorkerDeps>,
    pub row: JobRow,
    pub(super) worker_id: String,
}

impl JobContext {
    /// This run's attempt number, from 1.
    pub fn attempt(&self) -> i32 {
        self.row.attempts
    }

    /// Takes the job off the queue inside the caller's transaction, so it disappears exactly
    /// when the job's effects are committed, and names the scheduler as the actor for the audit
    /// log. Fails if another worker has taken it over.
    pub async fn take(&self, conn: &mut AsyncPgConnection) -> Result<(), JobError> {
        // What the job changes is the scheduler's doing, at the scheduler's time.
        app::server::audit::stamp(conn, None, self.deps.clock.now()).await?;
        let deleted = diesel::delete(
            jobs::table
                .filter(jobs::id.eq(self.row.id))
                .filter(jobs::locked_by.eq(&self.worker_id)),
        )
        .execute(conn)
        .await?;
        if deleted == 1 {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }

    /// Completes a job that has nothing (more) to do.
    pub async fn finish(&self, conn: &mut AsyncPgConnection) -> Result<(), JobError> {
        conn.transaction(async |c| self.take(c).await).await
    }
}

/// The delay before retry number `attempt` (1-based): base × 2^(attempt−1), capped, ±10 %.
pub fn backoff(config: &JobsConfig, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let base = config.backoff_base_ms.saturating_mul(1u64 << exponent);
    let capped = base.min(config.backoff_max_secs.saturating_mul(1000));
    let jitter = rand::rng().random_range(0.9..=1.1);
    Duration::from_millis((capped as f64 * jitter) as u64)
}
