//! The CLI as a user runs it: the default suite on the built-in simulated rig, the
//! simulated defects each check must catch, listings, and input errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    files, fixture_variant, junit, lockrig, outcome_of, results, run, run_dir, run_rig, text,
    validate_schema, write_check,
};
use junit_parser::TestSuites;

#[test]
fn default_run_passes_on_the_simulated_rig_and_writes_reports() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["run", "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for trial in [
        "power_loss::fail_secure_holds::smartlock_4aa",
        "power_loss::fail_safe_releases::maglock_12v",
        "brownout::sag_resets_safely::hybrid_12v",
        "emergency::valid_credential_unlocks::smartlock_4aa",
        "fire::releases::strike_fail_safe_24v",
        "delayed_egress::releases_after_delay::maglock_delayed_egress_24v",
    ] {
        assert_eq!(outcome_of(&stdout, trial), "ok", "{trial}");
    }

    let dir = run_dir(out.path());
    let report = junit(&dir.join("junit.xml"));
    validate_schema(&dir.join("junit.xml"));
    // One testsuite per device, each with the run's facts as properties.
    assert_eq!(report.suites.len(), 6);
    let host = nix::unistd::gethostname().unwrap();
    for suite in &report.suites {
        assert_eq!(suite.cases.len() as u64, suite.tests);
        assert_eq!((suite.failures, suite.errors, suite.skipped), (0, 0, 0));
        assert_eq!(suite.hostname.as_deref(), host.to_str());
        let device = suite.name.rsplit('.').next().unwrap();
        let property = |k: &str| {
            suite
                .properties
                .hashmap
                .get(k)
                .unwrap_or_else(|| panic!("{k} in {:?}", suite.properties))
                .clone()
        };
        assert_eq!(property("device"), device);
        assert_eq!(property("rig"), "sim");
        assert_eq!(property("suite"), "certification");
        assert_eq!(property("seed"), "1");
        assert_eq!(property("poll"), "10 ms");
        assert_eq!(property("lockrig.version"), env!("CARGO_PKG_VERSION"));
    }
    let tests: u64 = report.suites.iter().map(|s| s.tests).sum();
    assert!(tests >= 80, "{tests}");
    for case in report.suites.iter().flat_map(|s| &s.cases) {
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
        assert!(out.contains("decided by: "), "{out}");
        let ms = format!("{}", case.time);
        assert!(
            ms.split('.').nth(1).is_none_or(|d| d.len() <= 3),
            "time {ms} has more than 3 decimals"
        );
    }

    let lines = results(&dir);
    assert_eq!(lines.len() as u64, tests);
    for r in &lines {
        assert_eq!(r["outcome"]["verdict"], "pass");
        assert!(!r["basis"].as_array().unwrap().is_empty());
        let decided = &r["outcome"]["decided_by"];
        assert!(
            ["door_position", "latch_sensor"].contains(&decided["role"].as_str().unwrap()),
            "the physical world decides: {decided}"
        );
        assert!(
            decided["window"].as_str().unwrap().starts_with("step"),
            "{decided}"
        );
        assert_eq!(r["outcome"]["poll_ms"], 10.0);
        assert!(r["outcome"]["max_gap_ms"].as_f64().unwrap() <= 10.0, "{r}");
    }
    let standby = lines
        .iter()
        .find(|r| r["trial"] == "current::standby::smartlock_4aa")
        .unwrap();
    let current = standby["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "main_meter")
        .unwrap();
    let amps = current["value"].as_f64().unwrap();
    assert!(
        (0.0003..0.00046).contains(&amps),
        "the simulated smart lock idles at 300-450 uA, the INA219 read {amps} A"
    );
    assert_eq!(current["low"], 0.00002);
    assert_eq!(current["high"], 0.002);
    // The default credential of the simulated keypad is sent, and never written.
    for file in ["junit.xml", "results.jsonl", "sim-outputs.log"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(!text.contains("246810"), "{file} shows the credential");
    }
    assert!(!String::from_utf8_lossy(&o.stdout).contains("246810"));
    let emergency = lines
        .iter()
        .find(|r| r["trial"] == "emergency::valid_credential_unlocks::smartlock_4aa")
        .unwrap()
        .to_string();
    assert!(emergency.contains("<secret credential #"), "{emergency}");
}

#[test]
fn a_credential_from_the_environment_is_used_and_never_written() {
    let out = tempfile::tempdir().unwrap();
    let o = lockrig()
        .args(["run", "--out", out.path().to_str().unwrap(), "emergency::"])
        .env("LOCKRIG_SECRET_CREDENTIAL", "731946")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("731946"));
    let dir = run_dir(out.path());
    // Every file, the evidence bundle's copies of the configuration included.
    for path in files(&dir) {
        let content = std::fs::read(&path).unwrap();
        assert!(
            !content.windows(6).any(|w| w == b"731946"),
            "{} holds the credential",
            path.display()
        );
    }
    let lines = results(&dir);
    assert_eq!(
        lines.len(),
        5,
        "four emergency checks and egress::emergency"
    );
    let all = serde_json::to_string(&lines).unwrap();
    assert!(all.contains("<secret credential #"), "{all}");
    assert!(all.contains("<secret wrong_credential #"), "{all}");
}

#[test]
fn a_brown_out_defect_is_caught_with_the_boards_own_clock_on_the_timeline() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--sim-defect",
        "opens-on-brownout",
        "--device",
        "smartlock_4aa",
        "--out",
        out.path().to_str().unwrap(),
        "brownout::sag_resets_safely",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = run_dir(out.path());
    validate_schema(&dir.join("junit.xml"));
    let suite = &junit(&dir.join("junit.xml")).suites[0];
    assert_eq!((suite.tests, suite.failures, suite.errors), (1, 1, 0));
    let msg = &suite.cases[0].status.failure_as_ref().message;
    assert!(
        msg.contains("expected door_position closed throughout"),
        "{msg}"
    );
    assert!(msg.contains("measured open"), "{msg}");

    // The console events are placed when the board printed them: the defective
    // firmware's bolt motor (250-450 ms) runs right after the brown-out boot line.
    let lines = results(&dir);
    let log = lines[0]["outcome"]["log"].as_array().unwrap();
    let at = |event: &str| -> f64 {
        log.iter()
            .filter_map(|l| l.as_str())
            .find(|l| l.ends_with(&format!("board| EVT {event}")))
            .and_then(|l| l.trim_start_matches('[').split(" ms]").next())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {event} in {log:#?}"))
    };
    let motor = at("UNLOCKED") - at("BOOT BOR");
    assert!((250.0..=450.0).contains(&motor), "motor ran {motor} ms");
    assert_eq!(lines[0]["outcome"]["decided_by"]["role"], "door_position");
}

