//! The frame around every page: the development banner, the top bar with navigation and the
//! signed-in person, and the session everything below reads.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::api::auth::get_session;
use crate::error::AppError;
use crate::types::SessionInfo;

/// The caller and the site mode, loaded once per page load.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<SessionInfo, AppError>>);

pub fn provide_session() {
    provide_context(Session(Resource::new(|| (), |_| get_session())));
}

pub fn use_session() -> Session {
    use_context::<Session>().unwrap_or_else(|| Session(Resource::new(|| (), |_| get_session())))
}

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let Session(session) = use_session();

    let banner = move || {
        session.get().and_then(Result::ok).filter(|s| s.dev_mode).map(|_| {
            view! {
                <div class="dev-banner" role="note" data-testid="dev-banner">
                    <strong>"Development mode"</strong>
                    " — sign-in is not checked and the demo inventory runs fake scripts. Do not use this instance for real machines."
                </div>
            }
        })
    };

    let nav = move || {
        let info = session.get().and_then(Result::ok);
        let dev_mode = info.as_ref().is_some_and(|s| s.dev_mode);
        let user = info.and_then(|s| s.user);
        let admin = user.as_ref().is_some_and(|u| u.is_admin());
        let who = match user {
            Some(user) => view! {
                <div class="who">
                    <a href="/account" class="who-name" title="Your account and sessions">{user.name.clone()}</a>
                    <span class="role-chip">{user.role.label()}</span>
                    // A plain form: signing out may continue at the identity provider, and
                    // loads the site afresh for whoever comes next.
                    <form method="post" action="/auth/logout">
                        <button type="submit" class="link-button">"Sign out"</button>
                    </form>
                </div>
            }
            .into_any(),
            None => view! {
                <div class="who">
                    <A href="/login" attr:class="button button-small">"Sign in"</A>
                </div>
            }
            .into_any(),
        };
        view! {
            <nav class="nav">
                <A href="/" exact=true>"Catalogue"</A>
                <A href="/loans">"My loans"</A>
                <A href="/stats">"Statistics"</A>
                {admin.then(|| view! {
                    <span class="nav-sep" aria-hidden="true"></span>
                    <A href="/admin">"Admin"</A>
                    {dev_mode.then(|| view! { <A href="/admin/mailbox">"Mailbox"</A> })}
                })}
            </nav>
            {who}
        }
    };

    // Admin pages get a row of tabs under the top bar.
    let location = use_location();
    let admin_tabs = move || {
        let on_admin = location.pathname.get().starts_with("/admin");
        let admin = session
            .get()
            .and_then(Result::ok)
            .and_then(|s| s.user)
            .is_some_and(|u| u.is_admin());
        (on_admin && admin).then(|| {
            let tabs = [
                ("/admin", "Dashboard"),
                ("/admin/approvals", "Approvals"),
                ("/admin/loans", "Loans"),
                ("/admin/machines", "Machines"),
                ("/admin/pools", "Pools"),
                ("/admin/policies", "Policies"),
                ("/admin/people", "People"),
                ("/admin/audit", "Audit log"),
            ];
            view! {
                <nav class="admin-tabs" aria-label="Admin">
                    <div class="admin-tabs-inner">
                        {tabs.into_iter().map(|(href, label)| view! { <A href=href exact=true>{label}</A> }).collect_view()}
                    </div>
                </nav>
            }
        })
    };

    view! {
        <Transition fallback=|| ()>{banner}</Transition>
        <header class="topbar">
            <div class="topbar-inner">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true">"L"</span>
                    "Loaner"
                </A>
                <Transition fallback=|| ()>{nav}</Transition>
            </div>
        </header>
        <Transition fallback=|| ()>{admin_tabs}</Transition>
        <main class="container">{children()}</main>
        <footer class="footer">
            "Loaner — borrow a clean test or build machine in minutes; it comes back clean when you are done."
        </footer>
    }
}
