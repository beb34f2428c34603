//! Finding and exporting assets. `bench search`: the `search` workload on the API and its raw
//! SQL, with the trigram indexes and then without them (dropped and recreated as they were, in
//! one sitting). `bench export`: `GET /export/digital-assets.csv` of an organization of 100,000
//! rows, read through, with the API's resident memory sampled meanwhile.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tracing::info;

use crate::BenchError;
use crate::data::{self, COUNTRIES, Kind, Size};
use crate::load::{self, ApiTarget, Outcome, Plan, Shape};
use crate::stats::Samples;
use crate::tools::{self, Memory, Server};
use crate::transfers::difference;
use crate::workload::{Op, Rng, Workload};

const SECRET: &str = "bench-secret-not-for-production";

/// The section headings in docs/BENCHMARKS.md.
pub const SEARCH_HEADING: &str = "## Asset search: with and without the trigram indexes";
pub const EXPORT_HEADING: &str = "## CSV export: 100,000 rows, time and memory";

/// The trigram indexes of migration m20261128_000000_asset_search_and_orderings.
const TRIGRAM_INDEXES: [&str; 3] = [
    "idx_digital_assets_name_trgm",
    "idx_digital_assets_description_trgm",
    "idx_digital_assets_url_trgm",
];

/// What `search` runs.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Runs per side and index state (medians and ranges are over these).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[command(flatten)]
    pub shape: Shape,
    /// Also write the section into this file, replacing its previous version.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub size: Size,
}

struct State {
    api: Vec<Outcome>,
    raw: Vec<Outcome>,
}

/// Runs `search` with the indexes, drops them, runs it again, and recreates them as they were.
pub async fn search(url: &str, args: &SearchArgs) -> Result<String, BenchError> {
    let load = tools::load_average();
    let db = tools::connect(url, args.shape.pool).await?;
    let definitions = index_definitions(&db).await?;
    let server = Server::start(url, SECRET, args.shape.pool).await?;
    let target = ApiTarget::new(server.addr, SECRET, &args.size)?;
    let (same, matched) = search_answers(&target, &db, &args.size).await?;
    let with = measure(&target, &db, args).await?;
    for index in TRIGRAM_INDEXES {
        db.execute_unprepared(&format!("DROP INDEX \"{index}\""))
            .await?;
    }
    info!("trigram indexes dropped");
    let without = measure(&target, &db, args).await;
    // Recreated whatever happened, so the database ends as it was.
    for definition in &definitions {
        db.execute_unprepared(definition).await?;
    }
    db.execute_unprepared("VACUUM ANALYZE digital_assets")
        .await?;
    info!("trigram indexes recreated");
    let without = without?;
    let memory = server.memory();
    server.stop().await?;
    db.close().await?;
    Ok(render_search(
        args,
        &crate::report::redact(url),
        &same,
        &matched,
        &definitions,
        &[("with", &with), ("without", &without)],
        memory,
        &tools::load_note(load),
    ))
}

/// `CREATE INDEX` statements of the three trigram indexes, as PostgreSQL has them.
async fn index_definitions(db: &DatabaseConnection) -> Result<Vec<String>, BenchError> {
    let mut out = Vec::new();
    for index in TRIGRAM_INDEXES {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT indexdef FROM pg_indexes WHERE indexname = '{index}'"),
            ))
            .await?
            .ok_or_else(|| {
                BenchError::Setup(format!(
                    "index {index} is missing: run `migration up` (or `bench seed --recreate`)"
                ))
            })?;
        out.push(row.try_get::<String>("", "indexdef")?);
    }
    Ok(out)
}

async fn measure(
    target: &ApiTarget,
    db: &DatabaseConnection,
    args: &SearchArgs,
) -> Result<State, BenchError> {
    let raw = db.get_postgres_connection_pool();
    let plan = |duration| Plan::new(args.shape.connections, duration);
    let times = (
        Duration::from_secs(args.shape.warmup),
        Duration::from_secs(args.shape.duration),
        args.runs,
    );
    let (api, raw) =
        load::api_against_raw(target, raw, args.size, Workload::Search, plan, times).await?;
    let state = State { api, raw };
    Ok(state)
}

