//! The `login-api` binary; the commands are in `login_api::cli`.

use clap::Parser;

/// jemalloc: glibc's malloc and free took 12–14 % of a login's CPU at saturation, part of it
/// waiting on arena locks; with jemalloc a login costs about a fifth less CPU, at the same idle
/// RSS (BENCHMARKS.md, the eighth sitting).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match login_api::cli::run(login_api::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain, once; no secret is ever part of an error.
            eprintln!("login-api: {error:#}");
            tracing::error!(error = format!("{error:#}"), "login-api stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
