//! The inventory's pools: every machine type, with a link to its editor.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::admin_list_pools;
use crate::components::notice::ErrorNotice;

#[component]
pub fn PoolsPage() -> impl IntoView {
    let pools = Resource::new(|| (), |_| admin_list_pools());
    view! {
        <Title text="Pools" />
        <div class="page-head">
            <div>
                <h1>"Pools"</h1>
                <p class="lead">"Machine types: what the catalogue offers, with their images, steps and policy. "
                    "The inventory can also be kept in a file: "<code>"loaner inventory sync FILE"</code>"."</p>
            </div>
            <a href="/admin/pools/new" class="button">"New pool"</a>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || pools.get().map(|result| match result {
                Ok(rows) => view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Pool"</th><th>"Platform"</th><th>"Image"</th><th>"Machines"</th><th>"Approval"</th><th></th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|p| view! {
                                    <tr data-pool=p.slug.clone() class:retired=p.retired>
                                        <td><a href=format!("/admin/pools/{}", p.slug)>{p.name.clone()}</a><div class="muted small"><code>{p.slug.clone()}</code></div></td>
                                        <td>{p.platform.clone()}</td>
                                        <td><code>{p.image.clone()}</code></td>
                                        <td>{p.machines}</td>
                                        <td>{p.approval_mode.label()}</td>
                                        <td>{p.retired.then(|| view! { <span class="badge badge-done">"Retired"</span> })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}
