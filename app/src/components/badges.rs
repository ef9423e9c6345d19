//! Coloured state labels, so every loan and machine shows where it is at a glance.

use leptos::prelude::*;

use crate::types::{ActionState, LoanState, MachineState};

fn loan_tone(state: LoanState) -> &'static str {
    match state {
        LoanState::Ready => "good",
        LoanState::Requested | LoanState::Approved | LoanState::Waiting => "wait",
        LoanState::Provisioning | LoanState::Returning | LoanState::Reclaiming => "busy",
        LoanState::Expired => "warn",
        LoanState::Failed | LoanState::Denied => "bad",
        LoanState::Returned | LoanState::Reclaimed | LoanState::Cancelled => "done",
    }
}

fn machine_tone(state: MachineState) -> &'static str {
    match state {
        MachineState::Available => "good",
        MachineState::Provisioning | MachineState::Reclaiming => "busy",
        MachineState::Loaned => "info",
        MachineState::Maintenance => "warn",
        MachineState::Broken => "bad",
        MachineState::Retired => "done",
    }
}

#[component]
pub fn LoanBadge(state: LoanState) -> impl IntoView {
    let class = format!("badge badge-{}", loan_tone(state));
    let spinner = state
        .is_busy()
        .then(|| view! { <span class="spinner" aria-hidden="true"></span> });
    view! { <span class=class data-state=state.as_str()>{spinner}{state.label()}</span> }
}

#[component]
pub fn MachineBadge(state: MachineState) -> impl IntoView {
    let class = format!("badge badge-{}", machine_tone(state));
    view! { <span class=class data-state=state.as_str()>{state.label()}</span> }
}

#[component]
pub fn ActionBadge(state: ActionState) -> impl IntoView {
    let tone = match state {
        ActionState::Queued => "wait",
        ActionState::Running => "busy",
        ActionState::Succeeded => "good",
        ActionState::Failed => "bad",
    };
    let spinner = matches!(state, ActionState::Queued | ActionState::Running)
        .then(|| view! { <span class="spinner" aria-hidden="true"></span> });
    view! { <span class=format!("badge badge-{tone}") data-state=state.as_str()>{spinner}{state.label()}</span> }
}
