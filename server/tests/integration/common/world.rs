//! The world a test needs, built in a few calls: a database of its own (`TestDb`), pools with
//! machines and step scripts, people, a clock the test moves, workers that drain the queue in
//! process, and a real `loaner worker` process to kill. Tests state only what differs.

use std::sync::Arc;

use app::server::commands::{CommandsDir, DriverSetup};
use app::server::loans::{self, LoanRequest};
use app::server::models::{NewMachine, NewPool, User};
use app::server::schema::{jobs, machines, pools, site_policy};
use app::server::users::{self, Identity};
use app::server::{AppState, Clock, DbConn, DbPool, PublicUrl, SiteSettings};
use app::types::{Action, ApprovalMode, LoanId, PoolId, Role, Step};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use server::config::JobsConfig;
use server::drivers::{CommandDriver, Drivers};
use server::jobs::{Worker, WorkerDeps};
use server::mail::{Mailer, Templates};

use super::scripts::{step, Scripts};
use super::TestDb;

pub const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN2f8Txvd4Df7k7+yCspE9CRdOHU+q8ScWEUPH01OALC ada@laptop";

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

pub struct World {
    pub db: TestDb,
    pub pool: DbPool,
    pub clock: Clock,
    pub scripts: Scripts,
}

impl World {
    /// A fresh database (the site policy without its per-person caps: tests of the caps set
    /// them), the real clock (tests move it), and a folder of step scripts.
    pub async fn new() -> Self {
        let db = TestDb::new().await;
        let world = Self {
            pool: db.pool(),
            db,
            clock: Clock::system(),
            scripts: Scripts::new(),
        };
        world.set_caps(None, None).await;
        world
    }

    pub async fn conn(&self) -> DbConn {
        self.pool.get().await.expect("a database connection")
    }

    /// A superuser connection, for checks the application never makes.
    pub async fn sql(&self) -> tokio_postgres::Client {
        self.db.sql().await
    }

    /// The single number `sql` selects.
    pub async fn count(&self, sql: &str) -> i64 {
        self.sql()
            .await
            .query_one(sql, &[])
            .await
            .expect(sql)
            .get(0)
    }

    /// The site policy's caps on active loans per person (over all pools, in one pool).
    pub async fn set_caps(&self, overall: Option<i32>, per_pool: Option<i32>) {
        diesel::update(site_policy::table)
            .set((
                site_policy::max_loans_per_user.eq(overall),
                site_policy::max_loans_per_user_per_pool.eq(per_pool),
            ))
            .execute(&mut self.conn().await)
            .await
            .expect("set the caps");
    }

