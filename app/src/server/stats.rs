//! The statistics page's figures: SQL over the loans and the per-loan facts the loan history
//! keeps (`loan_facts`, `loan_step_runs`, kept by a trigger on `loan_events`), computed in the
//! database and read as one batch of statements. Nothing here loads loans into memory.
//!
//! Definitions (the README's statistics section says the same):
//! - the period is whole UTC days; a loan belongs to the day it was requested;
//! - time to a ready machine is requested → ready, split into approval (requested → approved),
//!   the line (approved → machine assigned) and provisioning (assigned → ready);
//! - a machine is out of the pool from its assignment to the end of its clean-up (or until it
//!   broke, or the loan ended); utilisation is those hours over the hours the pool's machines
//!   (not retired) existed in the period, up to now.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::pools;
use super::DbError;
use crate::error::FieldError;
use crate::rules::validate;
use crate::types::{
    AdminStats, BrokenMachine, DayOutcomes, Endings, LoanCounts, PoolDay, PoolUse, Spread, Stats,
    StatsFilter, StepRate, Tally, WaitBucket, Waits,
};

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
    state: &super::AppState,
    viewer: &super::models::User,
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
    out.write_record(table.header.iter().map(|h| super::audit::cell(h)))?;
    for row in &table.rows {
        out.write_record(row.iter().map(|c| super::audit::cell(c)))?;
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

/// The loans requested in the period (and pool): `l` with its facts `f`.
macro_rules! period_loans {
    () => {
        " FROM loans l LEFT JOIN loan_facts f ON f.loan_id = l.id
          WHERE l.requested_at >= $1 AND l.requested_at < $2
            AND ($3::BIGINT IS NULL OR l.pool_id = $3) "
    };
}

/// A loan's outcome as an index into `OUTCOMES`.
macro_rules! outcome {
    () => {
        " CASE WHEN l.state = 'denied' THEN 4 WHEN l.state = 'cancelled' THEN 3
               WHEN l.state = 'failed' THEN 5 WHEN f.ended_how = 'returned' THEN 0
               WHEN f.ended_how = 'expired' THEN 1 WHEN f.ended_how = 'forced' THEN 2 ELSE 6 END "
    };
}

/// When a loan's machine was back (or it broke, or the loan ended without one); now while out.
macro_rules! held_until {
    () => {
        " COALESCE(f.back_at, f.broken_at, l.ended_at, $4) "
    };
}

/// The stretches machines were out of the pool within the period: pool, machine, start, end.
macro_rules! held {
    () => {
        concat!(
            " held AS (SELECT l.pool_id, l.machine_id, GREATEST(f.assigned_at, $1) AS s,
                      LEAST(",
            held_until!(),
            ", $2, $4) AS e
               FROM loans l JOIN loan_facts f ON f.loan_id = l.id
              WHERE f.assigned_at < LEAST($2, $4) AND ",
            held_until!(),
            " > $1 AND ($3::BIGINT IS NULL OR l.pool_id = $3)) "
        )
    };
}

const SUMMARY: &str = concat!(
    "SELECT count(*) AS requested,
       count(*) FILTER (WHERE l.approved_at IS NOT NULL AND l.approved_by IS NULL) AS approved_automatically,
       count(*) FILTER (WHERE l.approved_at IS NOT NULL AND l.approved_by IS NOT NULL) AS approved_by_admin,
       count(*) FILTER (WHERE l.state = 'denied') AS denied,
       count(*) FILTER (WHERE l.state = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE l.state = 'failed') AS failed,
       count(*) FILTER (WHERE ",
    outcome!(),
    " = 6) AS open,
       count(*) FILTER (WHERE f.ended_how = 'returned') AS returned,
       count(*) FILTER (WHERE f.ended_how = 'expired') AS expired,
       count(*) FILTER (WHERE f.ended_how = 'forced') AS forced,
       count(*) FILTER (WHERE l.extensions_used > 0) AS extended_loans,
       COALESCE(sum(l.extensions_used), 0)::BIGINT AS extensions",
    period_loans!()
);

const WAITS: &str = concat!(
    "WITH w AS (SELECT EXTRACT(EPOCH FROM l.ready_at - l.requested_at)::FLOAT8 AS total,
                  EXTRACT(EPOCH FROM l.approved_at - l.requested_at)::FLOAT8 AS approval,
                  EXTRACT(EPOCH FROM f.assigned_at - l.approved_at)::FLOAT8 AS line,
                  EXTRACT(EPOCH FROM l.ready_at - f.assigned_at)::FLOAT8 AS provisioning",
    period_loans!(),
    " AND l.ready_at IS NOT NULL)
     SELECT count(*) AS loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS total_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY total) AS total_p90,
       count(approval) AS approval_loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY approval) AS approval_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY approval) AS approval_p90,
       count(line) AS line_loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY line) AS line_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY line) AS line_p90,
       count(provisioning) AS provisioning_loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY provisioning) AS provisioning_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY provisioning) AS provisioning_p90,
       count(*) FILTER (WHERE total < 300) AS b0,
       count(*) FILTER (WHERE total >= 300 AND total < 900) AS b1,
       count(*) FILTER (WHERE total >= 900 AND total < 1800) AS b2,
       count(*) FILTER (WHERE total >= 1800 AND total < 3600) AS b3,
       count(*) FILTER (WHERE total >= 3600 AND total < 14400) AS b4,
       count(*) FILTER (WHERE total >= 14400 AND total < 86400) AS b5,
       count(*) FILTER (WHERE total >= 86400) AS b6
     FROM w"
);

