//! The request form: what a developer asks for, and its fields checked against the pool's policy.

use super::LoanError;
use crate::error::FieldError;
use crate::rules::{policy, validate};
use crate::types::Policy;

/// What a developer asks for on the request form.
#[derive(Clone, Debug)]
pub struct LoanRequest {
    pub pool: String,
    pub reason: String,
    pub bug_ref: String,
    /// As typed; parsed here so a bad value gets a field message.
    pub duration_hours: String,
    pub ssh_public_key: String,
    /// Wait in line when no machine is free, instead of being refused.
    pub wait: bool,
}

/// A request whose every field passed validation.
pub(super) struct CheckedRequest {
    pub(super) reason: String,
    pub(super) bug_ref: Option<String>,
    pub(super) duration_hours: i32,
    pub(super) ssh_key_line: String,
}

/// Validates every field against the pool's policy, reporting all problems at once.
pub(super) fn check(policy: &Policy, input: &LoanRequest) -> Result<CheckedRequest, LoanError> {
    let mut errors = Vec::new();
    let reason = validate::reason(&input.reason)
        .map_err(|m| errors.push(FieldError::new("reason", m)))
        .ok();
    let bug_ref = validate::bug_ref(&input.bug_ref, policy.bug_required)
        .map_err(|m| errors.push(FieldError::new("bug_ref", m)))
        .ok();
    let duration = input
        .duration_hours
        .trim()
        .parse::<i32>()
        .map_err(|_| "Choose how long you need the machine.".to_owned())
        .and_then(|hours| {
            policy::check_duration(hours, policy.max_duration_hours).map_err(|e| e.to_string())
        })
        .map_err(|m| errors.push(FieldError::new("duration_hours", m)))
        .ok();
    let key = validate::ssh_public_key(&input.ssh_public_key)
        .map_err(|m| errors.push(FieldError::new("ssh_public_key", m)))
        .ok();
    match (reason, bug_ref, duration, key) {
        (Some(reason), Some(bug_ref), Some(duration_hours), Some(key)) if errors.is_empty() => {
            Ok(CheckedRequest {
                reason,
                bug_ref,
                duration_hours,
                ssh_key_line: key.line,
            })
        }
        _ => Err(LoanError::Invalid(errors)),
    }
}
