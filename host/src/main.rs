use std::process::ExitCode;

use clap::Parser;
use pitwall::cli::{Cli, Command};
use pitwall::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PITWALL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(c) => commands::check::execute(c).await,
            Command::Deploy {
                images,
                release_id,
                pull,
                soak,
                stack,
            } => commands::deploy::deploy(&images, &release_id, pull, soak, &stack).await,
            Command::Rollback { to, stack } => {
                commands::deploy::rollback(to.as_deref(), &stack).await
            }
            Command::Recover { stack } => commands::deploy::recover(&stack).await,
            Command::Status { stack } => commands::status::status(&stack).await,
            Command::History { stack } => commands::status::history(&stack).await,
            Command::Demo {
                fixture_bin,
                keep,
                port,
            } => commands::demo::demo(&fixture_bin, keep, port).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(pitwall::exit_code_for(&e))
        }
    }
}
