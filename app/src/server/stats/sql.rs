//! The statistics' statements, and the rows they return. Three statements: the loans requested
//! in the period (`PERIOD`: every count, wait and tally, from one pass over those loans and
//! their facts), the time machines were out of the pool (`HELD`: utilisation per pool and per
//! day), and the machines that broke (`BROKEN`, admins only). Each takes the same binds: $1 the
//! period's start, $2 its end (exclusive), $3 the pool's id or NULL, $4 now; `PERIOD` also $5,
//! whether to add the admins' tallies. Lists come back as JSON, one row per statement.
//!
//! Definitions: a loan's outcome (`OUTCOMES` order) is its refusal, cancellation or failure,
//! else how its use ended (returned, reclaimed at expiry, taken back), else open. A machine is
//! out of the pool from its assignment to its clean-up's end (or until it broke, or the loan
//! ended without one; now while out).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use serde::Deserialize;

use crate::types::{Endings, LoanCounts, Spread, WaitBucket, Waits};

pub(super) const PERIOD: &str = r#"
WITH p AS MATERIALIZED (
  SELECT l.id, l.pool_id, l.user_id, l.state, l.approved_at, l.approved_by, l.requested_at, l.ready_at,
         l.extensions_used, l.bug_ref, f.assigned_at, f.ended_how,
         COALESCE(f.back_at, f.broken_at, l.ended_at, $4) AS held_until, f.back_at,
         EXTRACT(EPOCH FROM l.ready_at - l.requested_at)::FLOAT8 AS total,
         CASE WHEN l.approved_by IS NOT NULL AND l.ready_at IS NOT NULL
              THEN EXTRACT(EPOCH FROM l.approved_at - l.requested_at)::FLOAT8 END AS approval,
         CASE WHEN f.assigned_at > l.approved_at AND l.ready_at IS NOT NULL
              THEN EXTRACT(EPOCH FROM f.assigned_at - l.approved_at)::FLOAT8 END AS line,
         EXTRACT(EPOCH FROM l.ready_at - f.assigned_at)::FLOAT8 AS provisioning,
         CASE WHEN l.state = 'denied' THEN 4 WHEN l.state = 'cancelled' THEN 3
              WHEN l.state = 'failed' THEN 5 WHEN f.ended_how = 'returned' THEN 0
              WHEN f.ended_how = 'expired' THEN 1 WHEN f.ended_how = 'forced' THEN 2 ELSE 6 END AS outcome
    FROM loans l LEFT JOIN loan_facts f ON f.loan_id = l.id
   WHERE l.requested_at >= $1 AND l.requested_at < $2 AND ($3::BIGINT IS NULL OR l.pool_id = $3))
