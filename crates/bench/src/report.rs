//! `bench report`: seeds, measures everything in one run on one machine, and writes
//! docs/BENCHMARKS.md. Also the soak.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use tracing::info;

use crate::BenchError;
use crate::abuse::{self, AbuseArgs, AbuseOutcome};
use crate::data::Size;
use crate::doc;
use crate::load::{self, ApiTarget, Outcome, Plan, Shape};
use crate::migrate::{self, MigrateOutcome};
use crate::paths::{self, PathTiming};
use crate::stats::Samples;
use crate::tools::{self, Memory, Server};
use crate::workload::Workload;

const SECRET: &str = "bench-secret-not-for-production";

/// What `report` runs.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Runs per workload and side (medians and spread are over these).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[command(flatten)]
    pub shape: Shape,
    /// Seconds of soak (`mixed` at 64 connections); 0 skips it.
    #[arg(long, default_value_t = 60)]
    pub soak: u64,
    /// Seconds of each run of the abuse test (see `bench abuse`; a failure is investigated
    /// attack by attack); 0 skips it.
    #[arg(long, default_value_t = 15)]
    pub abuse: u64,
    /// Runs of the migration comparison.
    #[arg(long, default_value_t = 9)]
    pub migrate_runs: usize,
    /// Where to write the report.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub out: PathBuf,
    #[command(flatten)]
    pub size: Size,
}

/// One workload's figures on both sides.
struct Row {
    workload: Workload,
    api: Vec<Outcome>,
    raw: Vec<Outcome>,
    statements_per_request: f64,
}

/// The soak's outcome. RSS moves by megabytes within a second as the allocator returns
/// pages, so the API's RSS is sampled every 200 ms and compared over windows: the median of
/// the first and of the last tenth of the run.
pub struct Soak {
    pub outcome: Outcome,
    /// RSS samples in KiB, in time order.
    pub samples: Vec<u64>,
    pub peak_kib: u64,
    /// RSS before the warm-up, KiB.
    pub fresh_kib: u64,
    pub warmup: u64,
    pub connections: usize,
}

impl Soak {
    fn window(&self, last: bool) -> Option<f64> {
        let n = (self.samples.len() / 10).max(1);
        let part = if last {
            self.samples.get(self.samples.len().checked_sub(n)?..)?
        } else {
            self.samples.get(..n)?
        };
        let values = Samples::new(part.iter().map(|&k| Memory::mib(k)).collect());
        (!part.is_empty()).then(|| values.median())
    }

    pub fn start_mib(&self) -> Option<f64> {
        self.window(false)
    }

    pub fn end_mib(&self) -> Option<f64> {
        self.window(true)
    }

    pub fn growth(&self) -> Option<f64> {
        Some(self.end_mib()? / self.start_mib()? - 1.0)
    }

    pub fn line(&self) -> String {
        let all = Samples::new(self.samples.iter().map(|&k| Memory::mib(k)).collect());
        format!(
            "soak mixed, {} connections, {:.0} s after {} s of warm-up: {}; RSS (median of the first / last tenth of {} samples) {:.1} MiB at start, {:.1} MiB at end ({:+.1}%), range {:.1}–{:.1} MiB, peak {:.1} MiB ({:.1} MiB before the warm-up)",
            self.connections,
            self.outcome.seconds,
            self.warmup,
            self.outcome.line(),
            self.samples.len(),
            self.start_mib().unwrap_or(f64::NAN),
            self.end_mib().unwrap_or(f64::NAN),
            self.growth().unwrap_or(f64::NAN) * 100.0,
            all.min(),
            all.max(),
            Memory::mib(self.peak_kib),
            Memory::mib(self.fresh_kib),
        )
    }
}

/// Warm-up before a soak: a fresh API's RSS climbs for about 40 s under `mixed` (connection
/// buffers, prepared statements on every pooled connection, allocator pages) and then levels
/// off; growth after that is what a leak would show.
pub const SOAK_WARMUP: u64 = 45;

