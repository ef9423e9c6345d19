//! Loan policy rules: how long a loan may run.

/// Durations the request form offers, in hours, before the pool's cap is applied.
const DURATION_CHOICES: [i32; 11] = [1, 2, 4, 8, 24, 48, 72, 120, 168, 336, 720];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("Choose a duration of at least one hour.")]
    DurationTooShort,
    #[error("This pool lends machines for at most {}.", format_hours(*max_hours))]
    DurationAboveMax { max_hours: i32 },
}

/// The durations offered for a pool: the usual choices up to its maximum, plus its default and
/// its maximum themselves, ascending.
pub fn offered_durations(default_hours: i32, max_hours: i32) -> Vec<i32> {
    let mut hours: Vec<i32> = DURATION_CHOICES
        .iter()
        .copied()
        .filter(|h| *h <= max_hours)
        .chain([default_hours.min(max_hours), max_hours])
        .filter(|h| *h > 0)
        .collect();
    hours.sort_unstable();
    hours.dedup();
    hours
}

/// Checks a requested duration against the pool's maximum.
pub fn check_duration(hours: i32, max_hours: i32) -> Result<i32, PolicyError> {
    if hours < 1 {
        Err(PolicyError::DurationTooShort)
    } else if hours > max_hours {
        Err(PolicyError::DurationAboveMax { max_hours })
    } else {
        Ok(hours)
    }
}

/// "1 hour", "8 hours", "2 days", "1 week", "36 hours".
pub fn format_hours(hours: i32) -> String {
    let plural = |n: i32, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if hours >= 168 && hours % 168 == 0 {
        plural(hours / 168, "week")
    } else if hours >= 24 && hours % 24 == 0 {
        plural(hours / 24, "day")
    } else {
        plural(hours, "hour")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_durations_stop_at_the_cap_and_include_default_and_cap() {
        assert_eq!(offered_durations(24, 72), vec![1, 2, 4, 8, 24, 48, 72]);
        assert_eq!(offered_durations(6, 36), vec![1, 2, 4, 6, 8, 24, 36]);
    }

    #[test]
    fn a_default_above_the_cap_is_capped() {
        assert_eq!(offered_durations(100, 8), vec![1, 2, 4, 8]);
    }

    #[test]
    fn durations_are_checked_against_the_cap() {
        assert_eq!(check_duration(72, 72), Ok(72));
        assert_eq!(
            check_duration(73, 72),
            Err(PolicyError::DurationAboveMax { max_hours: 72 })
        );
        assert_eq!(check_duration(0, 72), Err(PolicyError::DurationTooShort));
        assert_eq!(check_duration(-5, 72), Err(PolicyError::DurationTooShort));
    }

    #[test]
    fn the_cap_error_names_the_cap() {
        let err = check_duration(200, 168).unwrap_err();
        assert_eq!(
            err.to_string(),
            "This pool lends machines for at most 1 week."
        );
    }

    #[test]
    fn hours_read_naturally() {
        assert_eq!(format_hours(1), "1 hour");
        assert_eq!(format_hours(8), "8 hours");
        assert_eq!(format_hours(48), "2 days");
        assert_eq!(format_hours(36), "36 hours");
        assert_eq!(format_hours(336), "2 weeks");
    }
}

/// How a pool lets loans be extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionPolicy {
    pub extension_hours: i32,
    pub max_extensions: i32,
    /// The longest a loan may run in total, first duration and extensions together.
    pub max_total_hours: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtendError {
    #[error("This pool does not allow extensions.")]
    NotAllowed,
    #[error("This loan was extended {max} times already, the most this pool allows.")]
    TooMany { max: i32 },
    #[error(
        "Another {} would take this loan past the pool's limit of {} in total.",
        format_hours(*extension_hours),
        format_hours(*max_total_hours)
    )]
    TotalCap {
        extension_hours: i32,
        max_total_hours: i32,
    },
}

/// The new deadline if a loan of `duration_hours`, extended `extensions_used` times, ending at
/// `expires_at`, is extended once more; or which cap forbids it.
pub fn may_extend(
    duration_hours: i32,
    extensions_used: i32,
    expires_at: chrono::DateTime<chrono::Utc>,
    policy: ExtensionPolicy,
) -> Result<chrono::DateTime<chrono::Utc>, ExtendError> {
    if policy.max_extensions == 0 {
        return Err(ExtendError::NotAllowed);
    }
    if extensions_used >= policy.max_extensions {
        return Err(ExtendError::TooMany {
            max: policy.max_extensions,
        });
    }
    let total = i64::from(duration_hours)
        + i64::from(extensions_used + 1) * i64::from(policy.extension_hours);
    if total > i64::from(policy.max_total_hours) {
        return Err(ExtendError::TotalCap {
            extension_hours: policy.extension_hours,
            max_total_hours: policy.max_total_hours,
        });
    }
    Ok(expires_at + chrono::Duration::hours(i64::from(policy.extension_hours)))
}

