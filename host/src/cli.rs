//! Command-line arguments: parsing only. Behaviour lives in `commands`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::checks::Contract;
use crate::exit::Exit;
use crate::release::id::ReleaseId;

#[derive(Debug, Parser)]
#[command(
    name = "pitwall",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("PITWALL_COMMIT"), ")"),
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

/// What `promote` and `abort` answer.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// Answer only if this release is the one waiting (guards a stale command in CI)
    #[arg(long, value_name = "RELEASE_ID")]
    pub release_id: Option<String>,
    /// Who answers, for the deploy's output and history (default: user@host)
    #[arg(long, env = "PITWALL_ACTOR")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub stack: StackArgs,
}

const GATE_HELP: &str =
    "A canary (`[traffic] steps` with a \"pause\") waits at each pause with the \
share of users it reached; `pitwall status` shows the step, the shares and the verdicts so far. \
The deploy that waits holds the deploy lock and carries on itself once answered; the answer is a \
file in the state directory, so it may come from another shell, process or host sharing it. The \
first answer wins; an answer while a step is still running (no pause open) is refused.

Exit status: 0 answered, 4 refused (no pause open, another release waits, already answered).";

/// Where the stack and its checks are described, and what to override.
#[derive(Debug, Args, Clone)]
pub struct StackArgs {
    /// The pitwall configuration.
    #[arg(
        long,
        value_name = "FILE",
        env = "PITWALL_CONFIG",
        default_value = "deploy/pitwall.toml"
    )]
    pub config: PathBuf,
    /// The env file for compose (overrides stack.env_file). Its values never appear in pitwall's output.
    #[arg(long, value_name = "FILE", env = "PITWALL_ENV_FILE")]
    pub env_file: Option<PathBuf>,
    /// Compose project name (overrides stack.project).
    #[arg(long, value_name = "NAME", env = "PITWALL_PROJECT")]
    pub project: Option<String>,
    /// Where state.env, history.jsonl, the lock and incidents live (overrides stack.state_dir).
    #[arg(long, value_name = "DIR", env = "PITWALL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// URL of the `health` check (overrides its config url and grants it).
    #[arg(long, value_name = "URL")]
    pub health_url: Option<String>,
    /// Print one JSON object instead of text (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Pull {
    /// Always pull (the registry's current image for each tag)
    Always,
    /// Pull only images not present locally
    Missing,
    /// Never pull; every image must be present locally
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy a release: pull, apply, verify with checks, record — or roll back
    #[command(after_help = Exit::rollout_help())]
    Deploy(DeployArgs),
    /// Show what a deploy would change: images and digests per service, checks and grants, the
    /// compose diff. Takes no lock, changes nothing
    #[command(after_help = format!("{PLAN_HELP}\n\n{}", Exit::plan_help()))]
    Plan(ReleaseArgs),
    /// Go back to the previous release (or --to one), verify it, swap the pointers
    #[command(after_help = Exit::rollout_help())]
    Rollback {
        /// A release id from `pitwall history` instead of the previous release
        #[arg(long, value_name = "RELEASE_ID", value_parser = clap::value_parser!(ReleaseId))]
        to: Option<ReleaseId>,
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        rollout: RolloutArgs,
    },
    /// After an interrupted deploy: restore and verify the last good release, clear the lock
    #[command(after_help = Exit::rollout_help())]
    Recover {
        /// Take over a lock held on another host (a CI runner that is gone): pitwall cannot see
        /// that host's processes, so you vouch it no longer runs
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        rollout: RolloutArgs,
    },
    /// Check the configuration, compose file, env keys and checks: no Docker, no secrets needed
    #[command(after_help = format!("{VALIDATE_HELP}\n\n{}", Exit::validate_help()))]
    Validate {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Current and previous release, containers, drift from the release, last verdicts
    #[command(after_help = Exit::status_help())]
    Status {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Every release with its outcome, digests and check results
    History {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// The releases `rollback --to` can go back to, and whether their images are still here or in
    /// the registry
    Releases {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Remove images of old releases; never one a kept release pins or a container uses
    #[command(after_help = PRUNE_HELP)]
    Prune {
        /// How many of the newest verified releases to keep (the current and previous releases
        /// are always kept)
        #[arg(long, value_name = "N")]
        keep: usize,
        /// Print what would be removed, remove nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Answer a canary's `pause` step: the waiting release goes on with its next steps
    #[command(after_help = GATE_HELP)]
    Promote(GateArgs),
    /// Answer a canary's `pause` step: users go back to the previous release, the waiting one is
    /// removed and recorded as cancelled
    #[command(after_help = GATE_HELP)]
    Abort(GateArgs),
    /// Show, take or release the deploy lock (e.g. to hold deploys during maintenance)
    #[command(subcommand)]
    Lock(LockCommand),
    /// Deploy three releases of the reference stack (good, good, broken) and show the automatic rollback
    Demo(DemoArgs),
    /// Run, list, inspect, push and pull checks (WebAssembly components)
    #[command(subcommand)]
    Check(CheckCommand),
    /// Print a shell completion script (e.g. `source <(pitwall completions bash)`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `pitwall man > pitwall.1`
    Man,
    /// Print the JSON Schema of pitwall.toml or of a `--json` output
    #[command(after_help = SCHEMA_EXAMPLES)]
    Schema {
        /// Which schema; without it (or with --list), the names
        #[arg(value_name = "NAME",
              value_parser = clap::builder::PossibleValuesParser::new(crate::commands::schema::names()))]
        name: Option<String>,
        /// List the schemas and what each describes
        #[arg(long, conflicts_with = "name")]
        list: bool,
    },
}

const SCHEMA_EXAMPLES: &str = "Examples:\n  \
pitwall schema --list\n  \
pitwall schema config > pitwall.schema.json    # for editors: `#:schema ./pitwall.schema.json` atop pitwall.toml\n  \
pitwall schema history | jq .properties\n\n\
Every `--json` output carries `schema_version` (1 now); a change that breaks readers bumps it.";

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the deploy lock, since when, in which phase, and whether it still runs
    Status {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Hold the lock until `pitwall lock release`: deploys, rollbacks and prunes are refused
    Acquire {
        /// Why (shown to whoever is refused)
        #[arg(short, long, value_name = "MSG")]
        message: String,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Release a manual lock, or clear one left by a command that never touched the stack
    #[command(after_help = LOCK_RELEASE_HELP)]
    Release {
        /// Also clear a lock held on another host (pitwall cannot see whether it still runs)
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        stack: StackArgs,
    },
}

const PLAN_HELP: &str = "Digests are resolved as the deploy would: from the registry for \
--pull always (without pulling), else from the images here. The diff is the resolved compose \
file, both sides pinned to digests, with the env file's values scrubbed.\n\n\
Example: pitwall plan --release-id 1.4 --image api=registry.example.com/api:1.4";

const PRUNE_HELP: &str = "Removes only the image names (tags and digest references) that \
pitwall's history recorded for releases it does not keep. Kept: the current and previous \
releases and the N newest releases that were live and verified. An image stays when a kept \
release pins it under any name, or when any container on this host uses it. Takes the deploy \
lock, so it never races a deploy.\n\n\
Examples:\n  \
pitwall prune --keep 5 --dry-run\n  \
pitwall prune --keep 5";

const LOCK_RELEASE_HELP: &str = "A lock left by a deploy, rollback or recovery that touched the \
stack is not released here: the stack may be half-way, so `pitwall recover` (with --force for \
another host's lock) restores the last good release and clears it.";

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Run one check once and print its verdict
    #[command(
        after_help = format!("{}\n\n{CHECK_RUN_EXAMPLES}", Exit::check_help())
    )]
    Run(Box<CheckRunArgs>),
    /// List the built-in checks
    List {
        /// Print a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Show what a check says about itself, its contract version, size and cache state
    Inspect {
        /// `builtin:NAME`, `oci://HOST[:PORT]/REPO:TAG[@sha256:DIGEST]` or a path to a `.wasm` component
        plugin: String,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Compile checks into the cache now (deploys then start without compiling)
    Precompile {
        /// `builtin:NAME` or paths to `.wasm` components
        #[arg(required = true, value_name = "PLUGIN")]
        plugins: Vec<String>,
    },
    /// Print the contract (WIT) this pitwall speaks, or write it to DIR/check.wit
    Wit {
        /// Write DIR/check.wit instead of printing it
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
        /// The contract: 0.2.0 (the one this pitwall speaks) or 0.1.0 (its checks still run)
        #[arg(long, value_name = "VERSION", default_value = Contract::V0_2.version(), value_parser = contract)]
        contract: Contract,
    },
    /// Create a check project that builds with one command and whose tests pass
    #[command(after_help = CHECK_NEW_EXAMPLES)]
    New {
        /// The check's name: lowercase letters, digits and dashes (e.g. db-health)
        name: String,
        /// The language of the project
        #[arg(long, value_enum)]
        lang: Lang,
        /// Where to create it (default: ./NAME); must not exist yet
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run test cases: a check against canned host answers, compared with the verdict expected
    #[command(
        after_help = format!("{}\n\n{CHECK_TEST_EXAMPLES}", Exit::test_help()),
        after_long_help = format!("{}\n\n{CHECK_TEST_EXAMPLES}\n\n{CHECK_TEST_FORMAT}", Exit::test_help())
    )]
    Test {
        /// Case files (.toml, or a .json recording), or folders searched for
        /// .toml cases (default: ./tests)
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// The check to test, instead of each case's `plugin`
        #[arg(long, value_name = "PLUGIN")]
        plugin: Option<String>,
    },
    /// Push a check to an OCI registry; prints the reference pinned to its digest, for pitwall.toml
    #[command(after_help = OCI_HELP)]
    Push {
        /// A path to a `.wasm` component (or `builtin:NAME`)
        plugin: String,
        /// Where to: oci://HOST[:PORT]/REPO:TAG
        target: String,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Fetch a check from an OCI registry into the cache; prints its path and digests
    #[command(after_help = OCI_HELP)]
    Pull {
        /// oci://HOST[:PORT]/REPO:TAG, @sha256:DIGEST or both
        reference: String,
        /// Print one JSON object
        #[arg(long)]
        json: bool,
    },
}

/// A check project's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
}

const VALIDATE_HELP: &str = "Checks, without Docker and without the env file's values:\n  \
- pitwall.toml: every key known, every value valid (errors name FILE:LINE and the setting, e.g. checks[2].failure_limit)\n  \
- the compose file, parsed by the compose tool's own `config`; every service pitwall deploys exists and uses ${KEY_IMAGE}\n  \
- the compose file's variables against the env file's keys (or, where the secrets are not, its .example)\n  \
- every check: loaded, its configuration accepted by the check, its capabilities granted, the URLs it targets under allow_http\n\n\
Example: pitwall validate --config deploy/pitwall.toml";

const CHECK_NEW_EXAMPLES: &str = "Examples:\n  \
pitwall check new db-health --lang rust       # cargo test; cargo build --release --target wasm32-wasip2\n  \
pitwall check new db-health --lang python     # python3 -m unittest; ./build.sh\n\n\
The project carries the SDK and the contract at this pitwall's version; its README says the rest.";

const CHECK_TEST_EXAMPLES: &str = "Examples:\n  \
pitwall check test                            # every tests/**/*.toml\n  \
pitwall check test tests/down.toml --plugin target/wasm32-wasip2/release/db_health.wasm\n  \
pitwall check test run.json                   # a recording from `check run --record`\n\n\
A case: plugin, config, allow_http/allow_logs, canned [[http]] / [[logs]] / [[containers]]\n\
answers (or tape = a recording) and [expect] outcome, summary_contains, evidence;\n\
`--help` shows the whole format.";

/// The case format, as documented in the repository.
const CHECK_TEST_FORMAT: &str = include_str!("../../docs/check-test-cases.md");

const OCI_HELP: &str = "Checks are stored as WebAssembly OCI artifacts (config \
application/vnd.wasm.config.v0+json, one application/wasm layer), as wkg and oras read them.\n\n\
Credentials: those `docker login HOST` stored ($DOCKER_CONFIG/config.json or ~/.docker/config.json, \
credential helpers included). HTTPS, except plain HTTP to loopback registries and to hosts listed in \
PITWALL_INSECURE_REGISTRIES (comma-separated HOST[:PORT]).\n\n\
`@sha256:` pins the manifest: a pinned reference pulled once runs from the cache \
($PITWALL_CACHE_DIR/oci), without the registry. `sha256 =` in a pitwall.toml check pins the \
component bytes instead (`check pull` and `check inspect` print that SHA-256).\n\n\
Examples:\n  \
pitwall check push my_check.wasm oci://registry.example.com/checks/my-check:1.0\n  \
pitwall check pull oci://registry.example.com/checks/my-check:1.0@sha256:<what push printed>";

const CHECK_RUN_EXAMPLES: &str = "Examples:\n  \
pitwall check run builtin:http-probe --config '{\"url\":\"http://127.0.0.1:8080/api/health/\"}' \\\n      \
--allow-http http://127.0.0.1:8080/api/\n  \
pitwall check run builtin:log-5xx --config '{\"services\":[\"api\"]}' --allow-logs api --project shop\n  \
pitwall check run builtin:prom-query --config '{\"url\":\"http://127.0.0.1:9090\",\"query\":\"up\",\"min\":1}' \\\n      \
--allow-http http://127.0.0.1:9090/api/v1/\n  \
pitwall check run my-check.wasm --config @check.json --allow-http http://127.0.0.1:8080/ --record run.json\n  \
pitwall check run my-check.wasm --replay run.json        # offline: no network, no Docker";

#[derive(Debug, Args)]
pub struct CheckRunArgs {
    /// `builtin:NAME` (see `pitwall check list`), `oci://HOST[:PORT]/REPO:TAG[@sha256:DIGEST]`
    /// (see `pitwall check push`) or a path to a `.wasm` component
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
    #[arg(
        long,
        value_name = "NAME",
        env = "PITWALL_PROJECT",
        default_value = "pitwall"
    )]
    pub project: String,

    /// Release id given to the check (e.g. for `version == release id` probes).
    #[arg(long, value_name = "ID", default_value = "standalone")]
    pub release_id: String,

    /// Window of logs the check looks at, ending now (the rollout start it is told).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "5m")]
    pub since: Duration,

    /// Time budget of the run, including host calls (e.g. 500ms, 10s; 1ms to 1h).
    #[arg(long, value_name = "DURATION", value_parser = check_timeout, default_value = "10s")]
    pub timeout: Duration,

    /// Memory cap of the check, in MiB (1 to 4096).
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub memory: u16,

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

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The image of release 1.0 (a healthy build of the fixture app)
    #[arg(long, value_name = "REF")]
    pub good: String,
    /// The image of release 1.1 (healthy, another version)
    #[arg(long, value_name = "REF")]
    pub next: String,
    /// The image of release 1.2, which fails its checks and is rolled back
    #[arg(long, value_name = "REF")]
    pub broken: String,
    /// Leave the demo stack running at the end
    #[arg(long)]
    pub keep: bool,
    /// Host port of the demo frontend
    #[arg(long, value_name = "PORT", default_value_t = 18080)]
    pub port: u16,
}

