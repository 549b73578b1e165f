//! The CLI as a user runs it: the default suite on the built-in simulated rig, the
//! simulated defects each check must catch, listings, and input errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    fixture_variant, junit, lockrig, outcome_of, results, run, run_dir, text, validate_schema,
};
use junit_parser::TestSuites;

#[test]
fn default_run_passes_on_the_simulated_rig_and_writes_reports() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["run", "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        outcome_of(&stdout, "brownout::stays_locked::smartlock_4aa"),
        "ok"
    );
    assert_eq!(
        outcome_of(&stdout, "power_loss::releases::maglock_12v"),
        "ok"
    );

    let dir = run_dir(out.path());
    let report = junit(&dir.join("junit.xml"));
    validate_schema(&dir.join("junit.xml"));
    let suite = &report.suites[0];
    assert_eq!(suite.tests, 2);
    assert_eq!(suite.cases.len(), 2);
    assert_eq!((suite.failures, suite.errors), (0, 0));
    for case in &suite.cases {
        assert!(case.status.is_success(), "{}", case.original_name);
        let out = case.system_out.as_deref().unwrap();
        assert!(
            out.contains("basis: "),
            "every check names its code basis:\n{out}"
        );
        assert!(
            out.contains("[ok] step"),
            "measurements are recorded:\n{out}"
        );
        let ms = format!("{}", case.time);
        assert!(
            ms.split('.').nth(1).is_none_or(|d| d.len() <= 3),
            "time {ms} has more than 3 decimals"
        );
    }

    let lines = results(&dir);
    assert_eq!(lines.len(), 2);
    for r in &lines {
        assert_eq!(r["outcome"]["verdict"], "pass");
        assert!(!r["basis"].as_array().unwrap().is_empty());
        assert!(r["outcome"]["measurements"].as_array().unwrap().len() >= 3);
        assert_eq!(
            r["outcome"]["decided_by"], "door_position",
            "the physical world decides"
        );
    }
    let brownout = lines
        .iter()
        .find(|r| r["check"] == "brownout::stays_locked")
        .unwrap();
    let current = brownout["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "main_meter" && m["step"] != 0)
        .unwrap();
    let amps = current["value"].as_f64().unwrap();
    assert!(
        (0.0004..0.0006).contains(&amps),
        "smart lock idles at ~500 uA, INA219 read {amps} A"
    );
}

#[test]
fn opens_on_brownout_defect_fails_the_brownout_check_only() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--sim-defect",
        "opens-on-brownout",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        outcome_of(&stdout, "brownout::stays_locked::smartlock_4aa"),
        "FAILED"
    );
    assert_eq!(
        outcome_of(&stdout, "power_loss::releases::maglock_12v"),
        "ok"
    );

    let dir = run_dir(out.path());
    validate_schema(&dir.join("junit.xml"));
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (2, 1, 0));
    let failed = suite.cases.iter().find(|c| c.status.is_failure()).unwrap();
    assert_eq!(
        failed.original_name,
        "brownout::stays_locked::smartlock_4aa"
    );
    let msg = &failed.status.failure_as_ref().message;
    assert!(msg.contains("expected door_position closed"), "{msg}");
    assert!(msg.contains("measured open"), "{msg}");

    // The console events are placed when the board printed them: the rail returns at
    // 4000 ms, the board boots 200 ms later (plus the rail's rise), and the defective
    // firmware's bolt motor runs 300 ms more.
    let lines = results(&dir);
    let brownout = lines
        .iter()
        .find(|r| r["device"] == "smartlock_4aa")
        .unwrap();
    let log = brownout["outcome"]["log"].as_array().unwrap();
    let at = |event: &str| -> f64 {
        log.iter()
            .filter_map(|l| l.as_str())
            .find(|l| l.ends_with(&format!("console: EVT {event}")))
            .and_then(|l| l.trim_start_matches('[').split(" ms]").next())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {event} in {log:#?}"))
    };
    let bor = at("BOOT BOR");
    assert!((4200.0..4230.0).contains(&bor), "BOOT BOR at {bor} ms");
    assert_eq!(at("UNLOCKED") - bor, 300.0);
}

