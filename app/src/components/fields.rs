//! Labelled form fields with their error message, for the admin forms.

use leptos::prelude::*;

use super::notice::FieldMessage;
use crate::error::AppError;

/// A one-line text input.
#[component]
pub fn TextField(
    name: &'static str,
    label: &'static str,
    #[prop(into)] value: String,
    error: Signal<Option<AppError>>,
    #[prop(optional)] hint: Option<String>,
    #[prop(optional)] placeholder: Option<String>,
    #[prop(optional)] readonly: bool,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="text" name=name value=value placeholder=placeholder readonly=readonly />
            {hint.map(|h| view! { <small class="hint">{h}</small> })}
            <FieldMessage error field=name />
        </label>
    }
}

/// A multi-line text input.
#[component]
pub fn TextArea(
    name: &'static str,
    label: &'static str,
    #[prop(into)] value: String,
    error: Signal<Option<AppError>>,
    #[prop(optional)] hint: Option<String>,
    #[prop(default = 4)] rows: u32,
    #[prop(optional)] mono: bool,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <textarea name=name rows=rows class:mono=mono spellcheck=(!mono).to_string()>{value}</textarea>
            {hint.map(|h| view! { <small class="hint">{h}</small> })}
            <FieldMessage error field=name />
        </label>
    }
}

/// A choice among `options` (value, label).
#[component]
pub fn SelectField(
    name: &'static str,
    label: &'static str,
    #[prop(into)] value: String,
    options: Vec<(String, String)>,
    error: Signal<Option<AppError>>,
    #[prop(optional)] hint: Option<String>,
) -> impl IntoView {
    let options = options
        .into_iter()
        .map(|(v, l)| {
            let selected = v == value;
            view! { <option value=v selected=selected>{l}</option> }
        })
        .collect_view();
    view! {
        <label class="field">
            <span>{label}</span>
            <select name=name>{options}</select>
            {hint.map(|h| view! { <small class="hint">{h}</small> })}
            <FieldMessage error field=name />
        </label>
    }
}

/// A general error of a form (not tied to one field).
pub fn form_error(error: Option<AppError>) -> Option<impl IntoView> {
    error
        .filter(|e| !matches!(e, AppError::Validation(_)))
        .map(|e| view! { <p class="form-error" data-testid="form-error">{e.to_string()}</p> })
}
