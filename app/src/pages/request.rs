//! The request form: reason, bug, duration and SSH key, checked field by field on the server.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::catalogue::get_request_form;
use crate::api::loans::RequestLoan;
use crate::components::browser;
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::error::AppError;
use crate::rules::policy::format_hours;
use crate::types::{ApprovalMode, RequestFormInfo};

#[component]
pub fn RequestPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("pool").unwrap_or_default();
    let info = Resource::new(slug, get_request_form);
    view! {
        <Title text="Request a machine" />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || info.get().map(|result| match result {
                Ok(info) => view! { <RequestForm info /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

/// The form hydrates on its own (an island); the page around it is only rendered.
#[cfg_attr(
    not(any(feature = "admin-bundle", feature = "inventory-bundle")),
    island
)]
#[cfg_attr(any(feature = "admin-bundle", feature = "inventory-bundle"), component)]
fn RequestForm(info: RequestFormInfo) -> impl IntoView {
    let request = ServerAction::<RequestLoan>::new();
    let error = Signal::derive(move || request.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(id)) = request.value().get() {
            browser::go(&format!("/loans/{id}"));
        }
    });
    let pool = info.pool;
    let default = pool
        .policy
        .default_duration_hours
        .min(pool.policy.max_duration_hours);
    let options = info
        .durations
        .iter()
        .map(|hours| {
            let hours = *hours;
            view! { <option value=hours selected=hours == default>{format_hours(hours)}</option> }
        })
        .collect_view();
    let general_error = move || {
        error.get().and_then(|e| match e {
            AppError::Validation(fields) if fields.iter().any(|f| f.field == "pool") => {
                Some("This machine type no longer exists.".to_owned())
            }
            AppError::Validation(_) => None,
            other => Some(other.to_string()),
        })
    };
    let no_free = pool.free == 0;
    view! {
        <div class="page-head">
            <div>
                <p class="crumbs"><a href="/">"Catalogue"</a>" / "{pool.name.clone()}</p>
                <h1>"Request: "{pool.name.clone()}</h1>
            </div>
        </div>
        <div class="two-col">
            <div class="card">
                <ActionForm action=request>
                    <input type="hidden" name="pool" value=pool.slug.clone() />
                    <label class="field">
                        <span>"Reason" <em class="req">"required"</em></span>
                        <textarea name="reason" rows="3" maxlength="2000"
                            placeholder="Reproduce the intermittent crash in the GPU tests"></textarea>
                        <FieldMessage error field="reason" />
                    </label>
                    <label class="field">
                        <span>
                            "Bug reference "
                            {if pool.policy.bug_required {
                                view! { <em class="req">"required"</em> }.into_any()
                            } else {
                                view! { <em class="opt">"optional"</em> }.into_any()
                            }}
                        </span>
                        <input type="text" name="bug_ref" placeholder="1234567 or https://bugs.example.com/1234567" />
                        <FieldMessage error field="bug_ref" />
                    </label>
                    <label class="field">
                        <span>"Duration"</span>
                        <select name="duration_hours">{options}</select>
                        <small class="hint">{format!("At most {} for this pool.", format_hours(pool.policy.max_duration_hours))}</small>
                        <FieldMessage error field="duration_hours" />
                    </label>
                    <label class="field">
                        <span>"SSH public key" <em class="req">"required"</em></span>
                        <textarea name="ssh_public_key" rows="3" class="mono" spellcheck="false"
                            placeholder="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop"></textarea>
                        <small class="hint">"The contents of your "<code>"~/.ssh/id_ed25519.pub"</code>". It is installed on the machine and removed when the loan ends."</small>
                        <FieldMessage error field="ssh_public_key" />
                    </label>
                    <label class="checkbox">
                        <input type="checkbox" name="wait" value="on" checked />
                        {match (pool.free, pool.waiting) {
                            (0, 0) => " None is free right now: wait in line for the first one that comes back".to_owned(),
                            (0, n) => format!(" None is free right now: wait in line ({n} ahead of you)"),
                            _ => " If none is free when you ask, wait in line for one".to_owned(),
                        }}
                    </label>
                    {move || general_error().map(|m| view! { <p class="form-error" data-testid="form-error">{m}</p> })}
                    <button type="submit" class="button" disabled=move || request.pending().get()>
                        {move || if request.pending().get() { "Requesting…" } else { "Request machine" }}
                    </button>
                </ActionForm>
            </div>
            <aside class="card side">
                <h3>{pool.platform.clone()}</h3>
                <div class="info-box markdown" inner_html=pool.description_html.clone()></div>
                <dl class="facts">
                    <dt>"Image"</dt>
                    <dd><code>{pool.image_name.clone()}</code>" "{pool.image_version.clone()}</dd>
                    <dt>"Free now"</dt>
                    <dd class:warn=no_free>{format!("{} of {}", pool.free, pool.total)}</dd>
                    <dt>"Approval"</dt>
                    <dd>{match pool.policy.approval_mode {
                        ApprovalMode::Automatic => "Automatic — provisioning starts at once",
                        ApprovalMode::Manual => "An admin approves each request",
                    }}</dd>
                </dl>
                <h3>"Limits"</h3>
                <ul class="caps" data-testid="caps">
                    {pool.caps.iter().map(|c| view! { <li>{c.clone()}</li> }).collect_view()}
                </ul>
            </aside>
        </div>
    }
}
