//! A child process's peak memory. `wait4` reports the high-water resident
//! set of that child alone (and of what it waited for), not of the test
//! process or of the other children it ran (cargo, compilers).

use std::io::Read;
use std::process::{Command, Stdio};

pub struct Measured {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Peak RSS in bytes.
    pub peak: u64,
}

impl Measured {
    pub fn peak_mb(&self) -> f64 {
        self.peak as f64 / 1e6
    }
}

/// Runs `cmd` to its end and measures its peak RSS.
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which std's `wait` cannot measure
pub fn measured(cmd: &mut Command) -> Measured {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let stderr = stderr.join().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; the child is ours
    // and not waited for by anyone else (std's `Child` waits only when asked).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Measured {
        code,
        stdout,
        stderr,
        // Linux reports KiB.
        peak: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    }
}