const OUT_OF_POOL: &str = concat!(
    "SELECT l.pool_id, count(*) AS loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.back_at - f.assigned_at)::FLOAT8) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.back_at - f.assigned_at)::FLOAT8) AS p90",
    period_loans!(),
    " AND f.assigned_at IS NOT NULL AND f.back_at IS NOT NULL
     GROUP BY ROLLUP (l.pool_id)"
);

const PER_DAY: &str = concat!(
    "SELECT (l.requested_at AT TIME ZONE 'UTC')::DATE AS day, ",
    outcome!(),
    "::BIGINT AS outcome, count(*) AS loans",
    period_loans!(),
    " GROUP BY 1, 2"
);

const UTILISATION: &str = concat!(
    "WITH",
    held!(),
    ", machine_hours AS (
        SELECT m.pool_id, count(*) AS machines,
               COALESCE(sum(EXTRACT(EPOCH FROM LEAST($2, $4) - GREATEST(m.created_at, $1))), 0)::FLOAT8 / 3600 AS available_hours,
               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.machine_id = m.id)) AS idle
          FROM machines m
         WHERE m.state <> 'retired' AND m.created_at < LEAST($2, $4)
         GROUP BY m.pool_id),
     loaned AS (SELECT pool_id, sum(EXTRACT(EPOCH FROM e - s))::FLOAT8 / 3600 AS hours FROM held GROUP BY pool_id)
     SELECT p.id, p.slug, p.name, COALESCE(mh.machines, 0) AS machines, COALESCE(mh.idle, 0) AS idle,
            COALESCE(mh.available_hours, 0) AS available_hours, COALESCE(lo.hours, 0) AS loaned_hours
       FROM pools p LEFT JOIN machine_hours mh ON mh.pool_id = p.id LEFT JOIN loaned lo ON lo.pool_id = p.id
      WHERE p.retired_at IS NULL AND ($3::BIGINT IS NULL OR p.id = $3)
      ORDER BY p.name"
);

