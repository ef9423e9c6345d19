//! Loan policy rules: a pool's own settings over the site's defaults, the caps a requester
//! meets, and whether a policy makes sense. The duration rules live in `deadlines` and are
//! re-exported here.

pub use super::deadlines::*;

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

/// Why a person may not borrow from a pool right now: the rule and its numbers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
    #[error("This pool lends only to members of {}; ask an admin if you need it.", groups.join(", "))]
    NotInGroup { groups: Vec<String> },
    #[error("You already hold {held} loan{} from this pool; it allows {max} per person. Return one first.", plural_i64(*held))]
    TooManyInPool { held: i64, max: i32 },
    #[error("You already hold {held} loan{}; the site allows {max} per person over all pools. Return one first.", plural_i64(*held))]
    TooManyOverall { held: i64, max: i32 },
}

impl RequestRefusal {
    /// The policy setting that refused, for programs.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NotInGroup { .. } => "allowed_groups",
            Self::TooManyInPool { .. } => "max_loans_per_user_in_pool",
            Self::TooManyOverall { .. } => "max_loans_per_user",
        }
    }
}

fn plural_i64(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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
            return Err(RequestRefusal::TooManyInPool {
                held: active_in_pool,
                max,
            });
        }
    }
    if let Some(max) = policy.max_loans_per_user {
        if active_overall >= i64::from(max) {
            return Err(RequestRefusal::TooManyOverall {
                held: active_overall,
                max,
            });
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
            Err(RequestRefusal::TooManyInPool { held: 1, max: 1 })
        );
        let overall = may_request(&policy, &[], 3, 0).unwrap_err();
        assert_eq!(overall, RequestRefusal::TooManyOverall { held: 3, max: 3 });
        assert_eq!(
            overall.to_string(),
            "You already hold 3 loans; the site allows 3 per person over all pools. Return one first."
        );
        assert_eq!(overall.rule(), "max_loans_per_user");
        assert_eq!(
            RequestRefusal::TooManyInPool { held: 2, max: 2 }.to_string(),
            "You already hold 2 loans from this pool; it allows 2 per person. Return one first."
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
