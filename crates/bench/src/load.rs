//! Drives a workload with N concurrent clients, each on its own connection, and reports
//! throughput, latency percentiles and errors. Two targets: the API over HTTP/1.1 keep-alive,
//! and PostgreSQL directly (the raw limit) through a pool of the API's size.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use sea_orm::sqlx::{self, PgPool};
use serde_json::Value;
use tokio::net::TcpStream;

use crate::BenchError;
use crate::data::{self, Kind, Size};
use crate::workload::{self, Op, Rng, Workload};

/// How hard and how long a series of runs drives its target.
#[derive(Debug, Args, Clone, Copy)]
pub struct Shape {
    /// Concurrent connections.
    #[arg(short, long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds per run.
    #[arg(short, long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of the same load before each run, not counted.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Database connections (the API's DB_MAX_CONNECTIONS, and the raw pool).
    #[arg(long, default_value_t = 16)]
    pub pool: u32,
}

impl Shape {
    /// `connections` clients for `secs` seconds.
    pub fn plan(&self, secs: u64) -> Plan {
        Plan::new(self.connections, Duration::from_secs(secs))
    }
}

/// How long or how much to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub connections: usize,
    pub duration: Duration,
    /// Stop after this many requests in all (before the duration, if it comes first).
    pub requests: Option<u64>,
    /// Only this organization's requests (by default, every organization's).
    pub org: Option<u32>,
}

impl Plan {
    /// `connections` clients for `duration`, over every organization.
    pub fn new(connections: usize, duration: Duration) -> Self {
        Self {
            connections,
            duration,
            requests: None,
            org: None,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Latencies of the successful requests, in microseconds, sorted.
    latencies: Vec<u32>,
    /// The same per kind of request ([`Op::kind`]), each sorted, in the order first seen.
    kinds: Vec<(&'static str, Vec<u32>)>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::EPSILON)
    }

    /// The `p`th percentile latency in milliseconds (nearest rank).
    pub fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }

    /// The `p`th percentile latency of the requests of `kind`, in milliseconds.
    pub fn kind_percentile(&self, kind: &str, p: f64) -> f64 {
        self.kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(f64::NAN, |(_, l)| percentile(l, p))
    }

    /// Successful requests of `kind` per second.
    pub fn kind_rps(&self, kind: &str) -> f64 {
        let n = self
            .kinds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, l)| l.len());
        n as f64 / self.seconds.max(f64::EPSILON)
    }

    /// A run with failed requests measured something else than the workload: an error.
    pub fn ok(&self) -> Result<(), BenchError> {
        match self.errors {
            0 => Ok(()),
            n => Err(BenchError::Load(format!(
                "{n} of {} requests failed; first: {}",
                self.requests + n,
                self.first_error.as_deref().unwrap_or("?")
            ))),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, {} requests, {} errors{}",
            self.rps(),
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.requests,
            self.errors,
            self.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        )
    }
}

/// The `p`th percentile of sorted `latencies` (µs), in milliseconds (nearest rank).
fn percentile(latencies: &[u32], p: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
    f64::from(latencies[rank.clamp(1, latencies.len()) - 1]) / 1000.0
}

/// Shared by a run's clients: when to stop, and numbers for creates.
struct Control {
    until: Instant,
    budget: Option<u64>,
    issued: AtomicU64,
    serial: AtomicU64,
}

impl Control {
    fn new(plan: &Plan) -> Arc<Self> {
        // Created names and ids must not repeat across runs against the same database.
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Arc::new(Self {
            until: Instant::now() + plan.duration,
            budget: plan.requests,
            issued: AtomicU64::new(0),
            serial: AtomicU64::new(epoch << 20),
        })
    }

    fn another(&self) -> bool {
        if Instant::now() >= self.until {
            return false;
        }
        match self.budget {
            None => true,
            Some(max) => self.issued.fetch_add(1, Ordering::Relaxed) < max,
        }
    }

    /// A number no other request of any run against this database gets.
    fn serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }
}

/// One client's tally: latencies per kind of request.
#[derive(Default)]
struct Tally {
    kinds: Vec<(&'static str, Vec<u32>)>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, kind: &'static str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                match self.kinds.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, latencies)) => latencies.push(micros),
                    None => self.kinds.push((kind, vec![micros])),
                }
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

async fn gather(
    started: Instant,
    tasks: Vec<tokio::task::JoinHandle<Result<Tally, BenchError>>>,
) -> Result<Outcome, BenchError> {
    let mut out = Outcome::default();
    for task in tasks {
        let tally = task
            .await
            .map_err(|e| BenchError::Load(format!("a client task failed: {e}")))??;
        out.errors += tally.errors;
        if out.first_error.is_none() {
            out.first_error = tally.first_error;
        }
        for (kind, latencies) in tally.kinds {
            out.requests += latencies.len() as u64;
            out.latencies.extend_from_slice(&latencies);
            match out.kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, all)) => all.extend(latencies),
                None => out.kinds.push((kind, latencies)),
            }
        }
    }
    out.seconds = started.elapsed().as_secs_f64();
    out.latencies.sort_unstable();
    for (_, latencies) in &mut out.kinds {
        latencies.sort_unstable();
    }
    Ok(out)
}

