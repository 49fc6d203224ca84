//! Exit codes: the one place they are defined, decided and explained.

use crate::checks::Outcome;
use crate::rollout::{Conclusion, Refused};

/// What pitwall's exit code says. The same numbers serve `deploy`,
/// `rollback`, `recover` and `check run`, with the meanings below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Released (or restored) and verified; a check passed.
    Ok,
    /// The release failed and was rolled back, and the previous release is
    /// verified; a check failed.
    RolledBack,
    /// The command line was wrong (clap exits with it).
    Usage,
    /// Failed and not recovered, or an unexpected error: a human is needed.
    /// A check was inconclusive or could not run.
    NeedsHuman,
    /// Refused before anything changed.
    Refused,
    /// Stopped at once by a second signal: the lock stays for `pitwall
    /// recover`.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::RolledBack => 1,
            Exit::Usage => 2,
            Exit::NeedsHuman => 3,
            Exit::Refused => 4,
            Exit::Interrupted => 130,
        }
    }

    /// How a deploy, rollback or recovery ended.
    pub fn of_conclusion(c: Conclusion) -> Exit {
        match c {
            Conclusion::Released => Exit::Ok,
            Conclusion::RolledBack => Exit::RolledBack,
            Conclusion::NotRecovered => Exit::NeedsHuman,
        }
    }

    /// `check run`'s verdict.
    pub fn of_verdict(o: Outcome) -> Exit {
        match o {
            Outcome::Pass => Exit::Ok,
            Outcome::Fail => Exit::RolledBack,
            Outcome::Inconclusive | Outcome::Error => Exit::NeedsHuman,
        }
    }

    /// `check test`: every case as expected, or not. A malformed case is
    /// a usage error.
    pub fn of_tests(all_as_expected: bool) -> Exit {
        if all_as_expected {
            Exit::Ok
        } else {
            Exit::RolledBack
        }
    }

    /// An error that ended a command: a refusal changed nothing; anything
    /// else may have, so a human should look.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<Refused>().is_some() {
            Exit::Refused
        } else {
            Exit::NeedsHuman
        }
    }

    /// What the code means after `deploy`, `rollback` and `recover`.
    fn rollout_meaning(self) -> &'static str {
        match self {
            Exit::Ok => "released (or restored) and verified",
            Exit::RolledBack => {
                "the release failed and was rolled back; the previous release is verified"
            }
            Exit::Usage => "usage error",
            Exit::NeedsHuman => {
                "failed and NOT recovered: the stack is not on a verified release, a human is needed"
            }
            Exit::Refused => {
                "refused before anything changed (bad input, lock held, image missing, check rejected its config, pre_deploy hook failed)"
            }
            Exit::Interrupted => {
                "stopped at once by a second SIGINT/SIGTERM (the first rolls back): run `pitwall recover`"
            }
        }
    }

    /// What the code means after `check run`.
    fn check_meaning(self) -> Option<&'static str> {
        match self {
            Exit::Ok => Some("pass"),
            Exit::RolledBack => Some("fail"),
            Exit::Usage => Some("usage error"),
            Exit::NeedsHuman => Some(
                "inconclusive, or the check could not run (trap, timeout, invalid config, unloadable plugin)",
            ),
            Exit::Refused | Exit::Interrupted => None,
        }
    }

    /// What the code means after `check test`.
    fn test_meaning(self) -> Option<&'static str> {
        match self {
            Exit::Ok => Some("every case got the verdict it expects"),
            Exit::RolledBack => Some("a case's verdict differs from what it expects (shown)"),
            Exit::Usage => Some("usage error, or a case file is malformed or missing"),
            Exit::NeedsHuman | Exit::Refused | Exit::Interrupted => None,
        }
    }

    /// `plan` (and `deploy --dry-run`): whether a deploy would change
    /// anything, as `diff` says it.
    pub fn of_plan(changes: bool) -> Exit {
        if changes { Exit::RolledBack } else { Exit::Ok }
    }

    /// What the code means after `plan`.
    fn plan_meaning(self) -> Option<&'static str> {
        match self {
            Exit::Ok => Some("nothing would change"),
            Exit::RolledBack => Some("something would change (shown)"),
            Exit::Usage => Some("usage error"),
            Exit::NeedsHuman => Some("an error: the plan could not be made"),
            Exit::Refused => Some("the deploy would be refused (the reason is shown)"),
            Exit::Interrupted => None,
        }
    }

    /// What the code means after `status`.
    fn status_meaning(self) -> Option<&'static str> {
        match self {
            Exit::Ok => Some(
                "the running containers are the current release (or Docker could not be asked: see `containers`)",
            ),
            Exit::Usage => Some("usage error"),
            Exit::NeedsHuman => Some(
                "DRIFT: the running containers are not the recorded release (named by service)",
            ),
            Exit::Refused => Some("the configuration or the state cannot be read"),
            Exit::RolledBack | Exit::Interrupted => None,
        }
    }

    /// What the code means after `validate`.
    fn validate_meaning(self) -> Option<&'static str> {
        match self {
            Exit::Ok => Some("valid (warnings allowed)"),
            Exit::Usage => Some("usage error"),
            Exit::Refused => Some("invalid: a deploy would be refused (every error is listed)"),
            Exit::RolledBack | Exit::NeedsHuman | Exit::Interrupted => None,
        }
    }

    const ALL: [Exit; 6] = [
        Exit::Ok,
        Exit::RolledBack,
        Exit::Usage,
        Exit::NeedsHuman,
        Exit::Refused,
        Exit::Interrupted,
    ];

    /// The `--help` table for `deploy`, `rollback` and `recover`.
    pub fn rollout_help() -> String {
        Self::table(|e| Some(e.rollout_meaning()))
    }

    /// The `--help` table for `check run`.
    pub fn check_help() -> String {
        Self::table(Exit::check_meaning)
    }

    /// The `--help` table for `check test`.
    pub fn test_help() -> String {
        Self::table(Exit::test_meaning)
    }

    /// The `--help` table for `plan` and `deploy --dry-run`.
    pub fn plan_help() -> String {
        Self::table(Exit::plan_meaning)
    }

    /// The `--help` table for `status`.
    pub fn status_help() -> String {
        Self::table(Exit::status_meaning)
    }

    /// The `--help` table for `validate`.
    pub fn validate_help() -> String {
        Self::table(Exit::validate_meaning)
    }

    fn table(meaning: impl Fn(Exit) -> Option<&'static str>) -> String {
        let mut out = String::from("Exit codes:");
        for e in Self::ALL {
            if let Some(m) = meaning(e) {
                out.push_str(&format!("\n  {}  {m}", e.code()));
            }
        }
        out
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_anywhere_in_the_chain_is_exit_4_and_other_errors_exit_3() {
        let refused = anyhow::Error::new(Refused::new("lock held")).context("deploy");
        assert_eq!(Exit::of_error(&refused), Exit::Refused);
        assert_eq!(
            Exit::of_error(&anyhow::anyhow!("disk full")),
            Exit::NeedsHuman
        );
    }

    #[test]
    fn help_tables_list_each_code_once_in_order() {
        let help = Exit::rollout_help();
        let codes: Vec<&str> = help
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(codes, ["0", "1", "2", "3", "4", "130"]);
        assert!(!Exit::check_help().contains("\n  4"));
    }
}
