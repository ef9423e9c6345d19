//! How long a loan may run: the durations offered and allowed, extensions, and the reminders
//! before a deadline.

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

impl ExtendError {
    /// The policy setting that refused, for programs.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NotAllowed | Self::TooMany { .. } => "max_extensions",
            Self::TotalCap { .. } => "max_total_hours",
        }
    }
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
