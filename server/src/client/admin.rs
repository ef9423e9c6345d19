//! The client's admin commands: approve and deny requests, run an action on a machine.

use reqwest::Method;
use serde_json::{json, Value};

use app::rules::paths::query_value;

use super::{Api, Failure};

/// `loaner approve ID [--hours N]`.
pub async fn approve(api: &Api, id: i64, hours: Option<i32>) -> Result<(Value, String), Failure> {
    let mut path = format!("/api/v1/approvals/{id}/approve");
    if let Some(hours) = hours {
        path.push_str(&format!("?duration_hours={hours}"));
    }
    let done = api.call(Method::POST, &path, None).await?;
    let state = done["state"].as_str().unwrap_or("approved").to_owned();
    Ok((done, format!("Loan {id} approved: now {state}.\n")))
}

/// `loaner deny ID --reason …`.
pub async fn deny(api: &Api, id: i64, reason: &str) -> Result<(Value, String), Failure> {
    let done = api
        .call(
            Method::POST,
            &format!("/api/v1/approvals/{id}/deny"),
            Some(json!({ "reason": reason })),
        )
        .await?;
    Ok((
        done,
        format!("Loan {id} denied; the requester is told why.\n"),
    ))
}

/// `loaner action ACTION HOST [--reason …] [--timeout S]`: asks for the action and waits for
/// its end (up to `timeout` seconds), as the machine page does.
pub async fn action(
    api: &Api,
    action: &str,
    host: &str,
    reason: &str,
    timeout: u64,
) -> Result<(Value, String), Failure> {
    let started = std::time::Instant::now();
    let wait = timeout.clamp(0, 30);
    let mut row = api
        .call(
            Method::POST,
            &format!("/api/v1/machines/{}/actions?wait={wait}", query_value(host)),
            Some(json!({ "action": action, "reason": reason })),
        )
        .await?;
    let id = row["id"].as_i64().unwrap_or_default();
    while matches!(row["state"].as_str(), Some("queued" | "running"))
        && started.elapsed().as_secs() < timeout
    {
        let left = timeout
            .saturating_sub(started.elapsed().as_secs())
            .clamp(1, 30);
        row = api
            .call(
                Method::GET,
                &format!(
                    "/api/v1/machines/{}/actions/{id}?wait={left}",
                    query_value(host)
                ),
                None,
            )
            .await?;
    }
    let state = row["state"].as_str().unwrap_or("?").to_owned();
    let mut text = format!("{action} on {host}: {state}\n");
    if let Some(output) = row["output"].as_str().filter(|o| !o.is_empty()) {
        text.push_str(output);
        if !output.ends_with('\n') {
            text.push('\n');
        }
    }
    if let Some(error) = row["error"].as_str() {
        text.push_str(&format!("error: {error}\n"));
    }
    match state.as_str() {
        "succeeded" => Ok((row, text)),
        "queued" | "running" => Err(Failure::TimedOut(format!(
            "{text}still {state} after {timeout} s"
        ))),
        _ => Err(Failure::Failed(text)),
    }
}
