//! A second Docker daemon joined to the swarm as a worker: a two-node swarm
//! on one machine. The daemon runs in a network namespace of the test's
//! own, reached over a veth pair with private addresses on that pair only,
//! with its own config file, data, exec root and socket. Everything is
//! removed by the pids and names made here when dropped, after a panic too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::detach;
use super::docker::Registry;
use super::swarm::Swarm;

/// Runs `cmd`, which must succeed.
fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace (alive while its holder process runs, so nothing is
/// mounted for it) and a veth pair into it: `host_addr` on this side,
/// `worker_addr` inside, a /30 of their own.
pub struct Netns {
    holder: Child,
    host_if: String,
    pub host_addr: String,
    pub worker_addr: String,
}

impl Netns {
    pub fn create() -> Netns {
        let pid = std::process::id();
        // 10.213.0.0/16 is unlikely to be in use; refuse to share it.
        let prefix = format!("10.213.{}.", 1 + pid % 250);
        let addrs = must(Command::new("ip").args(["-o", "addr"]));
        assert!(!addrs.contains(&prefix), "{prefix}0/30 is in use:\n{addrs}");

        let mut holder = Command::new("unshare");
        holder.args(["--net", "sleep", "infinity"]);
        detach(&mut holder);
        let netns = Netns {
            holder: holder.spawn().expect("unshare"),
            host_if: format!("pw{pid}h"),
            host_addr: format!("{prefix}1"),
            worker_addr: format!("{prefix}2"),
        };
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let start = Instant::now();
        while std::fs::read_link(netns.path()).ok().as_ref() == Some(&ours) {
            assert!(start.elapsed() < Duration::from_secs(5), "unshare --net");
            thread::sleep(Duration::from_millis(10));
        }

        let worker_if = format!("pw{pid}w");
        let holder_pid = netns.holder.id().to_string();
        must(Command::new("ip").args([
            "link",
            "add",
            &netns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &worker_if,
            "netns",
            &holder_pid,
        ]));
        let host_cidr = format!("{}/30", netns.host_addr);
        must(Command::new("ip").args(["addr", "add", &host_cidr, "dev", &netns.host_if]));
        must(Command::new("ip").args(["link", "set", &netns.host_if, "up"]));
        let worker_cidr = format!("{}/30", netns.worker_addr);
        for args in [
            &["addr", "add", &worker_cidr, "dev", &worker_if][..],
            &["link", "set", &worker_if, "up"],
            &["link", "set", "lo", "up"],
        ] {
            must(netns.enter("ip").args(args));
        }
        netns
    }

    /// The namespace, as `nsenter --net=` takes it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    /// `program`, run inside the namespace.
    fn enter(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path().display()))
            .arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end deletes the pair.
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The second daemon, joined to the swarm as a worker.
pub struct Worker {
    daemon: Child,
    /// The test registry served inside the namespace on the same loopback
    /// address, so both nodes pull the same pinned references.
    mirror: Child,
    sock: String,
    dir: tempfile::TempDir,
}

impl Worker {
    /// A dockerd in `net` that pulls from `registry` and joins `swarm`.
    pub fn join(net: &Netns, swarm: &Swarm, registry: &Registry) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        // Its own config: the machine's daemon.json names the default
        // data-root and a storage driver for the main daemon.
        std::fs::write(at("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(at("dockerd.log")).unwrap();
        let sock = format!("unix://{}", at("docker.sock"));
        let mut dockerd = net.enter("dockerd");
        dockerd
            .args(["--config-file", &at("daemon.json")])
            .args(["--data-root", &at("data")])
            .args(["--exec-root", &at("exec")])
            .args(["--pidfile", &at("docker.pid")])
            .args(["-H", &sock])
            .args(["--storage-driver", "vfs"])
            .args(["--bridge", "none", "--iptables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        detach(&mut dockerd);
        let mirror = registry.serve_in(&net.path());
        let worker = Worker {
            daemon: dockerd.spawn().expect("nsenter dockerd"),
            mirror,
            sock,
            dir,
        };
        worker.wait_for("the daemon to answer", || {
            worker.try_docker(&["info"]).is_some()
        });
        let token = swarm.worker_token();
        worker.docker(&[
            "swarm",
            "join",
            "--advertise-addr",
            &net.worker_addr,
            "--token",
            &token,
            &format!("{}:2377", net.host_addr),
        ]);
        worker.wait_for("both nodes to be ready", || {
            super::docker::docker(&["node", "ls", "--format", "{{.Status}}"])
                .lines()
                .filter(|s| *s == "Ready")
                .count()
                == 2
        });
        worker
    }

    /// Waits up to 30 s for `done`; a panic with the daemon's log if not.
    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(self.dir.path().join("dockerd.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "waited 30 s for {what}; dockerd.log ends:\n{}",
                    tail.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn try_docker(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("docker")
            .args(["-H", &self.sock])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The docker CLI against this daemon; must succeed.
    pub fn docker(&self, args: &[&str]) -> String {
        must(Command::new("docker").args(["-H", &self.sock]).args(args))
    }

    /// Mounts the daemon left under its directories (a SIGKILLed daemon
    /// leaves its containers' and namespaces'), innermost first.
    fn leftover_mounts(&self) -> Vec<String> {
        let root = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut under: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| Path::new(m).starts_with(&root))
            .map(str::to_string)
            .collect();
        under.reverse();
        under
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.try_docker(&["swarm", "leave", "--force"]);
        // SIGTERM: the daemon stops its containers and its containerd.
        let pid = self.daemon.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while self.daemon.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.mirror.kill();
        let _ = self.mirror.wait();
        for mount in self.leftover_mounts() {
            let _ = Command::new("umount").args(["--lazy", &mount]).output();
        }
    }
}
