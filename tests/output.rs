//! What `lockrig run` prints, and what happens when nobody reads it: a closed stdout
//! (`| head`) loses no result, JSON progress is only JSON, and the help is lockrig's.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{all_cases, junit, lockrig, results, run, run_dir, text, validate_schema};

#[test]
fn a_closed_stdout_neither_stops_the_run_nor_loses_a_result() {
    let out = tempfile::tempdir().unwrap();
    let mut child = lockrig()
        .args(["run", "--sim-defect", "ignores-fire-alarm", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read like `head -3`, then go away while the run is still going.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    drop(lines);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // The documented exit code for a device failure, not a panic's 101.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!stderr.contains("panicked"), "{stderr}");
    let dir = run_dir(out.path());
    // The summary a person needs went to stderr, since stdout had no reader.
    assert!(
        stderr.contains(&format!("reports in {}", dir.display())),
        "{stderr}"
    );
    let listed = run(&["list"]);
    let expected = String::from_utf8_lossy(&listed.stdout).lines().count();
    let recorded = results(&dir);
    assert_eq!(recorded.len(), expected, "every trial ran and was recorded");
    assert!(recorded.iter().any(|r| r["outcome"]["verdict"] == "fail"));
    let report = junit(&dir.join("junit.xml"));
    validate_schema(&dir.join("junit.xml"));
    let tests: u64 = report.suites.iter().map(|s| s.tests).sum();
    assert_eq!(tests as usize, expected);
}

#[test]
fn list_into_a_closed_pipe_exits_cleanly() {
    let mut child = lockrig()
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    drop(lines);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
}

#[test]
fn json_progress_keeps_stdout_to_json_lines() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
        "emergency",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}`")))
        .collect();
    let passed = events
        .iter()
        .filter(|e| e["type"] == "test" && e["event"] == "ok")
        .count();
    assert_eq!(passed, results(&run_dir(out.path())).len());
    assert!(passed > 0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("reports in"));

    // The listing too.
    let o = run(&["run", "--list", "--format", "json", "emergency"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let e: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: `{l}`"));
        assert_eq!(e["event"], "discovered");
    }
}

#[test]
fn run_help_is_lockrigs_and_offers_only_what_a_bench_honours() {
    let o = run(&["run", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Usage: lockrig run"), "{help}");
    assert!(help.contains("Exit codes:"), "{help}");
    for gone in [
        "--bench",
        "--nocapture",
        "--logfile",
        "-Z",
        "--show-output",
        "--test-threads",
    ] {
        assert!(!help.contains(gone), "{gone} in:\n{help}");
    }
    for flag in ["--bench", "--nocapture", "--logfile"] {
        let o = run(&["run", flag]);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o));
    }
    let o = run(&["run", "--test-threads", "4"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("one at a time"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_device_given_twice_is_two_boards_with_their_own_names() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--device",
        "maglock_12v",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = run_dir(out.path());
    let report = junit(&dir.join("junit.xml"));
    let names: Vec<String> = all_cases(&report)
        .into_iter()
        .map(|c| c.original_name)
        .collect();
    assert_eq!(
        names,
        [
            "power_loss::fail_safe_releases::maglock_12v",
            "power_loss::fail_safe_releases::maglock_12v#2"
        ]
    );
    let suites: Vec<&str> = report.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        suites,
        [
            "lockrig.certification.maglock_12v",
            "lockrig.certification.maglock_12v#2"
        ]
    );
}
