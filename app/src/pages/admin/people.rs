//! Admins: everyone who has signed in — role, groups, last sign-in, live sessions — and a way
//! to end a person's sessions (a lost laptop, someone who left).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{list_people, EndSessions};
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::PersonRow;

#[component]
pub fn PeoplePage() -> impl IntoView {
    view! {
        <Title text="People" />
        <PeopleList />
    }
}

/// The list and its buttons hydrate as one island.
#[cfg_attr(any(feature = "ssr", feature = "admin-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "admin-bundle")), component)]
fn PeopleList() -> impl IntoView {
    let end = ServerAction::<EndSessions>::new();
    let people = Resource::new(move || end.version().get(), |_| list_people());
    let ended = move || {
        end.value().get().and_then(Result::ok).map(|n| {
            view! { <p class="notice notice-good" role="status">{format!("Ended {n} session(s).")}</p> }
        })
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"People"</h1>
                <p class="lead">"Everyone who has signed in. Roles and groups come from single sign-on and are read again at every sign-in."</p>
            </div>
        </div>
        {ended}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || people.get().map(|result| match result {
                Ok(rows) => view! { <PeopleTable rows end /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn PeopleTable(rows: Vec<PersonRow>, end: ServerAction<EndSessions>) -> impl IntoView {
    let body = rows
        .into_iter()
        .map(|person| {
            let groups = if person.groups.is_empty() {
                "—".to_owned()
            } else {
                person.groups.join(", ")
            };
            let label = format!("End all sessions of {}", person.name);
            view! {
                <tr data-person=person.email.clone()>
                    <td>
                        <div>{person.name.clone()}</div>
                        <div class="muted small">{person.email.clone()}</div>
                    </td>
                    <td><span class="role-chip">{person.role.label()}</span></td>
                    <td>{groups}</td>
                    <td class="nowrap">{person.last_sign_in.map(format::when).unwrap_or_else(|| "never".to_owned())}</td>
                    <td class="num">{person.active_sessions}</td>
                    <td>
                        {(person.active_sessions > 0).then(|| view! {
                            <ActionForm action=end>
                                <input type="hidden" name="id" value=person.id.0 />
                                <button type="submit" class="link-button" aria-label=label.clone()>"End sessions"</button>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="people">
                <thead>
                    <tr>
                        <th>"Person"</th>
                        <th>"Role"</th>
                        <th>"Groups"</th>
                        <th>"Last sign-in"</th>
                        <th class="num">"Sessions"</th>
                        <th><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}
