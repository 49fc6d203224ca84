//! `pitwall completions SHELL` and `pitwall man`: generated from the
//! argument definitions, so they never drift from `--help`.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pitwall", &mut out);
    crate::report::print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    crate::report::print(&String::from_utf8_lossy(&out))?;
    Ok(ExitCode::SUCCESS)
}
