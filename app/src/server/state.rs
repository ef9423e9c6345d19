//! What every request and job can reach.

use std::sync::Arc;

use leptos::config::LeptosOptions;

use super::{Clock, DbPool};

/// How the site is run; fixed at start-up.
#[derive(Clone, Debug)]
pub struct SiteSettings {
    /// Zero-configuration development mode: dev login, development mailbox, demo inventory.
    pub dev_mode: bool,
    /// The server is bound to a loopback address, so the development login may be offered.
    pub bound_to_loopback: bool,
    /// Set the `Secure` flag on cookies (the site is served over TLS).
    pub secure_cookies: bool,
    /// How long a sign-in lasts.
    pub session_hours: i64,
    /// The address people reach the site at, used in links.
    pub public_url: String,
    /// Minutes before a deadline that reminders go out, unless a pool says otherwise.
    pub reminder_offsets_minutes: Vec<i32>,
    /// Tests may move the clock through `POST /_test/clock` (development on loopback only).
    pub test_clock: bool,
}

impl SiteSettings {
    /// The development login is offered only in development mode on a loopback address.
    pub fn dev_login_allowed(&self) -> bool {
        self.dev_mode && self.bound_to_loopback
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: DbPool,
    pub clock: Clock,
    pub site: Arc<SiteSettings>,
    pub leptos_options: LeptosOptions,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// A pooled database connection.
    pub async fn conn(&self) -> Result<super::DbConn, super::DbError> {
        super::db::conn(&self.db).await
    }

    pub fn session_lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(self.site.session_hours)
    }
}
