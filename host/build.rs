//! Compiles the built-in checks (`plugins/`) to wasm32-wasip2 components and
//! puts them in OUT_DIR, where `checks::builtin` embeds them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const PLUGINS: &[&str] = &["http-probe", "log-5xx", "prom-query"];

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("host/ lives in the workspace root");
    commit(root);
    for dir in ["plugins", "sdk", "templates", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // A separate target directory: the outer build holds the lock on its own.
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugins");
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for p in PLUGINS {
        cargo.args(["-p", p]);
    }
    // The outer build's flags are meant for the host target, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .expect("cannot run cargo to build the built-in checks");
    assert!(
        status.success(),
        "building the built-in checks for wasm32-wasip2 failed; if the target is missing, \
         run `rustup target add wasm32-wasip2` (scripts/setup.sh does)"
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for p in PLUGINS {
        let built = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", p.replace('-', "_")));
        std::fs::copy(&built, out.join(format!("{p}.wasm")))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    }
}

/// `pitwall --version` names the commit it was built from, when built from
/// a git checkout.
fn commit(root: &std::path::Path) {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    // HEAD moves on a commit or checkout; refs may be loose or packed. In a
    // worktree, HEAD is in its own git dir and refs in the common one.
    let dirs = [
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ];
    for dir in dirs.iter().flatten() {
        for f in ["HEAD", "refs/heads", "packed-refs"] {
            let path = std::path::Path::new(dir).join(f);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let commit =
        git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown commit".into());
    println!("cargo:rustc-env=PITWALL_COMMIT={commit}");
}
