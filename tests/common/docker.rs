//! The real Docker side: a local registry and the reference stack under a
//! project, port, env file and state directory of the test's own.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::http::free_port;
use super::{Output, pitwall, root, run};

/// Debian's docker-registry, on its own loopback port and storage, for the
/// life of the test.
pub struct Registry {
    pub host: String,
    child: std::process::Child,
    config: PathBuf,
    _storage: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::serve(None)
    }

    /// A registry that lets in only `user` with `password`: HTTP basic auth
    /// from an htpasswd file, bcrypt as the registry requires.
    pub fn with_login(user: &str, password: &str) -> Registry {
        let hash = bcrypt::hash(password, 4).unwrap();
        Registry::serve(Some(format!("{user}:{hash}\n")))
    }

    fn serve(htpasswd: Option<String>) -> Registry {
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.path().join("data").display()
        );
        if let Some(users) = htpasswd {
            let path = storage.path().join("htpasswd");
            std::fs::write(&path, users).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: pitwall-test\n    path: {}\n",
                path.display()
            );
        }
        let config_file = storage.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
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
                    config: config_file,
                    _storage: storage,
                };
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the registry did not start on {host}");
    }

    /// The same registry (storage, loopback port) served in another
    /// network namespace too, so that a daemon there pulls the same
    /// references; it serves while the child runs.
    pub fn serve_in(&self, netns: &Path) -> std::process::Child {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", netns.display()))
            .arg("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        super::detach(&mut cmd);
        cmd.spawn().expect("nsenter docker-registry")
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

    /// A copy of the reference configuration with `[defaults]` lines
    /// replaced (`deadline = "15s"`), for `--config`.
    pub fn config_with(&self, defaults: &[(&str, &str)]) -> PathBuf {
        let reference = root().join("deploy/pitwall.toml");
        let mut text = std::fs::read_to_string(&reference).unwrap().replace(
            "compose_file = \"compose.production.yml\"",
            &format!(
                "compose_file = \"{}\"",
                root().join("deploy/compose.production.yml").display()
            ),
        );
        for (key, value) in defaults {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{key} =")))
                .unwrap_or_else(|| panic!("no `{key} =` line in the reference config"))
                .to_string();
            text = text.replace(&line, &format!("{key} = {value}"));
        }
        let path = self.dir.path().join("pitwall.toml");
        std::fs::write(&path, text).unwrap();
        path
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

    /// `deploy`, which must release: its output is the failure message.
    pub fn deployed(&self, release: &str, image: &str, extra: &[&str]) {
        let out = self.deploy(release, image, extra);
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
