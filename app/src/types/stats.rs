//! The statistics page's figures, and the tables its charts and CSV downloads are made from (one
//! table per chart, so the CSV is exactly what the page shows).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What the statistics page is asked for; everything as typed, checked on the server. Empty
/// fields mean the default: the last 30 days, every pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsFilter {
    /// `7`, `30` or `90`: the last so many days (ignored when `from` is given).
    pub days: String,
    /// First day, `YYYY-MM-DD` (UTC).
    pub from: String,
    /// Last day, included; `YYYY-MM-DD` (UTC). Today when empty.
    pub to: String,
    /// A pool's slug; empty for every pool.
    pub pool: String,
}

impl StatsFilter {
    /// The filter as a query string, for links to the CSV files.
    pub fn query(&self) -> String {
        [
            ("days", &self.days),
            ("from", &self.from),
            ("to", &self.to),
            ("pool", &self.pool),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", crate::format::query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// The median and 90th percentile of a duration, in seconds; `None` when nothing was measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub loans: i64,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
}

/// How many loans were asked for in the period, and what became of the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoanCounts {
    pub requested: i64,
    pub approved_automatically: i64,
    pub approved_by_admin: i64,
    pub denied: i64,
    pub cancelled: i64,
    pub failed: i64,
    /// Still waiting for an admin or a machine, provisioning, or in use.
    pub open: i64,
}

/// How the borrowers' use of the machines ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endings {
    pub returned: i64,
    pub expired: i64,
    pub forced: i64,
    /// Loans extended at least once, and the extensions they used.
    pub extended_loans: i64,
    pub extensions: i64,
}

/// Requested → ready, and its three parts: the approval over the loans an admin approved, the
/// line over those that waited in it, provisioning over all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Waits {
    pub total: Spread,
    pub approval: Spread,
    pub line: Spread,
    pub provisioning: Spread,
}

/// One day of the loans-per-day chart: the loans requested that day, by how they ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOutcomes {
    pub day: NaiveDate,
    /// In [`OUTCOMES`] order.
    pub counts: [i64; 7],
}

/// The outcomes of a loan, in the chart's stacking order.
pub const OUTCOMES: [&str; 7] = [
    "returned",
    "reclaimed at expiry",
    "taken back",
    "cancelled",
    "denied",
    "failed",
    "open",
];

/// One bar of the wait-time distribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitBucket {
    pub label: String,
    pub loans: i64,
}

/// A pool's use of its machines over the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolUse {
    pub slug: String,
    pub name: String,
    pub machines: i64,
    /// Machines no loan had during the period.
    pub idle_machines: i64,
    pub available_hours: f64,
    pub loaned_hours: f64,
    /// Time out of the pool per loan (machine assigned → back after clean-up).
    pub out_of_pool: Spread,
}

impl PoolUse {
    pub fn utilisation(&self) -> Option<f64> {
        (self.available_hours > 0.0).then(|| self.loaned_hours / self.available_hours)
    }
}

/// A pool's machine-hours out of the pool on one day, and the hours its machines existed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolDay {
    pub slug: String,
    pub day: NaiveDate,
    pub loaned_hours: f64,
    pub available_hours: f64,
}

/// How often one step ran and failed (each attempt counts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRate {
    pub phase: String,
    pub name: String,
    pub runs: i64,
    pub failed: i64,
}

/// A machine that broke during the period, and when it was back in the pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenMachine {
    pub fqdn: String,
    pub broken_at: DateTime<Utc>,
    pub repaired_at: Option<DateTime<Utc>>,
}

/// Loans that named one bug, or borrowed by one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub name: String,
    /// The bug in the site's tracker (`bug_url_template`), for bug references.
    pub url: Option<String>,
    pub loans: i64,
    pub loaned_hours: f64,
}

/// What only admins see: the failures, the broken machines, and who borrows for what.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminStats {
    pub steps: Vec<StepRate>,
    pub broken: Vec<BrokenMachine>,
    pub repair: Spread,
    pub bugs: Vec<Tally>,
    pub groups: Vec<Tally>,
}

