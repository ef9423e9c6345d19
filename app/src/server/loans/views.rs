//! Loans as pages show them: the tables and the loan page with its live timeline.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::LoanError;
use crate::rules::{lifecycle, policy};
use crate::server::models::{Loan, LoanEvent, Pool, User};
use crate::server::policies;
use crate::server::schema::{admin_tasks, loan_events, loans, machines, pools, users};
use crate::types::{
    ConnectionInfo, ExtensionOffer, LoanDetail, LoanEventView, LoanState, LoanSummary, Phase,
    Policy, Progress,
};

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

/// Loads a loan with its pool, machine name and borrower.
pub async fn context(conn: &mut AsyncPgConnection, loan_id: i64) -> Result<LoanContext, LoanError> {
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
        state: loan.state(),
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

/// Loans joined with what their rows show, newest first, optionally of one borrower.
async fn summaries(
    conn: &mut AsyncPgConnection,
    user_id: Option<i64>,
    loan_id: Option<i64>,
) -> Result<Vec<(LoanSummary, Loan)>, LoanError> {
    let mut query = loans::table
        .inner_join(pools::table)
        .left_join(machines::table)
        .inner_join(users::table.on(users::id.eq(loans::user_id)))
        .select((
            Loan::as_select(),
            pools::slug,
            pools::name,
            machines::fqdn.nullable(),
            users::name,
            users::email,
        ))
        .order((loans::requested_at.desc(), loans::id.desc()))
        .into_boxed();
    if let Some(user_id) = user_id {
        query = query.filter(loans::user_id.eq(user_id));
    }
    if let Some(loan_id) = loan_id {
        query = query.filter(loans::id.eq(loan_id));
    }
    let rows: Vec<SummaryRow> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let loan = row.0.clone();
            (summary(row), loan)
        })
        .collect())
}

/// The borrower's loans, newest first.
pub async fn list_for_user(
    conn: &mut AsyncPgConnection,
    user: &User,
) -> Result<Vec<LoanSummary>, LoanError> {
    list_for_user_id(conn, user.id).await
}

