//! `pitwall validate` through the binary, with Docker unreachable and no
//! secrets: the reference stack is valid, and each kind of mistake an
//! operator makes is reported at its file, line and setting, all at once,
//! with exit 4 — never by echoing the env file's values.

mod common;

use std::path::{Path, PathBuf};

use common::{Output, assert_schema, root, run, run_json};

/// A stack folder: the reference compose file and configuration, edited.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new(edit: impl Fn(String) -> String) -> Folder {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(root().join("deploy/pitwall.toml")).unwrap();
        std::fs::write(dir.path().join("pitwall.toml"), edit(text)).unwrap();
        std::fs::copy(
            root().join("deploy/compose.production.yml"),
            dir.path().join("compose.production.yml"),
        )
        .unwrap();
        Folder { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn validate(&self) -> Output {
        run(&mut self.command())
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = common::pitwall();
        cmd.args(["validate", "--config"])
            .arg(self.path("pitwall.toml"))
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env_remove("PITWALL_STATE_DIR")
            .env_remove("PITWALL_PROJECT");
        cmd
    }
}

fn line_of(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn the_reference_stack_is_valid_without_docker_or_its_env_file() {
    let out = run(common::pitwall()
        .current_dir(root())
        .arg("validate")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("4 of 4 checks loaded"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("config`"),
        "the compose tool parsed the file: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains(".env.production.example"),
        "without the env file, its example's keys are checked: {}",
        out.stdout
    );
}

#[test]
fn a_missing_env_file_points_at_this_stacks_own_example() {
    let folder = Folder::new(|t| t.replace("\".env.production\"", "\"app.env\""));
    let out = folder.validate();
    let said = format!("{}{}", out.stdout, out.stderr);
    let env = folder.path("app.env");
    assert!(
        said.contains(&format!(
            "the env file {} does not exist (and there is no {}.example to start from)",
            env.display(),
            env.display()
        )),
        "{said}"
    );
    assert!(!said.contains("deploy/.env.production.example"), "{said}");
    folder.write("app.env.example", "FRONTEND_PORT=8080\n");
    let out = folder.validate();
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains(&format!("create it from {}.example", env.display())),
        "{said}"
    );
}

/// A variable of the process environment that is not UTF-8 (a locale's
/// path, a binary token) is no reason to fail, let alone to panic.
#[test]
fn a_process_environment_that_is_not_utf8_is_no_error() {
    use std::os::unix::ffi::OsStrExt;
    let out = run(common::pitwall()
        .current_dir(root())
        .arg("validate")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PITWALL_TEST_RAW", std::ffi::OsStr::from_bytes(b"caf\xe9")));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("4 of 4 checks loaded"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_misspelt_key_is_named_with_its_path_and_line() {
    let folder = Folder::new(|t| t.replacen("failure_limit = 1", "failure_limt = 1", 1));
    let out = folder.validate();
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    let line = line_of(&folder.path("pitwall.toml"), "failure_limt");
    assert!(
        out.stdout.contains(&format!(
            "pitwall.toml:{line}: checks[3].failure_limt: unknown field `failure_limt`"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("expected one of"), "{}", out.stdout);
}

#[test]
fn every_mistake_is_listed_at_once() {
    let folder = Folder::new(|t| {
        t.replace("builtin:log-5xx", "builtin:log5xx")
            .replace(
                "allow_http = [\"http://127.0.0.1:${FRONTEND_PORT:-8080}/api/auth/\"]",
                "allow_http = [\"http://127.0.0.1:9/\"]",
            )
            .replace("[stack.services.frontend]", "[stack.services.web]")
            .replace("successes = 2", "successes = 0")
    });
    let secret = "hunter2-never-shown";
    folder.write(
        ".env.production",
        &format!("SECRET_KEY={secret}\nDATABSE_URL={secret}\nFRONTEND_PORT=8080\n"),
    );
    let (code, report) = run_json(&mut folder.command());
    assert_eq!(code, 4, "{report}");
    assert_schema("validate", &report);
    assert_eq!(report["valid"], false);
    let findings = report["findings"].as_array().unwrap();
    let find = |setting: &str| {
        findings
            .iter()
            .find(|f| f["setting"] == setting)
            .unwrap_or_else(|| panic!("no finding for {setting}: {report:#}"))
    };
    let config = folder.path("pitwall.toml");

    let plugin = find("checks[3].plugin");
    assert!(
        plugin["message"]
            .as_str()
            .unwrap()
            .contains("builtin:log-5xx"),
        "{plugin}"
    );
    assert_eq!(plugin["line"], line_of(&config, "builtin:log5xx"));

    // The grant does not cover the check's own URL: a deploy would fail the
    // release for it, so it is an error here.
    let url = find("checks[2].config.steps[0].url");
    assert_eq!(url["severity"], "error");
    assert!(
        url["message"].as_str().unwrap().contains("allow_http"),
        "{url}"
    );

    let service = find("stack.services.web");
    assert!(
        service["message"]
            .as_str()
            .unwrap()
            .contains("not a service of"),
        "{service}"
    );
    assert_eq!(service["line"], line_of(&config, "[stack.services.web]"));
    assert_eq!(find("checks[0].successes")["severity"], "error");
    assert!(
        find("checks[3].allow_logs")["message"]
            .as_str()
            .unwrap()
            .contains("`frontend`"),
        "{report}"
    );

    // The env file's unused key is named; its value never appears.
    let typo = findings
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("DATABSE_URL"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(typo["severity"], "warning");
    assert!(!report.to_string().contains(secret), "{report}");
}

#[test]
fn the_compose_files_variables_are_checked_against_the_env_files_keys() {
    let folder = Folder::new(|t| t);
    let compose = std::fs::read_to_string(folder.path("compose.production.yml"))
        .unwrap()
        .replace(
            "SECRET_KEY: ${SECRET_KEY:-}",
            "SECRET_KEY: ${SECRET_KEY}\n      DB_PASSWORD: ${DB_PASSWORD:?set it}",
        );
    folder.write("compose.production.yml", &compose);
    folder.write(".env.production", "SECRET_KEY=x\n");
    let out = folder.validate();
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    let line = line_of(&folder.path("compose.production.yml"), "${DB_PASSWORD");
    assert!(
        out.stdout.contains(&format!(
            "compose.production.yml:{line}: the compose file uses $DB_PASSWORD without a default"
        )),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("$SECRET_KEY without"),
        "it is set: {}",
        out.stdout
    );

    // A service pitwall deploys must take its image from its variable.
    let compose = compose.replace("${FRONTEND_IMAGE:?pitwall sets FRONTEND_IMAGE}", "nginx:1");
    folder.write("compose.production.yml", &compose);
    folder.write(".env.production", "SECRET_KEY=x\nDB_PASSWORD=y\n");
    let out = folder.validate();
    assert_eq!(out.code, 4, "{}", out.stdout);
    assert!(
        out.stdout.contains("never uses ${FRONTEND_IMAGE}"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unreadable_configuration_is_one_clear_error() {
    let folder = Folder::new(|t| t.replace("[[checks]]\nname = \"health\"\n", "[[checks]]\n"));
    let out = folder.validate();
    assert_eq!(out.code, 4, "{}", out.stdout);
    assert!(
        out.stdout.contains("checks[0]: missing field `name`"),
        "{}",
        out.stdout
    );
    let out = run(common::pitwall().args(["validate", "--config", "/nonexistent/pitwall.toml"]));
    assert_eq!(out.code, 4);
    assert!(out.stdout.contains("pass --config PATH"), "{}", out.stdout);
}

/// A value interpolated into a setting of the wrong type makes the
/// configuration unreadable, and the parser's error quotes it. Whichever
/// command reads the configuration, the value is not shown.
#[test]
fn an_env_value_quoted_by_a_configuration_error_is_not_shown() {
    // A quote and a backslash: the parser's error shows them escaped.
    let secret = r#"hunter2"typed\into-a-number"#;
    let folder = Folder::new(|t| t.replacen("successes = 1 ", "successes = \"${APP_KEY}\" ", 1));
    folder.write(".env.production", &format!("APP_KEY='{secret}'\n"));
    let config = folder.path("pitwall.toml");
    let shown = |out: &Output| format!("{}{}", out.stdout, out.stderr);

    let text = folder.validate();
    assert_eq!(text.code, 4, "{}", shown(&text));
    assert!(
        text.stdout
            .contains("defaults.successes: invalid type: string \"***\""),
        "{}",
        shown(&text)
    );
    let (code, json) = run_json(&mut folder.command());
    assert_eq!(code, 4, "{json}");
    let mut outputs = vec![shown(&text), json.to_string()];
    for args in [
        &["status"][..],
        &["history"],
        &["deploy", "--image", "api=shop/api:1", "--release-id", "r1"],
        &["rollback"],
    ] {
        let out = run(common::pitwall()
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
        assert_eq!(out.code, 4, "{args:?}: {}", shown(&out));
        assert!(
            out.stderr.contains("defaults.successes"),
            "{args:?}: {}",
            shown(&out)
        );
        outputs.push(shown(&out));
    }
    for out in outputs {
        assert!(!out.contains("hunter2"), "the env value was shown:\n{out}");
    }
    // A CI secret in the process environment overrides the file's entry,
    // and is as secret.
    let ci = run(folder.command().env("APP_KEY", "s3cret-from-ci"));
    assert_eq!(ci.code, 4, "{}", shown(&ci));
    assert!(ci.stdout.contains("string \"***\""), "{}", shown(&ci));
    assert!(!shown(&ci).contains("s3cret"), "{}", shown(&ci));
    // So is one that only the process environment gives.
    let bare = Folder::new(|t| t.replacen("successes = 1 ", "successes = \"${CI_ONLY_KEY}\" ", 1));
    let ci = run(bare.command().env("CI_ONLY_KEY", "s3cret-only-in-ci"));
    assert_eq!(ci.code, 4, "{}", shown(&ci));
    assert!(ci.stdout.contains("string \"***\""), "{}", shown(&ci));
    assert!(!shown(&ci).contains("s3cret"), "{}", shown(&ci));
}

#[test]
fn blue_green_mistakes_are_named_before_any_deploy() {
    // Blue-green without [traffic] or a port, and on the swarm engine.
    let folder = Folder::new(|t| {
        t.replace(
            "key = \"BACKEND\"",
            "key = \"BACKEND\"\nswitch = \"blue-green\"",
        )
        .replace("[stack]", "[stack]\nengine = \"swarm\"")
    });
    let (code, report) = run_json(&mut folder.command());
    assert_eq!(code, 4, "{report}");
    let messages: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["setting"]
                .as_str()
                .is_some_and(|s| s.starts_with("stack.services.api"))
        })
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    for wanted in [
        "`blue-green` is for the compose engine",
        "needs a [traffic] section",
        "`blue-green` needs `port`",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(wanted)),
            "no `{wanted}` in {messages:#?}"
        );
    }

    // A canary's steps that do not end with 100% stop the configuration at load.
    let folder = Folder::new(|t| {
        t.replace(
            "key = \"BACKEND\"",
            "key = \"BACKEND\"\nswitch = \"blue-green\"\nport = 8000",
        ) + "\n[traffic]\nproxy = \"frontend\"\nadmin_socket = \"run/admin.sock\"\npreview_port = 8081\nsteps = [\"10%\", \"wait 1m\"]\n"
    });
    let out = folder.validate();
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("traffic.steps end at 10%"), "{said}");
}
