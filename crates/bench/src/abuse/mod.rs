//! `bench abuse`: one well-behaved tenant (organization 0) runs `mixed` alone, then again while
//! other tenants and anonymous connections attack the API; its latency and errors in both runs,
//! what each attack got, and the API's peak memory. The acceptance of the hardening: under
//! attack its p99 stays within 3× of its p99 alone, with no error.

mod database;
mod outcome;
mod requests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, ValueEnum};
use sea_orm::DatabaseConnection;
use tokio::task::JoinSet;
use tracing::info;

pub use outcome::{AbuseOutcome, Probe};

use database::{add_locations, count, lock_asset, remove_added_rows};

use crate::BenchError;
use crate::attacks::{self, Counts, Stop, Tally};
use crate::data;
use crate::data::Size;
use crate::load::{self, ApiTarget, Outcome, Plan};
use crate::tools::{self, Memory, Server};
use crate::workload::Workload;

const SECRET: &str = "bench-secret-not-for-production";

/// How much slower the tenant's p99 may be under attack.
pub const MAX_P99_RATIO: f64 = 3.0;

/// The well-behaved tenant, and the attacking ones.
const VICTIM: u32 = 0;
const COST_ORG: u32 = 1;
const LOCK_ORG: u32 = 2;

/// The attacks (numbered as in the hardening issue).
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// 1: a query far over the cost limit (organization 1).
    Complex,
    /// 1: a query whose answer exceeds the response budget (organization 1).
    Budget,
    /// 6: updates of a row locked from outside the API (organization 2).
    Blocked,
    /// 6: 1.9 MB bodies, updates of that locked row (organization 2).
    Bodies,
    /// 7: connections that send nothing.
    Idle,
    /// 7: connections that send a header byte a second.
    Slowloris,
}

impl Attack {
    pub const ALL: [Attack; 6] = [
        Self::Complex,
        Self::Budget,
        Self::Blocked,
        Self::Bodies,
        Self::Idle,
        Self::Slowloris,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Complex => "complex",
            Self::Budget => "budget",
            Self::Blocked => "blocked",
            Self::Bodies => "bodies",
            Self::Idle => "idle",
            Self::Slowloris => "slowloris",
        }
    }
}

/// What `abuse` runs.
#[derive(Debug, Args, Clone)]
pub struct AbuseArgs {
    /// Seconds of each measured run (alone, then under attack).
    #[arg(short, long, default_value_t = 15)]
    pub duration: u64,
    /// Seconds of warm-up before each run (under attack: while the attacks ramp up).
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Connections of the well-behaved tenant (organization 0, running `mixed`).
    #[arg(short, long, default_value_t = 8)]
    pub connections: usize,
    /// The API's DB_MAX_CONNECTIONS.
    #[arg(long, default_value_t = 16)]
    pub pool: u32,
    /// The attacks to run (all by default); one at a time shows which one hurts.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Attack::ALL)]
    pub attacks: Vec<Attack>,
    /// Clients of each of the two costly queries (organization 1).
    #[arg(long, default_value_t = 2)]
    pub cost_clients: usize,
    /// Locations added to organization 1's first asset (removed afterwards).
    #[arg(long, default_value_t = 40_000)]
    pub added_locations: u32,
    /// Clients updating organization 2's locked asset.
    #[arg(long, default_value_t = 16)]
    pub blocked: usize,
    /// Clients of organization 2 sending big bodies (updates of the locked asset).
    #[arg(long, default_value_t = 3)]
    pub big_bodies: usize,
    /// Bytes of each big body.
    #[arg(long, default_value_t = 1_900_000)]
    pub body_bytes: usize,
    /// Idle connections held open.
    #[arg(long, default_value_t = 1500)]
    pub idle: usize,
    /// Slowloris connections (one header byte a second).
    #[arg(long, default_value_t = 8)]
    pub slowloris: usize,
    /// When the acceptance fails, run each attack alone and all the others without it (runs of
    /// at most 10 s), to find the one that hurts.
    #[arg(long)]
    pub investigate: bool,
    /// Also write the section into this file, replacing its previous version.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub size: Size,
}

