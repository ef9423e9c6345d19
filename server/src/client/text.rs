//! The client's human output: aligned tables, a loan's story, a progress bar.

use app::types::{LoanDetail, LoanState};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// A time as people read it, in UTC.
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

pub fn pools(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pool| {
            vec![
                text(&pool["slug"]),
                format!("{}/{}", text(&pool["free"]), text(&pool["total"])),
                text(&pool["waiting"]),
                text(&pool["name"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No pools yet.\n".into();
    }
    table(&["POOL", "FREE", "WAITING", "NAME"], &rows)
}

pub fn loans(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["loans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|loan| {
            vec![
                text(&loan["id"]),
                text(&loan["state"]),
                text(&loan["pool_slug"]),
                text(&loan["machine_fqdn"]),
                loan["expires_at"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                    .map(when)
                    .unwrap_or_else(|| "—".into()),
                text(&loan["reason"]),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No loans.\n".into();
    }
    let mut out = table(&["ID", "STATE", "POOL", "MACHINE", "ENDS", "REASON"], &rows);
    if value["next"].is_number() {
        out.push_str("(older loans not shown)\n");
    }
    out
}

/// What `borrow` prints without `--wait`.
pub fn borrowed(loan: &LoanDetail) -> String {
    let id = loan.summary.id;
    let state = match loan.summary.state {
        LoanState::Requested => "waiting for an admin's approval".to_owned(),
        LoanState::Waiting => match loan.queue_position {
            Some(place) => format!("waiting in line (#{place})"),
            None => "waiting in line".to_owned(),
        },
        state => state.label().to_lowercase(),
    };
    format!("Loan {id}: {state}. Follow it with `loaner show {id}`, or borrow with --wait.\n")
}

/// A loan's state, its machine and its history.
pub fn loan(loan: &LoanDetail) -> String {
    let s = &loan.summary;
    let mut out = format!(
        "Loan {} — {} ({})\nState:   {}\n",
        s.id,
        s.pool_name,
        s.pool_slug,
        s.state.label()
    );
    if let Some(fqdn) = &s.machine_fqdn {
        out.push_str(&format!("Machine: {fqdn}\n"));
    }
    if let Some(expires) = s.expires_at {
        out.push_str(&format!("Ends:    {}\n", when(expires)));
    }
    if let Some(place) = loan.queue_position {
        out.push_str(&format!("In line: #{place}\n"));
    }
    out.push_str(&format!("Reason:  {}\n", s.reason));
    if let Some(connection) = &loan.connection {
        out.push_str(&format!(
            "\nReady. Connect with:\n  {}\n",
            connection.ssh_command
        ));
    }
    out.push_str("\nHistory:\n");
    for event in &loan.events {
        out.push_str(&format!(
            "  {}  {}\n",
            event.at.format("%m-%d %H:%M"),
            event.message
        ));
    }
    out
}

pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

pub fn show_progress(bar: &ProgressBar, loan: &LoanDetail) {
    match &loan.progress {
        Some(progress) => {
            bar.set_length(u64::from(progress.total.max(1)));
            bar.set_position(u64::from(progress.done));
            bar.set_message(
                progress
                    .current
                    .clone()
                    .unwrap_or_else(|| loan.summary.state.label().to_owned()),
            );
        }
        None => bar.set_message(loan.summary.state.label().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let out = table(
            &["ID", "STATE"],
            &[
                vec!["7".into(), "ready".into()],
                vec!["1234".into(), "—".into()],
            ],
        );
        assert_eq!(out, "ID    STATE\n7     ready\n1234  —\n");
    }
}
