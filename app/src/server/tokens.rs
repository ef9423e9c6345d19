//! Personal API tokens. The secret is shown once, when the token is made; only its SHA-256 is
//! stored. A token acts as its owner, limited by its scopes **and** by the owner's role as it is
//! now: an `admin` scope does nothing on a developer's token, and an admin demoted at their next
//! sign-in loses it on every token at once.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::models::User;
use super::schema::{api_tokens, users};
use super::{audit, DbError};
use crate::error::{AppError, FieldError};
use crate::rules::validate;
use crate::types::{ApiTokenId, ApiTokenView, NewApiToken, Scope, UserId};

/// What every secret starts with, so that a leaked one is recognised (by people and by secret
/// scanners) for what it is.
pub const SECRET_PREFIX: &str = "loaner_";

/// How long a token lives when its maker does not say.
pub const DEFAULT_DAYS: i64 = 90;

/// Live tokens one person may hold (the rate limit counts per person, so more would buy nothing).
pub const MAX_LIVE_PER_PERSON: i64 = 25;

/// A token presented with a request, found live, with its owner as they are now.
#[derive(Clone, Debug)]
pub struct Grant {
    pub token_id: ApiTokenId,
    pub token_name: String,
    pub scopes: Vec<Scope>,
    pub user: User,
}

impl Grant {
    /// Whether this token may do what `scope` covers. `admin` and the machines scopes need the
    /// owner to be an admin now; `admin` covers every other scope, and a scope that changes a
    /// thing covers reading it.
    pub fn allows(&self, scope: Scope) -> bool {
        let is_admin = self.user.is_admin();
        let has = |s: Scope| self.scopes.contains(&s);
        (is_admin && has(Scope::Admin))
            || match scope {
                Scope::Admin => false,
                // Changing a thing includes reading it.
                Scope::LoansRead => has(Scope::LoansRead) || has(Scope::LoansWrite),
                Scope::LoansWrite => has(scope),
                Scope::MachinesRead => {
                    is_admin && (has(Scope::MachinesRead) || has(Scope::MachinesAct))
                }
                Scope::MachinesAct => is_admin && has(scope),
            }
    }

    /// The person the services see act: the owner, but as a developer unless this token may do
    /// what an admin may (an admin's `loans:write` token for CI reaches only the admin's own
    /// loans, like any developer's).
    pub fn actor(&self) -> User {
        let mut user = self.user.clone();
        if !self.allows(Scope::Admin) {
            user.role = crate::types::Role::Developer;
        }
        user
    }

    /// How the audit log names who acted: the owner, through this token.
    pub fn via(&self) -> String {
        format!("API token “{}” (#{})", self.token_name, self.token_id)
    }
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", hex::encode(bytes))
}

/// The problems with a request for a new token, each naming its field.
fn check(
    owner: &User,
    input: &NewApiToken,
    max_days: i64,
) -> Result<(String, Vec<Scope>, i64), Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        errors.push(FieldError::new(
            "name",
            "Name the token after what will use it (\"CI runner\").",
        ));
    } else if name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "A token's name is at most 100 characters.",
        ));
    } else if let Err(message) = validate::clean(&name, false) {
        errors.push(FieldError::new("name", message));
    } else if name.contains(['“', '”', '"']) {
        // The audit log quotes the name: "Ada via API token “CI” (#4)".
        errors.push(FieldError::new(
            "name",
            "Leave quotation marks out of the name.",
        ));
    }
    let mut scopes = Vec::new();
    for text in &input.scopes {
        match Scope::parse(text.trim()) {
            Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Some(_) => {}
            None => errors.push(FieldError::new(
                "scopes",
                format!("Unknown scope {text:?}; choose from {}.", Scope::names()),
            )),
        }
    }
    if input.scopes.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            "Choose at least one scope: what the token may do.",
        ));
    }
    let admins_only = [Scope::Admin, Scope::MachinesRead, Scope::MachinesAct];
    if !owner.is_admin() && scopes.iter().any(|s| admins_only.contains(s)) {
        errors.push(FieldError::new(
            "scopes",
            "Only admins may make tokens with the admin or machines scopes.",
        ));
    }
    let days = match input.expires_in_days.trim() {
        "" => Some(DEFAULT_DAYS.min(max_days)),
        text => text
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=max_days).contains(d)),
    };
    if days.is_none() {
        errors.push(FieldError::new(
            "expires_in_days",
            format!("A token lives from 1 to {max_days} days."),
        ));
    }
    match days {
        Some(days) if errors.is_empty() => Ok((name, scopes, days)),
        _ => Err(errors),
    }
}

