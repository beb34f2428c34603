//! The GraphQL API of the digital-asset inventory: `build` starts it, `App::run_until_stopped`
//! serves until SIGINT or SIGTERM.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod server;
pub mod tenants;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database};

use crate::db::{Databases, Db};
use service::reference_cache::ReferenceCache;
use tokio::net::TcpListener;

use crate::admission::Admission;
use crate::auth::Keys;
use crate::config::{Cli, Command, Config};
use crate::server::ConnectionLimits;
use crate::tenants::KnownOrganizations;

/// How long a change to countries or transfer mechanisms made outside migrations may go unseen.
const REFERENCE_TTL: Duration = Duration::from_secs(60);
/// How long a deleted organization's tokens may still be let in (to find nothing).
const ORGANIZATION_TTL: Duration = Duration::from_secs(60);

/// Why the server could not start (said on one line).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the command line.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Admin(args) => admin::run(&cli.config, args).await,
        Command::Schema => {
            println!("{}", graphql::sdl());
            Ok(())
        }
        Command::Token {
            org,
            sub,
            ttl_hours,
        } => token(&cli.config, &org, &sub, ttl_hours),
        Command::Serve => match build(cli.config).await {
            Ok(app) => {
                app.print_banner();
                app.run_until_stopped().await.map_err(StartupError::from)
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn token(config: &Config, org: &str, sub: &str, ttl_hours: u64) -> Result<(), StartupError> {
    let keys = Keys::new(secret(config)?.as_bytes());
    let ttl = ttl_hours
        .checked_mul(3600)
        .filter(|s| *s <= 100 * 365 * 24 * 3600)
        .ok_or_else(|| StartupError::Config("--ttl-hours must be at most 100 years".into()))?;
    let token = keys
        .sign(org, sub, Duration::from_secs(ttl))
        .map_err(|e| StartupError::Config(format!("cannot sign: {e}")))?;
    println!("{token}");
    Ok(())
}

/// The database the configuration names: DATABASE_URL, or the embedded default's SQLite file
/// under DATA_DIR (its folder created).
pub(crate) fn database_url(config: &Config) -> Result<String, StartupError> {
    let url = match &config.database_url {
        Some(url) if !config.is_embedded() => url.trim().to_owned(),
        _ => {
            std::fs::create_dir_all(&config.data_dir)?;
            format!(
                "sqlite://{}?mode=rwc",
                config.data_dir.join("inventory.db").display()
            )
        }
    };
    if !url.starts_with("sqlite:") && !url.starts_with("postgres") {
        return Err(StartupError::Config(
            "DATABASE_URL must be postgres://… or sqlite://…".into(),
        ));
    }
    Ok(url)
}

/// How every connection of this binary is made: statement and lock timeouts set at connection
/// start on PostgreSQL (no statement waits on a lock, or runs, without end), WAL and the same
/// lock timeout as busy timeout on SQLite. Pool sizes are the caller's. Behind a
/// transaction-mode pooler, no session state and no statement cache: see [`db::Db`].
pub(crate) fn connect_options(
    url: &str,
    limits: &config::Limits,
    pooler: config::Pooler,
) -> ConnectOptions {
    let pooled = pooler == config::Pooler::Transaction;
    let lock_timeout = limits.db_lock_timeout;
    let lock_timeout_ms = lock_timeout.as_millis().max(1);
    let statement_timeout = limits.db_statement_timeout.as_millis().max(1);
    let mut opts = ConnectOptions::new(url);
    opts.acquire_timeout(Duration::from_secs(10))
        .sqlx_logging_level(log::LevelFilter::Debug)
        // sqlx pings every connection it hands out by default: a round trip per statement
        // (4 of the 10 sends a `get` made). Only a connection idle long enough for the
        // server or a proxy to have dropped it is checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(lock_timeout)
                .create_if_missing(true)
        })
        .map_sqlx_postgres_opts(move |o| {
            if pooled {
                // Db sets the timeouts in each transaction.
                return o.statement_cache_capacity(0);
            }
            o.options([
                ("statement_timeout", statement_timeout.to_string()),
                ("lock_timeout", lock_timeout_ms.to_string()),
            ])
        });
    opts
}

/// How long a query waits for a connection to the read replica. Shorter than the primary's
/// (10 s, which rides out a restart): a replica that is gone turns a query into
/// SERVICE_UNAVAILABLE within seconds (twice this, with the retry of a lost read), and waits
/// for a free connection are short anyway, since admission keeps fewer requests executing than
/// the pool has connections.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of `url` for the server, as `config` says.
async fn pool(config: &Config, url: &str, sqlite: bool, replica: bool) -> Result<Db, StartupError> {
    let limits = &config.limits;
    let mut opts = connect_options(url, limits, config.database_pooler);
    if replica {
        opts.acquire_timeout(REPLICA_ACQUIRE_TIMEOUT);
    }
    opts.max_connections(if sqlite { 4 } else { config.db_max_connections })
        .min_connections(if sqlite { 1 } else { 2 })
        // PostgreSQL may come up after us: start, and answer 503 on /readyz until it does.
        .connect_lazy(!sqlite);
    let mut conn = Database::connect(opts)
        .await
        .map_err(|e| StartupError::Database(e.to_string()))?;
    metrics::install(&mut conn);
    Ok(match config.database_pooler {
        config::Pooler::Transaction if !sqlite => {
            Db::behind_transaction_pooler(conn, limits.db_statement_timeout, limits.db_lock_timeout)
        }
        _ => Db::direct(conn),
    })
}

