//! The Loaner server: configuration, the database (a private PostgreSQL cluster when none is
//! configured), single sign-on, the HTTP router around the Leptos app, the job queue and its workers, and the
//! hardware drivers. `main.rs` wires these into the `loaner` command.

pub mod actions;
pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod database;
pub mod demo;
pub mod drivers;
pub mod http;
pub mod inventory;
pub mod jobs;
pub mod mail;
pub mod private_pg;
pub mod runtime;
pub mod simulate;
pub mod telemetry;
