//! What every command that works on a stack starts from: the
//! configuration (with the command line's overrides), the compose file as
//! its tool reads it, and the engine and check runtime a rollout runs on.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::checks::{Cache, Compiler, Runtime};
use crate::cli::StackArgs;
use crate::config::{Config, EngineKind, Overrides, read_env_file};
use crate::engine::{BlueGreen, Compose, ComposeFile, Engine, Swarm, Switch};
use crate::report::{Progress, Redactor};
use crate::rollout::{Deployer, Refused};
use crate::traffic::Haproxy;

pub fn overrides(stack: &StackArgs) -> Overrides {
    Overrides {
        env_file: stack.env_file.clone(),
        project: stack.project.clone(),
        state_dir: stack.state_dir.clone(),
        health_url: stack.health_url.clone(),
    }
}

/// Loads and validates the configuration for a command that changes the
/// stack; problems are refusals.
pub fn load_config(stack: &StackArgs) -> anyhow::Result<Config> {
    Config::load(&stack.config, &overrides(stack))
        .map_err(|e| Refused::because("the configuration cannot be used", e).into())
}

/// Reads the configuration for a command that only reads (the state, the
/// containers): no env file needed.
pub fn read_config(stack: &StackArgs) -> anyhow::Result<Config> {
    Config::read(&stack.config, &overrides(stack))
        .map_err(|e| Refused::because("the configuration cannot be read", e).into())
}

/// The compose file of `config`, with the compose tool found.
pub async fn compose_file(config: &Config) -> anyhow::Result<ComposeFile> {
    let s = &config.stack;
    ComposeFile::detect(
        &s.project,
        &s.compose_file,
        s.env_file.as_deref(),
        &s.services,
    )
    .await
    .map_err(|e| Refused::because("preflight", e).into())
}

/// Preflight on the stack's engine: configuration, engine, Docker, every
/// check loaded and its configuration accepted.
pub async fn deployer(config: Config) -> anyhow::Result<Deployer> {
    let progress = Progress::new(Redactor::new(config.secrets.clone()));
    let Backend { engine, runtime } = Backend::for_stack(&config).await?;
    Deployer::preflight(config, engine, runtime, progress).await
}

/// What a rollout runs on: the stack's engine and the check runtime.
pub struct Backend {
    pub engine: Arc<dyn Engine>,
    pub runtime: Runtime,
}

impl Backend {
    /// The stack's engine (compose: the tool and Docker found; swarm: a
    /// manager) and checks compiled in isolated children.
    pub(super) async fn for_stack(config: &Config) -> anyhow::Result<Backend> {
        let s = &config.stack;
        let engine: Arc<dyn Engine> = match s.engine {
            EngineKind::Compose => {
                let refused = |e| Refused::because("preflight", e);
                let mut compose = Compose::connect(compose_file(config).await?)
                    .await
                    .map_err(refused)?
                    .switching(&s.switches, s.wait_timeout)
                    .await
                    .map_err(refused)?;
                if let Some(setup) = blue_green(s)? {
                    compose = compose.blue_green(setup).await.map_err(refused)?;
                }
                Arc::new(compose)
            }
            EngineKind::Swarm => {
                let env = match &s.env_file {
                    Some(f) => read_env_file(f, "the env file")?,
                    None => Default::default(),
                };
                Arc::new(
                    Swarm::connect(
                        &s.project,
                        &s.compose_file,
                        env,
                        &s.services,
                        s.wait_timeout,
                    )
                    .await
                    .map_err(|e| Refused::because("preflight", e))?,
                )
            }
        };
        let runtime = Runtime::new(Cache::from_env(), Compiler::isolated()?)
            .map_err(|e| Refused::because("cannot start the check runtime", e))?;
        Ok(Backend { engine, runtime })
    }
}

/// The blue-green switch of the stack's `switch = "blue-green"` services,
/// if it has any.
fn blue_green(s: &crate::config::Stack) -> anyhow::Result<Option<BlueGreen>> {
    let services: Vec<&String> = s
        .switches
        .iter()
        .filter(|(_, w)| **w == Switch::BlueGreen)
        .map(|(service, _)| service)
        .collect();
    if services.is_empty() {
        return Ok(None);
    }
    let Some(t) = &s.traffic else {
        return Err(Refused::new(
            "switch = \"blue-green\" needs a [traffic] section (run `pitwall validate`)",
        )
        .into());
    };
    let mut ports = BTreeMap::new();
    for service in services {
        let port = s.ports.get(service).ok_or_else(|| {
            Refused::new(format!(
                "`{service}` is blue-green but has no `port` (run `pitwall validate`)"
            ))
        })?;
        ports.insert(service.clone(), *port);
    }
    Ok(Some(BlueGreen {
        proxy: t.proxy.clone(),
        admin: Haproxy::at(&t.admin_socket),
        ports,
        preview_port: t.preview_port,
        state_dir: s.state_dir.clone(),
        keep_previous: t.keep_previous,
        seen: Default::default(),
    }))
}
