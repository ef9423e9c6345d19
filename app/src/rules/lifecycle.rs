//! The loan state machine. Every state change in the services goes through [`next`], so a move
//! the product does not allow is refused the same way everywhere.

use crate::types::LoanState;

/// Something that happens to a loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoanAction {
    Approve,
    Deny,
    /// Approved, but no machine is free: wait in the pool's queue.
    Wait,
    /// A machine was assigned: start the pool's provisioning steps.
    StartProvisioning,
    MarkReady,
    Fail,
    Cancel,
    /// The borrower (or an admin) is done with the machine.
    Return,
    /// The deadline passed and the pool keeps the machine for a grace period.
    Expire,
    /// The deadline (or the grace period) passed: take the machine back.
    Reclaim,
    /// An admin gives an expired loan back to its borrower.
    Restore,
    /// The clean-up steps finished.
    FinishCleanup,
    /// The deadline moves later (within policy, checked by `policy::may_extend`).
    Extend,
    /// An admin moves a ready loan to another machine, which is provisioned afresh.
    Move,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a loan that is {} cannot be {}", from.label().to_lowercase(), verb(*action))]
pub struct TransitionError {
    pub from: LoanState,
    pub action: LoanAction,
}

fn verb(action: LoanAction) -> &'static str {
    match action {
        LoanAction::Approve => "approved",
        LoanAction::Deny => "denied",
        LoanAction::Wait => "queued",
        LoanAction::StartProvisioning => "provisioned",
        LoanAction::MarkReady => "marked ready",
        LoanAction::Fail => "marked failed",
        LoanAction::Cancel => "cancelled",
        LoanAction::Return => "returned",
        LoanAction::Expire => "expired",
        LoanAction::Reclaim => "reclaimed",
        LoanAction::Restore => "restored",
        LoanAction::FinishCleanup => "finished",
        LoanAction::Extend => "extended",
        LoanAction::Move => "moved",
    }
}

/// The state a loan moves to when `action` happens in `from`, or why it cannot.
pub fn next(from: LoanState, action: LoanAction) -> Result<LoanState, TransitionError> {
    use LoanAction as A;
    use LoanState as S;
    let to = match (from, action) {
        (S::Requested, A::Approve) => S::Approved,
        (S::Requested, A::Deny) => S::Denied,
        (S::Approved, A::Wait) => S::Waiting,
        (S::Approved | S::Waiting, A::StartProvisioning) => S::Provisioning,
        (S::Provisioning, A::MarkReady) => S::Ready,
        (S::Provisioning, A::Fail) => S::Failed,
        (S::Requested | S::Approved | S::Waiting | S::Provisioning, A::Cancel) => S::Cancelled,
        (S::Ready | S::Expired, A::Return) => S::Returning,
        (S::Ready, A::Expire) => S::Expired,
        (S::Ready | S::Expired, A::Reclaim) => S::Reclaiming,
        (S::Expired, A::Restore) => S::Ready,
        (S::Returning, A::FinishCleanup) => S::Returned,
        (S::Reclaiming, A::FinishCleanup) => S::Reclaimed,
        (S::Ready, A::Extend) => S::Ready,
        (S::Ready, A::Move) => S::Provisioning,
        _ => return Err(TransitionError { from, action }),
    };
    Ok(to)
}

/// The borrower may still call the request off.
pub fn can_cancel(state: LoanState) -> bool {
    next(state, LoanAction::Cancel).is_ok()
}

/// The borrower may say "I'm done".
pub fn can_return(state: LoanState) -> bool {
    next(state, LoanAction::Return).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use LoanAction as A;
    use LoanState as S;

    #[test]
    fn the_happy_path_reaches_returned() {
        let mut state = S::Requested;
        for action in [
            A::Approve,
            A::StartProvisioning,
            A::MarkReady,
            A::Return,
            A::FinishCleanup,
        ] {
            state = next(state, action).unwrap();
        }
        assert_eq!(state, S::Returned);
    }

    #[test]
    fn an_expired_loan_is_reclaimed_or_restored() {
        assert_eq!(next(S::Ready, A::Expire), Ok(S::Expired));
        assert_eq!(next(S::Expired, A::Reclaim), Ok(S::Reclaiming));
        assert_eq!(next(S::Expired, A::Restore), Ok(S::Ready));
        assert_eq!(next(S::Reclaiming, A::FinishCleanup), Ok(S::Reclaimed));
    }

    #[test]
    fn cancel_is_only_possible_before_the_machine_is_ready() {
        for state in [S::Requested, S::Approved, S::Waiting, S::Provisioning] {
            assert!(can_cancel(state), "{state}");
        }
        for state in [S::Ready, S::Returning, S::Returned, S::Failed, S::Denied] {
            assert!(!can_cancel(state), "{state}");
        }
    }

    #[test]
    fn return_needs_a_ready_or_expired_loan() {
        assert!(can_return(S::Ready));
        assert!(can_return(S::Expired));
        assert!(!can_return(S::Provisioning));
        assert!(!can_return(S::Returned));
    }

    #[test]
    fn only_a_ready_loan_is_extended() {
        assert_eq!(next(S::Ready, A::Extend), Ok(S::Ready));
        for state in [S::Provisioning, S::Expired, S::Returning, S::Reclaiming] {
            assert!(next(state, A::Extend).is_err(), "{state}");
        }
    }

    #[test]
    fn terminal_states_accept_nothing() {
        let actions = [
            A::Approve,
            A::Deny,
            A::Wait,
            A::StartProvisioning,
            A::MarkReady,
            A::Fail,
            A::Cancel,
            A::Return,
            A::Expire,
            A::Reclaim,
            A::Restore,
            A::FinishCleanup,
            A::Extend,
            A::Move,
        ];
        for state in S::ALL.iter().filter(|s| s.is_terminal()) {
            for action in actions {
                assert!(next(*state, action).is_err(), "{state} {action:?}");
            }
        }
    }

    #[test]
    fn refusals_read_as_sentences() {
        let err = next(S::Returned, A::Return).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a loan that is returned cannot be returned"
        );
    }
}