SELECT
  (SELECT json_build_object(
     'requested', count(*),
     'approved_automatically', count(*) FILTER (WHERE approved_at IS NOT NULL AND approved_by IS NULL),
     'approved_by_admin', count(*) FILTER (WHERE approved_at IS NOT NULL AND approved_by IS NOT NULL),
     'denied', count(*) FILTER (WHERE outcome = 4), 'cancelled', count(*) FILTER (WHERE outcome = 3),
     'failed', count(*) FILTER (WHERE outcome = 5), 'open', count(*) FILTER (WHERE outcome = 6),
     'returned', count(*) FILTER (WHERE ended_how = 'returned'), 'expired', count(*) FILTER (WHERE ended_how = 'expired'),
     'forced', count(*) FILTER (WHERE ended_how = 'forced'),
     'extended_loans', count(*) FILTER (WHERE extensions_used > 0), 'extensions', COALESCE(sum(extensions_used), 0),
     'waits', json_build_object('loans', count(total),
       'total_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY total), 'total_p90', percentile_cont(0.9) WITHIN GROUP (ORDER BY total),
       'approval_loans', count(approval), 'approval_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY approval), 'approval_p90', percentile_cont(0.9) WITHIN GROUP (ORDER BY approval),
       'line_loans', count(line), 'line_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY line), 'line_p90', percentile_cont(0.9) WITHIN GROUP (ORDER BY line),
       'provisioning_loans', count(provisioning), 'provisioning_median', percentile_cont(0.5) WITHIN GROUP (ORDER BY provisioning), 'provisioning_p90', percentile_cont(0.9) WITHIN GROUP (ORDER BY provisioning),
       'buckets', json_build_array(count(*) FILTER (WHERE total < 300), count(*) FILTER (WHERE total >= 300 AND total < 900),
          count(*) FILTER (WHERE total >= 900 AND total < 1800), count(*) FILTER (WHERE total >= 1800 AND total < 3600),
          count(*) FILTER (WHERE total >= 3600 AND total < 14400), count(*) FILTER (WHERE total >= 14400 AND total < 86400),
          count(*) FILTER (WHERE total >= 86400))))
   FROM p) AS summary,
  (SELECT json_agg(o) FROM (SELECT pool_id, count(*) AS loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM back_at - assigned_at)::FLOAT8) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM back_at - assigned_at)::FLOAT8) AS p90
     FROM p WHERE assigned_at IS NOT NULL AND back_at IS NOT NULL GROUP BY ROLLUP (pool_id)) o) AS out_of_pool,
  (SELECT json_agg(d) FROM (SELECT (requested_at AT TIME ZONE 'UTC')::DATE AS day, outcome, count(*) AS loans FROM p GROUP BY 1, 2) d) AS per_day,
  (SELECT json_agg(s) FROM (SELECT phase, name, sum(succeeded + failed) AS runs, sum(failed) AS failed
     FROM step_runs
     WHERE $5 AND day >= ($1 AT TIME ZONE 'UTC')::DATE AND day < ($2 AT TIME ZONE 'UTC')::DATE
       AND ($3::BIGINT IS NULL OR pool_id = $3)
     GROUP BY 1, 2
     ORDER BY sum(failed)::FLOAT8 / GREATEST(sum(succeeded + failed), 1) DESC, 1, 2) s) AS steps,
  (SELECT json_agg(b) FROM (SELECT bug_ref AS name, count(*) AS loans,
       COALESCE(sum(EXTRACT(EPOCH FROM held_until - assigned_at)), 0)::FLOAT8 / 3600 AS loaned_hours
     FROM p WHERE $5 AND bug_ref IS NOT NULL AND bug_ref <> '' GROUP BY bug_ref ORDER BY count(*) DESC, bug_ref LIMIT 20) b) AS bugs,
  (SELECT json_agg(g) FROM (SELECT g.name, sum(b.loans)::BIGINT AS loans, sum(b.hours)::FLOAT8 / 3600 AS loaned_hours
     FROM (SELECT user_id, count(*) AS loans,
                  COALESCE(sum(EXTRACT(EPOCH FROM held_until - assigned_at)), 0) AS hours
             FROM p WHERE $5 GROUP BY user_id) b
     JOIN users u ON u.id = b.user_id CROSS JOIN LATERAL unnest(u.groups) AS g(name)
     WHERE g.name IS NOT NULL GROUP BY g.name ORDER BY sum(b.loans) DESC, g.name LIMIT 10) g) AS groups
"#;

pub(super) const HELD: &str = r#"
WITH held AS MATERIALIZED (
    SELECT f.pool_id, f.machine_id, GREATEST(f.assigned_at, $1) AS s,
           LEAST(COALESCE(f.back_at, f.broken_at), $2, $4) AS e
      FROM loan_facts f
     WHERE COALESCE(f.back_at, f.broken_at) > $1 AND f.assigned_at < LEAST($2, $4)
       AND ($3::BIGINT IS NULL OR f.pool_id = $3)
    UNION ALL
    SELECT f.pool_id, f.machine_id, GREATEST(f.assigned_at, $1), LEAST(COALESCE(l.ended_at, $4), $2, $4)
      FROM loan_facts f JOIN loans l ON l.id = f.loan_id
     WHERE f.back_at IS NULL AND f.broken_at IS NULL AND f.assigned_at < LEAST($2, $4)
       AND COALESCE(l.ended_at, $4) > $1 AND ($3::BIGINT IS NULL OR f.pool_id = $3)),
