//! Putting the pieces together for `loaner serve` and `loaner worker`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::server::commands::CommandsDir;
use app::server::limits::RateLimits;
use app::server::{AppState, Clock, DbPool, SiteSettings};
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use crate::config::Config;
use crate::database;
use crate::demo;
use crate::drivers::{CommandDriver, Credentials, Drivers, Hardware};
use crate::jobs::{Worker, WorkerDeps};
use crate::mail::{Mailer, Templates};
use crate::private_pg::PrivateCluster;

/// The database this process uses, and the private cluster behind it if we run one.
pub struct Database {
    pub url: String,
    pub pool: DbPool,
    pub cluster: Option<PrivateCluster>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the private cluster; applies migrations; in the
    /// zero-configuration mode seeds the demo inventory into an empty database.
    pub async fn open(config: &Config, pool_size: usize) -> anyhow::Result<Self> {
        let (url, cluster) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let data_dir = config.data_dir.clone();
                let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(&data_dir))
                    .await
                    .context("starting the private PostgreSQL panicked")??;
                (cluster.database_url(), Some(cluster))
            }
        };
        let opened = async {
            let applied = database::migrate(&url).await?;
            if applied > 0 {
                tracing::info!(migrations = applied, "applied database migrations");
            }
            let pool = database::pool(&url, pool_size)?;
            if cluster.is_some() && config.seed_demo {
                let mut conn = pool.get().await.context("no database connection")?;
                let setup = config.driver_setup()?;
                if demo::seed_if_empty(&mut conn, &setup, chrono::Utc::now()).await? {
                    tracing::info!("seeded the demo inventory");
                }
            }
            Ok::<_, anyhow::Error>(pool)
        }
        .await;
        match opened {
            Ok(pool) => Ok(Self { url, pool, cluster }),
            Err(err) => {
                if let Some(cluster) = &cluster {
                    cluster.stop();
                }
                Err(err)
            }
        }
    }

    pub fn close(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.stop();
        }
    }
}

/// The drivers this server provides, with the site's credentials.
pub fn drivers(config: &Config) -> anyhow::Result<Drivers> {
    let hardware = Hardware {
        credentials: Credentials::load(config.credentials_file()?.as_deref())?,
        known_hosts: config.drivers.known_hosts.clone(),
        call_timeout: Duration::from_secs(config.drivers.call_timeout_secs),
        poll: Duration::from_millis(config.drivers.poll_ms),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build the HTTP client of the cloud drivers")?,
    };
    Ok(Drivers::standard(
        CommandDriver {
            commands: CommandsDir::new(&config.commands_dir()),
            default_timeout: Duration::from_secs(config.jobs.step_timeout_secs),
        },
        Arc::new(hardware),
    ))
}

pub fn worker_deps(
    config: &Config,
    db: &Database,
    clock: Clock,
    site: Arc<SiteSettings>,
) -> anyhow::Result<Arc<WorkerDeps>> {
    Ok(Arc::new(WorkerDeps {
        db: db.pool.clone(),
        clock,
        drivers: drivers(config)?,
        database_url: db.url.clone(),
        config: config.jobs.clone(),
        site,
        mailer: Mailer::from_config(config)?,
        templates: Templates::load()?,
        digest_hour_utc: config.mail.digest_hour_utc,
        mail_retention_days: config.mail.retention_days,
        health: config.health.resolved(config.dev_mode()),
    }))
}

/// What the web side and the workers know about the site. In development mode the site also
/// answers at the address it is bound to and at `localhost`.
pub fn site_settings(config: &Config, bound: SocketAddr) -> anyhow::Result<SiteSettings> {
    let public_url = config.public_url().map_err(anyhow::Error::msg)?;
    let dev_mode = config.dev_mode();
    let mut also_reachable_at = Vec::new();
    if dev_mode && bound.ip().is_loopback() {
        also_reachable_at.push((bound.ip().to_string(), bound.port()));
        also_reachable_at.push(("localhost".to_owned(), bound.port()));
    }
    Ok(SiteSettings {
        dev_mode,
        bound_to_loopback: bound.ip().is_loopback(),
        secure_cookies: public_url.https || config.secure_cookies,
        public_url,
        also_reachable_at,
        sso_name: config.oidc.as_ref().map(|o| o.display_name.clone()),
        session_hours: config.session_hours,
        session_idle_minutes: config.session_idle_minutes,
        reminder_offsets_minutes: config.reminders.offsets_minutes.clone(),
        test_clock: config.test_clock,
        drivers: config.driver_setup()?,
        trusted_proxies: config.trusted_proxies.clone(),
        body_limit_bytes: config.limits.body_kib * 1024,
        api_token_max_days: config.api_token_max_days,
        bug_url_template: config.bug_url_template.clone(),
        metrics_on_site: config.metrics.enabled(dev_mode) && config.metrics.bind.is_none(),
        metrics_token_sha256: config.metrics.token.as_ref().map(|t| {
            use sha2::Digest;
            sha2::Sha256::digest(t.0.as_bytes()).into()
        }),
    })
}