/// One person's loans, newest first.
pub async fn list_for_user_id(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<LoanSummary>, LoanError> {
    Ok(summaries(conn, Some(user_id), None)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// Every loan, newest first (admins).
pub async fn list_all(conn: &mut AsyncPgConnection) -> Result<Vec<LoanSummary>, LoanError> {
    Ok(summaries(conn, None, None)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// Everything the loan page shows, for its borrower or an admin.
pub async fn detail(
    conn: &mut AsyncPgConnection,
    viewer: &User,
    loan_id: i64,
) -> Result<LoanDetail, LoanError> {
    let (summary, loan) = summaries(conn, None, Some(loan_id))
        .await?
        .pop()
        .ok_or(LoanError::NotFound(loan_id))?;
    if loan.user_id != viewer.id && !viewer.is_admin() {
        return Err(LoanError::NotYours);
    }
    let pool: Pool = pools::table
        .find(loan.pool_id)
        .select(Pool::as_select())
        .first(conn)
        .await?;
    let login_user = pool.login_user.clone();
    let policy = policies::effective(conn, &pool).await?;
    let rows: Vec<(LoanEvent, Option<String>)> = loan_events::table
        .left_join(users::table)
        .filter(loan_events::loan_id.eq(loan_id))
        .order(loan_events::id.asc())
        .select((LoanEvent::as_select(), users::name.nullable()))
        .load(conn)
        .await?;
    let state = loan.state();
    let progress = progress(state, &rows);
    let events = fold_steps(rows);
    let connection = match (state, &summary.machine_fqdn) {
        (LoanState::Ready, Some(fqdn)) => Some(ConnectionInfo {
            ssh_command: format!("ssh {login_user}@{fqdn}"),
            fqdn: fqdn.clone(),
            user: login_user,
        }),
        _ => None,
    };
    let extension = (state == LoanState::Ready).then(|| ExtensionOffer {
        hours: policy.extension_hours,
        used: loan.extensions_used,
        max: policy.max_extensions,
        refusal: loan.expires_at.and_then(|expires| {
            policy::may_extend(
                loan.duration_hours,
                loan.extensions_used,
                expires,
                policy.extension(),
            )
            .err()
            .map(|e| e.to_string())
        }),
    });
    let grace_until = match (state, loan.expired_at) {
        (LoanState::Expired, Some(at)) => {
            Some(at + chrono::Duration::minutes(i64::from(policy.grace_period_minutes)))
        }
        _ => None,
    };
    let queue_position = match state {
        LoanState::Waiting => Some(crate::server::waiting::position(conn, &loan).await?),
        _ => None,
    };
    let waiting_for_admin: Option<String> = admin_tasks::table
        .filter(admin_tasks::loan_id.eq(loan.id))
        .filter(admin_tasks::state.eq("open"))
        .select(admin_tasks::step_name)
        .first(conn)
        .await
        .optional()?;
    Ok(LoanDetail {
        extension,
        grace_until,
        queue_position,
        waiting_for_admin,
        decision_reason: loan.decision_reason.clone(),
        duration_hours: loan.duration_hours,
        ssh_key_comment: key_comment(&loan.ssh_public_key),
        events,
        connection,
        progress,
        can_cancel: lifecycle::can_cancel(state),
        can_return: lifecycle::can_return(state),
        summary,
    })
}

/// The timeline as people read it: a step that finished shows once, with how long it took,
/// instead of a "started" entry followed by a "done" one.
fn fold_steps(rows: Vec<(LoanEvent, Option<String>)>) -> Vec<LoanEventView> {
    let key = |event: &LoanEvent| {
        let d = &event.details;
        (
            d["phase"].as_str().map(str::to_owned),
            d["step"].as_u64(),
            d["attempt"].as_i64(),
        )
    };
    let mut started_at = std::collections::HashMap::new();
    let mut finished = std::collections::HashSet::new();
    for (event, _) in &rows {
        match event.kind.as_str() {
            "step_started" => {
                started_at.insert(key(event), event.at);
            }
            "step_succeeded" | "step_failed" => {
                finished.insert(key(event));
            }
            _ => {}
        }
    }
    rows.into_iter()
        .filter(|(event, _)| event.kind != "step_started" || !finished.contains(&key(event)))
        .map(|(event, actor)| {
            let started = started_at.get(&key(&event)).copied();
            let mut message = event.message;
            if matches!(event.kind.as_str(), "step_succeeded" | "step_failed") {
                if let Some(start) = started {
                    let ms = (event.at - start).num_milliseconds().max(0);
                    message = format!("{message} ({:.1} s)", ms as f64 / 1000.0);
                }
            }
            LoanEventView {
                id: event.id,
                at: event.at,
                actor,
                kind: event.kind,
                message,
                output: event.output,
            }
        })
        .collect()
}

/// The comment part of an `authorized_keys` line (`user@host`), to remind people which key.
fn key_comment(line: &str) -> String {
    line.splitn(3, ' ').nth(2).unwrap_or_default().to_owned()
}

/// How far the running step list has come, read off the timeline.
fn progress(state: LoanState, events: &[(LoanEvent, Option<String>)]) -> Option<Progress> {
    let phase = match state {
        LoanState::Provisioning => Phase::Provision,
        LoanState::Returning | LoanState::Reclaiming => Phase::Reclaim,
        LoanState::Expired => Phase::Suspend,
        _ => return None,
    };
    let mut progress = Progress {
        phase,
        done: 0,
        total: 0,
        current: None,
    };
    for (event, _) in events {
        let details = &event.details;
        if details["phase"].as_str() != Some(phase.as_str()) {
            continue;
        }
        let total = details["total"].as_u64().unwrap_or(0);
        let step = details["step"].as_u64().unwrap_or(0);
        progress.total = u32::try_from(total).unwrap_or(u32::MAX);
        match event.kind.as_str() {
            "step_started" => progress.current = details["name"].as_str().map(str::to_owned),
            "waiting_for_admin" => {
                progress.current = details["name"]
                    .as_str()
                    .map(|n| format!("waiting for an admin: {n}"))
            }
            "step_succeeded" => {
                progress.done = progress
                    .done
                    .max(u32::try_from(step + 1).unwrap_or(u32::MAX));
                progress.current = None;
            }
            _ => progress.current = None,
        }
    }
    Some(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn event(kind: &str, details: serde_json::Value) -> (LoanEvent, Option<String>) {
        (
            LoanEvent {
                id: 0,
                loan_id: 1,
                at: Utc::now(),
                actor_id: None,
                kind: kind.to_owned(),
                message: String::new(),
                output: None,
                details,
            },
            None,
        )
    }

    #[test]
    fn progress_counts_finished_steps_and_names_the_running_one() {
        let events = vec![
            event("requested", json!({})),
            event(
                "step_started",
                json!({"phase":"provision","step":0,"total":3,"name":"Power on"}),
            ),
            event(
                "step_succeeded",
                json!({"phase":"provision","step":0,"total":3,"name":"Power on"}),
            ),
            event(
                "step_started",
                json!({"phase":"provision","step":1,"total":3,"name":"Re-image"}),
            ),
        ];
        let p = progress(LoanState::Provisioning, &events).unwrap();
        assert_eq!((p.done, p.total), (1, 3));
        assert_eq!(p.current.as_deref(), Some("Re-image"));
    }

    #[test]
    fn a_finished_step_shows_once_with_its_duration() {
        let step = json!({"phase":"provision","step":0,"total":2,"name":"Power on","attempt":1});
        let mut started = event("step_started", step.clone());
        let mut done = event("step_succeeded", step);
        started.0.message = "Step 1 of 2: Power on: started".into();
        done.0.message = "Step 1 of 2: Power on: done".into();
        done.0.at = started.0.at + chrono::Duration::milliseconds(1500);
        let running = event(
            "step_started",
            json!({"phase":"provision","step":1,"total":2,"name":"Re-image","attempt":1}),
        );
        let folded = fold_steps(vec![started, done, running]);
        let kinds: Vec<&str> = folded.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["step_succeeded", "step_started"]);
        assert_eq!(folded[0].message, "Step 1 of 2: Power on: done (1.5 s)");
    }

    #[test]
    fn no_progress_outside_running_phases() {
        assert_eq!(progress(LoanState::Ready, &[]), None);
    }

    #[test]
    fn the_key_comment_is_the_third_field() {
        assert_eq!(key_comment("ssh-ed25519 AAAA ada@laptop"), "ada@laptop");
        assert_eq!(key_comment("ssh-ed25519 AAAA"), "");
    }
}
