//! `[hooks]`: operator commands run before a deploy and after a command
//! ends. No shell: a hook is a program and its arguments (`["sh", "-c",
//! "…"]` when a shell is wanted), so a `${VAR}` expanded into an argument
//! can never be read as shell syntax. A hook runs in the configuration's
//! folder with pitwall's environment, minus the env file's entries unless
//! it is granted them, plus `PITWALL_*` variables; it is bounded by its
//! timeout, and what it prints is shown scrubbed of secrets.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

use crate::config::{Hook, Hooks, Stage};
use crate::release::history::Action;
use crate::report::Progress;

/// Lines of a hook's output kept for the message when it fails.
const TAIL_LINES: usize = 15;
/// Longest line kept (a hook printing a binary blob must not flood).
const MAX_LINE: usize = 500;
/// How long output is still read once the hook has exited.
const DRAIN: Duration = Duration::from_secs(1);

/// The `PITWALL_*` variables a hook is given.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    /// What is known when a command starts. `images` is service →
    /// reference, listed as `service=reference` separated by spaces.
    pub fn new(
        project: &str,
        action: Action,
        release_id: Option<&str>,
        previous_release_id: Option<&str>,
        images: &BTreeMap<String, String>,
        state_dir: &Path,
    ) -> Vars {
        let mut vars = BTreeMap::from([
            ("PITWALL_PROJECT", project.to_string()),
            ("PITWALL_ACTION", action.as_str().to_string()),
            ("PITWALL_STATE_DIR", absolute(state_dir)),
            (
                "PITWALL_IMAGES",
                images
                    .iter()
                    .map(|(s, r)| format!("{s}={r}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]);
        if let Some(id) = release_id {
            vars.insert("PITWALL_RELEASE_ID", id.to_string());
        }
        if let Some(id) = previous_release_id {
            vars.insert("PITWALL_PREVIOUS_RELEASE_ID", id.to_string());
        }
        Vars(vars)
    }

    /// Adds how the command ended.
    pub fn ended(
        mut self,
        outcome: crate::config::Outcome,
        exit_code: u8,
        message: &str,
        incident: Option<&str>,
    ) -> Vars {
        self.0
            .insert("PITWALL_OUTCOME", outcome.as_str().to_string());
        self.0.insert("PITWALL_EXIT_CODE", exit_code.to_string());
        self.0
            .insert("PITWALL_OUTCOME_MESSAGE", message.to_string());
        if let Some(path) = incident {
            self.0.insert("PITWALL_INCIDENT", absolute(Path::new(path)));
        }
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Paths are given absolute: a hook runs in the configuration's folder,
/// not where pitwall was started.
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Why a hook failed; the output tail is already scrubbed.
#[derive(Debug, thiserror::Error)]
pub enum HookFailed {
    #[error(
        "hook {stage} could not start `{program}`: {error} (hooks run in the folder of pitwall.toml, with no shell)"
    )]
    Spawn {
        stage: &'static str,
        program: String,
        error: std::io::Error,
    },
    #[error("hook {stage} ({program}) {how}{}", tail_text(.tail))]
    Ended {
        stage: &'static str,
        program: String,
        how: String,
        tail: Vec<String>,
    },
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        " and printed nothing".into()
    } else {
        format!("; its last lines:\n  {}", tail.join("\n  "))
    }
}

/// Runs the hook for `stage`, if one is configured; its output is shown
/// line by line on `progress`.
pub async fn run(
    hooks: &Hooks,
    stage: Stage,
    vars: &Vars,
    progress: &Progress,
) -> Result<(), HookFailed> {
    let Some(hook) = hooks.get(stage) else {
        return Ok(());
    };
    let stage = stage.as_str();
    let program = hook.command.first().cloned().unwrap_or_default();
    progress.step(&format!("running hook {stage}: {program}"));
    let mut child = command(hooks, hook, vars)
        .and_then(|mut c| c.spawn())
        .map_err(|error| HookFailed::Spawn {
            stage,
            program: program.clone(),
            error,
        })?;
    // Killed, with what it started, if this future is dropped (a cancel).
    let mut group = Group(child.id());
    let tail = Mutex::new(VecDeque::new());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let finished = tokio::time::timeout(hook.timeout, async {
        let mut output = std::pin::pin!(async {
            tokio::join!(
                pump(stdout, stage, &tail, progress),
                pump(stderr, stage, &tail, progress)
            );
        });
        let mut drained = false;
        let status = tokio::select! {
            status = child.wait() => status,
            () = &mut output => {
                drained = true;
                child.wait().await
            }
        };
        // The rest of its output, but not for as long as something it
        // left running in the background holds the pipes open.
        if !drained {
            let _ = tokio::time::timeout(DRAIN, output).await;
        }
        status
    })
    .await;
    let how = match finished {
        Ok(Ok(status)) if status.success() => {
            group.0 = None;
            return Ok(());
        }
        Ok(Ok(status)) => {
            group.0 = None;
            ended(status)
        }
        Ok(Err(e)) => format!("could not be waited for: {e}"),
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            format!(
                "did not finish within its timeout of {} and was killed",
                humantime::format_duration(hook.timeout)
            )
        }
    };
    let tail = tail.into_inner().unwrap_or_else(|p| p.into_inner());
    Err(HookFailed::Ended {
        stage,
        program,
        how,
        tail: tail.into(),
    })
}

fn command(hooks: &Hooks, hook: &Hook, vars: &Vars) -> std::io::Result<tokio::process::Command> {
    let (program, args) = hook.command.split_first().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the command is empty")
    })?;
    let mut command = tokio::process::Command::new(program);
    let dir = if hooks.dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &hooks.dir
    };
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .kill_on_drop(true);
    for (key, value) in &hooks.env_file {
        if hook.env_file {
            command.env(key, value);
        } else {
            command.env_remove(key);
        }
    }
    command.envs(&vars.0);
    Ok(command)
}

fn ended(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended: {status}"),
    }
}

/// The process group a hook leads (it is spawned with `process_group(0)`),
/// killed when dropped unless the hook was seen to end.
struct Group(Option<u32>);

impl Group {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take().and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: only sends a signal; no memory is involved.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Shows each line of `stream` (scrubbed) and keeps the last few.
async fn pump(
    stream: Option<impl AsyncRead + Unpin>,
    stage: &str,
    tail: &Mutex<VecDeque<String>>,
    progress: &Progress,
) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let mut line = progress.redactor.apply(text.trim_end());
        if line.len() > MAX_LINE {
            let cut = line.floor_char_boundary(MAX_LINE);
            line.truncate(cut);
            line.push('…');
        }
        progress.line(&format!("{stage} | {line}"));
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_given_absolute_since_hooks_run_elsewhere() {
        let vars = Vars::new(
            "shop",
            Action::Deploy,
            Some("1.4"),
            None,
            &BTreeMap::new(),
            Path::new("deploy/releases"),
        )
        .ended(
            crate::config::Outcome::RolledBack,
            1,
            "rolled back",
            Some("deploy/releases/incident-1.log"),
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            vars.get("PITWALL_STATE_DIR"),
            Some(cwd.join("deploy/releases").to_str().unwrap())
        );
        assert_eq!(
            vars.get("PITWALL_INCIDENT"),
            Some(cwd.join("deploy/releases/incident-1.log").to_str().unwrap())
        );
        assert_eq!(vars.get("PITWALL_PREVIOUS_RELEASE_ID"), None);
    }
}
