//! One loan: its live timeline while provisioning runs, then how to connect, and the buttons to
//! return or cancel it.

use std::time::Duration;

use chrono::Utc;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::admin::{ExtendOverride, ForceReturn, MoveLoan, RestoreLoan};
use crate::api::loans::{get_loan, CancelLoan, ExtendLoan, ReturnLoan};
use crate::components::badges::LoanBadge;
use crate::components::live::use_live_updates;
use crate::components::notice::ErrorNotice;
use crate::components::timeline::Timeline;
use crate::format;
use crate::rules::policy::format_hours;
use crate::types::{LoanDetail, LoanId, LoanState, Progress};

mod admin;

use admin::AdminPanel;

/// At most one reload per this gap however fast changes come; how often the page asks for news
/// while its live stream is down.
const LIVE_MIN_GAP: Duration = Duration::from_millis(100);
const FALLBACK_POLL: Duration = Duration::from_secs(3);

#[component]
pub fn LoanPage() -> impl IntoView {
    let params = use_params_map();
    let id = params
        .read_untracked()
        .get("id")
        .and_then(|id| id.parse::<LoanId>().ok())
        .unwrap_or(LoanId(0));
    view! {
        <Title text=format!("Loan #{id}") />
        <LoanLive id />
    }
}

/// Everything below the top bar hydrates as one island: the loan, its live updates and its
/// buttons. (It sits directly in the page, not under a `Transition`: an island rendered inside
/// one is built twice on the server, and its data could change between the two.)
#[cfg_attr(
    not(any(feature = "admin-bundle", feature = "inventory-bundle")),
    island
)]
#[cfg_attr(any(feature = "admin-bundle", feature = "inventory-bundle"), component)]
fn LoanLive(id: LoanId) -> impl IntoView {
    let actions = LoanActions {
        return_loan: ServerAction::<ReturnLoan>::new(),
        cancel_loan: ServerAction::<CancelLoan>::new(),
        extend_loan: ServerAction::<ExtendLoan>::new(),
        restore_loan: ServerAction::<RestoreLoan>::new(),
        force_return: ServerAction::<ForceReturn>::new(),
        move_loan: ServerAction::<MoveLoan>::new(),
        extend_override: ServerAction::<ExtendOverride>::new(),
    };
    let (refresh, set_refresh) = signal(0u32);
    let loan = Resource::new(
        move || (id, refresh.get(), actions.version()),
        // Reloads after the first come from the live stream (or follow an action, which was
        // itself a use of the session).
        |(id, refresh, _)| get_loan(id, Some(refresh > 0)),
    );

    // Live updates: the server says when the loan changed; polling only while its stream is down.
    use_live_updates(
        move || format!("/live/loans/{id}"),
        move || set_refresh.update(|n| *n += 1),
        LIVE_MIN_GAP,
        FALLBACK_POLL,
    );

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the loan…"</p> }>
            {move || loan.get().map(|result| match result {
                Ok(detail) => view! { <LoanView detail actions /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

/// What can be done to a loan from its page.
#[derive(Clone, Copy)]
pub(crate) struct LoanActions {
    return_loan: ServerAction<ReturnLoan>,
    cancel_loan: ServerAction<CancelLoan>,
    extend_loan: ServerAction<ExtendLoan>,
    restore_loan: ServerAction<RestoreLoan>,
    force_return: ServerAction<ForceReturn>,
    move_loan: ServerAction<MoveLoan>,
    extend_override: ServerAction<ExtendOverride>,
}

impl LoanActions {
    fn version(&self) -> usize {
        self.return_loan.version().get()
            + self.cancel_loan.version().get()
            + self.extend_loan.version().get()
            + self.restore_loan.version().get()
            + self.force_return.version().get()
            + self.move_loan.version().get()
            + self.extend_override.version().get()
    }

    fn last_error(&self) -> Option<String> {
        [
            self.return_loan.value().get().and_then(Result::err),
            self.cancel_loan.value().get().and_then(Result::err),
            self.extend_loan.value().get().and_then(Result::err),
            self.restore_loan.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|e| e.to_string())
    }
}

#[component]
fn LoanView(detail: LoanDetail, actions: LoanActions) -> impl IntoView {
    let LoanActions {
        return_loan,
        cancel_loan,
        extend_loan,
        restore_loan,
        ..
    } = actions;
    let s = detail.summary.clone();
    let loan_id = s.id;
    let id = loan_id.0;
    let now = Utc::now();
    let is_admin = detail.viewer_is_admin;
    // An admin looking at someone else's loan reads about "their" machine, not "your" machine.
    let mine = detail.viewer_is_borrower;
    let (crumb_href, crumb, ready_heading, key_owner, return_label) = if mine {
        (
            "/loans",
            "My loans",
            "Your machine is ready".to_owned(),
            "Connect with the SSH key you gave (".to_owned(),
            "I'm done — return the machine",
        )
    } else {
        (
            "/admin/loans",
            "All loans",
            format!("{}'s machine is ready", s.borrower_name),
            format!("{} connects with the SSH key they gave (", s.borrower_name),
            "Return the machine",
        )
    };
    let action_error = move || {
        actions
            .last_error()
            .map(|e| view! { <p class="form-error" data-testid="action-error">{e}</p> })
    };
    let extension = detail.extension.clone().map(|offer| match offer.refusal {
        None => view! {
            <ActionForm action=extend_loan>
                <input type="hidden" name="id" value=id />
                <button type="submit" class="button button-secondary" data-testid="extend"
                    disabled=move || extend_loan.pending().get()>
                    {format!("Extend by {}", format_hours(offer.hours))}
                </button>
            </ActionForm>
        }
        .into_any(),
        Some(refusal) => view! { <p class="hint extension-refused" data-testid="extension-refused">{refusal}</p> }.into_any(),
    });
    let expired_notice = detail.grace_until.map(|until| {
        view! {
            <section class="notice notice-warn" data-testid="grace">
                <h2>"This loan has ended"</h2>
                <p>
                    "Access to the machine was revoked. It is kept as it is until "
                    <strong>{format::when(until)}</strong>" ("{format::relative(until, now)}
                    "), then it is re-imaged. An admin can restore the loan until then."
                </p>
                {is_admin.then(|| view! {
                    <ActionForm action=restore_loan>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="button" data-testid="restore">"Restore the loan"</button>
                    </ActionForm>
                })}
            </section>
        }
    });
    let ends = match (s.ended_at, s.expires_at) {
        (Some(ended), _) => format!("Ended {}", format::when(ended)),
        (None, Some(expires)) => format!(
            "{} ({})",
            format::when(expires),
            format::relative(expires, now)
        ),
        (None, None) => format!("{} after it is ready", format_hours(detail.duration_hours)),
    };
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs"><a href=crumb_href>{crumb}</a>" / Loan #"{id}</p>
                <h1>{s.pool_name.clone()}" "<LoanBadge state=s.state /></h1>
            </div>
            <div class="actions">
                {detail.can_return.then(|| view! {
                    <ActionForm action=return_loan>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="button" data-testid="return"
                            disabled=move || return_loan.pending().get()>{return_label}</button>
                    </ActionForm>
                })}
                {detail.can_cancel.then(|| view! {
                    <ActionForm action=cancel_loan>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="button button-secondary" data-testid="cancel"
                            disabled=move || cancel_loan.pending().get()>"Cancel request"</button>
                    </ActionForm>
                })}
            </div>
        </div>
        {action_error}
        {expired_notice}
        {status_notice(&detail)}
        {detail.progress.clone().map(|p| view! { <ProgressBar progress=p /> })}
        {detail.connection.clone().map(|c| view! {
            <section class="card connect" data-testid="connection">
                <h2>{ready_heading}</h2>
                <p>{key_owner}<code>{detail.ssh_key_comment.clone()}</code>"):"</p>
                <pre class="command">{c.ssh_command.clone()}</pre>
                <div class="connect-foot">
                    <dl class="facts">
                        <dt>"Host"</dt><dd><code>{c.fqdn.clone()}</code></dd>
                        <dt>"User"</dt><dd><code>{c.user.clone()}</code></dd>
                        <dt>"Ends"</dt><dd data-testid="deadline">{s.expires_at.map(|e| format!("{} ({})", format::when(e), format::relative(e, now)))}</dd>
                    </dl>
                    <div class="extend">{extension}</div>
                </div>
            </section>
        })}
        <div class="two-col">
            <section class="card">
                <h2>"Timeline"</h2>
                <Timeline events=detail.events.clone() />
            </section>
            <aside class="card side">
                <h2>"Details"</h2>
                <dl class="facts">
                    <dt>"Machine"</dt>
                    <dd>{s.machine_fqdn.clone().map_or_else(|| view! { <span class="muted">"not assigned yet"</span> }.into_any(), |f| view! { <code>{f}</code> }.into_any())}</dd>
                    <dt>"Borrower"</dt><dd>{s.borrower_name.clone()}</dd>
                    <dt>"Requested"</dt><dd>{format::when(s.requested_at)}</dd>
                    <dt>"Ends"</dt><dd data-testid="ends">{ends}</dd>
                    <dt>"Reason"</dt><dd>{s.reason.clone()}</dd>
                    <dt>"Bug"</dt><dd>{bug_link(s.bug_ref.clone(), detail.bug_url.clone())}</dd>
                </dl>
            </aside>
        </div>
        {is_admin.then(|| view! { <AdminPanel id=loan_id state=s.state targets=detail.move_targets.clone() actions /> })}
    }
}

/// The bug reference, linked to the tracker when the site has one (or it is an address).
pub fn bug_link(bug: Option<String>, url: Option<String>) -> AnyView {
    match (bug, url) {
        (Some(b), Some(url)) => {
            let label = if b.starts_with("http") {
                b
            } else {
                format!("#{b}")
            };
            view! { <a href=url data-testid="bug-link" rel="noopener noreferrer" target="_blank">{label}</a> }
                .into_any()
        }
        (Some(b), None) => view! { <span>{format!("#{b}")}</span> }.into_any(),
        (None, _) => view! { <span class="muted">"none"</span> }.into_any(),
    }
}

#[component]
fn ProgressBar(progress: Progress) -> impl IntoView {
    let pct = (progress.done * 100)
        .checked_div(progress.total)
        .unwrap_or(0);
    let label = match &progress.current {
        Some(step) => format!(
            "{}: step {} of {} — {step}",
            progress.phase.label(),
            (progress.done + 1).min(progress.total),
            progress.total
        ),
        None => format!(
            "{}: {} of {} steps done",
            progress.phase.label(),
            progress.done,
            progress.total
        ),
    };
    view! {
        <section class="card progress" data-testid="progress">
            <div class="progress-label"><span class="spinner" aria-hidden="true"></span>{label}</div>
            <progress class="meter meter-large" max="100" value=pct aria-label="Progress of the steps"></progress>
        </section>
    }
}

/// Where the loan waits, when it waits on something: an admin's approval, a free machine, an
/// admin doing a manual step; and why an admin decided what they did.
fn status_notice(detail: &LoanDetail) -> Option<AnyView> {
    let s = &detail.summary;
    let reason = detail.decision_reason.clone();
    let view = match (s.state, detail.queue_position, detail.waiting_for_admin.clone()) {
        (LoanState::Requested, _, _) => view! {
            <section class="notice notice-info" data-testid="awaiting-approval">
                <h2>"Waiting for an admin's approval"</h2>
                <p>"This pool needs an admin to approve each request. They have been told; you will get an email either way."</p>
            </section>
        }
        .into_any(),
        (LoanState::Waiting, Some(place), _) => view! {
            <section class="notice notice-info" data-testid="waiting">
                <h2>{format!("Waiting for a machine: #{place} in line")}</h2>
                <p>"Every machine of this pool is lent out. The first one that comes back is yours: provisioning starts by itself, and this page follows it."</p>
            </section>
        }
        .into_any(),
        (_, _, Some(step)) => view! {
            <section class="notice notice-warn" data-testid="waiting-for-admin">
                <h2>{format!("Waiting for an admin: {step}")}</h2>
                <p>"This step needs a person. The admins have been told; the loan moves on as soon as they mark it done."</p>
            </section>
        }
        .into_any(),
        (LoanState::Denied, _, _) => view! {
            <section class="notice notice-bad" data-testid="denied">
                <h2>"Request denied"</h2>
                <p>{reason.unwrap_or_default()}</p>
            </section>
        }
        .into_any(),
        _ => return None,
    };
    Some(view)
}
