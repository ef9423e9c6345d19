//! A person's own account: who Loaner thinks they are, and their signed-in sessions — each
//! browser, when it signed in and was last used — with a way to end the others.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account::{my_sessions, EndMySession, EndOtherSessions};
use crate::components::layout::use_session;
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::SessionRow;

#[component]
pub fn AccountPage() -> impl IntoView {
    let session = use_session().0;
    let who =
        move || {
            session.get().and_then(Result::ok).and_then(|s| s.user).map(|user| {
            view! {
                <dl class="facts">
                    <dt>"Name"</dt><dd>{user.name.clone()}</dd>
                    <dt>"Email"</dt><dd>{user.email.clone()}</dd>
                    <dt>"Role"</dt><dd><span class="role-chip">{user.role.label()}</span></dd>
                </dl>
            }
        })
        };
    view! {
        <Title text="Your account" />
        <div class="page-head">
            <div>
                <h1>"Your account"</h1>
                <p class="lead">"Your name, email and role come from your sign-in; your admins manage them there."</p>
            </div>
        </div>
        <Transition fallback=|| ()>{who}</Transition>
        <p><a href="/account/tokens" class="button button-secondary">"API tokens"</a>" for scripts and the "<code>"loaner"</code>" command line."</p>
        <h2>"Signed-in sessions"</h2>
        <p class="hint">"Each browser you signed in with. A session ends when you sign out there, after a while unused, or when you end it here."</p>
        <Sessions />
    }
}

/// The sessions and their buttons hydrate on their own (an island).
#[cfg_attr(
    not(any(feature = "admin-bundle", feature = "inventory-bundle")),
    island
)]
#[cfg_attr(any(feature = "admin-bundle", feature = "inventory-bundle"), component)]
fn Sessions() -> impl IntoView {
    let end_one = ServerAction::<EndMySession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    let sessions = Resource::new(
        move || (end_one.version().get(), end_others.version().get()),
        |_| my_sessions(),
    );
    let ended = move || {
        end_others.value().get().and_then(Result::ok).map(|n| {
            let text = match n {
                0 => "There were no other sessions to end.".to_owned(),
                1 => "Ended 1 other session.".to_owned(),
                n => format!("Ended {n} other sessions."),
            };
            view! { <p class="notice notice-good" role="status">{text}</p> }
        })
    };
    view! {
        {ended}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || sessions.get().map(|result| match result {
                Ok(rows) => view! { <SessionTable rows end_one /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
        <ActionForm action=end_others>
            <button type="submit" class="button button-secondary" data-testid="end-other-sessions">"Sign out all other sessions"</button>
        </ActionForm>
    }
}

#[component]
fn SessionTable(rows: Vec<SessionRow>, end_one: ServerAction<EndMySession>) -> impl IntoView {
    let body = rows
        .into_iter()
        .map(|row| {
            let action = if row.current {
                view! { <span class="badge badge-good">"This browser"</span> }.into_any()
            } else {
                let label = format!("End the session of {} started {}", row.browser, format::when(row.started_at));
                view! {
                    <ActionForm action=end_one>
                        <input type="hidden" name="id" value=row.id.0 />
                        <button type="submit" class="link-button" aria-label=label>"End"</button>
                    </ActionForm>
                }
                .into_any()
            };
            view! {
                <tr data-session=row.id.0>
                    <td>{row.browser.clone()}</td>
                    <td>{row.via.clone()}</td>
                    <td><code>{if row.address.is_empty() { "—".to_owned() } else { row.address.clone() }}</code></td>
                    <td class="nowrap">{format::when(row.started_at)}</td>
                    <td class="nowrap">{format::when(row.last_seen_at)}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="sessions">
                <thead>
                    <tr>
                        <th>"Browser"</th>
                        <th>"Signed in with"</th>
                        <th>"Address"</th>
                        <th>"Started"</th>
                        <th>"Last used"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}
