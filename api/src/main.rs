//! `api`: the GraphQL service of the digital-asset inventory (see `api --help`).

use std::process::ExitCode;

use clap::Parser;

/// GraphQL responses are trees of small allocations; mimalloc serves them far cheaper than
/// glibc malloc under many threads (see the commit measuring it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = api::config::Cli::parse();
    telemetry::init("info,sqlx=warn");
    api::run(cli).await
}
