//! Sign in. In development mode anyone can be anyone; the page says so loudly.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::DevLogin;
use crate::components::layout::use_session;
use crate::components::notice::FieldMessage;
use crate::rules::validate;
use crate::types::Role;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || validate::next_path(query.read().get("next").as_deref());
    let login = ServerAction::<DevLogin>::new();
    let error = Signal::derive(move || login.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            // A new person: reload everything for them.
            let _ = window().location().set_href(&next());
        }
    });
    let session = use_session().0;
    let dev_mode = move || session.get().and_then(Result::ok).map(|s| s.dev_mode);

    view! {
        <Title text="Sign in" />
        <div class="narrow">
            <h1>"Sign in"</h1>
            <Transition fallback=|| ()>
                {move || match dev_mode() {
                    Some(false) => view! {
                        <div class="notice notice-info">
                            <p>"Sign in with your company account. Single sign-on is configured by your admins; the development login is switched off on this server."</p>
                        </div>
                    }.into_any(),
                    _ => view! {
                        <div class="card">
                            <p class="hint">
                                "Development login: pick any name and email. Nothing is checked — this form only exists when Loaner runs in development mode on a loopback address."
                            </p>
                            <ActionForm action=login>
                                <input type="hidden" name="next" value=next />
                                <label class="field">
                                    <span>"Name"</span>
                                    <input type="text" name="name" required autocomplete="name" placeholder="Ada Lovelace" />
                                    <FieldMessage error field="name" />
                                </label>
                                <label class="field">
                                    <span>"Email"</span>
                                    <input type="email" name="email" required autocomplete="email" placeholder="ada@example.com" />
                                    <FieldMessage error field="email" />
                                </label>
                                <label class="field">
                                    <span>"Groups " <em class="opt">"optional"</em></span>
                                    <input type="text" name="groups" placeholder="releng, gfx" />
                                    <small class="hint">"As single sign-on would report them; some pools lend only to certain groups."</small>
                                    <FieldMessage error field="groups" />
                                </label>
                                <fieldset class="field">
                                    <legend>"Role"</legend>
                                    <label class="radio"><input type="radio" name="role" value=Role::Developer.as_str() checked />" Developer — borrow machines"</label>
                                    <label class="radio"><input type="radio" name="role" value=Role::Admin.as_str() />" Admin — release engineering"</label>
                                    <FieldMessage error field="role" />
                                </fieldset>
                                <button type="submit" class="button" disabled=move || login.pending().get()>"Sign in"</button>
                                {move || error.get().filter(|e| !matches!(e, crate::error::AppError::Validation(_))).map(|e| view! {
                                    <p class="form-error">{e.to_string()}</p>
                                })}
                            </ActionForm>
                        </div>
                    }.into_any(),
                }}
            </Transition>
        </div>
    }
}
