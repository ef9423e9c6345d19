//! Sign in: through the company's single sign-on when it is configured (with the reason when a
//! sign-in was refused), else — in development mode only — as anyone; and the signed-out page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::DevLogin;
use crate::components::browser;
use crate::components::layout::use_session;
use crate::components::notice::FieldMessage;
use crate::rules::paths;
use crate::types::{Role, SignInProblem};

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || paths::next_path(query.read().get("next").as_deref());
    let session = use_session().0;
    let mode = move || {
        session
            .get()
            .and_then(Result::ok)
            .map(|s| (s.dev_mode, s.sso_name))
    };
    let problem = move || {
        query
            .read()
            .get("problem")
            .and_then(|code| SignInProblem::parse(&code))
    };
    let sso_href = move || {
        let next = next();
        if next == "/" {
            "/auth/login".to_owned()
        } else {
            format!("/auth/login?next={}", paths::query_value(&next))
        }
    };

    view! {
        <Title text="Sign in" />
        <div class="narrow">
            <h1>"Sign in"</h1>
            <Transition fallback=|| ()>
                {move || problem().map(|problem| {
                    let provider = mode().and_then(|(_, sso)| sso).unwrap_or_else(|| "the sign-in service".to_owned());
                    view! {
                        <div class="notice notice-bad" role="alert" data-testid="sign-in-problem" data-problem=problem.code()>
                            <h2>{problem.title()}</h2>
                            <p>{problem.explanation(&provider)}</p>
                        </div>
                    }
                })}
                {move || match mode() {
                    Some((_, Some(provider))) => view! {
                        <div class="card sign-in-card">
                            <a href=sso_href rel="external" class="button sso-button" data-testid="sso-sign-in">
                                {if problem().is_some() { format!("Try again with {provider}") } else { format!("Sign in with {provider}") }}
                            </a>
                            <p class="hint">"You will be sent to your company's sign-in page and brought back here."</p>
                        </div>
                    }.into_any(),
                    Some((false, None)) => view! {
                        <div class="notice notice-info">
                            <p>"No way to sign in is configured on this server. Its admins must set up single sign-on ([oidc] in the configuration); the development login exists only in development mode."</p>
                        </div>
                    }.into_any(),
                    _ => view! { <DevLoginForm next=next() /> }.into_any(),
                }}
            </Transition>
        </div>
    }
}

/// The development login form hydrates on its own (an island); it posts without JavaScript too.
#[cfg_attr(
    not(any(feature = "admin-bundle", feature = "inventory-bundle")),
    island
)]
#[cfg_attr(any(feature = "admin-bundle", feature = "inventory-bundle"), component)]
fn DevLoginForm(next: String) -> impl IntoView {
    let login = ServerAction::<DevLogin>::new();
    let error = Signal::derive(move || login.value().get().and_then(Result::err));
    {
        let next = next.clone();
        Effect::new(move |_| {
            if let Some(Ok(())) = login.value().get() {
                // A new person: load everything afresh for them.
                browser::go(&next);
            }
        });
    }
    view! {
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
    }
}

/// After signing out (here, and at the identity provider when there is one).
#[component]
pub fn SignedOutPage() -> impl IntoView {
    let session = use_session().0;
    let provider = move || session.get().and_then(Result::ok).and_then(|s| s.sso_name);
    view! {
        <Title text="Signed out" />
        <div class="narrow">
            <h1>"You are signed out"</h1>
            <div class="card">
                <p>
                    <Transition fallback=|| ()>
                        {move || match provider() {
                            Some(name) => format!("You signed out of Loaner, and {name} was asked to sign you out too. Close the browser if others use this computer."),
                            None => "You signed out of Loaner. Close the browser if others use this computer.".to_owned(),
                        }}
                    </Transition>
                </p>
                <p><a href="/login" class="button">"Sign in again"</a></p>
            </div>
        </div>
    }
}