/// 50 draws of the workload: both sides' answers compared; the matches' share of the
/// organization's assets.
async fn search_answers(
    target: &ApiTarget,
    db: &DatabaseConnection,
    size: &Size,
) -> Result<(String, String), BenchError> {
    let raw = db.get_postgres_connection_pool();
    let mut sender = load::connect(target.addr).await?;
    let mut rng = Rng::new(0xF1D);
    let mut shares = Vec::new();
    let mut example = String::new();
    for serial in 0..50 {
        let op = Workload::Search.next(size, None, &mut rng, serial);
        let token = &target.tokens[op.org() as usize];
        let api = load::api_answer(&mut sender, token, &op)
            .await
            .map_err(|e| BenchError::Load(format!("search: API: {e}")))?;
        let raw = load::raw_answer(raw, &op)
            .await
            .map_err(|e| BenchError::Load(format!("search: raw: {e}")))?;
        op.check(size, &api).map_err(BenchError::Load)?;
        if let Some(at) = difference(&api, &raw, String::new()) {
            return Err(BenchError::Load(format!(
                "search: the API and the raw side answer {op:?} differently, at {at}"
            )));
        }
        let total = api["totalCount"].as_u64().unwrap_or(0);
        if let (true, Op::Search { org, text }) = (example.is_empty(), &op) {
            example = format!("`{text}` in organization {org}: {total} assets");
        }
        shares.push(100.0 * total as f64 / f64::from(size.assets));
    }
    let shares = Samples::new(shares);
    Ok((
        "the API's and the raw side's answers to 50 draws are the same (totalCount and the page's ids and names)".into(),
        format!(
            "matches per search, in % of the organization's assets: median and range {}; e.g. {example}",
            shares.spread(1)
        ),
    ))
}

#[allow(clippy::too_many_arguments)]
fn render_search(
    args: &SearchArgs,
    url: &str,
    same: &str,
    matched: &str,
    definitions: &[String],
    states: &[(&str, &State)],
    memory: Option<Memory>,
    load: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{SEARCH_HEADING}\n");
    let _ = writeln!(
        s,
        "Measured on {} by `bench search`: each request is a random organization's \
         `digitalAssets(filter: {{ search: <text> }}, first: 50) {{ totalCount nodes {{ id name }} }}` \
         on the data set of the report ({}). The text is the first three digits of a random asset's \
         number, which the seed writes into its description (`Benchmark asset number 20345`) and url \
         (`https://asset-20345.bench.invalid/`): for five-digit numbers the hundred assets of that \
         hundred, 5% of the organization's, plus the few whose name (`Asset ` and ten hex digits of \
         an md5) holds the same digits ({matched}). The raw side is the same `ILIKE` in one statement \
         (crates/bench/src/workload.rs, `RAW_SEARCH_SQL`); {same}. Every answer of the runs is \
         checked (the page as long as the total allows, only the organization's assets). \
         {} connections, the API with `DB_MAX_CONNECTIONS={}`, the raw side a pool of that size; \
         {} runs of {} s per side after {} s of warm-up, sides alternating; medians with the range \
         over the runs. First with the three trigram indexes, then after `DROP INDEX` of them, then \
         they were recreated with their own definitions (`{}` …) and `VACUUM ANALYZE digital_assets`.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.size.describe(),
        args.shape.connections,
        args.shape.pool,
        args.runs.max(1),
        args.shape.duration,
        args.shape.warmup,
        definitions.first().map_or("", String::as_str),
    );
    let _ = writeln!(
        s,
        "| trigram indexes | API req/s | API p50 / p99 ms | raw req/s | raw p50 / p99 ms | API/raw req/s |\n|---|---|---|---|---|---|"
    );
    let m = |o: &[Outcome], f: &dyn Fn(&Outcome) -> f64| Samples::new(o.iter().map(f).collect());
    for (name, state) in states {
        let api_rps = m(&state.api, &|o| o.rps());
        let raw_rps = m(&state.raw, &|o| o.rps());
        let _ = writeln!(
            s,
            "| {name} | {} | {} / {:.1} | {} | {} / {:.1} | {:.2} |",
            api_rps.spread(0),
            m(&state.api, &|o| o.percentile(50.0)).spread(1),
            m(&state.api, &|o| o.percentile(99.0)).median(),
            raw_rps.spread(0),
            m(&state.raw, &|o| o.percentile(50.0)).spread(1),
            m(&state.raw, &|o| o.percentile(99.0)).median(),
            api_rps.median() / raw_rps.median(),
        );
    }
    let _ = writeln!(
        s,
        "\nThe search is scoped to one organization: without the trigram indexes every `ILIKE` of \
         the organization's assets is evaluated; with them PostgreSQL can read the candidates from \
         the indexes. API peak RSS {}; machine: {load}.\n",
        memory.map_or("?".into(), |m| format!(
            "{:.1} MiB",
            Memory::mib(m.peak_kib)
        ))
    );
    let _ = writeln!(
        s,
        "Reproduce (after `bench seed --recreate`; it drops the three indexes and recreates them):\n\n```sh\ntarget/release/bench --database-url {url} search --runs {} --duration {} --warmup {} --connections {} --pool {} --orgs {} --assets {} --out docs/BENCHMARKS.md\n```",
        args.runs.max(1),
        args.shape.duration,
        args.shape.warmup,
        args.shape.connections,
        args.shape.pool,
        args.size.orgs,
        args.size.assets,
    );
    s
}

