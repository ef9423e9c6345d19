//! Admins: every loan with its borrower and state, a page of 100 at a time (newest first; the
//! "Older loans" link carries where the next page starts, so it works without JavaScript).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::admin::admin_list_loans;
use crate::components::loan_table::StaticLoanTable;
use crate::components::notice::ErrorNotice;
use crate::types::LoanId;

#[component]
pub fn AdminLoansPage() -> impl IntoView {
    let query = use_query_map();
    // `None`: the newest page; `Some(Err)`: a link that names no loan.
    let before = move || {
        query
            .read()
            .get("before")
            .filter(|b| !b.is_empty())
            .map(|b| b.parse::<LoanId>().map_err(|_| b))
    };
    let loans = Resource::new(move || before().and_then(Result::ok), admin_list_loans);
    view! {
        <Title text="All loans" />
        <div class="page-head">
            <div>
                <h1>"All loans"</h1>
                <p class="lead">"Every loan, newest first, 100 to a page."</p>
            </div>
        </div>
        {move || matches!(before(), Some(Err(_))).then(|| view! {
            <div class="notice notice-warn" role="alert">
                <p>"The page address is not valid: “before” must be a loan number. Showing the newest loans."</p>
            </div>
        })}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || loans.get().map(|result| match result {
                Ok(page) if page.loans.is_empty() => view! {
                    <div class="notice notice-info"><p>"No loans yet."</p></div>
                }.into_any(),
                Ok(page) => {
                    let older = page.older;
                    let paged = matches!(before(), Some(Ok(_)));
                    view! {
                        <StaticLoanTable loans=page.loans show_borrower=true />
                        <nav class="pager" aria-label="Pages of loans">
                            {paged.then(|| view! { <a href="/admin/loans" class="button button-secondary">"← Newest loans"</a> })}
                            {older.map(|id| view! {
                                <a href=format!("/admin/loans?before={id}") class="button button-secondary" data-testid="older-loans">"Older loans →"</a>
                            })}
                        </nav>
                    }.into_any()
                }
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}