#[test]
fn a_dead_actuator_fails_the_positive_control_as_a_rig_error_never_a_pass() {
    // Its relay clicks and its feedback input stays idle: every check that pushes the
    // door or pulls the handle stops at that relay as a rig error. No trial blames the
    // lock, and none passes on a door that never moved.
    for actuator in ["door_push", "egress_handle"] {
        let out = tempfile::tempdir().unwrap();
        let fault = format!("{actuator}:dead");
        let o = run(&[
            "run",
            "--sim-fault",
            &fault,
            "--out",
            out.path().to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        let lines = results(&run_dir(out.path()));
        assert_eq!(lines.len(), common::default_trials());
        let mut caught = 0;
        for r in &lines {
            assert_ne!(r["outcome"]["verdict"], "fail", "{fault}: {r}");
            let steps = r["outcome"]["log"].to_string();
            if steps.contains(&format!("relay {actuator} on")) {
                assert_eq!(r["outcome"]["verdict"], "error", "{fault}: {r}");
                let msg = r["outcome"]["message"].as_str().unwrap();
                assert!(
                    msg.starts_with("positive control failed")
                        && msg.contains(&format!(
                            "expected {actuator}_feedback active within 250ms, measured still idle"
                        )),
                    "{msg}"
                );
                caught += 1;
            }
        }
        assert!(caught > 40, "{fault}: {caught} trials used the actuator");
    }
}

#[test]
fn a_feedback_line_stuck_at_active_proves_nothing_and_blames_nothing() {
    // Wired to a line that always reads `active`: the reading after the relay closes
    // would pass, so the line must first read idle.
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "stuck.toml",
        "rigs/sim.toml",
        &[(
            "door_push_feedback = { instrument = \"gpio\", channel = 2, high = \"active\", low = \"idle\" }",
            "door_push_feedback = { instrument = \"gpio\", channel = 6, high = \"idle\", low = \"active\" }",
        )],
    );
    let (o, out) = run_rig(
        dir.path(),
        rig.to_str().unwrap(),
        "stuck",
        &["--sim-fault", "door_push:dead", "egress::"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert!(!lines.is_empty());
    for r in &lines {
        assert_eq!(r["outcome"]["verdict"], "error", "{r}");
        let msg = r["outcome"]["message"].as_str().unwrap();
        assert!(
            msg.contains("door_push_feedback reads active before the relay switched, where the actuator is idle: a stuck or miswired feedback input proves nothing"),
            "{msg}"
        );
    }
}

#[test]
fn a_dead_rex_or_key_actuator_is_the_rigs_never_the_locks() {
    let dir = tempfile::tempdir().unwrap();
    for (fault, check, device) in [
        ("rex_button:dead", "rex::hold_time", "maglock_12v"),
        ("key_turn:dead", "key::override_opens", "smartlock_4aa"),
    ] {
        let args = ["--device", device, "--sim-fault", fault, check];
        let (o, out) = run_rig(dir.path(), "rigs/sim.toml", fault, &args);
        assert_eq!(o.status.code(), Some(3), "{fault}: {}", text(&o));
        let r = &results(&run_dir(&out))[0];
        assert_eq!(r["outcome"]["verdict"], "error", "{r}");
        let feedback = format!("{}_feedback", fault.split(':').next().unwrap());
        let msg = r["outcome"]["message"].as_str().unwrap();
        assert!(msg.contains(&feedback), "{fault}: {msg}");
    }
    // A rig without the key's feedback input cannot tell a dead actuator from a jammed
    // cylinder: the failure says so.
    let rig = fixture_variant(
        dir.path(),
        "no-key-feedback.toml",
        "rigs/sim.toml",
        &[("key_turn_feedback = ", "# key_turn_feedback = ")],
    );
    let args = [
        "--device",
        "smartlock_4aa",
        "--sim-fault",
        "key_turn:dead",
        "key::override_opens",
    ];
    let (o, out) = run_rig(dir.path(), rig.to_str().unwrap(), "blind", &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = results(&run_dir(&out))[0]["outcome"]["message"].to_string();
    assert!(
        msg.contains(
            "this rig has no feedback input for key_turn: a dead actuator would look the same"
        ),
        "{msg}"
    );
}

#[test]
fn without_feedback_a_released_lock_behind_a_shut_door_is_the_rigs_and_a_failure_says_what_it_cannot_rule_out(
) {
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "no-feedback.toml",
        "rigs/sim.toml",
        &[
            ("door_push_feedback = ", "# door_push_feedback = "),
            ("egress_handle_feedback = ", "# egress_handle_feedback = "),
        ],
    );
    let rig = rig.to_str().unwrap();
    // The maglock lets go when its power is cut; the push does not open the door. Its
    // latch sensor says it released: not the lock's failure.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "dead",
        &[
            "--device",
            "maglock_12v",
            "--sim-fault",
            "door_push:dead",
            "power_loss::fail_safe_releases",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    assert_eq!(r["outcome"]["verdict"], "error", "{r}");
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "but latch_sensor reads released: the lock let go and the door still did not open"
        ) && msg.ends_with("not evidence against the lock"),
        "{msg}"
    );
    // A lock that holds without power is still the lock's failure, and the report says
    // what this rig cannot rule out.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "holds",
        &[
            "--device",
            "maglock_12v",
            "--sim-defect",
            "holds-without-power",
            "power_loss::fail_safe_releases",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    assert_eq!(r["outcome"]["verdict"], "fail", "{r}");
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected door_position open")
            && msg.contains(
                "this rig has no feedback input for door_push: a dead actuator would look the same"
            ),
        "{msg}"
    );
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
        "--device",
        "smartlock_4aa",
        "brownout::sag",
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
            "brownout::sag_resets_safely::smartlock_4aa::cycle1",
            "brownout::sag_resets_safely::smartlock_4aa::cycle2",
            "brownout::sag_resets_safely::smartlock_4aa::cycle3"
        ]
    );
}

