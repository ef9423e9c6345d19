//! A real OpenID Connect provider for tests: npm `oidc-provider`, run by
//! `end2end/oidc/provider.mjs`. One process serves the whole test run although nextest runs every
//! test in a process of its own: the first test starts it (detached, in `target/test-oidc/`), the
//! others find it there; scripts/test stops it. Tests register their own clients and accounts
//! (files the provider reads at every use), and drive its sign-in pages over HTTP the way a
//! browser would.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

mod pages;
pub use pages::{http_client, Landing};

/// The shared provider: its issuer (`http://127.0.0.1:{port}`, no trailing slash) and the folders
/// it reads clients and accounts from.
#[derive(Debug, Clone)]
pub struct Provider {
    pub issuer: String,
    pub port: u16,
    clients_dir: PathBuf,
    accounts_dir: PathBuf,
}

/// A client registered at the provider.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method` "none"); otherwise it authenticates
    /// with HTTP Basic (`client_secret_basic`, what the `openidconnect` crate sends).
    pub client_secret: Option<String>,
}

/// An account at the provider; the login name is its `sub`.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub groups: Vec<String>,
    /// `groups` only from the userinfo endpoint, not in the ID token (as some providers do).
    pub groups_in_userinfo_only: bool,
}

/// `prefix` and a random suffix: a login, a client id, ... that no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes a whole file at once: the provider never reads half of it.
fn write_atomically(path: &Path, content: &serde_json::Value) {
    let temporary = path.with_extension(format!("tmp-{:08x}", rand::random::<u32>()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(content).unwrap()).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

impl Provider {
    /// The provider of this test run, started if none runs yet (or if the recorded one is
    /// gone, does not answer, or runs an older provider.mjs).
    pub async fn shared() -> Provider {
        let dir = workspace_root().join("target/test-oidc");
        for sub in ["clients", "accounts"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create target/test-oidc");
        }
        let lock = File::create(dir.join("lock")).expect("create the lock file");
        lock.lock().expect("lock target/test-oidc");
        let script = workspace_root().join("end2end/oidc/provider.mjs");
        let script_hash = hex::encode(Sha256::digest(
            std::fs::read(&script).expect("read end2end/oidc/provider.mjs"),
        ));
        let record = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let recorded_pid = record("pid").trim().parse::<i32>().ok();
        let recorded_port = record("port").trim().parse::<u16>().ok();
        if let (Some(pid), Some(port)) = (recorded_pid, recorded_port) {
            let provider = Provider::at(&dir, port);
            if record("script").trim() == script_hash
                && is_provider_process(pid)
                && provider.answers().await
            {
                return provider;
            }
            stop(pid);
        }
        let (pid, port) = start(&dir, &script).await;
        std::fs::write(dir.join("pid"), format!("{pid}\n")).unwrap();
        std::fs::write(dir.join("port"), format!("{port}\n")).unwrap();
        std::fs::write(dir.join("script"), &script_hash).unwrap();
        Provider::at(&dir, port)
    }

    fn at(dir: &Path, port: u16) -> Provider {
        Provider {
            issuer: format!("http://127.0.0.1:{port}"),
            port,
            clients_dir: dir.join("clients"),
            accounts_dir: dir.join("accounts"),
        }
    }

    /// Whether discovery answers, naming this issuer.
    async fn answers(&self) -> bool {
        let discovery = async {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .ok()?
                .get(format!("{}/.well-known/openid-configuration", self.issuer))
                .send()
                .await
                .ok()?
                .json::<serde_json::Value>()
                .await
                .ok()
        };
        discovery
            .await
            .is_some_and(|document| document["issuer"] == self.issuer.as_str())
    }

    /// A new client with its own id, allowed to come back to these two addresses.
    pub fn register_client(
        &self,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
        secret: Option<&str>,
    ) -> Client {
        let client = Client {
            client_id: unique("client"),
            client_secret: secret.map(str::to_owned),
        };
        let mut file = serde_json::json!({
            "client_id": client.client_id,
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": [post_logout_redirect_uri],
        });
        if let Some(secret) = secret {
            file["client_secret"] = secret.into();
        }
        write_atomically(
            &self.clients_dir.join(format!("{}.json", client.client_id)),
            &file,
        );
        client
    }

    /// Creates or changes the account `login` (takes effect at its next sign-in or token).
    pub fn set_account(
        &self,
        login: &str,
        email: &str,
        verified: bool,
        name: &str,
        groups: &[&str],
    ) {
        self.put_account(
            login,
            &Account {
                email: email.to_owned(),
                email_verified: verified,
                name: name.to_owned(),
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                groups_in_userinfo_only: false,
            },
        );
    }

    /// Creates or changes the account `login`, every field given.
    pub fn put_account(&self, login: &str, account: &Account) {
        let file = serde_json::json!({
            "email": account.email,
            "email_verified": account.email_verified,
            "name": account.name,
            "groups": account.groups,
            "groups_in_userinfo_only": account.groups_in_userinfo_only,
        });
        write_atomically(&self.account_file(login), &file);
    }

    /// Deletes the account `login`: it can no longer sign in, nor get tokens.
    pub fn remove_account(&self, login: &str) {
        let _ = std::fs::remove_file(self.account_file(login));
    }

    fn account_file(&self, login: &str) -> PathBuf {
        self.accounts_dir.join(format!("{login}.json"))
    }
}

/// True only for a live process running provider.mjs: a recorded pid may since name another.
fn is_provider_process(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("oidc/provider.mjs"))
        && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Ends a gone, hung or outdated provider; it keeps nothing worth a graceful stop.
fn stop(pid: i32) {
    if is_provider_process(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Starts provider.mjs in its own process group, so that it outlives this test's process;
/// returns its pid and port once discovery answers.
async fn start(dir: &Path, script: &Path) -> (i32, u16) {
    use std::os::unix::process::CommandExt;

    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let log_path = dir.join("provider.log");
    let log = File::create(&log_path).expect("create provider.log");
    let mut child = Command::new(&node)
        .arg(script)
        .current_dir(workspace_root().join("end2end"))
        .env("OIDC_PORT", "0")
        .env("OIDC_CLIENTS_DIR", dir.join("clients"))
        .env("OIDC_ACCOUNTS_DIR", dir.join("accounts"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {node} (set NODE to Node.js 20 or later): {e}"));
    let pid = i32::try_from(child.id()).unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = Instant::now();
    loop {
        let ready = log()
            .lines()
            .find_map(|line| line.strip_prefix("ready ")?.trim().parse::<u16>().ok());
        if let Some(port) = ready {
            let provider = Provider::at(dir, port);
            if provider.answers().await {
                // Not waited for: it outlives this process; this reaps it should it end first.
                std::thread::spawn(move || child.wait());
                return (pid, port);
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "provider.mjs exited at start ({status}; did `cd end2end && npm ci` run?):\n{}",
                log()
            );
        }
        if started.elapsed() > Duration::from_secs(20) {
            stop(pid);
            panic!("provider.mjs did not answer within 20 s:\n{}", log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
