//! How times and durations read, on the pages and in emails.

use chrono::{DateTime, Datelike, Timelike, Utc};

// Written out rather than with `format("%Y-…")`: chrono's format-string machinery is a few
// kilobytes of the browser bundle, and these two are all the pages need.

/// "2026-11-21 14:03 UTC".
pub fn when(at: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// "14:03:07", for timeline entries.
pub fn clock(at: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

/// "Nov 21, 14:03:07", for timeline entries after the first day.
pub fn day_and_clock(at: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {:02}, {}",
        MONTHS[at.month0() as usize],
        at.day(),
        clock(at)
    )
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

/// Percent-encodes a value for a query string.
pub fn query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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

    #[test]
    fn times_read_as_utc_with_padded_fields() {
        let at = DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(at), "2026-03-04 05:06 UTC");
        assert_eq!(clock(at), "05:06:07");
        assert_eq!(day_and_clock(at), "Mar 04, 05:06:07");
    }
}
