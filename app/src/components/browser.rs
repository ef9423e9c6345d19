//! The little an island needs of where it is: it hydrates without the router (only the server
//! renders whole pages), so it reads the address from the request on the server and from the
//! browser's location in the browser, and leaves a page by loading the next one.

/// The path and query of the page being shown, e.g. `/loans/7?x=1`.
pub fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "/".to_owned())
    }
    #[cfg(not(feature = "ssr"))]
    {
        let location = leptos::prelude::window().location();
        format!(
            "{}{}",
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default()
        )
    }
}

/// Loads `path` as a new page (in the browser; nothing on the server).
pub fn go(path: &str) {
    #[cfg(not(feature = "ssr"))]
    {
        let _ = leptos::prelude::window().location().set_href(path);
    }
    #[cfg(feature = "ssr")]
    let _ = path;
}
