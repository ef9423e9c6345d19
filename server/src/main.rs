//! `loaner`: the web application, the job workers and the maintenance commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use server::config::Config;
use server::runtime;

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
    /// Manage pools and machines as code.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOANER_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
        }
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loaner: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
