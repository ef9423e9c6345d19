//! `loaner`: the web application, the job workers and the maintenance commands.

use std::path::PathBuf;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use server::actions::Outcome;
use server::client::ClientCommand;
use server::config::Config;
use server::runtime;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "loaner",
    version,
    about = "Borrow test and build machines; get them back clean."
)]
struct Cli {
    /// A TOML configuration file (LOANER_* environment variables override it).
    #[arg(long, global = true, env = "LOANER_CONFIG")]
    config: Option<PathBuf>,
    /// Client commands: print the site's JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line) for
    /// log shippers.
    #[arg(long, global = true, env = "LOANER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web application (and run jobs, unless jobs.in_serve is false).
    Serve,
    /// Run jobs only; start as many as you like against one database.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run an action on a machine through its drivers, as the machine page does: status,
    /// power_on, power_off, reboot or reimage. Exit status: 0 done (or queued), 1 refused or
    /// failed, 2 still running when --wait ran out. With --remote, through a site's API as
    /// `loaner login` stored it (exit 0 done, 1 failed, 2 refused, 3 still running).
    Action {
        /// status, power_on, power_off, reboot or reimage.
        action: String,
        /// The machine's name, as in the inventory.
        host: String,
        /// Why (required when the machine is on loan and the action disturbs its borrower).
        #[arg(long, default_value = "")]
        reason: String,
        /// Wait for the action to finish and print what the driver printed.
        #[arg(long)]
        wait: bool,
        /// The longest to wait, in seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
        /// Ask a Loaner site through its API (an admin's token with machines:act) instead of
        /// this machine's configuration and database; waits for the end.
        #[arg(long)]
        remote: bool,
    },
    /// Manage pools and machines as code.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
    /// The demo site's helpers.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Print shell completions for the `loaner` command (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// Make the database match a TOML inventory file: create and update the pools and
    /// machines it lists, retire the others, and print what changed (see docs/inventory.md).
    Sync {
        /// The inventory file.
        file: PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Write a realistic history of finished loans (requests, waits, steps, failures, returns,
    /// expiries, broken machines) over the last --days, for the statistics page. Only on the
    /// development site unless --force.
    Simulate {
        #[arg(long, default_value_t = 7)]
        days: i64,
        /// Requests per working day (weekends see a fifth).
        #[arg(long, default_value_t = 20)]
        loans_per_day: u32,
        /// The same seed writes the same history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write into a database that is not the development one (a benchmark's, say).
        #[arg(long)]
        force: bool,
    },
}

/// The form of the log lines.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOANER_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    // The client commands talk to a site; they need none of the server's configuration.
    match cli.command {
        Command::Client(command) => {
            return match server::client::run(command, cli.json).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("loaner: {}", failure.message());
                    failure.exit_code()
                }
            };
        }
        Command::Action {
            action,
            host,
            reason,
            timeout,
            remote: true,
            ..
        } => {
            return match server::client::remote_action(&action, &host, &reason, timeout, cli.json)
                .await
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("loaner: {}", failure.message());
                    failure.exit_code()
                }
            };
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "loaner", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let result = async {
        let config = Config::load(cli.config.as_deref())?;
        match cli.command {
            Command::Serve => runtime::serve(config).await,
            Command::Worker => runtime::work(config).await,
            Command::Migrate => {
                let db = runtime::Database::open(&config, 1).await?;
                db.close();
                eprintln!("The database schema is up to date.");
                Ok(())
            }
            Command::Inventory {
                command: InventoryCommand::Sync { file, dry_run },
            } => server::inventory::sync_file(&config, &file, dry_run).await,
            Command::Demo {
                command:
                    DemoCommand::Simulate {
                        days,
                        loans_per_day,
                        seed,
                        force,
                    },
            } => {
                anyhow::ensure!(
                    force || config.dev_mode(),
                    "demo simulate writes made-up loans: it runs on the development site only (add --force to write into this database anyway)"
                );
                let db = runtime::Database::open(&config, 1).await?;
                let result = async {
                    let mut conn = db.pool.get().await?;
                    let plan = server::simulate::Plan {
                        days,
                        loans_per_day,
                        seed,
                    };
                    server::simulate::run(&mut conn, plan, chrono::Utc::now()).await
                }
                .await;
                db.close();
                let written = result?;
                eprintln!(
                    "Wrote {} finished loans with {} history entries ({} machines broke and were repaired) over the last {days} days.",
                    written.loans, written.events, written.broken
                );
                Ok(())
            }
            Command::Client(_)
            | Command::Completions { .. }
            | Command::Action { remote: true, .. } => Ok(()),
            Command::Action {
                action,
                host,
                reason,
                wait,
                timeout,
                remote: false,
            } => {
                let wait = wait.then(|| std::time::Duration::from_secs(timeout));
                return server::actions::run(&config, &action, &host, &reason, wait)
                    .await
                    .map(|outcome| match outcome {
                        Outcome::Done => ExitCode::SUCCESS,
                        Outcome::Failed => ExitCode::FAILURE,
                        Outcome::StillRunning => ExitCode::from(2),
                    });
            }
        }
        .map(|()| ExitCode::SUCCESS)
    }
    .await;
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("loaner: {err:#}");
            ExitCode::FAILURE
        }
    }
}
