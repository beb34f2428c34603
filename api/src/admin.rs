//! `api admin`: organizations, users, purposes and data-processing activities, created or
//! updated idempotently by their keys, one at a time by flags or in bulk from a JSON file, so
//! that a fresh database gets to a first query without SQL. The work is the service's
//! [`service::directory`]; this module reads the command line, connects as the server does and
//! says what was done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use migration::MigratorTrait;
use sea_orm::Database;

use crate::config::Pooler;
use crate::db::Db;
use service::ServiceError;
use service::directory::{
    self, ActivitySpec, Change, Directory, DirectoryError, Entry, Kind, OrganizationRef,
    OrganizationSpec, Outcome, PurposeSpec, UserSpec,
};

use crate::StartupError;
use crate::auth::Keys;
use crate::config::Config;

/// `api admin --help`: how records are found and changed, what is printed, the examples.
pub const LONG_ABOUT: &str = "\
Create or update organizations, users, purposes and data-processing activities, by flags or \
from a JSON file (from a fresh database to a first query without SQL).

Each record is found by its key (an organization by slug, a user by e-mail, a purpose or an \
activity by name within its organization): created when absent, updated when a given field \
differs, left alone otherwise. A field not given keeps its stored value.

Output: one line per record, `created|updated|unchanged KIND KEY ID` (the id is the last word), \
then `token JWT` when a token was asked for; --json prints one JSON document instead. A \
command's records are written in one transaction: on any error nothing is written, the error \
names the flag or the place in the file (`organizations[0].users[2].email`), and the exit code \
is 1 (2 for a usage error).

Database: DATABASE_URL, as for the server. The embedded default (no DATABASE_URL: the SQLite \
file under DATA_DIR) and SQLite are migrated first; PostgreSQL must be migrated already \
(`migration up`).

Examples:
  api admin org --slug acme --name 'Acme GmbH' --headquarters DE
  api admin user --org acme --email ann@acme.example --name 'Ann Example' --token
  api admin purpose --org acme --name Billing --description 'Invoices and reminders'
  api admin activity --org acme --name Payroll --status ACTIVE
  api admin import directory.json --token-for ann@acme.example";

/// `api admin …`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,

    /// Print one JSON document (`changes`, `token`, `dry_run`) instead of lines.
    #[arg(long, global = true)]
    pub json: bool,

    /// Check everything and report what would change, then roll back: nothing is written.
    #[arg(long, global = true)]
    pub dry_run: bool,
}

/// The records `api admin` manages.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create or update an organization, by slug; prints its id.
    Org(OrgArgs),
    /// Create or update a user of an organization, by e-mail; --token prints a bearer token.
    User(UserArgs),
    /// Create or update a purpose of an organization, by name.
    Purpose(PurposeArgs),
    /// Create or update a data-processing activity of an organization, by name.
    Activity(ActivityArgs),
    /// Create or update everything a JSON file lists, in one transaction.
    #[command(long_about = IMPORT_ABOUT)]
    Import(ImportArgs),
}

const IMPORT_ABOUT: &str = "\
Create or update everything a JSON file lists, in one transaction: one bad record and nothing \
is written. The file:

  { \"organizations\": [ {
      \"slug\": \"acme\", \"name\": \"Acme GmbH\", \"headquarters\": \"DE\",
      \"users\":      [ { \"email\": \"ann@acme.example\", \"name\": \"Ann Example\" } ],
      \"purposes\":   [ { \"name\": \"Billing\", \"description\": \"Invoices\", \"active\": true } ],
      \"activities\": [ { \"name\": \"Payroll\", \"description\": \"Monthly pay\", \"status\": \"ACTIVE\" } ]
  } ] }

Only the keys are required (slug, email, a purpose's or activity's name; name too when an \
organization or user is created). An absent field keeps what is stored; null clears \
headquarters or a description. Unknown fields are refused.";

/// `api admin org`.
#[derive(Debug, Args)]
pub struct OrgArgs {
    /// The key: 1 to 63 characters of a-z, 0-9 and -.
    #[arg(long)]
    pub slug: String,
    /// Required to create.
    #[arg(long)]
    pub name: Option<String>,
    /// A country id: ISO 3166-1 alpha-2, e.g. DE; "" clears it.
    #[arg(long, value_name = "COUNTRY")]
    pub headquarters: Option<String>,
}

/// `api admin user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// The organization: its slug or id.
    #[arg(long)]
    pub org: String,
    /// The key, unique across all organizations (found case-insensitively).
    #[arg(long)]
    pub email: String,
    /// Required to create.
    #[arg(long)]
    pub name: Option<String>,
    /// Print a bearer token for this user, signed with AUTH_JWT_SECRET (on the embedded
    /// default: the secret kept under DATA_DIR).
    #[arg(long)]
    pub token: bool,
    /// How long the token is valid, in hours.
    #[arg(long, default_value_t = 24, requires = "token", value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_hours: u64,
}