/// `mixed` at `connections` for `seconds` against a freshly started API, after a warm-up.
pub async fn soak(
    url: &str,
    size: &Size,
    seconds: u64,
    connections: usize,
    pool: u32,
) -> Result<Soak, BenchError> {
    let server = Server::start(url, SECRET, pool).await?;
    let target = ApiTarget::new(server.addr, SECRET, size)?;
    let plan = |secs| Plan::new(connections, Duration::from_secs(secs));
    let fresh_kib = server.memory().map_or(0, |m| m.rss_kib);
    load::api(&target, *size, Workload::Mixed, plan(SOAK_WARMUP)).await?;
    let pid = server.pid();
    // Five samples a second for as long as the load runs.
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        for _ in 0..seconds * 5 {
            tick.tick().await;
            samples.extend(pid.and_then(Memory::of).map(|m| m.rss_kib));
        }
        samples
    });
    let outcome = load::api(&target, *size, Workload::Mixed, plan(seconds)).await;
    let samples = sampler.await.unwrap_or_default();
    let peak_kib = server.memory().map_or(0, |m| m.peak_kib);
    server.stop().await?;
    Ok(Soak {
        outcome: outcome?,
        samples,
        peak_kib,
        fresh_kib,
        warmup: SOAK_WARMUP,
        connections,
    })
}

pub async fn report(url: &str, args: ReportArgs) -> Result<(), BenchError> {
    let started = Instant::now();
    let load = tools::load_average();
    let size = args.size;

    info!(size = size.describe(), "seeding");
    tools::recreate_database(url).await?;
    tools::migration(url, &["up"]).await?;
    let db = tools::connect(url, 1).await?;
    let (_, seed_ms) = tools::timed(crate::seed::seed(&db, &size)).await?;

    // The schema's limits before and after the index migration, on the same data: it is rolled
    // back with the migrations that came after it.
    let (last, undone) = index_migration(url).await?;
    tools::migration(url, &["down", "-n", &undone.to_string()]).await?;
    info!(without = last, undone, "measuring paths");
    let before = paths::measure(&db, &size, 5, Duration::from_secs(90)).await?;
    let (_, index_ms) =
        tools::timed(async { tools::migration(url, &["up"]).await.map(drop) }).await?;
    tools::migration(url, &["verify"]).await?;
    let after = paths::measure(&db, &size, 5, Duration::from_secs(90)).await?;
    db.close().await?;

    // API against raw, alternating sides run by run.
    let server = Server::start(url, SECRET, args.shape.pool).await?;
    let target = ApiTarget::new(server.addr, SECRET, &size)?;
    let raw_db = tools::connect(url, args.shape.pool).await?;
    let raw_pool = raw_db.get_postgres_connection_pool();
    let plan = |secs| args.shape.plan(secs);
    let mut rows = Vec::new();
    for workload in Workload::ALL {
        info!(workload = workload.name(), "load");
        load::api(&target, size, workload, plan(args.shape.warmup)).await?;
        load::raw(raw_pool, size, workload, plan(args.shape.warmup)).await?;
        let mut row = Row {
            workload,
            api: Vec::new(),
            raw: Vec::new(),
            statements_per_request: 0.0,
        };
        let mut statements = 0;
        for run in 0..args.runs {
            let api_first = run % 2 == 0;
            if !api_first {
                row.raw
                    .push(load::raw(raw_pool, size, workload, plan(args.shape.duration)).await?);
            }
            let before = load::statements_so_far(server.addr).await?;
            let outcome = load::api(&target, size, workload, plan(args.shape.duration)).await?;
            statements += load::statements_so_far(server.addr).await? - before;
            info!(workload = workload.name(), api = outcome.line());
            row.api.push(outcome);
            if api_first {
                row.raw
                    .push(load::raw(raw_pool, size, workload, plan(args.shape.duration)).await?);
            }
            info!(workload = workload.name(), raw = row.raw[run].line());
        }
        let requests: u64 = row.api.iter().map(|o| o.requests + o.errors).sum();
        row.statements_per_request = statements as f64 / requests.max(1) as f64;
        rows.push(row);
    }
    let memory = server.memory();
    server.stop().await?;
    raw_db.close().await?;

    let soak = if args.soak > 0 {
        info!(seconds = args.soak, "soak");
        Some(soak(url, &size, args.soak, 64, args.shape.pool).await?)
    } else {
        None
    };

    let abuse = if args.abuse > 0 {
        info!(seconds = args.abuse, "abuse");
        let abuse_args = AbuseArgs {
            duration: args.abuse,
            pool: args.shape.pool,
            investigate: true,
            ..AbuseArgs::defaults(size)?
        };
        Some(abuse::abuse(url, &abuse_args).await?)
    } else {
        None
    };

    info!("migration against psql");
    let migrate = migrate::migrate(url, args.migrate_runs.max(1)).await?;

    let text = render(&Rendered {
        args: &args,
        url,
        seed_ms,
        last,
        undone,
        index_ms,
        before,
        after,
        rows,
        memory,
        soak,
        abuse: abuse.as_ref(),
        migrate,
        elapsed: started.elapsed(),
        load,
    })
    .await;
    // Sections this run did not write (`compare`'s, `transfers`', `search`'s, `export`'s, a
    // skipped abuse test, measurements made by hand with the commands they state) stay as they
    // were.
    let previous = std::fs::read_to_string(&args.out).unwrap_or_default();
    let kept: Vec<&str> = doc::headings(&previous)
        .filter(|heading| doc::section(&text, heading).is_none())
        .filter_map(|heading| doc::section(&previous, heading))
        .collect();
    let text = kept
        .into_iter()
        .fold(text, |text, section| doc::replace(&text, section));
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::Setup(e.to_string()))?;
    }
    std::fs::write(&args.out, &text).map_err(|e| BenchError::Setup(e.to_string()))?;
    println!("{text}");
    if let Some(abuse) = &abuse {
        for line in abuse.attack_lines().iter().chain(&abuse.probe_rows()) {
            println!("{line}");
        }
        println!("{}", abuse.summary());
        abuse.verdict()?;
    }
    Ok(())
}

