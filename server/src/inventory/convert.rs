//! Small translations between the inventory file and the inventory service: problem lines with
//! their place, the service's field names as file keys, and TOML values as JSON.

use app::rules::validate;
use app::types::Step;
use toml::Spanned;

use super::file::{PoolEntry, StepEntry};
use super::locate::Source;

/// The problems found so far, as `FILE:LINE: path: message` lines.
pub struct Problems<'a> {
    source: &'a Source<'a>,
    file_name: &'a str,
    found: Vec<(usize, String)>,
}

impl<'a> Problems<'a> {
    pub fn new(source: &'a Source<'a>, file_name: &'a str) -> Self {
        Self {
            source,
            file_name,
            found: Vec::new(),
        }
    }

    /// Records a problem with the key at byte `at`.
    pub fn add(&mut self, at: usize, path: &str, message: impl AsRef<str>) {
        let line = self.source.line(at);
        let text = format!("{}:{line}: {path}: {}", self.file_name, message.as_ref());
        self.found.push((line, text));
    }

    /// Every problem in file order, or `Ok` when there was none.
    pub fn finish(mut self) -> Result<(), Vec<String>> {
        if self.found.is_empty() {
            return Ok(());
        }
        self.found.sort_by_key(|(line, _)| *line);
        Err(self.found.into_iter().map(|(_, text)| text).collect())
    }
}

/// The TOML parser's message, worded like the others.
pub fn toml_message(message: &str) -> String {
    let message = message.trim().replace("unknown field", "unknown key");
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "The file is not valid TOML.".to_owned(),
    }
}

/// `a, b or c` for a list of names.
pub fn names<T: std::fmt::Display>(all: &[T]) -> String {
    let names: Vec<String> = all.iter().map(ToString::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// The file's key under `[pool.policy]` for a field the policy check names.
pub fn policy_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "approval_mode" => "approval",
        "default_duration_hours" => "default_duration_hours",
        "max_duration_hours" => "max_duration_hours",
        "extension_hours" => "extension_hours",
        "max_extensions" => "max_extensions",
        "max_total_hours" => "max_total_hours",
        "bug_required" => "bug_required",
        "grace_period_minutes" => "grace_period_minutes",
        // A pool's own cap is the policy's per-pool cap.
        "max_loans_per_user" | "max_loans_per_user_in_pool" => "max_loans_per_user",
        "allowed_groups" => "allowed_groups",
        _ => return None,
    })
}

/// Where a policy key is: the key itself, else the `[pool.policy]` table (the value at fault
/// may be the site's default, which the file does not show).
pub fn policy_at(entry: &PoolEntry, key: &str) -> Option<usize> {
    fn start<T>(value: &Option<Spanned<T>>) -> Option<usize> {
        value.as_ref().map(|v| v.span().start)
    }
    let policy = entry.policy.as_ref()?;
    let p = policy.get_ref();
    let at = match key {
        "approval" => start(&p.approval),
        "default_duration_hours" => start(&p.default_duration_hours),
        "max_duration_hours" => start(&p.max_duration_hours),
        "extension_hours" => start(&p.extension_hours),
        "max_extensions" => start(&p.max_extensions),
        "max_total_hours" => start(&p.max_total_hours),
        "bug_required" => start(&p.bug_required),
        "grace_period_minutes" => start(&p.grace_period_minutes),
        "max_loans_per_user" => start(&p.max_loans_per_user),
        "allowed_groups" => start(&p.allowed_groups),
        _ => None,
    };
    Some(at.unwrap_or(policy.span().start))
}

/// The step the step-list check refused (it reports the first bad one): the path of its
/// entry and its header line. `entries` and `steps` are the same list, as written and as parsed.
pub fn step_field(
    list: &str,
    entries: &[Spanned<StepEntry>],
    steps: &[Step],
    otherwise: usize,
) -> (String, usize) {
    let bad = (0..steps.len()).find(|&i| validate::steps(&steps[..=i]).is_err());
    match bad.and_then(|i| entries.get(i).map(|e| (i, e))) {
        Some((i, entry)) => (format!("{list}[{}]", i + 1), entry.span().start),
        None => (list.to_owned(), otherwise),
    }
}

/// Driver settings as the JSON object the machine stores.
pub fn json_table(table: &toml::Table) -> Result<serde_json::Value, String> {
    table
        .iter()
        .map(|(key, value)| Ok((key.clone(), json(value)?)))
        .collect::<Result<serde_json::Map<_, _>, String>>()
        .map(serde_json::Value::Object)
}

fn json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as Json;
    Ok(match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(n) => Json::from(*n),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| format!("{f} cannot be stored; use a finite number."))?,
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(json).collect::<Result<_, _>>()?),
        toml::Value::Table(table) => json_table(table)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_a_list() {
        assert_eq!(names(&["a", "b", "c"]), "a, b or c");
        assert_eq!(names(&["a"]), "a");
    }

    #[test]
    fn toml_values_become_json() {
        let table: toml::Table =
            toml::from_str("env = { BMC = \"bmc-01\", PORT = 623 }\nflags = [true, 1.5]").unwrap();
        assert_eq!(
            json_table(&table).unwrap(),
            serde_json::json!({"env": {"BMC": "bmc-01", "PORT": 623}, "flags": [true, 1.5]})
        );
        let bad: toml::Table = toml::from_str("x = nan").unwrap();
        assert!(json_table(&bad).is_err());
    }

    #[test]
    fn parser_messages_are_sentences() {
        assert_eq!(
            toml_message("unknown field `nmae`, expected `name`"),
            "Unknown key `nmae`, expected `name`"
        );
    }
}
