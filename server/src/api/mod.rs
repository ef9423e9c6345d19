//! The JSON API for scripts and the command-line client; one module per version.

pub mod v1;
