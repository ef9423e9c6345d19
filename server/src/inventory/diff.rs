//! What differs between a pool or machine in the database and the file's version of it, as
//! the short phrases the diff prints (`name "A" → "B"`). Empty means the row already matches:
//! the sync writes only rows with a difference, so a second run changes nothing.

use app::server::inventory::{MachineSpec, PoolSpec};
use app::server::models::{Machine, Pool};
use app::types::{Phase, PolicyOverrides, Step};

/// The longest value the diff shows in full.
const SHOWN_CHARS: usize = 40;

/// A value, shortened when long.
fn shorten(text: &str) -> String {
    if text.chars().count() > SHOWN_CHARS {
        let short: String = text.chars().take(SHOWN_CHARS - 1).collect();
        format!("{short}…")
    } else {
        text.to_owned()
    }
}

/// A text value, quoted, shortened when long.
fn quote(text: &str) -> String {
    format!("{:?}", shorten(text))
}

fn text(changes: &mut Vec<String>, key: &str, old: &str, new: &str) {
    if old != new {
        changes.push(format!("{key} {} → {}", quote(old), quote(new)));
    }
}

fn setting<T: PartialEq>(
    changes: &mut Vec<String>,
    key: &str,
    old: &Option<T>,
    new: &Option<T>,
    show: impl Fn(&T) -> String,
) {
    if old != new {
        let show = |v: &Option<T>| v.as_ref().map_or_else(|| "inherited".to_owned(), &show);
        changes.push(format!("{key} {} → {}", show(old), show(new)));
    }
}

fn steps(changes: &mut Vec<String>, list: &str, old: Option<Vec<Step>>, new: &[Step]) {
    let Some(old) = old else {
        changes.push(format!("{list} steps replaced"));
        return;
    };
    if old.len() != new.len() {
        changes.push(format!("{list} steps {} → {}", old.len(), new.len()));
    } else if let Some(i) = (0..new.len()).find(|&i| old[i] != new[i]) {
        changes.push(format!(
            "{list} step {} ({}) changed",
            i + 1,
            quote(&new[i].name)
        ));
    }
}

/// What the file changes in a pool (its retirement aside).
pub fn pool(db: &Pool, spec: &PoolSpec) -> Vec<String> {
    let mut changes = Vec::new();
    text(&mut changes, "name", &db.name, &spec.name);
    if db.description != spec.description {
        changes.push("description changed".to_owned());
    }
    text(&mut changes, "platform", &db.platform, &spec.platform);
    text(&mut changes, "image.name", &db.image_name, &spec.image_name);
    text(
        &mut changes,
        "image.version",
        &db.image_version,
        &spec.image_version,
    );
    text(&mut changes, "login_user", &db.login_user, &spec.login_user);
    steps(
        &mut changes,
        "provision",
        db.steps(Phase::Provision).ok(),
        &spec.provision_steps,
    );
    steps(
        &mut changes,
        "reclaim",
        db.steps(Phase::Reclaim).ok(),
        &spec.reclaim_steps,
    );
    policy(&mut changes, &db.overrides(), &spec.policy);
    settings(&mut changes, &db.driver_settings, &spec.driver_settings);
    changes
}

fn settings(changes: &mut Vec<String>, old: &serde_json::Value, new: &serde_json::Value) {
    if old != new {
        changes.push(format!(
            "driver_settings {} → {}",
            shorten(&old.to_string()),
            shorten(&new.to_string())
        ));
    }
}

fn policy(changes: &mut Vec<String>, old: &PolicyOverrides, new: &PolicyOverrides) {
    let number = |n: &i32| n.to_string();
    setting(
        changes,
        "approval",
        &old.approval_mode,
        &new.approval_mode,
        |m| m.as_str().to_owned(),
    );
    setting(
        changes,
        "default_duration_hours",
        &old.default_duration_hours,
        &new.default_duration_hours,
        number,
    );
    setting(
        changes,
        "max_duration_hours",
        &old.max_duration_hours,
        &new.max_duration_hours,
        number,
    );
    setting(
        changes,
        "extension_hours",
        &old.extension_hours,
        &new.extension_hours,
        number,
    );
    setting(
        changes,
        "max_extensions",
        &old.max_extensions,
        &new.max_extensions,
        number,
    );
    setting(
        changes,
        "max_total_hours",
        &old.max_total_hours,
        &new.max_total_hours,
        number,
    );
    setting(
        changes,
        "bug_required",
        &old.bug_required,
        &new.bug_required,
        bool::to_string,
    );
    setting(
        changes,
        "grace_period_minutes",
        &old.grace_period_minutes,
        &new.grace_period_minutes,
        number,
    );
    setting(
        changes,
        "max_loans_per_user",
        &old.max_loans_per_user,
        &new.max_loans_per_user,
        number,
    );
    setting(
        changes,
        "allowed_groups",
        &old.allowed_groups,
        &new.allowed_groups,
        |g| format!("[{}]", g.join(", ")),
    );
}

/// What the file changes in a machine (its state aside); `pool` is the slug of its pool now.
pub fn machine(db: &Machine, pool: &str, spec: &MachineSpec) -> Vec<String> {
    let mut changes = Vec::new();
    if pool != spec.pool {
        changes.push(format!("pool {pool} → {}", spec.pool));
    }
    text(&mut changes, "notes", &db.notes, &spec.notes);
    settings(&mut changes, &db.driver_settings, &spec.driver_settings);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_shortened_and_quoted() {
        assert_eq!(quote("rack 4"), "\"rack 4\"");
        let long = "x".repeat(100);
        let shown = quote(&long);
        assert!(shown.ends_with("…\""), "{shown}");
        assert_eq!(shown.chars().count(), SHOWN_CHARS + 2);
    }

    #[test]
    fn an_unset_policy_value_reads_as_inherited() {
        let mut changes = Vec::new();
        let old = PolicyOverrides {
            max_duration_hours: Some(72),
            ..PolicyOverrides::default()
        };
        let new = PolicyOverrides {
            default_duration_hours: Some(8),
            ..PolicyOverrides::default()
        };
        policy(&mut changes, &old, &new);
        assert_eq!(
            changes,
            [
                "default_duration_hours inherited → 8",
                "max_duration_hours 72 → inherited"
            ]
        );
    }
}