/// What `export` runs.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Exports, one after the other, on the same API.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Rows of the export organization (assets of four active locations each, so a multiple of 4).
    #[arg(long, default_value_t = 100_000)]
    pub rows: u32,
    /// Database connections of the API.
    #[arg(long, default_value_t = 16)]
    pub pool: u32,
    /// Also write the section into this file, replacing its previous version.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Locations per asset of the export organization.
const EXPORT_LOCATIONS: u32 = 4;
/// The export organization's number (its id is `data::org(EXPORT_ORG)`).
const EXPORT_ORG: u32 = 1_000_000;
/// First row number of the export organization's assets and locations (far above the seed's).
const EXPORT_FIRST: u64 = 1_000_000_000;

struct Export {
    idle_kib: u64,
    peak_kib: u64,
    rows: u64,
    bytes: u64,
    seconds: f64,
    first_byte_ms: f64,
}

/// Seeds the export organization unless it is there, then exports it `runs` times.
pub async fn export(url: &str, args: &ExportArgs) -> Result<String, BenchError> {
    if args.rows == 0 || !args.rows.is_multiple_of(EXPORT_LOCATIONS) {
        return Err(BenchError::Input(
            "--rows must be a positive multiple of 4".into(),
        ));
    }
    let load = tools::load_average();
    let db = tools::connect(url, 1).await?;
    let seeded = seed_export_org(&db, args.rows).await?;
    db.close().await?;
    let server = Server::start(url, SECRET, args.pool).await?;
    let pid = server
        .pid()
        .ok_or_else(|| BenchError::Setup("the API has no pid".into()))?;
    let token = identity::Keys::new(SECRET.as_bytes())
        .sign(
            &data::org(EXPORT_ORG),
            &data::id(Kind::User, u64::from(EXPORT_ORG)),
            Duration::from_secs(86_400),
        )
        .map_err(|e| BenchError::Load(format!("cannot sign a token: {e}")))?;
    let mut runs = Vec::new();
    for run in 0..args.runs.max(1) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let out = export_once(server.addr, pid, &token).await?;
        if out.rows != u64::from(args.rows) {
            return Err(BenchError::Load(format!(
                "export {run}: {} rows, expected {}",
                out.rows, args.rows
            )));
        }
        info!(
            run,
            rows = out.rows,
            bytes = out.bytes,
            seconds = out.seconds,
            idle_mib = Memory::mib(out.idle_kib),
            peak_mib = Memory::mib(out.peak_kib),
            "export"
        );
        runs.push(out);
    }
    server.stop().await?;
    Ok(render_export(
        args,
        &crate::report::redact(url),
        &seeded,
        &runs,
        &tools::load_note(load),
    ))
}

