//! One file per page.

pub mod account;
pub mod admin;
pub mod catalogue;
pub mod link;
pub mod loan;
pub mod login;
pub mod mailbox;
pub mod my_loans;
pub mod not_found;
pub mod request;
pub mod stats;
pub mod tokens;