impl AbuseArgs {
    /// What `bench abuse` runs without flags, on a data set of `size`.
    pub fn defaults(size: Size) -> Result<Self, BenchError> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: AbuseArgs,
        }
        let mut args = Only::try_parse_from(["abuse"])
            .map_err(|e| BenchError::Setup(e.to_string()))?
            .args;
        args.size = size;
        Ok(args)
    }

    fn runs(&self, attack: Attack) -> bool {
        self.attacks.contains(&attack)
    }
}

/// Runs the tenant alone, then under attack, against a freshly started API on the seeded
/// database at `url`; with `--investigate`, a failed acceptance is followed by the runs that
/// find the attack that hurts.
pub async fn abuse(url: &str, args: &AbuseArgs) -> Result<AbuseOutcome, BenchError> {
    let mut outcome = once(url, args).await?;
    if args.investigate && !outcome.passed() {
        outcome.probes = investigate(url, args).await?;
    }
    Ok(outcome)
}

/// Each attack alone, and all the others without it.
async fn investigate(url: &str, args: &AbuseArgs) -> Result<Vec<Probe>, BenchError> {
    let short = AbuseArgs {
        duration: args.duration.min(10),
        warmup: args.warmup.min(3),
        investigate: false,
        out: None,
        ..args.clone()
    };
    let attacks: Vec<Attack> = Attack::ALL.into_iter().filter(|a| args.runs(*a)).collect();
    let mut probes = Vec::new();
    for &attack in &attacks {
        info!(attack = attack.name(), "investigating");
        let only = AbuseArgs {
            attacks: vec![attack],
            ..short.clone()
        };
        let alone = once(url, &only).await?;
        let others: Vec<Attack> = attacks.iter().copied().filter(|a| *a != attack).collect();
        let without = if others.is_empty() {
            None
        } else {
            let rest = AbuseArgs {
                attacks: others,
                ..short.clone()
            };
            Some(once(url, &rest).await?)
        };
        probes.push(Probe {
            attack,
            alone: (alone.ratio(), alone.errors()),
            without: without.map(|w| (w.ratio(), w.errors())),
        });
    }
    Ok(probes)
}

/// One run: the tenant alone, then under the attacks of `args`.
async fn once(url: &str, args: &AbuseArgs) -> Result<AbuseOutcome, BenchError> {
    if args.size.orgs <= LOCK_ORG {
        return Err(BenchError::Input(format!(
            "abuse needs at least {} organizations",
            LOCK_ORG + 1
        )));
    }
    let db = tools::connect(url, 2).await?;
    let seeded = count(&db, "SELECT count(*) AS n FROM organizations").await?;
    if seeded < i64::from(args.size.orgs) {
        return Err(BenchError::Input(format!(
            "the database holds {seeded} organizations, the data set {}: run `bench seed --recreate` with the same size first",
            args.size.orgs
        )));
    }
    remove_added_rows(&db).await?;
    let result = measure(url, args, &db).await;
    let cleaned = remove_added_rows(&db).await;
    db.close().await?;
    let outcome = result?;
    cleaned?;
    Ok(outcome)
}

async fn measure(
    url: &str,
    args: &AbuseArgs,
    db: &DatabaseConnection,
) -> Result<AbuseOutcome, BenchError> {
    if args.runs(Attack::Budget) {
        add_locations(db, args.added_locations).await?;
    }
    let server = Server::start(url, SECRET, args.pool).await?;
    let target = ApiTarget::new(server.addr, SECRET, &args.size)?;
    let phase = Arc::new(AtomicUsize::new(0));
    let runs_for = 2 * (args.warmup + args.duration) + 120;
    let (stop_sampling, sampling) = Stop::new(Instant::now() + Duration::from_secs(runs_for));
    let sampler = tokio::spawn(sample_memory(server.pid(), phase.clone(), sampling));

    let plan = |secs| Plan {
        org: Some(VICTIM),
        ..Plan::new(args.connections, Duration::from_secs(secs))
    };
    info!(seconds = args.duration, "the tenant alone");
    load::api(&target, args.size, Workload::Mixed, plan(args.warmup)).await?;
    let alone = load::api(&target, args.size, Workload::Mixed, plan(args.duration)).await?;
    info!(alone = alone.line());

    phase.store(1, Ordering::Relaxed);
    let attacked = attacked(db, args, &target, plan(args.warmup), plan(args.duration)).await;
    let _ = stop_sampling.send(true);
    let (peaks, samples) = sampler.await.unwrap_or_default();
    server.stop().await?;
    let (attacked, attacks) = attacked?;
    info!(attacked = attacked.line());
    Ok(AbuseOutcome {
        args: args.clone(),
        alone,
        attacked,
        alone_peak_kib: peaks[0],
        attacked_peak_kib: peaks[1],
        samples,
        attacks,
        probes: Vec::new(),
    })
}