/// What a release is: its id and images, and how they are fetched.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// SERVICE=IMAGE for each service to change (repeatable); others keep the current release's image
    #[arg(long = "image", value_name = "SERVICE=REF", required = true)]
    pub images: Vec<String>,
    /// The id of this release: 1-128 ASCII letters, digits, `.`, `_`, `-`, `+`, starting with a letter
    /// or digit (e.g. 2026-11-26.1 or a git sha)
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(ReleaseId))]
    pub release_id: ReleaseId,
    /// When to pull the images from their registry
    #[arg(long, value_enum, default_value = "always")]
    pub pull: Pull,
    /// Reuse a release id that was already deployed with other images
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub stack: StackArgs,
}

/// Who asks for a deploy, rollback or recovery and why (both recorded in the
/// history), and where its events go.
#[derive(Debug, Args, Clone)]
pub struct RolloutArgs {
    /// Who asks for it (default: $GITHUB_ACTOR on GitHub Actions, else the OS user)
    #[arg(long, value_name = "NAME", env = "PITWALL_ACTOR")]
    pub actor: Option<String>,
    /// Why, e.g. "hotfix for INC-1234" or the commit subject
    #[arg(long, value_name = "TEXT", env = "PITWALL_MESSAGE")]
    pub message: Option<String>,
    /// Write every step, pull, check attempt and the outcome as NDJSON (one JSON object a
    /// line, flushed as it happens) to FILE, or to stdout with `-` (the report then goes to
    /// stderr; not with --json). `pitwall schema events` describes a line.
    #[arg(long, value_name = "FILE|-")]
    pub events: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Keep watching (watch checks and the containers) this long after verification (e.g. 2m)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "0s")]
    pub soak: Duration,
    /// Show what would change (as `pitwall plan`) and change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub rollout: RolloutArgs,
}

/// A contract version this pitwall runs checks of.
fn contract(version: &str) -> Result<Contract, String> {
    Contract::from_version(version).ok_or_else(|| {
        let known: Vec<&str> = Contract::ALL.iter().map(|c| c.version()).collect();
        format!(
            "this pitwall runs checks of contracts {}",
            known.join(" and ")
        )
    })
}

/// `--timeout`: a duration within what a check may be given.
fn check_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    crate::checks::Limits::with(timeout, 1).map(|l| l.timeout)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command, with the path of commands to it.
    fn all_args(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.clone(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            all_args(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn the_cli_is_consistent() {
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        let mut args = Vec::new();
        all_args(&cmd, "pitwall".into(), &mut args);
        for (path, arg) in &args {
            let name = arg.get_id();
            if let Some(env) = arg.get_env() {
                assert!(
                    env.to_string_lossy().starts_with("PITWALL_"),
                    "{path} --{name}: environment variables are named PITWALL_*"
                );
            }
            if !matches!(name.as_str(), "help" | "version") {
                assert!(
                    arg.get_help().is_some() || arg.is_positional(),
                    "{path} --{name}: document it in --help"
                );
            }
        }
    }
}
