//! `api`: the GraphQL service of the digital-asset inventory (see `api --help`).

use std::process::ExitCode;

use clap::Parser;

/// GraphQL responses are trees of small allocations; mimalloc serves them far cheaper than
/// glibc malloc under many threads (see the commit measuring it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    without_huge_pages();
    serve()
}

#[tokio::main]
async fn serve() -> ExitCode {
    let cli = api::config::Cli::parse();
    telemetry::init("info,sqlx=warn");
    api::run(cli).await
}

/// Turns transparent huge pages off for this process, before the runtime's threads touch the
/// allocator's memory. mimalloc asks for huge pages on its arenas (`madvise`), so the first
/// touch of a page there made 2 MiB of it resident: the first export of a fresh process grew
/// its RSS by 52 MiB instead of 21 (docs/BENCHMARKS.md, "Memory"). A service of a few dozen MiB
/// gains nothing from them. `MIMALLOC_ALLOW_THP`, when set, decides instead (mimalloc reads it).
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none()
        && let Err(e) = rustix::thread::disable_transparent_huge_pages(true)
    {
        // Not fatal: the service runs the same, with more resident memory.
        eprintln!("api: transparent huge pages stay on ({e})");
    }
}