/// A server ready to run.
pub struct App {
    listener: TcpListener,
    origins: http::CorsOrigins,
    connections: ConnectionLimits,
    state: Arc<http::AppState>,
    addr: SocketAddr,
    database: String,
    demo_token: Option<String>,
}

/// Connects, prepares the database (on SQLite: migrates and seeds the demo organization) and
/// binds the listener.
pub async fn build(config: Config) -> Result<App, StartupError> {
    let embedded = config.is_embedded();
    let url = database_url(&config)?;
    let sqlite = url.starts_with("sqlite:");
    let keys = Keys::new(secret(&config)?.as_bytes());
    let limits = config.limits.clone();
    let primary = pool(&config, &url, sqlite, false).await?;
    let db = primary.pool().clone();
    let replica = match config.database_read_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(_) if sqlite => {
            return Err(StartupError::Config(
                "DATABASE_READ_URL needs DATABASE_URL to be PostgreSQL".into(),
            ));
        }
        Some(read) if read.starts_with("postgres") => Some(pool(&config, read, false, true).await?),
        Some(_) => {
            return Err(StartupError::Config(
                "DATABASE_READ_URL must be postgres://…".into(),
            ));
        }
    };
    let dbs = Databases { primary, replica };

    let mut demo_token = None;
    if sqlite {
        // The embedded database migrates itself; PostgreSQL is migrated by `migration up`.
        let target = migration::runner::Target {
            db: db.clone(),
            url: url.clone(),
        };
        migration::runner::up(&target, None, migration::runner::Timeouts::default())
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;
        if embedded {
            let tenant = service::demo::ensure(&db)
                .await
                .map_err(|e| StartupError::Database(e.to_string()))?;
            if let Some(t) = tenant {
                let token = keys
                    .sign(
                        &t.organization_id,
                        &t.user_id,
                        Duration::from_secs(30 * 24 * 3600),
                    )
                    .map_err(|e| StartupError::Config(e.to_string()))?;
                demo_token = Some(token);
            }
        }
    }

    let origins = match &config.cors_allowed_origins {
        Some(list) => http::CorsOrigins::parse(list)
            .map_err(|e| StartupError::Config(format!("CORS_ALLOWED_ORIGINS: {e}")))?,
        None if embedded => http::CorsOrigins::local(),
        None => http::CorsOrigins::default(),
    };
    let schema = graphql::builder(limits.max_query_cost)
        .data(dbs.clone())
        .finish();
    let state = Arc::new(http::AppState {
        schema,
        dbs,
        keys,
        reference: Arc::new(ReferenceCache::new(REFERENCE_TTL)),
        admission: Admission::new(config.max_concurrent_requests(), limits.max_queued_requests),
        exports: http::ExportGate::new(limits.max_concurrent_exports as usize),
        organizations: KnownOrganizations::new(ORGANIZATION_TTL),
        limits: http::RequestLimits {
            request_timeout: limits.request_timeout,
            body_timeout: limits.http_body_timeout,
            response_budget: limits.response_budget,
            max_batch: limits.max_batch_operations.max(1),
        },
        persisted: http::PersistedQueries::new(limits.persisted_queries_cache),
        graphiql: http::graphiql::Page::new("/graphql", demo_token.as_deref()),
    });
    let listener = TcpListener::bind(config.listen_addr.as_str())
        .await
        .map_err(|source| StartupError::Listen {
            addr: config.listen_addr.clone(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let connections = ConnectionLimits {
        max_connections: server::connection_cap(limits.max_connections),
        header_timeout: limits.http_header_timeout,
        write_timeout: limits.http_write_timeout,
        shutdown_grace: Duration::from_secs(10),
    };
    let database = if embedded {
        format!(
            "{} (embedded default)",
            config.data_dir.join("inventory.db").display()
        )
    } else if sqlite {
        "SQLite".to_owned()
    } else {
        "PostgreSQL".to_owned()
    };
    Ok(App {
        listener,
        origins,
        connections,
        state,
        addr,
        database,
        demo_token,
    })
}

impl App {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What a person starting the server needs: where it is, and on the embedded default a token.
    pub fn print_banner(&self) {
        println!(
            "digital-asset inventory API listening on http://{}",
            self.addr
        );
        println!("  GraphiQL:  http://{}/graphql", self.addr);
        println!("  database:  {}", self.database);
        if let Some(token) = &self.demo_token {
            println!("  demo organization token (30 days); in GraphiQL's Headers tab paste:");
            println!("  {{\"Authorization\": \"Bearer {token}\"}}");
        }
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish (10 s at most).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let routes = http::routes(self.state, &self.origins);
        server::serve(self.listener, routes, self.connections, shutdown_signal()).await
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}

/// The token secret: AUTH_JWT_SECRET, or on the embedded default one generated once and kept in
/// the data folder (so printed tokens survive a restart).
pub(crate) fn secret(config: &Config) -> Result<String, StartupError> {
    if let Some(secret) = config.auth_jwt_secret.as_deref().filter(|s| !s.is_empty()) {
        if secret.len() < 16 {
            return Err(StartupError::Config(
                "AUTH_JWT_SECRET must be at least 16 characters".into(),
            ));
        }
        return Ok(secret.to_owned());
    }
    if !config.is_embedded() {
        return Err(StartupError::Config(
            "AUTH_JWT_SECRET is required with DATABASE_URL (only the embedded default generates one)".into(),
        ));
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join(".jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(existing.trim().to_owned());
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    write_private(&path, &secret)?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
