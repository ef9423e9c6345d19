//! The development mailbox (admins, development mode): every message Loaner sent, with its
//! links clickable, so the email flows can be tried without a mail server.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::admin::{get_mail, list_mail};
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::{MailId, MailSummary, MailView};

#[component]
pub fn MailboxPage() -> impl IntoView {
    let mail = Resource::new(|| (), |_| list_mail());
    view! {
        <Title text="Mailbox" />
        <div class="page-head">
            <div>
                <h1>"Development mailbox"</h1>
                <p class="lead">"Every message Loaner sent, newest first. Links in them work: open one and click."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || mail.get().map(|result| match result {
                Ok(rows) if rows.is_empty() => view! {
                    <div class="notice notice-info"><p>"No messages yet. Borrow a machine: the ready message lands here."</p></div>
                }.into_any(),
                Ok(rows) => view! { <MailTable rows /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn MailTable(rows: Vec<MailSummary>) -> impl IntoView {
    let body = rows
        .into_iter()
        .map(|m| {
            let status = match (&m.sent_at, &m.transport) {
                (Some(_), Some(t)) if t == "smtp" => "sent over SMTP",
                (Some(_), _) => "delivered here",
                (None, _) => "waiting to be sent",
            };
            view! {
                <tr data-mail=m.id.0 data-kind=m.kind.as_str()>
                    <td class="nowrap">{format::when(m.created_at)}</td>
                    <td>{m.recipients.join(", ")}</td>
                    <td><a href=format!("/admin/mailbox/{}", m.id)>{m.subject.clone()}</a></td>
                    <td><span class="badge badge-info">{m.kind.label()}</span></td>
                    <td class="muted">{status}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead><tr><th>"Time"</th><th>"To"</th><th>"Subject"</th><th>"Kind"</th><th>"Status"</th></tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
}

#[component]
pub fn MailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<MailId>().ok())
            .unwrap_or(MailId(0))
    };
    let mail = Resource::new(id, get_mail);
    view! {
        <Title text="Message" />
        <p class="crumbs"><a href="/admin/mailbox">"Mailbox"</a>" / message"</p>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || mail.get().map(|result| match result {
                Ok(mail) => view! { <Message mail /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Message(mail: MailView) -> impl IntoView {
    // Links in the message open in the whole window, as they would from a mail client.
    let html = format!("<base target=\"_top\">{}", mail.body_html);
    view! {
        <h1>{mail.summary.subject.clone()}</h1>
        <dl class="facts card">
            <dt>"To"</dt><dd>{mail.summary.recipients.join(", ")}</dd>
            <dt>"Sent"</dt><dd>{mail.summary.sent_at.map(format::when).unwrap_or_else(|| "not yet".into())}</dd>
            <dt>"Kind"</dt><dd>{mail.summary.kind.label()}</dd>
        </dl>
        {(mail.summary.transport.as_deref() == Some("smtp")).then(|| view! {
            <div class="notice notice-info" data-testid="links-removed">
                <p>"This message was sent over SMTP. Its one-click links were removed from this stored copy when it was sent, so a copy of the database cannot return, extend, approve or deny anything; the links in the received email still work."</p>
            </div>
        })}
        <iframe class="mail-html" title="HTML version" data-testid="mail-html" srcdoc=html
            sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"></iframe>
        <details class="card">
            <summary>"Plain-text version"</summary>
            <pre class="mail-text" data-testid="mail-text">{mail.body_text.clone()}</pre>
        </details>
    }
}
