//! The real stack (tests/realstack): PostgreSQL 15, a Django app on gunicorn
//! and nginx, all Debian packages, built by scripts/realstack.sh (cached,
//! serialised between test processes); each test's stack under its own
//! compose project, port, env file (its secrets) and state directory; and a
//! paced loopback load on its published nginx port.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use super::http::free_port;
use super::{Output, pitwall, root, run};

/// The images scripts/realstack.sh prints: `db`, `web`, `app-1.0`,
/// `app-1.1`, `app-broken`, `app-badmigration`.
pub fn image(role: &str) -> String {
    static IMAGES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    let images = IMAGES.get_or_init(|| {
        let start = Instant::now();
        let out = Command::new("bash")
            .arg(root().join("scripts/realstack.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/realstack.sh");
        assert!(out.status.success(), "scripts/realstack.sh failed");
        eprintln!("realstack images ready in {:?}", start.elapsed());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    images
        .get(role)
        .unwrap_or_else(|| panic!("scripts/realstack.sh built no `{role}` image"))
        .clone()
}

/// A value no output may contain: unique to the test, the run and the role.
fn secret(role: &str, name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{role}-{name}-{}-{nanos:x}", std::process::id())
}

/// One deployment of the real stack; taken down with its volume when dropped.
pub struct RealStack {
    pub project: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub db_password: String,
    pub check_password: String,
    pub secret_key: String,
    /// Every output of a pitwall command run through `run`, for
    /// `assert_no_secret`.
    outputs: std::cell::RefCell<Vec<String>>,
}

pub const CHECK_USER: &str = "pitwall-check";

impl RealStack {
    pub fn new(name: &str) -> RealStack {
        let stack = RealStack {
            project: format!("pwreal-{name}-{}", std::process::id()),
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            db_password: secret("dbpw", name),
            check_password: secret("checkpw", name),
            secret_key: secret("djangokey", name),
            outputs: Default::default(),
        };
        std::fs::write(
            stack.env_file(),
            format!(
                "WEB_PORT={}\nDB_PASSWORD={}\nDJANGO_SECRET_KEY={}\nCHECK_USER={CHECK_USER}\nCHECK_PASSWORD={}\n",
                stack.port, stack.db_password, stack.secret_key, stack.check_password
            ),
        )
        .unwrap();
        stack.down();
        stack
    }

    pub fn env_file(&self) -> PathBuf {
        self.dir.path().join(".env")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("releases")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// tests/realstack/pitwall.toml with its compose file by absolute path,
    /// `edit` applied (a switch, a check), for `--config`.
    pub fn config(&self, edit: impl FnOnce(String) -> String) -> PathBuf {
        let dir = root().join("tests/realstack");
        let text = std::fs::read_to_string(dir.join("pitwall.toml"))
            .unwrap()
            .replace(
                "compose_file = \"compose.yml\"",
                &format!("compose_file = \"{}\"", dir.join("compose.yml").display()),
            );
        let path = self.dir.path().join("pitwall.toml");
        std::fs::write(&path, edit(text)).unwrap();
        path
    }

    /// A pitwall command on this stack (project, env file, state, `config`).
    pub fn pitwall(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = pitwall();
        cmd.current_dir(root())
            .args(args)
            .arg("--config")
            .arg(config)
            .arg("--env-file")
            .arg(self.env_file())
            .env("PITWALL_PROJECT", &self.project)
            .env("PITWALL_STATE_DIR", self.state_dir());
        cmd
    }

    /// Runs a pitwall command, keeping its output for `assert_no_secret`.
    pub fn run(&self, config: &Path, args: &[&str]) -> Output {
        let out = run(&mut self.pitwall(config, args));
        self.outputs
            .borrow_mut()
            .extend([out.stdout.clone(), out.stderr.clone()]);
        out
    }

    /// `pitwall deploy` of `app` (an image role, `app-1.1`) with the db and
    /// web images, which stay the same from release to release.
    pub fn deploy(&self, config: &Path, release: &str, app: &str, extra: &[&str]) -> Output {
        let images = [
            format!("db={}", image("db")),
            format!("app={}", image(app)),
            format!("web={}", image("web")),
        ];
        let mut args = vec!["deploy", "--release-id", release, "--pull", "never"];
        for i in &images {
            args.extend(["--image", i]);
        }
        args.extend_from_slice(extra);
        self.run(config, &args)
    }

    /// `deploy`, which must release.
    pub fn deployed(&self, config: &Path, release: &str, app: &str) {
        let out = self.deploy(config, release, app, &[]);
        assert_eq!(
            out.code, 0,
            "deploy {release} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
    }

    pub fn state(&self) -> String {
        super::state_env(&self.state_dir())
    }

    pub fn history(&self) -> Vec<serde_json::Value> {
        super::history(&self.state_dir())
    }

    pub fn last(&self) -> serde_json::Value {
        self.history().pop().expect("a history record")
    }

    /// The text of the last record's incident file.
    pub fn incident(&self) -> String {
        let record = self.last();
        let path = record["incident"]
            .as_str()
            .unwrap_or_else(|| panic!("no incident in {record}"));
        std::fs::read_to_string(path).unwrap()
    }

    /// `GET path` on the published nginx port: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        request(self.port, path).unwrap_or((0, String::new()))
    }

    /// The JSON of a 200 answer to `GET path`.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The ids of the containers of `service`, stopped ones too.
    pub fn containers(&self, service: &str) -> Vec<String> {
        super::docker::docker(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// SQL run by psql inside the db container, unaligned output.
    pub fn sql(&self, query: &str) -> String {
        let db = self.containers("db").pop().expect("a db container");
        super::docker::docker(&[
            "exec", &db, "psql", "-U", "shop", "-d", "shop", "-Atc", query,
        ])
    }

    /// The secrets of the env file: none may appear in any output pitwall
    /// gave through `run` nor in any file of the state directory (history,
    /// incidents, state.env), nor do `extra` values (session ids).
    pub fn assert_no_secret(&self, extra: &[String]) {
        let mut secrets = vec![
            self.db_password.clone(),
            self.check_password.clone(),
            self.secret_key.clone(),
        ];
        secrets.extend(extra.iter().cloned());
        for (i, out) in self.outputs.borrow().iter().enumerate() {
            for s in &secrets {
                assert!(!out.contains(s), "output {i} holds the secret {s}:\n{out}");
            }
        }
        let mut files = 0;
        for path in files_under(&self.state_dir()) {
            files += 1;
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            for s in &secrets {
                assert!(!text.contains(s), "{} holds the secret {s}", path.display());
            }
        }
        assert!(files > 0, "no state files were checked");
    }

    fn down(&self) {
        // Compose needs the variables to read the file, not their values.
        for compose in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let done = Command::new(compose[0])
                .args(&compose[1..])
                .args(["--project-name", &self.project, "--file"])
                .arg(root().join("tests/realstack/compose.yml"))
                .args(["down", "--volumes", "--remove-orphans", "--timeout", "1"])
                .envs(
                    [
                        "DB_IMAGE",
                        "APP_IMAGE",
                        "WEB_IMAGE",
                        "DB_PASSWORD",
                        "DJANGO_SECRET_KEY",
                        "CHECK_PASSWORD",
                    ]
                    .map(|k| (k, "none")),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if done {
                return;
            }
        }
    }
}

impl Drop for RealStack {
    fn drop(&mut self) {
        self.down();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `GET path` on 127.0.0.1:port over a new connection: status and body.
fn request(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// Bounds of one load run: whichever comes first ends it.
const MAX_REQUESTS: u32 = 1_200;
const MAX_TIME: Duration = Duration::from_secs(120);
/// One request every 100 ms, as a light real client would.
const PACE: Duration = Duration::from_millis(100);

/// What the load saw: answers by status (0: no answer).
#[derive(Debug, Default)]
pub struct Tally {
    pub requests: u32,
    pub statuses: BTreeMap<u16, u32>,
    /// The first few failures.
    pub examples: Vec<String>,
}

impl Tally {
    /// Requests not answered 2xx.
    pub fn failures(&self) -> u32 {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Runs `work` while a thread requests `path` on `port` every 100 ms
/// (bounded in count and time); what the load saw, also printed.
pub fn under_load<R>(port: u16, path: &str, work: impl FnOnce() -> R) -> (R, Tally) {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, path) = (stop.clone(), path.to_string());
        thread::spawn(move || {
            let mut tally = Tally::default();
            let start = Instant::now();
            while !stop.load(Ordering::SeqCst)
                && tally.requests < MAX_REQUESTS
                && start.elapsed() < MAX_TIME
            {
                tally.requests += 1;
                let (status, why) = match request(port, &path) {
                    Ok((status, body)) => (status, body),
                    Err(why) => (0, why),
                };
                *tally.statuses.entry(status).or_default() += 1;
                if !(200..300).contains(&status) && tally.examples.len() < 3 {
                    tally.examples.push(format!(
                        "{status}: {}",
                        why.chars().take(120).collect::<String>()
                    ));
                }
                thread::sleep(PACE);
            }
            tally
        })
    };
    let out = work();
    stop.store(true, Ordering::SeqCst);
    let tally = thread.join().expect("the load thread");
    eprintln!(
        "load on {path}: {} requests, statuses {:?}, e.g. {:?}",
        tally.requests, tally.statuses, tally.examples
    );
    (out, tally)
}