/// The reminders still to send for `deadline`: (offset in minutes, when), soonest first. An
/// offset whose time is not after `after` (the loan became ready or was extended then) is
/// skipped: nobody needs a reminder at the moment they got or extended the machine.
pub fn reminder_times(
    deadline: chrono::DateTime<chrono::Utc>,
    offsets_minutes: &[i32],
    after: chrono::DateTime<chrono::Utc>,
) -> Vec<(i32, chrono::DateTime<chrono::Utc>)> {
    let mut times: Vec<(i32, chrono::DateTime<chrono::Utc>)> = offsets_minutes
        .iter()
        .filter(|m| **m > 0)
        .map(|m| (*m, deadline - chrono::Duration::minutes(i64::from(*m))))
        .filter(|(_, at)| *at > after)
        .collect();
    times.sort_by_key(|(_, at)| *at);
    times.dedup_by_key(|(m, _)| *m);
    times
}

#[cfg(test)]
mod extension_tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    const POLICY: ExtensionPolicy = ExtensionPolicy {
        extension_hours: 24,
        max_extensions: 2,
        max_total_hours: 96,
    };

    #[test]
    fn an_extension_moves_the_deadline_by_the_pools_length() {
        let deadline = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        assert_eq!(
            may_extend(24, 0, deadline, POLICY),
            Ok(deadline + Duration::hours(24))
        );
    }

    #[test]
    fn each_cap_is_named_when_it_refuses() {
        let deadline = Utc::now();
        assert_eq!(
            may_extend(24, 2, deadline, POLICY),
            Err(ExtendError::TooMany { max: 2 })
        );
        let err = may_extend(73, 0, deadline, POLICY).unwrap_err();
        assert!(
            may_extend(72, 0, deadline, POLICY).is_ok(),
            "exactly at the cap is allowed"
        );
        assert_eq!(
            err.to_string(),
            "Another 1 day would take this loan past the pool's limit of 4 days in total."
        );
        let none = ExtensionPolicy {
            max_extensions: 0,
            ..POLICY
        };
        assert_eq!(
            may_extend(1, 0, deadline, none),
            Err(ExtendError::NotAllowed)
        );
        assert_eq!(
            ExtendError::TooMany { max: 2 }.to_string(),
            "This loan was extended 2 times already, the most this pool allows."
        );
    }

    #[test]
    fn reminders_before_the_start_are_skipped_and_the_rest_come_soonest_first() {
        let ready = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let deadline = ready + Duration::hours(30);
        let times = reminder_times(deadline, &[2880, 1440, 60], ready);
        assert_eq!(
            times,
            vec![
                (1440, ready + Duration::hours(6)),
                (60, ready + Duration::hours(29)),
            ]
        );
        assert!(reminder_times(ready + Duration::hours(1), &[60], ready).is_empty());
    }
}

use crate::types::{Policy, PolicyOverrides, SiteDefaults};

/// The policy a pool applies: its own settings over the site's defaults.
pub fn resolve(site: &SiteDefaults, pool: &PolicyOverrides) -> Policy {
    Policy {
        approval_mode: pool.approval_mode.unwrap_or(site.approval_mode),
        default_duration_hours: pool
            .default_duration_hours
            .unwrap_or(site.default_duration_hours),
        max_duration_hours: pool.max_duration_hours.unwrap_or(site.max_duration_hours),
        extension_hours: pool.extension_hours.unwrap_or(site.extension_hours),
        max_extensions: pool.max_extensions.unwrap_or(site.max_extensions),
        max_total_hours: pool.max_total_hours.unwrap_or(site.max_total_hours),
        bug_required: pool.bug_required.unwrap_or(site.bug_required),
        grace_period_minutes: pool
            .grace_period_minutes
            .unwrap_or(site.grace_period_minutes),
        max_loans_per_user_in_pool: pool.max_loans_per_user.or(site.max_loans_per_user_per_pool),
        max_loans_per_user: site.max_loans_per_user,
        allowed_groups: pool.allowed_groups.clone().filter(|g| !g.is_empty()),
    }
}

impl Policy {
    pub fn extension(&self) -> ExtensionPolicy {
        ExtensionPolicy {
            extension_hours: self.extension_hours,
            max_extensions: self.max_extensions,
            max_total_hours: self.max_total_hours,
        }
    }

