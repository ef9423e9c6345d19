//! Admins: every loan with its borrower and state.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::admin_list_loans;
use crate::components::loan_table::LoanTable;
use crate::components::notice::ErrorNotice;

#[component]
pub fn AdminLoansPage() -> impl IntoView {
    let loans = Resource::new(|| (), |_| admin_list_loans());
    view! {
        <Title text="All loans" />
        <div class="page-head">
            <div>
                <h1>"All loans"</h1>
                <p class="lead">"Every loan, newest first."</p>
            </div>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || loans.get().map(|result| match result {
                Ok(loans) if loans.is_empty() => view! {
                    <div class="notice notice-info"><p>"No loans yet."</p></div>
                }.into_any(),
                Ok(loans) => view! { <LoanTable loans show_borrower=true /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}
