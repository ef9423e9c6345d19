//! The audit log. Database triggers write it (every change to loans, machines, pools, the site
//! policy, admin tasks and roles), in the transaction of the change; this module tells them who
//! acts and what time it is, and reads the log back for the admin page and its CSV export.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{AuditEntry, User};
use super::schema::audit_log;
use super::DbError;
use crate::error::FieldError;
use crate::rules::validate;
use crate::types::{AuditFilter, AuditPage, AuditRow};

/// Names the actor (a person, or the scheduler with `None`) and the time for the audit rows
/// the rest of this transaction writes.
pub async fn stamp(
    conn: &AsyncPgConnection,
    actor: Option<&User>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let actor_id = actor.map(|u| u.id.to_string()).unwrap_or_default();
    let actor_name = actor.map(|u| u.name.as_str()).unwrap_or_default();
    set_actor(conn, &actor_id, actor_name, now).await
}

/// Names an actor that is not a person (`inventory sync (inventory.toml)`) and the time for
/// the audit rows the rest of this transaction writes.
pub async fn stamp_as(
    conn: &AsyncPgConnection,
    actor_name: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    set_actor(conn, "", actor_name, now).await
}

diesel::define_sql_function! {
    /// PostgreSQL's `set_config`: a setting for the session, or only the transaction (`is_local`).
    fn set_config(setting_name: Text, new_value: Text, is_local: Bool) -> Text;
}

/// Sets what the audit triggers read. One prepared statement, kept by the connection (raw SQL
/// would be prepared afresh on every transaction: a round trip more).
async fn set_actor(
    conn: &AsyncPgConnection,
    actor_id: &str,
    actor_name: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    diesel::select((
        set_config("loaner.actor_id", actor_id, true),
        set_config("loaner.actor", actor_name, true),
        set_config("loaner.now", now.to_rfc3339(), true),
    ))
    .execute(&mut &*conn)
    .await?;
    Ok(())
}

