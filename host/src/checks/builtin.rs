//! The built-in checks, compiled to wasm by `build.rs` and embedded so the
//! binary alone carries them.

#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub summary: &'static str,
    pub wasm: &'static [u8],
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "http-probe",
        summary: "one HTTP request or a short flow; status, body, JSON field, latency",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/http-probe.wasm")),
    },
    Builtin {
        name: "log-5xx",
        summary: "5xx count/ratio and request ids in the services' access logs since the rollout",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/log-5xx.wasm")),
    },
    Builtin {
        name: "prom-query",
        summary: "a Prometheus instant or range query against max/min; names the series that broke it",
        wasm: include_bytes!(concat!(env!("OUT_DIR"), "/prom-query.wasm")),
    },
];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
