//! Command-line arguments: parsing only. Behaviour lives in `commands`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pitwall",
    version,
    about = "Deploy Docker Compose stacks; judge every release with sandboxed WebAssembly checks",
    long_about = "pitwall pulls a release's images, applies the compose stack, runs the configured \
checks (WebAssembly components) and either records the release or rolls back to the previous one.\n\n\
Checks can also be run alone with `pitwall check run`, against a live service or a recording.",
    after_help = "Logs: set PITWALL_LOG=debug for diagnostics on stderr."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run, list and inspect checks (WebAssembly components)
    #[command(subcommand)]
    Check(CheckCommand),
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Run one check once and print its verdict
    #[command(
        after_help = "Exit codes: 0 pass, 1 fail, 3 inconclusive or error (trap, timeout, \
invalid config, unloadable plugin), 2 usage.\n\n\
Examples:\n  \
pitwall check run builtin:http-probe --config '{\"url\":\"http://127.0.0.1:8080/api/health/\"}' \\\n      \
--allow-http http://127.0.0.1:8080/api/\n  \
pitwall check run builtin:log-5xx --config '{\"services\":[\"api\"]}' --allow-logs api --project shop\n  \
pitwall check run my-check.wasm --config @check.json --allow-http http://127.0.0.1:8080/ --record run.json\n  \
pitwall check run my-check.wasm --replay run.json        # offline: no network, no Docker"
    )]
    Run(CheckRunArgs),
    /// List the built-in checks
    List,
    /// Show what a check says about itself, its contract version, size and cache state
    Inspect {
        /// `builtin:NAME` or a path to a `.wasm` component
        plugin: String,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CheckRunArgs {
    /// `builtin:NAME` (see `pitwall check list`) or a path to a `.wasm` component
    pub plugin: String,

    /// The check's configuration: JSON text, or @FILE to read it from a file.
    /// With --replay, defaults to the recorded configuration.
    #[arg(long, value_name = "JSON|@FILE")]
    pub config: Option<String>,

    /// Grant HTTP access to URLs under this prefix (repeatable). Nothing is granted by default.
    #[arg(long = "allow-http", value_name = "PREFIX")]
    pub allow_http: Vec<String>,

    /// Grant access to this compose service's containers and logs (repeatable).
    #[arg(long = "allow-logs", value_name = "SERVICE")]
    pub allow_logs: Vec<String>,

    /// Compose project whose containers and logs the check reads.
    #[arg(long, env = "COMPOSE_PROJECT_NAME", default_value = "pitwall")]
    pub project: String,

    /// Release id given to the check (e.g. for `version == release id` probes).
    #[arg(long, default_value = "standalone")]
    pub release_id: String,

    /// Window of logs the check looks at, ending now (the rollout start it is told).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    pub since: Duration,

    /// Time budget of the run, including host calls (e.g. 500ms, 10s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub timeout: Duration,

    /// Memory cap of the check, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub memory: usize,

    /// Write every host interaction (and the verdict) to FILE for --replay.
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub record: Option<PathBuf>,

    /// Answer host calls from a recording: no network, no Docker.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}