const PER_POOL_DAY: &str = concat!(
    "WITH",
    held!(),
    ", days AS (SELECT d AS day FROM generate_series(($1 AT TIME ZONE 'UTC'), (LEAST($2, $4) AT TIME ZONE 'UTC') - INTERVAL '1 microsecond', INTERVAL '1 day') d),
     loaned AS (
        SELECT h.pool_id, d.day, sum(EXTRACT(EPOCH FROM LEAST(h.e AT TIME ZONE 'UTC', d.day + INTERVAL '1 day')
                                                   - GREATEST(h.s AT TIME ZONE 'UTC', d.day)))::FLOAT8 / 3600 AS hours
          FROM held h
          JOIN LATERAL generate_series(date_trunc('day', h.s AT TIME ZONE 'UTC'), h.e AT TIME ZONE 'UTC', INTERVAL '1 day') g(day) ON true
          JOIN days d ON d.day = g.day
         WHERE h.e > h.s
         GROUP BY 1, 2),
     available AS (
        SELECT m.pool_id, d.day,
               sum(EXTRACT(EPOCH FROM LEAST(d.day + INTERVAL '1 day', LEAST($2, $4) AT TIME ZONE 'UTC')
                                    - GREATEST(d.day, m.created_at AT TIME ZONE 'UTC')))::FLOAT8 / 3600 AS hours
          FROM machines m JOIN days d ON m.created_at AT TIME ZONE 'UTC' < d.day + INTERVAL '1 day'
         WHERE m.state <> 'retired' AND ($3::BIGINT IS NULL OR m.pool_id = $3)
         GROUP BY 1, 2)
     SELECT p.slug, a.day::DATE AS day, COALESCE(lo.hours, 0) AS loaned_hours, a.hours AS available_hours
       FROM available a JOIN pools p ON p.id = a.pool_id AND p.retired_at IS NULL
       LEFT JOIN loaned lo ON lo.pool_id = a.pool_id AND lo.day = a.day
      ORDER BY p.name, a.day"
);

const STEPS: &str = "SELECT r.phase, r.name, sum(r.succeeded + r.failed)::BIGINT AS runs, sum(r.failed)::BIGINT AS failed
       FROM loan_step_runs r JOIN loans l ON l.id = r.loan_id
      WHERE l.requested_at >= $1 AND l.requested_at < $2 AND ($3::BIGINT IS NULL OR l.pool_id = $3)
      GROUP BY 1, 2
      ORDER BY sum(r.failed)::FLOAT8 / GREATEST(sum(r.succeeded + r.failed), 1) DESC, 1, 2";

const BROKEN: &str = "SELECT b.target AS fqdn, b.at AS broken_at,
            (SELECT min(r.at) FROM audit_log r
              WHERE r.target_type = 'machines' AND r.after ? 'state' AND r.target_id = b.target_id
                AND r.at > b.at AND r.after ->> 'state' = 'available' AND r.at <= $4) AS repaired_at
       FROM audit_log b
      WHERE b.target_type = 'machines' AND b.after ->> 'state' = 'broken' AND b.at >= $1 AND b.at < $2
        AND ($3::BIGINT IS NULL OR EXISTS (SELECT 1 FROM machines m WHERE m.id::TEXT = b.target_id AND m.pool_id = $3))
      ORDER BY b.at";

