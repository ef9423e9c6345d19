//! The period and pool the statistics page is asked for, checked.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::error::FieldError;
use crate::rules::validate;
use crate::types::StatsFilter;

/// The longest period the page shows.
pub const MAX_DAYS: i64 = 366;
/// The years the period may be in.
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2999;

/// The period and pool a filter asks for, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    /// The last day, included.
    pub to: NaiveDate,
    pub pool: Option<String>,
}

impl Period {
    pub(super) fn start(&self) -> DateTime<Utc> {
        self.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    pub(super) fn end(&self) -> DateTime<Utc> {
        self.start() + Duration::days((self.to - self.from).num_days() + 1)
    }
}

/// Checks the filter: `days` one of 7, 30, 90 (default 30); or `from` (and `to`, default
/// today) as dates, in order, at most [`MAX_DAYS`] apart; `pool` plain text.
pub fn check_filter(filter: &StatsFilter, today: NaiveDate) -> Result<Period, Vec<FieldError>> {
    let mut errors = Vec::new();
    let day = |field: &str, text: &str, errors: &mut Vec<FieldError>| {
        if text.trim().is_empty() {
            return None;
        }
        // Four-digit years from 2000 only: chrono also reads "+262142-12-31", whose next day it
        // cannot count, and years PostgreSQL refuses.
        let text = text.trim();
        let shaped = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|d| shaped && (FIRST_YEAR..=LAST_YEAR).contains(&chrono::Datelike::year(d)));
        if parsed.is_none() {
            errors.push(FieldError::new(
                field,
                format!("Use a date like 2026-11-30, from {FIRST_YEAR} to {LAST_YEAR}."),
            ));
        }
        parsed
    };
    let from = day("from", &filter.from, &mut errors);
    let to = day("to", &filter.to, &mut errors);
    let days = match filter.days.trim() {
        "" => 30,
        "7" => 7,
        "30" => 30,
        "90" => 90,
        _ => {
            errors.push(FieldError::new("days", "Choose 7, 30 or 90 days."));
            30
        }
    };
    if let Err(message) = validate::clean(&filter.pool, false) {
        errors.push(FieldError::new("pool", message));
    } else if filter.pool.chars().count() > 100 {
        errors.push(FieldError::new("pool", "Keep this under 100 characters."));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) if from > today => {
            return Err(vec![FieldError::new(
                "from",
                "The first day is in the future; give the last day too.",
            )])
        }
        (Some(from), None) => (from, today),
        (None, Some(_)) => {
            return Err(vec![FieldError::new(
                "from",
                "Give the first day too (or choose a number of days).",
            )])
        }
        (None, None) => (today - Duration::days(days - 1), today),
    };
    if to < from {
        return Err(vec![FieldError::new(
            "to",
            "The last day comes before the first.",
        )]);
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(vec![FieldError::new(
            "from",
            format!("Choose at most {MAX_DAYS} days."),
        )]);
    }
    let pool = Some(filter.pool.trim().to_owned()).filter(|p| !p.is_empty());
    Ok(Period { from, to, pool })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn filter(days: &str, from: &str, to: &str) -> StatsFilter {
        StatsFilter {
            days: days.into(),
            from: from.into(),
            to: to.into(),
            pool: String::new(),
        }
    }

    #[test]
    fn the_default_period_is_the_last_thirty_days_including_today() {
        let today = day("2026-12-02");
        let period = check_filter(&StatsFilter::default(), today).unwrap();
        assert_eq!((period.from, period.to), (day("2026-11-03"), today));
        let week = check_filter(&filter("7", "", ""), today).unwrap();
        assert_eq!(week.from, day("2026-11-26"));
        assert_eq!(week.end() - week.start(), Duration::days(7));
    }

    #[test]
    fn a_bad_period_is_refused_naming_the_field() {
        let today = day("2026-12-02");
        let field = |f: StatsFilter| check_filter(&f, today).unwrap_err()[0].field.clone();
        assert_eq!(field(filter("12", "", "")), "days");
        assert_eq!(field(filter("", "yesterday", "")), "from");
        assert_eq!(field(filter("", "2026-12-01", "2026-11-01")), "to");
        assert_eq!(field(filter("", "2024-01-01", "2026-01-01")), "from");
        assert_eq!(field(filter("", "", "2026-11-01")), "from");
        assert_eq!(field(filter("", "+262142-12-31", "+262142-12-31")), "from");
        assert_eq!(field(filter("", "-5000-01-01", "-5000-01-01")), "from");
        assert_eq!(field(filter("", "1999-12-31", "")), "from");
        assert_eq!(field(filter("", "2026-1-01", "")), "from");
        assert_eq!(field(filter("", "2027-01-01", "")), "from");
        let bad_pool = StatsFilter {
            pool: "a\u{0}b".into(),
            ..StatsFilter::default()
        };
        assert_eq!(field(bad_pool), "pool");
    }
}
