//! Compiling a component to native code. Compilation happens before any of a
//! check's own caps apply, and a hostile component can keep cranelift busy
//! for minutes and gigabytes; so the binary compiles in a child process of
//! its own with an address-space limit and a wall-clock bound, killed when
//! either is hit, and the error says which.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::verdict::{Lines, excerpt, visible};

/// The hidden first argument that turns the pitwall binary into a compiler
/// child (see `serve_child`).
pub const CHILD_ARG: &str = "__compile-check";

/// The engine settings, shared by the parent and its compiler children: code
/// compiled in one engine only loads in an engine configured the same.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config
}

/// Compiled artifacts larger than this are refused (compiled Python checks
/// are tens of MB).
const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// How long and how much memory compiling one component may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub time: Duration,
    pub memory_bytes: u64,
}

impl Bounds {
    /// 60 s and 2 GiB fit an 18 MB Python check compiled on a loaded
    /// machine several times over; `PITWALL_COMPILE_TIMEOUT` (e.g. `2m`) and
    /// `PITWALL_COMPILE_MEMORY_MIB` change them.
    pub fn from_env() -> Result<Bounds, String> {
        let time = match std::env::var("PITWALL_COMPILE_TIMEOUT") {
            Ok(v) => humantime::parse_duration(&v)
                .ok()
                .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
                .ok_or_else(|| {
                    format!("PITWALL_COMPILE_TIMEOUT={v:?} is not a duration from 1s to 1h")
                })?,
            Err(_) => Duration::from_secs(60),
        };
        let memory_mib: u64 = match std::env::var("PITWALL_COMPILE_MEMORY_MIB") {
            Ok(v) => v
                .parse()
                .ok()
                .filter(|m| (256..=65536).contains(m))
                .ok_or_else(|| {
                    format!("PITWALL_COMPILE_MEMORY_MIB={v:?} is not a number from 256 to 65536")
                })?,
            Err(_) => 2048,
        };
        Ok(Bounds {
            time,
            memory_bytes: memory_mib << 20,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The component itself is wrong; the text is the cause.
    #[error("{0}")]
    Invalid(String),
    #[error(
        "compiling took longer than the {} compile-time bound (set PITWALL_COMPILE_TIMEOUT to allow more)",
        humantime::format_duration(*.0)
    )]
    Time(Duration),
    #[error(
        "compiling needed more than the {mib} MiB compile-memory bound (set PITWALL_COMPILE_MEMORY_MIB to allow more){}",
        signal.map(|s| format!("; the compiler stopped with signal {s}")).unwrap_or_default()
    )]
    Memory { mib: u64, signal: Option<i32> },
    /// The compiler process could not be run or read.
    #[error("{0}")]
    Process(String),
}

/// Where compilation runs.
#[derive(Debug, Clone)]
pub enum Compiler {
    /// In this process, unbounded: for tests and benchmarks of components
    /// the caller trusts.
    InProcess,
    /// In a child process of `exe` (the pitwall binary), under `bounds`.
    Child { exe: PathBuf, bounds: Bounds },
}

impl Compiler {
    /// The pitwall binary compiling in children of itself, under the
    /// bounds the environment sets.
    pub fn isolated() -> anyhow::Result<Compiler> {
        let exe = std::env::current_exe().map_err(|e| {
            anyhow::anyhow!("cannot find the pitwall binary to compile checks: {e}")
        })?;
        let bounds = Bounds::from_env().map_err(anyhow::Error::msg)?;
        Ok(Compiler::Child { exe, bounds })
    }

    /// The component's native code, serialised for `Component::deserialize`
    /// by an engine configured like `engine`.
    pub fn compile(&self, engine: &Engine, component: &[u8]) -> Result<Vec<u8>, CompileError> {
        match self {
            Compiler::InProcess => engine.precompile_component(component).map_err(|e| {
                CompileError::Invalid(excerpt(
                    &visible(e.root_cause().to_string(), Lines::Escaped),
                    2048,
                ))
            }),
            Compiler::Child { exe, bounds } => in_child(exe, *bounds, component),
        }
    }
}