const BUGS: &str = concat!(
    "SELECT l.bug_ref AS name, count(*) AS loans,
       COALESCE(sum(EXTRACT(EPOCH FROM ",
    held_until!(),
    " - f.assigned_at)), 0)::FLOAT8 / 3600 AS loaned_hours",
    period_loans!(),
    " AND l.bug_ref IS NOT NULL AND l.bug_ref <> ''
     GROUP BY l.bug_ref ORDER BY count(*) DESC, l.bug_ref LIMIT 20"
);

const GROUPS: &str = concat!(
    "SELECT g.name, count(*) AS loans,
       COALESCE(sum(EXTRACT(EPOCH FROM ",
    held_until!(),
    " - f.assigned_at)), 0)::FLOAT8 / 3600 AS loaned_hours
     FROM loans l LEFT JOIN loan_facts f ON f.loan_id = l.id
     JOIN users u ON u.id = l.user_id
     CROSS JOIN LATERAL unnest(u.groups) AS g(name)
    WHERE l.requested_at >= $1 AND l.requested_at < $2 AND ($3::BIGINT IS NULL OR l.pool_id = $3)
      AND g.name IS NOT NULL
    GROUP BY g.name ORDER BY count(*) DESC, g.name LIMIT 10"
);

#[derive(QueryableByName)]
struct SummaryRow {
    #[diesel(sql_type = BigInt)]
    requested: i64,
    #[diesel(sql_type = BigInt)]
    approved_automatically: i64,
    #[diesel(sql_type = BigInt)]
    approved_by_admin: i64,
    #[diesel(sql_type = BigInt)]
    denied: i64,
    #[diesel(sql_type = BigInt)]
    cancelled: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
    #[diesel(sql_type = BigInt)]
    open: i64,
    #[diesel(sql_type = BigInt)]
    returned: i64,
    #[diesel(sql_type = BigInt)]
    expired: i64,
    #[diesel(sql_type = BigInt)]
    forced: i64,
    #[diesel(sql_type = BigInt)]
    extended_loans: i64,
    #[diesel(sql_type = BigInt)]
    extensions: i64,
}

impl SummaryRow {
    fn counts(&self) -> LoanCounts {
        LoanCounts {
            requested: self.requested,
            approved_automatically: self.approved_automatically,
            approved_by_admin: self.approved_by_admin,
            denied: self.denied,
            cancelled: self.cancelled,
            failed: self.failed,
            open: self.open,
        }
    }

    fn endings(&self) -> Endings {
        Endings {
            returned: self.returned,
            expired: self.expired,
            forced: self.forced,
            extended_loans: self.extended_loans,
            extensions: self.extensions,
        }
    }
}

#[derive(QueryableByName)]
struct WaitRow {
    #[diesel(sql_type = BigInt)]
    loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    total_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    total_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    approval_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    approval_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    approval_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    line_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    line_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    line_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    provisioning_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    provisioning_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    provisioning_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    b0: i64,
    #[diesel(sql_type = BigInt)]
    b1: i64,
    #[diesel(sql_type = BigInt)]
    b2: i64,
    #[diesel(sql_type = BigInt)]
    b3: i64,
    #[diesel(sql_type = BigInt)]
    b4: i64,
    #[diesel(sql_type = BigInt)]
    b5: i64,
    #[diesel(sql_type = BigInt)]
    b6: i64,
}

/// The wait-time chart's bars.
pub const WAIT_BUCKETS: [&str; 7] = [
    "under 5 min",
    "5–15 min",
    "15–30 min",
    "30–60 min",
    "1–4 h",
    "4–24 h",
    "over a day",
];

impl WaitRow {
    fn waits(&self) -> Waits {
        let spread = |loans, median_secs, p90_secs| Spread {
            loans,
            median_secs,
            p90_secs,
        };
        Waits {
            total: spread(self.loans, self.total_median, self.total_p90),
            approval: spread(self.approval_loans, self.approval_median, self.approval_p90),
            line: spread(self.line_loans, self.line_median, self.line_p90),
            provisioning: spread(
                self.provisioning_loans,
                self.provisioning_median,
                self.provisioning_p90,
            ),
        }
    }

    fn buckets(&self) -> Vec<WaitBucket> {
        let counts = [
            self.b0, self.b1, self.b2, self.b3, self.b4, self.b5, self.b6,
        ];
        WAIT_BUCKETS
            .iter()
            .zip(counts)
            .map(|(label, loans)| WaitBucket {
                label: (*label).to_owned(),
                loans,
            })
            .collect()
    }
}

#[derive(QueryableByName)]
struct OutRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    pool_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p90: Option<f64>,
}

impl OutRow {
    fn spread(&self) -> Spread {
        Spread {
            loans: self.loans,
            median_secs: self.median,
            p90_secs: self.p90,
        }
    }
}

#[derive(QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    outcome: i64,
    #[diesel(sql_type = BigInt)]
    loans: i64,
}

#[derive(QueryableByName)]
struct UseRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    machines: i64,
    #[diesel(sql_type = BigInt)]
    idle: i64,
    #[diesel(sql_type = Double)]
    available_hours: f64,
    #[diesel(sql_type = Double)]
    loaned_hours: f64,
}

#[derive(QueryableByName)]
struct PoolDayRow {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Double)]
    loaned_hours: f64,
    #[diesel(sql_type = Double)]
    available_hours: f64,
}

#[derive(QueryableByName)]
struct StepRow {
    #[diesel(sql_type = Text)]
    phase: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    runs: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
}

#[derive(QueryableByName)]
struct BrokenRow {
    #[diesel(sql_type = Text)]
    fqdn: String,
    #[diesel(sql_type = Timestamptz)]
    broken_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    repaired_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct TallyRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    loans: i64,
    #[diesel(sql_type = Double)]
    loaned_hours: f64,
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
        let mut bad_pool = StatsFilter::default();
        bad_pool.pool = "a\u{0}b".into();
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