/// Makes sure the recurring jobs (the admins' daily digest, the waiting-line sweep, the purge of
/// old messages) are scheduled.
async fn schedule_recurring(config: &Config, db: &Database, clock: &Clock) -> anyhow::Result<()> {
    let mut conn = db.pool.get().await.context("no database connection")?;
    crate::jobs::schedule_recurring(
        &mut conn,
        config.mail.digest_hour_utc,
        config.health.resolved(config.dev_mode()),
        clock.now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot schedule the recurring jobs: {e}"))
}

pub fn app_state(
    config: &Config,
    pool: DbPool,
    clock: Clock,
    bound: SocketAddr,
) -> anyhow::Result<AppState> {
    let leptos_options = LeptosOptions::builder()
        .output_name("loaner")
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir(crate::http::assets::pkg_dir(&config.site_root))
        .site_addr(bound)
        .build();
    Ok(AppState {
        live: app::server::live::Live::new(pool.clone(), config.limits.live_pages_per_person),
        catalogue: Arc::default(),
        db: pool,
        clock,
        site: Arc::new(site_settings(config, bound)?),
        limits: Arc::new(RateLimits::new(config.limits.settings())),
        leptos_options,
    })
}

/// A channel that turns true on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    let _ = tx.send(true);
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

/// `loaner serve`: the web application, with a worker inside unless configured off.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.require_public_url()?;
    let dev_mode = config.dev_mode();
    if dev_mode && !config.bind.ip().is_loopback() {
        tracing::warn!(bind = %config.bind, "development mode on a non-loopback address: the development login is refused");
    }
    let db = Database::open(&config, 16).await?;
    let result = async {
        let clock = Clock::system();
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let bound = listener.local_addr()?;
        let state = app_state(&config, db.pool.clone(), clock.clone(), bound)?;
        let shutdown = shutdown_signal();
        let sign_in = match &config.oidc {
            Some(oidc) => {
                let sso = crate::auth::Sso::new(oidc, &state.site.public_url)?;
                sso.clone().keep_discovered(shutdown.clone());
                crate::auth::SignIn { sso: Some(sso) }
            }
            None => crate::auth::SignIn::default(),
        };
        schedule_recurring(&config, &db, &clock).await?;
        let worker = match config.jobs.in_serve {
            true => {
                let deps = worker_deps(&config, &db, clock.clone(), state.site.clone())?;
                Some(tokio::spawn(
                    Arc::new(Worker::new(deps)).run(shutdown.clone()),
                ))
            }
            false => None,
        };
        let mode = if dev_mode {
            "development mode"
        } else {
            "production mode"
        };
        tracing::info!(%bound, mode, "Loaner is listening");
        // Printed for people starting it by hand; tests read the address from here too.
        eprintln!("Loaner is running at http://{bound} ({mode})");
        // Open pages' live streams end at shutdown, or the graceful shutdown would wait for
        // every browser to close them.
        let live = state.live.clone();
        let mut closing = shutdown.clone();
        tokio::spawn(async move {
            let _ = closing.wait_for(|s| *s).await;
            live.close();
        });
        if let (true, Some(bind)) = (config.metrics.enabled(dev_mode), config.metrics.bind) {
            crate::telemetry::install();
            let metrics = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("cannot listen on {bind} for metrics.bind"))?;
            let app = axum::Router::new()
                .route("/metrics", axum::routing::get(crate::telemetry::scrape))
                .with_state(state.clone());
            tracing::info!(%bind, "metrics are served at /metrics on their own address");
            tokio::spawn(serve_http(metrics, app, shutdown.clone()));
        }
        let app = crate::http::router_with(state, sign_in);
        serve_http(listener, app, shutdown.clone()).await?;
        if let Some(worker) = worker {
            worker.await??;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.close();
    result
}

/// Serves `app` on `listener` until `stop` turns true. Every connection has `TCP_NODELAY`:
/// without it a response written in more than one piece waits for the client's delayed
/// acknowledgement (Nagle's algorithm), about 40 ms for every request after the first on a
/// kept-alive connection.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "could not set TCP_NODELAY on a connection");
        }
    });
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

/// `loaner worker`: only the job queue.
pub async fn work(config: Config) -> anyhow::Result<()> {
    config.require_public_url()?;
    let pool_size = 4 + config.jobs.concurrency + config.jobs.timer_concurrency;
    let db = Database::open(&config, pool_size).await?;
    let result = async {
        let clock = Clock::system();
        schedule_recurring(&config, &db, &clock).await?;
        let site = Arc::new(site_settings(&config, config.bind)?);
        let worker = Arc::new(Worker::new(worker_deps(&config, &db, clock, site)?));
        worker.run(shutdown_signal()).await
    }
    .await;
    db.close();
    result
}