/// Inserts the export organization (one user, `rows / 4` assets of 4 active locations each)
/// unless it is there with as many rows.
async fn seed_export_org(db: &DatabaseConnection, rows: u32) -> Result<String, BenchError> {
    let org = data::org(EXPORT_ORG);
    let count = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT count(*) AS n FROM asset_processing_locations WHERE organization_id = '{org}' AND is_active"
            ),
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let assets = rows / EXPORT_LOCATIONS;
    let note = format!(
        "organization `{org}` (`Bench export organization`), {assets} assets × {EXPORT_LOCATIONS} active locations"
    );
    if count == i64::from(rows) {
        return Ok(note);
    }
    let started = Instant::now();
    let quoted: Vec<String> = COUNTRIES.iter().map(|c| format!("'{c}'")).collect();
    let countries = format!("ARRAY[{}]", quoted.join(","));
    let n = COUNTRIES.len();
    let user = data::id(Kind::User, u64::from(EXPORT_ORG));
    let asset = |expr: &str| data::id_sql(Kind::Asset, &format!("{EXPORT_FIRST} + {expr}"));
    let statements = [
        format!("DELETE FROM asset_processing_locations WHERE organization_id = '{org}'"),
        format!("DELETE FROM digital_assets WHERE organization_id = '{org}'"),
        format!("DELETE FROM users WHERE organization_id = '{org}'"),
        format!("DELETE FROM organizations WHERE id = '{org}'"),
        format!(
            "INSERT INTO organizations (id, name, slug, headquarters_country_id)
             VALUES ('{org}', 'Bench export organization', 'bench-export-org', 'DE')"
        ),
        format!(
            "INSERT INTO users (id, organization_id, name, email)
             VALUES ('{user}', '{org}', 'Export user', 'export@bench.invalid')"
        ),
        format!(
            "INSERT INTO digital_assets (id, organization_id, name, type, description,
                 primary_hosting_country_id, url, technical_owner_id, business_owner_id,
                 contains_personal_data, integration_status, discovered_via)
             SELECT {id}, '{org}', 'Export asset ' || substr(md5('export' || n), 1, 10),
                    'DATABASE', 'Benchmark export asset number ' || n, ({countries})[1 + n % {n}],
                    'https://export-' || n || '.bench.invalid/', '{user}', '{user}',
                    n % 3 <> 0, 'CONNECTED', 'bench export'
             FROM generate_series(0, {last}) n",
            id = asset("n"),
            last = assets - 1,
        ),
        format!(
            "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id,
                 service, purpose_text, country_id, location_role, transfer_mechanism_id,
                 is_active, created_at, updated_at)
             SELECT {id}, '{org}', {asset}, 'Service ' || (m % {EXPORT_LOCATIONS}),
                    'Benchmark purpose', ({countries})[1 + (m * 7) % {n}],
                    (ARRAY['HOSTING','PROCESSING','BOTH'])[1 + m % 3]::\"LocationRole\",
                    (ARRAY[NULL,'SCC','ADEQUACY','BCR'])[1 + m % 4], true,
                    timestamptz '2026-01-01 00:00:00+00' + (m % {EXPORT_LOCATIONS}) * interval '1 second',
                    timestamptz '2026-01-01 00:00:00+00'
             FROM generate_series(0, {last}) m",
            id = data::id_sql(Kind::Location, &format!("{EXPORT_FIRST} + m")),
            asset = asset(&format!("m / {EXPORT_LOCATIONS}")),
            last = rows - 1,
        ),
    ];
    let txn = sea_orm::TransactionTrait::begin(db).await?;
    for sql in &statements {
        txn.execute_unprepared(sql).await?;
    }
    txn.commit().await?;
    db.execute_unprepared("VACUUM ANALYZE digital_assets")
        .await?;
    db.execute_unprepared("VACUUM ANALYZE asset_processing_locations")
        .await?;
    info!(
        seconds = started.elapsed().as_secs_f64(),
        "export organization seeded"
    );
    Ok(note)
}

