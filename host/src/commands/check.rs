//! `pitwall check run | list | inspect | push | pull | precompile`, and
//! through submodules `wit | new` (scaffold) and `test`.

mod scaffold;
mod test;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use schemars::JsonSchema;
use serde::Serialize;

use crate::checks::builtin::BUILTINS;
use crate::checks::oci::{self, OciError};
use crate::checks::{
    Cache, CacheStatus, Compiler, Grants, Io, Limits, Recording, Run, Runtime, Source, TapeMode,
    Verdict, types,
};
use crate::cli::{CheckCommand, CheckRunArgs};
use crate::engine::ProjectView;
use crate::exit::Exit;
use crate::report;

pub async fn execute(command: CheckCommand) -> anyhow::Result<ExitCode> {
    match command {
        CheckCommand::Run(args) => run(*args).await,
        CheckCommand::List { json } => {
            if json {
                let checks = BUILTINS
                    .iter()
                    .map(|b| Builtin {
                        plugin: format!("builtin:{}", b.name),
                        summary: b.summary,
                    })
                    .collect();
                report::print_json(&Builtins { checks })?;
            } else {
                let list: String = BUILTINS
                    .iter()
                    .map(|b| format!("builtin:{:<12} {}\n", b.name, b.summary))
                    .collect();
                report::print(&list)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CheckCommand::Inspect { plugin, json } => inspect(&plugin, json).await,
        CheckCommand::Precompile { plugins } => precompile(&plugins).await,
        CheckCommand::Wit { out, contract } => scaffold::wit(out.as_deref(), contract),
        CheckCommand::New { name, lang, dir } => scaffold::new(&name, lang, dir.as_deref()),
        CheckCommand::Test { paths, plugin } => {
            let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)?;
            test::test(&runtime, &paths, plugin.as_deref()).await
        }
        CheckCommand::Push {
            plugin,
            target,
            json,
        } => push(&plugin, &target, json).await,
        CheckCommand::Pull { reference, json } => pull(&reference, json).await,
    }
}

/// `pitwall check list --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Builtins {
    checks: Vec<Builtin>,
}

#[derive(Serialize, JsonSchema)]
struct Builtin {
    /// What pitwall.toml's `plugin =` and `check run` take.
    plugin: String,
    summary: &'static str,
}

/// Reads `--config`: JSON text, or `@FILE`.
fn config_text(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {path}")),
        None => Ok(arg.to_string()),
    }
}

async fn run(args: CheckRunArgs) -> anyhow::Result<ExitCode> {
    let recording = args.replay.as_deref().map(Recording::read).transpose()?;
    let config = match (&args.config, &recording) {
        (Some(c), _) => config_text(c)?,
        (None, Some(r)) => r.config.clone(),
        (None, None) => "{}".to_string(),
    };
    let grants = match &recording {
        Some(r) if args.allow_http.is_empty() && args.allow_logs.is_empty() => r.grants.clone(),
        _ => Grants {
            allow_http: args.allow_http.clone(),
            allow_logs: args.allow_logs.clone(),
        },
    };
    grants.validate().map_err(anyhow::Error::msg)?;
    let context = match &recording {
        Some(r) => r.context.clone(),
        None => {
            let now = crate::clock::now_ms();
            types::Context {
                release_id: args.release_id.clone(),
                project: args.project.clone(),
                images: Vec::new(),
                started_at_ms: now
                    .saturating_sub(args.since.as_millis().try_into().unwrap_or(u64::MAX)),
                now_ms: now,
                attempt: 1,
                phase: "standalone".into(),
            }
        }
    };
    let limits = Limits::with(args.timeout, args.memory.into()).map_err(anyhow::Error::msg)?;

    let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)?;
    let verdict = match runtime.prepare(&args.plugin, None, &config, limits).await {
        Err(message) => Verdict::error(message),
        Ok(plugin) => {
            for missing in runtime.ungranted(&plugin, &grants).await {
                // `check run`'s grant flags are the pitwall.toml keys, dashed.
                let (key, example) = missing.grant();
                report::warn(&format!(
                    "warning: the check needs `{}` and nothing grants it: add --{} {example}",
                    missing.name(),
                    key.replace('_', "-")
                ));
            }
            if let Some(r) = &recording
                && r.plugin_sha256 != plugin.sha256
            {
                tracing::warn!(
                    "{} differs from the build that made the recording ({}); replaying anyway",
                    plugin.source,
                    r.plugin
                );
            }
            let io = match recording {
                Some(r) => Io::replay(r.interactions),
                None => Io::live(
                    Arc::new(ProjectView::new(&args.project)),
                    if args.record.is_some() {
                        TapeMode::Record
                    } else {
                        TapeMode::Off
                    },
                ),
            };
            let verdict = runtime
                .run(
                    &plugin,
                    Run {
                        context: context.clone(),
                        config: &config,
                        grants: &grants,
                        limits,
                        io: io.clone(),
                    },
                )
                .await;
            if let Some(path) = &args.record {
                Recording {
                    contract: plugin.contract.package().to_string(),
                    // A file is named absolutely: `check test` reads the
                    // recording from wherever it is kept.
                    plugin: std::fs::canonicalize(&args.plugin)
                        .map_or_else(|_| plugin.source.clone(), |p| p.display().to_string()),
                    plugin_sha256: plugin.sha256.clone(),
                    config: config.clone(),
                    grants: grants.clone(),
                    context,
                    interactions: io.tape().map_err(anyhow::Error::msg)?,
                    verdict: verdict.clone(),
                }
                .write(path)?;
            }
            verdict
        }
    };
    if args.json {
        report::print_json(&report::Named {
            check: &args.plugin,
            verdict: &verdict,
        })?;
    } else {
        report::print(&report::verdict_text(&args.plugin, &verdict))?;
    }
    Ok(Exit::of_verdict(verdict.outcome).into())
}

