//! The closed vocabularies of the domain: states, roles, actions, kinds. Each is stored in a
//! `TEXT` column (with a database `CHECK` where the column has one) and sent over the wire as its
//! text; reading an unknown value from the database is an error, never a silent default.

use serde::{Deserialize, Serialize};

/// Declares a string-backed enum stored in a `TEXT` column.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "ssr", derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow))]
        #[cfg_attr(feature = "ssr", diesel(sql_type = diesel::sql_types::Text))]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value stored in the database and sent over the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The word shown to people.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "ssr")]
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        #[cfg(feature = "ssr")]
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    diesel::pg::Pg,
                >>::from_sql(value)?;
                Self::parse(&text).ok_or_else(|| {
                    format!("unknown {} {text:?} in the database", stringify!($name)).into()
                })
            }
        }
    };
}

text_enum! {
    /// What a signed-in person may do.
    Role {
        Developer => "developer", "Developer";
        Admin => "admin", "Admin";
    }
}

text_enum! {
    /// Where a loan is in its life; see `rules::lifecycle` for the allowed moves.
    LoanState {
        Requested => "requested", "Requested";
        Approved => "approved", "Approved";
        Waiting => "waiting", "Waiting for a machine";
        Provisioning => "provisioning", "Provisioning";
        Ready => "ready", "Ready";
        Expired => "expired", "Expired";
        Returning => "returning", "Returning";
        Returned => "returned", "Returned";
        Reclaiming => "reclaiming", "Reclaiming";
        Reclaimed => "reclaimed", "Reclaimed";
        Denied => "denied", "Denied";
        Cancelled => "cancelled", "Cancelled";
        Failed => "failed", "Failed";
    }
}

text_enum! {
    /// Where a machine is.
    MachineState {
        Available => "available", "Available";
        Provisioning => "provisioning", "Provisioning";
        Loaned => "loaned", "Loaned";
        Reclaiming => "reclaiming", "Cleaning up";
        Maintenance => "maintenance", "Maintenance";
        Broken => "broken", "Broken";
        Retired => "retired", "Retired";
    }
}

text_enum! {
    /// Whether a pool's requests need an admin.
    ApprovalMode {
        Automatic => "automatic", "Automatic";
        Manual => "manual", "Needs an admin";
    }
}

text_enum! {
    /// The hardware actions every driver understands (SPEC §5).
    Action {
        Status => "status", "Status";
        PowerOn => "power_on", "Power on";
        PowerOff => "power_off", "Power off";
        Reboot => "reboot", "Reboot";
        Reimage => "reimage", "Re-image";
        GrantAccess => "grant_access", "Grant access";
        RevokeAccess => "revoke_access", "Revoke access";
    }
}

text_enum! {
    /// The drivers a step can use.
    DriverKind {
        Command => "command", "Command";
        Manual => "manual", "Manual";
        Ssh => "ssh", "SSH";
        Ipmi => "ipmi", "IPMI";
        SnmpPdu => "snmp_pdu", "SNMP PDU";
        AwsEc2 => "aws_ec2", "AWS EC2";
        Auto => "auto", "Each configured way in turn";
    }
}

text_enum! {
    /// Which of a pool's steps run: provisioning; clean-up; at expiry with a grace period, the
    /// clean-up steps that cut access (revoke access, power off); on restore, the provisioning
    /// steps that give it back (power on, grant access).
    Phase {
        Provision => "provision", "Provisioning";
        Reclaim => "reclaim", "Clean-up";
        Suspend => "suspend", "Revoking access";
        Resume => "resume", "Restoring access";
    }
}

text_enum! {
    /// The messages Loaner sends.
    MailKind {
        Ready => "ready", "Machine ready";
        Reminder => "reminder", "Reminder";
        Extended => "extended", "Loan extended";
        Returned => "returned", "Machine returned";
        Expired => "expired", "Loan expired";
        Reclaimed => "reclaimed", "Machine reclaimed";
        ProvisioningFailed => "provisioning_failed", "Provisioning failed";
        CleanupFailed => "cleanup_failed", "Clean-up failed";
        Digest => "digest", "Daily digest";
        NeedsApproval => "needs_approval", "Needs approval";
        Approved => "approved", "Request approved";
        Denied => "denied", "Request denied";
        TaskOpened => "task_opened", "Admin task";
        MachineAction => "machine_action", "Admin action on your machine";
        HealthFailed => "health_failed", "Machine failed its health check";
    }
}

text_enum! {
    /// What a one-click link in an email does.
    LinkAction {
        Return => "return", "Return the machine";
        Extend => "extend", "Extend the loan";
        Approve => "approve", "Approve the request";
        Deny => "deny", "Deny the request";
    }
}

text_enum! {
    /// Where an admin task (a manual step) stands.
    TaskState {
        Open => "open", "Open";
        Done => "done", "Done";
        Failed => "failed", "Failed";
        Cancelled => "cancelled", "Cancelled";
    }
}

text_enum! {
    /// How an admin closes a task: done (the loan moves on) or failed (the loan fails).
    TaskOutcome {
        Done => "done", "Done";
        Failed => "failed", "Failed";
    }
}

