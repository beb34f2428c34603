//! Configuration, from flags or the environment.

use std::path::PathBuf;

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

/// Server configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL; default: an SQLite file under ./data/ (the embedded default).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

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
