//! Builds what the tests run: the hostile test guests (wasm32-wasip2) and
//! the static fixture app with its images.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use super::root;

/// Builds the test guests (tests/guests) for wasm32-wasip2 once per test
/// process; cargo's own lock serialises concurrent test binaries.
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = root().join("target/guests");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root().join("tests/guests"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("run cargo for the test guests");
        assert!(status.success(), "building tests/guests failed");
        target.join("wasm32-wasip2/release")
    });
    dir.join(format!("{}.wasm", name.replace('-', "_")))
}

/// The static fixture app, built once per test process.
pub fn fixture_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(root())
                .args([
                    "build",
                    "--release",
                    "-p",
                    "fixture-app",
                    "--target",
                    "x86_64-unknown-linux-musl",
                ])
                .status()
                .expect("run cargo for the fixture app");
            assert!(status.success(), "building the fixture app failed");
            root().join("target/x86_64-unknown-linux-musl/release/fixture-app")
        })
        .clone()
}

/// A local image of the fixture app with `mode` baked in, tagged
/// `pitwall-test/app:<mode>-<version>`.
pub fn fixture_image(mode: &str, version: &str) -> String {
    let tag = format!("pitwall-test/app:{mode}-{version}");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_bin(), ctx.path().join("fixture-app")).unwrap();
    super::docker::docker(&[
        "build",
        "--quiet",
        "--build-arg",
        &format!("MODE={mode}"),
        "--build-arg",
        &format!("VERSION={version}"),
        "--tag",
        &tag,
        "--file",
        root()
            .join("tests/fixture-app/Dockerfile")
            .to_str()
            .unwrap(),
        ctx.path().to_str().unwrap(),
    ]);
    tag
}

/// The HAProxy image the blue-green tests put in front of their stack
/// (Debian's haproxy in a `FROM scratch` image, scripts/haproxy-image.sh),
/// built once per test process; the script's own lock serialises processes.
pub fn haproxy_image() -> String {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(root().join("scripts/haproxy-image.sh"))
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("run scripts/haproxy-image.sh");
            assert!(out.status.success(), "scripts/haproxy-image.sh failed");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .clone()
}
