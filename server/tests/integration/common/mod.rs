//! What the server's integration tests share: the `World` a test builds (a database of its own,
//! cloned from a migrated template so tests run in parallel; pools, people, workers), step
//! scripts, a real SMTP server, HTTP helpers for the router, and measured scenarios.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod db;
pub mod http;
pub mod oidc;
pub mod peers;
pub mod scenarios;
pub mod scripts;
pub mod smtp;
pub mod world;

pub use db::TestDb;
pub use scripts::step;
pub use world::*;

pub use app::types::{LoanId, MachineId, PoolId, UserId};
