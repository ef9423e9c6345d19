//! Starts (or finds running) the hardware peers the tests use — sshd, ipmi_sim, snmpd and moto,
//! through the very harness of the Rust tests (`server/tests/integration/common/peers.rs`) — and
//! writes `target/e2e-peers/inventory.toml`: a pool whose steps use IPMI and ssh only, and one
//! machine reaching those peers, for the browser tests' third Loaner (playwright.config.ts).
//! `scripts/test` stops the peers afterwards (`stop_test_providers`).

#![allow(clippy::expect_used, clippy::print_stdout)]

#[allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
#[path = "../tests/integration/common/peers.rs"]
mod peers;

#[tokio::main]
async fn main() {
    let lab = peers::Lab::shared().await;
    lab.reset(false);
    let dir = lab.dir.join("../e2e-peers");
    std::fs::create_dir_all(&dir).expect("create target/e2e-peers");
    let settings = lab.settings(20);
    let inventory = format!(
        r#"# Written by server/examples/test_peers.rs for the browser tests: real peers, no scripts.
[[pool]]
slug = "lab"
name = "Lab server (IPMI + ssh)"
platform = "Linux x86_64"
description = "A machine behind a real BMC (ipmi_sim) and sshd: power on through IPMI, your key through ssh."
image = {{ name = "lab-image", version = "1" }}
login_user = "{user}"
driver_settings = {settings}
provision = [
  {{ name = "Power on", action = "power_on", driver = "ipmi" }},
  {{ name = "Install your key", action = "grant_access", driver = "ssh" }},
]
reclaim = [
  {{ name = "Remove your key", action = "revoke_access", driver = "ssh" }},
  {{ name = "Reboot", action = "reboot", driver = "auto" }},
  {{ name = "Power off", action = "power_off", driver = "ipmi" }},
]

[[machine]]
fqdn = "lab-01.test.example"
pool = "lab"
"#,
        user = lab.user,
        settings = inline(&settings),
    );
    std::fs::write(dir.join("inventory.toml"), inventory).expect("write the inventory");
    println!(
        "{}",
        serde_json::json!({
            "ssh_port": lab.ssh_port,
            "ipmi_port": lab.ipmi_port,
            "user": lab.user,
            "secrets_file": lab.secrets_file(),
            "known_hosts": lab.known_hosts(),
            "borrower_key": lab.key("borrower"),
            "ipmi_state": lab.state("ipmi"),
        })
    );
}

/// A JSON value as a TOML inline value (JSON's string escapes are TOML's).
fn inline(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