/// The migration that adds the lookup indexes.
const INDEX_MIGRATION: &str = "m20261124_100000_add_lookup_indexes";

/// The index migration's name and how many `down -n` rolls back to undo it (the last
/// migration, and 1, should it be gone).
async fn index_migration(url: &str) -> Result<(String, usize), BenchError> {
    let status = tools::migration(url, &["status", "--json"]).await?;
    let value: serde_json::Value = serde_json::from_str(&status)
        .map_err(|e| BenchError::Setup(format!("migration status --json: {e}")))?;
    let names: Vec<&str> = value["migrations"]
        .as_array()
        .map(|list| list.iter().filter_map(|m| m["name"].as_str()).collect())
        .unwrap_or_default();
    match names.iter().position(|n| *n == INDEX_MIGRATION) {
        Some(at) => Ok((INDEX_MIGRATION.to_owned(), names.len() - at)),
        None => names
            .last()
            .map(|n| ((*n).to_owned(), 1))
            .ok_or_else(|| BenchError::Setup(format!("unexpected status output: {status}"))),
    }
}

struct Rendered<'a> {
    args: &'a ReportArgs,
    url: &'a str,
    seed_ms: f64,
    last: String,
    /// Migrations rolled back to undo `last` (it and those after it).
    undone: usize,
    index_ms: f64,
    before: Vec<PathTiming>,
    after: Vec<PathTiming>,
    rows: Vec<Row>,
    memory: Option<Memory>,
    soak: Option<Soak>,
    abuse: Option<&'a AbuseOutcome>,
    migrate: MigrateOutcome,
    elapsed: Duration,
    /// The load average when the run started.
    load: Option<f64>,
}

fn median_of(outcomes: &[Outcome], f: impl Fn(&Outcome) -> f64) -> Samples {
    Samples::new(outcomes.iter().map(f).collect())
}

