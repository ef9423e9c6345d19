//! "API tokens": a person's tokens for scripts and the command-line client. A new token's secret
//! is shown once; the list shows name, scopes, created, last used, expires, and revokes at once.
//! Admins also see everyone's tokens and may revoke any.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::tokens::{list_api_tokens, CreateApiToken, RevokeApiToken};
use crate::components::notice::{ErrorNotice, FieldMessage};
use crate::error::AppError;
use crate::format;
use crate::types::{ApiTokenView, Scope};

#[component]
pub fn TokensPage() -> impl IntoView {
    view! {
        <Title text="API tokens" />
        <div class="page-head">
            <div>
                <h1>"API tokens"</h1>
                <p class="lead">"A token lets a script or the "<code>"loaner"</code>" command line act as you, limited to the scopes you choose. Send it as "<code>"Authorization: Bearer …"</code>" to "<code>"/api/v1"</code>"; see "<a href="/api/v1/docs">"the API's endpoints"</a>"."</p>
            </div>
        </div>
        <Tokens />
    }
}

/// The form, the secret shown once, and the lists hydrate on their own (an island). It is in
/// the admin pages' bundle, which this page loads: the people's bundle, which every first visit
/// downloads, stays without it (it would add 19 KB of brotli).
#[cfg_attr(any(feature = "ssr", feature = "admin-bundle"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "admin-bundle")), component)]
fn Tokens() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let lists = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let created = move || {
        create.value().get().map(|result| match result {
            Ok(made) => view! {
                <div class="notice notice-good" role="status" data-testid="new-token">
                    <p><strong>{format!("Token “{}” made.", made.token.name)}</strong>" Copy it now: it is shown only this once."</p>
                    <p><code class="secret" data-testid="new-token-secret">{made.secret}</code></p>
                </div>
            }
            .into_any(),
            Err(AppError::Validation(_)) => ().into_any(),
            Err(error) => view! { <ErrorNotice error /> }.into_any(),
        })
    };
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let scope_boxes = Scope::ALL
        .iter()
        .map(|scope| {
            let name = format!("scope_{}", scope.as_str().replace(':', "_"));
            view! {
                <label class="checkbox">
                    <input type="checkbox" name=name value="on" checked=*scope == Scope::LoansRead />
                    <span><code>{scope.as_str()}</code>" — "{scope.label()}</span>
                </label>
            }
        })
        .collect_view();
    view! {
        {created}
        <section class="card" aria-labelledby="new-token-title">
            <h2 id="new-token-title">"New token"</h2>
            <ActionForm action=create attr:class="form" attr:data-testid="token-form">
                <label class="field">
                    <span>"Name"</span>
                    <input name="name" type="text" maxlength="100" required placeholder="CI runner" />
                    <FieldMessage error field="name" />
                </label>
                <fieldset class="field">
                    <legend>"Scopes"</legend>
                    {scope_boxes}
                    <FieldMessage error field="scopes" />
                </fieldset>
                <label class="field">
                    <span>"Expires after (days)"</span>
                    <input name="expires_in_days" type="text" inputmode="numeric" value="90" />
                    <FieldMessage error field="expires_in_days" />
                </label>
                <button type="submit" class="button">"Make token"</button>
            </ActionForm>
        </section>
        <h2>"Your tokens"</h2>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || lists.get().map(|result| match result {
                Ok(lists) => {
                    let everyone = lists.everyone.map(|rows| view! {
                        <h2>"Everyone's tokens"</h2>
                        <p class="hint">"As an admin you see every person's tokens and may revoke any of them."</p>
                        <TokenTable rows revoke show_owner=true testid="all-tokens" />
                    });
                    view! {
                        <TokenTable rows=lists.mine revoke show_owner=false testid="my-tokens" />
                        {everyone}
                    }
                    .into_any()
                }
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn TokenTable(
    rows: Vec<ApiTokenView>,
    revoke: ServerAction<RevokeApiToken>,
    show_owner: bool,
    testid: &'static str,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="hint">"No tokens yet."</p> }.into_any();
    }
    let body = rows
        .into_iter()
        .map(|row| {
            let scopes = row
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let status = match (row.revoked_at, row.live) {
                (Some(at), _) => view! { <span class="badge badge-bad">{format!("Revoked {}", format::when(at))}</span> }.into_any(),
                (None, false) => view! { <span class="badge badge-warn">"Expired"</span> }.into_any(),
                (None, true) => {
                    let label = format!("Revoke the token “{}”", row.name);
                    view! {
                        <ActionForm action=revoke>
                            <input type="hidden" name="id" value=row.id.0 />
                            <button type="submit" class="link-button" aria-label=label>"Revoke"</button>
                        </ActionForm>
                    }
                    .into_any()
                }
            };
            let owner = show_owner.then(|| view! { <td>{row.owner.clone()}</td> });
            view! {
                <tr data-token=row.id.0>
                    {owner}
                    <td>{row.name.clone()}" "<code class="muted">{row.hint.clone()}</code></td>
                    <td><code>{scopes}</code></td>
                    <td class="nowrap">{format::when(row.created_at)}</td>
                    <td class="nowrap">{row.last_used_at.map(format::when).unwrap_or_else(|| "never".into())}</td>
                    <td class="nowrap">{format::when(row.expires_at)}</td>
                    <td>{status}</td>
                </tr>
            }
        })
        .collect_view();
    let owner_head = show_owner.then(|| view! { <th>"Owner"</th> });
    view! {
        <div class="table-wrap">
            <table class="table" data-testid=testid>
                <thead>
                    <tr>
                        {owner_head}
                        <th>"Name"</th>
                        <th>"Scopes"</th>
                        <th>"Created"</th>
                        <th>"Last used"</th>
                        <th>"Expires"</th>
                        <th>"Status"</th>
                    </tr>
                </thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
    .into_any()
}
