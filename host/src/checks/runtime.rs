//! One wasmtime engine for the process, plugins loaded (through the compile
//! cache) and pre-instantiated once, and a fresh, capped store per call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use tokio_util::task::AbortOnDropHandle;
use wasmtime::component::{HasSelf, Linker, ResourceTableError};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::I32Exit;

use super::bindings::{Check, CheckPre, Contract, types, v1 as bindings_v1};
use super::cache::{Cache, CacheStatus};
use super::compile::{self, CompileError, Compiler};
use super::grants::{Capability, Grants};
use super::host::{HostState, Io};
use super::limits::{Limits, MAX_HANDLES, mib, mib_text};
use super::plugin::{self, PluginError, Source};
use super::stderr;
use super::v1;
use super::verdict::{Evidence, Lines, Outcome, Verdict, check_label, excerpt, visible};

/// How often the epoch advances while checks run: the granularity of
/// deadlines, and the slice a computing check runs before the other checks
/// on its thread get a turn (see `Runtime::call`).
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// How often an idle ticker looks whether its engine is gone.
const IDLE_TICKER_WAKE: Duration = Duration::from_millis(200);

/// Bytes kept of a description or a configuration rejection: the check
/// writes them, the operator reads them.
const MAX_CHECK_TEXT: usize = 8 * 1024;
/// Bytes kept of why a check died (a panic message, a host error).
const MAX_DEATH_TEXT: usize = 1024;

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Cache,
    compiler: Compiler,
    ticker: Ticker,
    threads: CheckThreads,
}

/// A loaded, linked, pre-instantiated check.
#[derive(Clone)]
pub struct Plugin {
    /// How it was named: `builtin:NAME`, the path, or the `oci://`
    /// reference with its digest.
    pub source: String,
    pub sha256: String,
    pub size: usize,
    pub cache: CacheStatus,
    /// The contract it was built against.
    pub contract: Contract,
    pre: Pre,
}

/// A check ready to instantiate, in the bindings of its contract.
#[derive(Clone)]
enum Pre {
    V0_2(CheckPre<HostState>),
    V0_1(bindings_v1::CheckPre<HostState>),
}

/// An instance of a check.
enum Instance {
    V0_2(Check),
    V0_1(bindings_v1::Check),
}

impl Pre {
    async fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::V0_2(pre) => Instance::V0_2(pre.instantiate_async(store).await?),
            Pre::V0_1(pre) => Instance::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

/// Everything one `run` needs besides the plugin.
pub struct Run<'a> {
    pub context: types::Context,
    pub config: &'a str,
    pub grants: &'a Grants,
    pub limits: Limits,
    pub io: Io,
}

impl Runtime {
    pub fn new(cache: Cache, compiler: Compiler) -> anyhow::Result<Runtime> {
        let engine = Engine::new(&compile::engine_config())?;
        let ticker = Ticker::start(&engine).context("cannot start the check deadline timer")?;
        let threads = CheckThreads::start().context("cannot start the checks' threads")?;
        let mut linker = Linker::new(&engine);
        // WASI is linked because guest standard libraries import it; the
        // context behind it (see `HostState::new`) grants nothing.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Both contracts: their interfaces are named by version, so a 0.1.0
        // check links against the 0.1.0 names and a 0.2.0 one against its own.
        Check::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        bindings_v1::Check::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        // `http.send` of both, lifted so its sizes are checked before any copy.
        super::host::lift::add_to_linker(&mut linker)?;
        Ok(Runtime {
            engine,
            linker,
            cache,
            compiler,
            ticker,
            threads,
        })
    }