/// `pitwall check inspect --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Inspection {
    plugin: String,
    contract: &'static str,
    name: String,
    version: String,
    description: String,
    config_help: String,
    capabilities: Vec<String>,
    size_bytes: usize,
    sha256: String,
    /// Whether the compiled form was already in the cache before this command.
    cached: bool,
    cache_dir: Option<String>,
}

async fn inspect(spec: &str, json: bool) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)?;
    let source = Source::resolve(spec, runtime.cache()).await?;
    let plugin = runtime.load(&source)?;
    let d = runtime
        .describe(&plugin)
        .await
        .map_err(anyhow::Error::msg)?;
    let info = Inspection {
        plugin: plugin.source.clone(),
        contract: plugin.contract.package(),
        name: d.name,
        version: d.version,
        description: d.description,
        config_help: d.config_help,
        capabilities: d.capabilities,
        size_bytes: plugin.size,
        sha256: plugin.sha256.clone(),
        cached: plugin.cache == CacheStatus::Hit,
        cache_dir: runtime.cache().dir().map(|d| d.display().to_string()),
    };
    if json {
        report::print_json(&info)?;
    } else {
        let capabilities = if info.capabilities.is_empty() {
            "none".into()
        } else {
            info.capabilities.join(", ")
        };
        let cache = if info.cached {
            "compiled form was cached"
        } else {
            "compiled now"
        };
        report::print(&format!(
            "{} {} ({})\n\
             contract:     {}\n\
             capabilities: {capabilities}\n\
             size:         {} bytes, sha256 {}\n\
             cache:        {cache} ({})\n\
             \n{}\n\nconfiguration:\n{}\n",
            info.name,
            info.version,
            info.plugin,
            info.contract,
            info.size_bytes,
            info.sha256,
            info.cache_dir.as_deref().unwrap_or("no cache directory"),
            info.description,
            info.config_help
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn precompile(specs: &[String]) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)?;
    let start = std::time::Instant::now();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let mut failed = false;
    let pinless: Vec<(&str, Option<&str>)> = specs.iter().map(|s| (*s, None)).collect();
    for (spec, loaded) in specs.iter().zip(runtime.load_all(&pinless).await) {
        match loaded {
            Ok(p) => report::print(&format!(
                "{spec}: {}\n",
                match p.cache {
                    CacheStatus::Hit => "already compiled",
                    CacheStatus::Compiled => "compiled",
                }
            ))?,
            Err(e) => {
                failed = true;
                report::warn(&format!("error: {e}"));
            }
        }
    }
    report::print(&format!(
        "{} checks in {:.2} s; cache: {}\n",
        specs.len(),
        start.elapsed().as_secs_f64(),
        runtime
            .cache()
            .dir()
            .map_or("none (set PITWALL_CACHE_DIR)".into(), |d| d
                .display()
                .to_string())
    ))?;
    Ok(if failed { Exit::NeedsHuman } else { Exit::Ok }.into())
}

/// `spec` as an `oci://` reference, or why not.
fn oci_reference(spec: &str) -> Result<oci::Reference, OciError> {
    oci::Reference::parse(spec).unwrap_or_else(|| {
        Err(OciError::BadReference {
            spec: spec.to_string(),
            reason: "it does not start with oci://".into(),
        })
    })
}

async fn push(spec: &str, target: &str, json: bool) -> anyhow::Result<ExitCode> {
    let target = oci_reference(target)?;
    let component = oci::Component::read(&Source::parse(spec)?)?;
    let pushed = oci::push(&component, &target).await?;
    if json {
        report::print_json(&Pushed {
            reference: pushed.to_string(),
            digest: pushed.digest().map(ToString::to_string),
        })?;
    } else {
        report::print(&format!("{pushed}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `pitwall check push --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Pushed {
    /// Pinned to the manifest digest, for pitwall.toml.
    reference: String,
    digest: Option<String>,
}

/// `pitwall check pull --json`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Fetched {
    /// Pinned to the manifest digest.
    reference: String,
    digest: Option<String>,
    path: String,
    /// The component's own SHA-256, what `sha256 =` pins.
    sha256: String,
    size_bytes: usize,
    /// Whether it came from the cache, without the registry.
    cached: bool,
}

async fn pull(spec: &str, json: bool) -> anyhow::Result<ExitCode> {
    let reference = oci_reference(spec)?;
    let pulled = oci::resolve(&reference, &oci::Store::new(&Cache::from_env())).await?;
    let path = pulled
        .path
        .as_ref()
        .ok_or_else(|| OciError::NoCache(pulled.reference.to_string()))?;
    let info = Fetched {
        reference: pulled.reference.to_string(),
        digest: pulled.reference.digest().map(ToString::to_string),
        path: path.display().to_string(),
        sha256: crate::checks::sha256(&pulled.bytes),
        size_bytes: pulled.bytes.len(),
        cached: pulled.cached,
    };
    if json {
        report::print_json(&info)?;
    } else {
        report::print(&format!(
            "{}\n\
             path:   {}\n\
             sha256: {} ({} bytes; the component's, for `sha256 =`)\n\
             from:   {}\n",
            info.reference,
            info.path,
            info.sha256,
            info.size_bytes,
            if info.cached {
                "the cache"
            } else {
                "the registry"
            },
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
