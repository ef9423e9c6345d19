//! The admin dashboard: what needs an admin now — requests to approve, loans waiting, broken
//! machines — and the open tasks for manual steps, with their Done and Failed buttons.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{get_overview, CloseTask};
use crate::components::live::use_live_updates;
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::format;
use crate::types::{AdminOverview, TaskOutcome, TaskRow};

#[component]
pub fn AdminHomePage() -> impl IntoView {
    view! {
        <Title text="Admin" />
        <div class="page-head">
            <div>
                <h1>"Admin"</h1>
                <p class="lead">"Policy approves most requests; this is what needs a person."</p>
            </div>
        </div>
        <Dashboard />
    }
}

/// The live part of the page: it hydrates on its own (an island).
#[cfg_attr(any(feature = "ssr", feature = "admin-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "admin-bundle")), component)]
fn Dashboard() -> impl IntoView {
    let close = ServerAction::<CloseTask>::new();
    let (changed, set_changed) = signal(0u32);
    let overview = Resource::new(
        move || (close.version().get(), changed.get()),
        |_| get_overview(),
    );
    // Pushed by the server when a loan, machine or task changes; polling only while the stream
    // is down.
    use_live_updates(
        || "/live/admin".to_owned(),
        move || set_changed.update(|n| *n += 1),
        Duration::from_millis(500),
        Duration::from_secs(10),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || overview.get().map(|result| match result {
                Ok(o) => view! { <Overview o close /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Overview(o: AdminOverview, close: ServerAction<CloseTask>) -> impl IntoView {
    let tiles = [
        ("/admin/approvals", o.approvals, "Requests to approve"),
        ("/admin/loans", o.waiting, "Loans waiting for a machine"),
        ("/admin/loans", o.active_loans, "Active loans"),
        ("/admin/machines", o.broken_machines, "Broken machines"),
    ]
    .into_iter()
    .map(|(href, n, label)| {
        view! {
            <a href=href class="tile tile-link">
                <span class="tile-number">{n}</span>
                <span>{label}</span>
            </a>
        }
    })
    .collect_view();
    let tasks = if o.tasks.is_empty() {
        view! { <p class="muted">"No open tasks. Manual steps land here when a loan reaches one."</p> }.into_any()
    } else {
        o.tasks
            .into_iter()
            .map(|task| view! { <TaskCard task close /> })
            .collect_view()
            .into_any()
    };
    view! {
        <div class="tiles">{tiles}</div>
        <section>
            <h2>"Open tasks"</h2>
            <div data-testid="tasks">{tasks}</div>
        </section>
    }
}

#[component]
fn TaskCard(task: TaskRow, close: ServerAction<CloseTask>) -> impl IntoView {
    let error = Signal::derive(move || close.value().get().and_then(Result::err));
    view! {
        <article class="card task" data-task=task.id.0>
            <header class="task-head">
                <h3>{task.step_name.clone()}</h3>
                <span class="badge badge-wait">{format!("{} · waiting since {}", task.phase.label(), format::when(task.created_at))}</span>
            </header>
            <p>
                <code>{task.machine_fqdn.clone()}</code>" — "
                <a href=format!("/loans/{}", task.loan_id)>{format!("loan #{}", task.loan_id)}</a>
                {format!(" of {} ({})", task.borrower_name, task.pool_name)}
            </p>
            <div class="instructions">{task.instructions.clone()}</div>
            <ActionForm action=close>
                <input type="hidden" name="id" value=task.id.0 />
                <label class="field">
                    <span>"Note " <em class="opt">"required if it failed"</em></span>
                    <input type="text" name="note" placeholder="Serial console says OK" />
                    <FieldMessage error field="note" />
                </label>
                <div class="button-row">
                    <button type="submit" name="outcome" value=TaskOutcome::Done.as_str() class="button" data-testid="task-done">"Done — the loan moves on"</button>
                    <button type="submit" name="outcome" value=TaskOutcome::Failed.as_str() class="button button-secondary">"Failed"</button>
                </div>
            </ActionForm>
        </article>
    }
}
