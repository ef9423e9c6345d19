//! The live-update streams (Server-Sent Events): `/live/loans/{id}` for a loan's page (its
//! borrower or an admin) and `/live/admin` for the admin dashboard. A stream says `ready` once it
//! is subscribed, then `changed` whenever what its page shows changed (at most one event per
//! change, with no data but the loan number), and a comment every 20 s so proxies keep it open.
//! Following a stream does not count as use of the session, as polling did not; a stream ends
//! when its session does (checked at most once a minute: before an event, or when idle), and one person may
//! hold `limits.live_pages_per_person` streams at once (more: 429, naming the rule).

use std::convert::Infallible;
use std::time::Duration;

use app::server::live::{Change, Ticket};
use app::server::models::User;
use app::server::{loans, sessions, AppState};
use app::types::LoanId;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::Stream;
use tokio::sync::{broadcast, watch};

/// How long a new stream waits for the process's listener before giving up (503).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(5);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/live/loans/{id}", get(loan))
        .route("/live/admin", get(admin))
}

/// The loan page's stream.
async fn loan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (user, token) = match caller(&state, &headers).await {
        Ok(caller) => caller,
        Err(status) => return status.into_response(),
    };
    // Anyone but the borrower and admins: exactly like a loan that does not exist.
    let Ok(id) = id.parse::<LoanId>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let visible = match state.conn().await {
        Ok(mut conn) => loans::watchable(&mut conn, &user, id).await.is_ok(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if !visible {
        return StatusCode::NOT_FOUND.into_response();
    }
    let select = move |change: Change| change.concerns_loan(id).then_some(id.to_string());
    stream(&state, user, token, select).await
}

/// The admin dashboard's stream: loans, machines and tasks.
async fn admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (user, token) = match caller(&state, &headers).await {
        Ok((user, token)) if user.is_admin() => (user, token),
        Ok(_) => return StatusCode::FORBIDDEN.into_response(),
        Err(status) => return status.into_response(),
    };
    stream(&state, user, token, |change| match change {
        Change::Loan(id) => Some(id.to_string()),
        Change::Machines => Some("machines".to_owned()),
        Change::Tasks => Some("tasks".to_owned()),
        Change::Resync => Some("all".to_owned()),
        // The dashboard shows no pool's definition.
        Change::Pools => None,
    })
    .await
}

/// The signed-in caller and their session token (without counting this as use of the
/// session), or 401.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<(User, String), StatusCode> {
    let token = sessions::token_from_headers(headers, state.site.cookie_name())
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let user = signed_in(state, &token).await?;
    Ok((user, token))
}

/// The person whose session `token` is, while it lasts.
async fn signed_in(state: &AppState, token: &str) -> Result<User, StatusCode> {
    let mut conn = state
        .conn()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    sessions::find(
        &mut conn,
        token,
        state.clock.now(),
        state.site.session_policy(),
        false,
    )
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
    .ok_or(StatusCode::UNAUTHORIZED)
}

/// A stream of `changed` events, one per change `select` keeps (its data), for as long as the
/// caller's session lasts (checked at most every `SESSION_CHECK`).
async fn stream(
    state: &AppState,
    user: User,
    token: String,
    select: impl Fn(Change) -> Option<String> + Send + 'static,
) -> Response {
    let Some(ticket) = state.live.admit(user.id) else {
        let message = format!(
            "Refused by the rule \"live pages per person\": you already have {} live pages open. Close some tabs; pages beyond that stop updating by themselves.",
            state.live.per_person()
        );
        return (StatusCode::TOO_MANY_REQUESTS, message).into_response();
    };
    let Some(changes) = state.live.subscribe(SUBSCRIBE_WAIT).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "live updates are unavailable",
        )
            .into_response();
    };
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("")) });
    let follow = Follow {
        changes,
        closing: state.live.closing(),
        state: state.clone(),
        token,
        checked_at: state.clock.now(),
        _ticket: ticket,
    };
    Sse::new(futures::StreamExt::chain(ready, events(follow, select)))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response()
}

/// How often an idle stream checks that its session still lasts.
const SESSION_CHECK: Duration = Duration::from_secs(60);

/// What one open stream holds.
struct Follow {
    changes: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
    state: AppState,
    token: String,
    /// When the session was last found valid (at the start: just now).
    checked_at: chrono::DateTime<chrono::Utc>,
    /// Counts the stream against its person's limit until it ends.
    _ticket: Ticket,
}

impl Follow {
    async fn session_lasts(&mut self) -> bool {
        let lasts = signed_in(&self.state, &self.token).await.is_ok();
        if lasts {
            self.checked_at = self.state.clock.now();
        }
        lasts
    }

    /// Whether the session was checked less than `SESSION_CHECK` ago, or lasts now. Checking at
    /// most once a minute keeps a change's fan-out to many pages free of database reads.
    async fn session_recently_valid(&mut self) -> bool {
        let fresh = chrono::Duration::from_std(SESSION_CHECK).unwrap_or(chrono::Duration::MAX);
        self.state.clock.now() - self.checked_at < fresh || self.session_lasts().await
    }
}

/// The `changed` events of one stream, until the process shuts down or the session ends.
fn events(
    follow: Follow,
    select: impl Fn(Change) -> Option<String> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    futures::stream::unfold((follow, select), |(mut follow, select)| async move {
        loop {
            if *follow.closing.borrow() {
                return None;
            }
            let next = tokio::select! {
                received = follow.changes.recv() => Some(received),
                _ = follow.closing.changed() => return None,
                _ = tokio::time::sleep(SESSION_CHECK) => None,
            };
            let Some(received) = next else {
                // Quiet for a while: is anyone still signed in here?
                if !follow.session_lasts().await {
                    return None;
                }
                continue;
            };
            let change = match received {
                Ok(change) => change,
                // Fell behind: some changes were dropped, so the page reloads everything.
                Err(broadcast::error::RecvError::Lagged(_)) => Change::Resync,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            let Some(data) = select(change) else {
                continue;
            };
            // A signed-out or ended session hears nothing more.
            if !follow.session_recently_valid().await {
                return None;
            }
            let event = Event::default().event("changed").data(data);
            return Some((Ok(event), (follow, select)));
        }
    })
}
