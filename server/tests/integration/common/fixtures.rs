//! Pools, machines, people and step scripts for tests, and a worker to run the queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::server::loans::LoanRequest;
use app::server::models::{NewMachine, NewPool, User};
use app::server::schema::{jobs, machines, pools};
use app::server::{users, Clock, DbPool, SiteSettings};
use app::types::{Action, ApprovalMode, DriverKind, Role, Step};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use server::config::JobsConfig;
use server::drivers::{CommandDriver, Drivers};
use server::jobs::{Worker, WorkerDeps};
use server::mail::{Mailer, Templates};

use super::TestDb;

pub const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop";

/// A folder of step scripts for one test; removed when dropped.
pub struct Scripts {
    pub dir: tempfile::TempDir,
}

impl Scripts {
    pub fn new() -> Self {
        let scripts = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        scripts.write(
            "ok.sh",
            "echo \"$LOANER_STEP on $LOANER_MACHINE_FQDN for loan $LOANER_LOAN_ID\"",
        );
        scripts.write(
            "fail.sh",
            "echo \"cannot reach the BMC of $LOANER_MACHINE_FQDN\" >&2\nexit 3",
        );
        scripts
    }

    /// Writes an executable shell script and returns its path.
    pub fn write(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        let mut perms = std::fs::metadata(&path).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).expect("chmod");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A file the scripts can write to, for tests to read.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn step(name: &str, action: Action, script: &Path) -> Step {
    Step {
        name: name.to_owned(),
        action,
        driver: DriverKind::Command,
        command: Some(script.display().to_string()),
        timeout_secs: Some(30),
        instructions: None,
    }
}

/// What a test pool looks like; override what matters to the test.
pub struct PoolSpec {
    pub slug: &'static str,
    pub approval: ApprovalMode,
    pub provision: Vec<Step>,
    pub reclaim: Vec<Step>,
    pub machines: usize,
    pub bug_required: bool,
    pub max_duration_hours: i32,
    pub extension_hours: i32,
    pub max_extensions: i32,
    pub max_total_hours: i32,
    pub grace_period_minutes: i32,
}

impl PoolSpec {
    pub fn new(slug: &'static str, scripts: &Scripts) -> Self {
        let ok = scripts.path("ok.sh");
        Self {
            slug,
            approval: ApprovalMode::Automatic,
            provision: vec![
                step("Power on", Action::PowerOn, &ok),
                step("Re-image", Action::Reimage, &ok),
                step("Install key", Action::GrantAccess, &ok),
            ],
            reclaim: vec![
                step("Revoke access", Action::RevokeAccess, &ok),
                step("Re-image", Action::Reimage, &ok),
            ],
            machines: 3,
            bug_required: false,
            max_duration_hours: 72,
            extension_hours: 24,
            max_extensions: 2,
            max_total_hours: 120,
            grace_period_minutes: 0,
        }
    }
}

/// Inserts the pool and its machines (`{slug}-NN.test.example`); returns the pool id.
pub async fn insert_pool(conn: &mut AsyncPgConnection, spec: PoolSpec) -> i64 {
    let pool_id: i64 = diesel::insert_into(pools::table)
        .values(NewPool {
            slug: spec.slug.to_owned(),
            name: format!("Pool {}", spec.slug),
            description: "A test pool".to_owned(),
            platform: "Linux x86_64".to_owned(),
            image_name: "test-image".to_owned(),
            image_version: "1.0".to_owned(),
            login_user: "tester".to_owned(),
            provision_steps: serde_json::to_value(spec.provision).unwrap(),
            reclaim_steps: serde_json::to_value(spec.reclaim).unwrap(),
            approval_mode: Some(spec.approval.as_str().to_owned()),
            default_duration_hours: Some(8.min(spec.max_duration_hours)),
            max_duration_hours: Some(spec.max_duration_hours),
            bug_required: Some(spec.bug_required),
            extension_hours: Some(spec.extension_hours),
            max_extensions: Some(spec.max_extensions),
            max_total_hours: Some(spec.max_total_hours),
            grace_period_minutes: Some(spec.grace_period_minutes),
        })
        .returning(pools::id)
        .get_result(conn)
        .await
        .expect("insert pool");
    for n in 1..=spec.machines {
        diesel::insert_into(machines::table)
            .values(NewMachine {
                fqdn: format!("{}-{n:02}.test.example", spec.slug),
                pool_id,
                driver_settings: serde_json::json!({}),
                notes: String::new(),
                current_image: Some("test-image@0.9".to_owned()),
            })
            .execute(conn)
            .await
            .expect("insert machine");
    }
    pool_id
}

pub async fn user(conn: &mut AsyncPgConnection, name: &str, role: Role) -> User {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    users::sign_in(conn, &email, name, role, &[], chrono::Utc::now())
        .await
        .expect("user")
}

/// A valid request for `pool`.
pub fn request(pool: &str) -> LoanRequest {
    LoanRequest {
        pool: pool.to_owned(),
        reason: "Reproduce a crash".to_owned(),
        bug_ref: "1234567".to_owned(),
        duration_hours: "8".to_owned(),
        ssh_public_key: SSH_KEY.to_owned(),
        wait: false,
    }
}

/// Queue settings for tests: short retries, short lease.
pub fn jobs_config() -> JobsConfig {
    JobsConfig {
        in_serve: true,
        concurrency: 4,
        timer_concurrency: 2,
        lease_secs: 30,
        poll_secs: 1,
        backoff_base_ms: 50,
        backoff_max_secs: 1,
        step_timeout_secs: 30,
    }
}

/// What the web side and the workers know about the site, as tests run it.
pub fn site() -> Arc<SiteSettings> {
    Arc::new(SiteSettings {
        dev_mode: true,
        bound_to_loopback: true,
        secure_cookies: false,
        session_hours: 12,
        public_url: "http://loaner.test".to_owned(),
        reminder_offsets_minutes: vec![48 * 60, 24 * 60, 60],
        test_clock: false,
    })
}

pub fn worker_deps(
    db: &TestDb,
    pool: &DbPool,
    clock: &Clock,
    config: JobsConfig,
) -> Arc<WorkerDeps> {
    worker_deps_with(db, pool, clock, config, Mailer::Mailbox)
}

pub fn worker_deps_with(
    db: &TestDb,
    pool: &DbPool,
    clock: &Clock,
    config: JobsConfig,
    mailer: Mailer,
) -> Arc<WorkerDeps> {
    Arc::new(WorkerDeps {
        db: pool.clone(),
        clock: clock.clone(),
        drivers: Drivers::new(vec![Arc::new(CommandDriver {
            commands_dir: std::env::temp_dir(),
            default_timeout: std::time::Duration::from_secs(30),
        })]),
        database_url: db.url.clone(),
        config,
        site: site(),
        mailer,
        templates: Templates::load().expect("templates"),
    })
}

pub fn worker(db: &TestDb, pool: &DbPool, clock: &Clock) -> Worker {
    Worker::new(worker_deps(db, pool, clock, jobs_config()))
}

/// Work still to do now: due jobs, and step jobs waiting for a retry. Timers and reminders
/// scheduled for later (they carry a key) are not outstanding.
pub async fn outstanding(pool: &DbPool, clock: &Clock) -> i64 {
    let mut conn = pool.get().await.unwrap();
    jobs::table
        .filter(jobs::failed_at.is_null())
        .filter(jobs::dedupe_key.is_null().or(jobs::run_at.le(clock.now())))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

/// Runs the queue until no work is outstanding, moving the clock past retry delays.
pub async fn drain(worker: &Worker, clock: &Clock, pool: &DbPool) {
    for _ in 0..100 {
        worker.run_until_idle().await.expect("run jobs");
        if outstanding(pool, clock).await == 0 {
            return;
        }
        clock.advance(chrono::Duration::minutes(1));
    }
    panic!("the queue never emptied");
}

pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// The server's message (with constraint name) of a failed statement.
pub fn pg_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!(
            "{} (constraint: {})",
            db.message(),
            db.constraint().unwrap_or("-")
        ),
        None => err.to_string(),
    }
}
