//! The command line of the `migration` binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::Migrator;

/// Applies, inspects and rolls back the digital-asset inventory's schema.
#[derive(Debug, Parser)]
#[command(name = "migration", version)]
pub struct Cli {
    /// Database to migrate, e.g. `postgres://user@host/db` or `sqlite://data/app.db`.
    #[arg(
        short = 'u',
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Log progress at info level (RUST_LOG overrides).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands; sea-orm-migration's keep their meaning.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back applied migrations (the last one, or the last N).
    Down {
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// List applied and pending migrations.
    Status,
    /// Drop every table, then apply all migrations.
    Fresh,
    /// Roll back all migrations, then apply them again.
    Refresh,
    /// Roll back all applied migrations.
    Reset,
}

/// Runs one command and maps its outcome to the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}

async fn execute(cli: Cli) -> Result<(), DbErr> {
    let url = cli.database_url.ok_or_else(|| {
        DbErr::Custom("DATABASE_URL is not set (or pass -u/--database-url)".into())
    })?;
    let db = connect(&url).await?;
    match cli.command {
        Command::Up { num } => Migrator::up(&db, num).await,
        Command::Down { num } => Migrator::down(&db, Some(num)).await,
        Command::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!("{}\t{}", m.status(), m.name());
            }
            Ok(())
        }
        Command::Fresh => Migrator::fresh(&db).await,
        Command::Refresh => Migrator::refresh(&db).await,
        Command::Reset => Migrator::reset(&db).await,
    }
}

/// Connects with SQL statement logging at debug level; creates a missing SQLite file.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url);
    opts.sqlx_logging_level(log::LevelFilter::Debug)
        .map_sqlx_sqlite_opts(|o| o.create_if_missing(true));
    Database::connect(opts).await
}
