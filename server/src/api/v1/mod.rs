//! The JSON API, `/api/v1`, for scripts and the command-line client. Every endpoint calls the same
//! service functions as the pages and adds no rule of its own; what it adds is the caller (a
//! personal API token, `Authorization: Bearer loaner_…`, never a session cookie), the token's
//! scopes, a rate limit per token, and one error shape:
//! `{"error": {"code": "…", "message": "…", "fields": [{"field", "message"}], "rule": "…"}}`.

mod admin;
mod catalogue;
mod loans;
pub mod openapi;

use std::time::Duration;

use app::error::AppError;
use app::server::tokens::{self, Grant};
use app::server::AppState;
use app::types::Scope;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, TransactionManager};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One endpoint of the API.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    /// The scope a token needs; `None`: any live token.
    pub scope: Option<Scope>,
    pub summary: &'static str,
}

const fn endpoint(
    method: &'static str,
    path: &'static str,
    scope: Option<Scope>,
    summary: &'static str,
) -> Endpoint {
    Endpoint {
        method,
        path,
        scope,
        summary,
    }
}

/// Every endpoint of the API. The endpoints page and the OpenAPI document are made from this
/// list, and the scope matrix test checks every one of them against the router.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint("GET", "/api/v1/me", None, "Who the token acts as, and what it may do (any live token)"),
    endpoint("GET", "/api/v1/pools", Some(Scope::LoansRead), "The catalogue: pools, free machines, policies"),
    endpoint("GET", "/api/v1/loans", Some(Scope::LoansRead), "Your loans (or everyone's with scope=all, admins), newest first; filter by state and pool; paginated"),
    endpoint("POST", "/api/v1/loans", Some(Scope::LoansWrite), "Borrow a machine; ?wait=SECONDS answers once it is ready"),
    endpoint("GET", "/api/v1/loans/{id}", Some(Scope::LoansRead), "One loan with its timeline and connection details; ?wait=SECONDS waits for it to move on"),
    endpoint("POST", "/api/v1/loans/{id}/extend", Some(Scope::LoansWrite), "Extend a ready loan within its pool's policy"),
    endpoint("POST", "/api/v1/loans/{id}/return", Some(Scope::LoansWrite), "Give the machine back: it is cleaned and returns to the pool"),
    endpoint("POST", "/api/v1/loans/{id}/cancel", Some(Scope::LoansWrite), "Call off a loan that is not ready yet"),
    endpoint("GET", "/api/v1/approvals", Some(Scope::Admin), "Admins: loans waiting for approval, oldest first"),
    endpoint("POST", "/api/v1/approvals/{id}/approve", Some(Scope::Admin), "Admins: approve a request (?duration_hours= to shorten it)"),
    endpoint("POST", "/api/v1/approvals/{id}/deny", Some(Scope::Admin), "Admins: deny a request, saying why"),
    endpoint("GET", "/api/v1/machines", Some(Scope::MachinesRead), "Admins: machines, a page at a time (?state=, ?page=)"),
    endpoint("GET", "/api/v1/machines/{host}", Some(Scope::MachinesRead), "Admins: a machine's actions it can run, its latest actions and loans"),
    endpoint("POST", "/api/v1/machines/{host}/actions", Some(Scope::MachinesAct), "Admins: run status, power_on, power_off, reboot or reimage; ?wait=SECONDS"),
    endpoint("GET", "/api/v1/machines/{host}/actions/{id}", Some(Scope::MachinesRead), "Admins: one action and its output; ?wait=SECONDS until it ends"),
    endpoint("GET", "/api/v1/audit", Some(Scope::Admin), "Admins: the audit log, filtered by actor, target, kind and dates, a page at a time"),
];

