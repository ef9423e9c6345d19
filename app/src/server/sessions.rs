//! Server-side sessions. The cookie carries 256 random bits; the database keeps only their
//! SHA-256, so a copy of the table does not let anyone sign in. The cookie is `HttpOnly` and
//! `SameSite=Lax`, and `Secure` with a `__Host-` name when the site is served over https.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use http::header::{HeaderValue, COOKIE};
use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::models::User;
use super::schema::{sessions, users};
use super::DbError;
use crate::types::UserId;

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Starts a session for `user_id` and returns the token for the cookie.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> Result<String, DbError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash(&token)),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + lifetime),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// The user a live session token belongs to.
pub async fn user_for_token(
    conn: &mut AsyncPgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbError> {
    let user = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash(token)))
        .filter(sessions::expires_at.gt(now))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(user)
}

/// Ends a session.
pub async fn delete(conn: &mut AsyncPgConnection, token: &str) -> Result<(), DbError> {
    diesel::delete(sessions::table.filter(sessions::token_hash.eq(hash(token))))
        .execute(conn)
        .await?;
    Ok(())
}

/// The session token in a request's cookie called `name`.
pub fn token_from_headers(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that stores `token` in the cookie `name` (or, with `None`, clears it).
pub fn cookie_header(
    name: &str,
    token: Option<&str>,
    lifetime: Duration,
    secure: bool,
) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = match token {
        Some(token) => format!(
            "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            lifetime.num_seconds()
        ),
        None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_among_other_cookies() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("theme=dark; loaner_session={token}; x=1")).unwrap(),
        );
        assert_eq!(token_from_headers(&headers, "loaner_session"), Some(token));
        assert_eq!(token_from_headers(&headers, "__Host-loaner_session"), None);
    }

    #[test]
    fn malformed_tokens_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str("loaner_session=' OR 1=1").unwrap(),
        );
        assert_eq!(token_from_headers(&headers, "loaner_session"), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_lax() {
        let value = cookie_header(
            "__Host-loaner_session",
            Some("abc"),
            Duration::hours(1),
            true,
        );
        let text = value.to_str().unwrap();
        assert!(text.contains("HttpOnly"));
        assert!(text.contains("SameSite=Lax"));
        assert!(text.contains("Secure"));
        assert!(text.contains("Max-Age=3600"));
        assert!(text.starts_with("__Host-loaner_session=abc; Path=/;"));
    }
}
