//! `bench compare`: the throughput of two builds of the API on some workloads (`list` and `get`
//! unless told otherwise) in one sitting, the builds alternating run by run (before, after,
//! before, after, …) so that whatever the shared machine does meanwhile falls on both.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tracing::info;

use crate::BenchError;
use crate::data::Size;
use crate::load::{self, ApiTarget, Outcome, Shape};
use crate::stats::Samples;
use crate::tools::{self, Memory, Server};
use crate::workload::Workload;

const SECRET: &str = "bench-secret-not-for-production";

/// How every section `compare` writes in docs/BENCHMARKS.md ends its heading (`## <title>:
/// <workloads> before and after`).
pub const HEADING_END: &str = " before and after";

/// The section's heading: what changed and which workloads were compared.
pub fn heading(title: &str, workloads: &[Workload]) -> String {
    let names: Vec<&str> = workloads.iter().map(|w| w.name()).collect();
    let listed = match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    };
    format!("## {title}: {listed}{HEADING_END}")
}

/// What `compare` runs.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier build's `api` binary.
    #[arg(long)]
    pub before: PathBuf,
    /// What the earlier build is (a commit), for the report.
    #[arg(long, default_value = "before")]
    pub before_name: String,
    /// The later build's `api` binary (default: the release `api` next to `bench`).
    #[arg(long)]
    pub after: Option<PathBuf>,
    /// What the later build is.
    #[arg(long, default_value = "after")]
    pub after_name: String,
    /// Rounds; each runs every workload once on each build.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The workloads to compare, in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "list,get")]
    pub workloads: Vec<Workload>,
    /// What changed between the builds: the section is headed `## <title>: <workloads> before
    /// and after` (a comparison of other workloads or of another change gets its own section).
    #[arg(long, default_value = "Hardening")]
    pub title: String,
    #[command(flatten)]
    pub shape: Shape,
    /// Also write the section into this file, replacing its previous version.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub size: Size,
}

/// One workload on both builds.
struct Row {
    workload: Workload,
    before: Vec<Outcome>,
    after: Vec<Outcome>,
    /// The API's CPU time per request of each run, in milliseconds: unlike throughput, hardly
    /// moved by whatever else the machine runs.
    cpu_before: Vec<f64>,
    cpu_after: Vec<f64>,
    /// SQL statements per request over all runs (from the API's /metrics).
    statements: [f64; 2],
    /// CPU time of the PostgreSQL backends per request of each run, in milliseconds, before
    /// and after: the other half of what a request costs on a machine both share.
    pg_cpu: [Vec<f64>; 2],
}

/// Runs the comparison on the seeded database at `url`; the report's section.
pub async fn compare(url: &str, args: &CompareArgs) -> Result<String, BenchError> {
    let after_path = match &args.after {
        Some(path) => path.clone(),
        None => tools::binary("api")?,
    };
    if args.workloads.is_empty() {
        return Err(BenchError::Input("--workloads: name at least one".into()));
    }
    let load = tools::load_average();
    let db = tools::connect(url, 1).await?;
    let before = Server::start_binary(&args.before, url, SECRET, args.shape.pool).await?;
    let after = Server::start_binary(&after_path, url, SECRET, args.shape.pool).await?;
    let sides = [
        (
            ApiTarget::new(before.addr, SECRET, &args.size)?,
            before.pid(),
        ),
        (ApiTarget::new(after.addr, SECRET, &args.size)?, after.pid()),
    ];
    let plan = |secs| args.shape.plan(secs);
    let mut rows = Vec::new();
    for &workload in &args.workloads {
        let mut row = Row {
            workload,
            before: Vec::new(),
            after: Vec::new(),
            cpu_before: Vec::new(),
            cpu_after: Vec::new(),
            statements: [0.0; 2],
            pg_cpu: [Vec::new(), Vec::new()],
        };
        let mut statements = [0u64; 2];
        for round in 0..args.rounds.max(1) {
            for (side, (target, pid)) in sides.iter().enumerate() {
                load::api(target, args.size, workload, plan(args.shape.warmup)).await?;
                let cpu = || pid.and_then(tools::cpu_seconds).unwrap_or(f64::NAN);
                let sql_start = load::statements_so_far(target.addr).await?;
                let pg_start = backend_cpu(&db).await?;
                let cpu_start = cpu();
                let outcome =
                    load::api(target, args.size, workload, plan(args.shape.duration)).await?;
                let per_request = |seconds: f64| seconds * 1000.0 / outcome.requests.max(1) as f64;
                let cpu_ms = per_request(cpu() - cpu_start);
                let pg_ms = per_request(cpu_since(&pg_start, &backend_cpu(&db).await?));
                statements[side] += load::statements_so_far(target.addr).await? - sql_start;
                outcome.ok()?;
                info!(
                    workload = workload.name(),
                    round,
                    build = [&args.before_name, &args.after_name][side],
                    cpu_ms,
                    pg_ms,
                    outcome = outcome.line()
                );
                row.pg_cpu[side].push(pg_ms);
                [&mut row.before, &mut row.after][side].push(outcome);
                [&mut row.cpu_before, &mut row.cpu_after][side].push(cpu_ms);
            }
        }
        for (side, outcomes) in [&row.before, &row.after].into_iter().enumerate() {
            let requests: u64 = outcomes.iter().map(|o| o.requests + o.errors).sum();
            row.statements[side] = statements[side] as f64 / requests.max(1) as f64;
        }
        rows.push(row);
    }
    let memory = [before.memory(), after.memory()];
    before.stop().await?;
    after.stop().await?;
    db.close().await?;
    let load = tools::load_note(load);
    Ok(render(
        args,
        &crate::report::redact(url),
        &rows,
        memory,
        &load,
    ))
}

