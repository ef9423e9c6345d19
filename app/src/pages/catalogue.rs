//! The home page: every pool with what it is and how many machines are free right now.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::catalogue::catalogue_cards;
use crate::components::notice::ErrorNotice;
#[cfg(feature = "ssr")]
pub use cards::render_cards;

#[component]
pub fn CataloguePage() -> impl IntoView {
    let cards = Resource::new(|| (), |_| catalogue_cards());
    view! {
        <Title text="Catalogue" />
        <div class="page-head">
            <div>
                <h1>"Borrow a machine"</h1>
                <p class="lead">
                    "Pick a machine type. You get a freshly imaged machine in minutes, and it goes back to the pool, cleaned, when you are done."
                </p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading the catalogue…"</p> }>
            {move || cards.get().map(|result| match result {
                Ok(cards) if cards.pools == 0 => view! {
                    <div class="notice notice-info"><p>"No machine types are set up yet."</p></div>
                }.into_any(),
                Ok(cards) => view! { <div class="pool-grid" inner_html=cards.html></div> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

/// The pool cards, rendered on the server only (kept until the inventory changes, see
/// `api::catalogue::catalogue_cards`).
#[cfg(feature = "ssr")]
mod cards {
    use leptos::prelude::*;

    use crate::rules::policy::format_hours;
    use crate::types::{ApprovalMode, PoolCard};

    /// The cards of `pools`, as HTML (the page shows them as they are: nothing on them hydrates).
    pub fn render_cards(pools: Vec<PoolCard>) -> String {
        pools
            .into_iter()
            .map(|pool| view! { <PoolCardView pool /> }.to_html())
            .collect()
    }

    #[component]
    fn PoolCardView(pool: PoolCard) -> impl IntoView {
        let free_pct = if pool.total > 0 {
            pool.free * 100 / pool.total
        } else {
            0
        };
        let availability = match (pool.free, pool.total, pool.waiting) {
            (_, 0, _) => "No machines in service".to_owned(),
            (0, total, 0) => format!("None free right now (0 of {total})"),
            (0, total, waiting) => format!("None free (0 of {total}); {waiting} waiting"),
            (free, total, _) => format!("{free} of {total} free now"),
        };
        let approval = match pool.policy.approval_mode {
            ApprovalMode::Automatic => "Approved automatically",
            ApprovalMode::Manual => "Needs admin approval",
        };
        let href = format!("/request/{}", pool.slug);
        view! {
            <article class="pool-card" data-pool=pool.slug.clone()>
                <header class="pool-card-head">
                    <h2>{pool.name.clone()}</h2>
                    <span class="platform">{pool.platform.clone()}</span>
                </header>
                <div class="info-box markdown" inner_html=pool.description_html.clone()></div>
                <dl class="facts">
                    <dt>"Image"</dt>
                    <dd><code>{pool.image_name.clone()}</code>" "<span class="version">{pool.image_version.clone()}</span></dd>
                    <dt>"Loan"</dt>
                    <dd>{format!("{} by default, up to {}", format_hours(pool.policy.default_duration_hours), format_hours(pool.policy.max_duration_hours))}</dd>
                    <dt>"Policy"</dt>
                    <dd>{approval}{pool.policy.bug_required.then_some(" · bug reference required")}</dd>
                </dl>
                <div class="availability">
                    <meter class="meter" min="0" max="100" value=free_pct aria-label=availability.clone()></meter>
                    <span class="free-count" data-testid="free-count" data-free=pool.free>{availability}</span>
                </div>
                <a href=href class="button button-block">"Request a machine"</a>
            </article>
        }
    }
}