/// The API's routes, one method per `.route` (the tests read them from this source).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me", get(catalogue::me))
        .route("/api/v1/pools", get(catalogue::pools))
        .route("/api/v1/loans", get(loans::list))
        .route("/api/v1/loans", post(loans::create))
        .route("/api/v1/loans/{id}", get(loans::get))
        .route("/api/v1/loans/{id}/extend", post(loans::extend))
        .route("/api/v1/loans/{id}/return", post(loans::give_back))
        .route("/api/v1/loans/{id}/cancel", post(loans::cancel))
        .route("/api/v1/approvals", get(admin::approvals))
        .route("/api/v1/approvals/{id}/approve", post(admin::approve))
        .route("/api/v1/approvals/{id}/deny", post(admin::deny))
        .route("/api/v1/machines", get(admin::machine_list))
        .route("/api/v1/machines/{host}", get(admin::machine_get))
        .route("/api/v1/machines/{host}/actions", post(admin::run_action))
        .route(
            "/api/v1/machines/{host}/actions/{id}",
            get(admin::action_get),
        )
        .route("/api/v1/audit", get(admin::audit_search))
        .route("/api/v1/docs", get(openapi::docs))
        .route("/api/v1/openapi.json", get(openapi_document))
        .route("/api/v1/{*rest}", axum::routing::any(not_an_endpoint))
}

/// `GET /api/v1/openapi.json`: the OpenAPI 3.1 document (no token needed).
async fn openapi_document(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    reply(
        StatusCode::OK,
        &openapi::document(&state.site.public_url.origin()),
    )
}

async fn not_an_endpoint() -> ApiError {
    ApiError::from(AppError::NotFound(
        "That API endpoint (see /api/v1/docs)".into(),
    ))
}

/// An error as the API answers it: the app's error, with a message of the API's own where the
/// app's would speak of pages ("Please sign in first").
#[derive(Debug)]
pub struct ApiError(pub AppError, pub Option<String>);

impl ApiError {
    /// 401: no token, or one that grants nothing, and why.
    pub fn unauthorized(why: impl Into<String>) -> Self {
        Self(AppError::Unauthorized, Some(why.into()))
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(err, None)
    }
}

impl From<app::server::DbError> for ApiError {
    fn from(err: app::server::DbError) -> Self {
        Self(err.into(), None)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    message: String,
    fields: &'a [app::error::FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
}

/// The machine-readable name of an error.
pub fn code(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthorized => "unauthorized",
        AppError::Forbidden => "forbidden",
        AppError::Refused { .. } => "refused",
        AppError::RateLimited { .. } => "rate_limited",
        AppError::TooLarge { .. } => "too_large",
        AppError::NotFound(_) => "not_found",
        AppError::Validation(_) => "invalid",
        AppError::Conflict(_) => "conflict",
        AppError::BadRequest(_) => "bad_request",
        AppError::Internal | AppError::Transport(_) => "internal",
    }
}

/// `err` as the API's JSON error response, with `message` instead of the error's own.
pub fn error_response(err: &AppError, message: Option<&str>) -> Response {
    let fields = match err {
        AppError::Validation(fields) => fields.as_slice(),
        _ => &[],
    };
    let rule = match err {
        AppError::Refused { rule, .. } => Some(rule.as_str()),
        _ => None,
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: code(err),
            message: match (message, err) {
                (Some(message), _) => message.to_owned(),
                // The app's message speaks of highlighted fields on a page.
                (None, AppError::Validation(fields)) => format!(
                    "Invalid {}: see fields.",
                    fields
                        .iter()
                        .map(|f| f.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                (None, err) => err.to_string(),
            },
            fields,
            rule,
        },
    };
    let mut response = (err.status(), axum::Json(body)).into_response();
    let headers = response.headers_mut();
    match err {
        AppError::Unauthorized => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"loaner\""),
            );
        }
        AppError::RateLimited { retry_after_secs } => {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        _ => {}
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self.0, self.1.as_deref())
    }
}

/// A success: the value as JSON with `status`.
pub fn reply<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Who calls: the grant of the API token the request carries, checked live (not expired, not
/// revoked) and within its rate limit.
pub struct Caller {
    pub state: AppState,
    pub grant: Grant,
}

impl Caller {
    /// The token's scopes (and its owner's role) allow `scope`, or the refusal says which scope
    /// is missing.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.grant.allows(scope) {
            return Ok(());
        }
        let owner_is_admin = self.grant.user.is_admin();
        let machines = matches!(scope, Scope::MachinesRead | Scope::MachinesAct);
        let has_machines = self
            .grant
            .scopes
            .iter()
            .any(|s| matches!(s, Scope::MachinesRead | Scope::MachinesAct));
        let (rule, message) = if machines && has_machines && !owner_is_admin {
            (
                "admins_only",
                "Machines are admins' business: this token's owner is not an admin.".to_owned(),
            )
        } else if self.grant.scopes.contains(&Scope::Admin) && !owner_is_admin {
            (
                "token_scope",
                "This token's admin scope does nothing: its owner is not an admin.".to_owned(),
            )
        } else if scope == Scope::Admin {
            (
                "token_scope",
                "Only an admin's token with the admin scope may do that.".to_owned(),
            )
        } else {
            (
                "token_scope",
                format!("This token lacks the {scope} scope, which this call needs."),
            )
        };
        Err(ApiError::from(AppError::Refused {
            rule: rule.into(),
            message,
        }))
    }

    /// A connection from the pool.
    pub async fn conn(&self) -> Result<app::server::DbConn, ApiError> {
        Ok(self.state.conn().await?)
    }
}

