//! Creating and editing a pool: what the catalogue shows (the description is Markdown), the
//! image, the provisioning and clean-up steps, and the pool's own policy (empty inherits).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::admin::{get_pool, RetirePool, SavePool};
use crate::components::browser;
use crate::components::fields::{form_error, SelectField, TextArea, TextField};
use crate::components::notice::ErrorNotice;
use crate::types::PoolEdit;

const STEPS_HINT: &str = r#"A JSON list, in order. Each step: {"name": "Re-image", "action": "reimage", "driver": "command", "command": "reimage.sh", "timeout_secs": 900} (commands are programs in the commands folder); a manual step: {"name": "Attach the debug probe", "action": "power_on", "driver": "manual", "instructions": "…"}. Actions: status, power_on, power_off, reboot, reimage, grant_access, revoke_access."#;

#[component]
pub fn PoolEditPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || {
        params
            .read()
            .get("slug")
            .filter(|s| s != "new")
            .unwrap_or_default()
    };
    let slug = slug();
    view! {
        <Title text="Pool" />
        <p class="crumbs"><a href="/admin/pools">"Pools"</a>" / "{if slug.is_empty() { "new".to_owned() } else { slug.clone() }}</p>
        <PoolEditor slug />
    }
}

/// The form hydrates on its own (an island). `slug` is empty for a new pool.
#[cfg_attr(any(feature = "ssr", feature = "inventory-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "inventory-bundle")), component)]
fn PoolEditor(slug: String) -> impl IntoView {
    let retire = ServerAction::<RetirePool>::new();
    let pool = Resource::new(
        move || (slug.clone(), retire.version().get()),
        |(s, _)| get_pool(s),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || pool.get().map(|result| match result {
                Ok(pool) => view! { <PoolForm pool retire /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

fn opt(n: Option<i32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

#[component]
fn PoolForm(pool: PoolEdit, retire: ServerAction<RetirePool>) -> impl IntoView {
    let save = ServerAction::<SavePool>::new();
    let error = Signal::derive(move || save.value().get().and_then(Result::err));
    let existing = pool.slug.clone();
    let is_new = existing.is_empty();
    Effect::new(move |_| {
        if let Some(Ok(slug)) = save.value().get() {
            browser::go(&format!("/admin/pools/{slug}?saved=1"));
        }
    });
    let o = pool.overrides.clone();
    let site = pool.site.clone();
    let inherit = |what: String| format!("inherit: {what}");
    let tri = |value: Option<bool>, default: bool| {
        (
            match value {
                None => "inherit".to_owned(),
                Some(true) => "yes".to_owned(),
                Some(false) => "no".to_owned(),
            },
            vec![
                (
                    "inherit".to_owned(),
                    inherit(if default { "yes".into() } else { "no".into() }),
                ),
                ("yes".to_owned(), "Yes".to_owned()),
                ("no".to_owned(), "No".to_owned()),
            ],
        )
    };
    let (bug_value, bug_options) = tri(o.bug_required, site.bug_required);
    let approval_value = o
        .approval_mode
        .map_or("inherit".to_owned(), |m| m.as_str().to_owned());
    let approval_options: Vec<(String, String)> = std::iter::once((
        "inherit".to_owned(),
        inherit(site.approval_mode.label().to_owned()),
    ))
    .chain(super::approval_options())
    .collect();
    let retired = pool.retired;
    let retire_slug = existing.clone();
    view! {
        <div class="page-head">
            <div>
                <h1>{if is_new { "New pool".to_owned() } else { pool.name.clone() }}
                    {retired.then(|| view! { <span class="badge badge-done">"Retired"</span> })}</h1>
            </div>
            {(!is_new).then(|| view! {
                <ActionForm action=retire>
                    <input type="hidden" name="slug" value=retire_slug />
                    <input type="hidden" name="retired" value=(!retired).to_string() />
                    <button type="submit" class="button button-secondary">{if retired { "Bring back to the catalogue" } else { "Retire the pool" }}</button>
                </ActionForm>
            })}
        </div>
        <ActionForm action=save>
            <input type="hidden" name="existing" value=existing />
            <section class="card">
                <h2>"In the catalogue"</h2>
                <div class="form-grid">
                    <TextField name="slug" label="Short name (in addresses)" value=pool.slug.clone() error placeholder="win11-test".to_owned() />
                    <TextField name="name" label="Name" value=pool.name.clone() error placeholder="Windows 11 test machine".to_owned() />
                    <TextField name="platform" label="Platform" value=pool.platform.clone() error placeholder="Windows x86_64".to_owned() />
                    <TextField name="login_user" label="Login user" value=pool.login_user.clone() error />
                    <TextField name="image_name" label="Image" value=pool.image_name.clone() error />
                    <TextField name="image_version" label="Image version" value=pool.image_version.clone() error />
                </div>
                <TextArea name="description" label="Description (Markdown, shown in the catalogue's info box)" value=pool.description.clone() error rows=4 />
            </section>
            <section class="card">
                <h2>"Steps"</h2>
                <TextArea name="provision_steps" label="Provisioning" value=pool.provision_steps.clone() error rows=10 mono=true hint=STEPS_HINT.to_owned() />
                <TextArea name="reclaim_steps" label="Clean-up (runs when the loan ends; the machine returns to the pool only if all succeed)" value=pool.reclaim_steps.clone() error rows=8 mono=true />
                <TextArea name="driver_settings" label="Driver settings shared by the pool's machines (JSON; a machine's own settings win)" value=pool.driver_settings.clone() error rows=4 mono=true
                    hint="For the command driver, {\"env\": {\"CONSOLE_SERVER\": \"cons-3\"}} becomes an environment variable of every step. References to credentials, never secrets.".to_owned() />
            </section>
            <section class="card">
                <h2>"Policy"</h2>
                <p class="hint">"Leave a field empty to inherit the site's default (shown in grey)."</p>
                <div class="form-grid">
                    <SelectField name="approval_mode" label="Approval" value=approval_value options=approval_options error />
                    <SelectField name="bug_required" label="Bug reference required" value=bug_value options=bug_options error />
                    <TextField name="default_duration_hours" label="Default duration (hours)" value=opt(o.default_duration_hours) error placeholder=site.default_duration_hours.to_string() />
                    <TextField name="max_duration_hours" label="Maximum duration (hours)" value=opt(o.max_duration_hours) error placeholder=site.max_duration_hours.to_string() />
                    <TextField name="extension_hours" label="Extension length (hours)" value=opt(o.extension_hours) error placeholder=site.extension_hours.to_string() />
                    <TextField name="max_extensions" label="Extensions allowed" value=opt(o.max_extensions) error placeholder=site.max_extensions.to_string() />
                    <TextField name="max_total_hours" label="Longest total (hours)" value=opt(o.max_total_hours) error placeholder=site.max_total_hours.to_string() />
                    <TextField name="grace_period_minutes" label="Grace period (minutes)" value=opt(o.grace_period_minutes) error placeholder=site.grace_period_minutes.to_string() />
                    <TextField name="max_loans_per_user" label="Active loans per person in this pool" value=opt(o.max_loans_per_user) error
                        placeholder=site.max_loans_per_user_per_pool.map_or("no cap".to_owned(), |n| n.to_string()) />
                    <TextField name="allowed_groups" label="Who may borrow (groups, comma-separated)" value=o.allowed_groups.map(|g| g.join(", ")).unwrap_or_default() error
                        placeholder="everyone".to_owned() />
                </div>
            </section>
            {move || form_error(error.get())}
            {move || error.get().filter(|e| matches!(e, crate::error::AppError::Validation(_))).map(|_| view! {
                <p class="form-error" data-testid="form-invalid">"Please correct the highlighted fields."</p>
            })}
            <div class="button-row">
                <button type="submit" class="button" data-testid="save-pool">{if is_new { "Create pool" } else { "Save pool" }}</button>
            </div>
        </ActionForm>
    }
}