#[test]
fn holds_without_power_defect_fails_the_release_check_only() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--sim-defect",
        "holds-without-power",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = run_dir(out.path());
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (2, 1, 0));
    let failed = suite.cases.iter().find(|c| c.status.is_failure()).unwrap();
    assert_eq!(failed.original_name, "power_loss::releases::maglock_12v");
    let msg = &failed.status.failure_as_ref().message;
    assert!(
        msg.contains("expected door_position open within 2s"),
        "{msg}"
    );
    assert!(msg.contains("measured still closed"), "{msg}");
    let lines = results(&dir);
    let r = lines.iter().find(|r| r["device"] == "maglock_12v").unwrap();
    assert_eq!(r["outcome"]["verdict"], "fail");
    assert_eq!(r["sim_defects"][0], "holds-without-power");
}

#[test]
fn junit_flag_and_filters_select_what_runs() {
    let out = tempfile::tempdir().unwrap();
    let junit_path = out.path().join("ci.xml");
    let o = run(&[
        "run",
        "--out",
        out.path().to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
        "--repeat",
        "3",
        "brownout",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let suite = &junit(&junit_path).suites[0];
    let names: Vec<_> = suite
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "brownout::stays_locked::smartlock_4aa::cycle1",
            "brownout::stays_locked::smartlock_4aa::cycle2",
            "brownout::stays_locked::smartlock_4aa::cycle3"
        ]
    );
}

