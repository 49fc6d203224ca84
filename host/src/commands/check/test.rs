//! `pitwall check test`: runs test cases (see `checks::Case`) and compares
//! each verdict with the one expected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::checks::{Case, Io, Limits, Plugin, Run, Runtime, Verdict};
use crate::exit::Exit;
use crate::report;

/// Where cases are looked for when no path is given.
const DEFAULT_DIR: &str = "tests";

pub async fn test(
    runtime: &Runtime,
    paths: &[PathBuf],
    plugin_override: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let files = match case_files(paths) {
        Ok(files) => files,
        Err(e) => {
            report::warn(&format!("error: {e}"));
            return Ok(Exit::Usage.into());
        }
    };
    // Each plugin is loaded (and compiled) once for all its cases.
    let mut plugins: HashMap<String, Result<Plugin, String>> = HashMap::new();
    let (mut passed, mut failed) = (0, 0);
    let mut malformed = Vec::new();
    for file in &files {
        let case = match Case::read(file) {
            Ok(c) => c,
            Err(e) => {
                report::print(&format!("BAD  {e}\n"))?;
                malformed.push(file);
                continue;
            }
        };
        let Some(spec) = plugin_override.map(str::to_string).or(case.plugin.clone()) else {
            report::print(&format!(
                "BAD  {}: no plugin: add `plugin = \"path/to/check.wasm\"` or pass --plugin\n",
                file.display()
            ))?;
            malformed.push(file);
            continue;
        };
        let verdict = run(runtime, &mut plugins, &spec, &case).await;
        let mismatches = case.expect.mismatches(&verdict);
        if mismatches.is_empty() {
            passed += 1;
            report::print(&format!(
                "ok   {}  {}: {}\n",
                file.display(),
                verdict.outcome.as_str(),
                verdict.summary
            ))?;
        } else {
            failed += 1;
            let details: String = mismatches.iter().map(|m| format!("       {m}\n")).collect();
            let got = format!(
                "       got {}: {}\n",
                verdict.outcome.as_str(),
                verdict.summary
            );
            let evidence: String = verdict
                .evidence
                .iter()
                .map(|e| format!("       evidence {}: {}\n", e.label, e.value))
                .collect();
            report::print(&format!(
                "FAIL {}\n{details}{got}{evidence}",
                file.display()
            ))?;
        }
    }
    report::print(&format!(
        "\n{passed} passed, {failed} failed{}\n",
        if malformed.is_empty() {
            String::new()
        } else {
            format!(", {} malformed", malformed.len())
        }
    ))?;
    if !malformed.is_empty() {
        return Ok(Exit::Usage.into());
    }
    Ok(Exit::of_tests(failed == 0).into())
}

async fn run(
    runtime: &Runtime,
    plugins: &mut HashMap<String, Result<Plugin, String>>,
    spec: &str,
    case: &Case,
) -> Verdict {
    let limits = Limits::default();
    if !plugins.contains_key(spec) {
        let loaded = runtime.load_spec(spec, None).await;
        plugins.insert(spec.to_string(), loaded);
    }
    let plugin = match &plugins[spec] {
        Ok(p) => p,
        Err(e) => return Verdict::error(e.clone()),
    };
    if let Err(e) = runtime.validate(plugin, &case.config, limits).await {
        return Verdict::error(e);
    }
    runtime
        .run(
            plugin,
            Run {
                context: case.context.clone(),
                config: &case.config,
                grants: &case.grants,
                limits,
                io: Io::canned(case.recorded.clone(), case.canned.clone()),
            },
        )
        .await
}

/// The case files `paths` name: files as given, folders searched for
/// `.toml` files, in name order.
fn case_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let default = [PathBuf::from(DEFAULT_DIR)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files)?;
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!(
                "{} does not exist: give case files or folders of them (see `pitwall check test --help`)",
                path.display()
            ));
        }
    }
    if files.is_empty() {
        return Err(format!(
            "no test cases (*.toml) in {}: write one (see `pitwall check test --help`)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(files)
}

/// Folders that hold no cases: build output and vendored code (whose
/// Cargo.toml is TOML too).
const NOT_CASES: &[&str] = &["target", "vendor", "node_modules"];

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name
            .as_deref()
            .is_some_and(|n| n.starts_with('.') || NOT_CASES.contains(&n) || n == "Cargo.toml")
        {
            continue;
        }
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    Ok(())
}
