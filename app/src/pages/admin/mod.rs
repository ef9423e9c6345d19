//! The admins' pages: the dashboard, approvals, policies, the inventory and the audit log.
//! The server answers non-admins with 401/403 before any of these render.

pub mod approvals;
pub mod audit;
pub mod home;
pub mod loans;
pub mod machine_actions;
pub mod machine_edit;
pub mod machines;
pub mod people;
pub mod policies;
pub mod pool_edit;
pub mod pools;

use crate::types::ApprovalMode;

/// The approval choices of the policy forms, each with what it means.
pub(crate) fn approval_options() -> Vec<(String, String)> {
    ApprovalMode::ALL
        .iter()
        .map(|mode| {
            let meaning = match mode {
                ApprovalMode::Automatic => "Automatic",
                ApprovalMode::Manual => "Manual (an admin approves)",
            };
            (mode.as_str().to_owned(), meaning.to_owned())
        })
        .collect()
}
