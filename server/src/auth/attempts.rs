//! Sign-ins in flight. Starting one stores what the callback will need (nonce, PKCE verifier,
//! where to go next) under the SHA-256 of `state`, bound to the browser by the SHA-256 of a
//! random value in a cookie. The callback takes the row out — so each is used at most once —
//! and it is only good for `LIFETIME`.

use app::server::schema::sign_in_attempts as attempts;
use app::server::DbError;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

/// How long a sign-in may take at the provider.
pub const LIFETIME: Duration = Duration::minutes(10);

pub fn hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// What the callback needs to finish a sign-in.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = attempts)]
pub struct Attempt {
    pub binding_hash: Vec<u8>,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_path: String,
    pub expires_at: DateTime<Utc>,
}

/// Records a sign-in that starts now.
pub async fn start(
    conn: &mut AsyncPgConnection,
    state: &str,
    binding: &str,
    nonce: &str,
    pkce_verifier: &str,
    next_path: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::insert_into(attempts::table)
        .values((
            attempts::state_hash.eq(hash(state)),
            attempts::binding_hash.eq(hash(binding)),
            attempts::nonce.eq(nonce),
            attempts::pkce_verifier.eq(pkce_verifier),
            attempts::next_path.eq(next_path),
            attempts::created_at.eq(now),
            attempts::expires_at.eq(now + LIFETIME),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes out the sign-in `state` names, whether or not it is still good: a second callback
/// with the same `state` finds nothing.
pub async fn take(conn: &mut AsyncPgConnection, state: &str) -> Result<Option<Attempt>, DbError> {
    Ok(
        diesel::delete(attempts::table.filter(attempts::state_hash.eq(hash(state))))
            .returning(Attempt::as_returning())
            .get_result(conn)
            .await
            .optional()?,
    )
}

/// Deletes sign-ins that were never finished.
pub async fn purge_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(
        diesel::delete(attempts::table.filter(attempts::expires_at.le(now)))
            .execute(conn)
            .await?,
    )
}
