//! Benchmarks on the built-in simulated bench (run with `cargo bench`):
//!
//! - the whole certification run (every check on every built-in profile) and its
//!   virtual-time speed-up (scenario seconds per wall second);
//! - SCPI query round trip over a pty, through the real driver stack, and the same
//!   query from Python's pyserial (benches/pyserial_rtt.py) for comparison;
//! - brown-out trials per second through the whole runner path;
//! - `lockrig list` start-up time.
//!
//! Plain `harness = false` timing with warm-up and percentiles: the figures are
//! milliseconds to seconds long, so a statistics framework adds nothing here.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lockrig::config::device::DeviceProfile;
use lockrig::config::rig::Rig;
use lockrig::drivers::scpi_supply::session::Scpi;
use lockrig::run::{plan, run_trial, Setup};
use lockrig::scenario::suite::Suite;
use lockrig::scenario::Verdict;
use lockrig::sim::{SimBench, SimOptions, TimeMode};
use lockrig::transport::{open_serial, Framing, LineIo};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn setup() -> (Setup, Vec<lockrig::run::Trial>) {
    let rig = Rig::builtin_sim().unwrap();
    let suite = Suite::load("certification").unwrap();
    let devices: Vec<_> = DeviceProfile::builtin_all()
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect();
    let trials = plan::plan(&suite, &devices, 1, &rig, &plan::everything).unwrap();
    let secrets = lockrig::config::secrets::Secrets::resolve(&rig.secret_specs());
    let setup = Setup {
        rig: Arc::new(rig),
        sim: SimOptions::default(),
        poll: Duration::from_millis(10),
        seed: 1,
        secrets: Arc::new(secrets),
        abort_on_rig_error: false,
        boards: Default::default(),
        operator: lockrig::run::Operator::Absent { excused: true },
        traces: None,
    };
    (setup, trials)
}

fn suite_speedup() {
    let rounds = 10;
    let mut scenario = Duration::ZERO;
    let mut walls = Vec::new();
    let mut n = 0;
    for _ in 0..rounds {
        // A fresh set of boards each round, as a fresh `lockrig run` has.
        let (setup, trials) = setup();
        n = trials.len();
        let start = Instant::now();
        for t in &trials {
            let r = run_trial(&setup, t);
            assert_eq!(r.outcome.verdict, Verdict::Pass, "{:?}", r.outcome.message);
            scenario += r.outcome.scenario_time;
        }
        walls.push(start.elapsed());
    }
    walls.sort();
    let total: Duration = walls.iter().sum();
    println!(
        "certification suite, {n} trials (every check on every built-in profile), {rounds} rounds: median {:.3} s wall per run (max {:.3} s); {:.1} s simulated per run; {:.0}x faster than real time",
        percentile(&walls, 0.5).as_secs_f64(),
        walls.last().unwrap().as_secs_f64(),
        scenario.as_secs_f64() / rounds as f64,
        scenario.as_secs_f64() / total.as_secs_f64()
    );
}

fn brownout_throughput() {
    let (setup, trials) = setup();
    let t = trials
        .iter()
        .find(|t| t.check.name == "brownout::sag_resets_safely" && t.device.name == "smartlock_4aa")
        .unwrap();
    let n = 100;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(run_trial(&setup, t).outcome.verdict, Verdict::Pass);
    }
    let wall = start.elapsed();
    println!(
        "brown-out check on the smart lock (bring-up, 3 sags with reset evidence, two roles watched for 40 s at 10 ms: about 8,100 samples, safe state): {:.1} trials/s, {:.2} ms each",
        n as f64 / wall.as_secs_f64(),
        wall.as_secs_f64() * 1e3 / n as f64
    );
}

fn bench_bring_up() {
    let rig = Rig::builtin_sim().unwrap();
    let device = DeviceProfile::load("smartlock_4aa").unwrap();
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        let sim = SimBench::start(&device, &SimOptions::default(), TimeMode::Virtual).unwrap();
        let mut bench = lockrig::rig::Bench::open(&rig, Some(&sim)).unwrap();
        assert!(bench.apply_safe_state().is_empty());
    }
    let each = start.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!("simulated bench bring-up (board built, 5 drivers opened in-process, OVP/OCP armed on two supply roles, safe state, teardown): {each:.2} ms");
}

fn scpi_round_trip() {
    let device = DeviceProfile::load("smartlock_4aa").unwrap();
    let mut sim = SimBench::start(&device, &SimOptions::default(), TimeMode::Virtual).unwrap();
    sim.serve_ptys().unwrap();
    let path = sim.serial_path("psu").unwrap();
    rust_round_trip(&path);
    python_round_trip(&path);
}

/// The same query from Python's pyserial, against the same emulator, for comparison.
fn python_round_trip(path: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/pyserial_rtt.py");
    match Command::new("python3")
        .args([script, path, "10000"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let figures: Vec<f64> = String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            if let [mean, p50, p99] = figures[..] {
                println!(
                    "same query from Python pyserial: mean {mean:.1} us, p50 {p50:.1} us, p99 {p99:.1} us"
                );
            }
        }
        Ok(o) => println!(
            "pyserial comparison skipped: {} (pip install pyserial)",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        ),
        Err(e) => println!("pyserial comparison skipped: python3: {e}"),
    }
}

fn rust_round_trip(path: &str) {
    let port = open_serial(path, 115_200, Duration::from_millis(500), Framing::PLAIN).unwrap();
    let mut scpi = Scpi::new(LineIo::new(port, Duration::from_millis(500)));
    for _ in 0..1_000 {
        scpi.query("*IDN?").unwrap();
    }
    let n = 10_000;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = scpi.query(":MEAS:VOLT? CH1").unwrap();
        samples.push(t.elapsed());
        std::hint::black_box(reply);
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "SCPI query round trip over a pty (`:MEAS:VOLT? CH1`, {n} queries): mean {:.1} us, p50 {:.1} us, p99 {:.1} us",
        mean.as_secs_f64() * 1e6,
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
}

fn list_startup() {
    let exe = env!("CARGO_BIN_EXE_lockrig");
    let mut samples = Vec::new();
    for i in 0..35 {
        let t = Instant::now();
        let out = Command::new(exe).arg("list").output().unwrap();
        let d = t.elapsed();
        assert!(out.status.success());
        if i >= 5 {
            samples.push(d);
        }
    }
    samples.sort();
    println!(
        "`lockrig list` wall time ({} runs): p50 {:.1} ms, max {:.1} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo test --benches` passes --test-like flags; run only under `cargo bench`.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    suite_speedup();
    brownout_throughput();
    bench_bring_up();
    scpi_round_trip();
    list_startup();
}
