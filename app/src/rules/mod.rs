//! Pure rules: plain values in, `Result` out. No clock, no database, no environment; callers
//! pass `now` and the facts. These carry most of the unit tests.

pub mod deadlines;
mod driver_sections;
pub mod lifecycle;
pub mod paging;
pub mod paths;
pub mod policy;
#[cfg(feature = "ssr")]
pub mod ssh_key;
pub mod steps;
pub mod validate;
