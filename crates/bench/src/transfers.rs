//! `bench transfers`: the Chapter V workload (`crossBorderTransfers(first: 50)` and
//! `transferSummary`, half and half) on the API against its raw-SQL equivalent (one statement
//! per request), each kind's latency apart: at one connection (what a request costs by itself)
//! and at `--connections` (under load). Before measuring, both sides' answers for one
//! organization are compared field by field.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::LazyLock;

use clap::Args;
use sea_orm::sqlx::{self, PgPool};
use serde_json::Value;

use crate::BenchError;
use crate::data::{self, Size};
use crate::load::{self, ApiTarget, Outcome, Plan, Shape};
use crate::stats::Samples;
use crate::tools::{self, Server};
use crate::workload::{self, Op, Workload};

const SECRET: &str = "bench-secret-not-for-production";

/// The section heading in docs/BENCHMARKS.md.
pub const HEADING: &str = "## Chapter V transfers: API against raw SQL";

/// The target of the transfers issue: `transferSummary`'s p50, in milliseconds.
pub const SUMMARY_P50_TARGET_MS: f64 = 20.0;

/// The two kinds of request, as [`Op::kind`] names them.
const KINDS: [&str; 2] = ["crossBorderTransfers", "transferSummary"];

/// What `transfers` runs.
#[derive(Debug, Args)]
pub struct TransfersArgs {
    /// Runs per side and concurrency (medians and ranges are over these).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Only this organization's requests (by default each request picks one at random).
    #[arg(long)]
    pub org: Option<u32>,
    #[command(flatten)]
    pub shape: Shape,
    /// Also write the section into this file, replacing its previous version.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub size: Size,
}

/// The runs at one concurrency.
struct Level {
    connections: usize,
    api: Vec<Outcome>,
    raw: Vec<Outcome>,
}

/// Runs the workload on the seeded database at `url`; the report's section.
pub async fn transfers(url: &str, args: &TransfersArgs) -> Result<String, BenchError> {
    if let Some(org) = args.org.filter(|&o| o >= args.size.orgs) {
        return Err(BenchError::Input(format!(
            "--org {org}: the data set has organizations 0 to {}",
            args.size.orgs.saturating_sub(1)
        )));
    }
    let load = tools::load_average();
    let server = Server::start(url, SECRET, args.shape.pool).await?;
    let target = ApiTarget::new(server.addr, SECRET, &args.size)?;
    let raw_db = tools::connect(url, args.shape.pool).await?;
    let raw = raw_db.get_postgres_connection_pool();
    let org = args.org.unwrap_or(0);

    let same = same_answers(&target, raw, org).await?;
    let statements = statements_per_kind(&target, org).await?;
    let data_set = data_set(raw, org).await?;

    let mut levels = Vec::new();
    for connections in [1, args.shape.connections.max(1)] {
        let plan = |duration| Plan {
            org: args.org,
            ..Plan::new(connections, duration)
        };
        let times = (
            std::time::Duration::from_secs(args.shape.warmup),
            std::time::Duration::from_secs(args.shape.duration),
            args.runs,
        );
        let (api, raw) =
            load::api_against_raw(&target, raw, args.size, Workload::Transfers, plan, times)
                .await?;
        let level = Level {
            connections,
            api,
            raw,
        };
        levels.push(level);
    }
    let memory = server.memory();
    server.stop().await?;
    raw_db.close().await?;
    Ok(render(
        args,
        &Rendered {
            url: crate::report::redact(url),
            org,
            same,
            statements,
            data_set,
            levels,
            peak_mib: memory.map(|m| tools::Memory::mib(m.peak_kib)),
            load: tools::load_note(load),
        },
    ))
}

