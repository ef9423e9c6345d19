//! Checking inventory files: every problem found, in file order, with its line.

use super::*;
use crate::inventory::file::parse;

fn site() -> SiteDefaults {
    SiteDefaults {
        approval_mode: ApprovalMode::Automatic,
        default_duration_hours: 24,
        max_duration_hours: 168,
        extension_hours: 24,
        max_extensions: 2,
        max_total_hours: 336,
        bug_required: false,
        grace_period_minutes: 0,
        max_loans_per_user: None,
        max_loans_per_user_per_pool: None,
    }
}

fn check(text: &str, known: &[&str]) -> Result<Inventory, Vec<String>> {
    let known = known.iter().map(|s| s.to_string()).collect();
    let commands = DriverSetup {
        commands: app::server::commands::CommandsDir::new(&std::env::temp_dir()),
        credentials: ["bmc-lab1".to_owned()].into_iter().collect(),
    };
    parse(text, "f.toml").and_then(|parsed| parsed.check(&site(), &known, &commands))
}

const POOL: &str = "[[pool]]\nslug = \"build\"\nname = \"Build\"\nplatform = \"Linux\"\nimage = { name = \"deb\", version = \"1\" }\n";

#[test]
fn missing_values_are_reported_together_at_their_entry() {
    let errors = check("\n[[pool]]\nslug = \"build\"\n", &[]).unwrap_err();
    assert_eq!(
        errors,
        [
            "f.toml:2: pool[1].name: Enter the name.",
            "f.toml:2: pool[1].platform: Enter the platform.",
            "f.toml:2: pool[1].image.name: Enter the image name.",
            "f.toml:2: pool[1].image.version: Enter the image version.",
        ]
    );
}

#[test]
fn a_bad_step_is_named_by_its_place_in_the_list() {
    let text = format!(
        "{POOL}\n[[pool.provision]]\nname = \"On\"\naction = \"power_on\"\ncommand = \"x.sh\"\n\n[[pool.provision]]\nname = \"Call\"\naction = \"status\"\ndriver = \"manual\"\n"
    );
    assert_eq!(
        check(&text, &[]).unwrap_err(),
        ["f.toml:12: pool[1].provision[2]: Step 2 (\"Call\") is manual but has no instructions for the admin."]
    );
}

#[test]
fn an_inherited_default_above_the_pools_maximum_points_at_the_policy() {
    let text = format!("{POOL}\n[pool.policy]\nmax_duration_hours = 12\n");
    let errors = check(&text, &[]).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("f.toml:7: pool[1].policy.default_duration_hours: "),
        "{errors:?}"
    );
}

#[test]
fn duplicates_and_unknown_pools_are_refused() {
    let text = format!("{POOL}\n{POOL}\n[[machine]]\nfqdn = \"a.example.com\"\npool = \"gone\"\n");
    assert_eq!(
        check(&text, &[]).unwrap_err(),
        [
            "f.toml:8: pool[2].slug: The pool \"build\" is listed twice (first on line 2).",
            "f.toml:15: machine[1].pool: There is no pool \"gone\" in this file or in the database.",
        ]
    );
}

#[test]
fn a_valid_file_gives_normalised_specs_with_defaults() {
    let text = format!(
        "{POOL}retired = true\n\n[[machine]]\nfqdn = \"A.Example.com\"\npool = \"old\"\n[machine.driver_settings]\nenv = {{ SITE_BMC = \"bmc-1\" }}\n"
    );
    let inventory = check(&text, &["old"]).unwrap();
    assert!(inventory.pools[0].retired);
    assert_eq!(inventory.pools[0].spec.login_user, "loaner");
    assert_eq!(inventory.pools[0].spec.policy, PolicyOverrides::default());
    let machine = &inventory.machines[0];
    assert_eq!(
        (machine.fqdn.as_str(), machine.pool.as_str()),
        ("a.example.com", "old")
    );
    assert_eq!(
        machine.driver_settings,
        serde_json::json!({"env": {"SITE_BMC": "bmc-1"}})
    );
    assert_eq!(machine.notes, "");
}
