//! The proof that the checks can fail: correct simulated boards pass every applicable
//! check on twenty seeds, and each named defect makes exactly the checks it targets stop
//! passing, with an expected-vs-measured message, while every other check still passes.

mod common;

use std::collections::BTreeSet;

use common::{lockrig, results, run, run_dir, text};
use lockrig::sim::Defect;

#[test]
fn correct_boards_pass_every_applicable_check_on_twenty_seeds() {
    let seeds: Vec<u64> = (1..=20).collect();
    std::thread::scope(|s| {
        for chunk in seeds.chunks(10) {
            s.spawn(move || {
                for seed in chunk {
                    let out = tempfile::tempdir().unwrap();
                    let o = run(&[
                        "run",
                        "--seed",
                        &seed.to_string(),
                        "--out",
                        out.path().to_str().unwrap(),
                    ]);
                    assert_eq!(o.status.code(), Some(0), "seed {seed}: {}", text(&o));
                    let lines = results(&run_dir(out.path()));
                    assert!(lines.len() >= 80, "seed {seed}: {} trials", lines.len());
                    for r in &lines {
                        assert_eq!(r["outcome"]["verdict"], "pass", "seed {seed}: {r}");
                    }
                }
            });
        }
    });
}

#[test]
fn each_defect_fails_exactly_the_checks_it_targets() {
    let o = lockrig()
        .args([
            "sim", "defects", "--matrix", "--format", "json", "--seed", "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let mut problems = Vec::new();
    let mut seen_defects = BTreeSet::new();
    for row in &rows {
        let name = row["defect"].as_str().unwrap();
        let defect: Option<Defect> = (name != "none").then(|| name.parse().unwrap());
        seen_defects.insert(name.to_string());
        let mut failed_with_evidence = false;
        let mut hit = BTreeSet::new();
        for cell in row["cells"].as_array().unwrap() {
            let (check, device) = (
                cell["check"].as_str().unwrap(),
                cell["device"].as_str().unwrap(),
            );
            let verdict = cell["verdict"].as_str().unwrap();
            let message = cell["message"].as_str().unwrap_or_default();
            let targeted = defect.is_some_and(|d| d.targets_trial(check, device));
            match (targeted, verdict) {
                (false, "pass") => {}
                (true, "fail") => {
                    assert!(
                        message.contains("expected") && message.contains("measured"),
                        "{name} on {check}::{device}: {message}"
                    );
                    failed_with_evidence = true;
                    hit.insert(check.to_string());
                }
                (true, "error") if message.contains("positive control failed") => {
                    hit.insert(check.to_string());
                }
                _ => problems.push(format!(
                    "{name}: {check}::{device} {verdict} (targeted: {targeted}) {message}"
                )),
            }
        }
        if let Some(d) = defect {
            assert!(failed_with_evidence, "{name} made no check fail");
            for t in d.targets() {
                let check = t.split('@').next().unwrap();
                assert!(
                    hit.contains(check),
                    "{name}: target {t} never stopped passing"
                );
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let defects: Vec<String> = Defect::all().map(|d| d.name().to_string()).collect();
    assert!(defects.len() >= 14);
    for d in &defects {
        assert!(seen_defects.contains(d), "{d} is missing from the matrix");
    }
}

#[test]
fn every_check_family_catches_at_least_one_defect() {
    let suite = lockrig::scenario::suite::Suite::load("certification").unwrap();
    let families: BTreeSet<&str> = suite.checks.iter().map(|c| c.family()).collect();
    let caught: BTreeSet<String> = Defect::all()
        .flat_map(|d| d.targets().iter())
        .map(|t| t.split("::").next().unwrap().to_string())
        .collect();
    for f in families {
        assert!(caught.contains(f), "no defect targets the `{f}` family");
    }
}

#[test]
fn a_worn_lock_passes_its_first_cycles_then_fails_and_the_run_says_which_cycle() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--sim-defect",
        "wears-out",
        "--repeat",
        "8",
        "--out",
        out.path().to_str().unwrap(),
        "min_voltage::operates",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let lines = results(&run_dir(out.path()));
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|r| r["outcome"]["verdict"].as_str().unwrap())
        .collect();
    // One board across the cycles: it wears with every unlock and relock.
    let first_failure = verdicts.iter().position(|v| *v == "fail").unwrap();
    assert!(first_failure >= 1, "the first cycles pass: {verdicts:?}");
    assert!(
        verdicts[..first_failure].iter().all(|v| *v == "pass"),
        "{verdicts:?}"
    );
    // And the cycling check catches it on its own, on a fresh board.
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--sim-defect",
        "wears-out",
        "--out",
        out.path().to_str().unwrap(),
        "relock::after_unlock_cycles",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn a_fail_safe_lock_that_holds_unpowered_fails_and_a_dead_push_is_a_rig_error() {
    // The positive control of current::holding cuts the maglock's power and pushes.
    // A lock that still holds is the lock's failure, named by its latch sensor...
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--sim-defect",
        "holds-without-power",
        "--out",
        out.path().to_str().unwrap(),
        "current::holding",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let lines = results(&run_dir(out.path()));
    let failed: Vec<_> = lines[0]["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["pass"] == false)
        .collect();
    assert_eq!(failed[0]["role"], "latch_sensor", "{failed:?}");
    assert_eq!(failed[0]["expected"], "released", "{failed:?}");
    // ...while a released lock that the push cannot open is the rig's.
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--sim-fault",
        "door_push:dead",
        "--out",
        out.path().to_str().unwrap(),
        "current::holding",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}
