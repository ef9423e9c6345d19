//! The admin's panel on a loan page: force return, move to another machine, extend beyond the
//! pool's policy.

use leptos::prelude::*;

use super::LoanActions;
use crate::types::{LoanId, LoanState, MachineId};

/// What an admin can do to the loan beyond what its borrower can.
#[component]
pub(super) fn AdminPanel(
    id: LoanId,
    state: LoanState,
    targets: Vec<(MachineId, String)>,
    actions: LoanActions,
) -> impl IntoView {
    let force = actions.force_return;
    let moving = actions.move_loan;
    let extend = actions.extend_override;
    let error = move || {
        [
            force.value().get(),
            moving.value().get(),
            extend.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(Result::err)
        .map(|e| {
            match e
                .field_message("reason")
                .or_else(|| e.field_message("hours"))
                .or_else(|| e.field_message("machine"))
            {
                Some(m) => m,
                None => e.to_string(),
            }
        })
        .map(|m| view! { <p class="form-error" data-testid="admin-error">{m}</p> })
    };
    let ready = state == LoanState::Ready;
    let returnable = matches!(state, LoanState::Ready | LoanState::Expired);
    view! {
        <section class="card admin-panel" data-testid="admin-panel">
            <h2>"Admin"</h2>
            {error}
            <div class="admin-actions">
                {returnable.then(|| view! {
                    <ActionForm action=force>
                        <input type="hidden" name="id" value=id.0 />
                        <label class="field"><span>"Take it back now"</span>
                            <input type="text" name="reason" placeholder="Reason (the borrower is told)" /></label>
                        <button type="submit" class="button button-danger" data-testid="force-return">"Force return"</button>
                    </ActionForm>
                })}
                {ready.then(|| view! {
                    <ActionForm action=moving>
                        <input type="hidden" name="id" value=id.0 />
                        <label class="field"><span>"Move to another machine"</span>
                            <select name="machine">{if targets.is_empty() {
                                view! { <option value="">"no free machine in this pool"</option> }.into_any()
                            } else {
                                targets.into_iter().map(|(mid, fqdn)| view! { <option value=mid.0>{fqdn}</option> }).collect_view().into_any()
                            }}</select>
                        </label>
                        <button type="submit" class="button button-secondary" data-testid="move">"Move"</button>
                    </ActionForm>
                    <ActionForm action=extend>
                        <input type="hidden" name="id" value=id.0 />
                        <label class="field"><span>"Extend beyond the policy"</span>
                            <span class="inline"><input type="number" name="hours" min="1" value="24" class="hours" />" hours"</span>
                            <input type="text" name="reason" placeholder="Reason (recorded as an override)" /></label>
                        <button type="submit" class="button button-secondary" data-testid="override">"Extend (override)"</button>
                    </ActionForm>
                })}
                {(!returnable && !ready).then(|| view! { <p class="muted">"Nothing to do for a loan in this state."</p> })}
            </div>
        </section>
    }
}
