//! CI mode, end to end through the `deploy` command (on the in-memory
//! engine, so without Docker): on a GitHub Actions runner the log is
//! well-formed workflow commands (groups balanced, failures annotated,
//! everything escaped and scrubbed) and a step summary is appended;
//! `--events` streams NDJSON that matches `pitwall schema events`; the
//! actor and message reach the history.
//!
//! The runner's environment (`GITHUB_ACTIONS`, `GITHUB_STEP_SUMMARY`,
//! `GITHUB_ACTOR`) is process-wide, so the deploys run in a child process
//! (this test binary, running the ignored `child_*` test) and this process
//! reads what it wrote: stderr, stdout and the files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use clap::Parser as _;
use common::http::{Reply, Server};
use common::memory::{Image, MemoryEngine};
use common::{pitwall, root, run, schema, violations};
use pitwall::checks::{Cache, Compiler, Runtime};
use pitwall::cli::{Cli, Command as Verb};
use pitwall::commands::deploy::{Backend, deploy};
use serde_json::Value;

/// In the env file: it must never appear in any output.
const SECRET: &str = "s3cr3t-t0ken-value";

/// What release 2.0's health endpoint answers: `%`, `,` and `:` for the
/// escaping, and the secret for the scrubbing.
const HOSTILE_STATUS: &str = "50% degraded, db:5432 said s3cr3t-t0ken-value";

/// A workflow command as the runner reads it.
#[derive(Debug)]
struct WorkflowCommand {
    name: String,
    properties: BTreeMap<String, String>,
    data: String,
}

/// Reads `::name key=value,key=value::data`, or says why it is malformed:
/// an unknown name, a property without `=`, or text the runner would
/// misread (a raw `:` or `,` in a property value, a `%` that is not one of
/// the escapes).
fn parse_command(line: &str) -> Result<WorkflowCommand, String> {
    const NAMES: &[&str] = &["group", "endgroup", "error", "warning", "notice", "debug"];
    let rest = line.strip_prefix("::").ok_or("does not start with ::")?;
    let (head, data) = rest.split_once("::").ok_or("no :: after the name")?;
    let (name, properties) = match head.split_once(' ') {
        Some((name, properties)) => (name, Some(properties)),
        None => (head, None),
    };
    if !NAMES.contains(&name) {
        return Err(format!("unknown command `{name}`"));
    }
    let mut parsed = BTreeMap::new();
    for property in properties.into_iter().flat_map(|p| p.split(',')) {
        let (key, value) = property
            .split_once('=')
            .ok_or_else(|| format!("property `{property}` has no ="))?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("property name `{key}`"));
        }
        parsed.insert(key.to_string(), unescape(value, true)?);
    }
    Ok(WorkflowCommand {
        name: name.to_string(),
        properties: parsed,
        data: unescape(data, false)?,
    })
}

