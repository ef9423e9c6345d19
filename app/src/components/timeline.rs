//! A loan's history as a vertical timeline, with each step's output folded under it.

use leptos::prelude::*;

use crate::format;
use crate::types::{EventKind, LoanEventView};

fn icon(kind: EventKind) -> (&'static str, &'static str) {
    use EventKind as K;
    match kind {
        K::Requested => ("✎", "info"),
        K::Approved => ("✓", "good"),
        K::MachineAssigned => ("⇄", "info"),
        K::StepStarted => ("▸", "busy"),
        K::StepSucceeded => ("✓", "good"),
        K::StepFailed => ("!", "bad"),
        K::Ready => ("★", "good"),
        K::ReturnRequested => ("↩", "info"),
        K::Cancelled => ("✕", "done"),
        K::Failed | K::MachineBroken => ("✕", "bad"),
        K::CleanupFinished => ("♻", "good"),
        K::Extended => ("+", "good"),
        K::LinkUsed => ("✉", "info"),
        K::Expired | K::AccessRevoked => ("⌛", "warn"),
        K::ReclaimStarted => ("↺", "busy"),
        K::Restored | K::AccessRestored => ("↻", "good"),
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
                format::day_and_clock(event.at)
            };
            let (glyph, tone) = icon(event.kind);
            let actor = event.actor.clone().map(|a| view! { <span class="tl-actor">{a}</span> });
            let output = event.output.clone().filter(|o| !o.trim().is_empty()).map(|output| {
                view! {
                    <details class="tl-output" open=event.kind == EventKind::StepFailed>
                        <summary>"Output"</summary>
                        <pre>{output}</pre>
                    </details>
                }
            });
            view! {
                <li class=format!("tl-item tl-{tone}") data-kind=event.kind.as_str()>
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
