use std::process::ExitCode;

use clap::Parser;
use pitwall::cli::{Cli, Command};
use pitwall::commands;
use pitwall::exit::Exit;

fn main() -> ExitCode {
    // pitwall compiles checks in children of itself (see checks::compile).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pitwall::checks::COMPILER_CHILD_ARG)
    {
        return pitwall::checks::serve_compiler();
    }
    let cli = Cli::parse();
    // Diagnostics are scrubbed of secrets like all output, which needs them
    // plain: no colours to format only to strip.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PITWALL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(false)
        .with_writer(|| pitwall::report::Scrubbed(anstream::stderr()))
        .without_time()
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            pitwall::report::warn(&format!("error: cannot start the async runtime: {e}"));
            return Exit::NeedsHuman.into();
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(c) => commands::check::execute(c).await,
            Command::Deploy(args) => commands::deploy::deploy(&args, None).await,
            Command::Plan(args) => commands::plan::plan(&args).await,
            Command::Rollback { to, stack, rollout } => {
                commands::deploy::rollback(to.as_ref().map(|t| t.as_str()), &stack, &rollout, None)
                    .await
            }
            Command::Recover {
                force,
                stack,
                rollout,
            } => commands::deploy::recover(force, &stack, &rollout, None).await,
            Command::Validate { stack } => commands::validate::validate(&stack).await,
            Command::Status { stack } => commands::status::status(&stack).await,
            Command::History { stack } => commands::status::history(&stack).await,
            Command::Releases { stack } => commands::releases::releases(&stack).await,
            Command::Prune {
                keep,
                dry_run,
                stack,
            } => commands::prune::prune(keep, dry_run, &stack).await,
            Command::Lock(c) => commands::lock::execute(c).await,
            Command::Promote(args) => {
                commands::gate::answer(&args, pitwall::release::gate::Decision::Promote).await
            }
            Command::Abort(args) => {
                commands::gate::answer(&args, pitwall::release::gate::Decision::Abort).await
            }
            Command::Demo(args) => commands::demo::demo(&args).await,
            Command::Completions { shell } => commands::manual::completions(shell),
            Command::Man => commands::manual::man(),
            Command::Schema { name, .. } => commands::schema::print(name.as_deref()),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Whichever command failed, its error may quote an env file
            // value (the configuration's parser quotes what it rejects).
            let message = pitwall::report::Redactor::process().apply(&format!("{e:#}"));
            pitwall::report::warn(&format!("error: {message}"));
            Exit::of_error(&e).into()
        }
    }
}
