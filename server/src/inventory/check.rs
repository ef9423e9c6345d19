//! Checking a parsed inventory file and turning it into pool and machine specs. The rules are
//! the inventory service's (`check_pool`, `check_machine`); this module only adds what is
//! particular to a file (names of actions and drivers, duplicates, the pool a machine names) and
//! says where each problem is: `FILE:LINE: path: message`, all at once, in file order.

use std::collections::{HashMap, HashSet};

use app::server::commands::DriverSetup;
use app::server::inventory::{check_machine, check_pool, MachineSpec, PoolSpec};
use app::types::{Action, ApprovalMode, DriverKind, PolicyOverrides, SiteDefaults, Step};
use toml::Spanned;

use super::convert::{self, step_field, Problems};
use super::file::{Parsed, PoolEntry, StepEntry, Text};

/// A pool as the file wants it, checked, and whether the file retires it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolItem {
    pub spec: PoolSpec,
    pub retired: bool,
}

/// Everything the file lists, checked and normalised, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inventory {
    pub pools: Vec<PoolItem>,
    pub machines: Vec<MachineSpec>,
}

fn text(value: &Text, otherwise: usize) -> (String, usize) {
    value.as_ref().map_or((String::new(), otherwise), |v| {
        (v.get_ref().clone(), v.span().start)
    })
}

fn value<T: Clone>(value: &Option<Spanned<T>>) -> Option<T> {
    value.as_ref().map(|v| v.get_ref().clone())
}

impl Parsed<'_> {
    /// Checks every pool and machine against the site's defaults and the pools the database
    /// has (`known_pools`, by slug). Returns the checked inventory or every problem, in file
    /// order.
    pub fn check(
        &self,
        site: &SiteDefaults,
        known_pools: &HashSet<String>,
        commands: &DriverSetup,
    ) -> Result<Inventory, Vec<String>> {
        let mut problems = Problems::new(&self.source, self.file_name);
        let mut inventory = Inventory::default();
        let mut slugs: HashMap<String, usize> = HashMap::new();
        for (i, entry) in self.doc.pool.iter().enumerate() {
            let at = entry.span().start;
            let path = format!("pool[{}]", i + 1);
            let checked =
                self.check_pool(entry.get_ref(), at, &path, site, commands, &mut problems);
            let (slug, slug_at) = text(&entry.get_ref().slug, at);
            let slug = checked
                .as_ref()
                .map_or(slug.trim().to_owned(), |p| p.slug.clone());
            if let Some(first) = slugs.get(&slug) {
                let message = format!(
                    "The pool \"{slug}\" is listed twice (first on line {}).",
                    self.source.line(*first)
                );
                problems.add(slug_at, &format!("{path}.slug"), message);
            } else if !slug.is_empty() {
                slugs.insert(slug, slug_at);
            }
            if let Some(spec) = checked {
                let retired = entry
                    .get_ref()
                    .retired
                    .as_ref()
                    .is_some_and(|r| *r.get_ref());
                inventory.pools.push(PoolItem { spec, retired });
            }
        }
        let mut fqdns: HashMap<String, usize> = HashMap::new();
        for (i, entry) in self.doc.machine.iter().enumerate() {
            let at = entry.span().start;
            let path = format!("machine[{}]", i + 1);
            let machine = entry.get_ref();
            let (pool, pool_at) = text(&machine.pool, at);
            let pool = pool.trim().to_owned();
            if pool.is_empty() {
                problems.add(
                    pool_at,
                    &format!("{path}.pool"),
                    "Name the machine's pool by its slug.",
                );
            } else if !slugs.contains_key(&pool) && !known_pools.contains(&pool) {
                let message =
                    format!("There is no pool \"{pool}\" in this file or in the database.");
                problems.add(pool_at, &format!("{path}.pool"), message);
            }
            let (fqdn, fqdn_at) = text(&machine.fqdn, at);
            let (notes, notes_at) = text(&machine.notes, at);
            let (driver_settings, settings_at) =
                settings(&machine.driver_settings, at, &path, &mut problems);
            let spec = MachineSpec {
                fqdn,
                pool,
                driver_settings,
                notes,
            };
            match check_machine(&spec, commands) {
                Ok(spec) => {
                    if let Some(first) = fqdns.get(&spec.fqdn) {
                        let message = format!(
                            "The machine {} is listed twice (first on line {}).",
                            spec.fqdn,
                            self.source.line(*first)
                        );
                        problems.add(fqdn_at, &format!("{path}.fqdn"), message);
                    } else {
                        fqdns.insert(spec.fqdn.clone(), fqdn_at);
                        inventory.machines.push(spec);
                    }
                }
                Err(fields) => {
                    for field in fields {
                        let field_at = match field.field.as_str() {
                            "fqdn" => fqdn_at,
                            "notes" => notes_at,
                            "driver_settings" => settings_at,
                            _ => at,
                        };
                        problems.add(field_at, &format!("{path}.{}", field.field), field.message);
                    }
                }
            }
        }
        problems.finish().map(|()| inventory)
    }

    fn check_pool(
        &self,
        entry: &PoolEntry,
        at: usize,
        path: &str,
        site: &SiteDefaults,
        commands: &DriverSetup,
        problems: &mut Problems,
    ) -> Option<PoolSpec> {
        let image = entry.image.as_ref();
        let image_at = image.map_or(at, |i| i.span().start);
        let (provision, provision_ok) =
            steps(&entry.provision, &format!("{path}.provision"), problems);
        let (reclaim, reclaim_ok) = steps(&entry.reclaim, &format!("{path}.reclaim"), problems);
        let policy = self.policy(entry, path, problems);
        let (driver_settings, settings_at) = settings(&entry.driver_settings, at, path, problems);
        let spec = PoolSpec {
            slug: text(&entry.slug, at).0,
            name: text(&entry.name, at).0,
            description: text(&entry.description, at).0,
            platform: text(&entry.platform, at).0,
            image_name: image
                .map(|i| text(&i.get_ref().name, image_at).0)
                .unwrap_or_default(),
            image_version: image
                .map(|i| text(&i.get_ref().version, image_at).0)
                .unwrap_or_default(),
            login_user: entry
                .login_user
                .as_ref()
                .map_or_else(|| "loaner".to_owned(), |u| u.get_ref().clone()),
            provision_steps: provision,
            reclaim_steps: reclaim,
            policy,
            driver_settings,
        };
        let fields = match check_pool(&spec, site, commands) {
            Ok(checked) if provision_ok && reclaim_ok => return Some(checked),
            Ok(_) => return None,
            Err(fields) => fields,
        };
        for field in fields {
            let (suffix, field_at) = match field.field.as_str() {
                "image_name" => (
                    "image.name".to_owned(),
                    image.map_or(at, |i| text(&i.get_ref().name, image_at).1),
                ),
                "image_version" => (
                    "image.version".to_owned(),
                    image.map_or(at, |i| text(&i.get_ref().version, image_at).1),
                ),
                "provision_steps" if !provision_ok => continue,
                "reclaim_steps" if !reclaim_ok => continue,
                "provision_steps" => {
                    step_field("provision", &entry.provision, &spec.provision_steps, at)
                }
                "reclaim_steps" => step_field("reclaim", &entry.reclaim, &spec.reclaim_steps, at),
                name => match convert::policy_key(name) {
                    Some(key) => (
                        format!("policy.{key}"),
                        convert::policy_at(entry, key).unwrap_or(at),
                    ),
                    None => {
                        let field_at = match name {
                            "slug" => text(&entry.slug, at).1,
                            "name" => text(&entry.name, at).1,
                            "description" => text(&entry.description, at).1,
                            "platform" => text(&entry.platform, at).1,
                            "login_user" => text(&entry.login_user, at).1,
                            "driver_settings" => settings_at,
                            _ => at,
                        };
                        (name.to_owned(), field_at)
                    }
                },
            };
            problems.add(field_at, &format!("{path}.{suffix}"), field.message);
        }
        None
    }

    fn policy(&self, entry: &PoolEntry, path: &str, problems: &mut Problems) -> PolicyOverrides {
        let Some(policy) = entry.policy.as_ref().map(|p| p.get_ref()) else {
            return PolicyOverrides::default();
        };
        let approval_mode = policy.approval.as_ref().and_then(|a| {
            let mode = ApprovalMode::parse(a.get_ref().trim());
            if mode.is_none() {
                let message = format!(
                    "\"{}\" is not an approval mode; use automatic or manual.",
                    a.get_ref()
                );
                problems.add(a.span().start, &format!("{path}.policy.approval"), message);
            }
            mode
        });
        PolicyOverrides {
            approval_mode,
            default_duration_hours: value(&policy.default_duration_hours),
            max_duration_hours: value(&policy.max_duration_hours),
            extension_hours: value(&policy.extension_hours),
            max_extensions: value(&policy.max_extensions),
            max_total_hours: value(&policy.max_total_hours),
            bug_required: value(&policy.bug_required),
            grace_period_minutes: value(&policy.grace_period_minutes),
            max_loans_per_user: value(&policy.max_loans_per_user),
            allowed_groups: value(&policy.allowed_groups),
        }
    }
}

