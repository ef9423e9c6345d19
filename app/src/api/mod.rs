//! Typed server functions, one module per domain. Each one finds out who calls, checks they
//! may, calls one service function and converts its error; nothing else happens here.
//! Admin functions live under `/api/admin` so a test can find and check every one of them.

pub mod account;
pub mod admin;
pub mod auth;
pub mod catalogue;
pub mod links;
pub mod loans;
pub mod stats;
pub mod tokens;
