//! `lockrig merge` as a lab with several benches uses it: the runs of one build on two
//! benches become one run directory whose results, JUnit, statistics and report cover
//! both, traceable to each source's seal; a source that was tampered with, or that
//! holds a link, is refused and nothing is merged.

mod common;

use std::path::{Path, PathBuf};

use common::{junit, results, run, run_dir, text, validate_schema};

fn run_in(out: &Path, args: &[&str]) -> PathBuf {
    let o = run(&[
        &["run", "--non-interactive", "--out", out.to_str().unwrap()],
        args,
    ]
    .concat());
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    run_dir(out)
}

fn merge(dirs: &[&Path], out: &Path) -> std::process::Output {
    let mut args = vec!["merge".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

/// Two benches: a good board and a defective one, the same checks.
fn two_benches(tmp: &Path) -> (PathBuf, PathBuf) {
    let good = run_in(&tmp.join("a"), &["--device", "maglock_12v", "power_loss::"]);
    let bad = run_in(
        &tmp.join("b"),
        &[
            "--device",
            "maglock_12v",
            "--sim-defect",
            "holds-without-power",
            "power_loss::",
        ],
    );
    (good, bad)
}

#[test]
fn two_benches_merge_into_one_sealed_run_that_counts_both() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, bad) = two_benches(tmp.path());
    let o = merge(&[&good, &bad], &tmp.path().join("merged"));
    // A check failed on one bench: the merged run says so.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = run_dir(&tmp.path().join("merged"));
    let (a, b) = (results(&good), results(&bad));
    let merged = results(&dir);
    assert_eq!(merged.len(), a.len() + b.len());
    assert!(merged[..a.len()].iter().all(|r| r["bench"] == "sim"));
    assert!(merged[a.len()..].iter().all(|r| r["bench"] == "sim#2"));
    assert!(merged.iter().all(|r| r["source"].as_str().is_some_and(|s| s
        .ends_with(&*good.file_name().unwrap().to_string_lossy())
        || s.ends_with(&*bad.file_name().unwrap().to_string_lossy()))));
    // JUnit: both benches' testsuites, renamed, with their seals; valid.
    let report = junit(&dir.join("junit.xml"));
    validate_schema(&dir.join("junit.xml"));
    let names: Vec<&str> = report.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sim/lockrig.certification.maglock_12v",
            "sim#2/lockrig.certification.maglock_12v"
        ]
    );
    let tests: u64 = report.suites.iter().map(|s| s.tests).sum();
    let failures: u64 = report.suites.iter().map(|s| s.failures).sum();
    assert_eq!(tests as usize, merged.len());
    assert_eq!(
        failures as usize,
        merged
            .iter()
            .filter(|r| r["outcome"]["verdict"] == "fail")
            .count()
    );
    let seals = std::fs::read_to_string(dir.join("merged.json")).unwrap();
    let seals: serde_json::Value = serde_json::from_str(&seals).unwrap();
    for (i, src) in [&good, &bad].iter().enumerate() {
        let manifest = std::fs::read(src.join("MANIFEST.sha256")).unwrap();
        let digest =
            lockrig::report::manifest::hex(&<sha2::Sha256 as sha2::Digest>::digest(&manifest));
        assert_eq!(seals["sources"][i]["manifest_sha256"], digest);
        let property = report.suites[i]
            .properties
            .hashmap
            .get("source_manifest_sha256")
            .cloned();
        assert_eq!(property.as_deref(), Some(digest.as_str()));
    }
    // Statistics over both: each check's runs are the two benches'.
    let stats: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();
    for row in &stats {
        assert_eq!(row["runs"], 2, "{row}");
    }
    // The report names the bench of each failure, and the merged run is sealed.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        html.contains(", bench sim#2"),
        "the failure names its bench"
    );
    assert!(
        html.contains("<dt>Benches</dt><dd>sim, sim#2 (merged; their sources in merged.json)</dd>"),
        "the header names the benches"
    );
    let o = run(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_tampered_or_linked_source_is_refused_and_nothing_is_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, bad) = two_benches(tmp.path());
    // A result edited after the run.
    let path = bad.join("results.jsonl");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"fail\"", "\"pass\"");
    std::fs::write(&path, edited).unwrap();
    let out = tmp.path().join("merged");
    let o = merge(&[&good, &bad], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}: refused: not intact against its MANIFEST.sha256 (changed: results.jsonl)",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was merged"), "{err}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "no merged run left behind"
    );
    // A source whose results are a link to elsewhere.
    let linked = run_in(
        &tmp.path().join("c"),
        &["--device", "maglock_12v", "power_loss::"],
    );
    std::fs::remove_file(linked.join("results.jsonl")).unwrap();
    std::os::unix::fs::symlink(good.join("results.jsonl"), linked.join("results.jsonl")).unwrap();
    let o = merge(&[&good, &linked], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("results.jsonl"),
        "{}",
        text(&o)
    );
    // A directory that is not a run.
    let o = merge(&[&good, tmp.path()], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no MANIFEST.sha256"),
        "{}",
        text(&o)
    );
}