days AS (SELECT d AS day FROM generate_series(($1 AT TIME ZONE 'UTC'), (LEAST($2, $4) AT TIME ZONE 'UTC') - INTERVAL '1 microsecond', INTERVAL '1 day') d),
machines_now AS (SELECT m.id, m.pool_id, m.created_at FROM machines m
     WHERE m.state <> 'retired' AND m.created_at < LEAST($2, $4) AND ($3::BIGINT IS NULL OR m.pool_id = $3)),
loaned AS (
    SELECT h.pool_id, g.day, sum(EXTRACT(EPOCH FROM LEAST(h.e AT TIME ZONE 'UTC', g.day + INTERVAL '1 day')
                                           - GREATEST(h.s AT TIME ZONE 'UTC', g.day)))::FLOAT8 / 3600 AS hours
      FROM held h CROSS JOIN LATERAL generate_series(date_trunc('day', h.s AT TIME ZONE 'UTC'), h.e AT TIME ZONE 'UTC', INTERVAL '1 day') g(day)
     WHERE h.e > h.s GROUP BY 1, 2),
available AS (
    -- Machines made at the same moment count together: pool × moment × day, not machine × day.
    SELECT m.pool_id, d.day,
           sum(m.n * EXTRACT(EPOCH FROM LEAST(d.day + INTERVAL '1 day', LEAST($2, $4) AT TIME ZONE 'UTC')
                                      - GREATEST(d.day, m.made)))::FLOAT8 / 3600 AS hours
      FROM (SELECT pool_id, GREATEST(created_at, $1) AT TIME ZONE 'UTC' AS made, count(*) AS n
              FROM machines_now GROUP BY 1, 2) m
      JOIN days d ON m.made < d.day + INTERVAL '1 day'
     GROUP BY 1, 2)
SELECT
  (SELECT json_agg(u) FROM (
     SELECT p.id, p.slug, p.name, COALESCE(mc.machines, 0) AS machines, COALESCE(mc.idle, 0) AS idle,
            COALESCE(av.hours, 0) AS available_hours, COALESCE(lo.hours, 0) AS loaned_hours
       FROM pools p
       LEFT JOIN (SELECT m.pool_id, count(*) AS machines, count(*) FILTER (WHERE u.machine_id IS NULL) AS idle
                    FROM machines_now m LEFT JOIN (SELECT DISTINCT machine_id FROM held) u ON u.machine_id = m.id
                   GROUP BY m.pool_id) mc ON mc.pool_id = p.id
       LEFT JOIN (SELECT pool_id, sum(hours) AS hours FROM available GROUP BY pool_id) av ON av.pool_id = p.id
       LEFT JOIN (SELECT pool_id, sum(EXTRACT(EPOCH FROM e - s))::FLOAT8 / 3600 AS hours FROM held
                   WHERE e > s GROUP BY pool_id) lo ON lo.pool_id = p.id
      WHERE p.retired_at IS NULL AND ($3::BIGINT IS NULL OR p.id = $3)
      ORDER BY p.name) u) AS pools,
  (SELECT json_agg(d) FROM (
     SELECT p.slug, a.day::DATE AS day, COALESCE(lo.hours, 0) AS loaned_hours, a.hours AS available_hours
       FROM available a JOIN pools p ON p.id = a.pool_id AND p.retired_at IS NULL
       LEFT JOIN loaned lo ON lo.pool_id = a.pool_id AND lo.day = a.day
      ORDER BY p.name, a.day) d) AS days
"#;

pub(super) const BROKEN: &str = r#"
SELECT b.target AS fqdn, b.at AS broken_at,
            (SELECT min(r.at) FROM audit_log r
              WHERE r.target_type = 'machines' AND r.after ? 'state' AND r.target_id = b.target_id
                AND r.at > b.at AND r.after ->> 'state' = 'available' AND r.at <= $4) AS repaired_at
       FROM audit_log b
      WHERE b.target_type = 'machines' AND b.after ->> 'state' = 'broken' AND b.at >= $1 AND b.at < $2
        AND ($3::BIGINT IS NULL OR EXISTS (SELECT 1 FROM machines m WHERE m.id::TEXT = b.target_id AND m.pool_id = $3))
      ORDER BY b.at
