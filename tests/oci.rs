//! Checks shared through an OCI registry: a real `docker-registry` on
//! loopback (one per test, on its own port), the pitwall binary with a cache
//! and a Docker config directory of the test's own. Push, pull, pinned runs,
//! offline runs from the cache, and every refusal an operator can meet:
//! tampered digest, missing tag, credentials, not a wasm artifact, a
//! registry that is down.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::docker::Registry;
use common::http::{Reply, Server};
use common::memory::MemoryEngine;
use common::{Output, pitwall, run};
use pitwall::checks::{Cache, Compiler, Runtime, builtin};
use pitwall::config::{Config, Overrides};
use pitwall::report::{Progress, Redactor};
use pitwall::rollout::Deployer;

/// A registry and a machine of the test's own: its pitwall cache and its
/// Docker config directory (no credentials until `login`).
struct Rig {
    registry: Option<Registry>,
    host: String,
    home: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        Rig::on(Registry::start())
    }

    fn on(registry: Registry) -> Rig {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("docker")).unwrap();
        Rig {
            host: registry.host.clone(),
            registry: Some(registry),
            home,
        }
    }

    fn cache(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = pitwall();
        cmd.args(args)
            .env("PITWALL_CACHE_DIR", self.cache())
            .env("DOCKER_CONFIG", self.home.path().join("docker"))
            .env_remove("PITWALL_INSECURE_REGISTRIES");
        cmd
    }

    fn pitwall(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// What `docker login HOST` leaves in config.json.
    fn login(&self, user: &str, password: &str) {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({ "auths": { &self.host: { "auth": auth } } });
        std::fs::write(
            self.home.path().join("docker/config.json"),
            config.to_string(),
        )
        .unwrap();
    }

    fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }

    /// Pushes `builtin:http-probe` as `REPO:TAG`; returns the pinned
    /// reference push printed.
    fn push_probe(&self, path: &str) -> String {
        let out = self.pitwall(&["check", "push", "builtin:http-probe", &self.reference(path)]);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let pinned = out.stdout.trim().to_string();
        let digest = pinned
            .strip_prefix(&format!("{}@sha256:", self.reference(path)))
            .unwrap_or_else(|| panic!("push printed {pinned:?}"));
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "{pinned}"
        );
        pinned
    }

    fn stop_registry(&mut self) {
        self.registry = None;
    }
}

fn probe_sha256() -> String {
    pitwall::checks::sha256(builtin::find("http-probe").unwrap().wasm)
}

/// `pinned` with another manifest digest.
fn tampered(pinned: &str) -> String {
    let (name, digest) = pinned.rsplit_once("@sha256:").unwrap();
    let flipped = if digest.starts_with('0') { "1" } else { "0" };
    format!("{name}@sha256:{flipped}{}", &digest[1..])
}

