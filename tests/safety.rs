//! Killed at any moment, lockrig leaves the rig safe and its reports valid.
//!
//! The simulated instruments record every output change they see and, when each
//! trial's bench is torn down, whether every output was off (`end safe`). That record
//! is what this test trusts: not lockrig's own account.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::{junit, validate_schema};

fn junit_ok(path: &Path) -> usize {
    validate_schema(path);
    // One testsuite per device.
    junit(path).suites.iter().map(|s| s.cases.len()).sum()
}

/// Runs lockrig, kills it `delay` after its reports exist, and checks the aftermath.
/// Returns (the kill landed mid-run, a trial was cut short and reported as an error).
fn kill_and_check(signal: Signal, delay: Duration) -> (bool, bool) {
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockrig"))
        .args([
            "run",
            "--repeat",
            "100",
            "--out",
            out.path().to_str().unwrap(),
            "power_loss::",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dir = loop {
        let found = std::fs::read_dir(out.path())
            .ok()
            .and_then(|mut d| d.next())
            .map(|e| e.unwrap().path())
            .filter(|d| d.join("junit.xml").exists());
        if let Some(d) = found {
            break d;
        }
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(1));
    };
    std::thread::sleep(delay);
    let _ = kill(Pid::from_raw(child.id() as i32), signal);
    let code = child.wait().unwrap().code();
    let interrupted = code == Some(128 + signal as i32);
    assert!(
        interrupted || code == Some(0),
        "{signal} after {delay:?}: exit {code:?}"
    );

    let cases = junit_ok(&dir.join("junit.xml"));
    let results = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut cut_short = false;
    for line in results.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line {line:?}: {e}"));
        let msg = v["outcome"]["message"].as_str().unwrap_or_default();
        if v["skipped"].is_string() {
            // Never started: skipped with its reason.
            assert_eq!(v["outcome"]["verdict"], "skipped", "{line}");
        } else if msg.contains("interrupted by") {
            assert_eq!(v["outcome"]["verdict"], "error", "{line}");
            cut_short = true;
        }
    }
    assert_eq!(
        results.lines().count(),
        cases,
        "junit.xml and results.jsonl agree"
    );
    if interrupted {
        assert_eq!(cases, 600, "every trial is reported, run or not");
    }
    // report.html is written on the way out too, from the same results.
    let html = std::fs::read_to_string(dir.join("report.html"))
        .unwrap_or_else(|e| panic!("{signal} after {delay:?}: report.html: {e}"));
    let count = |skipped: bool, verdict: &str| {
        results
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v.get("skipped").is_some() == skipped)
            .filter(|v| skipped || v["outcome"]["verdict"] == verdict)
            .count()
    };
    for (id, n) in [
        ("passed", count(false, "pass")),
        ("errors", count(false, "error")),
        ("skipped", count(true, "")),
    ] {
        assert!(
            html.contains(&format!("id=\"total-{id}\">{n}<")),
            "{signal} after {delay:?}: report.html shows {n} {id}"
        );
    }

    // What the simulated instruments saw: every bench ends safe.
    let log = std::fs::read_to_string(dir.join("sim-outputs.log")).unwrap_or_default();
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for line in log.lines() {
        let (bench, what) = line.split_once(' ').unwrap();
        assert!(
            !what.starts_with("end UNSAFE"),
            "{signal} after {delay:?}: {line}"
        );
        last.insert(bench, what);
    }
    for (bench, what) in last {
        assert_eq!(
            what, "end safe",
            "{signal} after {delay:?}: bench {bench} was never torn down"
        );
    }
    (interrupted, cut_short)
}

