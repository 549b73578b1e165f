//! Instrument faults injected by the simulator: each is reported as a rig error
//! naming the instrument (exit 3), never as a pass, with valid reports and no hang;
//! a rig whose safe state cannot be confirmed is not touched again until checked.

mod common;

use common::{
    all_cases, fixture_variant, junit, lockrig, results, run_dir as only_dir, text, validate_schema,
};
use std::time::{Duration, Instant};

/// (fault, instrument named in the error (`a|b`: either), trials that must end in a
/// rig error). The run covers one fail-secure trial (supply, relays, inputs, console)
/// and one fail-safe trial (supply, relays, inputs, meter).
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
        "console:silent",
        "board",
        &["power_loss::fail_secure_holds::smartlock_4aa"],
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
    // The INA219s' I2CDriver adapter itself: silent, garbled or unplugged, at open
    // (its echo and status) or in mid-measurement. It carries both chips, so the
    // error names whichever of their instruments was using it.
    (
        "meter:silent@1",
        "meter|port_meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    (
        "meter:garbage@30",
        "meter|port_meter",
        &["power_loss::fail_safe_releases::maglock_12v"],
    ),
    (
        "meter:drop@40",
        "meter|port_meter",
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
                        instrument
                            .split('|')
                            .any(|i| msg.contains(&format!("instrument `{i}`")))
                            || msg.contains("rig unhealthy"),
                        "{fault}: {name}: {msg}"
                    );
                }
                let first = cases
                    .iter()
                    .find(|c| c.original_name == affected[0])
                    .unwrap();
                let first = &first.status.error_as_ref().message;
                assert!(
                    instrument
                        .split('|')
                        .any(|i| first.contains(&format!("instrument `{i}`"))),
                    "{fault}: the first affected trial names the instrument: {first}"
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

/// Runs [`TRIALS`] with `fault` into `out/name`: the exit code and the smart lock's
/// power-loss trial's rig error.
fn smartlock_error(out: &std::path::Path, name: &str, fault: &str) -> (Option<i32>, String) {
    let o = lockrig()
        .args(["run", "--sim-fault", fault, "--out"])
        .arg(out.join(name))
        .args(TRIALS)
        .output()
        .unwrap();
    let cases = all_cases(&junit(&only_dir(&out.join(name)).join("junit.xml")));
    let case = cases
        .iter()
        .find(|c| c.original_name == "power_loss::fail_secure_holds::smartlock_4aa")
        .unwrap_or_else(|| panic!("{}", text(&o)));
    (o.status.code(), case.status.error_as_ref().message.clone())
}

#[test]
fn a_console_never_heard_is_the_rig_and_one_that_falls_silent_is_the_board() {
    let out = tempfile::tempdir().unwrap();
    // Never heard in the check (a loose TX wire, the wrong port): the board cannot be
    // blamed, and the message says what to check.
    let (code, msg) = smartlock_error(out.path(), "never", "console:silent");
    assert_eq!(code, Some(3), "{msg}");
    assert!(msg.contains("expected console ready within"), "{msg}");
    assert!(
        msg.contains("on role `console`, instrument `board`, no command to it has been answered"),
        "{msg}"
    );
    assert!(msg.contains("lockrig ctl console STATE?"), "{msg}");
    // Its lines arrive but its answers never do (replies later than any timeout, or a
    // loose RX wire): the link is proven one way only, and the board is not blamed.
    let (code, msg) = smartlock_error(out.path(), "oneway", "console:delay");
    assert_eq!(code, Some(3), "{msg}");
    assert!(msg.contains("(it printed a boot line)"), "{msg}");
    assert!(msg.contains("no command to it has been answered"), "{msg}");
    // Heard at step 5, then silent when the fire alarm must be reported. On a rig with
    // no second path to the board, the board's failure, and the measurement says since
    // when it has said nothing and that a failed link would look the same.
    let no_probe = concat!(env!("CARGO_MANIFEST_DIR"), "/rigs/sim-gpio.toml");
    let later = |dir: &str, rig: Option<&str>| {
        let mut cmd = lockrig();
        cmd.args(["run", "--sim-fault", "console:silent@2", "--out"])
            .arg(out.path().join(dir))
            .args(["--device", "hybrid_12v", "fire::releases"]);
        if let Some(rig) = rig {
            cmd.args(["--rig", rig]);
        }
        let o = cmd.output().unwrap();
        (
            o.status.code(),
            text(&o),
            common::first_case(&out.path().join(dir)),
        )
    };
    let (code, o, case) = later("later", Some(no_probe));
    assert_eq!(code, Some(1), "{o}");
    let msg = &case.status.failure_as_ref().message;
    assert!(msg.contains("no FIRE ALARM event"), "{msg}");
    assert!(msg.contains("it last answered at step 5"), "{msg}");
    assert!(
        msg.contains("a console link that failed since would look the same"),
        "{msg}"
    );
    // The built-in rig has a debug probe on the board: through it the board runs and
    // answers on RTT, so its console link failed, and the check cannot be judged.
    let (code, o, case) = later("probed", None);
    assert_eq!(code, Some(3), "{o}");
    let msg = &case.status.error_as_ref().message;
    assert!(msg.contains("it last answered at step 5"), "{msg}");
    assert!(
        msg.contains("through the debug probe its firmware runs and answers on RTT (`STATE UNLOCKED`): the console link of role `console` (instrument `board`), or the firmware's console on it, failed"),
        "{msg}"
    );
}

#[test]
fn a_board_that_hangs_is_told_from_a_dead_link_by_its_debug_probe() {
    // A power cut while its update is written leaves the board with no image to run:
    // silent on its console, and its core locked up as the debug probe finds it.
    let out = tempfile::tempdir().unwrap();
    let o = lockrig()
        .args(["run", "--sim-defect", "bricks-on-update-cut", "--out"])
        .arg(out.path())
        .args(["--device", "smartlock_4aa", "update::power_cut"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = only_dir(out.path());
    let msg = common::first_failure(out.path());
    assert!(
        msg.contains("the debug probe finds its core locked up (no valid image to run, or a fault in its fault handler): the board hung"),
        "{msg}"
    );
    // What the probe was asked and found is on the trial's timeline.
    let trace =
        std::fs::read_to_string(dir.join("traces/update.power_cut.smartlock_4aa.csv")).unwrap();
    assert!(trace.contains(",console,swd,core LockedUp,"), "{trace}");
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

/// The total size of the files under `dir`.
fn size_of(dir: &std::path::Path) -> u64 {
    common::files(dir)
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

/// Runs lockrig under `/usr/bin/time` when it is installed, to read its peak memory
/// (kilobytes) from the last line of stderr.
fn run_measured(args: &[&str]) -> (std::process::Output, Option<u64>) {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        return (lockrig().args(args).output().unwrap(), None);
    }
    let o = std::process::Command::new(time)
        .args(["-f", "peak-kb %M", env!("CARGO_BIN_EXE_lockrig")])
        .args(args)
        .output()
        .unwrap();
    let peak = String::from_utf8_lossy(&o.stderr)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-kb ")?.trim().parse().ok());
    (o, peak)
}

#[test]
fn a_flooding_console_is_a_rig_error_for_evidence_lost_within_bounds() {
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    // The brown-out checks: the sweep is long enough for the flood to overrun the
    // console's queue and the check's cap, not only the line cap.
    let (o, peak_kb) = run_measured(&[
        "run",
        "--sim-fault",
        "console:flood",
        "--out",
        out.path().to_str().unwrap(),
        "--device",
        "smartlock_4aa",
        "brownout::",
        "--skip",
        "egress::",
    ]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    if let Some(kb) = peak_kb {
        assert!(kb < 200 * 1024, "peak memory {kb} KiB");
    }
    let dir = only_dir(out.path());
    // Every result and trace is capped: four checks cannot make a run directory grow
    // past this (each check's record about 2 MB in results.jsonl and as much in
    // junit.xml, its trace's board lines 1 MiB beside its samples).
    assert!(size_of(&dir) < 24 << 20, "{} bytes", size_of(&dir));
    validate_schema(&dir.join("junit.xml"));
    let cases = all_cases(&junit(&dir.join("junit.xml")));
    assert_eq!(cases.len(), 4, "{cases:?}");
    for case in &cases {
        let msg = &case.status.error_as_ref().message;
        assert!(
            msg.contains("evidence lost") && msg.contains("console lines dropped"),
            "{}: {msg}",
            case.original_name
        );
        let out = case.system_out.as_deref().unwrap_or_default();
        assert!(out.contains("evidence lost: "), "{out}");
        // The flood's invalid UTF-8 and control characters are shown escaped.
        assert!(out.contains("board| flood "), "{out}");
        assert!(out.contains(r"\xff\xfe\xc3(\x1b[2J\x07\x00"), "{out}");
        assert!(out.contains("[line cut: longer than 4096 bytes]"), "{out}");
    }
    let results = results(&dir);
    assert_eq!(results.len(), 4);
    let mut capped = 0;
    for r in &results {
        let dropped = &r["outcome"]["dropped"];
        assert_eq!(r["outcome"]["verdict"], "error", "{r}");
        assert!(dropped["cut_lines"].as_u64().unwrap() > 0, "{dropped}");
        assert!(dropped["console_bytes"].as_u64().unwrap() > 0, "{dropped}");
        let log = r["outcome"]["log"].as_array().unwrap();
        assert!(log.len() <= 10_000 + 1, "{}", log.len());
        // The trial's trace kept its samples, capped the board's lines and counted the rest.
        let trace = std::fs::read_to_string(dir.join(r["trace"].as_str().unwrap())).unwrap();
        assert!(trace.lines().any(|l| l.contains(",input,")));
        capped += usize::from(
            trace
                .lines()
                .last()
                .unwrap()
                .contains("rows dropped past the caps"),
        );
        let board: usize = trace
            .lines()
            .filter(|l| l.contains(",board,"))
            .map(|l| l.len() + 1)
            .sum();
        assert!(
            board <= (1 << 20) + 64 * 1024,
            "{board} bytes of board lines"
        );
    }
    assert!(capped > 0, "no trace reached its cap of board lines");
    // The long check overran the console's caps: whole lines were dropped and counted.
    let sweep = results
        .iter()
        .find(|r| r["check"] == "brownout::boundary")
        .unwrap();
    let lines = sweep["outcome"]["dropped"]["console_lines"]
        .as_u64()
        .unwrap();
    assert!(lines > 0, "{}", sweep["outcome"]["dropped"]);
    assert!(sweep["outcome"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("evidence lost: {lines} console lines dropped")));
}

#[test]
fn board_text_cannot_forge_lockrigs_records() {
    let out = tempfile::tempdir().unwrap();
    let o = lockrig()
        .args([
            "run",
            "--sim-fault",
            "console:forge",
            "--out",
            out.path().to_str().unwrap(),
            "--device",
            "smartlock_4aa",
            "power_loss::",
        ])
        .output()
        .unwrap();
    // The forgeries change nothing: the board otherwise behaves, and the check passes.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("forged"));
    let dir = only_dir(out.path());
    validate_schema(&dir.join("junit.xml"));
    let cases = all_cases(&junit(&dir.join("junit.xml")));
    assert_eq!(cases.len(), 1, "no testcase forged: {cases:?}");
    assert!(cases.iter().all(|c| !c.original_name.contains("fake")));
    let system_out = cases[0].system_out.as_deref().unwrap_or_default();
    // The XML stays text, escaped, in the board's line.
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(xml.contains(
        "board| &lt;/system-out&gt;&lt;/testcase&gt;&lt;testcase name=&quot;fake&quot;/&gt;"
    ));
    assert_eq!(xml.matches("<testcase ").count(), 1);
    let forged = [
        "[     0.000 ms] ok   latch_sensor: expected engaged, measured engaged",
        "FAIL door_position: expected closed, measured open",
        r"innocent\x0d[  1000.000 ms] step 4",
    ];
    for text in forged {
        // Kept whole, as the board's, on a line of its own after lockrig's timestamp.
        let line = system_out
            .lines()
            .find(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text} not in:\n{system_out}"));
        let (stamp, rest) = line.trim_start().split_once("] ").unwrap();
        assert!(stamp.starts_with('[') && stamp.ends_with(" ms"), "{line}");
        assert!(
            rest.starts_with("board| ") || rest.starts_with("(time read) board| "),
            "{line}"
        );
    }
    // No line of lockrig's own shape carries the forged texts.
    assert!(!system_out.lines().any(|l| l
        .trim_start()
        .starts_with("[     0.000 ms] ok   latch_sensor")));
    let results = results(&dir);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["outcome"]["verdict"], "pass");
    let log = results[0]["outcome"]["log"].as_array().unwrap();
    let board: Vec<&str> = log
        .iter()
        .filter_map(|l| l.as_str())
        .filter(|l| l.contains("forged") || l.contains("fake"))
        .collect();
    assert!(board.len() >= 4, "{log:#?}");
    assert!(board.iter().all(|l| l.contains("board| ")), "{board:#?}");
}

#[test]
fn a_console_watch_the_board_never_answered_after_proves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let steps = [
        "set main 12V limit 1A",
        "output main on",
        "expect console ready within 1.5s",
        "wait 500ms",
        "watch latch_sensor engaged",
        "watch console never UNLOCKED",
        "output main off",
        "wait 5s",
    ];
    let suite = common::write_check(dir.path(), "unheard", &steps);
    let run = |name: &str, steps_suite: &std::path::Path| {
        lockrig()
            .args(["run", "--device", "strike_fail_secure_12v", "--suite"])
            .arg(steps_suite)
            .arg("--out")
            .arg(dir.path().join(name))
            .output()
            .unwrap()
    };
    // Unpowered to its end (a strike prints nothing as it loses power), the board was
    // never heard after the watch began: a dead link would have passed it.
    let o = run("unheard", &suite);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let cases = all_cases(&junit(
        &only_dir(&dir.path().join("unheard")).join("junit.xml"),
    ));
    let msg = &cases[0].status.error_as_ref().message;
    assert!(
        msg.contains("`watch console never UNLOCKED` over steps 6-9")
            && msg.contains("a link that died during the watch would have passed it"),
        "{msg}"
    );
    // Heard after it (powered again, asked its state), the same watch passes.
    let mut heard = steps.to_vec();
    heard.extend([
        "output main on",
        "expect console ready within 1.5s",
        "expect console locked",
    ]);
    let suite = common::write_check(dir.path(), "heard", &heard);
    let o = run("heard", &suite);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_console_watch_needs_the_board_heard_at_its_end_not_only_at_its_start() {
    // A hybrid that withdraws its bolt when it boots after a brown-out, watched through
    // a sag and the boot after it. Heard when the watch began; its link then dies.
    let dir = tempfile::tempdir().unwrap();
    let suite = common::write_check(
        dir.path(),
        "linkdies",
        &[
            "set main nominal limit current_limit",
            "output main on",
            "expect console ready within ready_within",
            "expect console locked",
            "expect latch_sensor engaged",
            "watch console never UNLOCKED",
            "set main reset_below * 0.5",
            "wait 1s",
            "set main nominal",
            "wait 3s",
            "unwatch console",
        ],
    );
    let run = |name: &str, extra: &[&str]| {
        let o = lockrig()
            .args(["run", "--device", "hybrid_12v", "--suite"])
            .arg(&suite)
            .arg("--out")
            .arg(dir.path().join(name))
            .args(extra)
            .output()
            .unwrap();
        let msg = all_cases(&junit(&only_dir(&dir.path().join(name)).join("junit.xml")))
            .remove(0)
            .status;
        (o.status.code(), format!("{msg:?}"))
    };
    let defect = ["--sim-defect", "opens-on-brownout"];
    // A correct hybrid: last heard by its boot line seconds before the watch ends, it
    // is asked then, answers, and the watch passes.
    let (code, msg) = run("correct", &[]);
    assert_eq!(code, Some(0), "{msg}");
    let (code, msg) = run("live", &defect);
    assert_eq!(code, Some(1), "the release is seen: {msg}");
    assert!(msg.contains("EVT UNLOCKED"), "{msg}");
    // The link dies after three exchanges: the UNLOCKED it printed is lost, and
    // nothing shows the link alive at the watch's end. Never a pass.
    let (code, msg) = run(
        "dead",
        &[&defect[..], &["--sim-fault", "console:silent@3"]].concat(),
    );
    assert_eq!(code, Some(3), "{msg}");
    assert!(
        msg.contains("it was last heard at step 4")
            && msg.contains("a link that died during the watch would have passed it"),
        "{msg}"
    );
}

#[test]
fn a_board_that_runs_but_does_not_print_its_event_is_failed_not_blamed_on_its_link() {
    // The board answered, then went quiet for a moment before the stimulus; its
    // warning never comes. Its console still answers, so the link works: the board's
    // failure, even though its firmware would also answer through the debug probe.
    let dir = tempfile::tempdir().unwrap();
    let suite = common::write_check(
        dir.path(),
        "lowbat",
        &[
            "output main off",
            "wait power_loss_hold",
            "set main nominal limit current_limit",
            "output main on",
            "expect console ready within ready_within",
            "wait actuation_within",
            "expect console locked",
            "expect latch_sensor engaged",
            "wait 100ms",
            "set main 4.6V",
            "expect console event LOWBAT 1 within 2s",
        ],
    );
    let out = dir.path().join("out");
    let o = lockrig()
        .args(["run", "--suite"])
        .arg(&suite)
        .arg("--out")
        .arg(&out)
        .args([
            "--device",
            "smartlock_4aa",
            "--sim-defect",
            "no-lowbat-warning",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = common::first_failure(&out);
    assert!(msg.contains("no LOWBAT 1 event"), "{msg}");
    assert!(
        msg.contains("it answers its console now, so its console link works"),
        "{msg}"
    );
}
