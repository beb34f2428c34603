//! The command line of the `migration` binary: sea-orm-migration's commands with their meanings,
//! plus what the runbook does by hand (verify, sql, resolve, smoke), fit for init containers.
//!
//! This module holds the arguments and the dispatch to [`crate::runner`]; `render` turns each
//! outcome into text or JSON and an exit code, `values` parses durations and counts.

mod render;
mod values;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sea_orm_migration::MigratorTrait;

use crate::Migrator;
use crate::runner::{self, RunnerError, Target, Timeouts};
use render::Answer;
use values::{parse_count, parse_duration, parse_lock_timeout};

/// Applies, inspects and rolls back the digital-asset inventory's schema.
///
/// Exit codes: 0 success; 1 check failed (pending migrations with `status --exit-code`, drift
/// with `verify`); 2 usage (also `-n 0`, a malformed or out-of-range duration); 3 configuration;
/// 4 database unreachable; 5 migration lock not taken; 6 migration or database error (also a
/// lock timeout that outlasted `--ddl-retries`, and a database that records a migration this
/// binary does not know); 7 refused (data would be lost, or nothing to act on).
#[derive(Debug, Parser)]
#[command(name = "migration", version)]
pub struct Cli {
    /// Database to migrate, e.g. `postgres://user@host/db` or `sqlite://data/app.db`; else
    /// MIGRATION_DATABASE_URL (a direct connection, where the API's DATABASE_URL goes through a
    /// transaction-mode pooler: the runner's advisory lock needs a session), else DATABASE_URL.
    #[arg(
        short = 'u',
        long,
        env = "MIGRATION_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log progress at info level (RUST_LOG overrides; LOG_FORMAT=json for JSON lines).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(flatten)]
    pub timeouts: TimeoutArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Waiting and locking, for every command.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// How long to wait for the database to accept connections (e.g. 60, 60s, 500ms, 2m, 1h).
    #[arg(long, global = true, default_value = "60s", value_parser = parse_duration)]
    pub wait_timeout: Duration,

    /// How long to wait for the migration lock another runner holds.
    #[arg(long, global = true, default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// `lock_timeout` of each migration's statements (1ms to 24 days), so DDL never queues
    /// behind a long transaction while blocking traffic, and an online index build never waits
    /// for one without end.
    #[arg(long, global = true, default_value = "5s", value_parser = parse_lock_timeout)]
    pub ddl_lock_timeout: Duration,

    /// How often a migration that hit the DDL lock timeout is retried before failing.
    #[arg(long, global = true, default_value_t = 5)]
    pub ddl_retries: u32,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations (all, or the next N); exits 0 also when none is pending.
    Up {
        #[arg(short, long, value_parser = parse_count)]
        num: Option<u32>,
    },
    /// Roll back the last applied migration (or the last N); refuses when a table it would drop
    /// holds rows, unless --force.
    Down {
        #[arg(short, long, default_value_t = 1, value_parser = parse_count)]
        num: u32,
        /// Drop tables even when they hold rows.
        #[arg(long)]
        force: bool,
    },
    /// List applied and pending migrations.
    Status {
        /// Exit 1 when any migration is pending.
        #[arg(long)]
        exit_code: bool,
    },
    /// Compare the live schema with what the applied migrations define; exit 1 on any drift.
    Verify,
    /// Print the SQL a command would run, without running it.
    Sql {
        #[command(subcommand)]
        direction: SqlDirection,
    },
    /// Record a migration as applied or rolled back without running it.
    Resolve {
        /// The migration to record as applied.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "rolled_back",
            required_unless_present = "rolled_back"
        )]
        applied: Option<String>,
        /// The migration to record as not applied.
        #[arg(long, value_name = "NAME")]
        rolled_back: Option<String>,
    },
    /// The runbook's smoke test: insert, read and delete a digital asset, then roll back.
    Smoke,
    /// Drop every table, then apply all migrations (destroys data: needs --yes).
    Fresh(Confirm),
    /// Roll back all migrations, then apply them again (destroys data: needs --yes).
    Refresh(Confirm),
    /// Roll back all applied migrations (destroys data: needs --yes).
    Reset(Confirm),
}