fn render(
    args: &CompareArgs,
    url: &str,
    rows: &[Row],
    memory: [Option<Memory>; 2],
    load: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}\n", heading(&args.title, &args.workloads));
    let _ = writeln!(
        s,
        "Measured on {}: `{}` (before) and `{}` (after), both started by `bench compare` on the same seeded \
         database with `DB_MAX_CONNECTIONS={}` and every other setting at its default; {} connections, \
         {} rounds, each running every workload for {} s after {} s of warm-up on before, then on after. \
         Figures: median (range) over the rounds; every answer checked, no errors. The API's CPU time \
         per request (user + system, from /proc) is hardly moved by whatever else the machine runs, \
         unlike req/s; so is PostgreSQL's (its backends serving this database, from /proc: it runs on \
         this machine). SQL statements per request are the API's own count (/metrics).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.before_name,
        args.after_name,
        args.shape.pool,
        args.shape.connections,
        args.rounds.max(1),
        args.shape.duration,
        args.shape.warmup,
    );
    let _ = writeln!(
        s,
        "| workload | before req/s | after req/s | after/before | API CPU ms per request before | after | after/before | PostgreSQL CPU ms per request before | after | after/before | SQL per request before / after | before p50 / p99 ms | after p50 / p99 ms | req/s of the runs before | after |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let rps = |o: &[Outcome]| Samples::new(o.iter().map(Outcome::rps).collect());
        let latency = |o: &[Outcome]| {
            let p = |q| Samples::new(o.iter().map(|x| x.percentile(q)).collect()).median();
            format!("{:.1} / {:.1}", p(50.0), p(99.0))
        };
        let (b, a) = (rps(&row.before), rps(&row.after));
        let (cb, ca) = (
            Samples::new(row.cpu_before.clone()),
            Samples::new(row.cpu_after.clone()),
        );
        let (pb, pa) = (
            Samples::new(row.pg_cpu[0].clone()),
            Samples::new(row.pg_cpu[1].clone()),
        );
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {} | {:.2} | {} | {} | {:.2} | {:.2} / {:.2} | {} | {} | {} | {} |",
            row.workload.name(),
            b.spread(0),
            a.spread(0),
            a.median() / b.median(),
            cb.spread(2),
            ca.spread(2),
            ca.median() / cb.median(),
            pb.spread(2),
            pa.spread(2),
            pa.median() / pb.median(),
            row.statements[0],
            row.statements[1],
            latency(&row.before),
            latency(&row.after),
            run_order(&row.before),
            run_order(&row.after),
        );
    }
    let peak =
        |m: Option<Memory>| m.map_or("?".into(), |m| format!("{:.1}", Memory::mib(m.peak_kib)));
    let _ = writeln!(
        s,
        "\nAPI peak RSS over these runs: {} MiB before, {} MiB after. Machine: {load}.\n",
        peak(memory[0]),
        peak(memory[1])
    );
    let _ = writeln!(
        s,
        "Reproduce (the before binary built in a separate worktree and target directory):\n\n```sh\n\
         git worktree add /tmp/before {name}\n\
         (cd /tmp/before && CARGO_TARGET_DIR=$PWD/../before-target cargo build --release -p api)\n\
         target/release/bench --database-url {url} compare --before /tmp/before-target/release/api --before-name {name} --after-name {after} --workloads {workloads} --title {title} --rounds {} --duration {} --warmup {} --connections {} --pool {} --orgs {} --assets {}\n```",
        args.rounds.max(1),
        args.shape.duration,
        args.shape.warmup,
        args.shape.connections,
        args.shape.pool,
        args.size.orgs,
        args.size.assets,
        name = args.before_name,
        after = args.after_name,
        workloads = args
            .workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(","),
        title = shell_quote(&args.title),
    );
    s
}

/// `text` as one shell word.
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,/".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// CPU seconds so far of each PostgreSQL backend serving the benchmark's database (but this
/// connection's), by process id, from /proc: PostgreSQL runs on this machine. Only the build
/// under load uses its backends meanwhile.
async fn backend_cpu(db: &DatabaseConnection) -> Result<Vec<(u32, f64)>, BenchError> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let pid: i32 = row.try_get("", "pid")?;
        if let Ok(pid) = u32::try_from(pid)
            && let Some(seconds) = tools::cpu_seconds(pid)
        {
            out.push((pid, seconds));
        }
    }
    Ok(out)
}

/// The CPU seconds the backends of `end` used since `start` (a backend started since counts
/// whole; one that ended meanwhile is lost, which a pool's connections rarely do).
fn cpu_since(start: &[(u32, f64)], end: &[(u32, f64)]) -> f64 {
    end.iter()
        .map(|(pid, now)| {
            let then = start
                .iter()
                .find(|(p, _)| p == pid)
                .map_or(0.0, |(_, s)| *s);
            now - then
        })
        .sum()
}

/// The runs' req/s in the order they ran.
fn run_order(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| format!("{:.0}", o.rps()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_heading_is_the_one_the_first_comparison_wrote() {
        let default = heading("Hardening", &[Workload::List, Workload::Get]);
        assert_eq!(default, "## Hardening: list and get before and after");
        let writes = heading("Change log", &[Workload::Create, Workload::Update]);
        assert_eq!(writes, "## Change log: create and update before and after");
        assert_eq!(
            heading("X", &[Workload::List, Workload::Get, Workload::Update]),
            "## X: list, get and update before and after"
        );
    }

    #[test]
    fn titles_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("Hardening"), "Hardening");
        assert_eq!(shell_quote("Change log"), "'Change log'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
