//! The borrower's loans, current and past, newest first.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::loans::my_loans;
use crate::components::loan_table::StaticLoanTable;
use crate::components::notice::ErrorNotice;

#[component]
pub fn MyLoansPage() -> impl IntoView {
    let loans = Resource::new(|| (), |_| my_loans());
    view! {
        <Title text="My loans" />
        <div class="page-head">
            <div>
                <h1>"My loans"</h1>
                <p class="lead">"Machines you have borrowed, newest first."</p>
            </div>
            <a href="/" class="button">"Borrow another"</a>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || loans.get().map(|result| match result {
                Ok(loans) if loans.is_empty() => view! {
                    <div class="notice notice-info">
                        <p>"You have not borrowed anything yet. "<a href="/">"Pick a machine type"</a>" to start."</p>
                    </div>
                }.into_any(),
                Ok(loans) => view! { <StaticLoanTable loans /> }.into_any(),
                Err(error) => view! { <ErrorNotice error /> }.into_any(),
            })}
        </Transition>
    }
}
