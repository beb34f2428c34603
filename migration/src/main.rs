//! `migration`: applies, inspects and rolls back the schema (see `migration --help`).

use std::process::ExitCode;

use clap::Parser;
use migration::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(if cli.verbose {
        "info,sqlx=warn"
    } else {
        "warn"
    });
    migration::cli::run(cli).await
}
