//! Admin-only server functions. Every function here is under `/api/admin` and starts with
//! `require_admin`; `server/tests/integration/http.rs` calls each one as a visitor, a developer
//! and an admin.

mod inventory;
mod loans;
mod machines;
mod people;
mod records;

pub use inventory::*;
pub use loans::*;
pub use machines::*;
pub use people::*;
pub use records::*;