/// The secret of `Authorization: Bearer <secret>`.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(secret) = bearer(parts) else {
            return Err(ApiError::unauthorized(
                "Send a personal API token: `Authorization: Bearer loaner_…` (make one on the API tokens page). A browser's sign-in does not count here.",
            ));
        };
        let mut conn = state.conn().await?;
        match tokens::authenticate(&mut conn, secret, state.clock.now()).await? {
            Ok(grant) => {
                state
                    .limits
                    .check_api_call(grant.user.id)
                    .map_err(|limited| ApiError::from(AppError::from(limited)))?;
                Ok(Caller {
                    state: state.clone(),
                    grant,
                })
            }
            Err(rejected) => {
                tracing::info!(reason = rejected.message(), "refused an API token");
                Err(ApiError::unauthorized(rejected.message()))
            }
        }
    }
}

/// A JSON body; a body that does not parse is a 400 in the API's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::from(AppError::BadRequest(json_problem(
                &rejection,
            )))),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> String {
    rejection.body_text()
}

/// Path parameters; one that does not parse (`/loans/abc`) is a 400 in the API's shape.
pub struct Id<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Id(value)),
            Err(rejection) => Err(ApiError::from(AppError::BadRequest(path_problem(
                &rejection,
            )))),
        }
    }
}

fn path_problem(rejection: &PathRejection) -> String {
    rejection.body_text()
}

/// Query parameters; ones that do not parse are a 400 in the API's shape.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::from(AppError::BadRequest(query_problem(
                &rejection,
            )))),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> String {
    rejection.body_text()
}

diesel::define_sql_function! {
    fn set_config(setting_name: diesel::sql_types::Text, new_value: diesel::sql_types::Text, is_local: diesel::sql_types::Bool) -> diesel::sql_types::Text;
}

/// Runs `change` in a transaction whose audit rows name the token as well as its owner
/// ("Ada via API token “ci” (#4)"). The service's own transaction nests inside it (a savepoint).
pub async fn as_token<T>(
    conn: &mut AsyncPgConnection,
    grant: &Grant,
    change: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, AppError>,
) -> Result<T, ApiError> {
    type Manager = <AsyncPgConnection as AsyncConnection>::TransactionManager;
    let db = |err: diesel::result::Error| ApiError::from(app::server::DbError::from(err));
    Manager::begin_transaction(conn).await.map_err(db)?;
    let outcome = async {
        diesel::select(set_config("loaner.via", grant.via(), true))
            .execute(conn)
            .await
            .map_err(db)?;
        change(conn).await.map_err(ApiError::from)
    }
    .await;
    match outcome {
        Ok(value) => {
            Manager::commit_transaction(conn).await.map_err(db)?;
            Ok(value)
        }
        Err(err) => {
            // A failed rollback leaves the connection broken; the pool then drops it.
            let _ = Manager::rollback_transaction(conn).await;
            Err(err)
        }
    }
}

/// The longest a call may wait (`?wait=SECONDS`) for a loan to move on.
pub const MAX_WAIT_SECS: u64 = 60;

/// `?wait=` as a duration, within [`MAX_WAIT_SECS`].
pub fn wait_for(seconds: Option<u64>) -> Result<Option<Duration>, ApiError> {
    match seconds {
        None | Some(0) => Ok(None),
        Some(s) if s <= MAX_WAIT_SECS => Ok(Some(Duration::from_secs(s))),
        Some(_) => Err(ApiError::from(AppError::field(
            "wait",
            format!("Wait at most {MAX_WAIT_SECS} seconds; ask again to wait longer."),
        ))),
    }
}