/// Confirmation of a destructive command.
#[derive(Debug, Args)]
pub struct Confirm {
    /// Yes, destroy the data.
    #[arg(long)]
    pub yes: bool,
}

/// Which way `sql` prints.
#[derive(Debug, Subcommand)]
pub enum SqlDirection {
    /// The SQL `up` would run for the pending migrations (all, or the next N).
    Up {
        #[arg(short, long, value_parser = parse_count)]
        num: Option<u32>,
    },
    /// The SQL `down` would run for the last N applied migrations.
    Down {
        #[arg(short, long, default_value_t = 1, value_parser = parse_count)]
        num: u32,
    },
}

/// Runs one command and maps its outcome to the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(answer) => answer.print(json),
        Err(err) => render::failure(&err, json),
    }
}

async fn execute(cli: Cli) -> Result<Answer, RunnerError> {
    let url = cli
        .database_url
        .filter(|u| !u.trim().is_empty())
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            RunnerError::Config(
                "MIGRATION_DATABASE_URL or DATABASE_URL is not set (or pass -u/--database-url)"
                    .into(),
            )
        })?;
    let t = Timeouts {
        wait: cli.timeouts.wait_timeout,
        lock: cli.timeouts.lock_timeout,
        ddl_lock: cli.timeouts.ddl_lock_timeout,
        ddl_retries: cli.timeouts.ddl_retries,
    };
    // Refuse before connecting: a refusal must not depend on the database being up.
    if let Command::Fresh(c) | Command::Refresh(c) | Command::Reset(c) = &cli.command
        && !c.yes
    {
        return Err(RunnerError::Refused(
            "this command destroys data: pass --yes to confirm".into(),
        ));
    }
    let target = runner::connect(&url, t.wait).await?;
    let answer = match cli.command {
        Command::Up { num } => render::applied(runner::up(&target, num, t).await?),
        Command::Down { num, force } => {
            render::rolled_back(runner::down(&target, num, force, t).await?)
        }
        Command::Status { exit_code } => {
            render::status(&runner::statuses(&target.db).await?, exit_code)
        }
        Command::Verify => render::verify(runner::verify(&target).await?),
        Command::Sql { direction } => render::sql(match direction {
            SqlDirection::Up { num } => runner::sql_up(&target, num).await?,
            SqlDirection::Down { num } => runner::sql_down(&target, num).await?,
        }),
        Command::Resolve {
            applied,
            rolled_back,
        } => {
            let (name, as_applied) = match (applied, rolled_back) {
                (Some(name), _) => (name, true),
                (None, Some(name)) => (name, false),
                (None, None) => {
                    return Err(RunnerError::Config(
                        "pass --applied NAME or --rolled-back NAME".into(),
                    ));
                }
            };
            let changed = runner::resolve(&target, &name, as_applied, t).await?;
            render::resolved(name, as_applied, changed)
        }
        Command::Smoke => render::smoke(runner::smoke(&target).await?),
        Command::Fresh(_) => destructive(&target, t, Destructive::Fresh).await?,
        Command::Refresh(_) => destructive(&target, t, Destructive::Refresh).await?,
        Command::Reset(_) => destructive(&target, t, Destructive::Reset).await?,
    };
    target.db.close().await.ok();
    Ok(answer)
}

/// The sea-orm-migration commands that destroy data.
#[derive(Debug, Clone, Copy)]
enum Destructive {
    Fresh,
    Refresh,
    Reset,
}

impl Destructive {
    fn name(self) -> &'static str {
        match self {
            Destructive::Fresh => "fresh",
            Destructive::Refresh => "refresh",
            Destructive::Reset => "reset",
        }
    }
}

/// Runs sea-orm-migration's `fresh`, `refresh` or `reset` under the migration lock.
async fn destructive(
    target: &Target,
    t: Timeouts,
    which: Destructive,
) -> Result<Answer, RunnerError> {
    let lock = runner::lock(target, t).await?;
    let result = match which {
        Destructive::Fresh => Migrator::fresh(&target.db).await,
        Destructive::Refresh => Migrator::refresh(&target.db).await,
        Destructive::Reset => Migrator::reset(&target.db).await,
    };
    runner::release(lock).await;
    result?;
    Ok(render::destroyed(which.name()))
}
