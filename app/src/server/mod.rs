//! The server-only half of the app: shared state, database access and the domain services that
//! server functions and jobs call. Compiled only with the `ssr` feature, so none of it (nor
//! diesel, tokio or lettre) reaches the WASM bundle.

pub mod admin_views;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod commands;
pub mod context;
pub mod db;
pub mod events;
pub mod forms;
pub mod health;
pub mod inventory;
pub mod limits;
pub mod links;
pub mod live;
pub mod loans;
pub mod machine_actions;
pub mod machines;
pub mod mail;
pub mod mailbox;
pub mod markdown;
pub mod models;
pub mod people;
pub mod policies;
pub mod pools;
pub mod queue;
#[rustfmt::skip]
pub mod schema;
pub mod sessions;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod waiting;

pub use clock::Clock;
pub use db::{DbConn, DbError, DbPool};
pub use state::{AppState, PublicUrl, SiteSettings};
