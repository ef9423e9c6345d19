//! What the server's integration tests share: a database of their own (cloned from a migrated
//! template, so tests run in parallel without seeing each other), fixtures, step scripts, and a
//! worker whose clock the test moves.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod db;
pub mod fixtures;
pub mod scenarios;
pub mod smtp;

pub use db::TestDb;
pub use fixtures::*;