/// The API under test: where it listens and the tokens of the data set's organizations.
#[derive(Clone)]
pub struct ApiTarget {
    pub addr: std::net::SocketAddr,
    pub tokens: Arc<Vec<String>>,
}

impl ApiTarget {
    pub fn new(addr: std::net::SocketAddr, secret: &str, size: &Size) -> Result<Self, BenchError> {
        let keys = identity::Keys::new(secret.as_bytes());
        let tokens = (0..size.orgs)
            .map(|o| {
                keys.sign(
                    &data::org(o),
                    &data::user(o, 0),
                    Duration::from_secs(86_400),
                )
                .map_err(|e| BenchError::Load(format!("cannot sign a token: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            addr,
            tokens: Arc::new(tokens),
        })
    }
}

/// Runs `workload` against the API.
pub async fn api(
    target: &ApiTarget,
    size: Size,
    workload: Workload,
    plan: Plan,
) -> Result<Outcome, BenchError> {
    let control = Control::new(&plan);
    let started = Instant::now();
    let tasks = (0..plan.connections)
        .map(|i| {
            let target = target.clone();
            let control = control.clone();
            tokio::spawn(async move {
                let mut sender = connect(target.addr).await?;
                let mut rng = Rng::new(0x5EED + i as u64);
                let mut tally = Tally::default();
                while control.another() {
                    let op = workload.next(&size, plan.org, &mut rng, control.serial());
                    let token = &target.tokens[op.org() as usize];
                    let t = Instant::now();
                    let result = api_call(&mut sender, token, &op, &size).await;
                    if result.is_err() && sender.is_closed() {
                        sender = connect(target.addr).await?;
                    }
                    tally.record(t, op.kind(), result);
                }
                Ok(tally)
            })
        })
        .collect();
    gather(started, tasks).await
}

/// The sending side of a kept-alive HTTP/1.1 connection to the API.
pub type Sender = SendRequest<Full<Bytes>>;

/// A kept-alive HTTP/1.1 connection to the API.
pub async fn connect(addr: std::net::SocketAddr) -> Result<Sender, BenchError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| BenchError::Load(format!("cannot connect to the API at {addr}: {e}")))?;
    stream.set_nodelay(true).ok();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| BenchError::Load(format!("HTTP handshake with {addr}: {e}")))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// The API's answer to one request, whatever its status.
pub struct Answer {
    pub status: hyper::StatusCode,
    /// Whether it said when to retry (`Retry-After`).
    pub retry_after: bool,
    pub body: Bytes,
}

/// Sends `body` to `POST /graphql` with `token`; `Err` only when no answer came.
pub async fn post(sender: &mut Sender, token: &str, body: Bytes) -> Result<Answer, String> {
    let request = Request::post("/graphql")
        .header("host", "bench")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

async fn api_call(sender: &mut Sender, token: &str, op: &Op, size: &Size) -> Result<(), String> {
    let value = api_answer(sender, token, op).await?;
    op.check(size, &value)
}

/// The value of `op`'s field in the API's answer (`Err` for an HTTP error or GraphQL errors).
pub async fn api_answer(sender: &mut Sender, token: &str, op: &Op) -> Result<Value, String> {
    let body = serde_json::to_vec(&op.graphql()).map_err(|e| e.to_string())?;
    let Answer { status, body, .. } = post(sender, token, Bytes::from(body)).await?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    let mut answer: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    if let Some(errors) = answer.get("errors") {
        return Err(format!("GraphQL errors: {errors}"));
    }
    let mut value = answer["data"].take();
    for key in op.data_path() {
        value = value[*key].take();
    }
    Ok(value)
}

/// The API and the raw side on one workload: a warm-up of each, then `runs` runs of each,
/// alternating which side goes first run by run, so that whatever the machine does meanwhile
/// falls on both. Returns each side's outcomes, in run order; a run with errors stops it.
pub async fn api_against_raw(
    target: &ApiTarget,
    raw_db: &PgPool,
    size: Size,
    workload: Workload,
    plan: impl Fn(Duration) -> Plan,
    (warmup, duration, runs): (Duration, Duration, usize),
) -> Result<(Vec<Outcome>, Vec<Outcome>), BenchError> {
    api(target, size, workload, plan(warmup)).await?;
    raw(raw_db, size, workload, plan(warmup)).await?;
    let (mut apis, mut raws) = (Vec::new(), Vec::new());
    for run in 0..runs.max(1) {
        let api_first = run % 2 == 0;
        if !api_first {
            raws.push(raw(raw_db, size, workload, plan(duration)).await?);
        }
        apis.push(api(target, size, workload, plan(duration)).await?);
        if api_first {
            raws.push(raw(raw_db, size, workload, plan(duration)).await?);
        }
        for (side, outcome) in [("api", &apis[run]), ("raw", &raws[run])] {
            outcome.ok()?;
            tracing::info!(
                workload = workload.name(),
                connections = plan(duration).connections,
                side,
                run,
                outcome = outcome.line()
            );
        }
    }
    Ok((apis, raws))
}

/// The raw limit: the same operations as single SQL statements on a pool of `pool` connections.
pub async fn raw(
    db: &PgPool,
    size: Size,
    workload: Workload,
    plan: Plan,
) -> Result<Outcome, BenchError> {
    let control = Control::new(&plan);
    let sql = RawSql::new();
    let started = Instant::now();
    let tasks = (0..plan.connections)
        .map(|i| {
            let db = db.clone();
            let control = control.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(0x5EED + i as u64);
                let mut tally = Tally::default();
                while control.another() {
                    let op = workload.next(&size, plan.org, &mut rng, control.serial());
                    let t = Instant::now();
                    let result = raw_call(&db, sql, &op, &size).await;
                    tally.record(t, op.kind(), result);
                }
                Ok(tally)
            })
        })
        .collect();
    gather(started, tasks).await
}

