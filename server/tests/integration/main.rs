//! The server's integration tests, in one binary so that the workspace links them once: each
//! module is one area (loans, queue, mail, security, ...), every test builds its `World` (a
//! database of its own), and nextest runs each test in its own process.

mod common;

mod accountability;
mod admin_actions;
mod api;
mod approvals;
mod authorization;
mod catalogue;
mod cleanup;
mod client;
mod commands;
mod concurrency;
mod crash;
mod drivers;
mod escaping;
mod failures;
mod http;
mod inventory;
mod inventory_cli;
mod inventory_sync;
mod lifecycle;
mod links;
mod live;
mod loans;
mod mail;
mod metrics;
mod oidc_provider;
mod oversight;
mod paging;
mod platform;
mod precision;
mod queue;
mod rate_limits;
mod scanners;
mod security;
mod sessions;
mod sign_in;
mod speed;
mod statistics;
mod waiting;