    /// A pool with three machines whose steps succeed: three provisioning, two clean-up.
    pub fn pool_spec(&self, slug: &'static str) -> PoolSpec {
        let ok = self.scripts.path("ok.sh");
        PoolSpec {
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

    /// Inserts the pool and its machines (`{slug}-NN.test.example`); returns the pool's id.
    pub async fn add_pool(&self, spec: PoolSpec) -> PoolId {
        let mut conn = self.conn().await;
        let pool_id: PoolId = diesel::insert_into(pools::table)
            .values(NewPool {
                slug: spec.slug.to_owned(),
                name: format!("Pool {}", spec.slug),
                description: "A test pool".to_owned(),
                platform: "Linux x86_64".to_owned(),
                image_name: "test-image".to_owned(),
                image_version: "1.0".to_owned(),
                login_user: "tester".to_owned(),
                provision_steps: serde_json::to_value(spec.provision).expect("steps"),
                reclaim_steps: serde_json::to_value(spec.reclaim).expect("steps"),
                approval_mode: Some(spec.approval),
                default_duration_hours: Some(8.min(spec.max_duration_hours)),
                max_duration_hours: Some(spec.max_duration_hours),
                bug_required: Some(spec.bug_required),
                extension_hours: Some(spec.extension_hours),
                max_extensions: Some(spec.max_extensions),
                max_total_hours: Some(spec.max_total_hours),
                grace_period_minutes: Some(spec.grace_period_minutes),
            })
            .returning(pools::id)
            .get_result(&mut conn)
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
                .execute(&mut conn)
                .await
                .expect("insert machine");
        }
        pool_id
    }

    /// A person as a sign-in would create them (`name@example.com`, lower-cased).
    pub async fn person(&self, name: &str, role: Role, groups: &[&str]) -> User {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let who = Identity {
            email: &email,
            name,
            role,
            groups: &groups,
            via: "test",
            provider: None,
        };
        users::sign_in(&mut *self.conn().await, &who, self.clock.now())
            .await
            .expect("sign in")
            .user
    }

    pub async fn developer(&self, name: &str) -> User {
        self.person(name, Role::Developer, &[]).await
    }

    pub async fn admin(&self, name: &str) -> User {
        self.person(name, Role::Admin, &[]).await
    }

    /// `user` asks for a machine of `pool` with a valid request; it must be accepted.
    pub async fn borrow(&self, user: &User, pool: &str) -> LoanId {
        loans::request(
            &mut *self.conn().await,
            user,
            &request(pool),
            self.clock.now(),
        )
        .await
        .expect("the request is accepted")
    }

    /// The folder the test's workers run step commands from: its scripts.
    pub fn commands(&self) -> CommandsDir {
        CommandsDir::new(self.scripts.dir.path())
    }

    /// What saved pools and machines are checked against: the scripts folder and the names of
    /// the test credentials (`common::peers::CREDENTIALS`).
    pub fn setup(&self) -> DriverSetup {
        DriverSetup {
            commands: self.commands(),
            credentials: crate::common::peers::credential_names(),
        }
    }

    /// What the web side and the workers know about the site, as tests run it.
    pub fn site(&self) -> Arc<SiteSettings> {
        Arc::new(SiteSettings {
            dev_mode: true,
            bound_to_loopback: true,
            public_url: PublicUrl::parse("http://loaner.test").expect("url"),
            also_reachable_at: Vec::new(),
            secure_cookies: false,
            sso_name: None,
            session_hours: 12,
            session_idle_minutes: 240,
            reminder_offsets_minutes: vec![48 * 60, 24 * 60, 60],
            test_clock: false,
            drivers: self.setup(),
            trusted_proxies: Vec::new(),
            body_limit_bytes: 64 * 1024,
            api_token_max_days: 365,
            bug_url_template: Some("https://bugs.example.com/show_bug.cgi?id={}".into()),
            metrics_on_site: false,
            metrics_token_sha256: None,
        })
    }

    /// The application state of a server run with `config` (its commands folder: the
    /// world's scripts) and bound to `bind`, on this world's database and clock.
    pub fn app_state(&self, mut config: server::config::Config, bind: &str) -> AppState {
        config
            .commands_dir
            .get_or_insert_with(|| self.scripts.dir.path().to_owned());
        server::runtime::app_state(
            &config,
            self.pool.clone(),
            self.clock.clone(),
            bind.parse().expect("address"),
        )
        .expect("app state")
    }

    /// What a worker needs: this world's database, clock and commands folder.
    pub fn deps(&self, config: JobsConfig, mailer: Mailer) -> Arc<WorkerDeps> {
        let drivers = Drivers::new(vec![Arc::new(CommandDriver {
            commands: self.commands(),
            default_timeout: std::time::Duration::from_secs(30),
        })]);
        self.deps_with(config, mailer, drivers)
    }

    /// What a worker needs, with `drivers` instead of the command driver.
    pub fn deps_with(
        &self,
        config: JobsConfig,
        mailer: Mailer,
        drivers: Drivers,
    ) -> Arc<WorkerDeps> {
        Arc::new(WorkerDeps {
            db: self.pool.clone(),
            clock: self.clock.clone(),
            drivers,
            database_url: self.db.url.clone(),
            config,
            site: self.site(),
            mailer,
            templates: Templates::load().expect("templates"),
            digest_hour_utc: 8,
            mail_retention_days: 90,
            health: server::config::HealthConfig::default(),
        })
    }

    /// A worker with the test queue settings that keeps mail in the mailbox.
    pub fn worker(&self) -> Worker {
        Worker::new(self.deps(jobs_config(), Mailer::Mailbox))
    }

    /// Work still to do now: due jobs, and step jobs waiting for a retry. Timers and reminders
    /// scheduled for later (they carry a key) are not outstanding.
    pub async fn outstanding(&self) -> i64 {
        jobs::table
            .filter(jobs::failed_at.is_null())
            .filter(
                jobs::dedupe_key
                    .is_null()
                    .or(jobs::run_at.le(self.clock.now())),
            )
            .count()
            .get_result(&mut self.conn().await)
            .await
            .expect("count jobs")
    }

    /// Runs the queue with a fresh worker until no work is outstanding.
    pub async fn drain(&self) {
        self.drain_with(&self.worker()).await;
    }

    /// Runs the queue with `worker` until no work is outstanding, moving the clock past retry
    /// delays.
    pub async fn drain_with(&self, worker: &Worker) {
        for _ in 0..100 {
            worker.run_until_idle().await.expect("run jobs");
            if self.outstanding().await == 0 {
                return;
            }
            self.clock.advance(chrono::Duration::minutes(1));
        }
        panic!("the queue never emptied");
    }

    /// A real `loaner worker` process on this world's database, with `env` on top (a short
    /// lease, the scripts folder as its commands folder).
    pub fn worker_process(&self, env: &[(&str, &str)]) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_loaner"))
            .arg("worker")
            .env("DATABASE_URL", &self.db.url)
            .env("LOANER_PUBLIC_URL", "http://loaner.test")
            .env("LOANER_COMMANDS_DIR", self.scripts.dir.path())
            .env("LOANER_JOBS__LEASE_SECS", "2")
            .env("LOANER_JOBS__POLL_SECS", "1")
            .env("LOANER_MAIL__TRANSPORT", "mailbox")
            .env("LOANER_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start loaner worker")
    }
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
