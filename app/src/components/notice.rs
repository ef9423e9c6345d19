//! Messages in place of a page's content: errors, sign-in needed, nothing here yet.

use leptos::prelude::*;

use crate::components::browser::current_path;
use crate::error::AppError;

/// Shows an error the way a person can act on it.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorized => {
            // Back to this page after signing in.
            let href = crate::rules::paths::login_path(&current_path());
            view! {
                <div class="notice notice-info">
                    <h2>"Please sign in"</h2>
                    <p>"You need to be signed in to see this page."</p>
                    <a href=href class="button">"Sign in"</a>
                </div>
            }
            .into_any()
        }
        AppError::Forbidden => view! {
            <div class="notice notice-bad" data-testid="forbidden">
                <h2>"Not allowed"</h2>
                <p>"This page is for release-engineering admins. If you need access, ask the admin team."</p>
            </div>
        }
        .into_any(),
        AppError::Validation(errors) => view! {
            <div class="notice notice-bad" role="alert">
                <h2>"Something is not right"</h2>
                <ul>
                    {errors.into_iter().map(|e| {
                        let field = e.field.clone();
                        view! { <li data-field=field><strong>{e.field}</strong>": "{e.message}</li> }
                    }).collect_view()}
                </ul>
            </div>
        }
        .into_any(),
        other => view! {
            <div class="notice notice-bad">
                <h2>"Something is not right"</h2>
                <p>{other.to_string()}</p>
            </div>
        }
        .into_any(),
    }
}

/// The message for a form field, shown under it.
#[component]
pub fn FieldMessage(error: Signal<Option<AppError>>, field: &'static str) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| e.field_message(field))
            .map(|message| view! { <p class="field-error" data-field=field>{message}</p> })
    }
}
