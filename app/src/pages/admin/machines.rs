//! Admins: every machine, its state, and who has it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::admin::admin_list_machines;
use crate::components::badges::MachineBadge;
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::{MachinePage, MachineRow, MachineState};

#[component]
pub fn AdminMachinesPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let machines = Resource::new(
        move || (field("state"), field("page")),
        |(state, page)| admin_list_machines(state, page),
    );
    view! {
        <Title text="Machines" />
        <div class="page-head">
            <div>
                <h1>"Machines"</h1>
                <p class="lead">"The whole inventory and where each machine is, 100 to a page. Pick a state to see only those machines."</p>
            </div>
            <a href="/admin/machines/new" class="button">"Add machine"</a>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || machines.get().map(|result| match result {
                Ok(page) => view! {
                    <Summary counts=page.counts.clone() current=page.state />
                    <MachineTable rows=page.rows.clone() />
                    <Pager page />
                }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

/// How many machines are in each state; each tile shows only those machines.
#[component]
fn Summary(counts: Vec<(MachineState, i64)>, current: Option<MachineState>) -> impl IntoView {
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let tiles = counts
        .into_iter()
        .filter(|(state, n)| *state != MachineState::Retired || *n > 0)
        .map(|(state, n)| {
            let href = format!("/admin/machines?state={}", state.as_str());
            let class = if current == Some(state) { "tile tile-current" } else { "tile" };
            view! {
                <a class=format!("{class} tile-filter") href=href aria-current=(current == Some(state)).then_some("page")>
                    <span class="tile-number">{n}</span>
                    <MachineBadge state />
                </a>
            }
        })
        .collect_view();
    let all_class = if current.is_none() {
        "tile tile-current"
    } else {
        "tile"
    };
    view! {
        <nav class="tiles" aria-label="Machines by state">
            <a class=format!("{all_class} tile-filter") href="/admin/machines" aria-current=current.is_none().then_some("page")>
                <span class="tile-number">{total}</span>
                <span class="badge">"All"</span>
            </a>
            {tiles}
        </nav>
    }
}

/// Previous and next pages, keeping the state filter.
#[component]
fn Pager(page: MachinePage) -> impl IntoView {
    let state = page
        .state
        .map(|s| format!("state={}&", s.as_str()))
        .unwrap_or_default();
    let link = move |n: i64| format!("/admin/machines?{state}page={n}");
    (page.pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label="Pages of machines">
                {(page.page > 1).then(|| view! {
                    <a class="button button-secondary" href=link(page.page - 1)>"← Previous"</a>
                })}
                <span class="pager-at">{format!("Page {} of {}", page.page, page.pages)}</span>
                {(page.page < page.pages).then(|| view! {
                    <a class="button button-secondary" href=link(page.page + 1) data-testid="next-machines">"Next →"</a>
                })}
            </nav>
        }
    })
}

#[component]
fn MachineTable(rows: Vec<MachineRow>) -> impl IntoView {
    let body = rows
        .into_iter()
        .map(|m| {
            let name = m.fqdn.clone();
            let href = format!("/admin/machines/{}", m.id);
            view! {
                <tr data-machine=m.fqdn.clone()>
                    <td><a href=href><code>{name}</code></a></td>
                    <td>{m.pool_name.clone()}</td>
                    <td>
                        <MachineBadge state=m.state />
                        {m.state_reason.clone().map(|r| view! { <div class="reason-note">{r}</div> })}
                    </td>
                    <td>{m.current_image.clone().map(|i| view! { <code>{i}</code> })}</td>
                    <td>
                        {m.loan_id.map(|id| view! {
                            <a href=format!("/loans/{id}")>{format!("#{id}")}</a>
                            " "{m.borrower_name.clone().unwrap_or_default()}
                        })}
                    </td>
                    <td class="nowrap">{format::when(m.updated_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th>"Machine"</th>
                        <th>"Pool"</th>
                        <th>"State"</th>
                        <th>"Image"</th>
                        <th>"Loan"</th>
                        <th>"Last change"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}