/// Both kinds for organization `org` on both sides: equal, or an error naming the difference.
async fn same_answers(target: &ApiTarget, raw: &PgPool, org: u32) -> Result<String, BenchError> {
    let mut sender = load::connect(target.addr).await?;
    let token = &target.tokens[org as usize];
    let mut seen = Vec::new();
    for op in [Op::TransferPage { org }, Op::TransferSummary { org }] {
        let api = load::api_answer(&mut sender, token, &op)
            .await
            .map_err(|e| BenchError::Load(format!("{}: API: {e}", op.kind())))?;
        let raw = load::raw_answer(raw, &op)
            .await
            .map_err(|e| BenchError::Load(format!("{}: raw: {e}", op.kind())))?;
        if let Some(at) = difference(&api, &raw, String::new()) {
            return Err(BenchError::Load(format!(
                "{}: the API and the raw side answer differently for organization {org}, at {at}",
                op.kind()
            )));
        }
        let size = match op {
            Op::TransferPage { .. } => format!(
                "{} of {} locations",
                api["nodes"].as_array().map_or(0, Vec::len),
                api["totalCount"]
            ),
            _ => format!("{} countries", api.as_array().map_or(0, Vec::len)),
        };
        seen.push(format!("`{}` ({size})", op.kind()));
    }
    Ok(seen.join(" and "))
}

/// Where `a` and `b` first differ (a JSON path), if they do.
pub(crate) fn difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} ({} against {} items)", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (x, y))| difference(x, y, format!("{at}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{at}.{k}"),
                )
            })
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{at} ({x} against {y})")),
    }
}

/// The API's SQL statements per request of each kind, from /metrics around 10 requests each
/// (nothing else runs meanwhile).
async fn statements_per_kind(target: &ApiTarget, org: u32) -> Result<Vec<f64>, BenchError> {
    let mut sender = load::connect(target.addr).await?;
    let token = &target.tokens[org as usize];
    let mut out = Vec::new();
    for op in [Op::TransferPage { org }, Op::TransferSummary { org }] {
        let before = load::statements_so_far(target.addr).await?;
        for _ in 0..10 {
            load::api_answer(&mut sender, token, &op)
                .await
                .map_err(BenchError::Load)?;
        }
        out.push((load::statements_so_far(target.addr).await? - before) as f64 / 10.0);
    }
    Ok(out)
}

