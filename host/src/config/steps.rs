//! `[traffic] steps`: how a blue-green release's promotion is spread over
//! time (a canary). Each step is parsed once, here, from the words an
//! operator writes: `"10%"`, `"wait 2m"`, `"pause"`.

use std::time::Duration;

/// One step of a canary promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This share of users (1 to 100 %) reaches the new release; the rest
    /// stay on the previous one. `100%` is the promotion.
    Weight(u8),
    /// The watch checks judge the release, at its current share, this long.
    Wait(Duration),
    /// Waits for `pitwall promote` or `pitwall abort`.
    Pause,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Weight(p) => write!(f, "{p}%"),
            Step::Wait(d) => write!(f, "wait {}", humantime::format_duration(*d)),
            Step::Pause => f.write_str("pause"),
        }
    }
}

/// Parses `steps`; the problem with the first bad one (its index and what
/// was expected) otherwise. Shares must rise, and the last one must be
/// `100%` (users are all moved, or the release is aborted).
pub fn parse(steps: &[String]) -> Result<Vec<Step>, String> {
    let mut out = Vec::new();
    let mut share = 0u8;
    for (i, text) in steps.iter().enumerate() {
        let step = parse_one(text.trim()).map_err(|why| format!("steps[{i}] = {text:?}: {why}"))?;
        if let Step::Weight(p) = step {
            if p <= share {
                return Err(format!(
                    "steps[{i}] = {text:?}: shares must rise (the step before gave {share}%)"
                ));
            }
            share = p;
        }
        out.push(step);
    }
    if !out.is_empty() && share != 100 {
        return Err(format!(
            "steps end at {share}%: end them with \"100%\" (the promotion); `pitwall abort` \
             is how a release is stopped part-way"
        ));
    }
    Ok(out)
}

fn parse_one(text: &str) -> Result<Step, String> {
    if text == "pause" {
        return Ok(Step::Pause);
    }
    if let Some(p) = text.strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(p @ 1..=100) => Ok(Step::Weight(p)),
            _ => Err("a share is 1% to 100%".into()),
        };
    }
    if let Some(d) = text.strip_prefix("wait ") {
        return humantime::parse_duration(d.trim())
            .map(Step::Wait)
            .map_err(|e| format!("{e} (e.g. \"wait 2m\")"));
    }
    Err("expected \"N%\", \"wait DURATION\" or \"pause\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn steps_are_read_as_written() {
        let steps = parse(&strings(&[
            "10%", "wait 2m", "pause", "50%", "wait 30s", "100%",
        ]))
        .unwrap();
        assert_eq!(
            steps,
            [
                Step::Weight(10),
                Step::Wait(Duration::from_secs(120)),
                Step::Pause,
                Step::Weight(50),
                Step::Wait(Duration::from_secs(30)),
                Step::Weight(100),
            ]
        );
        assert_eq!(steps[1].to_string(), "wait 2m");
        assert_eq!(parse(&[]).unwrap(), []);
    }

    #[test]
    fn a_bad_step_is_named_with_what_was_expected() {
        let why = parse(&strings(&["10%", "wait forever", "100%"])).unwrap_err();
        assert!(why.starts_with("steps[1] = \"wait forever\""), "{why}");
        let why = parse(&strings(&["50%", "10%", "100%"])).unwrap_err();
        assert!(why.contains("shares must rise"), "{why}");
        let why = parse(&strings(&["10%", "wait 1m"])).unwrap_err();
        assert!(why.contains("end them with \"100%\""), "{why}");
        let why = parse(&strings(&["150%"])).unwrap_err();
        assert!(why.contains("1% to 100%"), "{why}");
        let why = parse(&strings(&["soon"])).unwrap_err();
        assert!(why.contains("expected"), "{why}");
    }
}
