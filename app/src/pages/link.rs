//! The page a one-click link from an email opens. Opening it (as mail scanners do) changes
//! nothing: it names the loan, the machine and the action, and its button POSTs. It works
//! without JavaScript and without signing in.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use crate::api::links::{get_link, UseLink};
use crate::components::notice::ErrorNotice;
use crate::error::AppError;
use crate::format;
use crate::rules::policy::format_hours;
use crate::types::{LinkAction, LinkStatus, LinkView};

#[component]
pub fn LinkPage() -> impl IntoView {
    let params = use_params_map();
    let token = params.read_untracked().get("token").unwrap_or_default();
    view! {
        <Title text="Confirm" />
        <Meta name="robots" content="noindex, nofollow" />
        <div class="narrow">
            <Confirm token />
        </div>
    }
}

/// The card and its button hydrate on their own (an island); the button works before that too.
#[cfg_attr(
    not(any(feature = "admin-bundle", feature = "inventory-bundle")),
    island
)]
#[cfg_attr(any(feature = "admin-bundle", feature = "inventory-bundle"), component)]
fn Confirm(token: String) -> impl IntoView {
    let use_link = ServerAction::<UseLink>::new();
    let link = Resource::new(
        {
            let token = token.clone();
            move || (token.clone(), use_link.version().get())
        },
        |(t, _)| get_link(t),
    );
    view! {
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || link.get().map(|result| match result {
                    Ok(view) => view! { <LinkCard view token=token.clone() use_link /> }.into_any(),
                    Err(AppError::NotFound(_)) => view! {
                        <div class="notice notice-bad" data-testid="link-unknown">
                            <h2>"This link is not valid"</h2>
                            <p>"Check that the whole link was copied from the email. You can always return or extend a loan from its page after signing in."</p>
                            <a href="/loans" class="button">"My loans"</a>
                        </div>
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error /> }.into_any(),
                })}
            </Transition>
    }
}

#[component]
fn LinkCard(view: LinkView, token: String, use_link: ServerAction<UseLink>) -> impl IntoView {
    let fqdn = view
        .machine_fqdn
        .clone()
        .unwrap_or_else(|| "the machine".into());
    let title = match view.action {
        LinkAction::Return => format!("Return {fqdn}?"),
        LinkAction::Extend => format!("Extend your loan of {fqdn}?"),
        LinkAction::Approve => {
            format!("Approve loan #{} for {}?", view.loan_id, view.borrower_name)
        }
        LinkAction::Deny => format!("Deny loan #{} for {}?", view.loan_id, view.borrower_name),
    };
    let facts = view! {
        <dl class="facts">
            <dt>"Loan"</dt><dd>{format!("#{} — {}", view.loan_id, view.pool_name)}</dd>
            <dt>"Machine"</dt><dd><code>{fqdn.clone()}</code></dd>
            <dt>"Borrower"</dt><dd>{view.borrower_name.clone()}</dd>
            <dt>"Ends"</dt><dd data-testid="link-deadline">{view.expires_at.map(format::when).unwrap_or_else(|| "—".into())}</dd>
        </dl>
    };
    let body = match view.status.clone() {
        LinkStatus::Valid => {
            let (label, explain) = match view.action {
                LinkAction::Return => (
                    "Yes, return it now".to_owned(),
                    "Your access ends, and the machine is cleaned and re-imaged for the next person. Anything on it is lost.".to_owned(),
                ),
                LinkAction::Extend => (
                    format!("Yes, extend by {}", format_hours(view.extension_hours)),
                    format!("The loan will end {} later.", format_hours(view.extension_hours)),
                ),
                LinkAction::Approve => (
                    "Approve".to_owned(),
                    format!("{} gets a {} machine (or waits for the first free one): {}", view.borrower_name, view.pool_name, view.reason),
                ),
                LinkAction::Deny => (
                    "Deny".to_owned(),
                    format!("{} asked for a {} machine: {}. Tell them why not:", view.borrower_name, view.pool_name, view.reason),
                ),
            };
            let reason_field = (view.action == LinkAction::Deny).then(|| view! {
                <label class="field">
                    <span>"Reason" <em class="req">"required"</em></span>
                    <textarea name="reason" rows="2" required></textarea>
                </label>
            });
            view! {
                <p>{explain}</p>
                <ActionForm action=use_link>
                    <input type="hidden" name="token" value=token />
                    {reason_field}
                    <button type="submit" class="button" data-testid="confirm" disabled=move || use_link.pending().get()>{label}</button>
                </ActionForm>
                {move || use_link.value().get().and_then(Result::err).map(|e| view! { <p class="form-error">{e.to_string()}</p> })}
            }
            .into_any()
        }
        LinkStatus::Used(at) => {
            let outcome = match view.action {
                LinkAction::Return | LinkAction::Approve | LinkAction::Deny => {
                    format!("The loan is now {}.", view.loan_state.label().to_ascii_lowercase())
                }
                LinkAction::Extend => match view.expires_at {
                    Some(end) => format!("The loan now ends {}.", format::when(end)),
                    None => String::new(),
                },
            };
            view! {
                <div class="notice notice-good" data-testid="link-done">
                    <h2>"Done"</h2>
                    <p>{format!("This link was used at {}. {outcome}", format::when(at))}</p>
                </div>
            }
            .into_any()
        }
        LinkStatus::Expired => view! {
            <div class="notice notice-info" data-testid="link-expired">
                <h2>"This link has expired"</h2>
                <p>"It was for a deadline that has passed or moved, or the loan is over. Open the loan to see where it stands."</p>
            </div>
        }
        .into_any(),
        LinkStatus::Refused(reason) => view! {
            <div class="notice notice-warn" data-testid="link-refused">
                <h2>"This loan cannot be extended"</h2>
                <p>{reason}</p>
            </div>
        }
        .into_any(),
    };
    view! {
        <h1>{title}</h1>
        <div class="card" data-testid="link-card">
            {facts}
            {body}
            <p class="hint"><a href=format!("/loans/{}", view.loan_id)>"Open the loan"</a>" (sign-in needed)"</p>
        </div>
    }
}