/// A `driver_settings` table as JSON, and where it is (`at` when the file has none).
fn settings(
    table: &Option<Spanned<toml::Table>>,
    at: usize,
    path: &str,
    problems: &mut Problems,
) -> (serde_json::Value, usize) {
    let Some(table) = table else {
        return (serde_json::json!({}), at);
    };
    let settings_at = table.span().start;
    let json = convert::json_table(table.get_ref()).unwrap_or_else(|message| {
        problems.add(settings_at, &format!("{path}.driver_settings"), message);
        serde_json::json!({})
    });
    (json, settings_at)
}

/// The steps of one list; `false` when an action or a driver has a name Loaner does not know
/// (reported here, so the list's own check is skipped).
fn steps(entries: &[Spanned<StepEntry>], path: &str, problems: &mut Problems) -> (Vec<Step>, bool) {
    let mut ok = true;
    let mut steps = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let step = entry.get_ref();
        let at = entry.span().start;
        let path = format!("{path}[{}]", i + 1);
        let action = match &step.action {
            None => {
                problems.add(
                    at,
                    &format!("{path}.action"),
                    format!("Choose an action: {}.", convert::names(Action::ALL)),
                );
                None
            }
            Some(a) => Action::parse(a.get_ref().trim()).or_else(|| {
                let message = format!(
                    "\"{}\" is not an action; use {}.",
                    a.get_ref(),
                    convert::names(Action::ALL)
                );
                problems.add(a.span().start, &format!("{path}.action"), message);
                None
            }),
        };
        let driver = match &step.driver {
            None => Some(DriverKind::Command),
            Some(d) => DriverKind::parse(d.get_ref().trim()).or_else(|| {
                let message = format!(
                    "\"{}\" is not a driver; use command, manual, ssh, ipmi, snmp_pdu, aws_ec2 or auto.",
                    d.get_ref()
                );
                problems.add(d.span().start, &format!("{path}.driver"), message);
                None
            }),
        };
        let (Some(action), Some(driver)) = (action, driver) else {
            ok = false;
            continue;
        };
        steps.push(Step {
            name: value(&step.name).unwrap_or_default(),
            action,
            driver,
            command: value(&step.command),
            timeout_secs: value(&step.timeout_secs),
            instructions: value(&step.instructions),
        });
    }
    (steps, ok)
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
