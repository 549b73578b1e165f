//! Campaigns: a check repeated on one board, summarised per check with its pass rate,
//! confidence interval, first failure and the spread of each measurement.

mod common;

use common::{results, run, run_dir, text};

fn stats(dir: &std::path::Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap()
}

#[test]
fn a_repeated_check_is_summarised_from_the_results_it_recorded() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--repeat",
        "12",
        "--out",
        out.path().to_str().unwrap(),
        "brownout::sag_resets_safely",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("campaign statistics:"), "{stdout}");
    assert!(
        stdout.contains("12 runs, 12 passed, 0 failed, 0 rig errors, 0 skipped; pass rate 100.0% (95% CI 75.8-100.0%); first failure: none"),
        "{stdout}"
    );
    let dir = run_dir(out.path());
    let rows = stats(&dir);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["runs"], 12);
    assert_eq!(row["first_failure_cycle"], serde_json::Value::Null);
    // Each measurement's spread agrees with the readings in results.jsonl.
    let lines = results(&dir);
    for m in row["measurements"].as_array().unwrap() {
        let (step, role, nth) = (&m["step"], &m["role"], m["reading"].as_u64().unwrap());
        let readings: Vec<f64> = lines
            .iter()
            .filter_map(|r| {
                r["outcome"]["measurements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|x| &x["step"] == step && &x["role"] == role)
                    .nth(nth as usize - 1)
                    .and_then(|x| x["value"].as_f64())
            })
            .collect();
        assert_eq!(m["n"].as_u64().unwrap() as usize, readings.len());
        let min = readings.iter().copied().fold(f64::INFINITY, f64::min);
        let max = readings.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(m["min"].as_f64().unwrap(), min);
        assert_eq!(m["max"].as_f64().unwrap(), max);
    }
    assert!(!row["measurements"].as_array().unwrap().is_empty());
}

#[test]
fn a_failing_campaign_names_its_first_failing_cycle_and_bounds_the_pass_rate() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--repeat",
        "5",
        "--sim-defect",
        "slow-release",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss::fail_safe_releases",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let row = &stats(&run_dir(out.path()))[0];
    assert_eq!(
        (row["runs"].as_u64(), row["failed"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(row["first_failure_cycle"], 1);
    assert_eq!(
        row["first_failure"],
        "power_loss::fail_safe_releases::maglock_12v::cycle1"
    );
    assert_eq!(row["pass_rate"], 0.0);
    let high = row["pass_rate_ci95"][1].as_f64().unwrap();
    // Wilson upper bound for 0 of 5 at 95%: 0.4345.
    assert!((high - 0.4345).abs() < 1e-3, "{high}");
}

#[test]
fn until_fail_stops_at_the_first_failing_cycle_and_says_so() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--until-fail",
        "--sim-defect",
        "slow-release",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss::fail_safe_releases",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("test power_loss::fail_safe_releases::maglock_12v::cycle1 ... FAILED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("campaign: stopped at the first failure, power_loss::fail_safe_releases::maglock_12v::cycle1 in cycle 1 (--until-fail)"),
        "{stdout}"
    );
    let dir = run_dir(out.path());
    assert_eq!(results(&dir).len(), 1);
    let report = common::junit(&dir.join("junit.xml"));
    common::validate_schema(&dir.join("junit.xml"));
    assert_eq!(report.suites[0].failures, 1);
}

#[test]
fn a_campaign_runs_its_cycles_one_at_a_time_within_its_bounds() {
    let out = tempfile::tempdir().unwrap();
    // Bounded by cycles: the duration is far off.
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--duration",
        "1h",
        "--repeat",
        "3",
        "--format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|e| {
            assert_eq!(e["event"], "ok", "{e}");
            e["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "power_loss::fail_secure_holds::smartlock_4aa::cycle1",
            "power_loss::fail_secure_holds::smartlock_4aa::cycle2",
            "power_loss::fail_secure_holds::smartlock_4aa::cycle3"
        ]
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("campaign: all 3 cycles ran"));
    let row = &stats(&run_dir(out.path()))[0];
    assert_eq!(row["runs"], 3);

    // Bounded by time: a short duration ends it after a whole cycle.
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--duration",
        "300ms",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("campaign: the duration was reached after"),
        "{stdout}"
    );
    assert!(!results(&run_dir(out.path())).is_empty());
}

#[test]
fn an_open_ended_campaign_that_selects_nothing_ends_at_once_and_is_not_a_success() {
    let out = tempfile::tempdir().unwrap();
    let mut child = common::lockrig()
        .args(["run", "--until-fail", "--out"])
        .arg(out.path())
        .arg("no_such_check")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a campaign of nothing ran on");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was tested"));
}

#[test]
fn a_campaign_stops_at_a_rig_error_rather_than_record_error_after_error() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--until-fail",
        "--sim-fault",
        "door_push:dead",
        "--out",
        out.path().to_str().unwrap(),
        "power_loss::fail_secure_holds",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("campaign: halted in cycle 1: a rig error in"),
        "{stdout}"
    );
    assert_eq!(results(&run_dir(out.path())).len(), 1);
}

