//! The database's own limit: `pgbench` running the raw side's statement, so that the API is
//! measured against what PostgreSQL itself serves, not against a client of ours that could be
//! slow too.
//!
//! The script draws the organization (and the asset) as `raw` does, uniformly at random, and
//! computes their ids in SQL from the numbers (`data::id_sql`): pgbench's variables are numbers
//! only. `-M prepared` prepares the statement once per connection, as sqlx does.

use std::path::PathBuf;

use tokio::process::Command;

use crate::BenchError;
use crate::data::{Kind, Size, id_sql};
use crate::workload::{Workload, raw_get_sql, raw_list_sql};

/// The pgbench script of `workload` (`list` and `get` only).
pub fn script(workload: Workload, size: &Size) -> Result<String, BenchError> {
    let org = id_sql(Kind::Organization, ":o");
    let (draws, sql) = match workload {
        Workload::List => (
            format!("\\set o random(0, {})\n", size.orgs.saturating_sub(1)),
            raw_list_sql().replace("$1", &org),
        ),
        Workload::Get => (
            format!(
                "\\set o random(0, {})\n\\set a random(0, {})\n",
                size.orgs.saturating_sub(1),
                size.assets.saturating_sub(1)
            ),
            raw_get_sql().replace("$1", &org).replace(
                "$2",
                &id_sql(Kind::Asset, &format!(":o * {} + :a", size.assets)),
            ),
        ),
        other => {
            return Err(BenchError::Input(format!(
                "pgbench runs `list` and `get`, not `{}`",
                other.name()
            )));
        }
    };
    // pgbench reads one statement per line unless it ends with `;`: one line.
    let sql: Vec<&str> = sql.split_whitespace().collect();
    Ok(format!("{draws}{};\n", sql.join(" ")))
}

/// Runs `pgbench -M prepared` with `script` for `seconds` at `connections` clients (2 threads,
/// the machine's cores) and returns its transactions per second.
pub async fn run(
    url: &str,
    script: &str,
    connections: usize,
    seconds: u64,
) -> Result<f64, BenchError> {
    let path = script_file(script)?;
    let out = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args(["-c", &connections.to_string(), "-T", &seconds.to_string()])
        .arg("-f")
        .arg(&path)
        // libpq reads the same URL, `sslmode=disable` included.
        .arg(url)
        .output()
        .await
        .map_err(|e| BenchError::Setup(format!("cannot run pgbench (postgresql-contrib): {e}")))?;
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    tps(&stdout).ok_or_else(|| BenchError::Setup(format!("no tps in pgbench's output: {stdout}")))
}

/// `tps = 1604.123456 (without initial connection time)`.
fn tps(output: &str) -> Option<f64> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn script_file(script: &str) -> Result<PathBuf, BenchError> {
    let path = std::env::temp_dir().join(format!("bench-pgbench-{}.sql", std::process::id()));
    std::fs::write(&path, script)
        .map_err(|e| BenchError::Setup(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tps_line_is_read() {
        let out = "latency average = 19.9 ms\ninitial connection time = 12.3 ms\ntps = 1604.123456 (without initial connection time)\n";
        assert_eq!(tps(out), Some(1604.123456));
        assert_eq!(tps("nothing"), None);
    }

    #[test]
    fn the_scripts_bind_no_parameter_and_end_their_one_statement() {
        let size = Size {
            orgs: 50,
            assets: 2000,
            locations: 3,
            activities: 20,
            links: 5,
        };
        for workload in [Workload::List, Workload::Get] {
            let script = script(workload, &size).unwrap();
            assert!(!script.contains('$'), "{script}");
            assert_eq!(script.lines().filter(|l| !l.starts_with('\\')).count(), 1);
            assert!(script.ends_with(";\n"));
        }
        assert!(script(Workload::Create, &size).is_err());
    }
}