/// One export read through, the API's VmRSS sampled every 50 ms meanwhile.
async fn export_once(
    addr: std::net::SocketAddr,
    pid: u32,
    token: &str,
) -> Result<Export, BenchError> {
    let idle_kib = Memory::of(pid)
        .ok_or_else(|| BenchError::Setup("cannot read the API's memory".into()))?
        .rss_kib;
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(idle_kib));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(m) = Memory::of(pid) {
                    peak.fetch_max(m.rss_kib, Ordering::Relaxed);
                }
            }
        })
    };
    let mut sender = load::connect(addr).await?;
    let request = Request::get("/export/digital-assets.csv")
        .header("host", "bench")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .map_err(|e| BenchError::Load(e.to_string()))?;
    let started = Instant::now();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| BenchError::Load(format!("GET /export/digital-assets.csv: {e}")))?;
    let status = response.status();
    let mut body = response.into_body();
    let (mut bytes, mut lines, mut first_byte_ms) = (0u64, 0u64, f64::NAN);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BenchError::Load(format!("export body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if bytes == 0 && !data.is_empty() {
                first_byte_ms = started.elapsed().as_secs_f64() * 1000.0;
            }
            bytes += data.len() as u64;
            lines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.await.ok();
    if let Some(m) = Memory::of(pid) {
        peak.fetch_max(m.rss_kib, Ordering::Relaxed);
    }
    if !status.is_success() {
        return Err(BenchError::Load(format!("export: HTTP {status}")));
    }
    Ok(Export {
        idle_kib,
        peak_kib: peak.load(Ordering::Relaxed),
        // The header line is not a row.
        rows: lines.saturating_sub(1),
        bytes,
        seconds,
        first_byte_ms,
    })
}

fn render_export(
    args: &ExportArgs,
    url: &str,
    seeded: &str,
    runs: &[Export],
    load: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{EXPORT_HEADING}\n");
    let _ = writeln!(
        s,
        "Measured on {} by `bench export`: `GET /export/digital-assets.csv` of an organization \
         with {} export rows ({seeded}; inserted by the tool with `INSERT … SELECT generate_series` \
         next to the seeded data set unless it is there), read through by the bench's HTTP client, \
         which counts lines and bytes (every run checked to have all rows). The API \
         (`DB_MAX_CONNECTIONS={}`) reads 50 assets per batch (`BATCH` in \
         api/src/http/export/mod.rs); its VmRSS (/proc/<pid>/status) is read just before each \
         export (idle) and every 50 ms during it (peak). {} exports one after the other on the \
         same API process, a second apart. Target: peak within 20 MiB of idle.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.rows,
        args.pool,
        runs.len(),
    );
    let _ = writeln!(
        s,
        "| run | idle RSS MiB | peak RSS MiB | peak − idle MiB | within 20 MiB | rows | MB | seconds | first byte ms | rows/s | MB/s |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, r) in runs.iter().enumerate() {
        let diff = Memory::mib(r.peak_kib.saturating_sub(r.idle_kib));
        let mb = r.bytes as f64 / 1e6;
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.1} | {diff:.1} | {} | {} | {mb:.1} | {:.2} | {:.0} | {:.0} | {:.1} |",
            i + 1,
            Memory::mib(r.idle_kib),
            Memory::mib(r.peak_kib),
            if diff <= 20.0 { "yes" } else { "**no**" },
            r.rows,
            r.seconds,
            r.first_byte_ms,
            r.rows as f64 / r.seconds,
            mb / r.seconds,
        );
    }
    let _ = writeln!(
        s,
        "\nMB are 10^6 bytes. Run 1 starts from the freshly started API (no request served yet); \
         the idle RSS of the later runs holds what the earlier exports left resident (the \
         allocator keeps freed memory), so their peak − idle is the growth of a warm process. The \
         bench's client, PostgreSQL and the API share the machine's cores; machine: {load}.\n"
    );
    let _ = writeln!(
        s,
        "Reproduce (after `bench seed --recreate`; the export organization stays in the database \
         until the next `seed --recreate`):\n\n```sh\ntarget/release/bench --database-url {url} export --runs {} --rows {} --pool {} --out docs/BENCHMARKS.md\n```",
        runs.len(),
        args.rows,
        args.pool,
    );
    s
}
