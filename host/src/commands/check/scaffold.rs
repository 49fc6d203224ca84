//! `pitwall check wit` and `pitwall check new`: what a check's author needs,
//! carried by the binary — the contract, a project template per language and
//! the SDK at the version this binary speaks — so nothing is copied from the
//! pitwall repository.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use include_dir::{Dir, include_dir};

use crate::checks::{CONTRACT, CONTRACT_WIT, Contract};
use crate::cli::Lang;
use crate::exit::Exit;
use crate::report;

static RUST_TEMPLATE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../templates/rust");
static PYTHON_TEMPLATE: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../templates/python");
static RUST_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/rust");
static PYTHON_SDK: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/python/pitwall_check");

/// The contract's file name, inside the folder `-o` names.
const WIT_FILE: &str = "check.wit";

/// `check wit`: the contract on stdout, or written to DIR/check.wit.
pub fn wit(out: Option<&Path>, contract: Contract) -> anyhow::Result<ExitCode> {
    let Some(dir) = out else {
        report::print(contract.wit())?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(WIT_FILE);
    crate::fsutil::write_atomic(&path, contract.wit().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let package = contract.package();
    report::print(&format!("wrote {} ({package})\n", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// `check new`: a project that builds with one command and whose own tests
/// pass untouched. Written into a temporary sibling folder and renamed into
/// place, so a failure leaves nothing half-made.
pub fn new(name: &str, lang: Lang, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let target = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    let usage = match validate_name(name) {
        Err(e) => Some(e),
        Ok(()) if target.exists() => Some(format!(
            "{} already exists: give another NAME or --dir (pitwall never writes into an existing folder)",
            target.display()
        )),
        Ok(()) => None,
    };
    if let Some(e) = usage {
        report::warn(&format!("error: {e}"));
        return Ok(Exit::Usage.into());
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".pitwall-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a folder in {}", parent.display()))?;
    let vars = Vars {
        name: name.to_string(),
        module: name.replace('-', "_"),
    };
    let root = staging.path();
    match lang {
        Lang::Rust => {
            write_tree(&RUST_TEMPLATE, root, Some(&vars))?;
            write_tree(&RUST_SDK, &root.join("vendor/pitwall-check"), None)?;
        }
        Lang::Python => {
            write_tree(&PYTHON_TEMPLATE, root, Some(&vars))?;
            write_tree(&PYTHON_SDK, &root.join("pitwall_check"), None)?;
            write_file(&root.join("wit").join(WIT_FILE), CONTRACT_WIT.as_bytes())?;
        }
    }
    // Renamed before `keep`: a failed rename leaves the staging folder to
    // be removed on drop.
    std::fs::rename(staging.path(), &target)
        .with_context(|| format!("cannot create {}", target.display()))?;
    let _ = staging.keep();
    report::print(&next_steps(&target, lang, &vars))?;
    Ok(ExitCode::SUCCESS)
}

/// Names Cargo refuses as a package name, or Rust as a crate name.
const RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc-macro",
    "self",
    "super",
    "crate",
    "fn",
    "mod",
    "use",
    "type",
    "struct",
    "enum",
    "impl",
    "trait",
    "let",
    "match",
    "loop",
    "move",
    "ref",
    "static",
    "async",
    "await",
    "dyn",
    "box",
    "pitwall-check",
    "build",
];

/// Check names become crate, module and file names: lowercase kebab-case.
fn validate_name(name: &str) -> Result<(), String> {
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is reserved by Rust or Cargo: pick another name (e.g. {name}-check)"
        ));
    }
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(format!(
            "`{name}` is not a check name: use 1-64 lowercase letters, digits and single dashes, \
             starting with a letter (e.g. db-health)"
        ));
    }
    Ok(())
}

struct Vars {
    name: String,
    module: String,
}

impl Vars {
    fn fill(&self, text: &str) -> String {
        text.replace("{{name}}", &self.name)
            .replace("{{module}}", &self.module)
    }
}

/// Writes `dir` under `to`, filling placeholders in names and text when
/// `vars` is given. Build leftovers in the source tree are skipped.
fn write_tree(dir: &Dir<'_>, to: &Path, vars: Option<&Vars>) -> anyhow::Result<()> {
    for file in dir.files() {
        let path = file.path();
        if is_leftover(path) {
            continue;
        }
        let relative = path.to_string_lossy();
        let (relative, contents) = match vars {
            Some(v) => (
                v.fill(&relative),
                match file.contents_utf8() {
                    Some(text) => v.fill(text).into_bytes(),
                    None => file.contents().to_vec(),
                },
            ),
            None => (relative.into_owned(), file.contents().to_vec()),
        };
        write_file(&to.join(relative), &contents)?;
    }
    for sub in dir.dirs() {
        if !is_leftover(sub.path()) {
            write_tree(sub, to, vars)?;
        }
    }
    Ok(())
}

fn is_leftover(path: &Path) -> bool {
    path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c == "__pycache__" || c == "target" || c.ends_with(".pyc") || c.ends_with(".wasm")
    })
}

fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "sh") {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

fn next_steps(dir: &Path, lang: Lang, vars: &Vars) -> String {
    let dir = dir.display();
    let steps = match lang {
        Lang::Rust => format!(
            "  rustup target add wasm32-wasip2                 # once\n  \
             cargo test                                      # the decision logic, natively\n  \
             cargo build --release --target wasm32-wasip2\n  \
             pitwall check test                              # tests/*.toml against the component\n  \
             pitwall check inspect target/wasm32-wasip2/release/{}.wasm\n",
            vars.module
        ),
        Lang::Python => format!(
            "  python3 -m unittest                             # the decision logic, under CPython\n  \
             ./build.sh                                      # the component: {}.wasm (installs componentize-py if missing)\n  \
             pitwall check test                              # tests/*.toml against the component\n  \
             pitwall check inspect {}.wasm\n",
            vars.name, vars.name
        ),
    };
    format!(
        "created {dir} ({} check `{}`, {CONTRACT})\n\nnext:\n  cd {dir}\n{steps}",
        match lang {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
        },
        vars.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case() {
        for good in ["db-health", "a", "x1-y2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Db",
            "1db",
            "db-",
            "db--x",
            "db_health",
            "../x",
            "db health",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
