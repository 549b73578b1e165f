//! Each trial's timeline (`traces/TRIAL.csv`) as a lab engineer and lab CI meet it:
//! written as the trial runs, named in results.jsonl and as a JUnit attachment,
//! covered by the manifest, kept for every trial of a run and only for failures in a
//! soak, and free of the secrets the trial sent.

mod common;

use std::path::{Path, PathBuf};

use common::{lockrig, results, run_dir, text};

fn run_in(out: &Path, args: &[&str], env: &[(&str, &str)]) -> PathBuf {
    let o = lockrig()
        .args(["run", "--non-interactive", "--out", out.to_str().unwrap()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    run_dir(out)
}

fn traces(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("traces"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The rows of a trace: (t_s, source, role, value, ack_ms, timing).
fn rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["t_s", "source", "role", "value", "ack_ms", "timing"]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn a_failed_trials_trace_shows_the_sag_the_samples_and_the_board_on_one_clock() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_in(
        out.path(),
        &[
            "--device",
            "strike_fail_secure_12v",
            "--sim-defect",
            "opens-on-brownout",
            "brownout::sag_resets_safely",
        ],
        &[],
    );
    let name = "brownout.sag_resets_safely.strike_fail_secure_12v.csv";
    assert_eq!(traces(&dir), [name]);
    let r = &results(&dir)[0];
    assert_eq!(r["outcome"]["verdict"], "fail");
    assert_eq!(r["trace"], format!("traces/{name}"));
    // Lab CI archives it with the failure.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let attachment = format!(
        "[[ATTACHMENT|{}]]",
        std::path::absolute(dir.join("traces").join(name))
            .unwrap()
            .display()
    );
    assert!(junit.contains(&attachment), "{junit}");
    // Every source is on it: steps, supply commands, samples, the meter, the board.
    let rows = rows(&dir.join("traces").join(name));
    for source in ["step", "supply", "switch", "input", "meter", "board"] {
        assert!(rows.iter().any(|r| r[1] == source), "no {source} row");
    }
    // The sag is commanded, the board resets during it, and the bolt is seen open
    // after it: the failure is on the timeline, in order.
    let t = |r: &Vec<String>| r[0].parse::<f64>().unwrap();
    let sag = rows
        .iter()
        .find(|r| r[1] == "step" && r[3].starts_with("sag main"))
        .expect("the sag step");
    let boot = rows
        .iter()
        .find(|r| r[1] == "board" && r[3].starts_with("EVT BOOT") && t(r) > t(sag))
        .expect("the reset during the sag");
    let open = rows
        .iter()
        .find(|r| r[1] == "input" && r[2] == "latch_sensor" && r[3] == "released" && t(r) > t(sag))
        .expect("the latch seen released after the sag");
    // A board line is never placed early, and at most the stamp's resolution late on
    // the simulator (2 ms: the pairing's millisecond and the stamp's own).
    assert!(t(boot) <= t(open) + 0.002, "{boot:?} {open:?}");
    // Every exchange says how long the instrument took.
    assert!(rows
        .iter()
        .filter(|r| r[5] == "exchange")
        .all(|r| r[4].parse::<f64>().is_ok()));
    // The manifest covers it.
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.sha256")).unwrap();
    assert!(manifest.contains(&format!("traces/{name}")), "{manifest}");
}

#[test]
fn a_run_keeps_every_trace_a_soak_only_its_failures_and_none_on_request() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_in(
        out.path(),
        &["--device", "maglock_12v", "power_loss::"],
        &[],
    );
    let all = traces(&dir);
    assert!(!all.is_empty());
    let kept = results(&dir);
    assert_eq!(all.len(), kept.len());
    assert!(kept.iter().all(|r| r["trace"].is_string()));

    let out = tempfile::tempdir().unwrap();
    let dir = run_in(
        out.path(),
        &["--device", "maglock_12v", "--repeat", "3", "power_loss::"],
        &[],
    );
    assert!(traces(&dir).is_empty(), "{:?}", traces(&dir));
    assert!(results(&dir).iter().all(|r| r.get("trace").is_none()));

    let out = tempfile::tempdir().unwrap();
    let dir = run_in(
        out.path(),
        &[
            "--device",
            "maglock_12v",
            "--traces",
            "none",
            "power_loss::",
        ],
        &[],
    );
    assert!(!dir.join("traces").exists());
}

#[test]
fn a_trace_carries_no_secret() {
    let out = tempfile::tempdir().unwrap();
    let dir = run_in(
        out.path(),
        &["--device", "smartlock_4aa", "emergency::"],
        &[("LOCKRIG_SECRET_CREDENTIAL", "731946")],
    );
    let names = traces(&dir);
    assert!(!names.is_empty());
    let mut sent = false;
    for name in names {
        let body = std::fs::read_to_string(dir.join("traces").join(&name)).unwrap();
        assert!(!body.contains("731946"), "{name}");
        sent |= body.contains("UNLOCK <secret credential #");
    }
    assert!(sent, "the credential's use is on a timeline, redacted");
}
