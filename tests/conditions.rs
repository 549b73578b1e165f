//! Watches across channels (`watch ... while main below V [for T]`), run as a lab
//! engineer would: a suite file of their own, the built-in simulated rig, the verdicts
//! and the numbers in `results.jsonl`.

mod common;

use std::path::Path;

use common::{results, run, run_dir, text, write_check};

/// Writes a one-check suite with `steps` and runs it on `device`.
fn run_check(
    dir: &Path,
    name: &str,
    device: &str,
    steps: &[&str],
    extra: &[&str],
) -> (std::process::Output, Vec<serde_json::Value>) {
    let suite = write_check(dir, name, steps);
    let out = dir.join(format!("out-{name}"));
    let mut args = vec![
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--device",
        device,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = run(&args);
    let r = if out.exists() {
        results(&run_dir(&out))
    } else {
        Vec::new()
    };
    (o, r)
}

/// The verdict texts of the measurements whose expectation mentions `what`.
fn measured(results: &[serde_json::Value], what: &str) -> Vec<String> {
    results
        .iter()
        .flat_map(|r| {
            r["outcome"]["measurements"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m["expected"].as_str().unwrap_or("").contains(what))
        .map(|m| m["measured"].as_str().unwrap().to_string())
        .collect()
}

/// A smart lock that unlocks on a credential at full battery, then is run below its
/// cutoff: the unlock at full battery is outside the watch's condition.
const CUTOFF: &[&str] = &[
    "output main off",
    "wait power_loss_hold",
    "set main nominal limit current_limit",
    "output main on",
    "expect console ready within ready_within",
    "wait actuation_within",
    "expect latch_sensor engaged",
    "watch console never UNLOCKED while main below battery_cutoff - battery_tolerance",
    "send console UNLOCK $credential expecting OK",
    "expect latch_sensor released within actuation_within",
    "expect latch_sensor engaged within relock_within",
    "ramp main to battery_cutoff - 0.3V over 20s",
    "wait 30s",
    "expect latch_sensor engaged",
    // Fresh cells, and the board answers: its link was alive for the watch.
    "set main nominal",
    "expect console ready within ready_within",
    "expect console locked",
];

#[test]
fn an_event_outside_the_condition_is_counted_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_check(dir.path(), "cutoff", "smartlock_4aa", CUTOFF, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = measured(&r, "no UNLOCKED event while main below");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("none while main below 4.1V"), "{}", m[0]);
    assert!(m[0].contains("1 came while it did not hold"), "{}", m[0]);
    // It held for the ramp's last part and the 30 s after it, by the meter.
    assert!(m[0].contains("by the meter"), "{}", m[0]);
}

#[test]
fn an_event_while_the_condition_held_fails_with_the_meter_readings() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_check(
        dir.path(),
        "cutoff",
        "smartlock_4aa",
        CUTOFF,
        &["--sim-defect", "unlocks-after-cutoff"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = measured(&r, "no UNLOCKED event while main below");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("EVT UNLOCKED"), "{}", m[0]);
    assert!(m[0].contains("while main below 4.1V (at "), "{}", m[0]);
    assert!(m[0].contains("the meter read"), "{}", m[0]);
}

#[test]
fn a_watch_whose_condition_never_held_asserted_nothing_and_is_a_rig_error() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = run_check(
        dir.path(),
        "vacuous",
        "maglock_12v",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "wait ready_within",
            "expect latch_sensor engaged",
            "watch latch_sensor released while main below 1V",
            "wait 2s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("asserted nothing: main below 1V never held while it ran"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_condition_needs_a_supply_role_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = run_check(
        dir.path(),
        "badrole",
        "maglock_12v",
        &[
            "watch latch_sensor engaged while door_push above 1V",
            "wait 1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    // Pointed at the offending word: line 9, column 37 is `door_push`.
    assert!(t.contains("badrole.toml:9:37:"), "{t}");
    assert!(
        t.contains("`while` needs a supply role (the meter on its line decides), but `door_push` is a switch role"),
        "{t}"
    );
    let (o, _) = run_check(
        dir.path(),
        "badword",
        "maglock_12v",
        &[
            "watch latch_sensor engaged while main beneath 1V",
            "wait 1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("expected `above` or `below`, found `beneath`"),
        "{}",
        text(&o)
    );
}

/// A 40 ms unlatch at every reboot, between two samples of a 100 ms poll: the edge
/// input's timestamps place it, and the meter's readings around them put it inside
/// the condition.
#[test]
fn a_glitch_between_samples_is_judged_by_the_edge_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        "output main off",
        "wait power_loss_hold",
        "set main nominal limit current_limit",
        "output main on",
        "expect console ready within ready_within",
        "wait actuation_within",
        "expect latch_sensor engaged",
        "watch latch_sensor engaged while main above min_operating",
        "sag main to reset_below * 0.5 for 3s recover ready_within + actuation_within",
    ];
    let args = ["--rig", "rigs/sim-gpio.toml", "--poll", "100ms"];
    let (o, r) = run_check(dir.path(), "glitch", "smartlock_4aa", &steps, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = measured(&r, "engaged whenever main above");
    assert!(
        m[0].contains("edges of a timestamped edge input"),
        "{}",
        m[0]
    );
    let mut with = args.to_vec();
    with.extend(["--sim-defect", "brief-unlatch-on-recovery"]);
    let (o, r) = run_check(dir.path(), "glitch2", "smartlock_4aa", &steps, &with);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = measured(&r, "engaged whenever main above");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("released at"), "{}", m[0]);
    assert!(m[0].contains("by the input's timestamped edge"), "{}", m[0]);
    assert!(m[0].contains("main above 4.4V held at"), "{}", m[0]);
}

/// The line is read from the check's first step, so a watch's first settling time is
/// judged from what the line did before the watch began: a release 200 ms into it,
/// with the supply steady for seconds before, fails.
#[test]
fn a_watch_judges_its_first_settling_time_from_the_line_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_check(
        dir.path(),
        "early",
        "maglock_12v",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "wait 5s",
            "expect latch_sensor engaged",
            "watch latch_sensor engaged while main above min_operating for relock_within",
            "wait 200ms",
            "pulse egress_handle for 300ms",
            "wait 1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = measured(&r, "engaged whenever main above");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("released at"), "{}", m[0]);
    assert!(m[0].contains("before the watch"), "{}", m[0]);
}

/// A second watch on a role after the first ended is judged by readings taken
/// throughout, not by the last reading before a gap.
#[test]
fn a_later_watch_is_not_bracketed_by_readings_from_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_check(
        dir.path(),
        "again",
        "maglock_12v",
        &[
            "output main off",
            "wait 5s",
            "expect latch_sensor released",
            "watch latch_sensor released while main below 1V for release_within",
            "wait 3s",
            "unwatch latch_sensor",
            "set main nominal limit current_limit",
            "output main on",
            "wait 3s",
            "expect latch_sensor engaged",
            "output main off",
            "wait 70ms",
            "watch latch_sensor released while main below 1V for release_within",
            "wait 3s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(measured(&r, "released whenever main below").len(), 2);
}

/// An input wrong at one sample and back before the next is judged over that whole span
/// by its timestamped edge back: the magnet let go 103 ms after the cut, a millisecond
/// after the line had been below 1 V for the 42 ms this (too tight) watch allows.
#[test]
fn an_edge_back_judges_the_span_since_the_sample_before() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_check(
        dir.path(),
        "back",
        "maglock_12v",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "wait 2s",
            "watch latch_sensor released while main below 1V for 42ms",
            "output main off",
            "wait 3s",
        ],
        &["--rig", "rigs/sim-gpio.toml"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let m = measured(&r, "released whenever main below");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("not released at"), "{}", m[0]);
    assert!(m[0].contains("until its edge back at"), "{}", m[0]);
    assert!(m[0].contains("by the input's timestamped edge"), "{}", m[0]);
}
