//! Log windows of any size, on the real engine: a service writes far more
//! than Docker keeps (its json-file log rotates at 2 MB × 2), and the
//! `log-5xx` watch check still counts every line of the window, because
//! the host followed the log into its spool from the start of the rollout.

mod common;

use common::busy::{BusyStack, Rotation};
use common::evidence;

#[test]
fn every_line_of_a_busy_window_is_scanned_though_docker_rotated_most_away() {
    // 150,000 lines (12.7 MB) over 6 s, one 503 in 1,000, while Docker
    // keeps 4 MB; the check may use 16 MiB. The burst starts 2 s after the
    // app, once the release is judged (from when it was verified), and ends
    // well before the 16 s soak does even when Docker drains it slowly
    // (16,000 lines/s seen on a loaded 2-core machine).
    let burst = "150000/6000/1000/2000";
    let stack = BusyStack::new("busylog", burst, Some(Rotation("2m", "2")), 16);
    let out = stack.deploy("16s");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let check = stack.log_check();
    assert_eq!(check["passed"], true, "{check}");
    let verdict = &check["verdict"];
    assert_eq!(evidence(verdict, "requests"), ["150000"], "{verdict}");
    assert_eq!(evidence(verdict, "5xx"), ["150"], "{verdict}");
    let kept = stack.docker_lines();
    assert!(
        kept < 75_000,
        "Docker rotated most of the burst away ({kept} lines left), yet none was missed"
    );
    // The spool is gone with the deploy; the state dir holds only state.
    assert!(!stack.state_dir().join("tmp").exists());
}
