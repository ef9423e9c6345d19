//! The statistics page's figures: SQL over the loans and the per-loan facts the loan history
//! keeps (`loan_facts`, `loan_step_runs`, kept by a trigger on `loan_events`), computed in the
//! database and read as one batch of statements. Nothing here loads loans into memory.
//!
//! Definitions (the README's statistics section says the same):
//! - the period is whole UTC days; a loan belongs to the day it was requested;
//! - time to a ready machine is requested → ready, split into approval (requested → approved,
//!   over the loans an admin approved), the line (approved → machine assigned, over the loans
//!   that waited in it) and provisioning (assigned → ready, over all);
//! - a machine is out of the pool from its assignment to the end of its clean-up (or until it
//!   broke, or the loan ended); utilisation is those hours over the hours the pool's machines
//!   (not retired) existed in the period, up to now.

mod sql;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::FieldError;
use crate::rules::validate;
use crate::server::schema::pools;
use crate::server::DbError;
use crate::types::{
    AdminStats, BrokenMachine, DayOutcomes, PoolDay, PoolUse, Spread, Stats, StatsFilter, StepRate,
    Tally,
};
use sql::*;

/// The longest period the page shows.
pub const MAX_DAYS: i64 = 366;

/// The period and pool a filter asks for, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    /// The last day, included.
    pub to: NaiveDate,
    pub pool: Option<String>,
}

impl Period {
    fn start(&self) -> DateTime<Utc> {
        self.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
    }