#[test]
fn list_and_run_list_print_trial_names() {
    let o = run(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(listed.lines().count() >= 80);
    assert!(listed
        .lines()
        .all(|l| l.split("::").count() == 3 && !l.contains(' ')));
    // libtest format, and nothing else on stdout (cargo-nextest parses it).
    let o = run(&["run", "--list", "--format", "terse"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let terse = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(terse.lines().count(), listed.lines().count());
    assert!(terse.lines().all(|l| l.ends_with(": test")), "{terse}");
    // Every profile's list covers the families of the brief that apply to it.
    let o = run(&["list", "--device", "smartlock_4aa"]);
    let families: std::collections::BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split("::").next().unwrap().to_string())
        .collect();
    for f in [
        "power_loss",
        "relock",
        "brownout",
        "min_voltage",
        "battery",
        "noise",
        "emergency",
        "egress",
        "current",
        "update",
        "key",
    ] {
        assert!(families.contains(f), "{f}: {families:?}");
    }
}

#[test]
fn a_sag_too_short_to_brown_the_board_out_is_no_evidence_never_a_pass() {
    // The supply cannot pull the rail down fast: 300 ms of sag leaves a smart lock's
    // rail far above its reset threshold, and the check must say so rather than pass.
    let dir = tempfile::tempdir().unwrap();
    let suite = fixture_variant(
        dir.path(),
        "short.toml",
        "fixtures/suites/certification.toml",
        &[(
            "\"sag main to reset_below * 0.5 for 3s times 3",
            "\"sag main to reset_below * 0.5 for 300ms times 3",
        )],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--device",
        "smartlock_4aa",
        "--out",
        out.to_str().unwrap(),
        "brownout::sag_resets_safely",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(msg.contains("sag 1 of 3: the rail fell only to"), "{msg}");
    assert!(msg.contains("that depth was not tested"), "{msg}");
}

#[test]
fn a_check_that_starts_after_its_window_is_a_rig_error_not_a_verdict() {
    // A bound counts from the stimulus: a step placed after the window closed cannot
    // know what happened within it.
    let dir = tempfile::tempdir().unwrap();
    let suite = fixture_variant(
        dir.path(),
        "late.toml",
        "fixtures/suites/certification.toml",
        &[(
            "  \"output main off\",\n  \"expect door_position open within release_within\",",
            "  \"output main off\",\n  \"wait 3s\",\n  \"expect door_position open within release_within\",",
        )],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--device",
        "maglock_12v",
        "--out",
        out.to_str().unwrap(),
        "power_loss::fail_safe_releases",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(msg.contains("past its 2s window"), "{msg}");
}

/// Runs the certification suite (current limit left at the envelope's) on the
/// simulated rig with `max_amps`, so the supply's OCP is armed that low; returns the
/// first error.
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
        "fixtures/suites/certification.toml",
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
    common::first_error(Path::new(out))
}

#[test]
fn a_supply_that_trips_its_protection_makes_the_check_an_error_not_a_verdict() {
    // OCP armed at 200 mA; the maglock holds at about 250 mA: the supply cuts out, the
    // door opens while "powered", and that is no evidence about the lock.
    let msg = run_with_ocp(
        "0.2A",
        &["--device", "maglock_12v", "power_loss::fail_safe_releases"],
    );
    // The OCP compares the current the output delivers: it trips once the rail is up
    // and the coil draws the limit, a moment after the output went on.
    assert!(
        msg.starts_with("the supply's own protection tripped during the check (main: OCP)"),
        "{msg}"
    );
}

#[test]
fn a_trip_latched_from_an_earlier_trial_is_cleared_at_bring_up_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "tight.toml",
        "rigs/sim.toml",
        &[("max_amps = \"1.5A\"", "max_amps = \"0.2A\"")],
    );
    let suite = fixture_variant(
        dir.path(),
        "s.toml",
        "fixtures/suites/certification.toml",
        &[("set main nominal limit current_limit", "set main nominal")],
    );
    let out = dir.path().join("out");
    // The maglock holds at about 250 mA: each trial trips the OCP armed at 200 mA.
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--suite",
        suite.to_str().unwrap(),
        "--device",
        "maglock_12v",
        "--repeat",
        "2",
        "--out",
        out.to_str().unwrap(),
        "power_loss::fail_safe_releases",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let lines = results(&run_dir(&out));
    let protections = |i: usize| lines[i]["protections"].to_string();
    assert!(!protections(0).contains("latched"), "{}", protections(0));
    assert!(
        protections(1).contains("main: OCP trip latched on psu before this run; cleared"),
        "the second trial found the first one's trip: {}",
        protections(1)
    );
}

#[test]
fn a_protection_trip_in_mid_check_is_named_as_the_cause() {
    // OCP at 100 mA: the defective board's motor (130-170 mA) trips it after the
    // brown-out.
    let msg = run_with_ocp(
        "0.1A",
        &[
            "--device",
            "smartlock_4aa",
            "--sim-defect",
            "opens-on-brownout",
            "brownout::sag_resets_safely",
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
fn an_applicable_check_the_rig_cannot_run_makes_the_run_incomplete() {
    // A bench without a console: the checks that need it are skipped, and the run does
    // not pass as if they had run.
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "noconsole.toml",
        "rigs/sim.toml",
        &[("console = { instrument = \"board\" }\n", "")],
    );
    let out = dir.path().join("out");
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--device",
        "smartlock_4aa",
        "--out",
        out.to_str().unwrap(),
        "egress::",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("maps no console"), "{stdout}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("could not run"), "{stderr}");
    // Excluding the check explicitly accepts it.
    let out = dir.path().join("out2");
    let o = run(&[
        "run",
        "--rig",
        rig.to_str().unwrap(),
        "--device",
        "smartlock_4aa",
        "--out",
        out.to_str().unwrap(),
        "egress::unpowered",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_step_for_a_person_is_skipped_in_ci_with_the_reason() {
    // A bench without a key actuator: turning the key is a person's job.
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "nokey.toml",
        "rigs/sim.toml",
        &[
            ("key_turn = { instrument = \"relays\", channel = 5 }\n", ""),
            ("key_turn = \"off\"\n", ""),
        ],
    );
    let run_key = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "run",
            "--rig",
            rig.to_str().unwrap(),
            "--device",
            "smartlock_4aa",
            "--out",
            out.to_str().unwrap(),
            "--skip",
            "update::",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        (o, out)
    };
    // No terminal (the test's stdin is not one): skipped, and the run is not complete.
    let (o, _) = run_key(&[], "tty");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    // `--non-interactive`: skipped with the reason, and the run is complete without it.
    let (o, out) = run_key(&["--non-interactive"], "ci");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let key = results(&run_dir(&out))
        .into_iter()
        .find(|r| r["check"] == "key::override_opens")
        .unwrap();
    let why = key["skipped"].as_str().unwrap();
    assert!(
        why.contains("needs a person at the bench for key_turn"),
        "{why}"
    );
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
    assert!(names.len() >= 14, "{names:?}");
    assert_eq!(names[..2], ["opens-on-brownout", "holds-without-power"]);
    assert!(
        stdout.lines().all(|l| l.split_whitespace().count() > 3),
        "each names what it breaks"
    );
}

#[test]
fn the_kill_matrix_shows_every_defect_caught() {
    let o = run(&["sim", "defects", "--matrix"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("trials not passed"))
        .collect();
    assert!(rows.len() >= 15, "{stdout}");
    assert!(
        rows[0].starts_with("none ") && rows[0].contains(" 0 of "),
        "{}",
        rows[0]
    );
    for row in &rows[1..] {
        assert!(row.contains('F'), "{row}");
    }
}

#[test]
fn bad_rig_file_is_a_usage_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "bench.toml",
        "rigs/sim.toml",
        &[("max_volts = \"26.0V\"", "max_volts = 26.0")],
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
fn bad_values_name_the_field_on_its_own_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // The line that holds the field, not the table or a neighbour.
    let rig = fixture_variant(
        dir.path(),
        "bench.toml",
        "rigs/sim.toml",
        &[("max_volts = \"26.0V\"", "max_volts = \"-5V\"")],
    );
    let line = 1 + std::fs::read_to_string(&rig)
        .unwrap()
        .lines()
        .position(|l| l.contains("\"-5V\""))
        .unwrap();
    let o = run(&["run", "--rig", rig.to_str().unwrap(), "--out", out]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("bench.toml:{line}:")), "{stderr}");
    assert!(
        stderr.contains("field `max_volts`: must be positive"),
        "{stderr}"
    );
    assert!(!stderr.contains("exceeds"), "{stderr}");

    let device = fixture_variant(
        dir.path(),
        "lock.toml",
        "fixtures/devices/smartlock_4aa.toml",
        &[("reset_below = \"3.0V\"", "reset_below = \"-1V\"")],
    );
    let o = run(&["list", "--device", device.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("lock.toml:"), "{stderr}");
    assert!(
        stderr.contains("field `reset_below`: must be positive"),
        "{stderr}"
    );

    // Zero where a window or a bound is meant: a check on no evidence would pass.
    for (fixture, from, to, field) in [
        (
            "fixtures/devices/smartlock_4aa.toml",
            "power_loss_hold = \"5s\"",
            "power_loss_hold = \"0s\"",
            "field `power_loss_hold`: must be positive",
        ),
        (
            "fixtures/devices/maglock_12v.toml",
            "hold_min = \"30s\"",
            "hold_min = \"0s\"",
            "must be positive",
        ),
        (
            "fixtures/devices/smartlock_4aa.toml",
            "standby = [\"20uA\", \"2mA\"]",
            "standby = [\"0A\", \"2mA\"]",
            "field `standby`: expected a low bound above 0 A",
        ),
    ] {
        let device = fixture_variant(dir.path(), "zero.toml", fixture, &[(from, to)]);
        let o = run(&["list", "--device", device.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{to}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("zero.toml:"), "{stderr}");
        assert!(stderr.contains(field), "{to}: {stderr}");
    }

    // --junit never replaces what is not a regular file.
    let o = run(&["run", "--junit", "/dev/null", "--out", out, "power_loss"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused"));
    assert!(!std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_file());

    // A missing file: its cause once.
    let missing = dir.path().join("absent.toml");
    for flag in ["--rig", "--device", "--suite"] {
        let o = run(&["list", flag, missing.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("absent.toml: cannot read"), "{stderr}");
        assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    }
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
    for (volts, why) in [
        (
            "30.0V",
            "30V exceeds the envelope of `main` (max_volts 26V)",
        ),
        (
            "24.0V",
            "24V exceeds what device `maglock_12v` takes on `main` (13.2V)",
        ),
    ] {
        std::fs::write(
            &suite,
            format!(
                r#"
name = "hot"
description = "drives main past the rig envelope or the device's rating"
[[check]]
name = "overvolt::probe"
title = "over-voltage"
applies_to = ["maglock"]
basis = ["BHMA A156.25 over-voltage"]
steps = ["set main {volts}", "output main on", "expect door_position closed for 1s"]
"#
            ),
        )
        .unwrap();
        let out = dir.path().join("out");
        let o = run(&[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--device",
            "maglock_12v",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("refused before touching any instrument"),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{stderr}");
        assert!(!out.exists(), "no run directory for a refused run");
    }
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
            ("sim = \"i2cdriver\"", "i2c = \"/dev/lockrig-no-such-i2c\""),
            ("sim = \"swd\"", "probe = \"0483:374b\""),
            (", default = \"246810\"", ""),
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
            "power_loss::fail_safe_releases",
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
            "300",
            "--out",
            out.path().to_str().unwrap(),
            "power_loss::fail_safe_releases",
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
    let report = junit(&dir.join("junit.xml"));
    let cases: Vec<_> = report.suites.iter().flat_map(|s| &s.cases).collect();
    assert_eq!(cases.len(), 900, "every trial is reported, run or not");
    let skipped = cases.iter().filter(|c| c.status.is_skipped()).count();
    assert!(skipped > 0 && skipped < 900, "{skipped} skipped");
    let counted: u64 = report.suites.iter().map(|s| s.skipped).sum();
    assert_eq!(counted as usize, skipped);
    assert!(cases
        .iter()
        .all(|c| !c.status.is_success() || c.system_out.is_some()));
    let lines = results(&dir);
    assert_eq!(lines.len(), 900, "results.jsonl has no torn line");
    for r in &lines {
        assert_eq!(r["schema"], 2);
        assert!(r["wall_time_ms"].is_number(), "{r}");
        if r["skipped"].is_string() {
            // Not started: skipped with its reason, not an error without a message.
            assert_eq!(r["outcome"]["verdict"], "skipped", "{r}");
            assert!(r["outcome"]["message"]
                .as_str()
                .unwrap()
                .contains("interrupted"));
        }
    }
}

/// A short brown-out through a served bench, in real time; the meter is read through
/// the served I2CDriver.
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
  "measure main_meter current in standby_current for 300ms",
  "relay door_push on",
  "set main reset_below - 1.0V",
  "wait 2s",
  "set main nominal",
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

    /// Runs a one-check suite of `steps` (as `lab::NAME`, see `common::write_check`) on
    /// the served rig with `extra` options: the run's output and the trial's result.
    fn run_check(
        &self,
        name: &str,
        steps: &[&str],
        extra: &[&str],
    ) -> (std::process::Output, serde_json::Value) {
        let suite = write_check(self.dir.path(), name, steps);
        let o = self
            .lockrig(&[
                "run",
                "--suite",
                suite.to_str().unwrap(),
                "--out",
                &self.path(name),
            ])
            .args(extra)
            .output()
            .unwrap();
        let r = results(&run_dir(&self.dir.path().join(name)))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no result: {}", text(&o)));
        (o, r)
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
fn on_a_bench_in_real_time_the_meter_is_captured_while_the_board_takes_its_time_to_answer() {
    // The board acts on the credential at once and answers 30 ms later; its motor's
    // 8 ms inrush at four times its current falls inside that wait. Read only between
    // exchanges, the meter would miss it; captured in the background, it does not.
    let served = Served::start_with(&[
        "--device",
        "smartlock_4aa",
        "--sim-fault",
        "console:slow-reply",
        "--sim-defect",
        "emergency-inrush",
    ]);
    let o = served
        .lockrig(&[
            "run",
            "--out",
            &served.path("out"),
            "emergency::port_current",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = &results(&run_dir(&served.dir.path().join("out")))[0];
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected emergency_meter peak in 20mA..500mA")
            && msg.contains("max 537.354mA"),
        "{msg}"
    );
    // The window's readings came every few milliseconds, the wait included: no gap of
    // the board's 30 ms (a meter read only between exchanges would show one). The
    // bound is the 30 ms itself: a machine busy with other tests stretches the gaps of
    // a real-time capture (23.9 ms seen on a loaded 2-core machine).
    let gap = r["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["max_gap_ms"].as_f64().filter(|_| m["pass"] == false))
        .expect("the failed window's largest gap");
    assert!(gap < 30.0, "{gap} ms");
}

#[test]
fn on_a_bench_in_real_time_a_watch_across_channels_judges_at_the_meters_rate() {
    let served = Served::start(None);
    let (o, r) = served.run_check(
        "holds_while_powered",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "wait ready_within",
            "expect latch_sensor engaged",
            "watch latch_sensor engaged while main above min_operating",
            "wait 1s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = r["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["expected"].as_str().unwrap().contains("whenever"))
        .expect("the watch's verdict")
        .clone();
    let measured = m["measured"].as_str().unwrap();
    // The line's meter was captured in the background at its own rate: hundreds of
    // readings of the line in the watch's second (read at the 10 ms poll, a hundred).
    let readings: u64 = measured
        .split("by the meter's ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{measured}"));
    let samples = m["samples"].as_u64().unwrap();
    assert!(
        readings > 400 && samples > 400,
        "{readings} readings, {samples} samples: {measured}"
    );
}

#[test]
fn on_a_bench_in_real_time_the_inputs_are_read_in_the_background_between_polls() {
    // Polled every 100 ms by the executor, a 40 ms unlatch on every reboot could fall
    // between two polls; read in the background every millisecond or so, it cannot.
    let served = Served::start_with(&[
        "--device",
        "smartlock_4aa",
        "--sim-defect",
        "brief-unlatch-on-recovery",
    ]);
    let o = served
        .lockrig(&[
            "run",
            "--poll",
            "100ms",
            "--out",
            &served.path("out"),
            "relock::fail_secure_after_restore",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = &results(&run_dir(&served.dir.path().join("out")))[0];
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected door_position closed throughout")
            || msg.contains("expected latch_sensor engaged throughout"),
        "{msg}"
    );
    let failed = r["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["pass"] == false)
        .expect("the broken watch")
        .clone();
    // Far more often than the poll (which would have read it about 50 times): every
    // few milliseconds, and never a gap as wide as the poll, even on a loaded machine.
    assert!(failed["samples"].as_u64().unwrap() > 500, "{failed}");
    assert!(failed["max_gap_ms"].as_f64().unwrap() < 100.0, "{failed}");
    // A timed expectation judges every reading in its window too, not only the one
    // each poll happens to take: the unlatch, 60 ms after power returns, is found.
    let (o, r) = served.run_check(
        "for_across_reboot",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "expect console ready within ready_within",
            "wait actuation_within",
            "output main off",
            "wait power_loss_hold",
            "output main on",
            "wait 60ms",
            "expect latch_sensor engaged for 3s",
        ],
        &["--poll", "100ms"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected latch_sensor engaged for 3s, measured released at"),
        "{msg}"
    );
    drop(served);

    // A correct lock: the watch passes, on readings taken far more often than the poll,
    // and says how it was read.
    let served = Served::start_with(&["--device", "smartlock_4aa"]);
    let (o, r) = served.run_check(
        "stays_latched",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "expect console ready within ready_within",
            "wait actuation_within",
            "watch latch_sensor engaged",
            "wait 1s",
            "expect console locked",
            "unwatch latch_sensor",
            "expect latch_sensor engaged for 500ms",
            "relay egress_handle on",
            "relay door_push on",
            "control door_position open within egress_within",
            "relay door_push off",
            "relay egress_handle off",
            "control door_position closed within 2s",
            "send console UNLOCK $credential expecting OK",
            "expect latch_sensor released within actuation_within",
            "expect latch_sensor engaged within relock_within",
        ],
        &["--poll", "100ms"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = r["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["expected"].as_str().unwrap().contains("throughout"))
        .expect("the watch's verdict")
        .clone();
    let measured = m["measured"].as_str().unwrap();
    assert!(measured.contains("read in the background"), "{measured}");
    assert!(m["samples"].as_u64().unwrap() > 100, "{m}");
    assert!(m["max_gap_ms"].as_f64().unwrap() < 100.0, "{m}");
    // Every reading counts for a timed expectation too: the window's, and the door's
    // opening timed to the readings either side, not to the poll.
    let find = |what: &str| {
        r["outcome"]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["expected"].as_str().unwrap() == what)
            .unwrap_or_else(|| panic!("no `{what}` in {r}"))
            .clone()
    };
    let held = find("engaged for 500ms");
    assert!(held["samples"].as_u64().unwrap() > 50, "{held}");
    let opened = find("open within 1s");
    let measured = opened["measured"].as_str().unwrap();
    let resolution = measured
        .split("(resolution ")
        .nth(1)
        .and_then(|t| t.strip_suffix("ms)"))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{measured}"));
    assert!(resolution < 100.0, "{measured}");
    // A state seen before the step, and left since, does not count for it: the latch
    // engages again after it released, not when it was engaged before the unlock.
    let when = |what: &str| -> f64 {
        let m = find(what);
        let measured = m["measured"].as_str().unwrap().to_string();
        let t = measured.split(' ').nth(1).unwrap_or_default();
        match t.strip_suffix("ms") {
            Some(ms) => ms.parse().ok(),
            None => t
                .strip_suffix('s')
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| s * 1e3),
        }
        .unwrap_or_else(|| panic!("{measured}"))
    };
    assert!(
        when("engaged within 8s") > when("released within 1s"),
        "{r}"
    );
    // The timeline shows each take's last reading, not every one.
    let dir = run_dir(&served.dir.path().join("stays_latched"));
    let trace =
        std::fs::read_to_string(dir.join("traces/lab.stays_latched.smartlock_4aa.csv")).unwrap();
    let rows = trace
        .lines()
        .filter(|l| l.contains(",latch_sensor,"))
        .count();
    assert!((5..100).contains(&rows), "{rows} rows");
}

#[test]
fn on_a_bench_in_real_time_the_console_is_heard_as_lines_arrive() {
    // A correct board whose clock runs 10 % slow: its stamps cannot place its lines.
    // Read only between steps, a warning on a fast ramp would be known to a span the
    // rail crosses the tolerance in (a rig error on the simulated rig's virtual clock,
    // `tests/console_time.rs`); heard as it arrives, it is known to milliseconds.
    let served = Served::start_with(&[
        "--device",
        "smartlock_4aa",
        "--sim-fault",
        "console:slow-clock",
    ]);
    let suite = served.path("ramp.toml");
    std::fs::write(
        &suite,
        r#"
name = "ramp"
description = "warnings on a fast battery ramp, on a served bench"
[[check]]
name = "lab::warnings_on_a_fast_ramp"
title = "t"
requires = ["battery"]
basis = ["lab procedure"]
steps = [
  "set main nominal limit current_limit",
  "output main on",
  "expect console ready within ready_within",
  "expect latch_sensor engaged",
  "ramp main to battery_cutoff - 0.3V over 1s",
  "ramp main to battery_cutoff - 0.35V over 2s",
  "expect console event LOWBAT 1 at lowbat_1 +- battery_tolerance",
  "expect console event LOWBAT 2 at lowbat_2 +- battery_tolerance",
  "expect console event CUTOFF at battery_cutoff +- battery_tolerance",
]
"#,
    )
    .unwrap();
    // A run before it that ended leaves no holder behind to take over from.
    let check = served.lockrig(&["rig", "check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let o = served
        .lockrig(&["run", "--suite", &suite, "--out", &served.path("out")])
        .output()
        .unwrap();
    assert!(!text(&o).contains("died holding"), "{}", text(&o));
    let dir = run_dir(&served.dir.path().join("out"));
    let r = &results(&dir)[0];
    let log = r["outcome"]["log"].to_string();
    assert_eq!(o.status.code(), Some(0), "{}\n{log}", text(&o));
    // Its stamps, a tenth slow since the boot, fall outside the lines' narrow spans and
    // place nothing: the lines are placed by when they were heard.
    assert!(log.contains("(time heard) board| EVT LOWBAT 1"), "{log}");
    // Each warning's span is a few milliseconds, not a console poll.
    for m in r["outcome"]["measurements"].as_array().unwrap() {
        let measured = m["measured"].as_str().unwrap();
        if let Some(span) = measured.split("over the ").nth(1) {
            let ms: f64 = span.split("ms").next().unwrap().parse().unwrap();
            assert!(ms < 20.0, "{measured}");
        }
    }
    // The timeline says so too: heard, and how long before it may have been printed.
    let trace = std::fs::read_to_string(dir.join(r["trace"].as_str().unwrap())).unwrap();
    let heard: Vec<f64> = trace
        .lines()
        .filter(|l| l.contains(",board,") && l.ends_with(",heard"))
        .map(|l| l.rsplit(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(heard.len() >= 3, "{trace}");
    assert!(heard.iter().all(|ms| *ms < 20.0), "{heard:?}");
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
    assert!(case.status.is_success());
    let out = case.system_out.as_deref().unwrap();
    assert!(out.contains("rig: sim-served"), "{out}");
    assert!(out.contains("RIGOL TECHNOLOGIES,DP832"), "{out}");
    assert!(
        out.contains("INA219 @ 0x40 on I2CDriver SIM00001"),
        "the meter is read through the served adapter: {out}"
    );

    let served = Served::start(Some("opens-on-brownout"));
    let o = served.run("out", &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(served.junit("out").suites[0].cases[0].status.is_failure());
    served.stop();
}

/// Reads the served bench's outputs back through its own ports, as a third party would:
/// every supply channel and every relay must be off.
fn assert_served_bench_is_safe(served: &Served) {
    use lockrig::config::rig::{Link, Rig};
    use lockrig::drivers::lcus::Lcus;
    use lockrig::drivers::scpi_supply::{rigol_dp800, ScpiSupply};
    use lockrig::transport::{open_serial, Framing, LineIo};
    let rig = Rig::load(Path::new(&served.path("served.toml"))).unwrap();
    let port = |name: &str| {
        let Link::Serial { path, baud } = rig.file.instruments[name].get_ref().link().unwrap()
        else {
            panic!("{name} is on a serial port")
        };
        let t = std::time::Duration::from_millis(500);
        LineIo::new(open_serial(&path, baud, t, Framing::PLAIN).unwrap(), t)
    };
    let mut psu = ScpiSupply::open(port("psu"), &rigol_dp800::DIALECT).unwrap();
    for ch in 1..=3 {
        assert!(!psu.output(ch).unwrap(), "supply CH{ch} left on");
    }
    let mut relays = Lcus::open(port("relays"), 8).unwrap();
    assert!(
        relays.states().unwrap().iter().all(|on| !on),
        "a relay left on"
    );
}

#[test]
fn a_served_bench_interrupted_at_any_moment_ends_safe_with_valid_reports() {
    use nix::sys::signal::Signal::{SIGINT, SIGTERM};
    let served = Served::start(None);
    // Moments spread over bring-up, the brown-out, recovery and the next cycle.
    for (i, (ms, signal, code)) in [
        (120, SIGINT, 130),
        (900, SIGTERM, 143),
        (1700, SIGINT, 130),
        (2600, SIGTERM, 143),
        (4300, SIGINT, 130),
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out{i}");
        let child = served
            .run(&out, &["--repeat", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(code), "at {ms} ms: {}", text(&o));
        let dir = run_dir(&served.dir.path().join(&out));
        validate_schema(&dir.join("junit.xml"));
        assert_eq!(served.junit(&out).suites[0].cases.len(), 3, "at {ms} ms");
        assert_eq!(results(&dir).len(), 3, "at {ms} ms: results.jsonl is whole");
        assert_served_bench_is_safe(&served);
    }
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

#[test]
fn energy_per_hour_is_recorded_for_fail_safe_and_fail_secure_locks_from_measured_current() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "run",
        "--device",
        "maglock_12v",
        "--device",
        "strike_fail_secure_12v",
        "--out",
        out.path().to_str().unwrap(),
        "current::",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut energy = std::collections::BTreeMap::new();
    for r in results(&run_dir(out.path())) {
        for m in r["outcome"]["measurements"].as_array().unwrap() {
            if m["unit"] == "Wh" {
                energy.insert(
                    r["device"].as_str().unwrap().to_string(),
                    (m["value"].as_f64().unwrap(), m["measured"].to_string()),
                );
            }
        }
    }
    // A 12 V maglock holding about 250 mA uses about 3 Wh an hour; a fail-secure strike
    // idles at milliamps, a hundredth of that or less.
    let (maglock, text_m) = &energy["maglock_12v"];
    let (strike, text_s) = &energy["strike_fail_secure_12v"];
    assert!((2.0..4.5).contains(maglock), "{text_m}");
    assert!(*strike > 0.0 && *strike < maglock / 10.0, "{text_s}");
    assert!(
        text_m.contains("Wh per hour (") && text_m.contains("at 12V"),
        "{text_m}"
    );
}

/// The simulated rig of each SCPI supply dialect besides the DP800's: file, identity,
/// and what the results record of its own protection.
const SUPPLY_RIGS: &[(&str, &str, &str)] = &[
    (
        "rigs/sim-spd3303x.toml",
        "Siglent Technologies,SPD3303X,",
        "main: no hardware OVP/OCP on psu; the envelope is enforced by lockrig only",
    ),
    (
        "rigs/sim-e36312a.toml",
        "Keysight Technologies,E36312A,",
        "main: OVP 25",
    ),
    (
        "rigs/sim-e3631a.toml",
        "HEWLETT-PACKARD,E3631A,",
        "main: no hardware OVP/OCP on psu; the envelope is enforced by lockrig only",
    ),
];

#[test]
fn an_event_the_board_prints_while_a_slow_supply_answers_counts_from_the_command() {
    // The SPD3303X takes 300 ms to answer `output emergency on` (its 100 ms gaps between
    // commands); the smart lock boots and prints EMERGENCY before the reply is in. At
    // seed 2 that event came before the step's end and was not counted (a correct lock
    // failed): the stimulus is when the command was sent.
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = run_rig(
        dir.path(),
        "rigs/sim-spd3303x.toml",
        "spd",
        &[
            "--seed",
            "2",
            "--device",
            "smartlock_4aa",
            "emergency::valid_credential_unlocks",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn the_power_loss_checks_pass_on_a_siglent_and_a_keysight_supply() {
    for (rig, identity, protection) in SUPPLY_RIGS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = run(&[
            "run",
            "--rig",
            rig,
            "--device",
            "maglock_12v",
            "--out",
            out.to_str().unwrap(),
            "power_loss",
        ]);
        assert_eq!(o.status.code(), Some(0), "{rig}: {}", text(&o));
        let lines = results(&run_dir(&out));
        assert!(!lines.is_empty(), "{rig}");
        for line in &lines {
            let instruments = line["instruments"].to_string();
            assert!(instruments.contains(identity), "{rig}: {instruments}");
            let protections = line["protections"].to_string();
            assert!(protections.contains(protection), "{rig}: {protections}");
        }
    }
}

#[test]
fn a_garbled_or_silent_siglent_or_keysight_supply_is_a_rig_error_never_a_pass() {
    let faults = SUPPLY_RIGS
        .iter()
        .flat_map(|(rig, _, _)| [(*rig, "psu:garbage@3"), (*rig, "psu:silent@3")]);
    for (rig, fault) in faults {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = run(&[
            "run",
            "--rig",
            rig,
            "--device",
            "maglock_12v",
            "--sim-fault",
            fault,
            "--out",
            out.to_str().unwrap(),
            "power_loss",
        ]);
        assert_eq!(o.status.code(), Some(3), "{rig} {fault}: {}", text(&o));
        let msg = &common::first_error(&out);
        assert!(msg.contains("instrument `psu`"), "{rig}: {msg}");
    }
}

#[test]
fn the_power_loss_checks_pass_on_a_korad_ka3005p_and_a_garbled_one_is_a_rig_error() {
    let dir = tempfile::tempdir().unwrap();
    let run_on_korad = |out: &Path, faults: &[&str]| {
        let mut args = vec!["run", "--rig", "rigs/sim-ka3005p.toml"];
        args.extend(["--device", "maglock_12v", "--out", out.to_str().unwrap()]);
        args.extend(faults);
        args.push("power_loss");
        run(&args)
    };
    let out = dir.path().join("out");
    let o = run_on_korad(&out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert!(!lines.is_empty());
    for line in &lines {
        let instruments = line["instruments"].to_string();
        assert!(instruments.contains("KORAD KA3005P V5.8"), "{instruments}");
        let protections = line["protections"].to_string();
        assert!(
            protections.contains("main: no hardware OVP/OCP on psu"),
            "{protections}"
        );
    }
    let out = dir.path().join("garbled");
    let o = run_on_korad(&out, &["--sim-fault", "psu:garbage@3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(msg.contains("instrument `psu`"), "{msg}");
}

#[test]
fn a_supplys_readback_serves_as_a_coarse_meter_and_a_check_that_needs_finer_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let rig = "rigs/sim-readback.toml";
    // A lab's own check of `steps` (`lab::NAME`) on the fail-secure strike, on this rig.
    let strike = |name: &str, steps: &[&str], extra: &[&str]| {
        let suite = common::write_check(dir.path(), name, steps);
        let mut args = vec![
            "--suite",
            suite.to_str().unwrap(),
            "--device",
            "strike_fail_secure_12v",
        ];
        args.extend(extra);
        run_rig(dir.path(), rig, name, &args)
    };
    // The maglock's checks judge amperes and volts: the readback tells them apart.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "maglock",
        &[
            "--device",
            "maglock_12v",
            "--skip",
            "fail_safe_follows_supply",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    let measured: Vec<String> = lines
        .iter()
        .flat_map(|l| l["outcome"]["measurements"].as_array().unwrap().clone())
        .filter(|m| m["role"] == "main_meter")
        .map(|m| m["measured"].as_str().unwrap().to_string())
        .collect();
    assert!(!measured.is_empty());
    // Each meter reading says how coarse the meter is.
    assert!(
        measured
            .iter()
            .all(|m| m.contains("(meter: 10mV and 5mA steps, a new reading every 500ms)")),
        "{measured:?}"
    );
    // The smart lock's standby current is microamperes: no verdict from a 5 mA meter.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "smartlock",
        &["--device", "smartlock_4aa", "current::standby"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(
        msg.contains("`main_meter` reads in steps of 5mA: a range of 20uA..2mA is narrower than two of them and cannot be judged; this check needs a finer meter"),
        "{msg}"
    );
    // The DP832 measures its outputs 2-3 times a second: right after the strike's
    // power-up pulse, its readback still shows the pulse's 450 mA for up to one update
    // interval. Those readings are not the standby window's; the strike passes.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "strike",
        &["--device", "strike_fail_secure_12v", "current::standby"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    let standby = lines[0]["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "main_meter")
        .unwrap()["measured"]
        .as_str()
        .unwrap();
    assert!(
        standby.contains("from 500ms into the step (the meter makes a new reading only every 500ms: until then it may have shown what it measured before)")
            && standby.contains("max 10.1mA"),
        "{standby}"
    );
    // What the window itself holds is judged: the REX button's release pulse through
    // the whole window fails it.
    let (o, out) = strike(
        "pulse",
        &[
            "set main 12V limit 1A",
            "output main on",
            "expect console ready within 1s",
            "wait 2s",
            "expect latch_sensor engaged",
            "relay rex_button on",
            "wait 100ms",
            "relay rex_button off",
            "measure main_meter current in 1mA..20mA for 2s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = &common::first_failure(&out);
    assert!(msg.contains("min 451.4mA"), "{msg}");
    // After a command, a window opens when it was sent, and keeps its readings: right
    // after the REX pulse ends, the readback still shows the pulse's 451 mA, which may
    // have been measured before the command. The verdict depends on them: a rig error,
    // neither the fail of the stale readings nor the pass of the rest.
    let (o, out) = strike(
        "after_command",
        &[
            "set main 12V limit 1A",
            "output main on",
            "expect console ready within 1s",
            "wait 2s",
            "expect latch_sensor engaged",
            "pulse rex_button for 200ms",
            "expect latch_sensor released within 1s",
            "expect latch_sensor engaged within 8s",
            "send console STATE? expecting STATE LOCKED",
            "measure main_meter current in 1mA..20mA for 2s",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(
        msg.contains("readings after step 9's command (451.4mA) may have been measured before it was sent; the verdict depends on them"),
        "{msg}"
    );
    // One reading right after the supply was set is taken once the readback has
    // measured again, not from the figures it still shows from before: 10 V is not
    // read as what the supply gives after it was set to 12 V.
    // So it is with a poll slower than the meter (`--poll 1s`), where the reading says
    // nothing more of it.
    for (range, exit, poll) in [
        ("11.8V..12.2V", 0, "10ms"),
        ("9.8V..10.2V", 1, "10ms"),
        ("9.8V..10.2V", 1, "1s"),
    ] {
        let (o, out) = strike(
            &format!("reading_{exit}_{poll}"),
            &[
                "set main 10V limit 1A",
                "output main on",
                "wait 2s",
                "expect latch_sensor engaged",
                "set main 12V",
                &format!("measure main_meter voltage in {range}"),
                "output main off",
            ],
            &["--poll", poll],
        );
        assert_eq!(o.status.code(), Some(exit), "{range}: {}", text(&o));
        let lines = results(&run_dir(&out));
        let measured = lines[0]["outcome"]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "main_meter")
            .unwrap()["measured"]
            .as_str()
            .unwrap();
        let note = if poll == "1s" {
            "12V"
        } else {
            "12V, read 500ms into the step, when the meter had measured again"
        };
        assert!(measured.starts_with(note), "{measured}");
    }
    // A sag right after a low level: the readback still shows that level at the sag's
    // start, which is not the sag's depth.
    let (o, out) = strike(
        "sag",
        &[
            "set main 12V limit 1A",
            "output main on",
            "wait 2s",
            "expect latch_sensor engaged",
            "set main 2V",
            "wait 10s",
            "set main 12V",
            "wait 300ms",
            "sag main to 2V for 30ms recover 1s",
            "expect latch_sensor engaged",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(msg.contains("that depth was not tested"), "{msg}");
    // A peak bounds what happens between readings: a meter that reads every 500 ms
    // would miss a motor's 300 ms pulse, whatever the poll (at `--poll 500ms` the
    // readback had failed correct locks and passed an 8 ms inrush of 600 mA).
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "peak",
        &[
            "--device",
            "smartlock_4aa",
            "--poll",
            "500ms",
            "emergency::port_current",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(
        msg.contains("a peak needs a meter that makes a new reading at least every 10ms, and `emergency_meter` makes one every 500ms"),
        "{msg}"
    );
    // A watch across channels judges each sample against the line's readings: one up
    // to half a second old could fall on either side of the level.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "follows",
        &[
            "--device",
            "maglock_12v",
            "brownout::fail_safe_follows_supply",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(
        msg.contains("`main_meter` makes a new reading every 500ms (poll 10ms)")
            && msg
                .contains("this check needs a meter that makes a new reading at least every 10ms"),
        "{msg}"
    );
    // So at a poll slower than the meter: a reading 400 ms old had failed a correct
    // strike that released as its supply fell.
    let (o, out) = run_rig(
        dir.path(),
        rig,
        "follows-slow-poll",
        &[
            "--device",
            "strike_fail_safe_24v",
            "--poll",
            "400ms",
            "brownout::fail_safe_follows_supply",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = &common::first_error(&out);
    assert!(msg.contains("(poll 400ms)"), "{msg}");
}

#[test]
fn rig_drivers_lists_every_supported_instrument_with_its_emulator() {
    let o = run(&["rig", "drivers", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let entries: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let drivers: Vec<&str> = entries
        .iter()
        .map(|e| e["driver"].as_str().unwrap())
        .collect();
    for family in [
        "rigol-dp800",
        "siglent-spd3303x",
        "keysight-e36300",
        "korad-ka3005p",
        "lcus",
        "numato-gpio",
        "ina219",
        "lock-console",
        "riden-rd60xx",
        "modbus-relay",
        "gpio-input",
        "gpio-output",
        "probe-rs",
        "siglent-spd1000x",
        "keysight-e3631a",
    ] {
        assert!(drivers.contains(&family), "{family}: {drivers:?}");
    }
    // The INA219 both ways: on a Linux I2C bus and behind an I2CDriver.
    let ina: Vec<&str> = entries
        .iter()
        .filter(|e| e["driver"] == "ina219")
        .map(|e| e["transport"].as_str().unwrap())
        .collect();
    assert!(ina.iter().any(|t| t.contains("/dev/i2c-N")), "{ina:?}");
    assert!(ina.iter().any(|t| t.contains("i2cdriver")), "{ina:?}");
    // Each emulator named is one the simulator serves (a GPIO chip is a kernel device,
    // not a byte stream: the simulator offers its chip in-process only).
    let served: Vec<&str> = lockrig::sim::instruments().collect();
    for e in &entries {
        if let Some(sim) = e["sim"].as_str().filter(|s| *s != "gpiochip") {
            assert!(served.contains(&sim), "{sim} is not served: {served:?}");
        }
    }
    let o = run(&["rig", "drivers"]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(listing.contains("Korad KA3005P family"), "{listing}");
}

#[test]
fn the_whole_suite_runs_on_a_daq970a_switching_the_actuators_and_catches_a_defect() {
    let dir = tempfile::tempdir().unwrap();
    let run_on =
        |name: &str, extra: &[&str]| run_rig(dir.path(), "rigs/sim-daq970a.toml", name, extra);
    let (o, out) = run_on("all", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert_eq!(lines.len(), common::default_trials());
    assert!(lines.iter().all(|l| l.get("skipped").is_none()));
    let instruments = lines[0]["instruments"].to_string();
    assert!(
        instruments.contains("Keysight Technologies,DAQ970A,MY58SIM0001")
            && instruments.contains("(module in slot 1)"),
        "{instruments}"
    );
    // The fire-alarm loop is a DAQ970A relay: a lock that ignores it fails.
    let (o, _) = run_on(
        "defect",
        &["--sim-defect", "ignores-fire-alarm", "fire::releases"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A DAQ970A that stops answering is a rig error naming it.
    let (o, out) = run_on(
        "silent",
        &[
            "--device",
            "maglock_12v",
            "--sim-fault",
            "relays:silent@2",
            "power_loss::fail_safe_releases",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let case = &junit(&run_dir(&out).join("junit.xml")).suites[0].cases[0];
    assert!(case
        .status
        .error_as_ref()
        .message
        .contains("instrument `relays`"));
}

#[test]
fn sim_serve_listens_on_loopback_unless_given_listen() {
    use std::io::BufRead as _;
    let served = |extra: &[&str]| {
        let mut child = lockrig()
            .args(["sim", "serve", "--device", "maglock_12v"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines: Vec<String> = std::io::BufReader::new(stdout)
            .lines()
            .map(Result::unwrap)
            .take_while(|l| !l.starts_with("serving until"))
            .collect();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130));
        let addrs: Vec<std::net::SocketAddr> = lines
            .iter()
            .filter_map(|l| l.split("tcp ").nth(1))
            .map(|a| a.trim().parse().unwrap())
            .collect();
        (addrs, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (addrs, _) = served(&[]);
    assert_eq!(addrs.len(), 4, "the four LAN instruments");
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    let (addrs, err) = served(&["--listen", "0.0.0.0"]);
    assert!(addrs.iter().all(|a| a.ip().is_unspecified()), "{addrs:?}");
    assert!(err.contains("beyond this host"), "{err}");
}

#[test]
fn the_suite_runs_on_a_riden_and_a_modbus_relay_board_and_catches_a_defect() {
    let dir = tempfile::tempdir().unwrap();
    let run_on =
        |name: &str, extra: &[&str]| run_rig(dir.path(), "rigs/sim-riden.toml", name, extra);
    // Everything but the checks that need an emergency-port supply, which a
    // one-channel RD6006 bench does not have.
    let (o, out) = run_on("all", &["--skip", "emergency"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert!(lines.len() > 80, "{}", lines.len());
    let instruments = lines[0]["instruments"].to_string();
    assert!(
        instruments.contains("Riden RD6006 SN:00012345 FW:1.28 (Modbus slave 1)")
            && instruments.contains("Modbus relay board, 8 relays at coils 0-7 (slave 1)"),
        "{instruments}"
    );
    // The fire-alarm loop is a Modbus relay: a lock that ignores it fails.
    let (o, _) = run_on(
        "defect",
        &["--sim-defect", "ignores-fire-alarm", "fire::releases"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A Riden that stops answering is a rig error naming it, and the bench is left safe.
    let (o, out) = run_on(
        "silent",
        &[
            "--device",
            "maglock_12v",
            "--sim-fault",
            "psu:silent@6",
            "power_loss::fail_safe_releases",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let message = &common::first_error(&out);
    assert!(message.contains("instrument `psu`"), "{message}");
}

#[test]
fn the_suite_runs_through_another_firmwares_console_dialect_and_is_not_fooled_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let run_on = |rig: &str, name: &str, extra: &[&str]| run_rig(dir.path(), rig, name, extra);
    // A Zephyr-shell board, reached through fixtures/dialects/acme-sl200.toml.
    let (o, out) = run_on("rigs/sim-acme.toml", "all", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir_ = run_dir(&out);
    let lines = results(&dir_);
    assert_eq!(lines.len(), common::default_trials());
    assert!(lines[0]["instruments"]
        .to_string()
        .contains("lock console (acme-sl200 dialect)"));
    // The firmware's own lines are kept as its text; the PIN it echoes is redacted.
    let trace =
        std::fs::read_to_string(dir_.join("traces/battery.decay_warnings.smartlock_4aa.csv"))
            .unwrap();
    assert!(trace.contains("*** Booting Acme SL-200"), "{trace}");
    assert!(trace.contains("EVT LOWBAT 1"), "events in lockrig's words");
    let unlock = std::fs::read_to_string(
        dir_.join("traces/emergency.valid_credential_unlocks.smartlock_4aa.csv"),
    )
    .unwrap();
    assert!(
        unlock.contains("uart:~$ lock open <secret credential #"),
        "{unlock}"
    );
    assert!(!unlock.contains("246810"));
    // Events and replies in the dialect still catch defects.
    for (defect, check) in [
        ("no-lowbat-warning", "battery::"),
        ("emergency-accepts-any-credential", "emergency::"),
        ("bricks-on-update-cut", "update::"),
    ] {
        let (o, _) = run_on(
            "rigs/sim-acme.toml",
            defect,
            &["--device", "smartlock_4aa", "--sim-defect", defect, check],
        );
        assert_eq!(o.status.code(), Some(1), "{defect}: {}", text(&o));
    }
    // The same board without its dialect: what lockrig cannot understand is a rig
    // error, never a pass.
    let rig = std::fs::read_to_string("rigs/sim-acme.toml")
        .unwrap()
        .replace("dialect = \"acme-sl200\"", "");
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, rig).unwrap();
    let (o, out) = run_on(
        plain.to_str().unwrap(),
        "plain",
        &["--device", "smartlock_4aa"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let verdicts: Vec<String> = results(&run_dir(&out))
        .iter()
        .filter(|l| l["verdict"] == "pass")
        .map(|l| l["check"].as_str().unwrap().to_string())
        .collect();
    assert!(
        verdicts.iter().all(|c| c.starts_with("egress::")),
        "only mechanical egress can pass without the console: {verdicts:?}"
    );
}

#[test]
fn a_gpio_bench_runs_the_suite_and_its_edges_catch_an_unlatch_between_polls() {
    let dir = tempfile::tempdir().unwrap();
    let run_on = |rig: &str, name: &str, extra: &[&str]| run_rig(dir.path(), rig, name, extra);
    let (o, out) = run_on("rigs/sim-gpio.toml", "all", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert_eq!(lines.len(), common::default_trials());
    assert!(lines[0]["instruments"].to_string().contains("gpiochip-sim"));
    // The bolt twitches open for 40 ms on each reboot; only the latch sensor watches.
    // Polled every 300 ms, the twitch falls between two samples: the polled bench
    // cannot see it (and its result says what its poll was). The edge input sees it.
    let watch = [
        "--suite",
        "tests/data/latch-watch.toml",
        "--device",
        "smartlock_4aa",
        "--sim-defect",
        "brief-unlatch-on-recovery",
        "--poll",
        "300ms",
    ];
    let (o, out) = run_on("rigs/sim.toml", "polled", &watch);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let polled = results(&run_dir(&out));
    let measured = polled[0]["outcome"]["measurements"].to_string();
    assert!(measured.contains("poll 300ms"), "{measured}");
    let (o, out) = run_on("rigs/sim-gpio.toml", "edges", &watch);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir_ = run_dir(&out);
    let failed = &results(&dir_)[0];
    let message = failed["outcome"]["message"].as_str().unwrap();
    assert!(
        message.contains("measured released at")
            && message.contains("for 40ms, by the input's timestamped edge"),
        "{message}"
    );
    let trace =
        std::fs::read_to_string(dir_.join("traces/latch.held_through_power_cut.smartlock_4aa.csv"))
            .unwrap();
    assert!(
        trace.contains("input,latch_sensor,released,,edge"),
        "{trace}"
    );
    // Without the defect both pass.
    let (o, _) = run_on("rigs/sim-gpio.toml", "clean", &watch[..4]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn flash_refuses_bad_input_and_reports_a_missing_probe_as_an_instrument_error() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("probe.toml");
    std::fs::write(
        &rig,
        "[rig]\nname = \"probe-bench\"\n\n[instruments.psu]\ndriver = \"rigol-dp800\"\nserial = \"/dev/ttyUSB9\"\nbaud = 115200\n\n[instruments.swd]\ndriver = \"probe-rs\"\nprobe = \"0483:374b:LOCKRIGTEST\"\nchip = \"STM32L431RCTx\"\n\n[roles]\nmain = { instrument = \"psu\", channel = 1 }\n\n[envelope.main]\nmax_volts = \"13V\"\nmax_amps = \"1A\"\n\n[safe_state]\nmain = \"off\"\n",
    )
    .unwrap();
    let image = dir.path().join("lock.elf");
    std::fs::write(&image, b"\x7fELF").unwrap();
    let flash = |image: &std::path::Path, rig: &std::path::Path| {
        run(&[
            "flash",
            image.to_str().unwrap(),
            "--rig",
            rig.to_str().unwrap(),
        ])
    };
    // No probe on this machine: the instrument is named, exit 3.
    let o = flash(&image, &rig);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("instrument `swd`") && text(&o).contains("0483:374b"),
        "{}",
        text(&o)
    );
    // An image of no known format, and a rig without a probe: bad input, exit 2.
    let zip = dir.path().join("lock.zip");
    std::fs::write(&zip, b"PK").unwrap();
    let o = flash(&zip, &rig);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("expected an .elf, .hex or .bin image"),
        "{}",
        text(&o)
    );
    let o = flash(&image, std::path::Path::new("rigs/sim-gpio.toml"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("has no probe-rs instrument"),
        "{}",
        text(&o)
    );
    // The built-in bench's probe is the simulator's, whose chip has no flash modelled.
    let o = flash(&image, std::path::Path::new("rigs/sim.toml"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the simulated chip has no flash to program"),
        "{}",
        text(&o)
    );
    // A probe needs its chip, and plays no role.
    let text_of = |from: &str, to: &str| {
        let body = std::fs::read_to_string(&rig).unwrap().replace(from, to);
        std::fs::write(dir.path().join("bad.toml"), body).unwrap();
        let o = run(&[
            "rig",
            "check",
            "--rig",
            dir.path().join("bad.toml").to_str().unwrap(),
        ]);
        (o.status.code(), text(&o))
    };
    let (code, msg) = text_of("chip = \"STM32L431RCTx\"\n", "");
    assert_eq!(code, Some(2), "{msg}");
    assert!(msg.contains("a probe-rs instrument needs `chip`"), "{msg}");
    let (code, msg) = text_of(
        "main = { instrument = \"psu\", channel = 1 }",
        "main = { instrument = \"swd\" }",
    );
    assert_eq!(code, Some(2), "{msg}");
    assert!(msg.contains("role `main`"), "{msg}");
}

#[test]
fn a_dip_relay_makes_the_brown_outs_a_supply_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let run_on = |rig: &str, name: &str, extra: &[&str]| run_rig(dir.path(), rig, name, extra);
    // The whole suite with every sag of `main` made by the dip relay.
    let (o, out) = run_on("rigs/sim-dip.toml", "all", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = results(&run_dir(&out));
    assert_eq!(lines.len(), common::default_trials());
    let all = lines.iter().map(|l| l.to_string()).collect::<String>();
    assert!(
        all.contains("dip relay onto the sag supply at"),
        "the dip path was used"
    );
    // 20 ms down to 1.5 V: the supply alone cannot (a rig error naming the depth it
    // reached), the dip relay can.
    let short = [
        "--suite",
        "tests/data/short-dip.toml",
        "--device",
        "smartlock_4aa",
        "--poll",
        "5ms",
    ];
    let (o, _) = run_on("rigs/sim.toml", "supply", &short);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("the rail fell only to"), "{}", text(&o));
    // The meter at its reset setting reads faster than the poll: the supply alone
    // is named.
    assert!(!text(&o).contains("missed its bottom"), "{}", text(&o));
    // A meter averaging 128 conversions reads a shallower rail than the lock saw:
    // the error names it as a possible cause.
    let averaging = fixture_variant(
        dir.path(),
        "avg.toml",
        "rigs/sim.toml",
        &[(
            "max_current = \"2A\"",
            "max_current = \"2A\"\naveraging = 128",
        )],
    );
    let (o, _) = run_on(
        averaging.to_str().unwrap(),
        "averaging",
        &["--device", "smartlock_4aa", "brownout::sag_resets_safely"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("or the meter, one new reading every 136.2ms, missed its bottom"),
        "{}",
        text(&o)
    );
    let (o, out) = run_on("rigs/sim-dip.toml", "dip", &short);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    let log = r["outcome"]["log"].to_string();
    assert!(log.contains("dip relay onto the sag supply"), "{log}");
    assert!(log.contains("commanded 20ms at 1.5V"), "{log}");
    assert_eq!(r["safe_state"]["confirmed"], true, "{r}");
}

#[test]
fn a_supply_with_a_timer_times_whole_second_sags_itself() {
    let dir = tempfile::tempdir().unwrap();
    let sags = ["--device", "smartlock_4aa", "brownout::sag_resets_safely"];
    let random = ["--device", "smartlock_4aa", "brownout::random_sags"];
    // The DP832 of the built-in bench: its timer holds each 3 s sag; random sags of
    // fractional seconds are made by setpoints, as on a supply without a timer.
    let log_of = |name: &str, args: &[&str]| {
        let (o, out) = run_rig(dir.path(), "rigs/sim.toml", name, args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let dir = run_dir(&out);
        let r = &results(&dir)[0];
        (r["outcome"]["log"].to_string(), dir)
    };
    let (fixed, dir_dp) = log_of("dp800", &sags);
    assert!(
        fixed.contains("sag 1/3: the supply's timer held 1.5V for 3s on its own clock (in 1s steps; the rail was back 3.01s after the start, to within 10ms), then 6V; the rail fell to"),
        "{fixed}"
    );
    assert!(!fixed.contains("setpoint"), "{fixed}");
    let (random, _) = log_of("random", &random);
    assert!(
        random.contains("(held ") && !random.contains("timer"),
        "random durations are made by setpoints: {random}"
    );
    let outputs = std::fs::read_to_string(dir_dp.join("sim-outputs.log")).unwrap();
    assert_eq!(
        outputs.matches("CH1 sequence of 2 steps started").count(),
        3,
        "{outputs}"
    );
    assert_eq!(
        outputs.matches("CH1 sequence ended").count(),
        3,
        "{outputs}"
    );
    // A supply whose timer runs slow: what the meter saw is not the sag programmed, a
    // rig error naming both, never a verdict on the lock.
    let slow = [&sags[..], &["--sim-fault", "psu:slow-timer"]].concat();
    let (o, out) = run_rig(dir.path(), "rigs/sim.toml", "slow", &slow);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("the supply's timer was to hold 1.5V for 3s and the rail came back 7.5"),
        "{msg}"
    );
    // The SPD3303X has no timer lockrig programs: setpoints, the same verdict.
    let (o, out) = run_rig(dir.path(), "rigs/sim-spd3303x.toml", "spd", &sags);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    let log = r["outcome"]["log"].to_string();
    // Held longer than commanded: each of its commands waits out the 100 ms the
    // instrument needs after the last one, then takes it 10 ms. The watches, sampled
    // between the exchanges, say their gap was wider than the poll.
    assert!(
        log.contains("sag 1/3: setpoint 1.5V held 3.11s (commanded 3s), then 6V"),
        "{log}"
    );
    assert!(
        log.contains("largest gap 120ms: wider than the poll interval"),
        "{log}"
    );
}

#[test]
fn a_current_off_the_meters_scale_above_the_range_is_a_failure_not_a_rig_fault() {
    // The port's INA219 calibrated for 0.52 A: its current register overflows (OVF)
    // above 524 mA. An overdrawing lock (537 mA and more) takes it off its scale,
    // which is a measured failure of the 500 mA bound, not a broken rig.
    let dir = tempfile::tempdir().unwrap();
    let rig = fixture_variant(
        dir.path(),
        "narrow.toml",
        "rigs/sim.toml",
        &[("max_current = \"1A\"", "max_current = \"0.52A\"")],
    );
    let args = |defect: &'static str| {
        let mut a = vec!["--device", "smartlock_4aa", "emergency::port_current"];
        if !defect.is_empty() {
            a.extend(["--sim-defect", defect]);
        }
        a
    };
    let rig = rig.to_str().unwrap();
    let (o, out) = run_rig(dir.path(), rig, "over", &args("emergency-overdraw"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    let msg = r["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected emergency_meter peak in 20mA..500mA, measured above 524.272mA"),
        "{msg}"
    );
    assert!(msg.contains("OVF"), "{msg}");
    // A correct lock stays on the scale and passes.
    let (o, _) = run_rig(dir.path(), rig, "fine", &args(""));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_window_after_a_command_counts_the_boards_reply_time_as_a_gap() {
    // A board that acts on the credential at once and answers 30 ms later: the unlock's
    // window opens after the answer, and says what it could not see.
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--device",
        "smartlock_4aa",
        "--sim-fault",
        "console:slow-reply",
        "emergency::port_current",
    ];
    let (o, out) = run_rig(dir.path(), "rigs/sim.toml", "slow", &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = &results(&run_dir(&out))[0];
    let unlock = r["outcome"]["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["measured"].as_str().unwrap().contains("samples over 2s"))
        .expect("the unlock's window")
        .clone();
    let measured = unlock["measured"].as_str().unwrap();
    assert!(
        measured.contains("largest gap 30ms, the meter's own rate; the first reading came 30ms after step 16's command was sent"),
        "{measured}"
    );
    assert_eq!(unlock["max_gap_ms"].as_f64(), Some(30.0), "{unlock}");
    // A board that answers at once leaves no such gap.
    let (o, out) = run_rig(
        dir.path(),
        "rigs/sim.toml",
        "prompt",
        &args[..2]
            .iter()
            .chain(&args[4..])
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let log = results(&run_dir(&out))[0]["outcome"]["log"].to_string();
    assert!(!log.contains("the first reading came"), "{log}");
    assert!(
        log.contains("largest gap 1.064ms, the meter's own rate)"),
        "{log}"
    );
}

#[test]
fn short_windows_keep_the_watches_poll_and_a_shallow_timed_sag_is_timed_by_the_meter() {
    let dir = tempfile::tempdir().unwrap();
    let suite = ["--suite", "tests/data/short-windows.toml"];
    let run_with = |name: &str, extra: &[&str]| {
        let args = [&suite[..], extra].concat();
        let (o, out) = run_rig(dir.path(), "rigs/sim.toml", name, &args);
        (o, results(&run_dir(&out)))
    };
    // A 40 ms boot glitch of the latch, inside forty 30 ms windows at a 50 ms poll:
    // the watch is still sampled every poll, and sees it.
    let (o, r) = run_with(
        "glitch",
        &[
            "--device",
            "smartlock_4aa",
            "--sim-defect",
            "brief-unlatch-on-recovery",
            "--poll",
            "50ms",
            "windows::glitch",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = r[0]["outcome"]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected latch_sensor engaged throughout"),
        "{msg}"
    );
    // A sag to 96 % of nominal: timed from where the rail comes back through the
    // middle of the sag, so a correct bench passes on every lock class ...
    for device in ["maglock_12v", "strike_fail_secure_12v", "smartlock_4aa"] {
        let (o, r) = run_with(device, &["--device", device, "windows::shallow"]);
        assert_eq!(o.status.code(), Some(0), "{device}: {}", text(&o));
        assert!(r[0]["outcome"]["log"]
            .to_string()
            .contains("the supply's timer held"));
    }
    // ... and a timer that runs slow is seen, not trusted.
    let (o, r) = run_with(
        "slow",
        &[
            "--device",
            "strike_fail_secure_12v",
            "--sim-fault",
            "psu:slow-timer",
            "windows::shallow",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = r[0]["outcome"]["message"].as_str().unwrap();
    assert!(msg.contains("the supply's timer was to hold"), "{msg}");
}