#[test]
fn list_and_run_list_print_trial_names() {
    let o = run(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "brownout::stays_locked::smartlock_4aa\npower_loss::releases::maglock_12v\n"
    );
    // libtest format, and nothing else on stdout (cargo-nextest parses it).
    let o = run(&["run", "--list", "--format", "terse"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "brownout::stays_locked::smartlock_4aa: test\npower_loss::releases::maglock_12v: test\n"
    );
    let o = run(&["list", "--device", "maglock_12v"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "power_loss::releases::maglock_12v\n"
    );
}

#[test]
fn a_sag_too_short_to_brown_the_board_out_fails_instead_of_passing_vacuously() {
    // The supply cannot pull the rail down fast: 300 ms of sag leaves it far above the
    // reset threshold, and the check must say so rather than pass.
    let dir = tempfile::tempdir().unwrap();
    let suite = fixture_variant(
        dir.path(),
        "short.toml",
        "fixtures/suites/default.toml",
        &[(
            "\"expect door_position closed for 2s\"",
            "\"expect door_position closed for 300ms\"",
        )],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "brownout",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let case = &junit(&run_dir(&out).join("junit.xml")).suites[0].cases[0];
    let msg = &case.status.failure_as_ref().message;
    assert!(
        msg.contains("expected main_meter in 0V..3V, measured 4."),
        "{msg}"
    );
}

/// Runs the default suite (current limit left at the envelope's) on the simulated rig
/// with `max_amps`, so the supply's OCP is armed that low; returns the first error.
fn run_with_ocp(max_amps: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let limit = format!("max_amps = \"{max_amps}\"");
    let rig = fixture_variant(
        dir.path(),
        "tight.toml",
        "rigs/sim.toml",
        &[("max_amps = \"1.5A\"", &limit)],
    );
    let suite = fixture_variant(
        dir.path(),
        "s.toml",
        "fixtures/suites/default.toml",
        &[("set main nominal limit current_limit", "set main nominal")],
    );
    let out = dir.path().join("out");
    let (rig, suite, out) = (
        rig.to_str().unwrap(),
        suite.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let o = lockrig()
        .args(["run", "--rig", rig, "--suite", suite, "--out", out])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let case = &junit(&run_dir(Path::new(out)).join("junit.xml")).suites[0].cases[0];
    case.status.error_as_ref().message.clone()
}

#[test]
fn a_supply_that_trips_its_protection_makes_the_check_an_error_not_a_verdict() {
    // OCP armed at 200 mA; the maglock holds at 250 mA: the supply cuts out, the door
    // opens while "powered", and that is no evidence about the lock.
    let msg = run_with_ocp("0.2A", &["--device", "maglock_12v"]);
    assert!(
        msg.contains("reads back output CH1 OFF (OCP tripped)"),
        "{msg}"
    );
}

#[test]
fn a_protection_trip_in_mid_check_is_named_as_the_cause() {
    // OCP at 100 mA: the defective board's motor (150 mA) trips it after the brown-out.
    let msg = run_with_ocp(
        "0.1A",
        &[
            "--device",
            "smartlock_4aa",
            "--sim-defect",
            "opens-on-brownout",
        ],
    );
    assert!(
        msg.starts_with("the supply's own protection tripped during the check (main: OCP)"),
        "{msg}"
    );
}

#[test]
fn a_run_that_tests_nothing_is_not_a_success() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--out",
        out.path().to_str().unwrap(),
        "no_such_check",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing was tested"));
}

#[test]
fn sim_defects_lists_one_per_line_name_first() {
    let o = run(&["sim", "defects"]);
    assert_eq!(o.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let names: Vec<_> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["opens-on-brownout", "holds-without-power"]);
    assert!(
        stdout.lines().all(|l| l.split_whitespace().count() > 3),
        "each names what it breaks"
    );
}

#[test]
fn bad_rig_file_is_a_usage_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "bench.toml",
        "rigs/sim.toml",
        &[("max_volts = \"14.0V\"", "max_volts = 14.0")],
    );
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bench.toml:"), "{stderr}");
    assert!(stderr.contains("max_volts"), "{stderr}");
    assert!(stderr.contains("no unit"), "{stderr}");
}

#[test]
fn unknown_defect_and_unknown_device_are_usage_errors() {
    let o = run(&["run", "--sim-defect", "melts"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("opens-on-brownout"));
    let o = run(&["list", "--device", "no_such_lock"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("smartlock_4aa"));
}

#[test]
fn over_envelope_suite_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("hot.toml");
    std::fs::write(
        &suite,
        r#"
name = "hot"
description = "drives main past the rig envelope"
[[check]]
name = "overvolt::probe"
title = "over-voltage"
applies_to = ["maglock"]
basis = ["BHMA A156.25 over-voltage"]
steps = ["set main 24.0V", "output main on", "expect door_position closed for 1s"]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("refused before touching any instrument"),
        "{stderr}"
    );
    assert!(
        stderr.contains("24V exceeds the envelope of `main` (max_volts 14V)"),
        "{stderr}"
    );
    assert!(!out.exists(), "no run directory for a refused run");
}

#[test]
fn sigint_mid_run_exits_130_with_valid_reports() {
    interrupted_run_keeps_valid_reports(nix::sys::signal::Signal::SIGINT, 130);
}

#[test]
fn sigterm_mid_run_exits_143_with_valid_reports() {
    interrupted_run_keeps_valid_reports(nix::sys::signal::Signal::SIGTERM, 143);
}

#[test]
fn unreachable_instrument_is_a_rig_error_exit_3_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "bench.toml",
        "rigs/sim.toml",
        &[
            (
                "name = \"sim\"",
                "name = \"bench-9\"\ndut = \"maglock_12v\"",
            ),
            (
                "sim = \"psu\"",
                "serial = \"/dev/lockrig-no-such-port\"\nbaud = 9600",
            ),
            ("sim = \"relays\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("sim = \"gpio\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("sim = \"console\"", "serial = \"/dev/null\"\nbaud = 9600"),
            ("i2c = \"sim\"", "i2c = \"/dev/lockrig-no-such-i2c\""),
        ],
    );
    let out = dir.path().join("out");
    // A private lock directory: the broken mark this run leaves must not outlive the test.
    let o = lockrig()
        .args([
            "run",
            "--rig",
            rig.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("LOCKRIG_LOCK_DIR", dir.path().join("locks"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let suite = &junit(&run_dir(&out).join("junit.xml")).suites[0];
    assert_eq!((suite.tests, suite.errors), (1, 1));
    let msg = &suite.cases[0].status.error_as_ref().message;
    assert!(
        !msg.contains("rig unhealthy"),
        "the first run finds the fault itself: {msg}"
    );
    let marks = std::fs::read_dir(dir.path().join("locks"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "health")
        });
    assert_eq!(
        marks.count(),
        1,
        "an instrument that cannot be opened marks the rig broken"
    );
    assert!(
        msg.contains("instrument `"),
        "the error names the instrument: {msg}"
    );
}

fn interrupted_run_keeps_valid_reports(signal: nix::sys::signal::Signal, code: i32) {
    let out = tempfile::tempdir().unwrap();
    let child = lockrig()
        .args([
            "run",
            "--repeat",
            "400",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some results exist, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let written = std::fs::read_dir(out.path())
            .ok()
            .and_then(|mut d| d.next())
            .map(|d| d.unwrap().path().join("results.jsonl"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .is_some_and(|t| t.lines().count() >= 5);
        if written {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no results appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // An impatient operator signals twice: the second is noted, not obeyed.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let _ = nix::sys::signal::kill(pid, signal);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(code), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("stopped by {signal}")), "{stderr}");
    let dir = run_dir(out.path());
    validate_schema(&dir.join("junit.xml"));
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    assert_eq!(
        suite.cases.len(),
        800,
        "every trial is reported, run or not"
    );
    let skipped = suite.cases.iter().filter(|c| c.status.is_skipped()).count();
    assert!(skipped > 0 && skipped < 800, "{skipped} skipped");
    assert!(suite
        .cases
        .iter()
        .all(|c| !c.status.is_success() || c.system_out.is_some()));
    assert_eq!(results(&dir).len(), 800, "results.jsonl has no torn line");
}

/// A suite that needs no meter: a served bench cannot share the simulator's
/// in-process I2C bus, so its rig file has no `main_meter`.
const SERVED_SUITE: &str = r#"
name = "served"
description = "brown-out through a served bench, in real time"
[[check]]
name = "brownout::stays_locked"
title = "A fail-secure lock stays locked through a brown-out reset"
applies_to = ["fail_secure"]
basis = ["Design brief invariant 3"]
steps = [
  "set main nominal limit current_limit",
  "output main on",
  "wait ready_within",
  "expect console locked",
  "relay door_push on",
  "sag main to reset_below - 1.0V for 2s",
  "expect door_position closed for ready_within",
  "expect console locked",
  "relay door_push off",
]
"#;

/// A bench served by `lockrig sim serve --write-rig`, stopped with Ctrl-C on drop.
struct Served {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Served {
    fn start(defect: Option<&str>) -> Self {
        let defect: Vec<&str> = defect.map_or(vec![], |d| vec!["--sim-defect", d]);
        Self::start_with(&defect)
    }

    fn start_with(options: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rig = dir.path().join("served.toml");
        std::fs::write(dir.path().join("suite.toml"), SERVED_SUITE).unwrap();
        let mut serve = lockrig();
        serve
            .args(["sim", "serve", "--write-rig", rig.to_str().unwrap()])
            .args(options);
        let child = serve
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !rig.exists() {
            assert!(std::time::Instant::now() < deadline, "no rig file written");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        Self { dir, child }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).to_str().unwrap().to_string()
    }

    /// `lockrig ARGS --rig served.toml`, sharing this bench's lock directory.
    fn lockrig(&self, args: &[&str]) -> Command {
        let mut c = lockrig();
        c.args(args)
            .args(["--rig", &self.path("served.toml")])
            .env("LOCKRIG_LOCK_DIR", self.path("locks"));
        c
    }

    /// `lockrig run` on the served rig with the served suite; `out` names its run folder.
    fn run(&self, out: &str, extra: &[&str]) -> Command {
        let mut c = self.lockrig(&[
            "run",
            "--suite",
            &self.path("suite.toml"),
            "--out",
            &self.path(out),
        ]);
        c.args(extra);
        c
    }

    /// The broken-rig mark files in the lock directory.
    fn health_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path("locks"))
            .map(|d| {
                d.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "health"))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn junit(&self, out: &str) -> TestSuites {
        junit(&run_dir(&self.dir.path().join(out)).join("junit.xml"))
    }

    fn stop(mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Served {
    /// A failed assertion must not leave the served bench running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn served_bench_is_driven_like_a_real_one_through_the_written_rig_file() {
    let served = Served::start(None);
    let o = served.run("out", &[]).output().unwrap();
    let report = served.junit("out");
    assert_eq!(served.stop(), Some(130), "sim serve ends on Ctrl-C");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let case = &report.suites[0].cases[0];
    assert_eq!(case.original_name, "brownout::stays_locked::smartlock_4aa");
    let out = case.system_out.as_deref().unwrap();
    assert!(out.contains("rig: sim-served"), "{out}");
    assert!(out.contains("RIGOL TECHNOLOGIES,DP832"), "{out}");

    let served = Served::start(Some("opens-on-brownout"));
    let o = served.run("out", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(served.junit("out").suites[0].cases[0].status.is_failure());
    served.stop();
}

#[test]
fn a_second_run_on_a_held_rig_is_refused_naming_the_holder_or_waits() {
    let served = Served::start(None);
    let mut first = served
        .run("first", &[])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The first run holds the rig for about four seconds of real time.
    std::thread::sleep(std::time::Duration::from_millis(700));
    let second = served.run("second", &[]).output().unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&format!("is in use by pid {}", first.id())),
        "{stderr}"
    );
    assert!(stderr.contains("--wait"), "{stderr}");
    let waiting = served.run("third", &["--wait", "60s"]).output().unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert_eq!(waiting.status.code(), Some(0), "{}", text(&waiting));
    served.stop();
}

#[test]
fn a_broken_mark_outlives_the_run_until_rig_check_confirms_the_safe_state() {
    // A supply that stops answering mid-check: the safe state cannot be confirmed.
    let served = Served::start_with(&["--sim-fault", "psu:silent@6"]);
    let o = served.run("first", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let marks = served.health_files();
    assert_eq!(
        marks.len(),
        1,
        "the broken mark is persisted beside the lock"
    );
    assert!(std::fs::read_to_string(&marks[0])
        .unwrap()
        .contains("instrument `psu`"));
    // The next run does not touch the rig at all.
    let o = served.run("second", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let case = &served.junit("second").suites[0].cases[0];
    let msg = &case.status.error_as_ref().message;
    assert!(
        msg.contains("rig unhealthy") && msg.contains("lockrig rig check"),
        "{msg}"
    );
    // A check of a still-broken rig fails and keeps the mark.
    let o = served.lockrig(&["rig", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(served.health_files().len(), 1);
    served.stop();

    // A repaired bench: `rig check` confirms the safe state and clears the mark.
    let served = Served::start(None);
    let o = served.run("healthy", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = served.lockrig(&["rig", "check"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let mark_path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("broken-rig mark: "))
        .unwrap_or_else(|| panic!("rig check names its mark file:\n{stdout}"))
        .to_string();
    // As a broken run would have left it:
    let mark = r#"{"reason":"role `main` on instrument `psu`: no reply","trial":"t","since":"2026-11-21T00:00:00Z"}"#;
    std::fs::write(&mark_path, mark).unwrap();
    let o = served.run("refused", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let o = served.lockrig(&["rig", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("healthy"),
        "{}",
        text(&o)
    );
    assert!(served.health_files().is_empty());
    let o = served.run("again", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    served.stop();
}
