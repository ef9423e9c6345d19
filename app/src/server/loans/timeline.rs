//! The loan page's timeline as people read it, and how far the running steps have come: both
//! read off the loan's history events.

use std::collections::{HashMap, HashSet};

use crate::server::models::LoanEvent;
use crate::types::{EventKind, LoanEventView, LoanState, Phase, Progress};

/// Which attempt of which step an event is about.
type StepKey = (Option<String>, Option<u64>, Option<i64>);

fn step_key(event: &LoanEvent) -> StepKey {
    let d = &event.details;
    (
        d["phase"].as_str().map(str::to_owned),
        d["step"].as_u64(),
        d["attempt"].as_i64(),
    )
}

/// The timeline as people read it: a step that finished shows once, with how long it took,
/// instead of a "started" entry followed by a "done" one.
pub(super) fn fold_steps(rows: Vec<(LoanEvent, Option<String>)>) -> Vec<LoanEventView> {
    let mut started_at = HashMap::new();
    let mut finished = HashSet::new();
    for (event, _) in &rows {
        match event.kind {
            EventKind::StepStarted => {
                started_at.insert(step_key(event), event.at);
            }
            EventKind::StepSucceeded | EventKind::StepFailed => {
                finished.insert(step_key(event));
            }
            _ => {}
        }
    }
    rows.into_iter()
        .filter(|(event, _)| {
            event.kind != EventKind::StepStarted || !finished.contains(&step_key(event))
        })
        .map(|(event, actor)| {
            let started = started_at.get(&step_key(&event)).copied();
            let mut message = event.message;
            if matches!(event.kind, EventKind::StepSucceeded | EventKind::StepFailed) {
                if let Some(start) = started {
                    let ms = (event.at - start).num_milliseconds().max(0);
                    message = format!("{message} ({:.1} s)", ms as f64 / 1000.0);
                }
            }
            LoanEventView {
                id: event.id,
                at: event.at,
                actor,
                kind: event.kind,
                message,
                output: event.output,
            }
        })
        .collect()
}

/// The comment part of an `authorized_keys` line (`user@host`), to remind people which key.
pub(super) fn key_comment(line: &str) -> String {
    line.splitn(3, ' ').nth(2).unwrap_or_default().to_owned()
}

/// How far the running step list has come, read off the timeline.
pub(super) fn progress(
    state: LoanState,
    events: &[(LoanEvent, Option<String>)],
) -> Option<Progress> {
    let phase = match state {
        LoanState::Provisioning => Phase::Provision,
        LoanState::Returning | LoanState::Reclaiming => Phase::Reclaim,
        LoanState::Expired => Phase::Suspend,
        _ => return None,
    };
    let mut progress = Progress {
        phase,
        done: 0,
        total: 0,
        current: None,
    };
    for (event, _) in events {
        let details = &event.details;
        if details["phase"].as_str() != Some(phase.as_str()) {
            continue;
        }
        let total = details["total"].as_u64().unwrap_or(0);
        let step = details["step"].as_u64().unwrap_or(0);
        progress.total = u32::try_from(total).unwrap_or(u32::MAX);
        match event.kind {
            EventKind::StepStarted => {
                progress.current = details["name"].as_str().map(str::to_owned)
            }
            EventKind::WaitingForAdmin => {
                progress.current = details["name"]
                    .as_str()
                    .map(|n| format!("waiting for an admin: {n}"))
            }
            EventKind::StepSucceeded => {
                progress.done = progress
                    .done
                    .max(u32::try_from(step + 1).unwrap_or(u32::MAX));
                progress.current = None;
            }
            _ => progress.current = None,
        }
    }
    Some(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LoanId;
    use chrono::Utc;
    use serde_json::json;

    fn event(kind: EventKind, details: serde_json::Value) -> (LoanEvent, Option<String>) {
        (
            LoanEvent {
                id: 0,
                loan_id: LoanId(1),
                at: Utc::now(),
                actor_id: None,
                kind,
                message: String::new(),
                output: None,
                details,
            },
            None,
        )
    }

    #[test]
    fn progress_counts_finished_steps_and_names_the_running_one() {
        let step = |n: u32, name: &str| json!({"phase":"provision","step":n,"total":3,"name":name});
        let events = vec![
            event(EventKind::Requested, json!({})),
            event(EventKind::StepStarted, step(0, "Power on")),
            event(EventKind::StepSucceeded, step(0, "Power on")),
            event(EventKind::StepStarted, step(1, "Re-image")),
        ];
        let p = progress(LoanState::Provisioning, &events).unwrap();
        assert_eq!((p.done, p.total), (1, 3));
        assert_eq!(p.current.as_deref(), Some("Re-image"));
    }

    #[test]
    fn a_finished_step_shows_once_with_its_duration() {
        let step = json!({"phase":"provision","step":0,"total":2,"name":"Power on","attempt":1});
        let mut started = event(EventKind::StepStarted, step.clone());
        let mut done = event(EventKind::StepSucceeded, step);
        started.0.message = "Step 1 of 2: Power on: started".into();
        done.0.message = "Step 1 of 2: Power on: done".into();
        done.0.at = started.0.at + chrono::Duration::milliseconds(1500);
        let running = event(
            EventKind::StepStarted,
            json!({"phase":"provision","step":1,"total":2,"name":"Re-image","attempt":1}),
        );
        let folded = fold_steps(vec![started, done, running]);
        let kinds: Vec<EventKind> = folded.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::StepSucceeded, EventKind::StepStarted]);
        assert_eq!(folded[0].message, "Step 1 of 2: Power on: done (1.5 s)");
    }

    #[test]
    fn no_progress_outside_running_phases() {
        assert_eq!(progress(LoanState::Ready, &[]), None);
    }

    #[test]
    fn the_key_comment_is_the_third_field() {
        assert_eq!(key_comment("ssh-ed25519 AAAA ada@laptop"), "ada@laptop");
        assert_eq!(key_comment("ssh-ed25519 AAAA"), "");
    }
}