#[test]
fn push_then_pull_round_trips_into_a_private_cache() {
    let rig = Rig::new();
    let pinned = rig.push_probe("checks/http-probe:1.0");
    let target = rig.reference("checks/http-probe:json");
    let out = rig.pitwall(&["check", "push", "builtin:http-probe", &target, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pushed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let invalid = common::violations(&common::schema("check-push"), &pushed);
    assert!(invalid.is_empty(), "{invalid:?}");
    let reference = pushed["reference"].as_str().unwrap();
    assert!(
        reference.starts_with(&format!("{target}@sha256:")),
        "{reference}"
    );

    let out = rig.pitwall(&["check", "pull", &pinned, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pulled: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let invalid = common::violations(&common::schema("check-pull"), &pulled);
    assert!(invalid.is_empty(), "{invalid:?}");
    assert_eq!(pulled["reference"], pinned.as_str());
    assert_eq!(pulled["cached"], false);
    assert_eq!(pulled["sha256"], probe_sha256().as_str());
    let path = PathBuf::from(pulled["path"].as_str().unwrap());
    assert!(path.starts_with(rig.cache().join("oci/sha256")), "{path:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        builtin::find("http-probe").unwrap().wasm
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    for dir in ["oci/sha256", "oci", ""] {
        assert_eq!(mode(&rig.cache().join(dir)), 0o700, "{dir}");
    }

    // The tag alone resolves to the same digest; a pinned pull needs no registry.
    let out = rig.pitwall(&["check", "pull", &rig.reference("checks/http-probe:1.0")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(&pinned), "{}", out.stdout);
    assert!(
        out.stdout.contains(&path.display().to_string()),
        "{}",
        out.stdout
    );
    let out = rig.pitwall(&["check", "pull", &pinned]);
    assert!(out.stdout.contains("from:   the cache"), "{}", out.stdout);
}

#[test]
fn a_pinned_reference_runs_and_keeps_running_offline_from_the_cache() {
    let mut rig = Rig::new();
    let pinned = rig.push_probe("checks/http-probe:1.0");
    let api = Server::start(|_, _| Reply::new(200, r#"{"status":"ok"}"#));
    let config = format!(r#"{{"url":"{}"}}"#, api.url("/health"));
    let run_check = |rig: &Rig| {
        rig.pitwall(&[
            "check",
            "run",
            &pinned,
            "--config",
            &config,
            "--allow-http",
            &api.url("/"),
        ])
    };
    let out = run_check(&rig);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(&pinned), "{}", out.stdout);

    rig.stop_registry();
    let out = run_check(&rig);
    assert_eq!(out.code, 0, "offline: {}{}", out.stdout, out.stderr);
    let out = rig.pitwall(&["check", "inspect", &pinned]);
    assert_eq!(out.code, 0, "offline: {}", out.stderr);
    assert!(
        out.stdout.contains("compiled form was cached"),
        "{}",
        out.stdout
    );

    // What was never pinned needs the registry, and says it is down.
    let out = rig.pitwall(&["check", "inspect", &rig.reference("checks/http-probe:1.0")]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains(&format!("cannot reach the registry at {}", rig.host)),
        "{}",
        out.stderr
    );
}

#[test]
fn a_tampered_digest_is_refused_naming_both_digests() {
    let rig = Rig::new();
    let pinned = rig.push_probe("checks/http-probe:1.0");
    let wrong = tampered(&pinned);
    let expected = wrong.rsplit_once('@').unwrap().1;
    let actual = pinned.rsplit_once('@').unwrap().1;

    let out = rig.pitwall(&["check", "run", &wrong]);
    assert_eq!(out.code, 3);
    for digest in [expected, actual] {
        assert!(out.stdout.contains(digest), "{digest}: {}", out.stdout);
    }
    assert!(out.stdout.contains("refusing it"), "{}", out.stdout);
    assert!(!rig.cache().join("oci").exists(), "nothing kept");
}

#[tokio::test]
async fn deploy_preflight_refuses_a_tampered_check_before_touching_the_stack() {
    let rig = Rig::new();
    let pinned = rig.push_probe("checks/http-probe:1.0");
    let wrong = tampered(&pinned);
    std::fs::write(rig.home.path().join("compose.yml"), "services: {}\n").unwrap();
    let file = rig.home.path().join("pitwall.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[stack]
compose_file = "compose.yml"
project = "ocitest"
[stack.services.api]

[[checks]]
name = "health"
plugin = "{wrong}"
allow_http = ["http://127.0.0.1:1/"]
config = {{ url = "http://127.0.0.1:1/health" }}
"#
        ),
    )
    .unwrap();
    let config = Config::load(&file, &Overrides::default()).unwrap();
    let engine = MemoryEngine::new();
    let runtime = Runtime::new(Cache::from_env(), Compiler::InProcess).unwrap();
    let progress = Progress::new(Redactor::new(Vec::new()));
    let refused = Deployer::preflight(config, Arc::new(engine.clone()), runtime, progress)
        .await
        .err()
        .expect("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("check `health`"), "{message}");
    assert!(
        message.contains(wrong.rsplit_once('@').unwrap().1),
        "{message}"
    );
    assert!(
        message.contains(pinned.rsplit_once('@').unwrap().1),
        "{message}"
    );
    assert_eq!(
        pitwall::exit::Exit::of_error(&refused),
        pitwall::exit::Exit::Refused
    );
    assert_eq!(engine.applies(), 0);
}

#[test]
fn a_missing_tag_or_repository_is_named() {
    let rig = Rig::new();
    rig.push_probe("checks/http-probe:1.0");
    for path in ["checks/http-probe:v9", "checks/nothing:1.0"] {
        let reference = rig.reference(path);
        let out = rig.pitwall(&["check", "pull", &reference]);
        assert_eq!(out.code, 3);
        assert!(
            out.stderr
                .contains(&format!("{reference} not found in the registry")),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn a_registry_that_wants_a_login_gets_the_docker_credentials() {
    let rig = Rig::on(Registry::with_login("ci", "hunter2"));
    let target = rig.reference("checks/http-probe:json");

    let out = rig.pitwall(&["check", "push", "builtin:http-probe", &target]);
    assert_eq!(out.code, 3);
    let needs = format!(
        "the registry at {host} needs credentials: run `docker login {host}`",
        host = rig.host
    );
    assert!(out.stderr.contains(&needs), "{}", out.stderr);

    rig.login("ci", "wrong");
    let out = rig.pitwall(&["check", "push", "builtin:http-probe", &target]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("refused the credentials"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong"), "{}", out.stderr);

    rig.login("ci", "hunter2");
    let pinned = rig.push_probe("checks/http-probe:1.0");
    let out = rig.pitwall(&["check", "pull", &pinned]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Without the login, a pull is refused the same way.
    std::fs::remove_file(rig.home.path().join("docker/config.json")).unwrap();
    let out = rig.pitwall(&["check", "pull", &target]);
    assert_eq!(out.code, 3);
    assert!(out.stderr.contains(&needs), "{}", out.stderr);
}

#[tokio::test]
async fn a_container_image_is_not_taken_for_a_check() {
    let rig = Rig::new();
    let image = oci_client::Reference::try_from(format!("{}/checks/app:1.0", rig.host)).unwrap();
    // A client of the test's own: pitwall's TLS provider first, as pitwall
    // installs it before its own clients.
    pitwall::tls::init();
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let layer = oci_client::client::ImageLayer::oci_v1(b"not a tar".to_vec(), None);
    let config = oci_client::client::Config::oci_v1(b"{}".to_vec(), None);
    client
        .push(
            &image,
            &[layer],
            config,
            &oci_client::secrets::RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap();

    let reference = rig.reference("checks/app:1.0");
    let out = rig.pitwall(&["check", "pull", &reference]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains(&format!(
            "{reference} is not a WebAssembly component artifact (its config is application/vnd.oci.image.config.v1+json)"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn what_push_refuses_it_says_before_uploading() {
    let rig = Rig::new();
    let core = rig.home.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = rig.pitwall(&[
        "check",
        "push",
        core.to_str().unwrap(),
        &rig.reference("checks/core:1.0"),
    ]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("core WebAssembly module"),
        "{}",
        out.stderr
    );
    let out = rig.pitwall(&[
        "check",
        "push",
        "builtin:http-probe",
        &rig.reference("checks/http-probe"),
    ]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("neither a tag nor a digest"),
        "{}",
        out.stderr
    );
}
