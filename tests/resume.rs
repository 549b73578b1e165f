//! `lockrig run --resume DIR`: an interrupted campaign goes on where it stopped, in its
//! own directory, as one result set, and only from the configuration it began with.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::{fixture_variant, junit, results, run, text, validate_schema};

/// Starts `lockrig ARGS --out OUT`, interrupts it with SIGINT once `lines` results are
/// written, and returns its run directory.
fn interrupted(out: &Path, args: &[&str], lines: usize) -> PathBuf {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockrig"))
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = loop {
        let dir = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path());
        let written = dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.join("results.jsonl")).ok())
            .map_or(0, |t| t.lines().count());
        if written >= lines {
            break dir.unwrap();
        }
        assert!(Instant::now() < deadline, "the run never got going");
        std::thread::sleep(Duration::from_millis(2));
    };
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    dir
}

fn evidence(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("evidence.json")).unwrap()).unwrap()
}

#[test]
fn an_interrupted_campaign_resumes_where_it_stopped_as_one_result_set() {
    let out = tempfile::tempdir().unwrap();
    let campaign = [
        "run",
        "--device",
        "smartlock_4aa",
        "--duration",
        "1h",
        "--repeat",
        "150",
        "--seed",
        "7",
        "brownout::random_sags",
    ];
    let dir = interrupted(out.path(), &campaign, 20);
    let before = results(&dir);
    assert!(before.len() < 150, "the campaign ended before the signal");
    let cut_short: Vec<_> = before
        .iter()
        .filter(|r| r["interrupted"] == "SIGINT")
        .collect();
    // The trial under way when the signal came is marked; a signal that lands between
    // two cycles (a loaded machine can deliver it there) finds none under way.
    assert!(cut_short.len() <= 1, "{cut_short:?}");
    if let Some(r) = cut_short.first() {
        assert_eq!(
            r,
            &before.last().unwrap(),
            "the last line is the one cut short"
        );
    }
    let cut = cut_short.len();

    let o = run(&["run", "--resume", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let kept = before.len() - cut;
    assert!(
        stdout.contains(&format!(
            "{kept} result(s) kept, {cut} trial(s) cut short or not started run again"
        )),
        "{stdout}"
    );

    // Every cycle once, in order; the kept ones exactly as they were.
    let after = results(&dir);
    let names: Vec<String> = after
        .iter()
        .map(|r| r["trial"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (1..=150)
        .map(|n| format!("brownout::random_sags::smartlock_4aa::cycle{n:03}"))
        .collect();
    assert_eq!(names, expected);
    assert_eq!(after[..kept], before[..kept]);
    assert!(after.iter().all(|r| r["interrupted"].is_null()));

    // The same seed sequence: a fresh, uninterrupted run of the same campaign draws the
    // same sags in every cycle.
    let fresh = tempfile::tempdir().unwrap();
    let mut args = campaign.to_vec();
    let fresh_out = fresh.path().to_str().unwrap();
    args.extend(["--out", fresh_out]);
    assert_eq!(run(&args).status.code(), Some(0));
    let sags = |rs: &[serde_json::Value]| -> Vec<String> {
        rs.iter()
            .map(|r| {
                r["outcome"]["log"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|l| {
                        l.as_str()
                            .filter(|l| l.contains("sag "))
                            .map(str::to_string)
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let fresh_results = results(&common::run_dir(fresh.path()));
    assert_eq!(sags(&after), sags(&fresh_results));

    // One JUnit document over all of it, and one sealed directory.
    validate_schema(&dir.join("junit.xml"));
    let cases: usize = junit(&dir.join("junit.xml"))
        .suites
        .iter()
        .map(|s| s.cases.len())
        .sum();
    assert_eq!(cases, 150);
    let e = evidence(&dir);
    assert_eq!(e["command"][1], "run");
    assert!(
        !e["command"].to_string().contains("--resume"),
        "the campaign's own command line"
    );
    assert_eq!(e["resumed"][0]["kept"], kept);
    assert_eq!(e["resumed"][0]["rerun"], cut);
    assert_eq!(e["resumed"][0]["interrupted"], "stopped by SIGINT");
    assert_eq!(e["outcome"]["passed"], 150);
    let o = run(&["verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A run that ended has nothing to resume.
    let o = run(&["run", "--resume", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the run ended on its own (exit code 0): there is nothing to resume"));
}

#[test]
fn a_resume_is_refused_when_the_configuration_or_the_evidence_changed() {
    let work = tempfile::tempdir().unwrap();
    let suite = fixture_variant(
        work.path(),
        "suite.toml",
        "fixtures/suites/certification.toml",
        &[],
    );
    let out = work.path().join("out");
    let dir = interrupted(
        &out,
        &[
            "run",
            "--device",
            "smartlock_4aa",
            "--suite",
            suite.to_str().unwrap(),
            "--until-fail",
            "--repeat",
            "500",
            "brownout::sag_resets_safely",
        ],
        5,
    );
    let results_before = std::fs::read(dir.join("results.jsonl")).unwrap();

    // The suite was edited since: the results would not be one set.
    let edited = std::fs::read_to_string(&suite)
        .unwrap()
        .replace("Sags below reset", "Sags under reset");
    std::fs::write(&suite, &edited).unwrap();
    let o = run(&["run", "--resume", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("refused: the suite file") && msg.contains("suite.toml has changed since"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(dir.join("results.jsonl")).unwrap(),
        results_before,
        "untouched"
    );

    // A result edited after the run was sealed: refused, named.
    let original = std::fs::read_to_string(&suite)
        .unwrap()
        .replace("Sags under reset", "Sags below reset");
    std::fs::write(&suite, original).unwrap();
    let tampered = String::from_utf8(results_before.clone())
        .unwrap()
        .replacen("\"pass\"", "\"fail\"", 1);
    std::fs::write(dir.join("results.jsonl"), tampered).unwrap();
    let o = run(&["run", "--resume", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not intact against its MANIFEST.sha256 (changed: results.jsonl)"),
        "{}",
        text(&o)
    );

    // What runs comes from the directory; giving it again is an error.
    let o = run(&["run", "--resume", dir.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot be used with"), "{}", text(&o));
}

/// Copies a run directory (files and, as links, links).
fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

#[test]
fn a_resume_refuses_results_it_cannot_stand_on_and_never_follows_a_link() {
    let work = tempfile::tempdir().unwrap();
    let dir = interrupted(
        &work.path().join("out"),
        &[
            "run",
            "--device",
            "smartlock_4aa",
            "--duration",
            "1h",
            "--repeat",
            "60",
            "brownout::sag_resets_safely",
        ],
        6,
    );
    // As a process killed outright leaves it: no seal, so only the results themselves
    // can show what was changed.
    std::fs::remove_file(dir.join("MANIFEST.sha256")).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let refused = |name: &str, edit: &dyn Fn(&Path), expected: &str| {
        let copy = work.path().join(name);
        copy_dir(&dir, &copy);
        edit(&copy);
        let before = std::fs::read(copy.join("results.jsonl")).unwrap();
        let o = run(&["run", "--resume", copy.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        assert!(text(&o).contains(expected), "{name}: {}", text(&o));
        assert_eq!(
            std::fs::read(copy.join("results.jsonl")).unwrap(),
            before,
            "{name}: untouched"
        );
    };
    let write = |d: &Path, lines: &[String]| {
        std::fs::write(d.join("results.jsonl"), lines.join("\n") + "\n").unwrap()
    };
    refused(
        "twice",
        &|d| write(d, &[lines.clone(), vec![lines[0].clone()]].concat()),
        "trial `brownout::sag_resets_safely::smartlock_4aa::cycle01` is recorded twice (first on line 1)",
    );
    refused(
        "unreadable",
        &|d| {
            let mut l = lines.clone();
            l[1].truncate(40);
            write(d, &l)
        },
        "results.jsonl line 2 does not read as a result; nothing was changed",
    );
    refused(
        "foreign",
        &|d| {
            let mut l = lines.clone();
            l[0] = l[0].replace(
                "brownout::sag_resets_safely::smartlock_4aa::cycle01",
                "egress::powered::smartlock_4aa::cycle01",
            );
            write(d, &l)
        },
        "trial `egress::powered::smartlock_4aa::cycle01` is not one the recorded command selects",
    );
    refused(
        "command",
        &|d| {
            let e = std::fs::read_to_string(d.join("evidence.json")).unwrap();
            let e = e.replacen(
                "\"brownout::sag_resets_safely\"",
                "\"--seed\",\n    \"7\",\n    \"brownout::sag_resets_safely\"",
                1,
            );
            std::fs::write(d.join("evidence.json"), e).unwrap();
        },
        "was run with seed 1, this command with seed 7",
    );

    // A link in place of `traces/` is never followed: nothing outside is removed.
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious.csv"), "keep me").unwrap();
    refused(
        "link",
        &|d| {
            let _ = std::fs::remove_dir_all(d.join("traces"));
            std::os::unix::fs::symlink(&outside, d.join("traces")).unwrap();
            let mut l = lines.clone();
            let last = l.len() - 1;
            let mut r: serde_json::Value = serde_json::from_str(&l[last]).unwrap();
            r["interrupted"] = "SIGINT".into();
            r["trace"] = "traces/precious.csv".into();
            l[last] = r.to_string();
            write(d, &l)
        },
        "`traces` is not a folder of the run directory",
    );
    assert!(outside.join("precious.csv").exists());

    // A torn last line (a power cut) is dropped, and its trial runs again.
    let torn = work.path().join("torn");
    copy_dir(&dir, &torn);
    let mut cut = lines.join("\n");
    cut.truncate(cut.len() - 20);
    std::fs::write(torn.join("results.jsonl"), cut).unwrap();
    let o = run(&["run", "--resume", torn.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 unreadable line(s) dropped (a torn last line)"),
        "{}",
        text(&o)
    );
    assert_eq!(results(&torn).len(), 60);
}