    /// The caps a requester should know about, as sentences for the request form.
    pub fn caps(&self) -> Vec<String> {
        let mut caps = vec![format!(
            "Up to {} per loan; {} by default.",
            format_hours(self.max_duration_hours),
            format_hours(self.default_duration_hours)
        )];
        caps.push(match self.max_extensions {
            0 => "No extensions.".to_owned(),
            n => {
                let step = format_hours(self.extension_hours);
                let how = if n == 1 {
                    format!("once, by {step}")
                } else {
                    format!("by {step} at a time, up to {n} times")
                };
                format!(
                    "Extend {how}; at most {} in total.",
                    format_hours(self.max_total_hours)
                )
            }
        });
        if let Some(n) = self.max_loans_per_user_in_pool {
            caps.push(format!(
                "At most {n} active loan{} per person in this pool.",
                plural(n)
            ));
        }
        if let Some(n) = self.max_loans_per_user {
            caps.push(format!(
                "At most {n} active loan{} per person over all pools.",
                plural(n)
            ));
        }
        if let Some(groups) = &self.allowed_groups {
            caps.push(format!("Only for members of {}.", groups.join(", ")));
        }
        if self.grace_period_minutes > 0 {
            caps.push(format!(
                "After the deadline the machine is kept {} before it is re-imaged.",
                format_minutes(self.grace_period_minutes)
            ));
        }
        caps
    }
}

