//! The command line of the `migration` binary: sea-orm-migration's commands with their meanings,
//! plus what the runbook does by hand (verify, sql, resolve, smoke), fit for init containers.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use serde_json::json;

use crate::Migrator;
use crate::runner::{self, RunnerError, Target, Timeouts, VerifyReport};

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
    /// Database to migrate, e.g. `postgres://user@host/db` or `sqlite://data/app.db`.
    #[arg(
        short = 'u',
        long,
        env = "DATABASE_URL",
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

/// A command's answer: text for people, JSON for machines, and the exit code.
struct Answer {
    text: String,
    json: serde_json::Value,
    code: u8,
}

impl Answer {
    fn ok(text: impl Into<String>, json: serde_json::Value) -> Self {
        Self {
            text: text.into(),
            json,
            code: 0,
        }
    }
}

/// Runs one command and maps its outcome to the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.json;
    match execute(cli).await {
        Ok(answer) => {
            if json {
                println!("{}", answer.json);
            } else if !answer.text.is_empty() {
                println!("{}", answer.text.trim_end());
            }
            ExitCode::from(answer.code)
        }
        Err(err) => {
            let message = err.to_string().replace('\n', "; ");
            tracing::debug!(error = ?err, "command failed");
            if json {
                println!(
                    "{}",
                    json!({"ok": false, "error": message, "exit_code": err.exit_code()})
                );
            }
            eprintln!("error: {message}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn execute(cli: Cli) -> Result<Answer, RunnerError> {
    let url = cli
        .database_url
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            RunnerError::Config("DATABASE_URL is not set (or pass -u/--database-url)".into())
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
        Command::Up { num } => {
            let applied = runner::up(&target, num, t).await?;
            let text = if applied.is_empty() {
                "nothing pending: the schema is up to date".to_owned()
            } else {
                format!("applied {}: {}", applied.len(), applied.join(", "))
            };
            Answer::ok(text, json!({"ok": true, "applied": applied}))
        }
        Command::Down { num, force } => {
            let done = runner::down(&target, num, force, t).await?;
            let text = if done.is_empty() {
                "nothing to roll back".to_owned()
            } else {
                format!("rolled back {}: {}", done.len(), done.join(", "))
            };
            Answer::ok(text, json!({"ok": true, "rolled_back": done}))
        }
        Command::Status { exit_code } => status(&target, exit_code).await?,
        Command::Verify => verify_answer(runner::verify(&target).await?),
        Command::Sql { direction } => {
            let sql = match direction {
                SqlDirection::Up { num } => runner::sql_up(&target, num).await?,
                SqlDirection::Down { num } => runner::sql_down(&target, num).await?,
            };
            let text = if sql.is_empty() {
                "-- nothing to run".to_owned()
            } else {
                sql.clone()
            };
            Answer::ok(text, json!({"ok": true, "sql": sql}))
        }
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
            let state = if as_applied { "applied" } else { "not applied" };
            let text = if changed {
                format!("recorded {name} as {state} (nothing was run)")
            } else {
                format!("{name} was already recorded as {state}")
            };
            Answer::ok(
                text,
                json!({"ok": true, "migration": name, "applied": as_applied, "changed": changed}),
            )
        }
        Command::Smoke => {
            let report = runner::smoke(&target).await?;
            let text = format!(
                "smoke test passed: inserted, read and deleted {} for organization {}, then rolled back",
                report.asset_id, report.organization_id
            );
            Answer::ok(text, json!({"ok": true, "smoke": report}))
        }
        Command::Fresh(_) => destructive(&target, t, Destructive::Fresh).await?,
        Command::Refresh(_) => destructive(&target, t, Destructive::Refresh).await?,
        Command::Reset(_) => destructive(&target, t, Destructive::Reset).await?,
    };
    target.db.close().await.ok();
    Ok(answer)
}