"#;

/// `PERIOD`'s one row: each part as JSON.
#[derive(QueryableByName)]
pub(super) struct PeriodRow {
    #[diesel(sql_type = diesel::sql_types::Json)]
    pub(super) summary: serde_json::Value,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) out_of_pool: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) per_day: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) steps: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) bugs: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) groups: Option<serde_json::Value>,
}

/// `HELD`'s one row.
#[derive(QueryableByName)]
pub(super) struct HeldRow {
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) pools: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Json>)]
    pub(super) days: Option<serde_json::Value>,
}

/// A JSON list (NULL when empty) as rows.
pub(super) fn rows<T: serde::de::DeserializeOwned>(
    value: Option<serde_json::Value>,
) -> Result<Vec<T>, serde_json::Error> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(list) => serde_json::from_value(list),
    }
}

#[derive(Deserialize)]
pub(super) struct SummaryRow {
    requested: i64,
    approved_automatically: i64,
    approved_by_admin: i64,
    denied: i64,
    cancelled: i64,
    failed: i64,
    open: i64,
    returned: i64,
    expired: i64,
    forced: i64,
    extended_loans: i64,
    extensions: i64,
    pub(super) waits: WaitRow,
}

impl SummaryRow {
    pub(super) fn counts(&self) -> LoanCounts {
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

    pub(super) fn endings(&self) -> Endings {
        Endings {
            returned: self.returned,
            expired: self.expired,
            forced: self.forced,
            extended_loans: self.extended_loans,
            extensions: self.extensions,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct WaitRow {
    loans: i64,
    total_median: Option<f64>,
    total_p90: Option<f64>,
    approval_loans: i64,
    approval_median: Option<f64>,
    approval_p90: Option<f64>,
    line_loans: i64,
    line_median: Option<f64>,
    line_p90: Option<f64>,
    provisioning_loans: i64,
    provisioning_median: Option<f64>,
    provisioning_p90: Option<f64>,
    buckets: [i64; 7],
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
    pub(super) fn waits(&self) -> Waits {
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

    pub(super) fn buckets(&self) -> Vec<WaitBucket> {
        WAIT_BUCKETS
            .iter()
            .zip(self.buckets)
            .map(|(label, loans)| WaitBucket {
                label: (*label).to_owned(),
                loans,
            })
            .collect()
    }
}

#[derive(Deserialize)]
pub(super) struct OutRow {
    pub(super) pool_id: Option<i64>,
    loans: i64,
    median: Option<f64>,
    p90: Option<f64>,
}

impl OutRow {
    pub(super) fn spread(&self) -> Spread {
        Spread {
            loans: self.loans,
            median_secs: self.median,
            p90_secs: self.p90,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DayRow {
    pub(super) day: NaiveDate,
    pub(super) outcome: i64,
    pub(super) loans: i64,
}

#[derive(Deserialize)]
pub(super) struct UseRow {
    pub(super) id: i64,
    pub(super) slug: String,
    pub(super) name: String,
    pub(super) machines: i64,
    pub(super) idle: i64,
    pub(super) available_hours: f64,
    pub(super) loaned_hours: f64,
}

#[derive(Deserialize)]
pub(super) struct PoolDayRow {
    pub(super) slug: String,
    pub(super) day: NaiveDate,
    pub(super) loaned_hours: f64,
    pub(super) available_hours: f64,
}

#[derive(Deserialize)]
pub(super) struct StepRow {
    pub(super) phase: String,
    pub(super) name: String,
    pub(super) runs: i64,
    pub(super) failed: i64,
}

#[derive(QueryableByName)]
pub(super) struct BrokenRow {
    #[diesel(sql_type = Text)]
    pub(super) fqdn: String,
    #[diesel(sql_type = Timestamptz)]
    pub(super) broken_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub(super) repaired_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
pub(super) struct TallyRow {
    pub(super) name: String,
    pub(super) loans: i64,
    pub(super) loaned_hours: f64,
}
