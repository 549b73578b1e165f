//! Instrument faults injected by the simulator: each is reported as a rig error
//! naming the instrument (exit 3), never as a pass, with valid reports and no hang;
//! a rig whose safe state cannot be confirmed is not touched again until checked.

mod common;

use common::{
    all_cases, fixture_variant, junit, lockrig, run_dir as only_dir, text, validate_schema,
};
use std::time::{Duration, Instant};

/// (fault, instrument named in the error, trials that must end in a rig error). The
/// run covers one fail-secure trial (supply, relays, inputs, console) and one fail-safe
/// trial (supply, relays, inputs, meter).
const FAULTS: &[(&str, &str, &[&str])] = &[
    (
        "psu:silent@3",
        "psu",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "psu:garbage@3",
        "psu",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "psu:delay@3",
        "psu",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "psu:drop@3",
        "psu",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "psu:silent@25",
        "psu",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "relays:silent@2",
        "relays",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "relays:garbage@2",
        "relays",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "relays:drop@2",
        "relays",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "gpio:silent@5",
        "gpio",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "gpio:garbage@5",
        "gpio",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "gpio:delay@5",
        "gpio",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "gpio:drop@5",
        "gpio",
        &[
            "power_loss::fail_secure_holds::smartlock_4aa",
            "power_loss::fail_safe_releases::maglock_12v",
        ],
    ),
    (
        "console:garbage",
        "board",
        &["power_loss::fail_secure_holds::smartlock_4aa"],
    ),
    (
        "console:drop",
        "board",
        &["power_loss::fail_secure_holds::smartlock_4aa"],
    ),
    (
        "console:garbage@1",
        "board",
        &["power_loss::fail_secure_holds::smartlock_4aa"],
    ),
    (
        "console:drop@1",
        "board",
        &["power_loss::fail_secure_holds::smartlock_4aa"],
    ),
    (
        "meter:nack@1",
        "meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    (
        "meter:nack@0",
        "meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    // The INA219's I2CDriver adapter itself: silent, garbled or unplugged, at open
    // (its echo and status) or in mid-measurement.
    (
        "meter:silent@1",
        "meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    (
        "meter:garbage@30",
        "meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    (
        "meter:drop@40",
        "meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
];

/// The run every fault is injected into.
const TRIALS: &[&str] = &[
    "--device",
    "smartlock_4aa",
    "--device",
    "maglock_12v",
    "power_loss::",
];

#[test]
fn every_injected_fault_is_a_rig_error_naming_the_instrument() {
    std::thread::scope(|scope| {
        for &(fault, instrument, affected) in FAULTS {
            scope.spawn(move || {
                let out = tempfile::tempdir().unwrap();
                let start = Instant::now();
                let o = lockrig()
                    .args([
                        "run",
                        "--sim-fault",
                        fault,
                        "--out",
                        out.path().to_str().unwrap(),
                    ])
                    .args(TRIALS)
                    .output()
                    .unwrap();
                let took = start.elapsed();
                assert_eq!(o.status.code(), Some(3), "{fault}: {}", text(&o));
                assert!(took < Duration::from_secs(20), "{fault}: took {took:?}");
                let dir = only_dir(out.path());
                validate_schema(&dir.join("junit.xml"));
                let cases = all_cases(&junit(&dir.join("junit.xml")));
                for name in affected {
                    let case = cases.iter().find(|c| c.original_name == *name).unwrap();
                    assert!(
                        case.status.is_error(),
                        "{fault}: {name} must be a rig error: {:?}",
                        case.status
                    );
                    let msg = &case.status.error_as_ref().message;
                    assert!(
                        msg.contains(&format!("instrument `{instrument}`"))
                            || msg.contains("rig unhealthy"),
                        "{fault}: {name}: {msg}"
                    );
                }
                let first = cases
                    .iter()
                    .find(|c| c.original_name == affected[0])
                    .unwrap();
                assert!(
                    first
                        .status
                        .error_as_ref()
                        .message
                        .contains(&format!("instrument `{instrument}`")),
                    "{fault}: the first affected trial names the instrument"
                );
                // results.jsonl agrees, line by line.
                let results = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
                for line in results.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    if affected.contains(&v["trial"].as_str().unwrap()) {
                        assert_eq!(v["outcome"]["verdict"], "error", "{fault}: {line}");
                    }
                }
            });
        }
    });
}

#[test]
fn a_silent_console_is_a_board_that_does_not_answer_never_a_pass() {
    let out = tempfile::tempdir().unwrap();
    let o = lockrig()
        .args([
            "run",
            "--sim-fault",
            "console:silent",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .args(TRIALS)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = only_dir(out.path());
    let cases = all_cases(&junit(&dir.join("junit.xml")));
    let case = cases
        .iter()
        .find(|c| c.original_name == "power_loss::fail_secure_holds::smartlock_4aa")
        .unwrap();
    let msg = &case.status.failure_as_ref().message;
    assert!(msg.contains("expected console ready within"), "{msg}");
    assert!(msg.contains("no answer"), "{msg}");
}

#[test]
fn a_rig_left_unsafe_is_not_touched_again_in_the_run() {
    let out = tempfile::tempdir().unwrap();
    let o = lockrig()
        .args([
            "run",
            "--sim-fault",
            "psu:silent@25",
            "--repeat",
            "3",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .args(TRIALS)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let dir = only_dir(out.path());
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    let first = &suite.cases[0];
    assert!(first
        .status
        .error_as_ref()
        .message
        .contains("safe state not confirmed"));
    for case in &suite.cases[1..] {
        let msg = &case.status.error_as_ref().message;
        assert!(
            msg.contains("rig unhealthy") && msg.contains("not touched"),
            "{msg}"
        );
    }
    // The simulator saw only the first trial's bench: nothing touched the rig after it.
    let log = std::fs::read_to_string(dir.join("sim-outputs.log")).unwrap();
    let benches: std::collections::BTreeSet<_> = log
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(benches.len(), 1, "{log}");
}

#[test]
fn suite_policy_abort_skips_the_rest_after_a_rig_error() {
    let dir = tempfile::tempdir().unwrap();
    let suite = fixture_variant(
        dir.path(),
        "abort.toml",
        "fixtures/suites/certification.toml",
        &[(
            "\ndescription =",
            "\non_rig_error = \"abort\"\ndescription =",
        )],
    );
    let out = dir.path().join("out");
    let o = lockrig()
        .args([
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--sim-fault",
            "console:garbage",
            "--out",
            out.to_str().unwrap(),
            "power_loss::fail_secure",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let cases = all_cases(&junit(&only_dir(&out).join("junit.xml")));
    assert!(cases[0].status.is_error());
    assert!(cases[1].status.is_skipped(), "{:?}", cases[1].status);
    assert!(cases[1]
        .status
        .skipped_as_ref()
        .message
        .contains("aborts after a rig error"));
}