fn in_child(exe: &PathBuf, bounds: Bounds, component: &[u8]) -> Result<Vec<u8>, CompileError> {
    let mut command = Command::new(exe);
    command
        .arg(CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let limit = |n: u64| libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    let memory = limit(bounds.memory_bytes);
    // CPU time backs the wall-clock bound if this process dies and cannot
    // kill the child; compilation is parallel, hence twice the bound.
    let cpu = limit(2 * bounds.time.as_secs() + 5);
    // An abort under the memory bound must not leave a core dump of it.
    let core = limit(0);
    // SAFETY: the closure runs between fork and exec, where only
    // async-signal-safe calls are allowed; setrlimit and prctl are such
    // calls (plain system calls on values copied in), and nothing else
    // happens there: no allocation, no locks.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            let set = |resource, value: &libc::rlimit| {
                if libc::setrlimit(resource, value) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_AS, &memory)?;
            set(libc::RLIMIT_CPU, &cpu)?;
            set(libc::RLIMIT_CORE, &core)?;
            // If pitwall dies (SIGKILL), the compiler dies with it.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| {
        CompileError::Process(format!(
            "cannot start the compiler process {}: {e}",
            exe.display()
        ))
    })?;
    // Pipes are drained on their own threads so a child blocked on a full
    // pipe cannot stall the wait below; stderr is drained to the end and
    // its tail kept, stdout read up to the cap (past it, the child is
    // killed).
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CompileError::Process(
            "the compiler process started without its pipes".into(),
        ));
    };
    let input = component.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let overflowed = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let overflowed = overflowed.clone();
        move || {
            let mut out = Vec::new();
            let read = stdout.take(MAX_ARTIFACT_BYTES + 1).read_to_end(&mut out);
            overflowed.store(out.len() as u64 > MAX_ARTIFACT_BYTES, Ordering::Relaxed);
            read.map(|_| out)
        }
    });
    let errors = std::thread::spawn(move || {
        let mut tail = Vec::new();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            tail.drain(..tail.len().saturating_sub(16 * 1024));
        }
        String::from_utf8_lossy(&tail).into_owned()
    });

    let deadline = Instant::now() + bounds.time;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            // The reader stopped at the cap: the output is already too big.
            Ok(None) if overflowed.load(Ordering::Relaxed) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CompileError::Process(format!(
                    "the compiled code is larger than {} MiB",
                    MAX_ARTIFACT_BYTES >> 20
                )));
            }
            Ok(None) if Instant::now() >= deadline => {
                // Killing closes the pipes, which ends the threads.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                return Err(CompileError::Process(format!(
                    "cannot wait for the compiler process: {e}"
                )));
            }
        }
    };
    let _ = writer.join();
    let output = reader
        .join()
        .map_err(|_| CompileError::Process("reading the compiled code failed".into()))?;
    let errors = errors.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(CompileError::Time(bounds.time));
    };
    if status.success() {
        return match output {
            Ok(out) if out.len() as u64 > MAX_ARTIFACT_BYTES => {
                Err(CompileError::Process(format!(
                    "the compiled code is larger than {} MiB",
                    MAX_ARTIFACT_BYTES >> 20
                )))
            }
            Ok(out) => Ok(out),
            Err(e) => Err(CompileError::Process(format!(
                "cannot read the compiled code: {e}"
            ))),
        };
    }
    Err(failure(status, errors.trim(), bounds))
}

/// Exit code of a compiler child that panicked (the child's panic hook).
const PANIC_EXIT: i32 = 70;

/// Why the child failed, for the operator.
fn failure(status: ExitStatus, errors: &str, bounds: Bounds) -> CompileError {
    use std::os::unix::process::ExitStatusExt;
    // Allocation refused under RLIMIT_AS: Rust's "memory allocation of N
    // bytes failed" (then abort), ENOMEM from a mapping, or EAGAIN from a
    // thread whose stack cannot be mapped.
    let memory_signs = [
        "memory allocation of",
        "Cannot allocate memory",
        "Resource temporarily unavailable",
    ];
    // Under an address-space limit, a failed mapping can also surface as a
    // crash (a stack or guard page that could not be mapped); the compiler
    // itself is trusted code, so such a death is taken as the bound.
    let crashed = matches!(
        status.signal(),
        Some(libc::SIGSEGV | libc::SIGBUS | libc::SIGABRT)
    );
    if crashed || memory_signs.iter().any(|s| errors.contains(s)) {
        return CompileError::Memory {
            mib: bounds.memory_bytes >> 20,
            signal: status.signal(),
        };
    }
    // The child prints the cause on its last line.
    let cause = excerpt(
        &visible(
            errors.lines().last().unwrap_or_default().to_string(),
            Lines::Escaped,
        ),
        2048,
    );
    match (status.signal(), status.code()) {
        (Some(signal), _) => CompileError::Process(format!(
            "the compiler process died of signal {signal}{}",
            if cause.is_empty() {
                String::new()
            } else {
                format!(": {cause}")
            }
        )),
        (None, Some(PANIC_EXIT)) => CompileError::Process(format!("the compiler crashed: {cause}")),
        _ if cause.is_empty() => {
            CompileError::Process("the compiler failed without a reason".into())
        }
        _ => CompileError::Invalid(cause),
    }
}

/// The child's side: read a component on stdin, write its native code on
/// stdout. Errors go to stderr, cause only, on the last line.
pub fn serve_child() -> std::process::ExitCode {
    // A panic is one line and its own exit code, so the parent does not
    // mistake it for the component's fault.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("\ncompiler panicked: {info}");
        std::process::exit(PANIC_EXIT);
    }));
    let mut bytes = Vec::new();
    let read = std::io::stdin()
        .take(super::plugin::MAX_COMPONENT_BYTES)
        .read_to_end(&mut bytes);
    let result = read
        .map_err(|e| format!("cannot read the component: {e}"))
        .and_then(|_| Engine::new(&engine_config()).map_err(|e| format!("{e:#}")))
        .and_then(|engine| {
            engine
                .precompile_component(&bytes)
                .map_err(|e| format!("{:#}", e.root_cause()))
        })
        .and_then(|compiled| {
            let mut out = std::io::stdout().lock();
            out.write_all(&compiled)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write the compiled code: {e}"))
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
