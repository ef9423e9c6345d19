//! The command-line client as a real process against the real router served over TCP: login
//! (the token checked, then kept mode 0600), borrow --wait to ready (the ssh command printed),
//! the loan list as JSON, extend, return; a refusal exits 2 naming the rule, a revoked token
//! exits 2, a wait that runs out exits 3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::common::*;
use app::server::tokens;
use app::types::{NewApiToken, Scope};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC dana@laptop";

/// A site served on a real port, and a home folder for the client.
struct Served {
    url: String,
    home: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

async fn serve(w: &World) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bind = listener.local_addr().unwrap().to_string();
    let site = w.web(true, &bind);
    let app = site
        .router
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("key.pub"), KEY).unwrap();
    Served {
        url: format!("http://{bind}"),
        home,
        _server: server,
    }
}

impl Served {
    fn config(&self) -> std::path::PathBuf {
        self.home.path().join("config/loaner/client.toml")
    }

    /// Runs `loaner ARGS` as the user whose home this is; `token` as LOANER_TOKEN.
    async fn run(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(std::process::Stdio::null());
        if let Some(token) = token {
            command.env("LOANER_TOKEN", token);
        }
        command.output().await.unwrap()
    }
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs the workers until `work` is done, as `loaner serve` would alongside.
async fn with_workers<T>(w: &World, work: impl std::future::Future<Output = T>) -> T {
    let workers = async {
        loop {
            w.drain().await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        result = work => result,
        () = workers => unreachable!(),
    }
}

#[tokio::test]
async fn a_borrower_logs_in_borrows_and_waits_extends_and_returns_from_the_command_line() {
    let w = World::new().await;
    w.add_pool(w.pool_spec("build")).await;
    w.set_caps(Some(1), None).await;
    let dana = w.developer("Dana").await;
    let ask = NewApiToken {
        name: "laptop".into(),
        scopes: vec![Scope::LoansWrite.as_str().into()],
        expires_in_days: String::new(),
    };
    let (_, secret) = tokens::create(&mut *w.conn().await, &dana, &ask, 365, w.clock.now())
        .await
        .unwrap();
    let site = serve(&w).await;

    let login = site.run(&["login", &site.url], Some(&secret)).await;
    assert!(login.status.success(), "{}{}", out(&login), err(&login));
    assert!(out(&login).contains("as Dana"), "{}", out(&login));
    let mode = std::fs::metadata(site.config())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the token is kept readable by its owner only"
    );
    assert!(std::fs::read_to_string(site.config())
        .unwrap()
        .contains(&secret));

    let pools = site.run(&["pools"], None).await;
    assert!(
        out(&pools).contains("build") && out(&pools).contains("3/3"),
        "{}",
        out(&pools)
    );

    let key = site.home.path().join("key.pub");
    let key = key.to_str().unwrap();
    let borrow = with_workers(
        &w,
        site.run(
            &[
                "borrow",
                "build",
                "--reason",
                "Bisect from the terminal",
                "--key",
                key,
                "--wait",
                "--timeout",
                "60",
            ],
            None,
        ),
    )
    .await;
    assert!(borrow.status.success(), "{}{}", out(&borrow), err(&borrow));
    assert!(
        out(&borrow).contains("Ready. Connect with:\n  ssh "),
        "{}",
        out(&borrow)
    );

    let listed = site.run(&["--json", "loans"], None).await;
    assert!(listed.status.success(), "{}", err(&listed));
    let listed: serde_json::Value =
        serde_json::from_slice(&listed.stdout).expect("--json prints JSON");
    let loan = &listed["loans"][0];
    assert_eq!(loan["state"], "ready");
    let id = loan["id"].as_i64().unwrap().to_string();

    // The site allows one loan per person: a second is refused, exit 2, the rule named.
    let refused = site
        .run(
            &["borrow", "build", "--reason", "Another", "--key", key],
            None,
        )
        .await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}{}",
        out(&refused),
        err(&refused)
    );
    assert!(
        err(&refused).contains("max_loans_per_user"),
        "{}",
        err(&refused)
    );
    let invalid = site
        .run(&["borrow", "nope", "--reason", "x", "--key", key], None)
        .await;
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        err(&invalid).contains("pool:"),
        "the field is named: {}",
        err(&invalid)
    );

    let extended = site.run(&["extend", &id], None).await;
    assert!(extended.status.success(), "{}", err(&extended));
    assert!(out(&extended).contains("extended"), "{}", out(&extended));
    let returned = site.run(&["--json", "return", &id], None).await;
    assert!(returned.status.success(), "{}", err(&returned));
    let returned: serde_json::Value = serde_json::from_slice(&returned.stdout).unwrap();
    assert_eq!(returned["summary"]["state"], "returning");

    // Waiting with no worker running runs out: exit 3.
    w.drain().await;
    let slow = site
        .run(
            &[
                "borrow",
                "build",
                "--reason",
                "Slow",
                "--key",
                key,
                "--wait",
                "--timeout",
                "2",
            ],
            None,
        )
        .await;
    assert_eq!(slow.status.code(), Some(3), "{}{}", out(&slow), err(&slow));

    // A revoked token is refused: exit 2, and it says so.
    let sql = w.sql().await;
    sql.execute("UPDATE api_tokens SET revoked_at = now()", &[])
        .await
        .unwrap();
    let gone = site.run(&["loans"], None).await;
    assert_eq!(gone.status.code(), Some(2));
    assert!(err(&gone).contains("revoked"), "{}", err(&gone));
}

