//! Each command's answer, as text for people and as one JSON document for machines (`--json`),
//! with the exit code it carries. Failures are answered here too, so both forms of every outcome
//! sit side by side.

use std::process::ExitCode;

use serde_json::json;

use crate::runner::{RunnerError, SmokeReport, VerifyReport};

/// A command's answer: text for people, JSON for machines, and the exit code.
pub(super) struct Answer {
    text: String,
    json: serde_json::Value,
    code: u8,
}

impl Answer {
    fn ok(text: impl Into<String>, json: serde_json::Value) -> Self {
        Self {
            text: text.into(),
            json,
            code: 0,
        }
    }

    /// Prints the answer on stdout, as JSON or as text, and returns its exit code.
    pub(super) fn print(self, json: bool) -> ExitCode {
        if json {
            println!("{}", self.json);
        } else if !self.text.is_empty() {
            println!("{}", self.text.trim_end());
        }
        ExitCode::from(self.code)
    }
}

/// Reports a failed command: one line on stderr (and a JSON document on stdout with `--json`);
/// returns the failure's exit code.
pub(super) fn failure(err: &RunnerError, json: bool) -> ExitCode {
    let message = err.to_string().replace('\n', "; ");
    tracing::debug!(error = ?err, "command failed");
    if json {
        println!(
            "{}",
            json!({"ok": false, "error": message, "exit_code": err.exit_code()})
        );
    }
    eprintln!("error: {message}");
    ExitCode::from(err.exit_code())
}

/// `up`: the migrations applied, or that none was pending.
pub(super) fn applied(applied: Vec<String>) -> Answer {
    let text = if applied.is_empty() {
        "nothing pending: the schema is up to date".to_owned()
    } else {
        format!("applied {}: {}", applied.len(), applied.join(", "))
    };
    Answer::ok(text, json!({"ok": true, "applied": applied}))
}

/// `down`: the migrations rolled back.
pub(super) fn rolled_back(done: Vec<String>) -> Answer {
    let text = if done.is_empty() {
        "nothing to roll back".to_owned()
    } else {
        format!("rolled back {}: {}", done.len(), done.join(", "))
    };
    Answer::ok(text, json!({"ok": true, "rolled_back": done}))
}

/// `status`: each migration, applied or pending; with `--exit-code`, exit 1 when any is pending.
pub(super) fn status(list: &[(String, bool)], exit_code: bool) -> Answer {
    let pending = list.iter().filter(|(_, applied)| !applied).count();
    let mut text = String::new();
    for (name, applied) in list {
        text.push_str(&format!(
            "{:<8} {name}\n",
            if *applied { "Applied" } else { "Pending" }
        ));
    }
    text.push_str(&format!(
        "{} applied, {pending} pending\n",
        list.len() - pending
    ));
    let migrations: Vec<_> = list
        .iter()
        .map(|(name, applied)| json!({"name": name, "applied": applied}))
        .collect();
    Answer {
        text,
        json: json!({"ok": pending == 0 || !exit_code, "migrations": migrations, "pending": pending}),
        code: if exit_code && pending > 0 { 1 } else { 0 },
    }
}

/// `verify`: the checklist, the runbook's counts and every drift; exit 1 on any drift.
pub(super) fn verify(report: VerifyReport) -> Answer {
    let mut text = format!(
        "Schema verification ({}): {} applied, {} pending\n",
        report.backend,
        report.applied.len(),
        report.pending.len()
    );
    for line in &report.checklist {
        let mark = if line.drift == 0 { "ok" } else { "DRIFT" };
        text.push_str(&format!(
            "  {:<13} {:>4} / {:<4} {mark}\n",
            line.label, line.live, line.expected
        ));
    }
    if !report.runbook.is_empty() {
        let counts: Vec<String> = report
            .runbook
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        text.push_str(&format!(
            "Runbook Step 4 (digital-asset tables): {}\n",
            counts.join(", ")
        ));
    }
    for d in &report.drift {
        text.push_str(&format!(
            "  {} {:?} {}",
            d.problem.as_str().to_uppercase(),
            d.kind,
            d.object
        ));
        match (&d.expected, &d.found) {
            (Some(e), Some(f)) => text.push_str(&format!(": expected `{e}`, found `{f}`")),
            (Some(e), None) => text.push_str(&format!(": expected `{e}`")),
            (None, Some(f)) => text.push_str(&format!(": `{f}`")),
            (None, None) => {}
        }
        text.push('\n');
    }
    let ok = report.ok();
    text.push_str(if ok {
        "OK: the live schema matches the applied migrations\n"
    } else {
        "DRIFT: the live schema differs from the applied migrations\n"
    });
    let json = match serde_json::to_value(&report) {
        Ok(mut v) => {
            v["ok"] = json!(ok);
            v
        }
        Err(e) => json!({"ok": false, "error": e.to_string()}),
    };
    Answer {
        text,
        json,
        code: if ok { 0 } else { 1 },
    }
}

/// `sql up|down`: the script, or a comment saying there is nothing to run.
pub(super) fn sql(sql: String) -> Answer {
    let text = if sql.is_empty() {
        "-- nothing to run".to_owned()
    } else {
        sql.clone()
    };
    Answer::ok(text, json!({"ok": true, "sql": sql}))
}

/// `resolve`: what the history now records for `name`, and whether that changed.
pub(super) fn resolved(name: String, as_applied: bool, changed: bool) -> Answer {
    let state = if as_applied { "applied" } else { "not applied" };
    let text = if changed {
        format!("recorded {name} as {state} (nothing was run)")
    } else {
        format!("{name} was already recorded as {state}")
    };
    Answer::ok(
        text,
        json!({"ok": true, "migration": name, "applied": as_applied, "changed": changed}),
    )
}

/// `smoke`: what the smoke test inserted, read and deleted before rolling back.
pub(super) fn smoke(report: SmokeReport) -> Answer {
    let text = format!(
        "smoke test passed: inserted, read and deleted {} for organization {}, then rolled back",
        report.asset_id, report.organization_id
    );
    Answer::ok(text, json!({"ok": true, "smoke": report}))
}

/// `fresh`, `refresh`, `reset`: done.
pub(super) fn destroyed(command: &str) -> Answer {
    Answer::ok(
        format!("{command}: done"),
        json!({"ok": true, "command": command}),
    )
}