    fn end(&self) -> DateTime<Utc> {
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
        let parsed = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.push(FieldError::new(field, "Use a date like 2026-11-30."));
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
        (Some(from), to) => (from, to.unwrap_or(today)),
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

/// Why the page could not be made: the filter named a pool that does not exist, or the
/// database failed.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("no pool {0}")]
    UnknownPool(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<StatsError> for crate::error::AppError {
    fn from(err: StatsError) -> Self {
        match err {
            StatsError::UnknownPool(slug) => {
                Self::field("pool", format!("There is no pool \"{slug}\"."))
            }
            StatsError::Db(err) => err.into(),
        }
    }
}

/// The statistics page as `viewer` may see it: the summary for everyone, the admins' part for
/// admins. The filter is checked first (a bad one changes nothing and names the field).
pub async fn for_viewer(
    state: &crate::server::AppState,
    viewer: &crate::server::models::User,
    filter: StatsFilter,
) -> Result<Stats, crate::error::AppError> {
    let now = state.clock.now();
    let period =
        check_filter(&filter, now.date_naive()).map_err(crate::error::AppError::Validation)?;
    let conn = state.conn().await?;
    let site = state.site.clone();
    Ok(compute(
        &conn,
        filter,
        &period,
        viewer.is_admin(),
        |bug| site.bug_url(bug),
        now,
    )
    .await?)
}

/// One of the page's tables as CSV: the header and rows the page shows (text that a
/// spreadsheet would take for a formula starts with `'`, as in the audit log's CSV).
pub fn to_csv(table: &crate::types::DataTable) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(table.header.iter().map(|h| crate::server::audit::cell(h)))?;
    for row in &table.rows {
        out.write_record(row.iter().map(|c| crate::server::audit::cell(c)))?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The page's figures for `period`; the admins' part when `admin`.
pub async fn compute(
    conn: &AsyncPgConnection,
    filter: StatsFilter,
    period: &Period,
    admin: bool,
    bug_url: impl Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
) -> Result<Stats, StatsError> {
    let pool_list: Vec<(i64, String, String)> = pools::table
        .filter(pools::retired_at.is_null())
        .order(pools::name)
        .select((pools::id, pools::slug, pools::name))
        .load(&mut &*conn)
        .await
        .map_err(DbError::from)?;
    let pool_id = match &period.pool {
        None => None,
        Some(slug) => Some(
            pool_list
                .iter()
                .find(|(_, s, _)| s == slug)
                .map(|(id, _, _)| *id)
                .ok_or_else(|| StatsError::UnknownPool(slug.clone()))?,
        ),
    };
    let scope = Scope {
        conn,
        start: period.start(),
        end: period.end(),
        pool: pool_id,
        now,
    };
    let (summary, waits, out, days, uses, pool_days) = futures::try_join!(
        scope.one::<SummaryRow>(SUMMARY),
        scope.one::<WaitRow>(WAITS),
        scope.many::<OutRow>(OUT_OF_POOL),
        scope.many::<DayRow>(PER_DAY),
        scope.many::<UseRow>(UTILISATION),
        scope.many::<PoolDayRow>(PER_POOL_DAY),
    )?;
    let admin = match admin {
        false => None,
        true => {
            let (steps, broken, bugs, groups) = futures::try_join!(
                scope.many::<StepRow>(STEPS),
                scope.many::<BrokenRow>(BROKEN),
                scope.many::<TallyRow>(BUGS),
                scope.many::<TallyRow>(GROUPS),
            )?;
            Some(admin_stats(steps, broken, bugs, groups, &bug_url))
        }
    };
    let spread_of = |pool: Option<i64>| {
        out.iter()
            .find(|o| o.pool_id == pool)
            .map(OutRow::spread)
            .unwrap_or_default()
    };
    Ok(Stats {
        filter,
        from: period.from,
        to: period.to,
        counts: summary.counts(),
        endings: summary.endings(),
        waits: waits.waits(),
        wait_buckets: waits.buckets(),
        out_of_pool: spread_of(None),
        per_day: per_day(period, &days),
        pool_use: uses
            .into_iter()
            .map(|u| PoolUse {
                out_of_pool: spread_of(Some(u.id)),
                slug: u.slug,
                name: u.name,
                machines: u.machines,
                idle_machines: u.idle,
                available_hours: u.available_hours,
                loaned_hours: u.loaned_hours,
            })
            .collect(),
        pool_days: pool_days
            .into_iter()
            .map(|d| PoolDay {
                slug: d.slug,
                day: d.day,
                loaned_hours: d.loaned_hours,
                available_hours: d.available_hours,
            })
            .collect(),
        pools: pool_list.into_iter().map(|(_, s, n)| (s, n)).collect(),
        admin,
    })
}

/// Every day of the period, with the loans requested on it by outcome (zeros included).
fn per_day(period: &Period, rows: &[DayRow]) -> Vec<DayOutcomes> {
    period
        .from
        .iter_days()
        .take_while(|d| *d <= period.to)
        .map(|day| {
            let mut counts = [0; 7];
            for row in rows.iter().filter(|r| r.day == day) {
                if let Some(slot) = usize::try_from(row.outcome)
                    .ok()
                    .and_then(|i| counts.get_mut(i))
                {
                    *slot = row.loans;
                }
            }
            DayOutcomes { day, counts }
        })
        .collect()
}

fn admin_stats(
    steps: Vec<StepRow>,
    broken: Vec<BrokenRow>,
    bugs: Vec<TallyRow>,
    groups: Vec<TallyRow>,
    bug_url: &impl Fn(&str) -> Option<String>,
) -> AdminStats {
    let repaired: Vec<f64> = broken
        .iter()
        .filter_map(|b| {
            b.repaired_at
                .map(|r| (r - b.broken_at).num_seconds() as f64)
        })
        .collect();
    AdminStats {
        steps: steps
            .into_iter()
            .map(|s| StepRate {
                phase: s.phase,
                name: s.name,
                runs: s.runs,
                failed: s.failed,
            })
            .collect(),
        repair: Spread {
            loans: repaired.len() as i64,
            median_secs: percentile(&repaired, 0.5),
            p90_secs: percentile(&repaired, 0.9),
        },
        broken: broken
            .into_iter()
            .map(|b| BrokenMachine {
                fqdn: b.fqdn,
                broken_at: b.broken_at,
                repaired_at: b.repaired_at,
            })
            .collect(),
        bugs: bugs
            .into_iter()
            .map(|t| Tally {
                url: bug_url(&t.name),
                name: t.name,
                loans: t.loans,
                loaned_hours: t.loaned_hours,
            })
            .collect(),
        groups: groups
            .into_iter()
            .map(|t| Tally {
                url: None,
                name: t.name,
                loans: t.loans,
                loaned_hours: t.loaned_hours,
            })
            .collect(),
    }
}

/// PostgreSQL's `percentile_cont` over a few values (the broken machines are few).
fn percentile(values: &[f64], fraction: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    let at = fraction * last as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (at - low as f64))
}

/// The binds every statement shares: $1 start, $2 end (exclusive), $3 pool id or NULL, $4 now.
struct Scope<'c> {
    conn: &'c AsyncPgConnection,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pool: Option<i64>,
    now: DateTime<Utc>,
}

/// The statement with the four binds.
macro_rules! bound {
    ($scope:expr, $sql:expr) => {
        diesel::sql_query($sql)
            .bind::<Timestamptz, _>($scope.start)
            .bind::<Timestamptz, _>($scope.end)
            .bind::<Nullable<BigInt>, _>($scope.pool)
            .bind::<Timestamptz, _>($scope.now)
    };
}

impl Scope<'_> {
    async fn many<T>(&self, sql: &'static str) -> Result<Vec<T>, DbError>
    where
        T: QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        Ok(bound!(self, sql).load::<T>(&mut &*self.conn).await?)
    }

    async fn one<T>(&self, sql: &'static str) -> Result<T, DbError>
    where
        T: QueryableByName<diesel::pg::Pg> + Send + 'static,
    {
        Ok(bound!(self, sql).get_result::<T>(&mut &*self.conn).await?)
    }
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
        let bad_pool = StatsFilter {
            pool: "a\u{0}b".into(),
            ..StatsFilter::default()
        };
        assert_eq!(field(bad_pool), "pool");
    }

    #[test]
    fn percentiles_interpolate_as_postgresql_does() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[10.0], 0.9), Some(10.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[10.0, 0.0, 20.0], 0.9), Some(18.0));
    }
}
