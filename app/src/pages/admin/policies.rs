//! The loan policy: the site's defaults (edited here) and what each pool applies — its own
//! settings in bold, inherited ones plain. A pool's own settings are edited in its editor.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{get_policies, SaveSitePolicy};
use crate::components::fields::{form_error, SelectField, TextField};
use crate::components::notice::ErrorNotice;
use crate::rules::policy::{format_hours, format_minutes};
use crate::types::{PoliciesView, PolicyRow, SiteDefaults};

#[component]
pub fn PoliciesPage() -> impl IntoView {
    view! {
        <Title text="Policies" />
        <PolicyEditor />
    }
}

/// The form and the table it updates hydrate as one island.
#[cfg_attr(any(feature = "ssr", feature = "admin-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "admin-bundle")), component)]
fn PolicyEditor() -> impl IntoView {
    let save = ServerAction::<SaveSitePolicy>::new();
    let view_data = Resource::new(move || save.version().get(), |_| get_policies());
    view! {
        <div class="page-head">
            <div>
                <h1>"Loan policies"</h1>
                <p class="lead">"The site's defaults apply to every pool that does not set its own value. Every change is recorded in the audit log."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || view_data.get().map(|result| match result {
                Ok(data) => view! { <Policies data save /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

fn opt(n: Option<i32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

#[component]
fn Policies(data: PoliciesView, save: ServerAction<SaveSitePolicy>) -> impl IntoView {
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let saved = move || {
        matches!(save.value().get(), Some(Ok(())))
            .then(|| view! { <p class="saved" data-testid="saved">"Saved."</p> })
    };
    let s: SiteDefaults = data.site.clone();
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    view! {
        <section class="card">
            <h2>"Site defaults"</h2>
            <ActionForm action=save>
                <div class="form-grid">
                    <SelectField name="approval_mode" label="Approval" value=s.approval_mode.as_str().to_owned() error
                        options=super::approval_options()
                        hint="Automatic: admins get a daily digest instead.".to_owned() />
                    <SelectField name="bug_required" label="Bug reference required" value=yes_no(s.bug_required) error
                        options=vec![("no".into(), "No".into()), ("yes".into(), "Yes".into())] />
                    <TextField name="default_duration_hours" label="Default duration (hours)" value=s.default_duration_hours.to_string() error />
                    <TextField name="max_duration_hours" label="Maximum duration (hours)" value=s.max_duration_hours.to_string() error />
                    <TextField name="extension_hours" label="Extension length (hours)" value=s.extension_hours.to_string() error />
                    <TextField name="max_extensions" label="Extensions allowed" value=s.max_extensions.to_string() error />
                    <TextField name="max_total_hours" label="Longest total (hours)" value=s.max_total_hours.to_string() error
                        hint="First duration and extensions together.".to_owned() />
                    <TextField name="grace_period_minutes" label="Grace period (minutes)" value=s.grace_period_minutes.to_string() error
                        hint="After the deadline, access is cut and the machine kept this long before it is re-imaged.".to_owned() />
                    <TextField name="max_loans_per_user" label="Active loans per person, over all pools" value=opt(s.max_loans_per_user) error
                        placeholder="no cap".to_owned() />
                    <TextField name="max_loans_per_user_per_pool" label="Active loans per person, in one pool" value=opt(s.max_loans_per_user_per_pool) error
                        placeholder="no cap".to_owned() />
                </div>
                {move || form_error(error.get())}
                <div class="button-row">
                    <button type="submit" class="button" data-testid="save-site">"Save site defaults"</button>
                    {saved}
                </div>
            </ActionForm>
        </section>
        <section>
            <h2>"Pools"</h2>
            <div class="table-wrap">
                <table class="table policy-table">
                    <thead><tr>
                        <th>"Pool"</th><th>"Approval"</th><th>"Duration"</th><th>"Extensions"</th>
                        <th>"Per person"</th><th>"Bug"</th><th>"Grace"</th><th>"Who"</th>
                    </tr></thead>
                    <tbody>{data.pools.into_iter().map(|row| view! { <PolicyLine row /> }).collect_view()}</tbody>
                </table>
            </div>
            <p class="hint">"Bold values are the pool's own; the rest come from the site defaults. Edit a pool's own values in "<a href="/admin/pools">"Pools"</a>"."</p>
        </section>
    }
}

#[component]
fn PolicyLine(row: PolicyRow) -> impl IntoView {
    let o = row.overrides;
    let e = row.effective;
    let own = |set: bool, text: String| {
        if set {
            view! { <strong>{text}</strong> }.into_any()
        } else {
            view! { <span>{text}</span> }.into_any()
        }
    };
    view! {
        <tr data-policy=row.slug.clone()>
            <td><a href=format!("/admin/pools/{}", row.slug)>{row.name.clone()}</a></td>
            <td>{own(o.approval_mode.is_some(), e.approval_mode.label().to_owned())}</td>
            <td>{own(o.max_duration_hours.is_some() || o.default_duration_hours.is_some(),
                format!("{} (max {})", format_hours(e.default_duration_hours), format_hours(e.max_duration_hours)))}</td>
            <td>{own(o.max_extensions.is_some() || o.extension_hours.is_some() || o.max_total_hours.is_some(),
                format!("{} × {}, ≤ {}", e.max_extensions, format_hours(e.extension_hours), format_hours(e.max_total_hours)))}</td>
            <td>{own(o.max_loans_per_user.is_some(), e.max_loans_per_user_in_pool.map_or("no cap".into(), |n| n.to_string()))}</td>
            <td>{own(o.bug_required.is_some(), if e.bug_required { "required".into() } else { "optional".into() })}</td>
            <td>{own(o.grace_period_minutes.is_some(), if e.grace_period_minutes == 0 { "none".into() } else { format_minutes(e.grace_period_minutes) })}</td>
            <td>{own(o.allowed_groups.is_some(), e.allowed_groups.map_or("everyone".into(), |g| g.join(", ")))}</td>
        </tr>
    }
}