// Built once, from constants only (no input reaches them), so sqlx may take them as `'static`.
static RAW_LIST_SQL: LazyLock<String> = LazyLock::new(workload::raw_list_sql);
static RAW_GET_SQL: LazyLock<String> = LazyLock::new(workload::raw_get_sql);
static RAW_TRANSFER_PAGE_SQL: LazyLock<String> = LazyLock::new(workload::raw_transfer_page_sql);
static RAW_TRANSFER_SUMMARY_SQL: LazyLock<String> =
    LazyLock::new(workload::raw_transfer_summary_sql);

#[derive(Clone, Copy)]
struct RawSql {
    list: &'static str,
    get: &'static str,
    transfer_page: &'static str,
    transfer_summary: &'static str,
}

impl RawSql {
    fn new() -> Self {
        Self {
            list: RAW_LIST_SQL.as_str(),
            get: RAW_GET_SQL.as_str(),
            transfer_page: RAW_TRANSFER_PAGE_SQL.as_str(),
            transfer_summary: RAW_TRANSFER_SUMMARY_SQL.as_str(),
        }
    }
}

/// The raw side's answer to `op` (the same JSON as the API's field).
pub async fn raw_answer(db: &PgPool, op: &Op) -> Result<Value, String> {
    raw_value(db, RawSql::new(), op).await
}

async fn raw_call(db: &PgPool, sql: RawSql, op: &Op, size: &Size) -> Result<(), String> {
    let value = raw_value(db, sql, op).await?;
    op.check(size, &value)
}

async fn raw_value(db: &PgPool, sql: RawSql, op: &Op) -> Result<Value, String> {
    let org = data::org(op.org());
    let query = match op {
        Op::List { .. } => sqlx::query_scalar::<_, String>(sql.list).bind(org),
        Op::Get { asset, .. } => sqlx::query_scalar(sql.get).bind(org).bind(asset.clone()),
        Op::ByCountry { country, .. } => sqlx::query_scalar(workload::RAW_BY_COUNTRY_SQL)
            .bind(org)
            .bind(*country),
        Op::Create { serial, .. } => sqlx::query_scalar(workload::RAW_CREATE_SQL)
            .bind(org)
            .bind(data::id(Kind::Created, *serial * 3))
            .bind(format!("Bench created {serial}"))
            .bind(data::id(Kind::Created, *serial * 3 + 1))
            .bind(data::id(Kind::Created, *serial * 3 + 2)),
        Op::Update { asset, serial, .. } => sqlx::query_scalar(workload::RAW_UPDATE_SQL)
            .bind(org)
            .bind(asset.clone())
            .bind(Op::update_text(*serial)),
        Op::TransferPage { .. } => sqlx::query_scalar(sql.transfer_page).bind(org),
        Op::TransferSummary { .. } => sqlx::query_scalar(sql.transfer_summary).bind(org),
        // Trimmed as the API trims a search (a small data set draws ` 42`); the draws hold
        // no `%`, `_` or backslash, so the API's escaping changes nothing here.
        Op::Search { text, .. } => sqlx::query_scalar(workload::RAW_SEARCH_SQL)
            .bind(org)
            .bind(format!("%{}%", text.trim())),
    };
    let text = query.fetch_one(db).await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The API's count of SQL statements so far (from `/metrics`).
pub async fn statements_so_far(addr: std::net::SocketAddr) -> Result<u64, BenchError> {
    let mut sender = connect(addr).await?;
    let request = Request::get("/metrics")
        .header("host", "bench")
        .body(Full::new(Bytes::new()))
        .map_err(|e| BenchError::Load(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| BenchError::Load(format!("GET /metrics: {e}")))?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| BenchError::Load(format!("GET /metrics: {e}")))?
        .to_bytes();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix("inventory_db_statements_total "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| BenchError::Load("/metrics has no inventory_db_statements_total".into()))
}
