//! The real programs on the other end of the hardware drivers, started once per test run (the
//! first test that needs them starts them, detached, under `target/test-peers/`; later tests
//! find them there; scripts/test stops them):
//! - `sshd` (Debian openssh-server) with a power key limited by a forced command
//!   (`server/tests/peers/power.sh`) and an unrestricted key-management key;
//! - `ipmi_sim` (Debian openipmi) whose chassis is `server/tests/peers/chassis.sh`;
//! - `snmpd` (Debian snmpd) whose APC outlet column is `server/tests/peers/outlets.sh`;
//! - `moto_server` (PyPI moto, in the tests' virtualenv) as the EC2 endpoint.
//!
//! The driver tests share their state (one BMC, one authorized_keys), so nextest runs them one
//! at a time (`.config/nextest.toml`, group `peers`); each resets what it reads first.

use std::fs::File;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::types::CredentialNames;
use server::drivers::{CommandDriver, Credentials, Drivers, Hardware};

/// The secrets of the test credentials: the leak test looks for each of them everywhere.
pub const BMC_PASSWORD: &str = "bmc-Secret-7f3a91";
pub const PDU_COMMUNITY: &str = "pdu-Secret-c4e812";
pub const CLOUD_SECRET: &str = "cloud-Secret-09b7d2e5";
pub const CLOUD_KEY_ID: &str = "AKIDLOANERTEST";

/// Where the test credentials may be sent (`localhost` only for the host-key test).
pub const LAB_HOSTS: &str = r#"["127.0.0.1", "localhost"]"#;

/// The names the test secrets file holds.
pub const CREDENTIALS: [&str; 5] = [
    "lab-ssh",
    "lab-ssh-power",
    "lab-bmc",
    "lab-pdu",
    "lab-cloud",
];

pub fn credential_names() -> CredentialNames {
    CREDENTIALS.iter().map(|n| (*n).to_owned()).collect()
}

/// The running peers of this test run.
#[derive(Clone, Debug)]
pub struct Lab {
    pub dir: PathBuf,
    pub ssh_port: u16,
    pub ipmi_port: u16,
    pub snmp_port: u16,
    pub ec2_port: u16,
    /// The user sshd lets in (root, or whoever runs the tests).
    pub user: String,
}

/// A port nothing listens on (TCP and UDP), for a peer that is "down".
pub fn closed_port() -> u16 {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.local_addr().unwrap().port()
}

fn workspace_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // Plain paths: the settings' checks refuse `..` in a path on the machine.
    root.canonicalize().unwrap_or(root)
}

fn peers_dir() -> PathBuf {
    workspace_root().join("server/tests/peers")
}

/// The user the tests' sshd lets in: whoever runs the tests.
pub fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |u| u.name)
}

impl Lab {
    /// The peers of this run, started if they are not all running.
    pub async fn shared() -> Lab {
        let dir = workspace_root().join("target/test-peers");
        std::fs::create_dir_all(&dir).unwrap();
        let lock = File::create(dir.join("lock")).unwrap();
        lock.lock().unwrap();
        if let Some(lab) = Lab::recorded(&dir) {
            if lab.alive() {
                // The secrets as this version of the tests writes them (the keys stay).
                lab.write_secrets();
                return lab;
            }
        }
        stop_recorded(&dir);
        let lab = Lab::start(&dir).await;
        std::fs::write(
            dir.join("ports"),
            format!(
                "{} {} {} {}\n",
                lab.ssh_port, lab.ipmi_port, lab.snmp_port, lab.ec2_port
            ),
        )
        .unwrap();
        lab
    }

    fn recorded(dir: &Path) -> Option<Lab> {
        let ports = std::fs::read_to_string(dir.join("ports")).ok()?;
        let ports: Vec<u16> = ports
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let [ssh_port, ipmi_port, snmp_port, ec2_port] = ports[..] else {
            return None;
        };
        Some(Lab {
            dir: dir.to_owned(),
            ssh_port,
            ipmi_port,
            snmp_port,
            ec2_port,
            user: current_user(),
        })
    }

