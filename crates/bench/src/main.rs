//! `bench`: the API against the raw-SQL limit of its database, the migration runner against
//! psql, memory and soak. `bench report` runs everything and writes docs/BENCHMARKS.md.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sea_orm::DbErr;

mod abuse;
mod attacks;
mod compare;
mod data;
mod doc;
mod finding;
mod load;
mod migrate;
mod paths;
mod pgbench;
mod report;
mod seed;
mod stats;
mod tools;
mod transfers;
mod workload;

use data::Size;
use load::{ApiTarget, Plan, Shape};
use workload::Workload;

/// Benchmarks of the digital-asset inventory (PostgreSQL only).
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    /// The benchmark's database (created by `seed --recreate` and `report`). PostgreSQL on
    /// the same machine, so without TLS: on loopback it only adds cost (both sides alike).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/dai_bench?sslmode=disable",
        global = true
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database and insert the deterministic data set.
    Seed {
        /// Drop and recreate the database first.
        #[arg(long)]
        recreate: bool,
        #[command(flatten)]
        size: Size,
    },
    /// Drive the running API (or one started here) with a workload.
    Load {
        #[command(flatten)]
        load: LoadArgs,
        /// The API's address (host:port); by default the release `api` is started here.
        #[arg(long)]
        api: Option<std::net::SocketAddr>,
        /// The API's AUTH_JWT_SECRET (needed with --api).
        #[arg(long, env = "AUTH_JWT_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
    /// The same reads and writes done directly against PostgreSQL: the limit.
    Raw {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// `list` or `get` on the release API against the limit measured two ways on the same
    /// statement: `raw`'s Rust client and pgbench (the database's own tool), alternating run by
    /// run; the API's ratio is against the higher of the two.
    Limit {
        #[command(flatten)]
        load: LoadArgs,
        /// Runs of each side (medians over them).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Median `migration up` on an empty database against `psql -1 -f` of `migration sql up`.
    Migrate {
        #[arg(long, default_value_t = 9)]
        runs: usize,
    },
    /// Time the statements that indexes decide (deletes through foreign keys, the list order).
    Paths {
        #[arg(long, default_value_t = 7)]
        runs: u32,
        #[command(flatten)]
        size: Size,
    },
    /// `mixed` at 64 connections for a minute against a fresh API: errors and memory.
    Soak {
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(short, long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 16)]
        pool: u32,
        #[command(flatten)]
        size: Size,
    },
    /// One tenant's `mixed` alone, then while other tenants attack the API: exit 1 when its
    /// p99 more than triples or it sees an error.
    Abuse(abuse::AbuseArgs),
    /// Workloads (`list` and `get` by default) on two builds of the API, alternating run by run.
    Compare(compare::CompareArgs),
    /// `transfers` on the API against raw SQL, each kind of request apart, at one connection
    /// and under load.
    Transfers(transfers::TransfersArgs),
    /// `search` on the API and raw SQL with the trigram indexes, then without them (dropped,
    /// then recreated as they were).
    Search(finding::SearchArgs),
    /// `GET /export/digital-assets.csv` of a 100,000-row organization: time and the API's RSS.
    Export(finding::ExportArgs),
    /// Everything above but `compare`, written to docs/BENCHMARKS.md.
    Report(report::ReportArgs),
}

/// A load run's shape.
#[derive(Debug, Args, Clone)]
struct LoadArgs {
    #[arg(short, long, value_enum, default_value = "list")]
    workload: Workload,
    #[command(flatten)]
    shape: Shape,
    /// Stop after this many requests instead of after the duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Only this organization's requests (0-based; by default every organization's).
    #[arg(long)]
    org: Option<u32>,
    #[command(flatten)]
    size: Size,
}

impl LoadArgs {
    fn plans(&self) -> Result<(Plan, Plan), BenchError> {
        if let Some(org) = self.org.filter(|&o| o >= self.size.orgs) {
            return Err(BenchError::Input(format!(
                "--org {org}: the data set has organizations 0 to {}",
                self.size.orgs.saturating_sub(1)
            )));
        }
        let plan = |secs| Plan {
            org: self.org,
            ..self.shape.plan(secs)
        };
        let mut run = plan(self.shape.duration);
        if self.requests.is_some() {
            run.requests = self.requests;
            run.duration = Duration::from_secs(24 * 3600);
        }
        Ok((plan(self.shape.warmup), run))
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Setup(String),
    #[error("load: {0}")]
    Load(String),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init("info,sqlx=warn,sea_orm=warn");
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), BenchError> {
    let url = cli.database_url;
    match cli.command {
        Command::Seed { recreate, size } => {
            if recreate {
                tools::recreate_database(&url).await?;
            }
            tools::migration(&url, &["up"]).await?;
            let db = tools::connect(&url, 1).await?;
            seed::seed(&db, &size).await
        }
        Command::Load { load, api, secret } => {
            let (warmup, plan) = load.plans()?;
            let secret = secret.unwrap_or_else(|| "bench-secret-not-for-production".into());
            let server = match api {
                Some(_) => None,
                None => Some(tools::Server::start(&url, &secret, load.shape.pool).await?),
            };
            let addr = api
                .or(server.as_ref().map(|s| s.addr))
                .ok_or_else(|| BenchError::Setup("no API address".into()))?;
            let target = ApiTarget::new(addr, &secret, &load.size)?;
            load::api(&target, load.size, load.workload, warmup).await?;
            let outcome = load::api(&target, load.size, load.workload, plan).await?;
            println!("api {}: {}", load.workload.name(), outcome.line());
            if let Some(memory) = server.as_ref().and_then(tools::Server::memory) {
                println!(
                    "api RSS {:.1} MiB, peak {:.1} MiB",
                    tools::Memory::mib(memory.rss_kib),
                    tools::Memory::mib(memory.peak_kib)
                );
            }
            if let Some(server) = server {
                server.stop().await?;
            }
            outcome.ok()
        }
        Command::Raw { load } => {
            let (warmup, plan) = load.plans()?;
            let db = tools::connect(&url, load.shape.pool).await?;
            let pool = db.get_postgres_connection_pool();
            load::raw(pool, load.size, load.workload, warmup).await?;
            let outcome = load::raw(pool, load.size, load.workload, plan).await?;
            println!("raw {}: {}", load.workload.name(), outcome.line());
            outcome.ok()
        }
        Command::Limit { load, runs } => {
            let (warmup, plan) = load.plans()?;
            let script = pgbench::script(load.workload, &load.size)?;
            let secret = "bench-secret-not-for-production";
            let server = tools::Server::start(&url, secret, load.shape.pool).await?;
            let target = ApiTarget::new(server.addr, secret, &load.size)?;
            let db = tools::connect(&url, load.shape.pool).await?;
            let pool = db.get_postgres_connection_pool();
            load::api(&target, load.size, load.workload, warmup).await?;
            load::raw(pool, load.size, load.workload, warmup).await?;
            let (mut api, mut raw, mut pg) = (Vec::new(), Vec::new(), Vec::new());
            for run in 1..=runs.max(1) {
                let a = load::api(&target, load.size, load.workload, plan).await?;
                a.ok()?;
                let r = load::raw(pool, load.size, load.workload, plan).await?;
                r.ok()?;
                let p = pgbench::run(&url, &script, plan.connections, load.shape.duration).await?;
                println!(
                    "run {run}: api {:.0} req/s, raw client {:.0}, pgbench {p:.0} tps",
                    a.rps(),
                    r.rps()
                );
                api.push(a.rps());
                raw.push(r.rps());
                pg.push(p);
            }
            let (api, raw, pg) = (
                stats::Samples::new(api),
                stats::Samples::new(raw),
                stats::Samples::new(pg),
            );
            let limit = raw.median().max(pg.median());
            println!(
                "{} at {} connections, medians (ranges) of {} runs: api {} req/s, raw client {}, \
                 pgbench {} tps; api / the higher limit {:.2}, raw client / pgbench {:.2}",
                load.workload.name(),
                plan.connections,
                runs.max(1),
                api.spread(0),
                raw.spread(0),
                pg.spread(0),
                api.median() / limit,
                raw.median() / pg.median()
            );
            server.stop().await?;
            Ok(())
        }
        Command::Migrate { runs } => {
            let out = migrate::migrate(&url, runs.max(1)).await?;
            println!(
                "migration up {} ms; psql -1 -f {} ms; ratio {:.2} ({})",
                out.runner.spread(0),
                out.psql.spread(0),
                out.ratio(),
                out.url_note
            );
            Ok(())
        }
        Command::Paths { runs, size } => {
            let db = tools::connect(&url, 1).await?;
            for path in paths::measure(&db, &size, runs.max(1), Duration::from_secs(120)).await? {
                println!("{}: {} ms", path.name, path.ms.spread(2));
            }
            Ok(())
        }
        Command::Soak {
            seconds,
            connections,
            pool,
            size,
        } => {
            let soak = report::soak(&url, &size, seconds, connections, pool).await?;
            println!("{}", soak.line());
            if soak.outcome.errors > 0 {
                return Err(BenchError::Load(format!(
                    "{} errors during the soak",
                    soak.outcome.errors
                )));
            }
            Ok(())
        }
        Command::Abuse(args) => {
            let outcome = abuse::abuse(&url, &args).await?;
            for line in outcome.attack_lines().iter().chain(&outcome.probe_rows()) {
                println!("{line}");
            }
            println!("{}", outcome.summary());
            if let Some(out) = &args.out {
                doc::write_section(out, &outcome.markdown(&report::redact(&url)))?;
            }
            outcome.verdict()
        }
        Command::Compare(args) => {
            let section = compare::compare(&url, &args).await?;
            println!("{section}");
            match &args.out {
                Some(out) => doc::write_section(out, &section),
                None => Ok(()),
            }
        }
        Command::Transfers(args) => {
            let section = transfers::transfers(&url, &args).await?;
            println!("{section}");
            match &args.out {
                Some(out) => doc::write_section(out, &section),
                None => Ok(()),
            }
        }
        Command::Search(args) => {
            let section = finding::search(&url, &args).await?;
            println!("{section}");
            match &args.out {
                Some(out) => doc::write_section(out, &section),
                None => Ok(()),
            }
        }
        Command::Export(args) => {
            let section = finding::export(&url, &args).await?;
            println!("{section}");
            match &args.out {
                Some(out) => doc::write_section(out, &section),
                None => Ok(()),
            }
        }
        Command::Report(args) => report::report(&url, args).await,
    }
}
