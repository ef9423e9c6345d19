//! One database per test on a real PostgreSQL: `TEST_DATABASE_URL` (default: the local server on
//! 127.0.0.1:5432), or — when none answers — a private cluster under `target/test-pg`, started
//! the way `loaner serve` starts its own.

use std::path::PathBuf;
use std::sync::OnceLock;

use app::server::DbPool;
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Serialises template creation across the test processes.
const TEMPLATE_LOCK: i64 = 0x7465_6d70_6c61;

pub struct TestDb {
    pub url: String,
    pub name: String,
    admin_url: String,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The admin URL of the server the tests use, starting a private one if needed.
async fn admin_url() -> String {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return url;
    }
    if tokio_postgres::connect(DEFAULT_ADMIN_URL, NoTls)
        .await
        .is_ok()
    {
        return DEFAULT_ADMIN_URL.to_owned();
    }
    let dir = workspace_root().join("target/test-pg");
    std::fs::create_dir_all(&dir).expect("create target/test-pg");
    let lock = std::fs::File::create(dir.join("lock")).expect("create the lock file");
    lock.lock().expect("lock target/test-pg");
    let cluster = server::private_pg::PrivateCluster::start(&dir)
        .expect("no PostgreSQL on 127.0.0.1:5432 and the private cluster did not start");
    // The cluster outlives this process on purpose: scripts/test stops it at the end.
    let url = cluster.url_for("postgres");
    std::mem::forget(cluster);
    url
}

/// Name of the template for the current migrations (a schema change makes a new one).
fn template_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let mut hasher = Sha256::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("migrations"))
            .expect("read migrations/")
            .map(|e| e.expect("entry").path())
            .collect();
        dirs.sort();
        for dir in dirs {
            for file in ["up.sql", "down.sql"] {
                if let Ok(text) = std::fs::read(dir.join(file)) {
                    hasher.update(dir.file_name().unwrap().as_encoded_bytes());
                    hasher.update(&text);
                }
            }
        }
        format!("loaner_tpl_{}", &hex::encode(hasher.finalize())[..12])
    })
}

fn with_database(url: &str, database: &str) -> String {
    // Both forms: postgres://u@h:p/db and postgres://u@/db?host=/socket
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    client
}

impl TestDb {
    /// A fresh, migrated, empty database for one test.
    pub async fn new() -> Self {
        let admin_url = admin_url().await;
        let template = template_name();
        let admin = admin_client(&admin_url).await;
        admin
            .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
            .await
            .expect("lock");
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
            .await
            .expect("query pg_database")
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE {template}"))
                .await
                .expect("create the template");
            server::database::migrate(&with_database(&admin_url, template))
                .await
                .expect("migrate the template");
        }
        admin
            .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
            .await
            .expect("unlock");
        let name = format!(
            "loaner_t_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .expect("clone the template");
        Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }

    /// A connection pool on this database.
    pub fn pool(&self) -> DbPool {
        server::database::pool(&self.url, 30).expect("pool")
    }

    /// Runs SQL as a superuser, for checks the application never makes.
    pub async fn sql(&self) -> tokio_postgres::Client {
        admin_client(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we may borrow; use a small one of our own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let admin = admin_client(&admin_url).await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
