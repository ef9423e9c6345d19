//! The waiting line of each pool: approved loans that found no free machine, first come (first
//! approved), first served. Whenever a machine of the pool becomes available, the transaction
//! that freed it hands it to the first waiting loan; a periodic sweep catches anything missed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::loans::{self, LoanError};
use super::models::Loan;
use super::schema::loans as loans_table;
use super::{machines, DbError};
use crate::types::{LoanId, LoanState, PoolId};

/// A waiting loan's place in its pool's line, from 1.
pub async fn position(conn: &AsyncPgConnection, loan: &Loan) -> Result<i64, DbError> {
    match loan.approved_at {
        Some(approved_at) => place(conn, loan.pool_id, approved_at, loan.id).await,
        None => Ok(1),
    }
}

/// The place in `pool`'s line, from 1, of the waiting loan `id` approved at `approved_at`.
pub async fn place(
    conn: &AsyncPgConnection,
    pool: PoolId,
    approved_at: DateTime<Utc>,
    id: LoanId,
) -> Result<i64, DbError> {
    let ahead: i64 = loans_table::table
        .filter(loans_table::pool_id.eq(pool))
        .filter(loans_table::state.eq(LoanState::Waiting))
        .filter(
            loans_table::approved_at
                .lt(approved_at)
                .or(loans_table::approved_at
                    .eq(approved_at)
                    .and(loans_table::id.lt(id))),
        )
        .count()
        .get_result(&mut &*conn)
        .await?;
    Ok(ahead + 1)
}

/// The place a loan approved `at` takes when it joins the end of `pool`'s line: counted before
/// it is written (as `place` would count it after).
pub async fn place_at_end(
    conn: &AsyncPgConnection,
    pool: PoolId,
    at: DateTime<Utc>,
) -> Result<i64, DbError> {
    place(conn, pool, at, LoanId(i64::MAX)).await
}

/// Hands the pool's free machines to its waiting loans, first come first served, inside the
/// caller's transaction. A free machine is claimed first, skipping machines another transaction
/// holds; then the head of the line is locked, waiting for any transaction that holds it. So two
/// workers freeing two machines at once serve the first two loans in line, no loan gets two, and
/// a transaction with no machine to give (a sweep) never holds a loan that another could serve.
/// Returns how many loans got a machine.
pub async fn fill(
    conn: &mut AsyncPgConnection,
    pool_id: PoolId,
    now: DateTime<Utc>,
) -> Result<usize, LoanError> {
    let mut served = 0;
    loop {
        let Some(machine) = machines::claim_free(conn, pool_id).await? else {
            return Ok(served);
        };
        // Without SKIP LOCKED: a locked head is being served by another transaction; once that
        // commits, PostgreSQL re-checks the row, finds it no longer waiting and moves to the next.
        let next: Option<LoanId> = loans_table::table
            .filter(loans_table::pool_id.eq(pool_id))
            .filter(loans_table::state.eq(LoanState::Waiting))
            .order((loans_table::approved_at.asc(), loans_table::id.asc()))
            .select(loans_table::id)
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(loan_id) = next else {
            return Ok(served);
        };
        loans::start_provisioning(conn, loan_id, &machine, now).await?;
        served += 1;
    }
}

/// Pools that have loans waiting.
pub async fn pools_with_waiting(conn: &mut AsyncPgConnection) -> Result<Vec<PoolId>, DbError> {
    Ok(loans_table::table
        .filter(loans_table::state.eq(LoanState::Waiting))
        .select(loans_table::pool_id)
        .distinct()
        .load(conn)
        .await?)
}