async fn status(target: &Target, exit_code: bool) -> Result<Answer, RunnerError> {
    let list = runner::statuses(&target.db).await?;
    let pending = list.iter().filter(|(_, applied)| !applied).count();
    let mut text = String::new();
    for (name, applied) in &list {
        text.push_str(&format!(
            "{:<8} {name}\n",
            if *applied { "Applied" } else { "Pending" }
        ));
    }
    text.push_str(&format!(
        "{} applied, {pending} pending\n",
        list.len() - pending
    ));
    let migrations: Vec<_> = list
        .iter()
        .map(|(name, applied)| json!({"name": name, "applied": applied}))
        .collect();
    Ok(Answer {
        text,
        json: json!({"ok": pending == 0 || !exit_code, "migrations": migrations, "pending": pending}),
        code: if exit_code && pending > 0 { 1 } else { 0 },
    })
}

fn verify_answer(report: VerifyReport) -> Answer {
    let mut text = format!(
        "Schema verification ({}): {} applied, {} pending\n",
        report.backend,
        report.applied.len(),
        report.pending.len()
    );
    for line in &report.checklist {
        let mark = if line.drift == 0 { "ok" } else { "DRIFT" };
        text.push_str(&format!(
            "  {:<13} {:>4} / {:<4} {mark}\n",
            line.label, line.live, line.expected
        ));
    }
    if !report.runbook.is_empty() {
        let counts: Vec<String> = report
            .runbook
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        text.push_str(&format!(
            "Runbook Step 4 (digital-asset tables): {}\n",
            counts.join(", ")
        ));
    }
    for d in &report.drift {
        text.push_str(&format!(
            "  {} {:?} {}",
            d.problem.to_uppercase(),
            d.kind,
            d.object
        ));
        match (&d.expected, &d.found) {
            (Some(e), Some(f)) => text.push_str(&format!(": expected `{e}`, found `{f}`")),
            (Some(e), None) => text.push_str(&format!(": expected `{e}`")),
            (None, Some(f)) => text.push_str(&format!(": `{f}`")),
            (None, None) => {}
        }
        text.push('\n');
    }
    let ok = report.ok();
    text.push_str(if ok {
        "OK: the live schema matches the applied migrations\n"
    } else {
        "DRIFT: the live schema differs from the applied migrations\n"
    });
    let json = match serde_json::to_value(&report) {
        Ok(mut v) => {
            v["ok"] = json!(ok);
            v
        }
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    };
    Answer {
        text,
        json,
        code: if ok { 0 } else { 1 },
    }
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
    let name = which.name();
    Ok(Answer::ok(
        format!("{name}: done"),
        json!({"ok": true, "command": name}),
    ))
}

/// Parses a duration: a bare number of seconds (`90`), or a number with units (`90s`, `500ms`,
/// `2m`, `1h 30m`; humantime's syntax), refusing what does not fit a `Duration`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = |why: String| format!("`{s}` is not a duration like 60, 60s, 500ms or 2m: {why}");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| bad(e.to_string()));
    }
    humantime::parse_duration(s).map_err(|e| bad(e.to_string()))
}

/// The longest `lock_timeout` PostgreSQL accepts: `i32::MAX` milliseconds (about 24.8 days).
const MAX_LOCK_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// A `--ddl-lock-timeout`: a duration PostgreSQL's `lock_timeout` can hold, and not 0, which
/// would turn the timeout off.
fn parse_lock_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err("0 would let DDL wait forever: give at least 1ms".into());
    }
    if d > MAX_LOCK_TIMEOUT {
        return Err(format!(
            "`{s}` is longer than PostgreSQL's longest lock_timeout ({})",
            humantime::format_duration(MAX_LOCK_TIMEOUT)
        ));
    }
    Ok(d)
}

/// A number of migrations: 1 or more. `-n 0` would do nothing and exit 0, which a script
/// (or an init container) would take for success.
fn parse_count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("0 migrations would do nothing: give 1 or more, or leave -n out".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}` is not a number of migrations: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_seconds_by_default() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5h"), Ok(Duration::from_secs(5 * 3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("999999999999999999m").is_err());
        assert!(parse_duration("99999999999999999999").is_err());
    }

    #[test]
    fn lock_timeouts_fit_postgres() {
        assert!(parse_lock_timeout("0").is_err());
        assert!(parse_lock_timeout("0ms").is_err());
        assert_eq!(parse_lock_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_lock_timeout("24d").is_ok());
        assert!(parse_lock_timeout("25d").is_err());
    }

    #[test]
    fn counts_start_at_one() {
        assert!(parse_count("0").is_err());
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("-1").is_err());
    }
}
