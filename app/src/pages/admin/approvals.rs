//! The approval queue: requests to pools that need an admin, oldest first, with what the admin
//! needs to decide. Approve one (optionally for a shorter time) or several at once, or deny with
//! a reason.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{list_approvals, ApproveLoans, DenyLoan};
use crate::components::badges::LoanBadge;
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::format;
use crate::rules::policy::format_hours;
use crate::types::{ApprovalRow, LoanId};

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    view! {
        <Title text="Approvals" />
        <ApprovalQueue />
    }
}

/// The whole queue is interactive, so it hydrates as one island.
#[cfg_attr(any(feature = "ssr", feature = "admin-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "admin-bundle")), component)]
fn ApprovalQueue() -> impl IntoView {
    let approve = ServerAction::<ApproveLoans>::new();
    let deny = ServerAction::<DenyLoan>::new();
    let queue = Resource::new(
        move || (approve.version().get(), deny.version().get()),
        |_| list_approvals(),
    );
    let selected = RwSignal::new(Vec::<LoanId>::new());
    let shorten = RwSignal::new(String::new());
    let approve_selected = move |_| {
        let ids = selected.get_untracked();
        if !ids.is_empty() {
            approve.dispatch(ApproveLoans {
                ids,
                duration_hours: Some(shorten.get_untracked()),
            });
            selected.set(Vec::new());
        }
    };
    let error = move || {
        approve
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| deny.value().get().and_then(Result::err))
            .map(|e| view! { <p class="form-error">{e.to_string()}</p> })
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"Approval queue"</h1>
                <p class="lead">"Requests to pools that need an admin. The requester is told either way, by email and on the loan's timeline."</p>
            </div>
            <div class="actions bulk">
                <label class="inline">"Shorten to "
                    <input type="number" min="1" placeholder="as asked" class="hours"
                        on:input=move |ev| shorten.set(event_target_value(&ev)) />" h"
                </label>
                <button class="button" data-testid="approve-selected"
                    disabled=move || selected.get().is_empty() || approve.pending().get()
                    on:click=approve_selected>
                    {move || format!("Approve selected ({})", selected.get().len())}
                </button>
            </div>
        </div>
        {error}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || queue.get().map(|result| match result {
                Ok(rows) if rows.is_empty() => view! {
                    <div class="notice notice-info" data-testid="queue-empty"><p>"Nothing waits for approval."</p></div>
                }.into_any(),
                Ok(rows) => rows.into_iter().map(|row| view! { <Request row selected approve deny /> }).collect_view().into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Request(
    row: ApprovalRow,
    selected: RwSignal<Vec<LoanId>>,
    approve: ServerAction<ApproveLoans>,
    deny: ServerAction<DenyLoan>,
) -> impl IntoView {
    let s = row.summary.clone();
    let id = s.id;
    let hours = RwSignal::new(row.duration_hours.to_string());
    let approve_this = move |_| {
        approve.dispatch(ApproveLoans {
            ids: vec![id],
            duration_hours: Some(hours.get_untracked()),
        });
    };
    let error = Signal::derive(move || deny.value().get().and_then(Result::err));
    let toggle = move |ev| {
        let on = event_target_checked(&ev);
        selected.update(|ids| {
            ids.retain(|i| *i != id);
            if on {
                ids.push(id);
            }
        });
    };
    let others = if row.current_loans.is_empty() {
        view! { <span class="muted">"none"</span> }.into_any()
    } else {
        row.current_loans
            .iter()
            .map(|l| view! {
                <span class="other-loan">
                    <a href=format!("/loans/{}", l.id)>{format!("#{}", l.id)}</a>" "{l.pool_name.clone()}" "<LoanBadge state=l.state />
                </span>
            })
            .collect_view()
            .into_any()
    };
    view! {
        <article class="card request" data-request=id.0>
            <div class="request-head">
                <label class="select-request">
                    <input type="checkbox" on:change=toggle prop:checked=move || selected.get().contains(&id) />
                    <strong>{s.borrower_name.clone()}</strong>" asks for "<strong>{s.pool_name.clone()}</strong>
                    {format!(" for {}", format_hours(row.duration_hours))}
                </label>
                <span class="muted nowrap">{format!("#{} · {}", id, format::when(s.requested_at))}</span>
            </div>
            <p class="request-reason">{s.reason.clone()}</p>
            <dl class="facts">
                <dt>"Bug"</dt><dd>{crate::pages::loan::bug_link(s.bug_ref.clone(), row.bug_url.clone())}</dd>
                <dt>"Email"</dt><dd>{s.borrower_email.clone()}</dd>
                <dt>"Current loans"</dt><dd>{others}</dd>
            </dl>
            <div class="request-actions">
                <label class="inline">"Approve for "
                    <input type="number" min="1" max=row.duration_hours class="hours" aria-label="Hours"
                        prop:value=move || hours.get() on:input=move |ev| hours.set(event_target_value(&ev)) />" h"
                </label>
                <button class="button" data-testid="approve" disabled=move || approve.pending().get() on:click=approve_this>
                    "Approve"
                </button>
            </div>
            <details class="deny">
                <summary>"Deny…"</summary>
                <ActionForm action=deny>
                    <input type="hidden" name="id" value=id.0 />
                    <label class="field">
                        <span>"Reason " <em class="req">"required"</em></span>
                        <input type="text" name="reason" placeholder="Use the CI try server for this instead" />
                        <FieldMessage error field="reason" />
                    </label>
                    <button type="submit" class="button button-danger" data-testid="deny">"Deny"</button>
                </ActionForm>
            </details>
        </article>
    }
}
