//! What `bench abuse` measured, as a summary line and as the report's section.

use std::fmt::Write as _;

use super::{AbuseArgs, Attack, COST_ORG, LOCK_ORG, MAX_P99_RATIO, VICTIM};
use crate::BenchError;
use crate::attacks::Counts;
use crate::load::Outcome;
use crate::tools::Memory;

/// What `abuse` measured.
pub struct AbuseOutcome {
    pub args: AbuseArgs,
    pub alone: Outcome,
    pub attacked: Outcome,
    /// Peak RSS sampled during each run (warm-up included), KiB.
    pub alone_peak_kib: u64,
    pub attacked_peak_kib: u64,
    pub samples: usize,
    pub attacks: Vec<Counts>,
    /// When the acceptance failed (with `--investigate`): each attack's part in it.
    pub probes: Vec<Probe>,
}

/// The tenant's p99 ratio and errors with one attack alone, and with all but it.
pub struct Probe {
    pub attack: Attack,
    pub alone: (f64, u64),
    pub without: Option<(f64, u64)>,
}

impl AbuseOutcome {
    pub fn ratio(&self) -> f64 {
        self.attacked.percentile(99.0) / self.alone.percentile(99.0)
    }

    pub fn errors(&self) -> u64 {
        self.alone.errors + self.attacked.errors
    }

    pub fn passed(&self) -> bool {
        self.errors() == 0 && self.ratio() <= MAX_P99_RATIO
    }

    /// The acceptance: an error when the tenant had errors or its p99 rose too much.
    pub fn verdict(&self) -> Result<(), BenchError> {
        if self.passed() {
            return Ok(());
        }
        let first = self
            .attacked
            .first_error
            .as_ref()
            .or(self.alone.first_error.as_ref());
        Err(BenchError::Load(format!(
            "the well-behaved tenant suffered: {}{}",
            self.summary(),
            first
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        )))
    }

    pub fn summary(&self) -> String {
        format!(
            "abuse: organization {VICTIM} `mixed` on {} connections: alone p50 {:.2} ms, p99 {:.2} ms, {} errors; under attack p50 {:.2} ms, p99 {:.2} ms ({:.2}× alone, at most {MAX_P99_RATIO}), {} errors; api peak RSS {:.1} MiB alone, {:.1} MiB under attack: {}",
            self.args.connections,
            self.alone.percentile(50.0),
            self.alone.percentile(99.0),
            self.alone.errors,
            self.attacked.percentile(50.0),
            self.attacked.percentile(99.0),
            self.ratio(),
            self.attacked.errors,
            Memory::mib(self.alone_peak_kib),
            Memory::mib(self.attacked_peak_kib),
            if self.passed() { "passed" } else { "FAILED" }
        )
    }

    pub fn attack_lines(&self) -> Vec<String> {
        self.attacks
            .iter()
            .map(|c| {
                format!(
                    "attack {} {} ({}, {} clients): sent {}, refused as expected {}, unexpected {}{}",
                    c.about.number,
                    c.about.name,
                    c.about.from,
                    c.about.clients,
                    c.sent,
                    c.refused,
                    c.unexpected,
                    c.first_unexpected
                        .as_deref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                )
            })
            .collect()
    }

    /// The investigation's table rows.
    pub fn probe_rows(&self) -> Vec<String> {
        self.probes
            .iter()
            .map(|p| {
                let (without, without_errors) =
                    p.without.map_or(("–".into(), "–".into()), |(r, e)| {
                        (format!("{r:.2}"), e.to_string())
                    });
                format!(
                    "| `{}` | {:.2} | {} | {without} | {without_errors} |",
                    p.attack.name(),
                    p.alone.0,
                    p.alone.1
                )
            })
            .collect()
    }