    /// Calls whose task is still alive: a cancelled call counts until its
    /// wasm has stopped.
    #[doc(hidden)]
    pub fn calls_in_flight(&self) -> usize {
        self.ticker.in_flight()
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn load(&self, source: &Source) -> Result<Plugin, PluginError> {
        let name = source.to_string();
        let bytes = source.bytes()?;
        plugin::precheck(&name, &bytes)?;
        let sha256 = plugin::sha256(&bytes);
        let (component, cache) = self
            .cache
            .load(&self.engine, &self.compiler, &bytes, &sha256)
            .map_err(|e| match e {
                CompileError::Invalid(reason) => PluginError::Invalid {
                    source_name: name.clone(),
                    reason,
                },
                reason => PluginError::Compile {
                    source_name: name.clone(),
                    reason,
                },
            })?;
        let ty = component.component_type();
        let contract = plugin::check_contract(
            &name,
            ty.exports(&self.engine).map(|(n, _)| n),
            ty.imports(&self.engine).map(|(n, _)| n),
        )?;
        exports_typecheck(&self.engine, &component, contract).map_err(|(function, reason)| {
            PluginError::Shape {
                source_name: name.clone(),
                contract: contract.package(),
                function,
                reason,
            }
        })?;
        let link_error = |e: wasmtime::Error| PluginError::Link {
            source_name: name.clone(),
            reason: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(link_error)?;
        let pre = match contract {
            Contract::V0_2 => Pre::V0_2(CheckPre::new(pre).map_err(link_error)?),
            Contract::V0_1 => Pre::V0_1(bindings_v1::CheckPre::new(pre).map_err(link_error)?),
        };
        Ok(Plugin {
            source: name.clone(),
            sha256,
            size: bytes.len(),
            cache,
            contract,
            pre,
        })
    }

    /// Loads the check `spec` names (`builtin:NAME`, `oci://…` or a path),
    /// refuses it unless its bytes have the SHA-256 `pin` (when given), and
    /// has it validate `config`. The error is one line for the operator.
    pub async fn prepare(
        &self,
        spec: &str,
        pin: Option<&str>,
        config: &str,
        limits: Limits,
    ) -> Result<Plugin, String> {
        let plugin = self.load_spec(spec, pin).await?;
        self.validate(&plugin, config, limits).await?;
        Ok(plugin)
    }

    /// Loads one check (see `load_all`).
    pub async fn load_spec(&self, spec: &str, pin: Option<&str>) -> Result<Plugin, String> {
        self.load_all(&[(spec, pin)]).await.remove(0)
    }

    /// Loads every check `specs` names (each with its optional SHA-256
    /// pin): sources resolved (an `oci://` pull), then the distinct ones
    /// compiled at once, each in its own process — a Python-sized check
    /// pays its compile here, beside the others, not in the middle of a
    /// phase. Errors are one line for the operator.
    pub async fn load_all(&self, specs: &[(&str, Option<&str>)]) -> Vec<Result<Plugin, String>> {
        let mut distinct: Vec<&str> = specs.iter().map(|(spec, _)| *spec).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut sources = Vec::new();
        for &spec in &distinct {
            let source = Source::resolve(spec, &self.cache)
                .await
                .map_err(|e| e.to_string());
            sources.push((spec, source));
        }
        // As many compilers at once as there are cores: each may take the
        // whole compile-memory bound.
        let width = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut loaded: Vec<(&str, Result<Plugin, String>)> = Vec::new();
        for batch in sources.chunks(width) {
            std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|(spec, source)| {
                        let load = move || match source {
                            Ok(source) => self.load(source).map_err(|e| e.to_string()),
                            Err(e) => Err(e.clone()),
                        };
                        (*spec, scope.spawn(load))
                    })
                    .collect();
                for (spec, h) in handles {
                    let result = h
                        .join()
                        .unwrap_or_else(|_| Err(format!("loading {spec} panicked")));
                    loaded.push((spec, result));
                }
            });
        }
        specs
            .iter()
            .map(|(spec, pin)| {
                let plugin = loaded
                    .iter()
                    .find(|(s, _)| s == spec)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| Err(format!("{spec} was not loaded (a pitwall bug)")))?;
                match pin {
                    Some(expected) if *expected != plugin.sha256 => Err(PluginError::Pin {
                        source_name: plugin.source,
                        expected: expected.to_string(),
                        actual: plugin.sha256,
                    }
                    .to_string()),
                    _ => Ok(plugin),
                }
            })
            .collect()
    }

    /// What `grants` fail to give that the check says it needs (see
    /// `Grants::ungranted`). A check whose `describe` fails declares
    /// nothing, so nothing is missing; its runs report the failure.
    pub async fn ungranted(&self, plugin: &Plugin, grants: &Grants) -> Vec<Capability> {
        match self.describe(plugin).await {
            Ok(d) => grants.ungranted(&d.capabilities),
            Err(_) => Vec::new(),
        }
    }

    /// The check's self-description. It is given no capabilities.
    pub async fn describe(&self, plugin: &Plugin) -> Result<types::Descriptor, String> {
        let (result, _) = self
            .call(
                plugin,
                Io::replay(Vec::new()),
                Grants::default(),
                Limits::default(),
                Describe,
            )
            .await;
        let text = |s: String| excerpt(&visible(s, Lines::Kept), MAX_CHECK_TEXT);
        result.map(|d| types::Descriptor {
            name: text(d.name),
            version: text(d.version),
            description: text(d.description),
            config_help: text(d.config_help),
            capabilities: d.capabilities.into_iter().take(16).map(text).collect(),
        })
    }

    /// Asks the check whether it accepts `config`; the error says why not.
    pub async fn validate(
        &self,
        plugin: &Plugin,
        config: &str,
        limits: Limits,
    ) -> Result<(), String> {
        let call = ValidateConfig(config.to_string());
        let (result, _) = self
            .call(
                plugin,
                Io::replay(Vec::new()),
                Grants::default(),
                limits,
                call,
            )
            .await;
        result?.map_err(|reason| {
            let reason = excerpt(&visible(reason, Lines::Kept), MAX_CHECK_TEXT);
            format!("{} rejected its configuration: {reason}", plugin.source)
        })
    }

    /// One run. Whatever the check does, the answer is a verdict.
    pub async fn run(&self, plugin: &Plugin, run: Run<'_>) -> Verdict {
        let start = Instant::now();
        let limits = run.limits;
        let call = RunCheck {
            context: run.context,
            config: run.config.to_string(),
        };
        let (result, state) = self
            .call(plugin, run.io, run.grants.clone(), limits, call)
            .await;
        let mut verdict = match result.and_then(|v| accept(v, &limits)) {
            Ok(v) => v,
            Err(e) => Verdict::error(e),
        };
        let journal = state.journal;
        verdict.evidence.extend(journal.evidence);
        if journal.dropped_evidence > 0 {
            verdict.evidence.push(Evidence::new(
                "host.note",
                format!("{} more host calls not shown", journal.dropped_evidence),
            ));
        }
        verdict.logs = journal.logs;
        verdict.no_response = journal.no_response;
        if journal.dropped_logs > 0 {
            verdict.logs.push(format!(
                "host: {} more log lines dropped (cap {})",
                journal.dropped_logs, limits.max_log_lines
            ));
        }
        verdict.duration_ms = start.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        verdict
    }

    /// Instantiates `plugin` in a fresh store (with `io`, `grants` and
    /// `limits`) and calls `export`, under the memory cap and the deadline.
    /// Returns the store's data too, for what the host recorded during the
    /// call.
    ///
    /// The call runs as a task of the checks' threads, one per core, so the
    /// checks a phase awaits together use every core; wasm yields there at
    /// every epoch tick, so a probe starts, and sends its request, within a
    /// few ticks of a log scan beside it instead of waiting for it; with a
    /// thread per call, the system's fair share among twenty threads made
    /// it wait for the scans (BENCHMARKS.md). The host's own waits on
    /// sockets are served by the caller's runtime, which runs no wasm (see
    /// `HostState::net`).
    async fn call<E: Export>(
        &self,
        plugin: &Plugin,
        io: Io,
        grants: Grants,
        limits: Limits,
        export: E,
    ) -> (Result<E::Output, String>, HostState) {
        let timeout = limits.timeout;
        let deadline = Instant::now() + timeout;
        let (engine, pre) = (self.engine.clone(), plugin.pre.clone());
        let (net, running) = (tokio::runtime::Handle::current(), self.ticker.running());
        // Everything from the store on is done in the call's task: the
        // caller may be setting up twenty checks in turn.
        let work = async move {
            let _running = running;
            let state = HostState::new(io, grants, limits, deadline, net);
            let mut store = Store::new(&engine, state);
            store.limiter(|s| &mut s.limiter);
            store.set_max_component_handles(MAX_HANDLES);
            // Every tick a running check yields (so a caller that gave up is
            // noticed) and is stopped once past its deadline.
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |_| {
                Ok(if Instant::now() >= deadline {
                    UpdateDeadline::Interrupt
                } else {
                    UpdateDeadline::Yield(1)
                })
            });
            // Epochs only tick inside wasm; the outer timeout also bounds
            // time spent in host calls. Both keep the one deadline, set
            // before the call waited for a thread.
            let outcome = tokio::time::timeout_at(deadline.into(), async {
                let check = pre.instantiate(&mut store).await?;
                export.call(&check, &mut store).await
            })
            .await;
            (outcome, store.into_data())
        };
        // Dropped with this future (a phase stopping at its first failure),
        // the task is cancelled: the call ends at its next yield.
        let task = AbortOnDropHandle::new(self.threads.handle.spawn(work));
        let (outcome, state) = match task.await {
            Ok(done) => done,
            // A panic in the host's half of a call is a pitwall bug: let it
            // surface as one, where it would have without the task.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only dropping `task` cancels it: the threads live as long as
            // `self`, which this call borrows.
            Err(e) => unreachable!("a check's task ended without finishing: {e}"),
        };
        let result = match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(explain(&e, &state, E::NAME, timeout)),
            Err(_) => Err(timed_out(E::NAME, timeout)),
        };
        (result, state)
    }
}