/// Makes a token for `owner` and returns it with its secret, which is never shown again.
pub async fn create(
    conn: &mut AsyncPgConnection,
    owner: &User,
    input: &NewApiToken,
    max_days: i64,
    now: DateTime<Utc>,
) -> Result<(ApiTokenView, String), AppError> {
    let (name, scopes, days) = check(owner, input, max_days).map_err(AppError::Validation)?;
    let live: i64 = api_tokens::table
        .filter(api_tokens::user_id.eq(owner.id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(api_tokens::expires_at.gt(now))
        .count()
        .get_result(conn)
        .await
        .map_err(DbError::from)?;
    if live >= MAX_LIVE_PER_PERSON {
        return Err(AppError::Refused {
            rule: "max_api_tokens".into(),
            message: format!(
                "You hold {live} live API tokens, the most one person may; revoke one you no longer use."
            ),
        });
    }
    let secret = new_secret();
    let texts: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let id = conn
        .transaction(async |conn| {
            audit::stamp(conn, Some(owner), now).await?;
            diesel::insert_into(api_tokens::table)
                .values((
                    api_tokens::user_id.eq(owner.id),
                    api_tokens::name.eq(&name),
                    api_tokens::scopes.eq(&texts),
                    api_tokens::token_hash.eq(hash(&secret)),
                    api_tokens::hint.eq(&secret[..SECRET_PREFIX.len() + 6]),
                    api_tokens::created_at.eq(now),
                    api_tokens::expires_at.eq(now + Duration::days(days)),
                ))
                .returning(api_tokens::id)
                .get_result::<ApiTokenId>(conn)
                .await
                .map_err(DbError::from)
        })
        .await?;
    let view = find(conn, id, now)
        .await?
        .ok_or_else(|| AppError::NotFound("The token".into()))?;
    Ok((view, secret))
}

type Row = (
    ApiTokenId,
    UserId,
    String,
    String,
    Vec<String>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

fn view(row: Row, now: DateTime<Utc>) -> ApiTokenView {
    let (id, owner_id, owner, name, scopes, hint, created_at, expires_at, last_used_at, revoked_at) =
        row;
    ApiTokenView {
        id,
        owner_id,
        owner,
        name,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        hint: format!("{hint}…"),
        created_at,
        expires_at,
        last_used_at,
        revoked_at,
        live: revoked_at.is_none() && expires_at > now,
    }
}

macro_rules! columns {
    () => {
        (
            api_tokens::id,
            api_tokens::user_id,
            users::name,
            api_tokens::name,
            api_tokens::scopes,
            api_tokens::hint,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::last_used_at,
            api_tokens::revoked_at,
        )
    };
}

async fn find(
    conn: &mut AsyncPgConnection,
    id: ApiTokenId,
    now: DateTime<Utc>,
) -> Result<Option<ApiTokenView>, AppError> {
    let row: Option<Row> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::id.eq(id))
        .select(columns!())
        .first(conn)
        .await
        .optional()
        .map_err(DbError::from)?;
    Ok(row.map(|r| view(r, now)))
}

/// The tokens of `owner` (every person's with `None`), newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<Vec<ApiTokenView>, DbError> {
    let mut query = api_tokens::table
        .inner_join(users::table)
        .select(columns!())
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(500)
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(api_tokens::user_id.eq(owner));
    }
    let rows: Vec<Row> = query.load(conn).await?;
    Ok(rows.into_iter().map(|r| view(r, now)).collect())
}

