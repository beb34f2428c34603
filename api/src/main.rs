//! `api`: the GraphQL service of the digital-asset inventory (see `api --help`).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = api::config::Cli::parse();
    migration::telemetry::init("info,sqlx=warn");
    api::run(cli).await
}