/// Undoes the runner's escapes; a `%` that starts none of them, or (in a
/// property) a raw `:` or `,`, is an escaping bug.
fn unescape(text: &str, property: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '%' => {
                let code = rest.get(..2).ok_or("a % at the end")?;
                out.push(match code {
                    "25" => '%',
                    "0D" => '\r',
                    "0A" => '\n',
                    "3A" if property => ':',
                    "2C" if property => ',',
                    _ => return Err(format!("stray %{code} in `{text}`")),
                });
                rest = &rest[2..];
            }
            ':' | ',' if property => return Err(format!("raw `{c}` in property `{text}`")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Every workflow command on `log`, checked: each parses, groups never
/// nest, every group is closed. Plain lines are left alone.
fn workflow_commands(log: &str) -> Vec<WorkflowCommand> {
    let mut commands = Vec::new();
    let mut open = false;
    for line in log.lines().filter(|l| l.starts_with("::")) {
        let command = parse_command(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        match command.name.as_str() {
            "group" => assert!(!open, "a group opened inside another: {line}"),
            "endgroup" => assert!(open, "::endgroup:: without a group"),
            _ => {}
        }
        open = match command.name.as_str() {
            "group" => true,
            "endgroup" => false,
            _ => open,
        };
        commands.push(command);
    }
    assert!(!open, "the last group was never closed");
    commands
}

#[test]
fn workflow_command_parser_rejects_what_the_runner_would_misread() {
    assert!(parse_command("::error title=a%3Ab%2Cc::x%25y%0Az").is_ok());
    for bad in [
        "::error title=a:b::x",
        "::error title=a,b::x",
        "::error::50% done",
        "::eror::x",
        "::error title::x",
        "::group:",
    ] {
        assert!(parse_command(bad).is_err(), "{bad}");
    }
    let c = parse_command("::error title=a%3Ab%2Cc::x%25y%0Az").unwrap();
    assert_eq!(c.properties["title"], "a:b,c");
    assert_eq!(c.data, "x%y\nz");
}

/// The stack of the child: two services on the in-memory engine; release
/// 2.0's health endpoint answers hostile text, so it fails and is rolled
/// back.
struct Stack {
    dir: PathBuf,
    engine: MemoryEngine,
    _server: Server,
}

impl Stack {
    fn new(dir: &Path) -> Stack {
        let engine = MemoryEngine::new();
        engine.local("app:1.0", Image::healthy());
        let broken = engine.local("app:2.0", Image::healthy());
        let serving = engine.clone();
        let server = Server::start(move |_, path| {
            let running = serving.running().and_then(|r| r.get("api").cloned());
            let status = if running.as_deref() == Some(broken.as_str()) {
                HOSTILE_STATUS
            } else {
                "ok"
            };
            match path {
                "/health" => Reply::new(
                    serving.health_status("api"),
                    serde_json::json!({ "status": status }).to_string(),
                ),
                _ => Reply::new(404, "not found"),
            }
        });
        std::fs::write(dir.join("compose.yml"), "services: {}\n").unwrap();
        std::fs::write(dir.join(".env"), format!("API_TOKEN={SECRET}\n")).unwrap();
        let config = format!(
            r#"
[stack]
compose_file = "compose.yml"
project = "citest"
env_file = ".env"
state_dir = "releases"
wait_timeout = "1s"

[stack.services.api]
[stack.services.frontend]

[defaults]
interval = "50ms"
timeout = "2s"
deadline = "3s"
failure_limit = 2

[[checks]]
name = "health"
plugin = "builtin:http-probe"
allow_http = ["{base}/"]
config = {{ url = "{base}/health", json_field = "status", json_equals = "ok" }}
"#,
            base = server.base
        );
        std::fs::write(dir.join("pitwall.toml"), config).unwrap();
        Stack {
            dir: dir.to_path_buf(),
            engine,
            _server: server,
        }
    }

    /// `pitwall deploy ARGS` on the in-memory engine, through the command
    /// (the CLI's parsing and environment included).
    async fn deploy(&self, release: &str, extra: &[&str]) -> anyhow::Result<ExitCode> {
        let image = format!("app:{release}");
        let events = self.dir.join(format!("events-{release}.ndjson"));
        let mut argv = vec![
            "pitwall".to_string(),
            "deploy".into(),
            "--config".into(),
            self.dir.join("pitwall.toml").display().to_string(),
            "--release-id".into(),
            release.into(),
            "--pull".into(),
            "never".into(),
            "--events".into(),
            events.display().to_string(),
        ];
        for service in ["api", "frontend"] {
            argv.extend(["--image".into(), format!("{service}={image}")]);
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        let Verb::Deploy(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!("parsed a deploy")
        };
        let backend = Backend {
            engine: Arc::new(self.engine.clone()),
            runtime: Runtime::new(Cache::from_env(), Compiler::InProcess).unwrap(),
        };
        deploy(&args, Some(backend)).await
    }
}

const CHILD: &str = "child_deploys_on_a_github_actions_runner";

/// Run by `a_github_actions_deploy_*` in a child process, with the
/// runner's environment and the directory to work in.
#[tokio::test]
#[ignore = "a child of a_github_actions_deploy_is_well_formed_commands_a_summary_and_events"]
async fn child_deploys_on_a_github_actions_runner() {
    let dir = PathBuf::from(std::env::var("PITWALL_CI_TEST_DIR").expect("run by its parent"));
    let stack = Stack::new(&dir);
    assert_eq!(stack.deploy("1.0", &[]).await.unwrap(), ExitCode::from(0));
    let rolled_back = stack.deploy("2.0", &["--json"]).await.unwrap();
    assert_eq!(rolled_back, ExitCode::from(1));
    let refused = stack.deploy("3.0", &["--image", "db=app:3.0"]).await;
    assert!(refused.is_err(), "db is not a service of the stack");
}

/// The events of `file`: each line one JSON object, valid against the
/// events schema.
fn events(file: &Path, schema: &jsonschema::Validator) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.ends_with('\n'), "every event ends its line");
    text.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let errors = violations(schema, &event);
            assert!(errors.is_empty(), "{errors:?}\n{line}");
            event
        })
        .collect()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

#[test]
fn a_github_actions_deploy_is_well_formed_commands_a_summary_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "# earlier steps\n").unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([CHILD, "--exact", "--include-ignored", "--nocapture"])
        .env("PITWALL_CI_TEST_DIR", dir.path())
        .env("PITWALL_CACHE_DIR", root().join("target/test-cache"))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_ACTOR", "octo-cat")
        .env("PITWALL_MESSAGE", "ship it, 100%")
        .env_remove("PITWALL_ACTOR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{stdout}\n{stderr}");

    // The log: workflow commands, well-formed and balanced.
    let commands = workflow_commands(&stderr);
    assert!(!stderr.lines().any(|l| l.starts_with("==> ")), "{stderr}");
    let groups: Vec<&str> = commands
        .iter()
        .filter(|c| c.name == "group")
        .map(|c| c.data.as_str())
        .collect();
    for expected in [
        "pulling images for release 1.0",
        "verifying release 2.0",
        "rolling back to release 1.0",
    ] {
        assert!(groups.iter().any(|g| g.starts_with(expected)), "{groups:?}");
    }
    let errors: Vec<&WorkflowCommand> = commands.iter().filter(|c| c.name == "error").collect();
    // Two counted attempts (failure_limit 2), then the outcomes of 2.0 and 3.0.
    let [first, second, rolled_back, refused] = errors.as_slice() else {
        panic!("{errors:?}")
    };
    for (n, e) in [first, second].into_iter().enumerate() {
        assert_eq!(
            e.properties["title"],
            format!("check health: fail (attempt {}, verify)", n + 1)
        );
        assert!(e.data.contains("50% degraded, db:5432 said ***"), "{e:?}");
    }
    assert_eq!(
        rolled_back.properties["title"],
        "pitwall: rolled back (exit 1)"
    );
    assert!(
        rolled_back.data.starts_with("release 2.0 failed"),
        "{rolled_back:?}"
    );
    assert_eq!(refused.properties["title"], "pitwall: refused (exit 4)");
    assert!(refused.data.contains("`db`"), "{refused:?}");
    assert!(!stderr.contains(SECRET) && !stdout.contains(SECRET));

    // The step summary: appended to, one section per deploy.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("# earlier steps\n"),
        "appended, not replaced"
    );
    assert!(!md.contains(SECRET), "{md}");
    for expected in [
        "### pitwall deploy 1.0: released (exit 0)",
        "### pitwall deploy 2.0: rolled back (exit 1)",
        "### pitwall deploy 3.0: refused (exit 4)",
        "**By** octo-cat on ",
        ": ship it, 100%",
        "| api | app:2.0 | app@sha256:",
        "| Check | Phase | Outcome | Attempts | Summary |",
        "| health | verify | fail | 2 | GET ",
        "JSON field `status` is \"50% degraded, db:5432 said ***\", expected \"ok\" |",
        "**Rollback** to 1.0: verified",
        "**Incident:** ",
    ] {
        assert!(md.contains(expected), "{expected}\n{md}");
    }

    // The events: one schema-valid object a line, from started to finished.
    let events_schema = schema("events");
    let released = events(&dir.path().join("events-1.0.ndjson"), &events_schema);
    assert_eq!(released[0]["event"], "started");
    assert_eq!(released[0]["actor"], "octo-cat");
    assert_eq!(released[0]["message"], "ship it, 100%");
    assert_eq!(of_kind(&released, "pull").len(), 2);
    assert!(of_kind(&released, "failure").is_empty());
    let last = released.last().unwrap();
    assert_eq!(
        (&last["event"], &last["outcome"]),
        (&"finished".into(), &"released".into())
    );
    assert_eq!(last["exit_code"], 0);

    let rolled_back = events(&dir.path().join("events-2.0.ndjson"), &events_schema);
    let failed: Vec<&Value> = of_kind(&rolled_back, "verdict")
        .into_iter()
        .filter(|v| v["verdict"]["outcome"] == "fail")
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|v| v["counts"] == true && v["phase"] == "verify")
    );
    let failure = of_kind(&rolled_back, "failure");
    assert_eq!(failure[0]["mode"], "healthcheck");
    let rollback = of_kind(&rolled_back, "rollback");
    assert_eq!(
        (&rollback[0]["to_release"], &rollback[0]["outcome"]),
        (&"1.0".into(), &"verified".into())
    );
    let last = rolled_back.last().unwrap();
    assert_eq!(
        (&last["outcome"], &last["exit_code"]),
        (&"rolled_back".into(), &1.into())
    );
    assert!(last["incident"].is_string());
    let text = std::fs::read_to_string(dir.path().join("events-2.0.ndjson")).unwrap();
    assert!(!text.contains(SECRET) && text.contains("***"));

    let refused = events(&dir.path().join("events-3.0.ndjson"), &events_schema);
    let kinds: Vec<&Value> = refused.iter().map(|e| &e["event"]).collect();
    assert_eq!(kinds, ["started", "finished"]);
    assert_eq!(refused[1]["outcome"], "refused");
    assert_eq!(refused[1]["exit_code"], 4);

    // The --json report of 2.0 (on stdout, among the test harness's lines).
    let start = stdout
        .find("{\n  \"schema_version\"")
        .expect("the --json report");
    let report: Value = serde_json::Deserializer::from_str(&stdout[start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let errors = violations(&schema("deploy"), &report);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["record"]["actor"], "octo-cat");
    assert_eq!(report["record"]["message"], "ship it, 100%");

    // The history: both records name the actor and the message.
    let out = run(pitwall()
        .args(["history", "--json", "--config"])
        .arg(dir.path().join("pitwall.toml")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let history: Value = serde_json::from_str(&out.stdout).unwrap();
    let records = history["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["actor"] == "octo-cat"));
    let out = run(pitwall()
        .args(["history", "--config"])
        .arg(dir.path().join("pitwall.toml")));
    assert!(
        out.stdout.contains("by octo-cat: ship it, 100%"),
        "{}",
        out.stdout
    );
}

#[test]
fn events_on_stdout_cannot_share_it_with_json() {
    let out = run(pitwall().args([
        "deploy",
        "--image",
        "api=app:1",
        "--release-id",
        "1",
        "--events",
        "-",
        "--json",
    ]));
    assert_eq!(out.code, 4, "refused: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("--events - and --json both write to stdout"),
        "{}",
        out.stderr
    );
}
