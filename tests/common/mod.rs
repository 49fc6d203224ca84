//! Helpers shared by the integration tests: the pitwall binary, the test
//! guests, and a real HTTP server on loopback.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The pitwall binary, with a compile cache shared by the tests.
pub fn pitwall() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pitwall"));
    cmd.env("PITWALL_CACHE_DIR", root().join("target/test-cache"));
    cmd.env_remove("COMPOSE_PROJECT_NAME");
    cmd
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run pitwall");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run_json(cmd: &mut Command) -> (i32, serde_json::Value) {
    let out = run(cmd.arg("--json"));
    let value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", out.stdout, out.stderr));
    (out.code, value)
}

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

/// What the test server answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 (one thread per connection), routing
/// by method and path. Dropping it closes the port.
pub struct Server {
    pub base: String,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(route: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let route = Arc::new(route);
        let stopping = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { break };
                let route = route.clone();
                thread::spawn(move || serve(stream, &*route));
            }
        });
        Server {
            base: format!("http://{addr}"),
            addr,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and closes the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(mut stream: TcpStream, route: &(dyn Fn(&str, &str) -> Reply + Send + Sync)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let reply = route(&method, &path);
    thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

/// A loopback port with nothing listening on it (free to bind, or to get a
/// refused connection from).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---- Docker: fixture images, a real registry, a stack per test ----

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
    pitwall::commands::demo::build_fixture_image(&fixture_bin(), &tag, mode, version).unwrap()
}

/// Debian's docker-registry, on its own loopback port and storage, for the
/// life of the test.
pub struct Registry {
    pub host: String,
    child: std::process::Child,
    _storage: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry is installed by scripts/setup.sh");
        let host = format!("127.0.0.1:{port}");
        let mut child = child;
        for _ in 0..100 {
            if TcpStream::connect(&host).is_ok() {
                return Registry {
                    host,
                    child,
                    _storage: storage,
                };
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the registry did not start on {host}");
    }

    /// Tags a local image into this registry and pushes it; returns the ref.
    pub fn push(&self, local: &str, name: &str) -> String {
        let remote = format!("{}/{name}", self.host);
        docker(&["tag", local, &remote]);
        docker(&["push", &remote]);
        docker(&["rmi", &remote]);
        remote
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The reference stack (deploy/) under its own project name, port, env file
/// and state directory; taken down when dropped.
pub struct Stack {
    pub project: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub secret: String,
}

impl Stack {
    pub fn new(name: &str) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let project = format!("pwtest-{name}-{}", std::process::id());
        let secret = format!("s3cret-{name}-{}", std::process::id());
        std::fs::write(
            dir.path().join(".env.test"),
            format!("SECRET_KEY={secret}\nFRONTEND_PORT={port}\n"),
        )
        .unwrap();
        let stack = Stack {
            project,
            port,
            dir,
            secret,
        };
        stack.down();
        stack
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env.test")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A pitwall command with this stack's project, env file and state.
    pub fn pitwall(&self, args: &[&str]) -> Command {
        let mut cmd = pitwall();
        cmd.current_dir(root())
            .args(args)
            .arg("--env-file")
            .arg(self.env_file())
            .env("PITWALL_PROJECT", &self.project)
            .env("PITWALL_STATE_DIR", self.state_dir());
        cmd
    }

    /// `pitwall deploy` of `image` for both services.
    pub fn deploy_command(&self, release: &str, image: &str, extra: &[&str]) -> Command {
        let api = format!("api={image}");
        let frontend = format!("frontend={image}");
        let mut args = vec![
            "deploy",
            "--release-id",
            release,
            "--image",
            &api,
            "--image",
            &frontend,
        ];
        args.extend_from_slice(extra);
        self.pitwall(&args)
    }

    pub fn deploy(&self, release: &str, image: &str, extra: &[&str]) -> Output {
        run(&mut self.deploy_command(release, image, extra))
    }

    pub fn state(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("state.env")).unwrap_or_default()
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("history.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The version the live stack reports on its health endpoint.
    pub fn live_version(&self) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "3", &self.url("/api/health/")])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["version"].as_str().map(str::to_string)
    }

    fn down(&self) {
        for compose in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let done = Command::new(compose[0])
                .args(&compose[1..])
                .args(["--project-name", &self.project, "--file"])
                .arg(root().join("deploy/compose.production.yml"))
                .args(["down", "--remove-orphans", "--timeout", "1"])
                .env("BACKEND_IMAGE", "none")
                .env("FRONTEND_IMAGE", "none")
                .env("SECRET_KEY", "none")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if done {
                return;
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.down();
    }
}
