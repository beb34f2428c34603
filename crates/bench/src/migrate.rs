//! `bench migrate`: `migration up` on an empty database against `psql -1 -f` of the SQL that
//! `migration sql up` prints, alternating, several runs each.

use tokio::process::Command;

use crate::BenchError;
use crate::stats::Samples;
use crate::tools::{self, migration, recreate_database, timed, with_database};

/// The two sides' timings, in milliseconds.
#[derive(Debug)]
pub struct MigrateOutcome {
    pub runner: Samples,
    pub psql: Samples,
    pub url_note: String,
}

impl MigrateOutcome {
    pub fn ratio(&self) -> f64 {
        self.runner.median() / self.psql.median()
    }
}

/// Times both ways `runs` times on a scratch database next to `url`'s.
pub async fn migrate(url: &str, runs: usize) -> Result<MigrateOutcome, BenchError> {
    let scratch = with_database(url, "dai_bench_migrate")?;
    recreate_database(&scratch).await?;
    let script = migration(&scratch, &["sql", "up"]).await?;
    let file = std::env::temp_dir().join(format!("dai-bench-{}.sql", std::process::id()));
    std::fs::write(&file, &script).map_err(|e| BenchError::Setup(e.to_string()))?;
    let mut runner = Vec::new();
    let mut psql = Vec::new();
    let result = async {
        for run in 0..runs + 1 {
            // Alternate which goes first; the first pair warms caches and is not kept.
            for side in if run % 2 == 0 { [0, 1] } else { [1, 0] } {
                recreate_database(&scratch).await?;
                let (_, ms) = if side == 0 {
                    timed(async { migration(&scratch, &["up"]).await.map(drop) }).await?
                } else {
                    timed(run_psql(&scratch, &file)).await?
                };
                if run > 0 {
                    if side == 0 {
                        runner.push(ms)
                    } else {
                        psql.push(ms)
                    }
                }
            }
            // Both must leave the same schema: the runner's own verify says so.
            if run == 0 {
                migration(&scratch, &["verify"]).await?;
            }
        }
        Ok::<_, BenchError>(())
    }
    .await;
    std::fs::remove_file(&file).ok();
    tools::drop_database(&scratch).await?;
    result?;
    Ok(MigrateOutcome {
        runner: Samples::new(runner),
        psql: Samples::new(psql),
        url_note: scratch_sslmode(url),
    })
}

async fn run_psql(url: &str, file: &std::path::Path) -> Result<(), BenchError> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f"])
        .arg(file)
        .arg(url)
        .output()
        .await
        .map_err(|e| BenchError::Setup(format!("cannot run psql (is it installed?): {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!(
            "psql -1 -f failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn scratch_sslmode(url: &str) -> String {
    match url::Url::parse(url).ok().and_then(|u| {
        u.query_pairs()
            .find(|(k, _)| k == "sslmode")
            .map(|(_, v)| v.into_owned())
    }) {
        Some(mode) => format!("sslmode={mode}"),
        None => "default sslmode (prefer: TLS when the server offers it)".into(),
    }
}
