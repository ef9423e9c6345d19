//! The statistics page's three charts, SVG drawn on the server: loans per day stacked by
//! outcome, the wait-time distribution, and each pool's utilisation over time.

use leptos::prelude::*;

use super::percent;
use crate::types::{Stats, OUTCOMES};

/// One colour per outcome, each at least 3:1 against the white chart (WCAG 1.4.11).
const OUTCOME_COLOURS: [&str; 7] = [
    "#1d7a46", "#1f5fbf", "#a14d00", "#5d6b7e", "#8a5a00", "#b3261e", "#6b3fa0",
];
/// The pools' lines on the utilisation chart.
const POOL_COLOURS: [&str; 8] = [
    "#1f5fbf", "#1d7a46", "#b3261e", "#8a5a00", "#6b3fa0", "#22577a", "#a14d00", "#4a5568",
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Loans per day as stacked bars, one colour per outcome.
#[component]
pub(super) fn PerDayChart(stats: Stats) -> impl IntoView {
    let days = stats.per_day;
    let total: i64 = days.iter().flat_map(|d| d.counts).sum();
    let most = days
        .iter()
        .map(|d| d.counts.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / days.len().max(1) as f64;
    let y = move |n: f64| TOP + plot_h - plot_h * n / most as f64;
    let bars = days
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let mut below = 0;
            let x = LEFT + step * i as f64 + step * 0.1;
            d.counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| {
                    let top = y((below + n) as f64);
                    let height = y(below as f64) - top;
                    below += n;
                    view! {
                        <rect x=fmt(x) y=fmt(top) width=fmt(step * 0.8) height=fmt(height) fill=OUTCOME_COLOURS[k]>
                            <title>{format!("{}: {n} {}", d.day, OUTCOMES[k])}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect_view();
    let labels = [0, days.len() / 2, days.len().saturating_sub(1)]
        .into_iter()
        .filter_map(|i| days.get(i).map(|d| (i, d.day)))
        .map(|(i, day)| {
            view! { <text x=fmt(LEFT + step * (i as f64 + 0.5)) y=fmt(HEIGHT - 8.0) text-anchor="middle" class="axis">{day.format("%b %d").to_string()}</text> }
        })
        .collect_view();
    view! {
        <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-labelledby="loans-per-day-title loans-per-day-desc" class="chart-svg">
            <title id="loans-per-day-title">"Loans per day, by how they ended"</title>
            <desc id="loans-per-day-desc">{format!("{total} loans over {} days; the busiest day had {most}. The table below has each day's numbers.", days.len())}</desc>
            <YAxis most=most as f64 unit="" />
            {bars}
            {labels}
        </svg>
        <Legend items=OUTCOMES.iter().zip(OUTCOME_COLOURS).map(|(o, c)| ((*o).to_owned(), c)).collect() />
    }
}

/// The wait-time distribution as bars.
#[component]
pub(super) fn WaitChart(stats: Stats) -> impl IntoView {
    let buckets = stats.wait_buckets;
    let most = buckets.iter().map(|b| b.loans).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / buckets.len().max(1) as f64;
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let height = plot_h * b.loans as f64 / most as f64;
            let x = LEFT + step * i as f64;
            view! {
                <rect x=fmt(x + step * 0.15) y=fmt(TOP + plot_h - height) width=fmt(step * 0.7) height=fmt(height) fill="#1f5fbf">
                    <title>{format!("{}: {} loans", b.label, b.loans)}</title>
                </rect>
                <text x=fmt(x + step / 2.0) y=fmt(HEIGHT - 8.0) text-anchor="middle" class="axis">{b.label.clone()}</text>
            }
        })
        .collect_view();
    view! {
        <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-labelledby="wait-times-title wait-times-desc" class="chart-svg">
            <title id="wait-times-title">"Time from request to a ready machine"</title>
            <desc id="wait-times-desc">{buckets.iter().map(|b| format!("{}: {}", b.label, b.loans)).collect::<Vec<_>>().join("; ")}</desc>
            <YAxis most=most as f64 unit="" />
            {bars}
        </svg>
    }
}

/// Each pool's share of machine-hours loaned, day by day, as lines.
#[component]
pub(super) fn UtilisationChart(stats: Stats) -> impl IntoView {
    let days: Vec<_> = stats.per_day.iter().map(|d| d.day).collect();
    let by_pool_and_day: std::collections::HashMap<
        (&str, chrono::NaiveDate),
        &crate::types::PoolDay,
    > = stats
        .pool_days
        .iter()
        .map(|d| ((d.slug.as_str(), d.day), d))
        .collect();
    let plot_w = WIDTH - LEFT - 8.0;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / days.len().saturating_sub(1).max(1) as f64;
    let pools: Vec<_> = stats
        .pool_use
        .iter()
        .filter(|p| p.machines > 0)
        .take(POOL_COLOURS.len())
        .collect();
    let lines = pools
        .iter()
        .enumerate()
        .map(|(k, pool)| {
            let points = days
                .iter()
                .enumerate()
                .filter_map(|(i, day)| {
                    let d = by_pool_and_day.get(&(pool.slug.as_str(), *day))?;
                    let share = if d.available_hours > 0.0 {
                        (d.loaned_hours / d.available_hours).min(1.0)
                    } else {
                        0.0
                    };
                    Some(format!(
                        "{},{}",
                        fmt(LEFT + step * i as f64),
                        fmt(TOP + plot_h - plot_h * share)
                    ))
                })
                .collect::<Vec<_>>()
                .join(" ");
            view! {
                <polyline points=points fill="none" stroke=POOL_COLOURS[k] stroke-width="2">
                    <title>{format!("{}: {} of machine-hours loaned over the period", pool.name, percent(pool.loaned_hours, pool.available_hours))}</title>
                </polyline>
            }
        })
        .collect_view();
    let summary = pools
        .iter()
        .map(|p| format!("{} {}", p.name, percent(p.loaned_hours, p.available_hours)))
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-labelledby="utilisation-title utilisation-desc" class="chart-svg">
            <title id="utilisation-title">"Utilisation per pool over time"</title>
            <desc id="utilisation-desc">{format!("Share of each pool's machine-hours loaned, per day. Over the period: {summary}.")}</desc>
            <YAxis most=100.0 unit="%" />
            {lines}
        </svg>
        <Legend items=pools.iter().enumerate().map(|(k, p)| (p.name.clone(), POOL_COLOURS[k])).collect() />
    }
}

/// The vertical axis: zero, half and the top, with grid lines.
#[component]
fn YAxis(most: f64, unit: &'static str) -> impl IntoView {
    let plot_h = HEIGHT - TOP - BOTTOM;
    [0.0, 0.5, 1.0]
        .into_iter()
        .map(|f| {
            let y = TOP + plot_h - plot_h * f;
            let value = most * f;
            let label = if value.fract() == 0.0 {
                format!("{value:.0}{unit}")
            } else {
                format!("{value:.1}{unit}")
            };
            view! {
                <line x1=fmt(LEFT) x2=fmt(WIDTH - 8.0) y1=fmt(y) y2=fmt(y) class="grid" />
                <text x=fmt(LEFT - 6.0) y=fmt(y + 4.0) text-anchor="end" class="axis">{label}</text>
            }
        })
        .collect_view()
}

#[component]
fn Legend(items: Vec<(String, &'static str)>) -> impl IntoView {
    view! {
        <ul class="legend" aria-hidden="true">
            {items.into_iter().map(|(label, colour)| view! {
                <li><svg class="swatch" viewBox="0 0 12 12" width="12" height="12"><rect width="12" height="12" rx="2" fill=colour /></svg>{label}</li>
            }).collect_view()}
        </ul>
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}
