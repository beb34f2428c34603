//! One tracing subscriber for every binary (the runner, the API, the benchmarks): `RUST_LOG` filters, `LOG_FORMAT=json` writes JSON lines.
//! Logs go to stderr so that stdout carries only the command's answer (and `--json` stays parseable).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber, filtering by `RUST_LOG`, else by `default` (e.g. `info`).
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