text_enum! {
    /// What an entry of a loan's history records; the timeline picks its icon from it.
    EventKind {
        Requested => "requested", "Requested";
        Approved => "approved", "Approved";
        MachineAssigned => "machine_assigned", "Machine assigned";
        StepStarted => "step_started", "Step started";
        StepSucceeded => "step_succeeded", "Step done";
        StepFailed => "step_failed", "Step failed";
        Ready => "ready", "Ready";
        ReturnRequested => "return_requested", "Returned";
        Cancelled => "cancelled", "Cancelled";
        Failed => "failed", "Failed";
        CleanupFinished => "cleanup_finished", "Cleaned up";
        MachineBroken => "machine_broken", "Machine broken";
        Extended => "extended", "Extended";
        Expired => "expired", "Expired";
        ReclaimStarted => "reclaim_started", "Reclaim started";
        Restored => "restored", "Restored";
        AccessRevoked => "access_revoked", "Access revoked";
        AccessRestored => "access_restored", "Access restored";
        LinkUsed => "link_used", "Email link used";
        AwaitingApproval => "awaiting_approval", "Awaiting approval";
        Waiting => "waiting", "Waiting in line";
        Denied => "denied", "Denied";
        Shortened => "shortened", "Shortened";
        WaitingForAdmin => "waiting_for_admin", "Waiting for an admin";
        TaskDone => "task_done", "Admin task closed";
        Moved => "moved", "Moved";
        ForcedReturn => "forced_return", "Taken back";
        Override => "override", "Policy override";
        AdminAction => "admin_action", "Admin action";
        AdminActionDone => "admin_action_done", "Admin action finished";
    }
}

text_enum! {
    /// The kinds of work the scheduler does; `jobs.kind`. Each is one variant of
    /// `server::queue::Job`, which carries its arguments.
    JobKind {
        ProvisionStep => "provision_step", "Provisioning step";
        ReclaimStep => "reclaim_step", "Clean-up step";
        SuspendStep => "suspend_step", "Access revocation step";
        ResumeStep => "resume_step", "Access restoration step";
        ExpireLoan => "expire_loan", "Loan expiry";
        EndGrace => "end_grace", "End of grace period";
        SendMail => "send_mail", "Email";
        SweepWaiting => "sweep_waiting", "Waiting-line sweep";
        PurgeMail => "purge_mail", "Old email purge";
        MachineAction => "machine_action", "Machine action";
        HealthSweep => "health_sweep", "Health checks";
        HealthCheck => "health_check", "Health check";
    }
}

text_enum! {
    /// Where an admin's action on a machine stands.
    ActionState {
        Queued => "queued", "Queued";
        Running => "running", "Running";
        Succeeded => "succeeded", "Done";
        Failed => "failed", "Failed";
    }
}

text_enum! {
    /// The two lanes of the queue. Timers are short and due at an exact time; they have workers
    /// of their own so that long steps never delay an expiry.
    Lane {
        Timers => "timers", "Timers";
        Work => "work", "Work";
    }
}

impl Phase {
    /// Which actions of the source list run in this phase; `None` means all of them.
    pub fn actions(self) -> Option<&'static [Action]> {
        match self {
            Self::Provision | Self::Reclaim => None,
            Self::Suspend => Some(&[Action::RevokeAccess, Action::PowerOff]),
            Self::Resume => Some(&[Action::PowerOn, Action::GrantAccess]),
        }
    }
}

impl LoanState {
    /// Loans that count against a person's caps: asked for and not yet given back.
    pub const ACTIVE: [LoanState; 6] = [
        LoanState::Requested,
        LoanState::Approved,
        LoanState::Waiting,
        LoanState::Provisioning,
        LoanState::Ready,
        LoanState::Expired,
    ];

    /// States in which a loan holds its machine (the database's unique index uses the same list).
    pub const HOLDING_MACHINE: [LoanState; 5] = [
        LoanState::Provisioning,
        LoanState::Ready,
        LoanState::Expired,
        LoanState::Returning,
        LoanState::Reclaiming,
    ];

    /// The loan is over: nothing more will happen to it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Returned | Self::Reclaimed | Self::Denied | Self::Cancelled | Self::Failed
        )
    }

    /// The loan holds its machine.
    pub fn holds_machine(self) -> bool {
        Self::HOLDING_MACHINE.contains(&self)
    }

    /// Something is happening that the borrower is waiting on.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            Self::Requested
                | Self::Approved
                | Self::Waiting
                | Self::Provisioning
                | Self::Returning
                | Self::Reclaiming
        )
    }
}

impl MachineState {
    /// A loan is using the machine or cleaning it: an admin's change waits for the loan's end.
    pub fn is_busy(self) -> bool {
        matches!(self, Self::Provisioning | Self::Loaned | Self::Reclaiming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        for state in LoanState::ALL {
            assert_eq!(LoanState::parse(state.as_str()), Some(*state));
        }
        for state in MachineState::ALL {
            assert_eq!(MachineState::parse(state.as_str()), Some(*state));
        }
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(LoanState::parse("borrowed"), None);
    }

    #[test]
    fn machine_holding_states_are_not_terminal() {
        for state in LoanState::ALL {
            assert!(!(state.holds_machine() && state.is_terminal()), "{state}");
        }
        for state in LoanState::ACTIVE {
            assert!(!state.is_terminal(), "{state}");
        }
    }
}
