//! Admins: every machine, its state, and who has it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::admin::admin_list_machines;
use crate::components::badges::MachineBadge;
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::{MachineRow, MachineState};

#[component]
pub fn AdminMachinesPage() -> impl IntoView {
    let machines = Resource::new(|| (), |_| admin_list_machines());
    view! {
        <Title text="Machines" />
        <div class="page-head">
            <div>
                <h1>"Machines"</h1>
                <p class="lead">"The whole inventory and where each machine is."</p>
            </div>
            <A href="/admin/machines/new" attr:class="button">"Add machine"</A>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || machines.get().map(|result| match result {
                Ok(rows) => view! { <Summary rows=rows.clone() /> <MachineTable rows /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Summary(rows: Vec<MachineRow>) -> impl IntoView {
    let count = |state: MachineState| rows.iter().filter(|m| m.state == state).count();
    let tiles = [
        MachineState::Available,
        MachineState::Loaned,
        MachineState::Provisioning,
        MachineState::Reclaiming,
        MachineState::Broken,
        MachineState::Maintenance,
    ]
    .into_iter()
    .map(|state| {
        view! {
            <div class="tile">
                <span class="tile-number">{count(state)}</span>
                <MachineBadge state />
            </div>
        }
    })
    .collect_view();
    view! { <div class="tiles">{tiles}</div> }
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
                    <td><A href=href><code>{name}</code></A></td>
                    <td>{m.pool_name.clone()}</td>
                    <td>
                        <MachineBadge state=m.state />
                        {m.state_reason.clone().map(|r| view! { <div class="reason-note">{r}</div> })}
                    </td>
                    <td>{m.current_image.clone().map(|i| view! { <code>{i}</code> })}</td>
                    <td>
                        {m.loan_id.map(|id| view! {
                            <A href=format!("/loans/{id}")>{format!("#{id}")}</A>
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