/// The statistics page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub filter: StatsFilter,
    pub from: NaiveDate,
    /// The last day, included.
    pub to: NaiveDate,
    /// Every pool, for the filter: (slug, name).
    pub pools: Vec<(String, String)>,
    pub counts: LoanCounts,
    pub waits: Waits,
    pub endings: Endings,
    pub out_of_pool: Spread,
    pub per_day: Vec<DayOutcomes>,
    pub wait_buckets: Vec<WaitBucket>,
    pub pool_use: Vec<PoolUse>,
    pub pool_days: Vec<PoolDay>,
    pub admin: Option<AdminStats>,
}

/// The tables of the statistics page (each has a CSV download).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatsTable {
    PerDay,
    Waits,
    Utilisation,
    UtilisationPerDay,
    Steps,
    Broken,
    Bugs,
    Groups,
}

impl StatsTable {
    pub const ALL: [StatsTable; 8] = [
        Self::PerDay,
        Self::Waits,
        Self::Utilisation,
        Self::UtilisationPerDay,
        Self::Steps,
        Self::Broken,
        Self::Bugs,
        Self::Groups,
    ];

    /// The name in the CSV's address (`/stats/{slug}.csv`).
    pub fn slug(self) -> &'static str {
        match self {
            Self::PerDay => "loans-per-day",
            Self::Waits => "wait-times",
            Self::Utilisation => "utilisation",
            Self::UtilisationPerDay => "utilisation-per-day",
            Self::Steps => "step-failures",
            Self::Broken => "broken-machines",
            Self::Bugs => "loans-per-bug",
            Self::Groups => "groups",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.slug() == slug)
    }

    /// Tables only admins may see.
    pub fn admin_only(self) -> bool {
        matches!(self, Self::Steps | Self::Broken | Self::Bugs | Self::Groups)
    }
}

/// A table as the page shows it and the CSV holds it: header and rows of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTable {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn hours(h: f64) -> String {
    format!("{h:.1}")
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}", 100.0 * part / whole)
    } else {
        String::new()
    }
}

/// Minutes with one decimal, empty when unknown.
pub fn minutes(secs: Option<f64>) -> String {
    secs.map(|s| format!("{:.1}", s / 60.0)).unwrap_or_default()
}

