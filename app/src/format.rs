//! How times and durations read, on the pages and in emails.

use chrono::{DateTime, Utc};

/// "2026-11-21 14:03 UTC".
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "14:03:07", for timeline entries.
pub fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// "in 3 h 20 min", "5 min ago", "in 2 days".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let span = seconds.unsigned_abs();
    let text = if span < 60 {
        return if seconds >= 0 {
            "in under a minute".into()
        } else {
            "just now".into()
        };
    } else if span < 3600 {
        format!("{} min", span / 60)
    } else if span < 48 * 3600 {
        let minutes = (span % 3600) / 60;
        if minutes == 0 || span >= 10 * 3600 {
            format!("{} h", span / 3600)
        } else {
            format!("{} h {} min", span / 3600, minutes)
        }
    } else {
        format!("{} days", span / 86400)
    };
    if seconds >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(
            relative(now + Duration::minutes(5) + Duration::seconds(2), now),
            "in 5 min"
        );
        assert_eq!(relative(now - Duration::minutes(90), now), "1 h 30 min ago");
        assert_eq!(relative(now + Duration::hours(23), now), "in 23 h");
        assert_eq!(relative(now + Duration::days(6), now), "in 6 days");
        assert_eq!(relative(now - Duration::seconds(5), now), "just now");
    }
}