/// Organization `org`'s active locations per risk level, and its personal data's locations in
/// third countries without adequacy per mechanism: what the workload has to assess.
async fn data_set(raw: &PgPool, org: u32) -> Result<String, BenchError> {
    let db_err = |e: sqlx::Error| BenchError::Load(format!("data set: {e}"));
    let risks: Vec<(String, i64)> = sqlx::query_as(RISK_COUNTS_SQL.as_str())
        .bind(data::org(org))
        .fetch_all(raw)
        .await
        .map_err(db_err)?;
    let mechanisms: Vec<(String, i64)> = sqlx::query_as(THIRD_COUNTRY_MECHANISMS_SQL.as_str())
        .bind(data::org(org))
        .fetch_all(raw)
        .await
        .map_err(db_err)?;
    let list = |rows: &[(String, i64)]| {
        rows.iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let total: i64 = risks.iter().map(|(_, n)| n).sum();
    Ok(format!(
        "organization {org}'s {total} active locations by risk: {}; those of personal data in third countries without an adequacy decision, by mechanism: {}",
        list(&risks),
        list(&mechanisms)
    ))
}

// Built once, from constants only, so sqlx may take them as `'static`.
static RISK_COUNTS_SQL: LazyLock<String> = LazyLock::new(workload::raw_risk_counts_sql);
static THIRD_COUNTRY_MECHANISMS_SQL: LazyLock<String> =
    LazyLock::new(workload::raw_third_country_mechanisms_sql);

struct Rendered {
    url: String,
    org: u32,
    same: String,
    statements: Vec<f64>,
    data_set: String,
    levels: Vec<Level>,
    peak_mib: Option<f64>,
    load: String,
}

fn median(outcomes: &[Outcome], f: impl Fn(&Outcome) -> f64) -> Samples {
    Samples::new(outcomes.iter().map(f).collect())
}

fn render(args: &TransfersArgs, r: &Rendered) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{HEADING}\n");
    let orgs = match args.org {
        Some(o) => format!("organization {o}'s"),
        None => "a random organization's (per request)".into(),
    };
    let _ = writeln!(
        s,
        "Measured on {} by `bench transfers`: `transfers` sends {orgs} `crossBorderTransfers(first: 50) \
         {{ totalCount nodes {{ id service country {{ isoCode }} digitalAsset {{ name }} transfer {{ risk legalBasis reasons }} }} }}` \
         or `transferSummary {{ country {{ isoCode }} assets locations worstRisk }}`, half and half, on the data set \
         of the report ({}). The raw side runs one statement per request that assesses the locations over \
         the reference tables (`countries`, `transfer_mechanisms`) with the rules of `service::transfers` \
         and folds the answer with `json_agg` (crates/bench/src/workload.rs); its answers and the API's \
         for organization {} were compared field by field before the runs and are the same: {}. \
         Every answer of the runs is checked (shape, risk at LOW or worse, worst first). The API with \
         `DB_MAX_CONNECTIONS={}`, the raw side a pool of that size; {} runs of {} s per side and \
         concurrency after {} s of warm-up, sides alternating; medians with the range over the runs.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.size.describe(),
        r.org,
        r.same,
        args.shape.pool,
        args.runs.max(1),
        args.shape.duration,
        args.shape.warmup,
    );
    let _ = writeln!(s, "Data set: {}.\n", r.data_set);
    let _ = writeln!(
        s,
        "| connections | request | API req/s | raw req/s | API/raw | API p50 / p99 ms | raw p50 / p99 ms | API p50 / raw p50 | SQL per API request |\n|---|---|---|---|---|---|---|---|---|"
    );
    let mut summary_p50 = f64::NAN;
    for level in &r.levels {
        for (i, kind) in KINDS.iter().enumerate() {
            let rps = |o: &[Outcome]| median(o, |x| x.kind_rps(kind));
            let p = |o: &[Outcome], q| median(o, |x| x.kind_percentile(kind, q));
            let (api_rps, raw_rps) = (rps(&level.api), rps(&level.raw));
            let (api50, raw50) = (p(&level.api, 50.0), p(&level.raw, 50.0));
            if level.connections == 1 && *kind == "transferSummary" {
                summary_p50 = api50.median();
            }
            let _ = writeln!(
                s,
                "| {} | `{kind}` | {} | {} | {:.2} | {} / {:.1} | {} / {:.1} | {:.2} | {:.1} |",
                level.connections,
                api_rps.spread(0),
                raw_rps.spread(0),
                api_rps.median() / raw_rps.median(),
                api50.spread(1),
                p(&level.api, 99.0).median(),
                raw50.spread(1),
                p(&level.raw, 99.0).median(),
                api50.median() / raw50.median(),
                r.statements.get(i).copied().unwrap_or(f64::NAN),
            );
        }
    }
    let verdict = if summary_p50 < SUMMARY_P50_TARGET_MS {
        "met"
    } else {
        "**not met**"
    };
    let _ = writeln!(
        s,
        "\n`transferSummary` at one connection: p50 {summary_p50:.1} ms (target: under \
         {SUMMARY_P50_TARGET_MS:.0} ms at p50): {verdict}. The rows at {} connections share the two \
         cores with PostgreSQL and the load generator, so their latencies are mostly queueing; \
         the rows at one connection are what a request costs. API peak RSS {}; machine: {}.\n",
        args.shape.connections,
        r.peak_mib.map_or("?".into(), |m| format!("{m:.1} MiB")),
        r.load
    );
    let _ = writeln!(
        s,
        "Reproduce (after `bench seed --recreate`):\n\n```sh\ntarget/release/bench --database-url {} transfers --runs {} --duration {} --warmup {} --connections {} --pool {}{} --orgs {} --assets {}\n```",
        r.url,
        args.runs.max(1),
        args.shape.duration,
        args.shape.warmup,
        args.shape.connections,
        args.shape.pool,
        args.org.map_or(String::new(), |o| format!(" --org {o}")),
        args.size.orgs,
        args.size.assets,
    );
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::difference;

    #[test]
    fn differences_are_found_with_their_path() {
        let a = json!({"nodes": [{"id": "1", "reasons": ["A", "B"]}], "totalCount": 1});
        assert_eq!(difference(&a, &a.clone(), String::new()), None);
        let b = json!({"nodes": [{"id": "1", "reasons": ["A"]}], "totalCount": 1});
        assert_eq!(
            difference(&a, &b, String::new()).as_deref(),
            Some(".nodes[0].reasons (2 against 1 items)")
        );
        let c = json!({"nodes": [{"id": "2", "reasons": ["A", "B"]}], "totalCount": 1});
        assert_eq!(
            difference(&a, &c, String::new()).as_deref(),
            Some(".nodes[0].id (\"1\" against \"2\")")
        );
    }
}
