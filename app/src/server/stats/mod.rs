//! The statistics page's figures: SQL over the loans and the per-loan facts the loan history
//! keeps (`loan_facts`, `step_runs`, kept by a trigger on `loan_events`), computed in the
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

mod period;
mod sql;

pub use period::{check_filter, Period, MAX_DAYS};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::server::schema::pools;
use crate::server::DbError;
use crate::types::{
    AdminStats, BrokenMachine, DayOutcomes, PoolDay, PoolUse, Spread, Stats, StatsFilter, StepRate,
    Tally,
};
use sql::*;

/// The binds every statement shares: $1 start, $2 end (exclusive), $3 pool id or NULL, $4 now.
struct Scope {
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
    state.limits.check_statistics(viewer.id)?;
    let now = state.clock.now();
    let period =
        check_filter(&filter, now.date_naive()).map_err(crate::error::AppError::Validation)?;
    let (mut first, mut second) = (state.conn().await?, state.conn().await?);
    let site = state.site.clone();
    Ok(compute(
        &mut first,
        &mut second,
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

/// The page's figures for `period`; the admins' part when `admin`. The loans of the period and
/// the machines' time out of the pool are read on two connections at once (PostgreSQL works on
/// both together), each in a read-only transaction without JIT compilation: these statements'
/// row estimates are rough, and compiling them took PostgreSQL longer than running them.
pub async fn compute(
    first: &mut AsyncPgConnection,
    second: &mut AsyncPgConnection,
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
        .load(first)
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
        start: period.start(),
        end: period.end(),
        pool: pool_id,
        now,
    };
    let mut first_tx = first.build_transaction().read_only();
    let mut second_tx = second.build_transaction().read_only();
    let period_part = first_tx.run(async |c| {
        no_jit(c).await?;
        bound!(scope, PERIOD)
            .bind::<Bool, _>(admin)
            .get_result::<PeriodRow>(c)
            .await
    });
    let held_part = second_tx.run(async |c| {
        no_jit(c).await?;
        let held = bound!(scope, HELD).get_result::<HeldRow>(c).await?;
        let broken = match admin {
            true => bound!(scope, BROKEN).load::<BrokenRow>(c).await?,
            false => Vec::new(),
        };
        Ok::<_, diesel::result::Error>((held, broken))
    });
    let (loans, (held, broken)) =
        futures::try_join!(period_part, held_part).map_err(DbError::from)?;
    let parse = |err: serde_json::Error| {
        tracing::error!(error = %err, "the statistics' JSON does not read");
        StatsError::Db(DbError::from(diesel::result::Error::DeserializationError(
            Box::new(err),
        )))
    };
    let summary: SummaryRow = serde_json::from_value(loans.summary).map_err(parse)?;
    let waits = &summary.waits;
    let out: Vec<OutRow> = rows(loans.out_of_pool).map_err(parse)?;
    let days: Vec<DayRow> = rows(loans.per_day).map_err(parse)?;
    let uses: Vec<UseRow> = rows(held.pools).map_err(parse)?;
    let pool_days: Vec<PoolDayRow> = rows(held.days).map_err(parse)?;
    let admin = match admin {
        false => None,
        true => Some(admin_stats(
            rows(loans.steps).map_err(parse)?,
            broken,
            rows(loans.bugs).map_err(parse)?,
            rows(loans.groups).map_err(parse)?,
            &bug_url,
        )),
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

/// Switches JIT compilation off for the rest of the transaction (see [`compute`]).
async fn no_jit(conn: &mut AsyncPgConnection) -> Result<usize, diesel::result::Error> {
    diesel::sql_query("SET LOCAL jit = off").execute(conn).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_as_postgresql_does() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[10.0], 0.9), Some(10.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[10.0, 0.0, 20.0], 0.9), Some(18.0));
    }
}
