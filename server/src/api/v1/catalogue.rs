//! The caller and the catalogue.

use app::server::pools;
use app::types::{Role, Scope, UserId};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{reply, ApiError, Caller};

/// `GET /api/v1/me`: who the token acts as, and what it may do.
#[derive(Debug, Serialize)]
pub struct Me {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub token: TokenFacts,
}

#[derive(Debug, Serialize)]
pub struct TokenFacts {
    pub id: app::types::ApiTokenId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The scopes that take effect with the owner's role as it is now.
    pub effective_scopes: Vec<Scope>,
}

pub async fn me(caller: Caller) -> Result<Response, ApiError> {
    // Any live token may ask who it acts as (`loaner login` checks a token this way).
    let grant = &caller.grant;
    let me = Me {
        id: grant.user.id,
        name: grant.user.name.clone(),
        email: grant.user.email.clone(),
        role: grant.user.role,
        token: TokenFacts {
            id: grant.token_id,
            name: grant.token_name.clone(),
            scopes: grant.scopes.clone(),
            effective_scopes: Scope::ALL
                .iter()
                .copied()
                .filter(|s| grant.allows(*s))
                .collect(),
        },
    };
    Ok(reply(StatusCode::OK, &me))
}

/// `GET /api/v1/pools`: the catalogue, with free machines and each pool's policy.
pub async fn pools(caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::LoansRead)?;
    let mut conn = caller.conn().await?;
    let pools = pools::catalogue(&mut conn).await?;
    Ok(reply(
        StatusCode::OK,
        &serde_json::json!({ "pools": pools }),
    ))
}