#[tokio::test]
async fn login_checks_the_token_before_keeping_it_and_completions_are_generated() {
    let w = World::new().await;
    let site = serve(&w).await;
    let bad = site.run(&["login", &site.url], Some("loaner_nope")).await;
    assert_eq!(bad.status.code(), Some(2), "{}", err(&bad));
    assert!(
        !site.config().exists(),
        "a token the site refused is not stored"
    );
    let unreachable = site
        .run(&["login", "http://127.0.0.1:9"], Some("loaner_x"))
        .await;
    assert_eq!(unreachable.status.code(), Some(1), "{}", err(&unreachable));
    let no_login = site.run(&["pools"], None).await;
    assert_eq!(no_login.status.code(), Some(2));
    assert!(
        err(&no_login).contains("loaner login"),
        "{}",
        err(&no_login)
    );
    let completions = site.run(&["completions", "bash"], None).await;
    assert!(completions.status.success());
    assert!(
        out(&completions).contains("borrow"),
        "{}",
        out(&completions)
    );
}

#[tokio::test]
async fn an_admin_approves_and_denies_from_the_command_line_and_a_developer_is_refused() {
    let w = World::new().await;
    let mut gated = w.pool_spec("gated");
    gated.approval = app::types::ApprovalMode::Manual;
    w.add_pool(gated).await;
    let dana = w.developer("Dana").await;
    let rex = w.admin("Rex").await;
    let first = w.borrow(&dana, "gated").await;
    let second = w.borrow(&dana, "gated").await;
    let make = async |owner: &app::server::models::User, scope: Scope| {
        let ask = NewApiToken {
            name: "cli".into(),
            scopes: vec![scope.as_str().into()],
            expires_in_days: String::new(),
        };
        tokens::create(&mut *w.conn().await, owner, &ask, 365, w.clock.now())
            .await
            .unwrap()
            .1
    };
    let rexs = make(&rex, Scope::Admin).await;
    let danas = make(&dana, Scope::LoansWrite).await;
    let site = serve(&w).await;
    let as_rex = async |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"));
        command
            .args(&all)
            .env_clear()
            .env("LOANER_URL", &site.url)
            .env("LOANER_TOKEN", &rexs);
        command.output().await.unwrap()
    };

    let refused = site.run(&["login", &site.url], Some(&danas)).await;
    assert!(refused.status.success());
    let not_admin = site.run(&["approve", &first.to_string()], None).await;
    assert_eq!(not_admin.status.code(), Some(2), "{}", err(&not_admin));
    assert!(
        err(&not_admin).contains("token_scope"),
        "{}",
        err(&not_admin)
    );

    let approved = as_rex(&["approve", &first.to_string(), "--hours", "4"]).await;
    assert!(
        approved.status.success(),
        "{}{}",
        out(&approved),
        err(&approved)
    );
    let approved: serde_json::Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert_eq!(approved["state"], "provisioning", "{approved}");
    let denied = as_rex(&[
        "deny",
        &second.to_string(),
        "--reason",
        "Use the shared pool",
    ])
    .await;
    assert!(denied.status.success(), "{}", err(&denied));
    let states: Vec<String> = w
        .sql()
        .await
        .query("SELECT state FROM loans ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, ["provisioning", "denied"]);
    let again = as_rex(&["deny", &second.to_string(), "--reason", "x"]).await;
    assert_eq!(
        again.status.code(),
        Some(2),
        "a decided loan cannot be denied again"
    );
}
