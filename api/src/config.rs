//! Configuration, from flags or the environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The GraphQL API of the digital-asset inventory.
#[derive(Debug, Parser)]
#[command(name = "api", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub config: Config,
}

/// What to do; serving is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Create or update organizations, users, purposes and data-processing activities, by flags
    /// or from a JSON file (from a fresh database to a first query without SQL).
    #[command(long_about = crate::admin::LONG_ABOUT)]
    Admin(crate::admin::AdminArgs),
    /// Print a bearer token signed with the configured secret.
    Token {
        /// The organization the token acts for (`org_id` claim).
        #[arg(long)]
        org: String,
        /// The user the token names (`sub` claim).
        #[arg(long)]
        sub: String,
        /// How long the token is valid, in hours.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
}

/// What stands between the API and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pooler {
    /// Nothing, or a pooler in session mode: each connection is a session of its own.
    None,
    /// A pooler in transaction mode (PgBouncer's `pool_mode = transaction`).
    Transaction,
}

/// Server configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL; default: an SQLite file under ./data/ (the embedded default).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// A read replica of DATABASE_URL (e.g. a streaming standby), PostgreSQL only: GraphQL
    /// queries and exports read from it; mutations, and the reads of their answers, run on
    /// DATABASE_URL. `/readyz` checks both; `/metrics` reports the replica's lag.
    #[arg(long, env = "DATABASE_READ_URL", global = true, hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// `transaction` when DATABASE_URL (and DATABASE_READ_URL) lead to a transaction-mode
    /// connection pooler such as PgBouncer: no statement cache, every statement in a
    /// transaction, the timeouts set per transaction instead of per session.
    #[arg(long, env = "DATABASE_POOLER", value_enum, default_value_t = Pooler::None, global = true)]
    pub database_pooler: Pooler,

    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "LISTEN_ADDR",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub listen_addr: String,

    /// HS256 secret that bearer tokens are signed with. Required outside the embedded default;
    /// there, a secret is generated once and kept in ./data/.
    #[arg(long, env = "AUTH_JWT_SECRET", global = true, hide_env_values = true)]
    pub auth_jwt_secret: Option<String>,

    /// Largest number of database connections.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub db_max_connections: u32,

    /// Most GraphQL requests executed at once; more wait their turn. Default: twice the CPU
    /// cores. Executing is CPU-bound, so running more at once only holds more answers in
    /// memory (measured: peak RSS 81 MiB with 32 at once, 58 MiB with 4, same throughput).
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: Option<u32>,

    /// Folder of the embedded default's database and secret.
    #[arg(long, env = "DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Origins of browser apps allowed to call the API (comma-separated, e.g.
    /// `https://app.example.com,http://localhost:*`; `:*` allows any port). Default: on the
    /// embedded default `http://localhost:*` and `http://127.0.0.1:*`, otherwise none.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", global = true)]
    pub cors_allowed_origins: Option<String>,

    #[command(flatten)]
    pub limits: Limits,
}

/// What one client, request or connection may take; the README's "Limits" section.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Most requests waiting for their turn to execute (beyond: HTTP 503 with Retry-After).
    /// One organization may hold at most half of the executing slots and half of this queue,
    /// so that its blocked or slow requests never take every slot from the others.
    #[arg(long, env = "MAX_QUEUED_REQUESTS", default_value_t = 64, global = true)]
    pub max_queued_requests: usize,

    /// Most exports (`/export/…`) streaming at once, at most one per organization (beyond: HTTP
    /// 503). An export takes no request slot while it streams, which may last minutes.
    #[arg(long, env = "MAX_CONCURRENT_EXPORTS", default_value_t = 2, global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_exports: u32,

    /// Longest a request may take from its headers to its answer, waiting included (beyond:
    /// HTTP 503, code TIMEOUT).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = duration, global = true)]
    pub request_timeout: Duration,

    /// PostgreSQL `statement_timeout` of the API's connections (code TIMEOUT).
    #[arg(long, env = "DB_STATEMENT_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub db_statement_timeout: Duration,

    /// PostgreSQL `lock_timeout` of the API's connections: how long a write waits for a row
    /// another transaction holds (beyond: code LOCK_TIMEOUT, retryable).
    #[arg(long, env = "DB_LOCK_TIMEOUT", default_value = "3s", value_parser = duration, global = true)]
    pub db_lock_timeout: Duration,

    /// Most estimated values a query may select: every field counts 1, times the page size
    /// (`first`) for pages and times 10 for an asset's locations and activities.
    #[arg(long, env = "MAX_QUERY_COST", default_value_t = 25_000, global = true)]
    pub max_query_cost: usize,

    /// Most values one response may hold, counted as it is built (rows of every list times
    /// the fields selected on them); past it, execution stops with RESPONSE_TOO_LARGE.
    #[arg(long, env = "RESPONSE_BUDGET", default_value_t = 50_000, global = true)]
    pub response_budget: usize,

    /// Most TCP connections open at once (clamped below the open-file limit); more wait to be
    /// accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096, global = true)]
    pub max_connections: usize,

    /// Longest a connection may take to send a request's headers, and longest an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub http_header_timeout: Duration,

    /// Most operations in one batched request (a JSON array); each is costed and limited as
    /// if sent alone.
    #[arg(
        long,
        env = "MAX_BATCH_OPERATIONS",
        default_value_t = 10,
        global = true
    )]
    pub max_batch_operations: usize,

    /// Query texts remembered for automatic persisted queries (per server; each at most 32 KiB).
    #[arg(
        long,
        env = "PERSISTED_QUERIES_CACHE",
        default_value_t = 1000,
        global = true
    )]
    pub persisted_queries_cache: usize,

    /// Longest a client may leave its answer unread (no progress) before the connection is
    /// closed: an unread answer stays in memory.
    #[arg(long, env = "HTTP_WRITE_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub http_write_timeout: Duration,

    /// Longest a request may take to send its body (beyond: HTTP 408).
    #[arg(long, env = "HTTP_BODY_TIMEOUT", default_value = "10s", value_parser = duration, global = true)]
    pub http_body_timeout: Duration,
}

/// `90` (seconds), `500ms`, `2m`, `1h 30m`: a duration, checked for overflow.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("`{s}`: {e}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration like 10s, 500ms or 2m: {e}"))
}

impl Config {
    /// MAX_CONCURRENT_REQUESTS, or twice the CPU cores.
    pub fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests.map_or_else(
            || 2 * std::thread::available_parallelism().map_or(1, usize::from),
            |n| n as usize,
        )
    }

    /// Whether this is the embedded default (no DATABASE_URL).
    pub fn is_embedded(&self) -> bool {
        self.database_url
            .as_deref()
            .is_none_or(|u| u.trim().is_empty())
    }
}
