//! What pitwall writes to a terminal, a pipe and a closed pipe: colours
//! only on a colour terminal without `NO_COLOR`, and a reader that goes away
//! (`| head -1`) ends the output quietly instead of a panic.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::http::{Reply, Server};
use common::{pitwall, root, run};

const ESC: char = '\x1b';

fn failing_probe(server: &Server) -> Vec<String> {
    vec![
        "check".into(),
        "run".into(),
        "builtin:http-probe".into(),
        "--config".into(),
        format!(r#"{{"url":"{}"}}"#, server.url("/down")),
        "--allow-http".into(),
        server.url("/"),
    ]
}

fn down_server() -> Server {
    Server::start(|_, _| Reply::new(503, "upstream not ready"))
}

/// `pitwall history` over the state files of an earlier version, with an
/// env file of its own (the reference config names one that is not
/// committed).
fn history_command(extra: &[&str]) -> (Command, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(&env, "SECRET_KEY=x1y2z3w4\n").unwrap();
    let mut cmd = pitwall();
    cmd.current_dir(root())
        .arg("history")
        .args(extra)
        .arg("--env-file")
        .arg(&env)
        .arg("--state-dir")
        .arg(root().join("tests/fixtures/state"));
    (cmd, dir)
}

/// Runs `cmd` with a stdout whose reader has gone away before it writes.
fn with_closed_stdout(cmd: &mut Command) -> (i32, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let server = down_server();
    let (mut history, _dir) = history_command(&[]);
    let (mut history_json, _dir2) = history_command(&["--json"]);
    let mut run_json = pitwall();
    run_json.args(failing_probe(&server)).arg("--json");
    let mut list = pitwall();
    list.args(["check", "list"]);
    let mut inspect = pitwall();
    inspect.args(["check", "inspect", "builtin:log-5xx"]);
    for (name, cmd, expected) in [
        ("history", &mut history, 0),
        ("history --json", &mut history_json, 0),
        ("check run --json", &mut run_json, 1),
        ("check list", &mut list, 0),
        ("check inspect", &mut inspect, 0),
    ] {
        let (code, stderr) = with_closed_stdout(cmd);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert_eq!(code, expected, "{name} keeps its exit code: {stderr}");
    }
}

#[test]
fn piped_output_carries_no_escape_codes() {
    let server = down_server();
    let out = run(pitwall().args(failing_probe(&server)));
    assert_eq!(out.code, 1);
    assert!(out.stdout.starts_with("FAIL"), "{}", out.stdout);
    assert!(!out.stdout.contains(ESC), "{:?}", out.stdout);
    let (mut history, _dir) = history_command(&[]);
    let out = run(&mut history);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("rolled_back"), "{}", out.stdout);
    assert!(!out.stdout.contains(ESC) && !out.stderr.contains(ESC));
}

/// Runs `pitwall ARGS` on a pseudo-terminal (util-linux `script`), with
/// `NO_COLOR` set or not; returns what the terminal showed.
fn on_a_terminal(args: &[String], no_color: bool) -> String {
    let mut line = shell_quote(env!("CARGO_BIN_EXE_pitwall"));
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("PITWALL_CACHE_DIR", root().join("target/test-cache"))
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn colours_show_on_a_terminal_unless_no_color_is_set() {
    let server = down_server();
    let args = failing_probe(&server);
    let coloured = on_a_terminal(&args, false);
    assert!(coloured.contains("FAIL"), "{coloured:?}");
    assert!(
        coloured.contains(ESC),
        "a terminal gets colours: {coloured:?}"
    );
    let plain = on_a_terminal(&args, true);
    assert!(plain.contains("FAIL"), "{plain:?}");
    assert!(!plain.contains(ESC), "NO_COLOR: {plain:?}");
}

#[test]
fn completions_load_in_bash_and_the_man_page_renders() {
    let script = run(pitwall().args(["completions", "bash"]));
    assert_eq!(script.code, 0, "{}", script.stderr);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pitwall.bash");
    std::fs::write(&file, &script.stdout).unwrap();
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p pitwall", file.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&loaded.stdout).contains("-F _pitwall pitwall"),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let man = run(pitwall().arg("man"));
    assert!(man.stdout.contains(".TH pitwall 1"), "{}", man.stdout);
    assert!(man.stdout.contains("deploy"), "subcommands are listed");
    let version = run(pitwall().arg("--version"));
    assert!(
        version.stdout.starts_with("pitwall 0.1.0 ("),
        "{}",
        version.stdout
    );
}
