//! The browser entry point. Loaner renders every page on the server; only its islands (the
//! `#[island]` components in `app`, each exported to JavaScript under its own name) hydrate,
//! which Leptos' island script does right after `hydrate` returns.

// Links `app`, whose islands' hydration functions are the bundle's exports.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Tells tests (and anyone curious) that the page is interactive now. The island script
    // hydrates every island synchronously (in microtasks) after this returns, so a zero timeout
    // runs after the last of them.
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = leptos::prelude::document().body() {
                let _ = body.set_attribute("data-hydrated", "");
            }
        },
        std::time::Duration::ZERO,
    );
}