    fn alive(&self) -> bool {
        let pids = std::fs::read_to_string(self.dir.join("pids")).unwrap_or_default();
        let all_running = pids.split_whitespace().count() == 4
            && pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .all(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        let connects = |port| {
            TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(1),
            )
            .is_ok()
        };
        all_running && connects(self.ssh_port) && connects(self.ec2_port)
    }

    async fn start(dir: &Path) -> Lab {
        let _ = std::fs::remove_dir_all(dir.join("state"));
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let lab = Lab {
            dir: dir.to_owned(),
            ssh_port: closed_port(),
            ipmi_port: free_udp_port(),
            snmp_port: free_udp_port(),
            ec2_port: closed_port(),
            user: current_user(),
        };
        lab.write_keys_and_secrets();
        let pids = [
            lab.start_sshd(),
            lab.start_ipmi_sim(),
            lab.start_snmpd(),
            lab.start_moto(),
        ];
        std::fs::write(
            dir.join("pids"),
            pids.iter().map(|p| format!("{p}\n")).collect::<String>(),
        )
        .unwrap();
        lab.wait_until_ready().await;
        lab
    }

    /// Host key, Loaner's two keys, a borrower's key, known_hosts and the secrets file.
    fn write_keys_and_secrets(&self) {
        let keys = self.dir.join("keys");
        let _ = std::fs::remove_dir_all(&keys);
        std::fs::create_dir_all(&keys).unwrap();
        for name in ["host", "power", "manage", "borrower", "stranger"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("test-{name}"))
                .arg("-f")
                .arg(keys.join(name))
                .status()
                .expect("run ssh-keygen (Debian openssh-client)");
            assert!(status.success(), "ssh-keygen failed");
        }
        let host_key = std::fs::read_to_string(keys.join("host.pub")).unwrap();
        let mut words = host_key.split_whitespace();
        let (kind, key) = (words.next().unwrap(), words.next().unwrap());
        std::fs::write(
            self.known_hosts(),
            format!("[127.0.0.1]:{} {kind} {key}\n", self.ssh_port),
        )
        .unwrap();
        self.write_secrets();
        self.reset_authorized_keys();
    }

    /// The test secrets file (mode 600), naming the lab's keys.
    fn write_secrets(&self) {
        let keys = self.dir.join("keys");
        let secrets = format!(
            "[lab-ssh]\nprivate_key_file = \"{}\"\nhosts = {LAB_HOSTS}\n\n\
             [lab-ssh-power]\nprivate_key_file = \"{}\"\nhosts = {LAB_HOSTS}\n\n\
             [lab-bmc]\nusername = \"admin\"\npassword = \"{BMC_PASSWORD}\"\nhosts = {LAB_HOSTS}\n\n\
             [lab-pdu]\ncommunity = \"{PDU_COMMUNITY}\"\nhosts = {LAB_HOSTS}\n\n\
             [lab-cloud]\naccess_key_id = \"{CLOUD_KEY_ID}\"\nsecret_access_key = \"{CLOUD_SECRET}\"\nhosts = {LAB_HOSTS}\n",
            keys.join("manage").display(),
            keys.join("power").display()
        );
        std::fs::write(self.secrets_file(), secrets).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.secrets_file(), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.dir.join("secrets.toml")
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join("keys").join(name)
    }

    pub fn public_key(&self, name: &str) -> String {
        std::fs::read_to_string(self.key(&format!("{name}.pub")))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The file sshd reads the lab user's keys from.
    pub fn authorized_keys(&self) -> PathBuf {
        self.dir.join("authorized_keys")
    }

    /// Loaner's power key (forced command) and key-management key, plus an unrelated key that
    /// a revoke must leave alone.
    pub fn reset_authorized_keys(&self) {
        let state = self.state("");
        let lines = format!(
            "command=\"LOANER_PEER_STATE={} {}\",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding {}\n{}\n{}\n",
            state.display(),
            peers_dir().join("power.sh").display(),
            self.public_key("power"),
            self.public_key("manage"),
            self.public_key("stranger"),
        );
        std::fs::write(self.authorized_keys(), lines).unwrap();
    }

    /// The state folder of the peers' scripts (`ssh`, `ipmi`, `pdu`).
    pub fn state(&self, peer: &str) -> PathBuf {
        self.dir.join("state").join(peer)
    }

    /// Forgets what the BMC, the PDU and the ssh machine were told; the BMC's power as asked.
    pub fn reset(&self, power_on: bool) {
        for peer in ["ssh", "ipmi", "pdu"] {
            let _ = std::fs::remove_dir_all(self.state(peer));
            std::fs::create_dir_all(self.state(peer)).unwrap();
        }
        std::fs::write(
            self.state("ipmi").join("power"),
            if power_on { "1\n" } else { "0\n" },
        )
        .unwrap();
        self.reset_authorized_keys();
    }

    /// The lines a peer script logged (`calls` of ssh or ipmi, `N.log` of a PDU outlet).
    pub fn log(&self, peer: &str, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.state(peer).join(file))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The hardware side of the drivers: the test secrets, the lab's known_hosts, short waits.
    pub fn hardware(&self) -> Arc<Hardware> {
        Arc::new(Hardware {
            credentials: Credentials::load(Some(&self.secrets_file())).expect("test secrets"),
            known_hosts: Some(self.known_hosts()),
            call_timeout: Duration::from_secs(15),
            poll: Duration::from_millis(200),
            http: reqwest::Client::new(),
        })
    }

    /// Every driver with the secrets file `secrets` instead of the lab's (a wrong password, a
    /// wrong community), the command driver running `commands`' scripts.
    pub fn drivers_with_secrets(
        &self,
        commands: app::server::commands::CommandsDir,
        secrets: &str,
    ) -> Drivers {
        use std::os::unix::fs::PermissionsExt;
        let path = self
            .dir
            .join(format!("secrets-{:08x}.toml", rand::random::<u32>()));
        std::fs::write(&path, secrets).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let hardware = Hardware {
            credentials: Credentials::load(Some(&path)).expect("other secrets"),
            ..Arc::into_inner(self.hardware()).unwrap()
        };
        let _ = std::fs::remove_file(&path);
        Drivers::standard(
            CommandDriver {
                commands,
                default_timeout: Duration::from_secs(5),
            },
            Arc::new(hardware),
        )
    }

    /// Every driver, the command driver running `commands`' scripts.
    pub fn drivers(&self, commands: app::server::commands::CommandsDir) -> Drivers {
        Drivers::standard(
            CommandDriver {
                commands,
                default_timeout: Duration::from_secs(30),
            },
            self.hardware(),
        )
    }

    /// Driver settings that reach this lab's peers; `outlet` is the PDU outlet (each test its own).
    pub fn settings(&self, outlet: u32) -> serde_json::Value {
        serde_json::json!({
            "ssh": {
                "host": "127.0.0.1",
                "port": self.ssh_port,
                "user": self.user,
                "credentials": "lab-ssh",
                "power_credentials": "lab-ssh-power",
                "authorized_keys": self.authorized_keys().display().to_string(),
                "settle_secs": 0,
                "ready_timeout_secs": 10,
            },
            "ipmi": {
                "host": "127.0.0.1",
                "port": self.ipmi_port,
                "credentials": "lab-bmc",
                "ready_timeout_secs": 20,
            },
            "snmp_pdu": {
                "host": "127.0.0.1",
                "port": self.snmp_port,
                "outlet": outlet,
                "credentials": "lab-pdu",
                "off_secs": 1,
            },
        })
    }

    pub fn ec2_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.ec2_port)
    }

    /// Runs `ssh` as the borrower (`key`) would: whether the login works.
    pub fn borrower_can_log_in(&self, key: &str) -> bool {
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args(["-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5"])
            .arg("-i")
            .arg(self.key(key))
            .arg("-p")
            .arg(self.ssh_port.to_string())
            .arg(format!("{}@127.0.0.1", self.user))
            .arg("echo borrowed")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("borrowed")
            })
    }

    fn log_file(&self, name: &str) -> File {
        File::create(self.dir.join(format!("{name}.log"))).unwrap()
    }

    fn spawn(&self, name: &str, command: &mut Command) -> i32 {
        use std::os::unix::process::CommandExt;
        let log = self.log_file(name);
        let child = command
            .env("LOANER_PEER_STATE", self.dir.join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} (run scripts/test once to install it): {e}"));
        let pid = i32::try_from(child.id()).unwrap();
        let mut child = child;
        std::thread::spawn(move || child.wait());
        pid
    }

    fn start_sshd(&self) -> i32 {
        let config = self.dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nAllowUsers {}\n",
                self.ssh_port,
                self.key("host").display(),
                self.dir.join("sshd.pid").display(),
                self.authorized_keys().display(),
                self.user,
            ),
        )
        .unwrap();
        if nix::unistd::getuid().is_root() {
            // sshd's privilege separation folder, which Debian creates only at boot.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        self.spawn(
            "sshd",
            Command::new("/usr/sbin/sshd")
                .args(["-D", "-e", "-f"])
                .arg(&config),
        )
    }

    fn start_ipmi_sim(&self) -> i32 {
        let lan = self.dir.join("lan.conf");
        std::fs::write(
            &lan,
            format!(
                "name \"loaner-test\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {}\n    priv_limit admin\n    \
                 allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n    \
                 allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n    \
                 guid a123456789abcdefa123456789abcdef\n  endlan\n  chassis_control \"{}\"\n  \
                 user 1 true \"\" \"\" user 10 none md2 md5 straight\n  \
                 user 2 true \"admin\" \"{BMC_PASSWORD}\" admin 10 none md2 md5 straight\n",
                self.ipmi_port,
                peers_dir().join("chassis.sh").display(),
            ),
        )
        .unwrap();
        let emu = self.dir.join("bmc.emu");
        std::fs::write(
            &emu,
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
        )
        .unwrap();
        std::fs::create_dir_all(self.dir.join("ipmi-sim-state")).unwrap();
        self.spawn(
            "ipmi_sim",
            Command::new("ipmi_sim")
                .arg("-c")
                .arg(&lan)
                .arg("-f")
                .arg(&emu)
                .arg("-s")
                .arg(self.dir.join("ipmi-sim-state"))
                .args(["-n", "-p"]),
        )
    }

    fn start_snmpd(&self) -> i32 {
        let config = self.dir.join("snmpd.conf");
        std::fs::write(
            &config,
            format!(
                "agentAddress udp:127.0.0.1:{}\nrwcommunity {PDU_COMMUNITY} 127.0.0.1\npass .1.3.6.1.4.1.318.1.1.4.4.2.1.3 {}\n",
                self.snmp_port,
                peers_dir().join("outlets.sh").display()
            ),
        )
        .unwrap();
        self.spawn(
            "snmpd",
            Command::new("/usr/sbin/snmpd")
                .args(["-f", "-Lo", "-C", "-c"])
                .arg(&config)
                .arg("-p")
                .arg(self.dir.join("snmpd.pid"))
                .env("MIBS", ""),
        )
    }

    fn start_moto(&self) -> i32 {
        let python = std::env::var("SMTP_SINK_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        self.spawn(
            "moto",
            Command::new(python)
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
                .arg(self.ec2_port.to_string()),
        )
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            let tcp = |port| TcpStream::connect(("127.0.0.1", port)).is_ok();
            if tcp(self.ssh_port) && tcp(self.ec2_port) {
                return;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let logs: String = ["sshd", "moto"]
                    .iter()
                    .map(|n| {
                        format!(
                            "--- {n}.log\n{}\n",
                            std::fs::read_to_string(self.dir.join(format!("{n}.log")))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                panic!("the test peers did not start within 30 s:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Stops the peers a previous run left (by their recorded process ids).
fn stop_recorded(dir: &Path) {
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(-pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = std::fs::remove_file(dir.join("pids"));
}