/// `api admin purpose`.
#[derive(Debug, Args)]
pub struct PurposeArgs {
    /// The organization: its slug or id.
    #[arg(long)]
    pub org: String,
    /// The key within the organization.
    #[arg(long)]
    pub name: String,
    /// At most 2000 characters; "" clears it.
    #[arg(long)]
    pub description: Option<String>,
    /// Whether the purpose can be chosen (default on create: true).
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    pub active: Option<bool>,
}

/// `api admin activity`.
#[derive(Debug, Args)]
pub struct ActivityArgs {
    /// The organization: its slug or id.
    #[arg(long)]
    pub org: String,
    /// The key within the organization.
    #[arg(long)]
    pub name: String,
    /// At most 2000 characters; "" clears it.
    #[arg(long)]
    pub description: Option<String>,
    /// DRAFT or ACTIVE (default on create: DRAFT).
    #[arg(long)]
    pub status: Option<String>,
}

/// `api admin import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The JSON file; `-` reads standard input.
    pub file: PathBuf,
    /// After importing, print a bearer token for the user of this e-mail (one of the file's).
    #[arg(long, value_name = "EMAIL")]
    pub token_for: Option<String>,
    /// How long the token is valid, in hours.
    #[arg(long, default_value_t = 24, requires = "token_for", value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_hours: u64,
}

/// What a command applies, how its errors are located, and the token it asks for.
struct Plan {
    directory: Directory,
    source: Source,
    token: Option<TokenRequest>,
}

/// Where the records came from: errors name a flag, or a file and the place in it.
enum Source {
    Flags,
    File(String),
}

struct TokenRequest {
    email: String,
    ttl: Duration,
}

impl TokenRequest {
    /// Refused before anything is written when the lifetime is out of range.
    fn new(email: String, hours: u64) -> Result<Self, StartupError> {
        let seconds = hours
            .checked_mul(3600)
            .filter(|s| *s <= 100 * 365 * 24 * 3600)
            .ok_or_else(|| StartupError::Config("--ttl-hours must be at most 100 years".into()))?;
        Ok(Self {
            email,
            ttl: Duration::from_secs(seconds),
        })
    }
}

/// Runs an admin command.
pub async fn run(config: &Config, args: AdminArgs) -> Result<(), StartupError> {
    let mut plan = plan(args.command)?;
    // Bad input is refused before anything is connected to, created or migrated.
    plan.directory = directory::check(plan.directory).map_err(|e| describe(e, &plan.source))?;
    if args.dry_run && plan.token.is_some() {
        return Err(StartupError::Config(
            "--dry-run writes nothing, so there is no user to sign a token for: drop one of them"
                .into(),
        ));
    }
    // Checked before the database is touched: a token asked for and not signable fails first.
    let keys = match &plan.token {
        Some(_) => Some(Keys::new(
            crate::secret(config)
                .map_err(|e| StartupError::Config(format!("a token needs a secret: {e}")))?
                .as_bytes(),
        )),
        None => None,
    };
    let db = connect(config).await?;
    let applied = directory::apply(&db, plan.directory, !args.dry_run).await;
    db.pool().clone().close().await.ok();
    let changes = applied.map_err(|e| describe(e, &plan.source))?;

    let token = match (&plan.token, &keys) {
        (Some(request), Some(keys)) => Some(sign(keys, request, &changes)?),
        _ => None,
    };
    if args.json {
        let mut doc = serde_json::json!({"dry_run": args.dry_run, "changes": changes});
        if let Some(token) = &token {
            doc["token"] = token.as_str().into();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| StartupError::Config(e.to_string()))?
        );
    } else {
        for c in &changes {
            println!(
                "{} {} {} {}",
                c.outcome.as_str(),
                c.kind.as_str(),
                c.key,
                c.id
            );
        }
        if let Some(token) = &token {
            println!("token {token}");
        }
    }
    if matches!(plan.source, Source::File(_)) {
        let count = |o| changes.iter().filter(|c| c.outcome == o).count();
        eprintln!(
            "{} created, {} updated, {} unchanged",
            count(Outcome::Created),
            count(Outcome::Updated),
            count(Outcome::Unchanged)
        );
    }
    if args.dry_run {
        eprintln!("dry run: rolled back, nothing was written");
    }
    Ok(())
}

