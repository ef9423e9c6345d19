//! The audit log: every admin action and every state change, newest first, filtered by actor,
//! target, kind and dates, and exported as CSV.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::admin::search_audit;
use crate::components::notice::ErrorNotice;
use crate::format;
use crate::types::AuditPage;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let field = move |name: &str| query.read().get(name).unwrap_or_default();
    let filter = move || {
        (
            field("actor"),
            field("target"),
            field("kind"),
            field("from"),
            field("to"),
        )
    };
    let log = Resource::new(
        move || (filter(), field("before")),
        |((actor, target, kind, from, to), before)| {
            search_audit(actor, target, kind, from, to, Some(before))
        },
    );
    // The filter as a query string, for the page links.
    let filter_query = move || {
        let (actor, target, kind, from, to) = filter();
        format!(
            "actor={}&target={}&kind={}&from={}&to={}",
            format::query_value(&actor),
            format::query_value(&target),
            format::query_value(&kind),
            format::query_value(&from),
            format::query_value(&to)
        )
    };
    let csv = move || format!("/admin/audit.csv?{}", filter_query());
    view! {
        <Title text="Audit log" />
        <div class="page-head">
            <div>
                <h1>"Audit log"</h1>
                <p class="lead">"Every admin action and every state change, by anyone. Nobody can change or delete it."</p>
            </div>
            <a href=csv class="button button-secondary" data-testid="export-csv" download>"Export CSV"</a>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || log.get().map(|result| match result {
                Ok(AuditPage { rows, kinds, older }) => {
                    let filters = view! {
        <form class="card filters" method="get" action="/admin/audit">
                    <label class="field"><span>"Actor"</span><input type="text" name="actor" value=field("actor") placeholder="name or scheduler" /></label>
                    <label class="field"><span>"Target"</span><input type="text" name="target" value=field("target") placeholder="host, pool or #id" /></label>
                    <label class="field"><span>"Kind"</span>
                        <select name="kind">
                            <option value="">"any"</option>
                            {kinds.into_iter().map(|k| {
                                let selected = k == field("kind");
                                view! { <option value=k.clone() selected=selected>{k.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="field"><span>"From"</span><input type="date" name="from" value=field("from") /></label>
                    <label class="field"><span>"To"</span><input type="date" name="to" value=field("to") /></label>
                    <button type="submit" class="button">"Filter"</button>
                </form>
                            };
                    let paged = !field("before").is_empty();
                    let pager = view! {
                        <nav class="pager" aria-label="Pages of the audit log">
                            {paged.then(|| view! {
                                <a class="button button-secondary" href=format!("/admin/audit?{}", filter_query())>"← Newest entries"</a>
                            })}
                            {older.map(|id| view! {
                                <a class="button button-secondary" data-testid="older-entries" href=format!("/admin/audit?{}&before={id}", filter_query())>"Older entries →"</a>
                            })}
                        </nav>
                    };
                    view! { {filters} <AuditTable rows /> {pager} }.into_any()
                }
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AuditTable(rows: Vec<crate::types::AuditRow>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <div class="notice notice-info"><p>"Nothing matches."</p></div> }
            .into_any();
    }
    view! {
                    <p class="hint">{format!("{} entr{} on this page, newest first (100 to a page; the CSV has every match)", rows.len(), if rows.len() == 1 { "y" } else { "ies" })}</p>
                    <div class="table-wrap">
                        <table class="table audit-table" data-testid="audit">
                            <thead><tr><th>"Time"</th><th>"Actor"</th><th>"Kind"</th><th>"Target"</th><th>"Before"</th><th>"After"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|r| view! {
                                    <tr data-kind=r.kind.clone()>
                                        <td class="nowrap">{format::when(r.at)}</td>
                                        <td>{r.actor.clone()}</td>
                                        <td><code>{r.kind.clone()}</code></td>
                                        <td>{target_label(&r.target_type, &r.target)}</td>
                                        <td class="json">{r.before.clone()}</td>
                                        <td class="json">{r.after.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
    }
    .into_any()
}

/// "machine deb12-build-01…", "loan #12", or just "site policy": the table's noun, then the target.
fn target_label(target_type: &str, target: &str) -> String {
    if target_type == "site_policy" {
        return target.to_owned();
    }
    format!(
        "{} {target}",
        target_type.trim_end_matches('s').replace('_', " ")
    )
}

#[cfg(test)]
mod tests {
    use super::target_label;

    #[test]
    fn targets_read_as_a_noun_and_a_name() {
        assert_eq!(target_label("machines", "a.example"), "machine a.example");
        assert_eq!(target_label("admin_tasks", "#4"), "admin task #4");
        assert_eq!(target_label("site_policy", "site policy"), "site policy");
    }
}
