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
use crate::types::{SessionId, SessionRow, UserId};

/// How long sessions last: at most `lifetime` after sign-in, and no longer than `idle` after
/// the last request that used them.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub lifetime: Duration,
    pub idle: Duration,
}

/// A use within this long of the last recorded one is not written down again.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Where a session came from, for the person's list of sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Origin<'a> {
    pub user_agent: &'a str,
    pub address: &'a str,
    /// "development login", or the identity provider's name.
    pub via: &'a str,
    /// The provider's ID token, sent back as a hint when the person signs out there.
    pub id_token: Option<&'a str>,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new random token, hex-encoded (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Starts a session for `user_id` and returns the token for the cookie.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    now: DateTime<Utc>,
    policy: SessionPolicy,
    origin: &Origin<'_>,
) -> Result<String, DbError> {
    let token = new_token();
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash(&token)),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + policy.lifetime),
            sessions::last_seen_at.eq(now),
            sessions::user_agent.eq(clip(origin.user_agent, 300)),
            sessions::address.eq(clip(origin.address, 64)),
            sessions::via.eq(clip(origin.via, 120)),
            sessions::id_token.eq(origin.id_token.filter(|t| t.len() <= 16384)),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// The user a live session token belongs to: not past its lifetime, not idle too long. Each
/// use keeps the session alive (recorded at most once a minute).
pub async fn user_for_token(
    conn: &mut AsyncPgConnection,
    token: &str,
    now: DateTime<Utc>,
    policy: SessionPolicy,
) -> Result<Option<User>, DbError> {
    find(conn, token, now, policy, true).await
}

/// As `user_for_token`, but a page polling for news (`touch` false) does not count as use:
/// a page left open does not keep its session alive past the idle timeout.
pub async fn find(
    conn: &mut AsyncPgConnection,
    token: &str,
    now: DateTime<Utc>,
    policy: SessionPolicy,
    touch: bool,
) -> Result<Option<User>, DbError> {
    let found: Option<(User, SessionId, DateTime<Utc>)> = sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(hash(token)))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - policy.idle))
        .select((User::as_select(), sessions::id, sessions::last_seen_at))
        .first(conn)
        .await
        .optional()?;
    let Some((user, id, last_seen)) = found else {
        return Ok(None);
    };
    if touch && now - last_seen >= TOUCH_EVERY {
        diesel::update(sessions::table.filter(sessions::id.eq(id)))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Some(user))
}

/// A session that was ended: whose it was, and the ID token it kept (for the provider's
/// sign-out).
#[derive(Debug)]
pub struct Ended {
    pub user_id: UserId,
    pub id_token: Option<String>,
}

/// Ends a session; `None` when there was no such session.
pub async fn delete(conn: &mut AsyncPgConnection, token: &str) -> Result<Option<Ended>, DbError> {
    let ended: Option<(UserId, Option<String>)> =
        diesel::delete(sessions::table.filter(sessions::token_hash.eq(hash(token))))
            .returning((sessions::user_id, sessions::id_token))
            .get_result(conn)
            .await
            .optional()?;
    Ok(ended.map(|(user_id, id_token)| Ended { user_id, id_token }))
}

/// A session row as listed: id, token hash, started, last seen, User-Agent, address, via.
type StoredSession = (
    SessionId,
    Vec<u8>,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    String,
    String,
);

/// A person's live sessions: the one behind `token` first (marked `current`), then by last use.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    token: Option<&str>,
    now: DateTime<Utc>,
    policy: SessionPolicy,
) -> Result<Vec<SessionRow>, DbError> {
    let current = token.map(hash);
    let rows: Vec<StoredSession> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - policy.idle))
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .select((
            sessions::id,
            sessions::token_hash,
            sessions::created_at,
            sessions::last_seen_at,
            sessions::user_agent,
            sessions::address,
            sessions::via,
        ))
        .load(conn)
        .await?;
    let mut rows: Vec<SessionRow> = rows
        .into_iter()
        .map(
            |(id, token_hash, started_at, last_seen_at, agent, address, via)| SessionRow {
                id,
                started_at,
                last_seen_at,
                browser: describe_user_agent(&agent),
                address,
                via,
                current: current.as_deref() == Some(token_hash.as_slice()),
            },
        )
        .collect();
    // This browser first, then the others by last use.
    rows.sort_by_key(|row| !row.current);
    Ok(rows)
}

/// Ends one of `user_id`'s sessions; false when they have no such session.
pub async fn end_one(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: SessionId,
) -> Result<bool, DbError> {
    let ended = diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.eq(id)),
    )
    .execute(conn)
    .await?;
    Ok(ended > 0)
}

/// Ends all of `user_id`'s sessions except the one behind `keep`; returns how many ended.
pub async fn end_all(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<usize, DbError> {
    let query = sessions::table.filter(sessions::user_id.eq(user_id));
    let ended = match keep {
        Some(token) => {
            diesel::delete(query.filter(sessions::token_hash.ne(hash(token))))
                .execute(conn)
                .await?
        }
        None => diesel::delete(query).execute(conn).await?,
    };
    Ok(ended)
}

/// Deletes sessions past their lifetime or idle too long; returns how many.
pub async fn purge_stale(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    policy: SessionPolicy,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::last_seen_at.le(now - policy.idle)),
        ),
    )
    .execute(conn)
    .await?)
}

/// "Firefox on Linux" from a User-Agent header; "Unknown browser" when it says nothing usable.
pub fn describe_user_agent(agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => "Unknown browser".to_owned(),
    }
}

/// A token (64 hex digits, as `new_token` makes them) in a request's cookie called `name`.
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
    fn browsers_are_named_plainly() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_user_agent(firefox), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        assert_eq!(describe_user_agent(chrome), "Chrome on Windows");
        assert_eq!(describe_user_agent(""), "Unknown browser");
    }

    #[test]
    fn long_texts_are_clipped_on_character_boundaries() {
        assert_eq!(clip("ééé", 3), "é");
        assert_eq!(clip("abc", 10), "abc");
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
