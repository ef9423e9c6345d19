//! Loans as pages show them: the tables and the loan page with its live timeline.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{authorize, LoanError};
use crate::server::models::{Loan, Pool, User};
use crate::server::policies;
use crate::server::schema::{loans, machines, pools, users};
use crate::types::{LoanId, LoanPage, LoanState, LoanSummary, MachineId, Policy, UserId};

/// A loan with everything messages and links say about it.
#[derive(Clone, Debug)]
pub struct LoanContext {
    pub loan: Loan,
    pub pool: Pool,
    /// The policy the loan's pool applies now.
    pub policy: Policy,
    pub fqdn: Option<String>,
    pub borrower: User,
}

/// Reads a loan (without locking it).
pub(super) async fn find(conn: &mut AsyncPgConnection, loan_id: LoanId) -> Result<Loan, LoanError> {
    loans::table
        .find(loan_id)
        .select(Loan::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(LoanError::NotFound(loan_id))
}

/// Loads a loan with its pool, machine name and borrower.
pub async fn context(
    conn: &mut AsyncPgConnection,
    loan_id: LoanId,
) -> Result<LoanContext, LoanError> {
    let (loan, pool, fqdn, borrower) = loans::table
        .find(loan_id)
        .inner_join(pools::table)
        .left_join(machines::table)
        .inner_join(users::table.on(users::id.eq(loans::user_id)))
        .select((
            Loan::as_select(),
            Pool::as_select(),
            machines::fqdn.nullable(),
            User::as_select(),
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or(LoanError::NotFound(loan_id))?;
    let policy = policies::effective(conn, &pool).await?;
    Ok(LoanContext {
        loan,
        pool,
        policy,
        fqdn,
        borrower,
    })
}

type SummaryRow = (Loan, String, String, Option<String>, String, String);

fn summary((loan, pool_slug, pool_name, machine_fqdn, name, email): SummaryRow) -> LoanSummary {
    LoanSummary {
        id: loan.id,
        state: loan.state,
        pool_slug,
        pool_name,
        machine_fqdn,
        borrower_name: name,
        borrower_email: email,
        reason: loan.reason,
        bug_ref: loan.bug_ref,
        requested_at: loan.requested_at,
        expires_at: loan.expires_at,
        ended_at: loan.ended_at,
    }
}

/// Which loans `summaries` reads.
#[derive(Default)]
pub(super) struct Which {
    user_id: Option<UserId>,
    loan_id: Option<LoanId>,
    machine_id: Option<MachineId>,
    /// Only loans requested before this one (a page of "All loans").
    before: Option<LoanId>,
    limit: Option<i64>,
    /// Only loans in one of these states.
    states: Option<Vec<LoanState>>,
    /// Only loans of the pool with this slug.
    pool_slug: Option<String>,
}

impl Which {
    /// The one loan `id`.
    pub(super) fn loan(id: LoanId) -> Self {
        Which {
            loan_id: Some(id),
            ..Which::default()
        }
    }
}

/// The name of a loan's machine, looked up per row: as a join, PostgreSQL hashed all 2,000
/// machines to name one person's 50 loans.
#[diesel::dsl::auto_type]
fn machine_name() -> _ {
    machines::table
        .filter(machines::id.nullable().eq(loans::machine_id))
        .select(machines::fqdn)
        .single_value()
}

/// Loans joined with what their rows show, newest first.
#[diesel::dsl::auto_type(no_type_alias)]
fn summary_query() -> _ {
    let loan: diesel::dsl::AsSelect<Loan, diesel::pg::Pg> = Loan::as_select();
    loans::table
        .inner_join(pools::table)
        .inner_join(users::table.on(users::id.eq(loans::user_id)))
        .select((
            loan,
            pools::slug,
            pools::name,
            machine_name(),
            users::name,
            users::email,
        ))
        .order((loans::requested_at.desc(), loans::id.desc()))
}

/// The loans `which` names, with what their rows show.
pub(super) async fn summaries(
    conn: &mut AsyncPgConnection,
    which: Which,
) -> Result<Vec<(LoanSummary, Loan)>, LoanError> {
    let Which {
        user_id,
        loan_id,
        machine_id,
        before,
        limit,
        states,
        pool_slug,
    } = which;
    let simple = states.is_none() && pool_slug.is_none();
    if let (Some(user_id), None, None, None, None, true) =
        (user_id, loan_id, machine_id, before, limit, simple)
    {
        // One person's loans ("My loans", on every visit): the same query each time, so
        // PostgreSQL plans it once (a boxed query is planned on every call).
        let rows: Vec<SummaryRow> = summary_query()
            .filter(loans::user_id.eq(user_id))
            .load(conn)
            .await?;
        return Ok(with_loans(rows));
    }
    let mut query = summary_query().into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(loans::user_id.eq(user_id));
    }
    if let Some(loan_id) = loan_id {
        query = query.filter(loans::id.eq(loan_id));
    }
    if let Some(machine_id) = machine_id {
        query = query.filter(loans::machine_id.eq(machine_id));
    }
    if let Some(before) = before {
        // The cursor is a loan of the same person when the list is one person's: someone else's
        // loan as a cursor finds nothing (it would tell when that loan was requested).
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(loans.requested_at, loans.id) < (SELECT b.requested_at, b.id FROM loans b WHERE b.id = ",
            )
            .bind::<diesel::sql_types::BigInt, _>(before.0)
            .sql(" AND (")
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(user_id.map(|u| u.0))
            .sql("::BIGINT IS NULL OR b.user_id = ")
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(user_id.map(|u| u.0))
            .sql("))"),
        );
    }
    if let Some(states) = states {
        query = query.filter(loans::state.eq_any(states));
    }
    if let Some(slug) = pool_slug {
        query = query.filter(pools::slug.eq(slug));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    let rows: Vec<SummaryRow> = query.load(conn).await?;
    Ok(with_loans(rows))
}

fn with_loans(rows: Vec<SummaryRow>) -> Vec<(LoanSummary, Loan)> {
    rows.into_iter()
        .map(|row| {
            let loan = row.0.clone();
            (summary(row), loan)
        })
        .collect()
}

/// The borrower's loans, newest first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: &User,
) -> Result<Vec<LoanSummary>, LoanError> {
    list_for_user_id(conn, user.id).await
}

/// One person's loans, newest first.
pub(super) async fn list_for_user_id(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
) -> Result<Vec<LoanSummary>, LoanError> {
    let which = Which {
        user_id: Some(user_id),
        ..Which::default()
    };
    Ok(summaries(conn, which)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// The latest 20 loans of a machine, newest first (its page).
pub async fn list_for_machine(
    conn: &mut AsyncPgConnection,
    machine: MachineId,
) -> Result<Vec<LoanSummary>, LoanError> {
    let which = Which {
        machine_id: Some(machine),
        limit: Some(20),
        ..Which::default()
    };
    Ok(summaries(conn, which)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// Loans on one page of "All loans".
pub const LOAN_PAGE: i64 = 100;

/// One page of every loan, newest first (admins): the `LOAN_PAGE` loans requested before loan
/// `before` (the newest with `None`). A cursor, not an offset, so a page costs the same however
/// far back it is and loans requested meanwhile never shift it.
pub async fn list_all(
    conn: &mut AsyncPgConnection,
    before: Option<LoanId>,
) -> Result<LoanPage, LoanError> {
    search(
        conn,
        LoanSearch {
            before,
            limit: LOAN_PAGE,
            ..LoanSearch::default()
        },
    )
    .await
}

/// Which loans [`search`] finds.
#[derive(Clone, Debug, Default)]
pub struct LoanSearch {
    /// One person's loans; everyone's with `None`.
    pub owner: Option<UserId>,
    pub states: Option<Vec<LoanState>>,
    pub pool_slug: Option<String>,
    /// Loans requested before this one: the cursor of the next page.
    pub before: Option<LoanId>,
    /// At most this many (1–[`LOAN_PAGE`]).
    pub limit: i64,
}

/// One page of the loans `search` names, newest first, with the cursor of the next page.
pub async fn search(
    conn: &mut AsyncPgConnection,
    search: LoanSearch,
) -> Result<LoanPage, LoanError> {
    let limit = search.limit.clamp(1, LOAN_PAGE);
    let which = Which {
        user_id: search.owner,
        before: search.before,
        limit: Some(limit + 1),
        states: search.states,
        pool_slug: search.pool_slug,
        ..Which::default()
    };
    let mut loans: Vec<LoanSummary> = summaries(conn, which)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let older = match loans.len() as i64 > limit {
        true => {
            loans.truncate(limit as usize);
            loans.last().map(|l| l.id)
        }
        false => None,
    };
    Ok(LoanPage { loans, older })
}

/// Whether `viewer` may follow loan `loan_id` live: its borrower or an admin; anyone else gets
/// `NotFound`, exactly as for a loan that does not exist.
pub async fn watchable(
    conn: &mut AsyncPgConnection,
    viewer: &User,
    loan_id: LoanId,
) -> Result<(), LoanError> {
    let loan = find(conn, loan_id).await?;
    authorize(viewer, &loan)
}
