//! The page for addresses that lead nowhere.

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <div class="notice notice-info">
            <h2>"Nothing here"</h2>
            <p>"This address does not lead to a page of Loaner."</p>
            <a href="/" class="button">"Back to the catalogue"</a>
        </div>
    }
}
