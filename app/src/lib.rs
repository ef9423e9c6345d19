//! Loaner's Leptos application: the HTML shell and the routes. Pages live in `pages/`, shared
//! pieces in `components/`, server functions in `api/`, pure rules in `rules/`, and the
//! server-only services behind the `ssr` feature in `server/`.

// Leptos views are deeply nested types; the hydrate build needs the headroom.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod error;
pub mod format;
pub mod pages;
pub mod rules;
#[cfg(feature = "ssr")]
pub mod server;
pub mod types;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::components::layout::{provide_session, Layout};
use crate::pages::{
    account, admin, catalogue, link, loan, login, mailbox, my_loans, not_found, request, stats,
    tokens,
};

/// The HTML document around the app. On the server it also sets the page's
/// Content-Security-Policy, which allows exactly the inline scripts that carry this response's
/// nonce.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    server::context::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                <link rel="stylesheet" href=format!("/{}/loaner.css", options.site_pkg_dir) />
                <BrowserBundle options=options.clone() />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The bundle a page's islands are in, when it is not the people's pages' (`loaner`). The API
/// tokens page, visited rarely, hydrates from the admin pages' bundle.
fn bundle_for(path: &str) -> Option<&'static str> {
    let editor = |list: &str| {
        path.strip_prefix(list)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|rest| !rest.is_empty())
    };
    if editor("/admin/pools") || editor("/admin/machines") {
        Some("loaner_inventory")
    } else if path == "/admin" || path.starts_with("/admin/") || path == "/account/tokens" {
        Some("loaner_admin")
    } else {
        None
    }
}

/// The script that loads the page's browser bundle and hydrates its islands. The admin pages
/// have a bundle of their own (`loaner_admin`, built from `frontend` with its `admin` feature),
/// so the people's pages download none of the admin pages' code.
#[component]
fn BrowserBundle(options: LeptosOptions) -> impl IntoView {
    let mut options = options;
    let here = components::browser::current_path();
    let path = here.split('?').next().unwrap_or_default();
    if let Some(bundle) = bundle_for(path) {
        options.output_name = std::sync::Arc::from(bundle);
    }
    view! { <HydrationScripts options islands=true /> }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_session();
    view! {
        <Title formatter=|title: String| {
            if title.is_empty() { "Loaner".to_owned() } else { format!("{title} · Loaner") }
        } />
        <Router>
            <Layout>
                // The people's pages are rendered whole before the response starts: the status is
                // always the right one (404 for a loan or link that does not exist), and a whole
                // page costs less than out-of-order streaming (scripts/bench: the catalogue
                // 364 → 442 requests/s, my loans 456 → 580). The admin pages stream: rendered
                // whole, their deeper views overflowed a 2 MB thread stack in debug builds.
                <Routes fallback=not_found::NotFound>
                    <Route path=path!("/") view=catalogue::CataloguePage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=login::LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/signed-out") view=login::SignedOutPage ssr=SsrMode::Async />
                    <Route path=path!("/account") view=account::AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/account/tokens") view=tokens::TokensPage ssr=SsrMode::Async />
                    <Route path=path!("/request/:pool") view=request::RequestPage ssr=SsrMode::Async />
                    <Route path=path!("/loans") view=my_loans::MyLoansPage ssr=SsrMode::Async />
                    <Route path=path!("/loans/:id") view=loan::LoanPage ssr=SsrMode::Async />
                    <Route path=path!("/stats") view=stats::StatsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=admin::home::AdminHomePage />
                    <Route path=path!("/admin/approvals") view=admin::approvals::ApprovalsPage />
                    <Route path=path!("/admin/policies") view=admin::policies::PoliciesPage />
                    <Route path=path!("/admin/pools") view=admin::pools::PoolsPage />
                    <Route path=path!("/admin/pools/:slug") view=admin::pool_edit::PoolEditPage />
                    <Route path=path!("/admin/loans") view=admin::loans::AdminLoansPage />
                    <Route path=path!("/admin/machines") view=admin::machines::AdminMachinesPage />
                    <Route path=path!("/admin/machines/:id") view=admin::machine_edit::MachineEditPage />
                    <Route path=path!("/admin/audit") view=admin::audit::AuditPage />
                    <Route path=path!("/admin/people") view=admin::people::PeoplePage />
                    <Route path=path!("/admin/mailbox") view=mailbox::MailboxPage />
                    <Route path=path!("/admin/mailbox/:id") view=mailbox::MailPage />
                    <Route path=path!("/l/:token") view=link::LinkPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}
