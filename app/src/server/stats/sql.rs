//! The statistics' statements and the rows they return. Every statement takes the same four
//! binds: $1 the period's start, $2 its end (exclusive), $3 the pool's id or NULL, $4 now.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text, Timestamptz};
use diesel::QueryableByName;

use crate::types::{Endings, LoanCounts, Spread, WaitBucket, Waits};

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

pub(super) const SUMMARY: &str = concat!(
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

pub(super) const WAITS: &str = concat!(
    "WITH w AS (SELECT EXTRACT(EPOCH FROM l.ready_at - l.requested_at)::FLOAT8 AS total,
                  CASE WHEN l.approved_by IS NOT NULL
                       THEN EXTRACT(EPOCH FROM l.approved_at - l.requested_at)::FLOAT8 END AS approval,
                  CASE WHEN f.assigned_at > l.approved_at
                       THEN EXTRACT(EPOCH FROM f.assigned_at - l.approved_at)::FLOAT8 END AS line,
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

pub(super) const OUT_OF_POOL: &str = concat!(
    "SELECT l.pool_id, count(*) AS loans,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.back_at - f.assigned_at)::FLOAT8) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM f.back_at - f.assigned_at)::FLOAT8) AS p90",
    period_loans!(),
    " AND f.assigned_at IS NOT NULL AND f.back_at IS NOT NULL
     GROUP BY ROLLUP (l.pool_id)"
);

pub(super) const PER_DAY: &str = concat!(
    "SELECT (l.requested_at AT TIME ZONE 'UTC')::DATE AS day, ",
    outcome!(),
    "::BIGINT AS outcome, count(*) AS loans",
    period_loans!(),
    " GROUP BY 1, 2"
);

pub(super) const UTILISATION: &str = concat!(
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

pub(super) const PER_POOL_DAY: &str = concat!(
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

pub(super) const STEPS: &str = "SELECT r.phase, r.name, sum(r.succeeded + r.failed)::BIGINT AS runs, sum(r.failed)::BIGINT AS failed
       FROM loan_step_runs r JOIN loans l ON l.id = r.loan_id
      WHERE l.requested_at >= $1 AND l.requested_at < $2 AND ($3::BIGINT IS NULL OR l.pool_id = $3)
      GROUP BY 1, 2
      ORDER BY sum(r.failed)::FLOAT8 / GREATEST(sum(r.succeeded + r.failed), 1) DESC, 1, 2";

pub(super) const BROKEN: &str = "SELECT b.target AS fqdn, b.at AS broken_at,
            (SELECT min(r.at) FROM audit_log r
              WHERE r.target_type = 'machines' AND r.after ? 'state' AND r.target_id = b.target_id
                AND r.at > b.at AND r.after ->> 'state' = 'available' AND r.at <= $4) AS repaired_at
       FROM audit_log b
      WHERE b.target_type = 'machines' AND b.after ->> 'state' = 'broken' AND b.at >= $1 AND b.at < $2
        AND ($3::BIGINT IS NULL OR EXISTS (SELECT 1 FROM machines m WHERE m.id::TEXT = b.target_id AND m.pool_id = $3))
      ORDER BY b.at";

pub(super) const BUGS: &str = concat!(
    "SELECT l.bug_ref AS name, count(*) AS loans,
       COALESCE(sum(EXTRACT(EPOCH FROM ",
    held_until!(),
    " - f.assigned_at)), 0)::FLOAT8 / 3600 AS loaned_hours",
    period_loans!(),
    " AND l.bug_ref IS NOT NULL AND l.bug_ref <> ''
     GROUP BY l.bug_ref ORDER BY count(*) DESC, l.bug_ref LIMIT 20"
);

pub(super) const GROUPS: &str = concat!(
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
pub(super) struct SummaryRow {
    #[diesel(sql_type = BigInt)]
    pub(super) requested: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) approved_automatically: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) approved_by_admin: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) denied: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) cancelled: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) failed: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) open: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) returned: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) expired: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) forced: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) extended_loans: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) extensions: i64,
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

#[derive(QueryableByName)]
pub(super) struct WaitRow {
    #[diesel(sql_type = BigInt)]
    pub(super) loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) total_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) total_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub(super) approval_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) approval_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) approval_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub(super) line_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) line_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) line_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub(super) provisioning_loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) provisioning_median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) provisioning_p90: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub(super) b0: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b1: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b2: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b3: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b4: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b5: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) b6: i64,
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
pub(super) struct OutRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    pub(super) pool_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    pub(super) loans: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub(super) p90: Option<f64>,
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

#[derive(QueryableByName)]
pub(super) struct DayRow {
    #[diesel(sql_type = Date)]
    pub(super) day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub(super) outcome: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) loans: i64,
}

#[derive(QueryableByName)]
pub(super) struct UseRow {
    #[diesel(sql_type = BigInt)]
    pub(super) id: i64,
    #[diesel(sql_type = Text)]
    pub(super) slug: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = BigInt)]
    pub(super) machines: i64,
    #[diesel(sql_type = BigInt)]
    pub(super) idle: i64,
    #[diesel(sql_type = Double)]
    pub(super) available_hours: f64,
    #[diesel(sql_type = Double)]
    pub(super) loaned_hours: f64,
}

#[derive(QueryableByName)]
pub(super) struct PoolDayRow {
    #[diesel(sql_type = Text)]
    pub(super) slug: String,
    #[diesel(sql_type = Date)]
    pub(super) day: NaiveDate,
    #[diesel(sql_type = Double)]
    pub(super) loaned_hours: f64,
    #[diesel(sql_type = Double)]
    pub(super) available_hours: f64,
}

#[derive(QueryableByName)]
pub(super) struct StepRow {
    #[diesel(sql_type = Text)]
    pub(super) phase: String,
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = BigInt)]
    pub(super) runs: i64,
    #[diesel(sql_type = BigInt)]
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

#[derive(QueryableByName)]
pub(super) struct TallyRow {
    #[diesel(sql_type = Text)]
    pub(super) name: String,
    #[diesel(sql_type = BigInt)]
    pub(super) loans: i64,
    #[diesel(sql_type = Double)]
    pub(super) loaned_hours: f64,
}