    /// The report's section.
    pub fn markdown(&self, url: &str) -> String {
        let a = &self.args;
        let mut s = String::new();
        let _ = writeln!(s, "{HEADING}\n");
        let _ = writeln!(
            s,
            "Organization {VICTIM} runs `mixed` on {} connections against a freshly started API \
             (`DB_MAX_CONNECTIONS={}`, every other limit at its default): {} s after {} s of warm-up \
             alone, then the same while organizations {COST_ORG} and {LOCK_ORG} and anonymous \
             connections attack ({}). The API's RSS is sampled every 100 ms through both runs \
             ({} samples). Acceptance: p99 under attack at most {MAX_P99_RATIO}× p99 alone, and no \
             error.\n",
            a.connections,
            a.pool,
            a.duration,
            a.warmup,
            a.attacks
                .iter()
                .map(|x| format!("`{}`", x.name()))
                .collect::<Vec<_>>()
                .join(", "),
            self.samples,
        );
        let _ = writeln!(
            s,
            "| organization {VICTIM} | req/s | p50 ms | p99 ms | errors | API peak RSS MiB |\n|---|---|---|---|---|---|"
        );
        for (name, o, peak) in [
            ("alone", &self.alone, self.alone_peak_kib),
            ("under attack", &self.attacked, self.attacked_peak_kib),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
                o.rps(),
                o.percentile(50.0),
                o.percentile(99.0),
                o.errors,
                Memory::mib(peak)
            );
        }
        let _ = writeln!(
            s,
            "| under attack / alone | {:.2} | {:.2} | **{:.2}** | | {:.2} |\n",
            self.attacked.rps() / self.alone.rps(),
            self.attacked.percentile(50.0) / self.alone.percentile(50.0),
            self.ratio(),
            self.attacked_peak_kib as f64 / self.alone_peak_kib.max(1) as f64
        );
        let _ = writeln!(
            s,
            "Acceptance: **{}** (p99 ratio {:.2}, at most {MAX_P99_RATIO}; {} errors).{}\n",
            if self.passed() { "passed" } else { "FAILED" },
            self.ratio(),
            self.errors(),
            self.attacked
                .first_error
                .as_deref()
                .or(self.alone.first_error.as_deref())
                .map(|e| format!(" First error: `{}`.", short(e)))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "The attacks (sent: requests or connections completed or still in flight at the end; \
             refused: answered or closed as expected):\n\n\
             | attack | what | from | clients | expected | sent | refused | unexpected |\n|---|---|---|---|---|---|---|---|"
        );
        for c in &self.attacks {
            let _ = writeln!(
                s,
                "| {} `{}` | {} | {} | {} | {} | {} | {} | {} |",
                c.about.number,
                c.about.name,
                c.about.what,
                c.about.from,
                c.about.clients,
                c.about.expected,
                c.sent,
                c.refused,
                c.unexpected
            );
        }
        for c in self.attacks.iter().filter(|c| c.unexpected > 0) {
            if let Some(e) = &c.first_unexpected {
                let _ = writeln!(
                    s,
                    "\nFirst unexpected answer to {}: `{}`",
                    c.about.name,
                    short(e)
                );
            }
        }
        if !self.probes.is_empty() {
            let _ = writeln!(
                s,
                "\nThe acceptance failed, so each attack ran alone, and all the others without it \
                 (runs of {} s after {} s of warm-up, each against a fresh API):\n\n\
                 | attack | p99 ratio, this attack alone | errors | p99 ratio, all but this attack | errors |\n|---|---|---|---|---|",
                a.duration.min(10),
                a.warmup.min(3)
            );
            for line in self.probe_rows() {
                let _ = writeln!(s, "{line}");
            }
        }
        let _ = writeln!(
            s,
            "\nReproduce (after `bench seed --recreate`):\n\n```sh\ntarget/release/bench --database-url {} abuse --duration {} --warmup {} --connections {} --attacks {}{} --orgs {} --assets {}\n```\n",
            url,
            a.duration,
            a.warmup,
            a.connections,
            a.attacks
                .iter()
                .map(|x| x.name())
                .collect::<Vec<_>>()
                .join(","),
            if a.investigate { " --investigate" } else { "" },
            a.size.orgs,
            a.size.assets,
        );
        s
    }
}

/// The section heading in docs/BENCHMARKS.md.
pub const HEADING: &str = "## Abuse: one tenant under attack by others";

fn short(text: &str) -> String {
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].replace('`', "'")
}
