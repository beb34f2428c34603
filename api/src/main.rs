//! `api`: the GraphQL service of the digital-asset inventory (see `api --help`).

use std::process::ExitCode;

use clap::Parser;

/// GraphQL responses are trees of small allocations; mimalloc serves them far cheaper than
/// glibc malloc under many threads (see the commit measuring it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let huge_pages = without_huge_pages();
    serve(huge_pages)
}

#[tokio::main]
async fn serve(huge_pages: std::io::Result<()>) -> ExitCode {
    let cli = api::config::Cli::parse();
    telemetry::init("info,sqlx=warn");
    if let Err(error) = huge_pages {
        // Not fatal: the service runs the same, with more resident memory.
        tracing::warn!(%error, "transparent huge pages stay on");
    }
    api::run(cli).await
}

/// Turns transparent huge pages off for this process, before the runtime's threads touch the
/// allocator's memory. mimalloc asks for huge pages on its arenas (`madvise`), so the first
/// touch of a page there made 2 MiB of it resident: the first export of a fresh process grew
/// its RSS by 52 MiB instead of 21 (docs/BENCHMARKS.md, "Memory"). A service of a few dozen MiB
/// gains nothing from them. `MIMALLOC_ALLOW_THP`, when set (in any case, as mimalloc reads its
/// options), decides instead.
fn without_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if !std::env::vars_os().any(|(name, _)| name.eq_ignore_ascii_case("MIMALLOC_ALLOW_THP")) {
        rustix::thread::disable_transparent_huge_pages(true)?;
    }
    Ok(())
}