/// Checks that the plugin interface's functions have the contract's types,
/// at load: wasmtime checks them only at the first instantiation, where a
/// mismatch would read "expected `record` found `string`" as the first
/// run's failure. The error names the function and the mismatch.
fn exports_typecheck(
    engine: &Engine,
    component: &wasmtime::component::Component,
    contract: Contract,
) -> Result<(), (String, String)> {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    let cx = ty.instance_type();
    let export = contract.plugin_export();
    let Some(ComponentItem::ComponentInstance(plugin)) =
        ty.get_export(engine, export).map(|e| e.ty)
    else {
        return Err((export.into(), "not an interface".into()));
    };
    let func = |name: &str| match plugin.get_export(engine, name).map(|e| e.ty) {
        Some(ComponentItem::ComponentFunc(f)) => Ok(f),
        Some(_) => Err((name.to_string(), "not a function".to_string())),
        None => Err((name.to_string(), "missing".to_string())),
    };
    fn named(name: &'static str) -> impl Fn(wasmtime::Error) -> (String, String) {
        move |e| (name.to_string(), format!("{e:#}"))
    }
    match contract {
        Contract::V0_2 => {
            func("describe")?
                .typecheck::<(), (types::Descriptor,)>(&cx)
                .map_err(named("describe"))?;
            func("validate-config")?
                .typecheck::<(&str,), (Result<(), String>,)>(&cx)
                .map_err(named("validate-config"))?;
            func("run")?
                .typecheck::<(&types::Context, &str), (types::Verdict,)>(&cx)
                .map_err(named("run"))?;
        }
        Contract::V0_1 => {
            use bindings_v1::types as t;
            func("describe")?
                .typecheck::<(), (t::Descriptor,)>(&cx)
                .map_err(named("describe"))?;
            func("validate-config")?
                .typecheck::<(&str,), (Result<(), String>,)>(&cx)
                .map_err(named("validate-config"))?;
            func("run")?
                .typecheck::<(&t::Context, &str), (t::Verdict,)>(&cx)
                .map_err(named("run"))?;
        }
    }
    Ok(())
}

