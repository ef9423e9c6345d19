//! The actions panel of a machine's page: a button per action its drivers support (power,
//! reboot, re-image, status), a reason where the action would disturb a borrower, and the
//! history of actions with what each driver printed, updated live while one runs.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::admin::{get_machine_actions, RunMachineAction};
use crate::components::badges::ActionBadge;
use crate::components::loan_table::LoanTable;
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::format::when;
use crate::types::{Action, ActionRow, ActionState, DriverKind, MachineActions, MachineId};

/// How often the panel looks again while an action is queued or running.
const LIVE_POLL: Duration = Duration::from_millis(1000);

fn disturbs(action: Action) -> bool {
    matches!(action, Action::PowerOff | Action::Reboot | Action::Reimage)
}

#[component]
pub fn MachineActionsPanel(id: MachineId) -> impl IntoView {
    let run = ServerAction::<RunMachineAction>::new();
    let (tick, set_tick) = signal(0u32);
    let actions = Resource::new(
        move || (id, run.version().get(), tick.get()),
        |(id, _, _)| get_machine_actions(id),
    );
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                let busy = actions
                    .get_untracked()
                    .and_then(Result::ok)
                    .is_some_and(|a| {
                        a.history
                            .iter()
                            .any(|r| matches!(r.state, ActionState::Queued | ActionState::Running))
                    });
                if busy {
                    set_tick.update(|n| *n += 1);
                }
            },
            LIVE_POLL,
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    });
    let error = Signal::derive(move || run.value().get().and_then(Result::err));
    view! {
        <section class="card" aria-labelledby="actions-heading">
            <h2 id="actions-heading">"Actions"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || actions.get().map(|result| match result {
                    Ok(panel) => view! { <Panel id panel run error /> }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Panel(
    id: MachineId,
    panel: MachineActions,
    run: ServerAction<RunMachineAction>,
    error: Signal<Option<crate::error::AppError>>,
) -> impl IntoView {
    let loaned = panel.loan_id;
    let buttons = panel
        .offered
        .iter()
        .map(|(action, driver)| {
            let action = *action;
            let needs_reason = loaned.is_some() && disturbs(action);
            let how = if *driver == DriverKind::Auto {
                "each configured way in turn".to_owned()
            } else {
                format!("through {}", driver.label())
            };
            view! {
                <ActionForm action=run attr:class="machine-action">
                    <input type="hidden" name="id" value=id.0 />
                    <input type="hidden" name="action" value=action.as_str() />
                    {if needs_reason {
                        view! {
                            <label class="field">
                                <span>{format!("Why {}? ", action.label().to_ascii_lowercase())}<em class="opt">"the borrower is told"</em></span>
                                <input type="text" name="reason" required=true placeholder="Hung kernel; console shows a panic" />
                            </label>
                        }.into_any()
                    } else {
                        view! { <input type="hidden" name="reason" value="" /> }.into_any()
                    }}
                    <button type="submit" class="button button-secondary" data-testid=format!("action-{}", action.as_str())
                        title=how.clone()>{action.label()}</button>
                    <span class="hint">{how}</span>
                </ActionForm>
            }
        })
        .collect_view();
    let none = panel.offered.is_empty().then(|| {
        view! { <p class="muted">"No driver of this machine can act on it from here (its steps may still use the command or manual drivers). Add ipmi, snmp_pdu, aws_ec2 or ssh settings to its pool or to it."</p> }
    });
    view! {
        {loaned.map(|loan| view! {
            <div class="notice notice-warn"><p>{format!("On loan #{loan}: power off, reboot and re-image need a reason, and the borrower is emailed.")}</p></div>
        })}
        {none}
        <div class="action-buttons">{buttons}</div>
        <FieldMessage error field="reason" />
        <FieldMessage error field="action" />
        <History rows=panel.history />
        <h3>"Its loans"</h3>
        {if panel.loans.is_empty() {
            view! { <p class="muted">"No loans yet."</p> }.into_any()
        } else {
            view! { <LoanTable loans=panel.loans show_borrower=true /> }.into_any()
        }}
    }
}

#[component]
fn History(rows: Vec<ActionRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">"No actions yet."</p> }.into_any();
    }
    let rows = rows
        .into_iter()
        .map(|row| {
            let output = (!row.output.is_empty()).then(|| {
                let output = row.output.clone();
                view! { <details><summary>"Output"</summary><pre>{output}</pre></details> }
            });
            view! {
                <tr data-testid=format!("machine-action-{}", row.id)>
                    <td>{format!("#{}", row.id)}</td>
                    <td>{row.action.label()}<div class="hint">{row.driver.label()}</div></td>
                    <td><ActionBadge state=row.state /></td>
                    <td>{row.requested_as.clone()}{row.reason.clone().map(|r| view! { <div class="hint">{r}</div> })}</td>
                    <td>{when(row.created_at)}</td>
                    <td class="tl-output">{row.error.clone().map(|e| view! { <p class="reason-note">{e}</p> })}{output}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table actions-table">
            <caption class="visually-hidden">"Actions run on this machine, newest first"</caption>
            <thead><tr><th scope="col">"#"</th><th scope="col">"Action"</th><th scope="col">"State"</th><th scope="col">"Asked by"</th><th scope="col">"When"</th><th scope="col">"Result"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