/// Writes one audit row about a person — a sign-in, a refused one, sessions ended — with what
/// happened in `details`. The actor is whoever the transaction was stamped with.
pub async fn about_person(
    conn: &mut AsyncPgConnection,
    kind: &str,
    target_id: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), DbError> {
    diesel::sql_query("SELECT loaner_audit($1, 'users', $2, $3, NULL, $4)")
        .bind::<Text, _>(kind)
        .bind::<Text, _>(target_id)
        .bind::<Text, _>(target)
        .bind::<diesel::sql_types::Jsonb, _>(details)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes one audit row about a machine (an action asked for), with what happened in
/// `details`. The actor is whoever the transaction was stamped with.
pub async fn about_machine(
    conn: &mut AsyncPgConnection,
    kind: &str,
    id: crate::types::MachineId,
    fqdn: &str,
    details: serde_json::Value,
) -> Result<(), DbError> {
    diesel::sql_query("SELECT loaner_audit($1, 'machines', $2, $3, NULL, $4)")
        .bind::<Text, _>(kind)
        .bind::<Text, _>(id.to_string())
        .bind::<Text, _>(fqdn)
        .bind::<diesel::sql_types::Jsonb, _>(details)
        .execute(conn)
        .await?;
    Ok(())
}

/// Entries on one page of the audit log.
pub const PAGE: i64 = 100;

fn day_start(day: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Checks what the filter form sent: plain one-line text, dates like 2026-11-30.
pub fn check_filter(filter: &AuditFilter) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for (field, value) in [
        ("actor", &filter.actor),
        ("target", &filter.target),
        ("kind", &filter.kind),
        ("from", &filter.from),
        ("to", &filter.to),
    ] {
        if let Err(m) = validate::clean(value, false) {
            errors.push(FieldError::new(field, m));
        } else if value.chars().count() > 200 {
            errors.push(FieldError::new(field, "Keep this under 200 characters."));
        }
    }
    for (field, value) in [("from", &filter.from), ("to", &filter.to)] {
        if !value.trim().is_empty()
            && day_start(value).is_none()
            && validate::clean(value, false).is_ok()
        {
            errors.push(FieldError::new(field, "Use a date like 2026-11-30."));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One page of the entries matching the filter, newest first: the `PAGE` entries older than
/// entry `before` (the newest without it).
pub async fn page(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    before: Option<i64>,
) -> Result<AuditPage, DbError> {
    let mut rows = search(conn, filter, Some(PAGE + 1), before).await?;
    let older = match rows.len() as i64 > PAGE {
        true => {
            rows.truncate(PAGE as usize);
            rows.last().map(|r| r.id)
        }
        false => None,
    };
    Ok(AuditPage {
        rows,
        kinds: kinds(conn).await?,
        older,
    })
}

/// Entries matching the filter, newest first, older than entry `before` if given. `limit` caps
/// the count (`None`: all, for export).
pub async fn search(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    limit: Option<i64>,
    before: Option<i64>,
) -> Result<Vec<AuditRow>, DbError> {
    let mut query = audit_log::table
        .select(AuditEntry::as_select())
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .into_boxed();
    if !filter.actor.trim().is_empty() {
        query = query.filter(audit_log::actor.ilike(format!("%{}%", filter.actor.trim())));
    }
    if !filter.target.trim().is_empty() {
        query = query.filter(audit_log::target.ilike(format!("%{}%", filter.target.trim())));
    }
    if !filter.kind.trim().is_empty() {
        query = query.filter(audit_log::kind.like(format!("{}%", filter.kind.trim())));
    }
    if let Some(from) = day_start(&filter.from) {
        query = query.filter(audit_log::at.ge(from));
    }
    if let Some(to) = day_start(&filter.to) {
        query = query.filter(audit_log::at.lt(to + chrono::Duration::days(1)));
    }
    if let Some(before) = before {
        query = query.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(audit_log.at, audit_log.id) < (SELECT b.at, b.id FROM audit_log b WHERE b.id = ",
            )
            .bind::<diesel::sql_types::BigInt, _>(before)
            .sql(")"),
        );
    }
    let rows: Vec<AuditEntry> = query.limit(limit.unwrap_or(PAGE)).load(conn).await?;
    Ok(rows.into_iter().map(row).collect())
}

fn row(entry: AuditEntry) -> AuditRow {
    let text = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
    AuditRow {
        id: entry.id,
        at: entry.at,
        actor: entry.actor,
        kind: entry.kind,
        target_type: entry.target_type,
        target_id: entry.target_id,
        target: entry.target,
        before: text(entry.before),
        after: text(entry.after),
    }
}

/// A cell as a spreadsheet will not run it: text that starts like a formula (`=`, `+`, `-`,
/// `@`, their full-width forms, a tab or a carriage return — after any leading spaces, which
/// some spreadsheets skip) gets a leading apostrophe.
pub(crate) fn cell(text: &str) -> String {
    let starts_like_a_formula = text.starts_with(['\t', '\r'])
        || text.trim_start().starts_with([
            '=', '+', '-', '@', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
        ]);
    if starts_like_a_formula {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The entries as CSV, for spreadsheets and other tools.
pub fn to_csv(rows: &[AuditRow]) -> Result<String, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "id",
        "at",
        "actor",
        "kind",
        "target_type",
        "target_id",
        "target",
        "before",
        "after",
    ])?;
    for r in rows {
        out.write_record([
            r.id.to_string(),
            r.at.to_rfc3339(),
            cell(&r.actor),
            cell(&r.kind),
            cell(&r.target_type),
            cell(&r.target_id),
            cell(&r.target),
            cell(&r.before),
            cell(&r.after),
        ])?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The audit kinds the filter offers.
pub async fn kinds(conn: &mut AsyncPgConnection) -> Result<Vec<String>, DbError> {
    Ok(audit_log::table
        .select(audit_log::kind)
        .distinct()
        .order(audit_log::kind)
        .load(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(actor: &str) -> AuditRow {
        AuditRow {
            id: 1,
            at: chrono::Utc::now(),
            actor: actor.into(),
            kind: "users.update".into(),
            target_type: "users".into(),
            target_id: "1".into(),
            target: "-1".into(),
            before: String::new(),
            after: "{\"name\":\"x\"}".into(),
        }
    }

    #[test]
    fn cells_that_look_like_formulas_are_neutralised() {
        for evil in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "  =1+1",
            "\u{FF1D}1+1",
            "\u{FF20}SUM(A1)",
        ] {
            let csv = to_csv(&[row(evil)]).unwrap();
            let line = csv.lines().nth(1).unwrap();
            assert!(!line.contains(&format!(",{evil}")), "{evil:?}: {line}");
            assert!(line.contains("'"), "{line}");
        }
        let plain = to_csv(&[row("Dana")]).unwrap();
        assert!(plain.contains(",Dana,"), "{plain}");
    }

    #[test]
    fn filters_refuse_control_characters_and_bad_dates() {
        let bad = AuditFilter {
            actor: "x\u{0}".into(),
            from: "yesterday".into(),
            ..Default::default()
        };
        let fields: Vec<String> = check_filter(&bad)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["actor", "from"]);
        assert!(check_filter(&AuditFilter::default()).is_ok());
    }
}