async fn render(r: &Rendered<'_>) -> String {
    let a = r.args;
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Written by `bench report` on {} in {:.0} minutes. Reproduce with PostgreSQL at the URL below:\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        r.elapsed.as_secs_f64() / 60.0
    );
    let _ = writeln!(
        s,
        "```sh\ncargo build --release -p api -p migration -p bench && target/release/bench --database-url {} report --runs {} --duration {} --connections {} --pool {} --soak {} --abuse {}\n```\n",
        redact(r.url),
        a.runs,
        a.shape.duration,
        a.shape.connections,
        a.shape.pool,
        a.soak,
        a.abuse
    );
    let _ = writeln!(
        s,
        "## Machine\n\n{} During this run: {} (more than the cores means other work shared \
         them and lowered every req/s here, the API's most: it is the heaviest process).\n",
        machine(r.url).await,
        tools::load_note(r.load)
    );
    let _ = writeln!(
        s,
        "## Data set\n\n{}: seeded in {:.1} s (`bench seed`, one `INSERT … SELECT generate_series` per table).\n",
        a.size.describe(),
        r.seed_ms / 1000.0
    );

    let _ = writeln!(
        s,
        "## API against the raw-SQL limit\n\n\
         {} connections; the API with `DB_MAX_CONNECTIONS={}`, the raw side a pool of the same size running \
         one statement per request that batches each relation over the page in CTEs and folds the answer \
         with `json_agg` (see crates/bench/src/workload.rs). {} runs of {} s per side after {} s of warm-up, \
         sides alternating; figures are medians with the range over runs. Every answer is checked \
         (an HTTP 200 carrying GraphQL errors counts as an error).\n",
        a.shape.connections, a.shape.pool, a.runs, a.shape.duration, a.shape.warmup
    );
    let _ = writeln!(
        s,
        "| workload | API req/s | raw req/s | API/raw | API p50 / p90 / p99 ms | raw p50 / p90 / p99 ms | SQL per API request | errors (API/raw) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let mut list_ratio = f64::NAN;
    for row in &r.rows {
        let api_rps = median_of(&row.api, Outcome::rps);
        let raw_rps = median_of(&row.raw, Outcome::rps);
        let ratio = api_rps.median() / raw_rps.median();
        if row.workload == Workload::List {
            list_ratio = ratio;
        }
        let lat = |o: &[Outcome]| {
            format!(
                "{:.1} / {:.1} / {:.1}",
                median_of(o, |x| x.percentile(50.0)).median(),
                median_of(o, |x| x.percentile(90.0)).median(),
                median_of(o, |x| x.percentile(99.0)).median()
            )
        };
        let errors = |o: &[Outcome]| o.iter().map(|x| x.errors).sum::<u64>();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {} | {:.2} | {}/{} |",
            row.workload.name(),
            api_rps.spread(0),
            raw_rps.spread(0),
            ratio,
            lat(&row.api),
            lat(&row.raw),
            row.statements_per_request,
            errors(&row.api),
            errors(&row.raw)
        );
    }
    let first_errors: Vec<String> = r
        .rows
        .iter()
        .flat_map(|row| row.api.iter().chain(&row.raw))
        .filter_map(|o| o.first_error.clone())
        .collect();
    if let Some(e) = first_errors.first() {
        let _ = writeln!(s, "\nFirst error seen: `{e}`");
    }

    let _ = writeln!(s, "\n## Memory\n");
    if let Some(m) = r.memory {
        let _ = writeln!(
            s,
            "API peak RSS over all the workloads above: {:.1} MiB (VmHWM); {:.1} MiB at their end.",
            Memory::mib(m.peak_kib),
            Memory::mib(m.rss_kib)
        );
    }
    if let Some(soak) = &r.soak {
        let _ = writeln!(s, "\nSoak (a fresh API): {}.", soak.line());
    }

    if let Some(abuse) = r.abuse {
        let _ = writeln!(s, "\n{}", abuse.markdown(&redact(r.url)).trim_end());
    }

    let m = &r.migrate;
    let _ = writeln!(
        s,
        "\n## Migration\n\nAll migrations on an empty database, {} runs each, alternating, {}:\n\n\
         | | median ms (range) | runs ms |\n|---|---|---|\n\
         | `migration up` | {} | {} |\n| `psql -1 -f` of `migration sql up` | {} | {} |\n\n\
         Ratio `migration up` / psql: {:.2}.\n",
        m.runner.all(0).split(' ').count(),
        m.url_note,
        m.runner.spread(0),
        m.runner.all(0),
        m.psql.spread(0),
        m.psql.all(0),
        m.ratio()
    );

    let _ = writeln!(
        s,
        "## The schema's own limits\n\nStatements whose cost the indexes decide, each in a transaction that is \
         rolled back (median of up to 5 runs, range), before and after `{}`{}; building its indexes \
         `CONCURRENTLY` on the populated tables (`migration up`{}) took {:.1} s.\n",
        r.last,
        match r.undone {
            0 | 1 => String::new(),
            2 => " (rolled back with the migration after it)".into(),
            n => format!(" (rolled back with the {} migrations after it)", n - 1),
        },
        match r.undone {
            0 | 1 => String::new(),
            n => format!(", all {n} migrations"),
        },
        r.index_ms / 1000.0
    );
    let _ = writeln!(s, "| path | before ms | after ms |\n|---|---|---|");
    for (b, af) in r.before.iter().zip(&r.after) {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            b.name,
            b.ms.spread(2),
            af.ms.spread(2)
        );
    }
    let _ = writeln!(s, "\napi/raw throughput ratio (list): {list_ratio:.2}");
    s
}

/// The URL without a password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("…"));
            u.into()
        }
        _ => url.to_owned(),
    }
}

async fn machine(url: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or("?".into(), |kib| {
            format!("{:.0} GiB", kib as f64 / 1048576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or("?".into(), |k| k.trim().to_owned());
    let postgres = async {
        use sea_orm::ConnectionTrait;
        let db = tools::connect(url, 1).await.ok()?;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT current_setting('server_version') AS v",
            ))
            .await
            .ok()??;
        row.try_get::<String>("", "v").ok()
    }
    .await
    .unwrap_or_else(|| "?".into());
    format!(
        "{cpu}, {cores} cores, {memory} RAM, Linux {kernel}; PostgreSQL {postgres} on the same machine \
         (default settings), as are the API and the load generator, all sharing the cores."
    )
}