/// An export of the check the host calls, in either contract's bindings.
trait Export: Send + 'static {
    /// How the operator reads it in an error: the WIT name.
    const NAME: &'static str;
    type Output: Send + 'static;
    fn call(
        self,
        check: &Instance,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send;
}

struct Describe;

impl Export for Describe {
    const NAME: &'static str = "describe";
    type Output = types::Descriptor;
    async fn call(
        self,
        check: &Instance,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<types::Descriptor> {
        match check {
            Instance::V0_2(c) => c.pitwall_check_plugin().call_describe(store).await,
            Instance::V0_1(c) => c
                .pitwall_check_plugin()
                .call_describe(store)
                .await
                .map(v1::descriptor),
        }
    }
}

struct ValidateConfig(String);

impl Export for ValidateConfig {
    const NAME: &'static str = "validate-config";
    type Output = Result<(), String>;
    async fn call(
        self,
        check: &Instance,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<(), String>> {
        match check {
            Instance::V0_2(c) => {
                c.pitwall_check_plugin()
                    .call_validate_config(store, &self.0)
                    .await
            }
            Instance::V0_1(c) => {
                c.pitwall_check_plugin()
                    .call_validate_config(store, &self.0)
                    .await
            }
        }
    }
}

struct RunCheck {
    context: types::Context,
    config: String,
}

impl Export for RunCheck {
    const NAME: &'static str = "run";
    type Output = types::Verdict;
    async fn call(
        self,
        check: &Instance,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<types::Verdict> {
        match check {
            Instance::V0_2(c) => {
                c.pitwall_check_plugin()
                    .call_run(store, &self.context, &self.config)
                    .await
            }
            Instance::V0_1(c) => c
                .pitwall_check_plugin()
                .call_run(store, &v1::context(&self.context), &self.config)
                .await
                .map(v1::verdict),
        }
    }
}

fn timed_out(what: &str, timeout: Duration) -> String {
    format!(
        "{what} timed out after {}",
        humantime::format_duration(timeout)
    )
}

/// Turns a trap or host error into one line for the operator, cause first.
/// The wasm backtrace wasmtime attaches is for the check's author, who gets
/// it with `PITWALL_LOG=debug`.
fn explain(e: &wasmtime::Error, state: &HostState, what: &str, timeout: Duration) -> String {
    let cap = mib_text(state.limiter.max_bytes);
    if let Some(wanted) = state.limiter.refused {
        return format!(
            "{what} hit its {cap} memory cap (it asked for {:.1} MiB in all): raise the check's \
             `memory_mb` (`--memory` for `check run`) if it needs more, or find what it hoards",
            mib(wanted)
        );
    }
    tracing::debug!("{what} failed: {e:?}");
    // The host's table fills first (it also holds the context's streams);
    // wasmtime's store-wide count, of handles made inside the component,
    // says so only in its text.
    if matches!(e.downcast_ref(), Some(ResourceTableError::Full))
        || e.root_cause().to_string().contains("handle limit exceeded")
    {
        return format!(
            "{what} held {MAX_HANDLES} handles at once (WASI pollables or streams it never \
             dropped): that is the cap; the check must drop each handle once done with it"
        );
    }
    // wasi:cli/exit carries only ok or error, so the guest's own code is
    // not known here.
    if e.downcast_ref::<I32Exit>().is_some() {
        return format!("{what} called exit instead of returning a verdict");
    }
    let shown = |text: String| excerpt(&visible(text, Lines::Escaped), MAX_DEATH_TEXT);
    let death = stderr::death(&state.stderr.contents()).map(shown);
    // A growth that failed for another reason than the cap (a memory's own
    // maximum): a Rust guest aborts, printing at most an allocation error.
    if let Some(failed) = &state.limiter.failed {
        let said = death.map(|d| format!(" ({d})")).unwrap_or_default();
        return format!(
            "{what} ran out of memory: its memory could not grow ({failed}){said}; the check's \
             memory cap is {cap}"
        );
    }
    match (e.downcast_ref::<Trap>(), death) {
        (_, Some(death)) if death.starts_with(stderr::OUT_OF_MEMORY) => {
            format!("{what} {death} (its memory cap is {cap})")
        }
        (Some(Trap::Interrupt), _) => timed_out(what, timeout),
        (Some(Trap::StackOverflow), _) => {
            format!("{what} overflowed the wasm stack (runaway recursion?)")
        }
        (_, Some(death)) => format!("{what} {death}"),
        // Rust guests keep their stack in linear memory: running off it
        // shows up as an out-of-bounds access, not a wasm stack overflow.
        (Some(Trap::MemoryOutOfBounds), None) => format!(
            "{what} trapped: out-of-bounds memory access (a stack overflow in the guest, or a bug)"
        ),
        (Some(trap), None) => {
            let trap = trap.to_string();
            format!("{what} trapped: {}", trap.trim_start_matches("wasm trap: "))
        }
        (None, None) => format!("{what} failed: {}", shown(e.root_cause().to_string())),
    }
}

/// Converts the plugin's verdict, enforcing the output caps: a check that
/// returns more than it may gets an error verdict, not a truncated pass.
fn accept(v: types::Verdict, limits: &Limits) -> Result<Verdict, String> {
    if v.summary.len() > limits.max_summary_bytes {
        return Err(format!(
            "the check returned a {} byte summary; the cap is {} bytes",
            v.summary.len(),
            limits.max_summary_bytes
        ));
    }
    if v.evidence.len() > limits.max_evidence_items {
        return Err(format!(
            "the check returned {} evidence items; the cap is {}",
            v.evidence.len(),
            limits.max_evidence_items
        ));
    }
    if let Some(e) = v
        .evidence
        .iter()
        .find(|e| e.label.len() + e.value.len() > limits.max_evidence_value_bytes)
    {
        return Err(format!(
            "the check returned a {} byte evidence item `{}`; the cap is {} bytes",
            e.label.len() + e.value.len(),
            excerpt(&visible(e.label.clone(), Lines::Escaped), 64),
            limits.max_evidence_value_bytes
        ));
    }
    Ok(Verdict {
        outcome: match v.outcome {
            types::Outcome::Pass => Outcome::Pass,
            types::Outcome::Fail => Outcome::Fail,
            types::Outcome::Inconclusive => Outcome::Inconclusive,
        },
        summary: visible(v.summary, Lines::Escaped),
        evidence: v
            .evidence
            .into_iter()
            .map(|e| Evidence::new(check_label(e.label), visible(e.value, Lines::Kept)))
            .collect(),
        logs: Vec::new(),
        duration_ms: 0,
        no_response: false,
    })
}

/// The threads checks run on: as many as cores, each taking its checks in
/// turn (a check yields at every epoch tick).
struct CheckThreads {
    handle: tokio::runtime::Handle,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl CheckThreads {
    fn start() -> std::io::Result<CheckThreads> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores)
            .thread_name("pitwall-check")
            // A poll of a computing check lasts a tick: look at the timers
            // (a deadline while a check waits on the host) every other poll,
            // not every 61st.
            .event_interval(2)
            .enable_all()
            .build()?;
        Ok(CheckThreads {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for CheckThreads {
    /// Without waiting: a `Runtime` may be dropped inside async code, and
    /// the checks still running then have no one left to answer.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Advances the engine's epoch while a call is running, for as long as the
/// engine lives; idle, it sleeps instead of waking a core every tick.
struct Ticker {
    running: Arc<AtomicUsize>,
    thread: std::thread::Thread,
}

/// A call in flight, as the ticker counts them.
struct Running {
    count: Arc<AtomicUsize>,
}

impl Ticker {
    fn start(engine: &Engine) -> std::io::Result<Ticker> {
        let weak = engine.weak();
        let running = Arc::new(AtomicUsize::new(0));
        let count = running.clone();
        let handle = std::thread::Builder::new()
            .name("pitwall-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    if count.load(Ordering::Acquire) == 0 {
                        drop(engine);
                        // Woken by the next call (see `running`); a wake
                        // before this park makes it return at once.
                        std::thread::park_timeout(IDLE_TICKER_WAKE);
                        continue;
                    }
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Ticker {
            running,
            thread: handle.thread().clone(),
        })
    }

    /// Calls in flight.
    fn in_flight(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Counts a call until the guard is dropped.
    fn running(&self) -> Running {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Running {
            count: self.running.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}