impl Stats {
    /// One table of the page, as text; `None` for an admin table the viewer may not see.
    pub fn table(&self, which: StatsTable) -> Option<DataTable> {
        let text = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let admin = self.admin.as_ref();
        let table = match which {
            StatsTable::PerDay => {
                let mut header = text(&["Day"]);
                header.extend(OUTCOMES.iter().map(|o| (*o).to_owned()));
                header.push("total".to_owned());
                DataTable {
                    caption: "Loans requested per day, by how they ended".to_owned(),
                    header,
                    rows: self
                        .per_day
                        .iter()
                        .map(|d| {
                            let mut row = vec![d.day.to_string()];
                            row.extend(d.counts.iter().map(i64::to_string));
                            row.push(d.counts.iter().sum::<i64>().to_string());
                            row
                        })
                        .collect(),
                }
            }
            StatsTable::Waits => DataTable {
                caption: "Time from request to a ready machine".to_owned(),
                header: text(&["Wait", "Loans"]),
                rows: self
                    .wait_buckets
                    .iter()
                    .map(|b| vec![b.label.clone(), b.loans.to_string()])
                    .collect(),
            },
            StatsTable::Utilisation => DataTable {
                caption: "Utilisation per pool".to_owned(),
                header: text(&[
                    "Pool",
                    "Machines",
                    "Idle machines",
                    "Machine-hours available",
                    "Machine-hours loaned",
                    "Utilisation %",
                    "Loans back in the pool",
                    "Out of the pool, median (h)",
                    "Out of the pool, p90 (h)",
                ]),
                rows: self
                    .pool_use
                    .iter()
                    .map(|p| {
                        vec![
                            p.slug.clone(),
                            p.machines.to_string(),
                            p.idle_machines.to_string(),
                            hours(p.available_hours),
                            hours(p.loaned_hours),
                            percent(p.loaned_hours, p.available_hours),
                            p.out_of_pool.loans.to_string(),
                            p.out_of_pool
                                .median_secs
                                .map(|s| hours(s / 3600.0))
                                .unwrap_or_default(),
                            p.out_of_pool
                                .p90_secs
                                .map(|s| hours(s / 3600.0))
                                .unwrap_or_default(),
                        ]
                    })
                    .collect(),
            },
            StatsTable::UtilisationPerDay => DataTable {
                caption: "Machine-hours out of the pool per pool and day".to_owned(),
                header: text(&[
                    "Day",
                    "Pool",
                    "Machine-hours loaned",
                    "Machine-hours available",
                    "Utilisation %",
                ]),
                rows: self
                    .pool_days
                    .iter()
                    .map(|d| {
                        vec![
                            d.day.to_string(),
                            d.slug.clone(),
                            hours(d.loaned_hours),
                            hours(d.available_hours),
                            percent(d.loaned_hours, d.available_hours),
                        ]
                    })
                    .collect(),
            },
            StatsTable::Steps => DataTable {
                caption: "Step failures (every attempt counts)".to_owned(),
                header: text(&["Phase", "Step", "Runs", "Failed", "Failure %"]),
                rows: admin?
                    .steps
                    .iter()
                    .map(|s| {
                        vec![
                            s.phase.clone(),
                            s.name.clone(),
                            s.runs.to_string(),
                            s.failed.to_string(),
                            percent(s.failed as f64, s.runs as f64),
                        ]
                    })
                    .collect(),
            },
            StatsTable::Broken => DataTable {
                caption: "Machines that broke, and when they were back".to_owned(),
                header: text(&[
                    "Machine",
                    "Broken at (UTC)",
                    "Back at (UTC)",
                    "Hours to repair",
                ]),
                rows: admin?
                    .broken
                    .iter()
                    .map(|b| {
                        vec![
                            b.fqdn.clone(),
                            b.broken_at.format("%Y-%m-%d %H:%M").to_string(),
                            b.repaired_at
                                .map(|r| r.format("%Y-%m-%d %H:%M").to_string())
                                .unwrap_or_default(),
                            b.repaired_at
                                .map(|r| hours((r - b.broken_at).num_seconds() as f64 / 3600.0))
                                .unwrap_or_default(),
                        ]
                    })
                    .collect(),
            },
            StatsTable::Bugs | StatsTable::Groups => {
                let (caption, noun, rows) = match which {
                    StatsTable::Bugs => ("Loans per bug reference", "Bug", &admin?.bugs),
                    _ => ("The most-borrowing groups", "Group", &admin?.groups),
                };
                DataTable {
                    caption: caption.to_owned(),
                    header: text(&[noun, "Loans", "Machine-hours loaned"]),
                    rows: rows
                        .iter()
                        .map(|t| vec![t.name.clone(), t.loans.to_string(), hours(t.loaned_hours)])
                        .collect(),
                }
            }
        };
        Some(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_slug_of_its_own() {
        for table in StatsTable::ALL {
            assert_eq!(StatsTable::from_slug(table.slug()), Some(table));
        }
        assert_eq!(StatsTable::from_slug("../etc"), None);
    }

    #[test]
    fn admin_tables_are_withheld_without_the_admin_figures() {
        let stats = Stats::default();
        assert!(stats.table(StatsTable::Steps).is_none());
        assert!(stats.table(StatsTable::PerDay).is_some());
        let admin = Stats {
            admin: Some(AdminStats::default()),
            ..Stats::default()
        };
        assert!(admin.table(StatsTable::Bugs).is_some());
    }
}
