//! The inventory file's TOML shape. Every key is optional here and every value keeps its place
//! in the file, so `check` can report all missing or wrong values at once, each with its line;
//! only syntax, unknown keys and values of the wrong type stop the parser.

use serde::Deserialize;
use toml::Spanned;

use super::convert;
use super::locate::Source;

pub(super) type Text = Option<Spanned<String>>;
pub(super) type Number = Option<Spanned<i32>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDoc {
    #[serde(default)]
    pub(super) pool: Vec<Spanned<PoolEntry>>,
    #[serde(default)]
    pub(super) machine: Vec<Spanned<MachineEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PoolEntry {
    pub(super) slug: Text,
    pub(super) name: Text,
    pub(super) description: Text,
    pub(super) platform: Text,
    pub(super) image: Option<Spanned<ImageEntry>>,
    pub(super) login_user: Text,
    pub(super) retired: Option<Spanned<bool>>,
    pub(super) policy: Option<Spanned<PolicyEntry>>,
    pub(super) driver_settings: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub(super) provision: Vec<Spanned<StepEntry>>,
    #[serde(default)]
    pub(super) reclaim: Vec<Spanned<StepEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageEntry {
    pub(super) name: Text,
    pub(super) version: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyEntry {
    pub(super) approval: Text,
    pub(super) default_duration_hours: Number,
    pub(super) max_duration_hours: Number,
    pub(super) extension_hours: Number,
    pub(super) max_extensions: Number,
    pub(super) max_total_hours: Number,
    pub(super) bug_required: Option<Spanned<bool>>,
    pub(super) grace_period_minutes: Number,
    pub(super) max_loans_per_user: Number,
    pub(super) allowed_groups: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StepEntry {
    pub(super) name: Text,
    pub(super) action: Text,
    pub(super) driver: Text,
    pub(super) command: Text,
    pub(super) timeout_secs: Option<Spanned<u32>>,
    pub(super) instructions: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MachineEntry {
    pub(super) fqdn: Text,
    pub(super) pool: Text,
    pub(super) notes: Text,
    pub(super) driver_settings: Option<Spanned<toml::Table>>,
}

/// A file that is TOML of the right shape; [`Parsed::check`] finds everything else.
pub struct Parsed<'a> {
    pub(super) source: Source<'a>,
    pub(super) file_name: &'a str,
    pub(super) doc: FileDoc,
}

/// Parses the file: syntax, unknown keys and wrong value types stop here (the TOML parser
/// reports the first one).
pub fn parse<'a>(text: &'a str, file_name: &'a str) -> Result<Parsed<'a>, Vec<String>> {
    let source = Source::new(text);
    match toml::from_str::<FileDoc>(text) {
        Ok(doc) => Ok(Parsed {
            source,
            file_name,
            doc,
        }),
        Err(err) => {
            let message = convert::toml_message(err.message());
            Err(vec![match err.span() {
                Some(span) => {
                    let line = source.line(span.start);
                    match source.path_at(span) {
                        path if path.is_empty() => format!("{file_name}:{line}: {message}"),
                        path => format!("{file_name}:{line}: {path}: {message}"),
                    }
                }
                None => format!("{file_name}: {message}"),
            }])
        }
    }
}
