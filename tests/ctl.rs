//! `lockrig ctl` as a person at the bench uses it, on the built-in simulated rig: a
//! session drives the board and reads it back, settings beyond the envelope or the
//! board's rating are refused before anything is sent, secrets stay out of what is
//! printed, and every way out returns the bench to its confirmed safe state.

mod common;

use std::io::Write as _;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{lockrig, text};

const SAFE: &str = "every role is back in its safe state (confirmed)";

/// `lockrig ctl ARGS` with `script` on stdin.
fn ctl(args: &[&str], script: &str, env: &[(&str, &str)]) -> Output {
    let mut child = lockrig()
        .arg("ctl")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lockrig starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_session_drives_the_board_and_reads_it_back_then_leaves_it_safe() {
    let o = ctl(
        &["--device", "hybrid_12v"],
        "supply main 12V 0.5A   # power the lock\n\
         wait 1s\n\
         supply main\n\
         meter main_meter\n\
         console STATE?\n\
         switch door_push on\n\
         wait 300ms\n\
         input door_position\n\
         relay egress_handle on\n\
         wait 1s\n\
         input door_position\n",
        &[],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines: Vec<&str> = out.lines().collect();
    // What the supply measured right after the setting, said to be that.
    assert!(
        lines[0].starts_with("main: set 12V, on; reads")
            && lines[0].ends_with("(as last measured: `wait 1s`, then `supply main` again)"),
        "{}",
        text(&o)
    );
    // The rail has risen to the setting and the lock draws its standby current.
    let meter = lines
        .iter()
        .find(|l| l.starts_with("main_meter: "))
        .unwrap();
    let volts: f64 = meter["main_meter: ".len()..]
        .split('V')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((11.8..=12.2).contains(&volts), "{meter}");
    assert!(meter.ends_with("mA"), "{meter}");
    assert!(out.contains("console: STATE LOCKED"), "{}", text(&o));
    // Pushed while locked the door stays shut; the interior handle lets it open.
    let doors: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("door_position:"))
        .collect();
    assert_eq!(
        doors,
        [&"door_position: closed", &"door_position: open"],
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(SAFE),
        "{}",
        text(&o)
    );
}

#[test]
fn settings_beyond_the_envelope_or_the_rating_are_refused_before_anything_is_sent() {
    // The rig's envelope: 26 V on main.
    let o = ctl(&["supply", "main", "40V"], "", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exceeds the envelope"), "{}", text(&o));
    assert!(err.contains("nothing was sent"), "{}", text(&o));
    // The board's rating: a 4xAA smart lock takes 6.8 V at most.
    let o = ctl(
        &["--device", "smartlock_4aa", "supply", "main", "12"],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("exceeds what device `smartlock_4aa` takes on `main` (6.8V)"),
        "{}",
        text(&o)
    );
    assert!(o.stdout.is_empty(), "{}", text(&o));
}

#[test]
fn a_malformed_command_says_what_was_expected_and_a_script_stops_at_its_line() {
    let o = ctl(&["switch", "door_push", "maybe"], "", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected `on` (energised) or `off`"),
        "{}",
        text(&o)
    );
    let o = ctl(
        &["--device", "hybrid_12v"],
        "switch door_push on\nmeter door_push\nstatus\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stdin line 2:"), "{}", text(&o));
    assert!(err.contains("not mapped to a Meter"), "{}", text(&o));
    // The line after the failure never ran, and the relay was released.
    assert!(!String::from_utf8_lossy(&o.stdout).contains("egress_handle"));
    assert!(err.contains(SAFE), "{}", text(&o));
}

#[test]
fn a_secret_is_sent_by_name_and_never_printed() {
    let o = ctl(
        &["--device", "hybrid_12v"],
        "supply main 12V\nwait 1s\nconsole UNLOCK $credential\nconsole ECHO 731946\n",
        &[("LOCKRIG_SECRET_CREDENTIAL", "731946")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = text(&o);
    // The board took the credential from the variable...
    assert!(all.contains("console: OK"), "{all}");
    // ...and nothing lockrig printed carries it.
    assert!(!all.contains("731946"), "{all}");
    let o = ctl(
        &["--device", "hybrid_12v", "console", "UNLOCK", "$pin"],
        "",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no secret `pin`"),
        "{}",
        text(&o)
    );
}

#[test]
fn sigterm_during_a_session_returns_the_bench_to_its_safe_state() {
    let mut child = lockrig()
        .args(["ctl", "--device", "hybrid_12v"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"supply main 12V\nswitch fire_alarm_loop on\nwait 60s\n")
        .unwrap();
    // Keep stdin open: the session is waiting, as at a terminal.
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(o.status.code(), Some(143), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(SAFE),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("fire_alarm_loop: on"),
        "{}",
        text(&o)
    );
}

#[test]
fn probe_commands_on_a_rig_without_a_debug_probe_are_refused_with_the_fix() {
    let rig = concat!(env!("CARGO_MANIFEST_DIR"), "/rigs/sim-gpio.toml");
    let o = ctl(
        &["--rig", rig, "--device", "hybrid_12v"],
        "supply main 12V\nprobe read 0x40000400\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the rig has no probe-rs instrument: add one, e.g. [instruments.swd] driver = \"probe-rs\""),
        "{}",
        text(&o)
    );
    assert!(err.contains(SAFE), "{}", text(&o));
}

#[test]
fn the_built_in_benchs_probe_resets_the_board_and_reads_why_it_reset() {
    // Unpowered, the chip does not answer its debug port: an instrument error that says
    // why.
    let o = ctl(
        &["--device", "smartlock_4aa"],
        "probe read 0x40000400\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("only while it is powered"),
        "{}",
        text(&o)
    );
    // Powered: RESETREAS reads 0 after the power-on reset, SREQ after the debugger's.
    let o = ctl(
        &["--device", "smartlock_4aa"],
        "supply main 6V\nwait 1s\nprobe read 0x40000400\nprobe reset\nwait 1s\nprobe read 0x40000400\nconsole STATE?\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("swd: 0x40000400 = 0x00000000 (bits set: none)"),
        "{out}"
    );
    assert!(
        out.contains("swd: simulated SWD probe for nRF52840_xxAA reset, running"),
        "{out}"
    );
    assert!(
        out.contains("swd: 0x40000400 = 0x00000004 (bits set: 2)"),
        "{out}"
    );
    assert!(out.contains("console: STATE LOCKED"), "{out}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(SAFE),
        "{}",
        text(&o)
    );
}
