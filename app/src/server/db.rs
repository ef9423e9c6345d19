//! The connection pool and the database error every service wraps.

use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::AsyncPgConnection;

use crate::error::AppError;

diesel::define_sql_function! {
    /// SQL's `lower()`: lists of names sort the way people read them (macOS among the M's).
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] PoolError),
}

/// Takes a connection from the pool.
pub async fn conn(pool: &DbPool) -> Result<DbConn, DbError> {
    Ok(pool.get().await?)
}

impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        tracing::error!(error = %err, "database error");
        AppError::Internal
    }
}

/// True when `err` is a violation of the named unique index or constraint.
pub fn is_unique_violation(err: &diesel::result::Error, constraint: &str) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(err, Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some(constraint))
}