fn plural(n: i32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "45 minutes", "4 hours", "1 day".
pub fn format_minutes(minutes: i32) -> String {
    if minutes >= 60 && minutes % 60 == 0 {
        format_hours(minutes / 60)
    } else if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

/// Why a person may not borrow from a pool right now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
    #[error("This pool lends only to members of {}; ask an admin if you need it.", groups.join(", "))]
    NotInGroup { groups: Vec<String> },
    #[error("You already have {active} active loan{} in this pool, the most it allows. Return one first.", plural(*active))]
    TooManyInPool { active: i32 },
    #[error("You already have {active} active loan{}, the most anyone may hold at once. Return one first.", plural(*active))]
    TooManyOverall { active: i32 },
}

/// Whether someone in `groups`, holding `active_overall` active loans (`active_in_pool` of them
/// in this pool), may ask this pool for another.
pub fn may_request(
    policy: &Policy,
    groups: &[String],
    active_overall: i64,
    active_in_pool: i64,
) -> Result<(), RequestRefusal> {
    if let Some(allowed) = &policy.allowed_groups {
        if !allowed.iter().any(|g| groups.contains(g)) {
            return Err(RequestRefusal::NotInGroup {
                groups: allowed.clone(),
            });
        }
    }
    if let Some(max) = policy.max_loans_per_user_in_pool {
        if active_in_pool >= i64::from(max) {
            return Err(RequestRefusal::TooManyInPool { active: max });
        }
    }
    if let Some(max) = policy.max_loans_per_user {
        if active_overall >= i64::from(max) {
            return Err(RequestRefusal::TooManyOverall { active: max });
        }
    }
    Ok(())
}

/// A policy that makes sense: positive durations, the default within the maximum, the maximum
/// within the total. Returns the offending field and why.
pub fn check_policy(policy: &Policy) -> Result<(), (&'static str, String)> {
    let positive = [
        ("default_duration_hours", policy.default_duration_hours),
        ("max_duration_hours", policy.max_duration_hours),
        ("extension_hours", policy.extension_hours),
        ("max_total_hours", policy.max_total_hours),
    ];
    for (field, value) in positive {
        if value < 1 {
            return Err((field, "Must be at least 1 hour.".to_owned()));
        }
    }
    if policy.max_extensions < 0 {
        return Err(("max_extensions", "Cannot be negative.".to_owned()));
    }
    if policy.grace_period_minutes < 0 {
        return Err(("grace_period_minutes", "Cannot be negative.".to_owned()));
    }
    if policy.default_duration_hours > policy.max_duration_hours {
        return Err((
            "default_duration_hours",
            format!(
                "The default cannot exceed the maximum ({}).",
                format_hours(policy.max_duration_hours)
            ),
        ));
    }
    if policy.max_total_hours < policy.max_duration_hours {
        return Err((
            "max_total_hours",
            format!(
                "The total cannot be less than the maximum duration ({}).",
                format_hours(policy.max_duration_hours)
            ),
        ));
    }
    for (field, cap) in [
        ("max_loans_per_user", policy.max_loans_per_user),
        (
            "max_loans_per_user_in_pool",
            policy.max_loans_per_user_in_pool,
        ),
    ] {
        if cap.is_some_and(|n| n < 1) {
            return Err((
                field,
                "Must be at least 1 (leave empty for no cap).".to_owned(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod policy_rule_tests {
    use super::*;
    use crate::types::ApprovalMode;

    fn site() -> SiteDefaults {
        SiteDefaults {
            approval_mode: ApprovalMode::Automatic,
            default_duration_hours: 24,
            max_duration_hours: 72,
            extension_hours: 24,
            max_extensions: 2,
            max_total_hours: 168,
            bug_required: false,
            grace_period_minutes: 0,
            max_loans_per_user: Some(3),
            max_loans_per_user_per_pool: Some(1),
        }
    }

    #[test]
    fn a_pool_inherits_what_it_does_not_set() {
        let pool = PolicyOverrides {
            approval_mode: Some(ApprovalMode::Manual),
            max_duration_hours: Some(8),
            default_duration_hours: Some(4),
            ..PolicyOverrides::default()
        };
        let policy = resolve(&site(), &pool);
        assert_eq!(policy.approval_mode, ApprovalMode::Manual);
        assert_eq!(
            (policy.default_duration_hours, policy.max_duration_hours),
            (4, 8)
        );
        assert_eq!(policy.extension_hours, 24);
        assert_eq!(policy.max_loans_per_user_in_pool, Some(1));
        assert_eq!(policy.max_loans_per_user, Some(3));
        assert_eq!(policy.allowed_groups, None);
    }

    #[test]
    fn each_approval_mode_is_kept() {
        for mode in [ApprovalMode::Automatic, ApprovalMode::Manual] {
            let pool = PolicyOverrides {
                approval_mode: Some(mode),
                ..Default::default()
            };
            assert_eq!(resolve(&site(), &pool).approval_mode, mode);
        }
        assert_eq!(
            resolve(&site(), &PolicyOverrides::default()).approval_mode,
            ApprovalMode::Automatic
        );
    }

    #[test]
    fn only_members_of_an_allowed_group_may_borrow() {
        let pool = PolicyOverrides {
            allowed_groups: Some(vec!["gfx".into(), "perf".into()]),
            ..Default::default()
        };
        let policy = resolve(&site(), &pool);
        assert_eq!(may_request(&policy, &["perf".into()], 0, 0), Ok(()));
        let refused = may_request(&policy, &["web".into()], 0, 0).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "This pool lends only to members of gfx, perf; ask an admin if you need it."
        );
        assert!(may_request(&policy, &[], 0, 0).is_err());
        let open = PolicyOverrides {
            allowed_groups: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(
            may_request(&resolve(&site(), &open), &[], 0, 0),
            Ok(()),
            "an empty list is no restriction"
        );
    }

    #[test]
    fn the_per_pool_and_overall_caps_each_refuse() {
        let policy = resolve(&site(), &PolicyOverrides::default());
        assert_eq!(may_request(&policy, &[], 0, 0), Ok(()));
        assert_eq!(
            may_request(&policy, &[], 1, 1),
            Err(RequestRefusal::TooManyInPool { active: 1 })
        );
        assert_eq!(
            may_request(&policy, &[], 3, 0),
            Err(RequestRefusal::TooManyOverall { active: 3 })
        );
        let uncapped = SiteDefaults {
            max_loans_per_user: None,
            max_loans_per_user_per_pool: None,
            ..site()
        };
        assert_eq!(
            may_request(
                &resolve(&uncapped, &PolicyOverrides::default()),
                &[],
                50,
                50
            ),
            Ok(())
        );
    }

    #[test]
    fn inconsistent_policies_name_the_field() {
        let mut policy = resolve(&site(), &PolicyOverrides::default());
        assert_eq!(check_policy(&policy), Ok(()));
        policy.default_duration_hours = 100;
        assert_eq!(
            check_policy(&policy).unwrap_err().0,
            "default_duration_hours"
        );
        policy.default_duration_hours = 24;
        policy.max_total_hours = 10;
        assert_eq!(check_policy(&policy).unwrap_err().0, "max_total_hours");
        policy.max_total_hours = 168;
        policy.max_loans_per_user = Some(0);
        assert_eq!(check_policy(&policy).unwrap_err().0, "max_loans_per_user");
    }

    #[test]
    fn caps_read_as_sentences() {
        let pool = PolicyOverrides {
            allowed_groups: Some(vec!["gfx".into()]),
            grace_period_minutes: Some(240),
            ..Default::default()
        };
        let caps = resolve(&site(), &pool).caps();
        assert!(
            caps.contains(&"Up to 3 days per loan; 1 day by default.".to_owned()),
            "{caps:?}"
        );
        assert!(caps.contains(&"At most 1 active loan per person in this pool.".to_owned()));
        assert!(caps.contains(&"Only for members of gfx.".to_owned()));
        assert!(caps.contains(
            &"After the deadline the machine is kept 4 hours before it is re-imaged.".to_owned()
        ));
    }
}