#[test]
fn a_campaign_in_which_nothing_can_run_stops_after_one_cycle() {
    // The one-channel supply has no emergency role: every trial is skipped.
    let out = tempfile::tempdir().unwrap();
    let rig = concat!(env!("CARGO_MANIFEST_DIR"), "/rigs/sim-ka3005p.toml");
    let o = run(&[
        "run",
        "--rig",
        rig,
        "--device",
        "smartlock_4aa",
        "--until-fail",
        "--out",
        out.path().to_str().unwrap(),
        "emergency::valid",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("campaign: halted in cycle 1: no trial could run"),
        "{stdout}"
    );
    assert_eq!(results(&run_dir(out.path())).len(), 1);
}

#[test]
fn a_soak_too_long_to_plan_is_refused_with_the_campaign_that_runs_it() {
    let o = run(&["run", "--repeat", "500000", "power_loss"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--duration"));
    let o = run(&["run", "--duration", "0s", "power_loss"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_check_with_its_own_repeat_runs_that_many_cycles_in_each_cycle_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = common::fixture_variant(
        dir.path(),
        "repeat.toml",
        "fixtures/suites/certification.toml",
        &[(
            "name = \"brownout::sag_resets_safely\"\n",
            "name = \"brownout::sag_resets_safely\"\nrepeat = 3\n",
        )],
    );
    let suite = suite.to_str().unwrap();
    let names = |extra: &[&str]| {
        let o = run(&[
            &["list", "--suite", suite, "--device", "smartlock_4aa"],
            extra,
        ]
        .concat());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.starts_with("brownout::sag_resets_safely::"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&[]),
        (1..=3)
            .map(|c| format!("brownout::sag_resets_safely::smartlock_4aa::cycle{c}"))
            .collect::<Vec<_>>()
    );
    // The run's --repeat multiplies it; the other checks run --repeat times.
    assert_eq!(names(&["--repeat", "2"]).len(), 6);
    // A campaign numbers the check's cycles on, three to each of its cycles.
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite,
        "--device",
        "smartlock_4aa",
        "--duration",
        "1h",
        "--repeat",
        "2",
        "--out",
        out.to_str().unwrap(),
        "brownout::sag_resets_safely",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cycles: Vec<u64> = results(&run_dir(&out))
        .iter()
        .map(|r| r["cycle"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, [1, 2, 3, 4, 5, 6]);
    // A repeat that is not a count of cycles is refused at its line.
    let bad = common::fixture_variant(
        dir.path(),
        "bad.toml",
        "fixtures/suites/certification.toml",
        &[(
            "name = \"brownout::sag_resets_safely\"\n",
            "name = \"brownout::sag_resets_safely\"\nrepeat = 0\n",
        )],
    );
    let o = run(&["list", "--suite", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = std::fs::read_to_string(&bad)
        .unwrap()
        .lines()
        .position(|l| l == "repeat = 0")
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("bad.toml:{line}:"))
            && err.contains(
                "field `repeat`: expected a whole number of cycles from 1 to 10000, found 0"
            ),
        "{err}"
    );
}

#[test]
fn a_shmoo_with_repeats_sags_each_cell_that_many_times_and_counts_its_resets() {
    let dir = tempfile::tempdir().unwrap();
    let suite = common::fixture_variant(
        dir.path(),
        "repeats.toml",
        "fixtures/suites/certification.toml",
        &[(
            "durations 100ms,1s,3s recover ready_within + actuation_within + relock_within\"",
            "durations 100ms,1s,3s recover ready_within + actuation_within + relock_within repeats 3\"",
        )],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--device",
        "strike_fail_secure_12v",
        "--out",
        out.to_str().unwrap(),
        "brownout::boundary",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    let shmoo = lines[0]["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["detail"]["cells"].is_array())
        .expect("the grid");
    assert_eq!(shmoo["detail"]["repeats"], 3);
    assert!(
        shmoo["measured"]
            .as_str()
            .unwrap()
            .contains("(3 sags each;"),
        "{shmoo}"
    );
    for cell in shmoo["detail"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
    {
        assert_eq!(cell["runs"], 3, "{cell}");
        let resets = cell["resets"].as_u64().unwrap();
        assert!(resets <= 3, "{cell}");
        // A cell whose sags all agree says so; one that does not is intermittent.
        assert_eq!(
            cell["intermittent"] == true,
            resets > 0 && resets < 3,
            "{cell}"
        );
    }
}

#[test]
fn a_repeated_run_on_a_terminal_shows_a_progress_bar_and_in_a_pipe_plain_lines() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let command = format!(
        "{} run --device smartlock_4aa --repeat 30 --out {dir}/tty brownout::sag_resets_safely",
        env!("CARGO_BIN_EXE_lockrig")
    );
    // `script` gives the run a terminal, as a person at the bench has.
    let o = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(
        screen.contains("/30 brownout::sag_resets_safely: 0 failed, 0 rig errors (ETA"),
        "{screen}"
    );
    assert!(
        screen.contains("test brownout::sag_resets_safely::smartlock_4aa::cycle30 ... ok"),
        "{screen}"
    );
    assert_eq!(results(&run_dir(&out.path().join("tty"))).len(), 30);

    let o = run(&[
        "run",
        "--device",
        "smartlock_4aa",
        "--repeat",
        "30",
        "--out",
        &format!("{dir}/pipe"),
        "brownout::sag_resets_safely",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = String::from_utf8_lossy(&o.stdout);
    assert!(
        !lines.contains("ETA") && !lines.contains('\u{1b}'),
        "{lines}"
    );
    assert!(lines.contains("test result: ok. 30 passed"), "{lines}");
}