fn plan(command: AdminCommand) -> Result<Plan, StartupError> {
    let one = |entry: Entry| Directory {
        entries: vec![entry],
    };
    let flags = |directory, token| Plan {
        directory,
        source: Source::Flags,
        token,
    };
    Ok(match command {
        AdminCommand::Org(a) => flags(
            one(Entry::new(OrganizationRef::Upsert(OrganizationSpec {
                slug: a.slug,
                name: a.name,
                headquarters: a.headquarters.map(Some),
            }))),
            None,
        ),
        AdminCommand::User(a) => {
            let token = a
                .token
                .then(|| TokenRequest::new(a.email.clone(), a.ttl_hours))
                .transpose()?;
            let mut entry = Entry::new(OrganizationRef::Existing(a.org));
            entry.users.push(UserSpec {
                email: a.email,
                name: a.name,
            });
            flags(one(entry), token)
        }
        AdminCommand::Purpose(a) => {
            let mut entry = Entry::new(OrganizationRef::Existing(a.org));
            entry.purposes.push(PurposeSpec {
                name: a.name,
                description: a.description.map(Some),
                active: a.active,
            });
            flags(one(entry), None)
        }
        AdminCommand::Activity(a) => {
            let mut entry = Entry::new(OrganizationRef::Existing(a.org));
            entry.activities.push(ActivitySpec {
                name: a.name,
                description: a.description.map(Some),
                status: a.status,
            });
            flags(one(entry), None)
        }
        AdminCommand::Import(a) => {
            let name = a.file.display().to_string();
            let text = read(&a.file).map_err(|e| StartupError::Config(format!("{name}: {e}")))?;
            let directory =
                directory::parse(&text).map_err(|e| describe(e, &Source::File(name.clone())))?;
            if let Some(email) = &a.token_for {
                let listed = directory
                    .entries
                    .iter()
                    .flat_map(|e| &e.users)
                    .any(|u| same_email(&u.email, email));
                if !listed {
                    return Err(StartupError::Config(format!(
                        "--token-for: no user of {name} has the e-mail `{email}`"
                    )));
                }
            }
            Plan {
                directory,
                source: Source::File(name),
                token: a
                    .token_for
                    .map(|email| TokenRequest::new(email, a.ttl_hours))
                    .transpose()?,
            }
        }
    })
}

fn read(path: &Path) -> std::io::Result<String> {
    if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
}

/// Users are found by e-mail case-insensitively; so is the user a token is asked for.
fn same_email(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// A token for the user `request` names, as applied.
fn sign(keys: &Keys, request: &TokenRequest, changes: &[Change]) -> Result<String, StartupError> {
    let user = changes
        .iter()
        .find(|c| c.kind == Kind::User && same_email(&c.key, &request.email))
        .ok_or_else(|| StartupError::Config(format!("no user `{}` was applied", request.email)))?;
    keys.sign(&user.organization_id, &user.id, request.ttl)
        .map_err(|e| StartupError::Config(format!("cannot sign a token: {e}")))
}

/// The error as an operator reads it: the flag, or the file and the place in it, then what is
/// wrong. Database errors keep their text here (the operator is the one to act on them).
fn describe(err: DirectoryError, source: &Source) -> StartupError {
    let place = match source {
        Source::Flags => err.at.field.as_deref().map(|f| format!("--{f}")),
        Source::File(name) => Some(match err.at.path() {
            path if path.is_empty() => name.clone(),
            path => format!("{name}: {path}"),
        }),
    };
    let mut message = match err.error {
        ServiceError::Internal(e) | ServiceError::Unavailable(e) => {
            format!("database: {}", migration::runner::describe(&e))
        }
        other => other.to_string(),
    };
    if matches!(source, Source::Flags)
        && err.at.field.as_deref() == Some("org")
        && message.starts_with("no organization")
    {
        message.push_str(" (`api admin org --slug SLUG --name NAME` creates one)");
    }
    StartupError::Config(match place {
        Some(place) => format!("{place}: {message}"),
        None => message,
    })
}

/// Connects as the server does: the embedded default's SQLite file under DATA_DIR, or
/// DATABASE_URL. SQLite is migrated first (as `api::build` does); PostgreSQL is migrated by
/// `migration up` only, so pending migrations are refused here.
async fn connect(config: &Config) -> Result<Db, StartupError> {
    let url = crate::database_url(config)?;
    let sqlite = url.starts_with("sqlite:");
    let mut opts = crate::connect_options(&url, &config.limits, config.database_pooler);
    // A server may be running on the same database: wait for its writes as it waits for ours.
    opts.max_connections(2).min_connections(0);
    let conn = Database::connect(opts)
        .await
        .map_err(|e| StartupError::Database(migration::runner::describe(&e)))?;
    let db = match config.database_pooler {
        Pooler::Transaction if !sqlite => Db::behind_transaction_pooler(
            conn,
            config.limits.db_statement_timeout,
            config.limits.db_lock_timeout,
        ),
        _ => Db::direct(conn),
    };
    let pending = migration::Migrator::get_pending_migrations_read_only(&db)
        .await
        .map_err(|e| {
            StartupError::Database(format!(
                "cannot read the migration history: {}",
                migration::runner::describe(&e)
            ))
        })?;
    if sqlite && !pending.is_empty() {
        let target = migration::runner::Target {
            db: db.pool().clone(),
            url,
        };
        migration::runner::up(&target, None, migration::runner::Timeouts::default())
            .await
            .map_err(|e| StartupError::Database(e.to_string()))?;
    } else if !pending.is_empty() {
        let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
        return Err(StartupError::Database(format!(
            "{} migration(s) pending ({}): run `migration up` first",
            names.len(),
            names.join(", ")
        )));
    }
    Ok(db)
}