#[test]
fn killed_at_fifty_moments_the_rig_ends_safe_and_reports_stay_valid() {
    // 25 SIGINT and 25 SIGTERM, spread over the run; five at a time.
    let points: Vec<(Signal, Duration)> = (0..50u64)
        .map(|i| {
            let signal = if i % 2 == 0 {
                Signal::SIGINT
            } else {
                Signal::SIGTERM
            };
            (signal, Duration::from_micros((i * 7919) % 400_000))
        })
        .collect();
    let mut outcomes = Vec::new();
    for batch in points.chunks(5) {
        std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&(sig, d)| s.spawn(move || kill_and_check(sig, d)))
                .collect();
            outcomes.extend(handles.into_iter().map(|h| h.join().unwrap()));
        });
    }
    let mid_run = outcomes.iter().filter(|o| o.0).count();
    let cut_short = outcomes.iter().filter(|o| o.1).count();
    eprintln!("{mid_run} of 50 kills landed mid-run, {cut_short} cut a trial short");
    assert!(mid_run >= 45, "only {mid_run} of 50 kills landed mid-run");
    assert!(
        cut_short >= 10,
        "only {cut_short} kills cut a trial short and reported it as an error"
    );
}

#[test]
fn a_bench_dropped_mid_check_as_on_a_panic_returns_to_its_safe_state() {
    let (rig, sim) = maglock_bench();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut bench = lockrig::rig::Bench::open(&rig, Some(&sim)).unwrap();
        bench
            .set_voltage("main", lockrig::units::Volts(12.0))
            .unwrap();
        bench.set_output("main", true).unwrap();
        bench.set_switch("door_push", true).unwrap();
        assert!(!sim.world().is_safe());
        panic!("a bug in the middle of a check");
    }));
    assert!(result.is_err());
    assert!(
        sim.world().is_safe(),
        "the drop guard applied the safe state during unwinding"
    );
    let log: Vec<_> = sim
        .world()
        .output_log()
        .iter()
        .map(|e| e.what.clone())
        .collect();
    assert_eq!(
        log,
        ["CH1 ON", "relay 1 ON", "relay 1 OFF", "CH1 OFF"],
        "actuators released before power"
    );
}

#[test]
fn steps_beyond_the_envelope_are_refused_before_the_instrument_hears_them() {
    use lockrig::rig::RoleError;
    use lockrig::units::{Amps, Volts};

    let (rig, sim) = maglock_bench();
    let mut bench = lockrig::rig::Bench::open(&rig, Some(&sim)).unwrap();
    bench.set_voltage("main", Volts(12.0)).unwrap();
    let err = bench.set_voltage("main", Volts(30.0)).unwrap_err();
    assert!(matches!(err, RoleError::Envelope { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("30V on `main` exceeds the envelope (max_volts 26V)"),
        "{err}"
    );
    assert!(matches!(
        bench.set_current_limit("main", Amps(5.0)),
        Err(RoleError::Envelope { .. })
    ));
    assert_eq!(sim.world().psu[0].set_v, 12.0, "the supply never saw 30 V");
}

#[test]
fn opening_a_bench_arms_the_supplys_own_protection_at_the_envelope() {
    let (rig, sim) = maglock_bench();
    let bench = lockrig::rig::Bench::open(&rig, Some(&sim)).unwrap();
    let ch1 = sim.world().psu[0];
    assert_eq!(ch1.ovp, (26.0, true), "OVP armed at max_volts");
    assert_eq!(ch1.ocp, (1.5, true), "OCP armed at max_amps");
    assert_eq!(
        ch1.set_i, 1.5,
        "the current limit starts at max_amps, not the supply's last setting"
    );
    assert_eq!(
        bench.protections(),
        [
            "emergency: OVP 5.5V / OCP 1A armed on psu",
            "main: OVP 26V / OCP 1.5A armed on psu"
        ]
    );
}

/// The built-in simulated rig with a maglock mounted, ready to open.
fn maglock_bench() -> (lockrig::config::rig::Rig, lockrig::sim::SimBench) {
    use lockrig::sim::{SimBench, SimOptions, TimeMode};
    let rig = lockrig::config::rig::Rig::builtin_sim().unwrap();
    let device = lockrig::config::device::DeviceProfile::load("maglock_12v").unwrap();
    let sim = SimBench::start(&device, &SimOptions::default(), TimeMode::Virtual).unwrap();
    (rig, sim)
}