/// The tenant's run while the attacks go on; the attacks start with its warm-up and stop when
/// its run ends.
async fn attacked(
    db: &DatabaseConnection,
    args: &AbuseArgs,
    target: &ApiTarget,
    warmup: Plan,
    run: Plan,
) -> Result<(Outcome, Vec<Counts>), BenchError> {
    let lock = if args.runs(Attack::Blocked) || args.runs(Attack::Bodies) {
        Some(lock_asset(db, &data::asset(&args.size, LOCK_ORG, 0)).await?)
    } else {
        None
    };
    let deadline = Instant::now() + warmup.duration + run.duration + Duration::from_secs(60);
    let (stop, stopping) = Stop::new(deadline);
    let mut attackers = JoinSet::new();
    let tallies = launch(args, target, &stopping, &mut attackers)?;
    let victim = async {
        load::api(target, args.size, Workload::Mixed, warmup).await?;
        load::api(target, args.size, Workload::Mixed, run).await
    }
    .await;
    let _ = stop.send(true);
    let joined = tokio::time::timeout(Duration::from_secs(10), async {
        while attackers.join_next().await.is_some() {}
    })
    .await;
    if joined.is_err() {
        attackers.abort_all();
    }
    if let Some(lock) = lock {
        lock.rollback().await?;
    }
    Ok((victim?, tallies.iter().map(|t| t.counts()).collect()))
}

/// Starts the attackers of `args.attacks`; their tallies.
fn launch(
    args: &AbuseArgs,
    target: &ApiTarget,
    stop: &Stop,
    attackers: &mut JoinSet<()>,
) -> Result<Vec<Arc<Tally>>, BenchError> {
    let addr = target.addr;
    let mut tallies: Vec<Arc<Tally>> = Vec::new();
    for attack in Attack::ALL.into_iter().filter(|a| args.runs(*a)) {
        let tally = attack.tally(args);
        match attack.request(args)? {
            Some((org, body, expect)) => {
                for _ in 0..tally.about.clients {
                    let token = target.tokens[org as usize].clone();
                    let run = attacks::requests(
                        addr,
                        token,
                        body.clone(),
                        expect,
                        tally.clone(),
                        stop.clone(),
                    );
                    attackers.spawn(run);
                }
            }
            // Spread over two seconds, so that the kernel's accept backlog is not the test.
            None => {
                for i in 0..tally.about.clients {
                    let after = Duration::from_millis(
                        (i as u64 * 2000) / tally.about.clients.max(1) as u64,
                    );
                    let (tally, stop) = (tally.clone(), stop.clone());
                    match attack {
                        Attack::Slowloris => {
                            attackers.spawn(attacks::slowloris(addr, after, tally, stop))
                        }
                        _ => attackers.spawn(attacks::idle(addr, after, tally, stop)),
                    };
                }
            }
        }
        tallies.push(tally);
    }
    Ok(tallies)
}

/// RSS of `pid` every 100 ms until stopped: the peak of each phase (0 alone, 1 attacked), and
/// the number of samples.
async fn sample_memory(pid: Option<u32>, phase: Arc<AtomicUsize>, stop: Stop) -> ([u64; 2], usize) {
    let mut peaks = [0; 2];
    let mut samples = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..100_000 {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.stopped() => break,
        }
        if let Some(memory) = pid.and_then(Memory::of) {
            let p = phase.load(Ordering::Relaxed).min(1);
            peaks[p] = peaks[p].max(memory.rss_kib);
            samples += 1;
        }
    }
    (peaks, samples)
}
