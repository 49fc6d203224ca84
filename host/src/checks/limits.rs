//! Per-run caps and the memory limiter that enforces the memory cap.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory a run may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget of one call (describe, validate-config or run),
    /// including time spent in host calls.
    pub timeout: Duration,
    pub max_summary_bytes: usize,
    pub max_evidence_items: usize,
    pub max_evidence_value_bytes: usize,
    pub max_log_lines: usize,
    pub max_log_line_bytes: usize,
    /// Response bodies handed to the plugin are cut at this size.
    pub max_http_body_bytes: usize,
    /// Log lines one `stack.logs` call may return.
    pub max_log_read_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            max_summary_bytes: 1024,
            max_evidence_items: 64,
            max_evidence_value_bytes: 4096,
            max_log_lines: 100,
            max_log_line_bytes: 1024,
            max_http_body_bytes: MAX_HTTP_BODY_BYTES,
            max_log_read_lines: 100_000,
        }
    }
}

/// Bytes of an HTTP body a check may send, or receive (a longer response
/// is cut and marked truncated); tapes keep bodies to the same cap.
pub const MAX_HTTP_BODY_BYTES: usize = 1 << 20;

/// Handles a run may hold at once (WASI pollables and streams, log
/// streams). They live in the host's memory, outside the memory cap:
/// wasmtime's default of 100,000 let one check that never drops its
/// handles hold about 24 MB of it (measured). A check needs a few dozen.
pub const MAX_HANDLES: usize = 10_000;

/// Bounds an operator may set: a zero budget would let a check pass
/// unexamined, and huge ones overflow deadlines and wrap byte counts.
const TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(3600);
const MEMORY_MIB_RANGE: std::ops::RangeInclusive<usize> = 1..=4096;

impl Limits {
    /// The default caps with an operator's `timeout` and memory cap (MiB),
    /// refused outside 1 ms..1 h and 1..4096 MiB.
    pub fn with(timeout: Duration, memory_mib: usize) -> Result<Limits, String> {
        if !TIMEOUT_RANGE.contains(&timeout) {
            return Err(format!(
                "a check timeout of {} is out of range: give 1ms to 1h",
                humantime::format_duration(timeout)
            ));
        }
        if !MEMORY_MIB_RANGE.contains(&memory_mib) {
            return Err(format!(
                "a check memory cap of {memory_mib} MiB is out of range: give 1 to 4096 MiB"
            ));
        }
        Ok(Limits {
            timeout,
            memory_bytes: memory_mib << 20,
            ..Limits::default()
        })
    }
}

/// Caps the linear memory of a run — all its memories together, since a
/// component may declare many — and the number of memories, tables and
/// instances; remembers a refused growth, so the verdict can say "memory
/// cap" instead of the guest's own abort message.
pub struct MemoryLimiter {
    pub max_bytes: usize,
    pub refused: Option<usize>,
    /// Why a growth failed that the cap did not refuse (past a memory's
    /// own maximum, or 4 GiB): the guest sees `memory.grow` fail and a
    /// Rust guest aborts with a bare `unreachable`.
    pub failed: Option<String>,
    /// Bytes of all the run's memories.
    used: usize,
}

/// Per run: enough for any real component (a Rust check has one or two
/// memories, a Python one a handful), far below what would sidestep the cap.
const MAX_MEMORIES: usize = 16;
const MAX_TABLES: usize = 64;
const MAX_INSTANCES: usize = 64;

impl MemoryLimiter {
    pub fn new(max_bytes: usize) -> MemoryLimiter {
        MemoryLimiter {
            max_bytes,
            refused: None,
            failed: None,
            used: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if total > self.max_bytes {
            self.refused = Some(total);
            // Trapping (rather than returning false) stops a guest that would
            // otherwise keep retrying smaller allocations.
            wasmtime::bail!(
                "the check hit its {} memory cap (it asked for {:.1} MiB)",
                mib_text(self.max_bytes),
                mib(total)
            );
        }
        self.used = total;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.failed.get_or_insert_with(|| format!("{error:#}"));
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}

pub fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// `64 MiB`, or `0.5 MiB` when not whole.
pub fn mib_text(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", mib(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    /// Instantiates a core module under a limiter capped at `cap_mib`.
    fn instantiate(cap_mib: usize, wat: &str) -> (wasmtime::Result<Instance>, MemoryLimiter) {
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine, MemoryLimiter::new(cap_mib << 20));
        store.limiter(|l| l);
        let instance = Instance::new(&mut store, &module, &[]);
        (instance, store.into_data())
    }

    #[test]
    fn the_cap_is_on_all_memories_together() {
        // Three 32 MiB memories (512 pages each) under a 64 MiB cap: each
        // alone fits, together they do not.
        let (r, limiter) = instantiate(64, "(module (memory 512) (memory 512) (memory 512))");
        assert!(r.is_err(), "three 32 MiB memories passed a 64 MiB cap");
        assert_eq!(limiter.refused, Some(96 << 20));

        let (r, _) = instantiate(64, "(module (memory 512) (memory 511))");
        assert!(r.is_ok(), "63 MiB in two memories is under the cap: {r:?}");
    }

    #[test]
    fn growth_counts_against_the_total() {
        let wat = r#"(module
            (memory $a 256) (memory $b 256)
            (func (export "grow") (result i32)
                (drop (memory.grow $a (i32.const 200)))
                (memory.grow $b (i32.const 200))))"#;
        let engine = Engine::default();
        let module = Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine, MemoryLimiter::new(64 << 20));
        store.limiter(|l| l);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let grow = instance
            .get_typed_func::<(), i32>(&mut store, "grow")
            .unwrap();
        // 16 + 16 MiB, then +12.5 (fits: 44.5), then +12.5 (57 MiB: fits).
        assert_eq!(grow.call(&mut store, ()).unwrap(), 256);
        // Another round would reach 82 MiB: refused with a trap.
        assert!(grow.call(&mut store, ()).is_err());
        assert!(store.data().refused.unwrap() > 64 << 20);
    }

    #[test]
    fn memories_and_tables_are_counted() {
        let many = |what: &str, n: usize| format!("(module {})", format!("({what} 0) ").repeat(n));
        assert!(instantiate(64, &many("memory", MAX_MEMORIES)).0.is_ok());
        assert!(
            instantiate(64, &many("memory", MAX_MEMORIES + 1))
                .0
                .is_err()
        );
        let tables = |n| format!("(module {})", "(table 0 funcref) ".repeat(n));
        assert!(instantiate(64, &tables(MAX_TABLES)).0.is_ok());
        assert!(instantiate(64, &tables(MAX_TABLES + 1)).0.is_err());
    }
}