/// Revokes token `id` at once: its owner may, and so may any admin. Revoking a revoked token
/// changes nothing.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    actor: &User,
    id: ApiTokenId,
    now: DateTime<Utc>,
) -> Result<ApiTokenView, AppError> {
    let owner: Option<UserId> = api_tokens::table
        .find(id)
        .select(api_tokens::user_id)
        .first(conn)
        .await
        .optional()
        .map_err(DbError::from)?;
    // Someone else's token is "not found" to a developer: ids are not a way to learn who has one.
    match owner {
        Some(owner) if owner == actor.id || actor.is_admin() => {}
        _ => return Err(AppError::NotFound("The token".into())),
    }
    conn.transaction(async |conn| {
        audit::stamp(conn, Some(actor), now).await?;
        diesel::update(api_tokens::table.find(id))
            .filter(api_tokens::revoked_at.is_null())
            .set((
                api_tokens::revoked_at.eq(now),
                api_tokens::revoked_by.eq(actor.id),
            ))
            .execute(conn)
            .await
            .map_err(DbError::from)
    })
    .await?;
    find(conn, id, now)
        .await?
        .ok_or_else(|| AppError::NotFound("The token".into()))
}

/// Revokes every live token of `owner` (an admin signing them out everywhere), inside the
/// caller's transaction, which names the actor for the audit log; returns how many.
pub async fn revoke_all_of(
    conn: &mut AsyncPgConnection,
    owner: UserId,
    by: UserId,
    now: DateTime<Utc>,
) -> Result<usize, DbError> {
    Ok(diesel::update(api_tokens::table)
        .filter(api_tokens::user_id.eq(owner))
        .filter(api_tokens::revoked_at.is_null())
        .set((
            api_tokens::revoked_at.eq(now),
            api_tokens::revoked_by.eq(by),
        ))
        .execute(conn)
        .await?)
}

/// Why a presented token grants nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// No token has this secret.
    Unknown,
    Expired,
    Revoked,
}

impl Rejected {
    pub fn message(self) -> &'static str {
        match self {
            Rejected::Unknown => "The API token is not valid.",
            Rejected::Expired => {
                "The API token has expired; make a new one on the API tokens page."
            }
            Rejected::Revoked => {
                "The API token was revoked; make a new one on the API tokens page."
            }
        }
    }
}

/// A token row as `authenticate` reads it, with its owner.
type Found = (
    ApiTokenId,
    String,
    Vec<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    User,
);

/// The grant a presented secret carries, with its owner as they are now. Each use is recorded
/// (at most once a minute, so a busy script does not write a row per call).
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Result<Grant, Rejected>, DbError> {
    // Anything but a secret this site could have made is refused before the database is asked.
    let well_formed = secret.strip_prefix(SECRET_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !well_formed {
        return Ok(Err(Rejected::Unknown));
    }
    let found: Option<Found> = api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(hash(secret)))
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::scopes,
            api_tokens::expires_at,
            api_tokens::revoked_at,
            api_tokens::last_used_at,
            User::as_select(),
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((token_id, token_name, scopes, expires_at, revoked_at, last_used_at, user)) = found
    else {
        return Ok(Err(Rejected::Unknown));
    };
    if revoked_at.is_some() {
        return Ok(Err(Rejected::Revoked));
    }
    if expires_at <= now {
        return Ok(Err(Rejected::Expired));
    }
    if last_used_at.is_none_or(|at| now - at >= Duration::minutes(1)) {
        diesel::update(api_tokens::table.find(token_id))
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)
            .await?;
    }
    Ok(Ok(Grant {
        token_id,
        token_name,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        user,
    }))
}
