//! A loan's history as a vertical timeline, with each step's output folded under it.

use leptos::prelude::*;

use super::format;
use crate::types::LoanEventView;

fn icon(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "requested" => ("✎", "info"),
        "approved" => ("✓", "good"),
        "machine_assigned" => ("⇄", "info"),
        "step_started" => ("▸", "busy"),
        "step_succeeded" => ("✓", "good"),
        "step_failed" => ("!", "bad"),
        "ready" => ("★", "good"),
        "return_requested" => ("↩", "info"),
        "cancelled" => ("✕", "done"),
        "failed" | "machine_broken" => ("✕", "bad"),
        "cleanup_finished" => ("♻", "good"),
        "extended" => ("+", "good"),
        "link_used" => ("✉", "info"),
        "expired" | "access_revoked" => ("⌛", "warn"),
        "reclaim_started" => ("↺", "busy"),
        "restored" | "access_restored" => ("↻", "good"),
        _ => ("•", "info"),
    }
}

#[component]
pub fn Timeline(events: Vec<LoanEventView>) -> impl IntoView {
    // Times of day only while the loan stays on its first day; the date once it moves on.
    let first_day = events.first().map(|e| e.at.date_naive());
    let items = events
        .into_iter()
        .map(|event| {
            let stamp = if Some(event.at.date_naive()) == first_day {
                format::clock(event.at)
            } else {
                event.at.format("%b %d, %H:%M:%S").to_string()
            };
            let (glyph, tone) = icon(&event.kind);
            let actor = event.actor.clone().map(|a| view! { <span class="tl-actor">{a}</span> });
            let output = event.output.clone().filter(|o| !o.trim().is_empty()).map(|output| {
                view! {
                    <details class="tl-output" open=event.kind == "step_failed">
                        <summary>"Output"</summary>
                        <pre>{output}</pre>
                    </details>
                }
            });
            view! {
                <li class=format!("tl-item tl-{tone}") data-kind=event.kind.clone()>
                    <span class="tl-icon" aria-hidden="true">{glyph}</span>
                    <div class="tl-body">
                        <div class="tl-head">
                            <span class="tl-message">{event.message.clone()}</span>
                            <time class="tl-time" datetime=event.at.to_rfc3339() title=format::when(event.at)>
                                {stamp}
                            </time>
                        </div>
                        {actor}
                        {output}
                    </div>
                </li>
            }
        })
        .collect_view();
    view! { <ol class="timeline" data-testid="timeline">{items}</ol> }
}
