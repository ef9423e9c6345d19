//! The server's integration tests, in one binary so that the workspace links them once: each
//! module is one area (loans, queue, mail, ...), every test gets a database of its own, and
//! nextest runs each test in its own process.

mod common;

mod approvals;
mod commands;
mod concurrency;
mod crash;
mod http;
mod inventory;
mod lifecycle;
mod loans;
mod mail;
mod oversight;
mod platform;
mod precision;
mod queue;
mod security;
mod waiting;
