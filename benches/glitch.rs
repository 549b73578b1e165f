//! The shortest unlatch a watched latch input always catches (run with `cargo bench
//! --bench glitch`): a polled input (the Numato, read every P) against an input that
//! timestamps its own edges (a GPIO character device, read every 100 ms), on the
//! simulated bench.
//!
//! The smart lock's bolt is knocked open for L (1-100 ms) at a random moment 200 times
//! per (input, L); the input is then read as a watch reads it, every P, and the unlatch
//! counts as caught if any read says `released` (or, on the edge input, any edge came).
//! Virtual time: the figures are counts, not timings, and the same on any machine.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lockrig::config::device::DeviceProfile;
use lockrig::config::rig::Rig;
use lockrig::rig::bench::Bench;
use lockrig::sim::{SimBench, SimOptions, TimeMode};

const TRIALS: u32 = 200;
const LENGTHS_MS: &[u64] = &[1, 2, 5, 10, 20, 50, 100];

/// One input under test: a rig file and the interval it is read at.
struct Input {
    label: &'static str,
    rig: &'static str,
    poll: Duration,
}

/// How many of `TRIALS` unlatches of `len` the input caught.
fn caught(input: &Input, len: Duration, rng: &mut ChaCha8Rng) -> u32 {
    let rig = Rig::load(std::path::Path::new(input.rig)).unwrap();
    let sim = SimBench::start(
        &DeviceProfile::load("smartlock_4aa").unwrap(),
        &SimOptions::default(),
        TimeMode::Virtual,
    )
    .unwrap();
    let mut bench = Bench::open(&rig, Some(&sim)).unwrap();
    {
        let mut w = sim.world();
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_secs(3));
    }
    let clock = sim.clock();
    let mut hits = 0;
    for _ in 0..TRIALS {
        // Start from a settled line with nothing queued.
        let _ = bench.input_edges("latch_sensor").unwrap();
        assert_eq!(bench.read_input("latch_sensor").unwrap(), "engaged");
        // The unlatch starts somewhere inside the next poll interval.
        let phase = Duration::from_micros(rng.random_range(0..input.poll.as_micros() as u64));
        clock.wait(phase);
        sim.world().twitch_bolt(len);
        clock.wait(input.poll - phase);
        let mut seen = false;
        let end = clock.now() + len + input.poll * 2;
        while clock.now() < end {
            seen |= bench.read_input("latch_sensor").unwrap() == "released";
            if let Some(e) = bench.input_edges("latch_sensor").unwrap() {
                seen |= !e.edges.is_empty();
            }
            clock.wait(input.poll);
        }
        hits += u32::from(seen);
        // Let the bolt settle before the next one.
        clock.wait(Duration::from_millis(200));
    }
    sim.world().set_output(1, false);
    hits
}

fn main() {
    let inputs = [
        Input {
            label: "polled input (Numato), read every 10 ms",
            rig: "rigs/sim.toml",
            poll: Duration::from_millis(10),
        },
        Input {
            label: "polled input (Numato), read every 50 ms",
            rig: "rigs/sim.toml",
            poll: Duration::from_millis(50),
        },
        Input {
            label: "edge input (GPIO chardev), read every 100 ms",
            rig: "rigs/sim-gpio.toml",
            poll: Duration::from_millis(100),
        },
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    println!("unlatch caught, of {TRIALS} at random moments:");
    print!("{:<46}", "input \\ unlatch length");
    for l in LENGTHS_MS {
        print!("{:>8}", format!("{l} ms"));
    }
    println!("   shortest always caught");
    for input in &inputs {
        print!("{:<46}", input.label);
        let mut shortest = None;
        for &l in LENGTHS_MS {
            let hits = caught(input, Duration::from_millis(l), &mut rng);
            if hits == TRIALS && shortest.is_none() {
                shortest = Some(l);
            }
            print!("{:>7.0}%", 100.0 * f64::from(hits) / f64::from(TRIALS));
        }
        println!(
            "   {}",
            shortest.map_or("none of these".into(), |l| format!("{l} ms"))
        );
    }
}
