//! Connecting to PostgreSQL and applying the embedded migrations.

use anyhow::Context;
use app::server::DbPool;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The schema, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Serialises migrations when several processes start at once.
const MIGRATION_LOCK: i64 = 0x6c6f_616e_6572;

/// A pool of connections to `url`. A connection is handed out without a round trip to check it
/// (`SELECT 1` was one per request): one the database closed (a restart, a terminated backend)
/// is known to be closed and is dropped, as is one that failed or was left in a transaction.
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(max_size)
        .build()
        .context("could not build the database pool")
}

/// Applies every pending migration; returns how many ran.
pub async fn migrate(url: &str) -> anyhow::Result<usize> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .with_context(|| format!("could not connect to {}", redact(&url)))?;
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.len())
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        applied
    })
    .await
    .context("the migration task panicked")?
}

/// Reverts every migration (used to prove each `down.sql` works).
pub async fn revert_all(url: &str) -> anyhow::Result<usize> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(reverted.len())
    })
    .await
    .context("the revert task panicked")?
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            redact("postgres://u@/db?host=/tmp"),
            "postgres://u@/db?host=/tmp"
        );
    }
}
