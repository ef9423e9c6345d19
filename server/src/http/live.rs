//! The live-update streams (Server-Sent Events): `/live/loans/{id}` for a loan's page (its
//! borrower or an admin) and `/live/admin` for the admin dashboard. A stream says `ready` once it
//! is subscribed, then `changed` whenever what its page shows changed (at most one event per
//! change, with no data but the loan number), and a comment every 20 s so proxies keep it open.
//! Following a stream does not count as use of the session, as polling did not.

use std::convert::Infallible;
use std::time::Duration;

use app::server::live::Change;
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
    let user = match caller(&state, &headers).await {
        Ok(user) => user,
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
    stream(&state, move |change| {
        change.concerns_loan(id).then_some(id.to_string())
    })
    .await
}

/// The admin dashboard's stream: loans, machines and tasks.
async fn admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match caller(&state, &headers).await {
        Ok(user) if user.is_admin() => {}
        Ok(_) => return StatusCode::FORBIDDEN.into_response(),
        Err(status) => return status.into_response(),
    }
    stream(&state, |change| {
        Some(match change {
            Change::Loan(id) => id.to_string(),
            Change::Machines => "machines".to_owned(),
            Change::Tasks => "tasks".to_owned(),
            Change::Resync => "all".to_owned(),
        })
    })
    .await
}

/// The signed-in caller (without counting this as use of the session), or 401.
async fn caller(state: &AppState, headers: &HeaderMap) -> Result<User, StatusCode> {
    let token = sessions::token_from_headers(headers, state.site.cookie_name())
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let mut conn = state
        .conn()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    sessions::find(
        &mut conn,
        &token,
        state.clock.now(),
        state.site.session_policy(),
        false,
    )
    .await
    .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
    .ok_or(StatusCode::UNAUTHORIZED)
}

/// A stream of `changed` events, one per change `select` keeps (its data).
async fn stream(
    state: &AppState,
    select: impl Fn(Change) -> Option<String> + Send + 'static,
) -> Response {
    let Some(changes) = state.live.subscribe(SUBSCRIBE_WAIT).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "live updates are unavailable",
        )
            .into_response();
    };
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("")) });
    let closing = state.live.closing();
    Sse::new(futures::StreamExt::chain(
        ready,
        events(changes, closing, select),
    ))
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
    .into_response()
}

/// The `changed` events of one stream, until the process shuts down.
fn events(
    changes: broadcast::Receiver<Change>,
    closing: watch::Receiver<bool>,
    select: impl Fn(Change) -> Option<String> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let start = (changes, closing, select);
    futures::stream::unfold(start, |(mut changes, mut closing, select)| async move {
        loop {
            let received = tokio::select! {
                received = changes.recv() => received,
                _ = closing.wait_for(|closing| *closing) => return None,
            };
            let change = match received {
                Ok(change) => change,
                // Fell behind: some changes were dropped, so the page reloads everything.
                Err(broadcast::error::RecvError::Lagged(_)) => Change::Resync,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if let Some(data) = select(change) {
                let event = Event::default().event("changed").data(data);
                return Some((Ok(event), (changes, closing, select)));
            }
        }
    })
}
