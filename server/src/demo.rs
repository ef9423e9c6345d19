//! The demo inventory of the zero-configuration mode: five pools and fifteen machines whose
//! steps are small scripts in `server/demo/` that print what a real site's scripts would do.
//! Seeded once, into an empty private database only.

use std::path::{Path, PathBuf};

use anyhow::Context;
use app::server::commands::DriverSetup;
use app::server::inventory::{self, PoolSpec};
use app::server::models::NewMachine;
use app::server::policies;
use app::server::schema::{machines, pools};
use app::types::{Action, ApprovalMode, DriverKind, PolicyOverrides, SiteDefaults, Step};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

/// The folder with the demo scripts: `server/demo` of the checkout we run from. In development
/// mode it is the default `commands_dir`, so the demo's steps name their scripts relative to it.
pub fn scripts_dir() -> PathBuf {
    let from_cwd = Path::new("server/demo");
    if from_cwd.join("reimage.sh").exists() {
        if let Ok(path) = from_cwd.canonicalize() {
            return path;
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")
}

fn step(name: &str, action: Action, script: &str) -> Step {
    Step {
        name: name.to_owned(),
        action,
        driver: DriverKind::Command,
        command: Some(script.to_owned()),
        timeout_secs: Some(120),
        instructions: None,
    }
}

struct DemoPool {
    slug: &'static str,
    /// A step an admin does by hand after power-on, if any (name, instructions).
    manual_step: Option<(&'static str, &'static str)>,
    approval: ApprovalMode,
    /// Hours per extension, extensions allowed, longest total.
    extensions: (i32, i32, i32),
    grace_minutes: i32,
    name: &'static str,
    platform: &'static str,
    description: &'static str,
    image: (&'static str, &'static str),
    login_user: &'static str,
    durations: (i32, i32),
    bug_required: bool,
    hosts: &'static [&'static str],
}

const DEMO: &[DemoPool] = &[
    DemoPool {
        slug: "debian12-build",
        manual_step: None,
        approval: ApprovalMode::Automatic,
        extensions: (24, 3, 336),
        grace_minutes: 0,
        name: "Debian 12 build machine",
        platform: "Linux x86_64",
        description: "16 cores, 64 GB RAM, 1 TB NVMe. The same image as the CI builders, with the toolchains preinstalled: reproduce a build failure exactly as CI saw it.",
        image: ("debian-12-build", "2026.11.3"),
        login_user: "builder",
        durations: (24, 168),
        bug_required: false,
        hosts: &["deb12-build-01", "deb12-build-02", "deb12-build-03", "deb12-build-04", "deb12-build-05"],
    },
    DemoPool {
        slug: "win11-test",
        manual_step: None,
        approval: ApprovalMode::Automatic,
        extensions: (8, 2, 72),
        grace_minutes: 0,
        name: "Windows 11 test machine",
        platform: "Windows x86_64",
        description: "Physical test machine from the Talos pool (8 cores, 32 GB, Intel UHD 770). Use it to chase intermittent test failures; a bug reference is required.",
        image: ("win11-23h2-test", "2026.11.1"),
        login_user: "tester",
        durations: (8, 72),
        bug_required: true,
        hosts: &["win11-test-01", "win11-test-02", "win11-test-03", "win11-test-04"],
    },
    DemoPool {
        slug: "macos14-arm64",
        manual_step: None,
        approval: ApprovalMode::Automatic,
        extensions: (24, 2, 120),
        grace_minutes: 240,
        name: "macOS 14 arm64 build machine",
        platform: "macOS arm64",
        description: "Mac mini M2 Pro, 32 GB, Xcode 16.2. Signing keys are removed before you get it; the machine is wiped and re-imaged when you return it.",
        image: ("macos-14-xcode-16", "14.7.1-16.2"),
        login_user: "builder",
        durations: (24, 72),
        bug_required: false,
        hosts: &["mac14-arm-01", "mac14-arm-02", "mac14-arm-03"],
    },
    DemoPool {
        slug: "gpu-perf",
        manual_step: None,
        approval: ApprovalMode::Manual,
        extensions: (4, 1, 24),
        grace_minutes: 0,
        name: "Linux GPU performance box",
        platform: "Linux x86_64 + NVIDIA L4",
        description: "The one machine with the **performance-test GPU**. Short loans only, so others get their turn; an admin approves each request.",
        image: ("ubuntu-24.04-cuda", "12.6-2026.10"),
        login_user: "perf",
        durations: (4, 24),
        bug_required: true,
        hosts: &["gpu-perf-01"],
    },
    DemoPool {
        slug: "rpi5-lab",
        manual_step: Some((
            "Connect the serial console",
            "Plug the board's UART adapter into port 3 of the console server and check that the boot prompt appears.",
        )),
        approval: ApprovalMode::Automatic,
        name: "Raspberry Pi 5 lab board",
        platform: "Linux aarch64",
        description: "A bare board on the lab bench with a serial console. One step is done **by hand**: an admin connects the console, so expect a short wait.",
        image: ("raspios-bookworm-arm64", "2026.10.2"),
        login_user: "pi",
        durations: (8, 48),
        bug_required: false,
        extensions: (8, 2, 72),
        grace_minutes: 0,
        hosts: &["rpi5-lab-01", "rpi5-lab-02"],
    },
];

/// `value` when it differs from the site's `default`: a demo pool sets only what is its own and
/// inherits the rest, as a site's pools would.
fn own<T: PartialEq>(value: T, default: T) -> Option<T> {
    (value != default).then_some(value)
}

fn provision_steps(demo: &DemoPool) -> Vec<Step> {
    let mut steps = vec![
        step("Power on", Action::PowerOn, "power_on.sh"),
        step(
            &format!("Re-image to {}@{}", demo.image.0, demo.image.1),
            Action::Reimage,
            "reimage.sh",
        ),
        step(
            "Install your SSH key",
            Action::GrantAccess,
            "grant_access.sh",
        ),
    ];
    if let Some((name, instructions)) = demo.manual_step {
        steps.insert(
            1,
            Step {
                name: name.to_owned(),
                action: Action::PowerOn,
                driver: DriverKind::Manual,
                command: None,
                timeout_secs: None,
                instructions: Some(instructions.to_owned()),
            },
        );
    }
    steps
}

fn reclaim_steps() -> Vec<Step> {
    vec![
        step("Revoke access", Action::RevokeAccess, "revoke_access.sh"),
        step("Wipe and re-image", Action::Reimage, "reimage.sh"),
        step("Health check", Action::Status, "health_check.sh"),
    ]
}

fn pool_spec(demo: &DemoPool, site: &SiteDefaults) -> PoolSpec {
    PoolSpec {
        slug: demo.slug.to_owned(),
        name: demo.name.to_owned(),
        description: demo.description.to_owned(),
        platform: demo.platform.to_owned(),
        image_name: demo.image.0.to_owned(),
        image_version: demo.image.1.to_owned(),
        login_user: demo.login_user.to_owned(),
        provision_steps: provision_steps(demo),
        reclaim_steps: reclaim_steps(),
        policy: PolicyOverrides {
            approval_mode: own(demo.approval, site.approval_mode),
            default_duration_hours: own(demo.durations.0, site.default_duration_hours),
            max_duration_hours: own(demo.durations.1, site.max_duration_hours),
            extension_hours: own(demo.extensions.0, site.extension_hours),
            max_extensions: own(demo.extensions.1, site.max_extensions),
            max_total_hours: own(demo.extensions.2, site.max_total_hours),
            bug_required: own(demo.bug_required, site.bug_required),
            grace_period_minutes: own(demo.grace_minutes, site.grace_period_minutes),
            max_loans_per_user: None,
            allowed_groups: None,
        },
        driver_settings: pool_drivers(demo.slug),
    }
}

/// Each driver kind on at least one demo pool, as a site would configure it (the machines do not
/// exist, so the machine page's actions report that the BMC, PDU or cloud does not answer).
/// The demo's loans still run on the scripts of `server/demo`; docs/drivers.md shows the steps a
/// real site uses instead.
fn pool_drivers(slug: &str) -> serde_json::Value {
    // A reference to where the step scripts find the BMC credentials, never the secret.
    let env = json!({"SITE_IPMI_CREDENTIALS": "vault:kv/lab/ipmi"});
    match slug {
        "gpu-perf" => json!({
            "env": env,
            "ipmi": {"credentials": "demo-bmc", "cipher_suite": 3},
            "snmp_pdu": {"host": "pdu-r4.lab.loaner.test", "credentials": "demo-pdu"},
            "ssh": {"credentials": "demo-ssh", "power_credentials": "demo-ssh-power"},
        }),
        "debian12-build" => json!({
            "env": env,
            "ssh": {"credentials": "demo-ssh", "power_credentials": "demo-ssh-power"},
            "ipmi": {"credentials": "demo-bmc"},
        }),
        "win11-test" => json!({
            "env": env,
            "aws_ec2": {
                "endpoint": "https://ec2.eu-west-1.amazonaws.com/", "region": "eu-west-1",
                "image_id": "ami-0a1b2c3d4e5f60718", "instance_type": "m6i.large",
                "credentials": "demo-cloud",
            },
        }),
        _ => json!({"env": env}),
    }
}

fn machine_drivers(slug: &str, host: &str, n: usize) -> serde_json::Value {
    let bmc = format!("bmc-{host}.lab.loaner.test");
    match slug {
        "gpu-perf" => {
            json!({"env": {"SITE_BMC_HOST": bmc}, "ipmi": {"host": bmc}, "snmp_pdu": {"outlet": n}})
        }
        "debian12-build" => json!({"env": {"SITE_BMC_HOST": bmc}, "ipmi": {"host": bmc}}),
        "win11-test" => json!({"aws_ec2": {"instance_id": format!("i-0demo{n:012}")}}),
        _ => json!({"env": {"SITE_BMC_HOST": bmc}}),
    }
}

/// The secrets file of the zero-configuration mode (`{data_dir}/demo-secrets.toml`, mode 600):
/// placeholder values for the demo's credentials.
pub fn demo_secrets(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("demo-secrets.toml");
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let text = "# Placeholder credentials of Loaner's demo inventory. A real site's secrets file looks\n\
                # the same (see docs/drivers.md); keep it readable by Loaner's user only.\n\
                [demo-bmc]\nusername = \"admin\"\npassword = \"demo-placeholder\"\nhosts = [\"*.lab.loaner.test\"]\n\n\
                [demo-pdu]\ncommunity = \"demo-placeholder\"\nhosts = [\"*.lab.loaner.test\"]\n\n\
                [demo-cloud]\naccess_key_id = \"AKIDDEMO\"\nsecret_access_key = \"demo-placeholder\"\nhosts = [\"ec2.eu-west-1.amazonaws.com\"]\n\n\
                [demo-ssh]\nprivate_key = \"demo-placeholder\"\nhosts = [\"*.pool.loaner.test\"]\n\n\
                [demo-ssh-power]\nprivate_key = \"demo-placeholder\"\nhosts = [\"*.pool.loaner.test\"]\n";
    // Loaner's own placeholders: written again when this version's differ (never a site's file).
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(path);
    }
    // Written aside and renamed into place: servers starting at once never see half a file.
    let aside = data_dir.join(format!(".demo-secrets-{}.toml", rand::random::<u64>()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&aside)
        .with_context(|| format!("cannot write {}", aside.display()))?;
    file.write_all(text.as_bytes())?;
    std::fs::rename(&aside, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Seeds the demo inventory unless the database already has pools. Returns whether it did.
/// The demo's steps must resolve in `commands` (the demo scripts folder, by default).
pub async fn seed_if_empty(
    conn: &mut AsyncPgConnection,
    commands: &DriverSetup,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    conn.transaction(async |conn| {
        let existing: i64 = pools::table.count().get_result(conn).await?;
        if existing > 0 {
            return Ok(false);
        }
        let site = policies::site_defaults(conn).await?;
        for demo in DEMO {
            let spec = inventory::check_pool(&pool_spec(demo, &site), &site, commands).map_err(
                |fields| anyhow::anyhow!("demo pool {} is invalid: {fields:?}", demo.slug),
            )?;
            let pool_id = inventory::write_pool(conn, None, &spec, now).await?;
            let image = format!("{}@{}", demo.image.0, demo.image.1);
            for (n, host) in demo.hosts.iter().enumerate() {
                diesel::insert_into(machines::table)
                    .values(NewMachine {
                        fqdn: format!("{host}.pool.loaner.test"),
                        pool_id,
                        driver_settings: machine_drivers(demo.slug, host, n + 1),
                        notes: String::new(),
                        current_image: Some(image.clone()),
                    })
                    .execute(conn)
                    .await?;
            }
        }
        Ok::<_, anyhow::Error>(true)
    })
    .await
    .context("seeding the demo inventory failed")
}
