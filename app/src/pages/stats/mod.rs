//! The statistics page: how many loans, how long people wait, how long machines are out of the
//! pool and how busy each pool is, for a period and a pool. Everyone signed in sees these;
//! admins also see step failures, broken machines, loans per bug and the most-borrowing groups.
//! Each chart is an SVG drawn here on the server, with its numbers in a table beside it and a
//! CSV download of the same table.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::stats::get_stats;
use crate::components::notice::ErrorNotice;
use crate::types::{DataTable, Spread, Stats, StatsFilter, StatsTable};
use charts::{PerDayChart, UtilisationChart, WaitChart};

mod charts;

#[component]
pub fn StatsPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.read().get(name).unwrap_or_default();
    let stats = Resource::new(
        move || (field("days"), field("from"), field("to"), field("pool")),
        |(days, from, to, pool)| get_stats(days, from, to, pool),
    );
    view! {
        <Title text="Statistics" />
        <div class="page-head">
            <div>
                <h1>"Statistics"</h1>
                <p class="lead">"How many loans there were, how long people waited for a machine, and how busy each pool was."</p>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || stats.get().map(|result| match result {
                Ok(stats) => view! { <StatsView stats /> }.into_any(),
                Err(error) => view! {
                    <Filters filter=StatsFilter { days: field("days"), from: field("from"), to: field("to"), pool: field("pool") } pools=Vec::new() />
                    <ErrorNotice error />
                }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Filters(filter: StatsFilter, pools: Vec<(String, String)>) -> impl IntoView {
    let days = if filter.days.is_empty() && filter.from.is_empty() {
        "30".to_owned()
    } else {
        filter.days.clone()
    };
    view! {
        <form class="card filters" method="get" action="/stats" data-testid="stats-filter">
            <label class="field"><span>"Period"</span>
                <select name="days">
                    {[("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("", "From–to dates")]
                        .into_iter()
                        .map(|(value, label)| view! { <option value=value selected=days == value>{label}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="field"><span>"From"</span><input type="date" name="from" value=filter.from.clone() /></label>
            <label class="field"><span>"To"</span><input type="date" name="to" value=filter.to.clone() /></label>
            <label class="field"><span>"Pool"</span>
                <select name="pool">
                    <option value="">"Every pool"</option>
                    {pools.into_iter().map(|(slug, name)| {
                        let selected = slug == filter.pool;
                        view! { <option value=slug selected=selected>{name}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" class="button">"Show"</button>
        </form>
    }
}

#[component]
fn StatsView(stats: Stats) -> impl IntoView {
    let c = stats.counts;
    let w = stats.waits;
    let e = stats.endings;
    let period = format!(
        "{} to {} (UTC){}",
        stats.from,
        stats.to,
        stats
            .pools
            .iter()
            .find(|(slug, _)| *slug == stats.filter.pool)
            .map(|(_, name)| format!(", pool {name}"))
            .unwrap_or_else(|| ", every pool".to_owned())
    );
    let (loaned, available) = stats.pool_use.iter().fold((0.0, 0.0), |(l, a), p| {
        (l + p.loaned_hours, a + p.available_hours)
    });
    let tiles = [
        (
            "loans-requested",
            c.requested.to_string(),
            "Loans requested".to_owned(),
        ),
        (
            "approved",
            format!("{} / {}", c.approved_automatically, c.approved_by_admin),
            "Approved automatically / by an admin".to_owned(),
        ),
        (
            "refused",
            format!("{} / {} / {}", c.denied, c.cancelled, c.failed),
            "Denied / cancelled / failed".to_owned(),
        ),
        (
            "time-to-ready",
            duration(w.total.median_secs),
            format!(
                "Median time to a ready machine (90 %: {})",
                duration(w.total.p90_secs)
            ),
        ),
        (
            "out-of-pool",
            duration(stats.out_of_pool.median_secs),
            format!(
                "Median time a loan keeps a machine out of the pool (90 %: {})",
                duration(stats.out_of_pool.p90_secs)
            ),
        ),
        (
            "utilisation",
            percent(loaned, available),
            "Machine-hours loaned of those available".to_owned(),
        ),
    ];
    let query = stats.filter.query();
    let csv = move |table: StatsTable| format!("/stats/{}.csv?{query}", table.slug());
    let table = |which| stats.table(which);
    let (per_day, waits, uses, use_days) = (
        table(StatsTable::PerDay),
        table(StatsTable::Waits),
        table(StatsTable::Utilisation),
        table(StatsTable::UtilisationPerDay),
    );
    let admin_tables = (
        table(StatsTable::Steps),
        table(StatsTable::Broken),
        table(StatsTable::Groups),
    );
    let admin = stats.admin.clone();
    let (filter, pools) = (stats.filter.clone(), stats.pools.clone());
    let (s1, s2, s3, s4) = (stats.clone(), stats.clone(), stats.clone(), stats);
    view! {
        <Filters filter pools />
        <p class="hint" data-testid="period">{period}</p>
        {(c.requested == 0).then(|| view! {
            <div class="notice notice-info" data-testid="no-loans"><p>"No loan was requested in this period. Choose a longer period or another pool."</p></div>
        })}
        <div class="tiles stats-tiles">
            {tiles.into_iter().map(|(id, number, label)| view! {
                <div class="tile" data-testid=id><span class="tile-number">{number}</span><span>{label}</span></div>
            }).collect_view()}
        </div>
        <section class="card stats-section">
            <h2>"Waiting for a machine"</h2>
            <WaitTable stats=s1 />
            <p class="hint">{format!(
                "How loans ended: {} returned by the borrower, {} reclaimed at expiry, {} taken back by an admin; {} loans were extended ({} extensions).",
                e.returned, e.expired, e.forced, e.extended_loans, e.extensions
            )}</p>
        </section>
        <Chart id="loans-per-day" title="Loans per day, by how they ended" table=per_day csv=csv(StatsTable::PerDay) open=false>
            <PerDayChart stats=s2 />
        </Chart>
        <Chart id="wait-times" title="Time from request to a ready machine" table=waits csv=csv(StatsTable::Waits) open=true>
            <WaitChart stats=s3 />
        </Chart>
        <Chart id="utilisation" title="Utilisation per pool" table=uses csv=csv(StatsTable::Utilisation) open=true>
            <UtilisationChart stats=s4 />
        </Chart>
        <section class="card stats-section">
            <h2>"Utilisation per pool and day"</h2>
            <p class="hint">{format!("The chart above, as numbers: {} rows (a pool and a day each), in the download.", use_days.map_or(0, |t| t.rows.len()))}</p>
            <p class="stats-download"><a href=csv(StatsTable::UtilisationPerDay) download data-testid="csv">"Download “Machine-hours out of the pool per pool and day” as CSV"</a></p>
        </section>
        {admin.map(|a| { let (steps, broken, groups) = admin_tables; view! {
            <section class="card stats-section" data-testid="admin-stats">
                <h2>"Failures and repairs"</h2>
                <p class="hint">{format!(
                    "{} machines broke in the period; {} are back. Time to repair: median {}, 90 % within {}.",
                    a.broken.len(), a.repair.loans, duration(a.repair.median_secs), duration(a.repair.p90_secs)
                )}</p>
                <TableWithDownload table=steps csv=csv(StatsTable::Steps) open=true />
                <TableWithDownload table=broken csv=csv(StatsTable::Broken) open=true />
            </section>
            <section class="card stats-section">
                <h2>"Who borrows, and for what"</h2>
                <BugTable bugs=a.bugs.clone() csv=csv(StatsTable::Bugs) />
                <TableWithDownload table=groups csv=csv(StatsTable::Groups) open=true />
            </section>
        }})}
    }
}

/// Requested → ready and its parts, as a table.
#[component]
fn WaitTable(stats: Stats) -> impl IntoView {
    let w = stats.waits;
    let row = |label: &'static str, s: Spread| {
        view! {
            <tr><th scope="row">{label}</th><td class="num">{s.loans}</td><td class="num">{duration(s.median_secs)}</td><td class="num">{duration(s.p90_secs)}</td></tr>
        }
    };
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="waits">
                <caption class="visually-hidden">"Time to a ready machine and its parts"</caption>
                <thead><tr><th scope="col">"From request to a ready machine"</th><th scope="col" class="num">"Loans"</th><th scope="col" class="num">"Median"</th><th scope="col" class="num">"90 % within"</th></tr></thead>
                <tbody>
                    {row("Whole wait", w.total)}
                    {row("Waiting for an admin's approval (requests an admin approved)", w.approval)}
                    {row("Waiting in line (requests that found no free machine)", w.line)}
                    {row("Provisioning", w.provisioning)}
                </tbody>
            </table>
        </div>
    }
}

/// A chart with its numbers beside it (in a table, folded away when long) and its CSV.
#[component]
fn Chart(
    id: &'static str,
    title: &'static str,
    table: Option<DataTable>,
    csv: String,
    open: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <section class="card stats-section" data-chart=id>
            <h2>{title}</h2>
            <figure class="chart">{children()}</figure>
            <TableWithDownload table csv open />
        </section>
    }
}

#[component]
fn TableWithDownload(table: Option<DataTable>, csv: String, open: bool) -> impl IntoView {
    let table = table?;
    let rows = table.rows.len();
    let body = view! {
        <div class="table-wrap">
            <table class="table stats-table" data-testid="data-table">
                <caption>{table.caption.clone()}</caption>
                <thead><tr>{table.header.iter().map(|h| view! { <th scope="col">{h.clone()}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {table.rows.iter().map(|row| view! {
                        <tr>{row.iter().map(|cell| {
                            let number = !cell.is_empty() && cell.parse::<f64>().is_ok();
                            view! { <td class:num=number>{cell.clone()}</td> }
                        }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    };
    let numbers = if rows == 0 {
        view! { <p class="muted">{format!("{}: nothing in this period.", table.caption)}</p> }
            .into_any()
    } else if open {
        body.into_any()
    } else {
        view! {
            <details class="stats-details">
                <summary>{format!("{} — the numbers ({rows} rows)", table.caption)}</summary>
                {body}
            </details>
        }
        .into_any()
    };
    Some(view! {
        {numbers}
        <p class="stats-download"><a href=csv download data-testid="csv">{format!("Download “{}” as CSV", table.caption)}</a></p>
    })
}

/// Loans per bug reference, each linked to the tracker when the site has one.
#[component]
fn BugTable(bugs: Vec<crate::types::Tally>, csv: String) -> impl IntoView {
    if bugs.is_empty() {
        return view! { <p class="muted">"No loan in this period named a bug."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table stats-table" data-testid="bugs">
                <caption>"Loans per bug reference"</caption>
                <thead><tr><th scope="col">"Bug"</th><th scope="col" class="num">"Loans"</th><th scope="col" class="num">"Machine-hours loaned"</th></tr></thead>
                <tbody>
                    {bugs.into_iter().map(|b| view! {
                        <tr>
                            <td>{crate::pages::loan::bug_link(Some(b.name.clone()), b.url.clone())}</td>
                            <td class="num">{b.loans}</td>
                            <td class="num">{format!("{:.1}", b.loaned_hours)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="stats-download"><a href=csv download data-testid="csv">"Download “Loans per bug reference” as CSV"</a></p>
    }
    .into_any()
}

pub(super) fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.0} %", 100.0 * part / whole)
    } else {
        "—".to_owned()
    }
}

/// "4 min", "2.5 h", "3.1 days"; "—" when nothing was measured.
fn duration(secs: Option<f64>) -> String {
    match secs {
        None => "—".to_owned(),
        Some(s) if s < 90.0 => format!("{s:.0} s"),
        Some(s) if s < 90.0 * 60.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 48.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} days", s / 86400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_in_the_unit_that_suits_them() {
        assert_eq!(duration(None), "—");
        assert_eq!(duration(Some(42.0)), "42 s");
        assert_eq!(duration(Some(600.0)), "10 min");
        assert_eq!(duration(Some(9000.0)), "2.5 h");
        assert_eq!(duration(Some(3.0 * 86400.0)), "3.0 days");
    }
}
