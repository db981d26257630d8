//! The `login-api` binary; the commands are in `login_api::cli`.

use clap::Parser;

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
