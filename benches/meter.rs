//! The INA219's sampling rate as configured against what the host achieves (run with
//! `cargo bench --bench meter`): for each averaging setting, the datasheet's update
//! period (one shunt and one bus conversion, table 5) and how many new readings the
//! driver actually takes per second through the Excamera I2CDriver protocol on a pty,
//! in wall time, with the simulated chip converting in real time behind the emulated
//! adapter.
//!
//! A new reading is one the chip flagged ready (CNVR) since the last one taken; every
//! read of the bus register that finds none is counted too, as the link's own rate.

use std::time::{Duration, Instant};

use lockrig::config::device::DeviceProfile;
use lockrig::drivers::i2cdriver::{I2cDriver, Speed, BAUD};
use lockrig::drivers::ina219::Ina219;
use lockrig::sim::{wall_time, SimBench, SimOptions};
use lockrig::transport::{open_serial, Framing};

fn main() {
    let sim = SimBench::start(
        &DeviceProfile::load("maglock_12v").unwrap(),
        &SimOptions::default(),
        wall_time(),
    )
    .unwrap();
    {
        let mut w = sim.world();
        w.psu[0].set_v = 12.0;
        w.set_output(1, true);
    }
    let path = sim.serial_path("i2cdriver").unwrap();
    let timeout = Duration::from_millis(500);
    let bus = I2cDriver::open(
        open_serial(&path, BAUD, timeout, Framing::PLAIN).unwrap(),
        timeout,
        Speed::Fast,
    )
    .unwrap();
    let mut meter = Ina219::open(bus, 0x40, 0.1, 2.0).unwrap();
    println!(
        "{:>9} {:>14} {:>14} {:>16} {:>14} {:>10} {:>8}",
        "averaging",
        "period",
        "configured/s",
        "new readings/s",
        "bus reads/s",
        "coverage",
        "errors"
    );
    for samples in [1u8, 2, 8, 32, 128] {
        meter.set_averaging(samples).unwrap();
        let period = meter.update_period();
        let run = (period * 40).max(Duration::from_secs(2));
        let (mut fresh, mut reads, mut errors) = (0u32, 0u32, 0u32);
        let _ = meter.next_reading();
        let start = Instant::now();
        while start.elapsed() < run {
            reads += 1;
            match meter.next_reading() {
                Ok(Some(_)) => fresh += 1,
                Ok(None) => {}
                // A late answer on a loaded machine: counted, not fatal.
                Err(_) => errors += 1,
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let configured = 1.0 / period.as_secs_f64();
        let achieved = f64::from(fresh) / secs;
        println!(
            "{samples:>9} {:>12.3}ms {configured:>14.1} {achieved:>16.1} {:>14.1} {:>9.0}% {errors:>8}",
            period.as_secs_f64() * 1e3,
            f64::from(reads) / secs,
            100.0 * achieved / configured
        );
    }
    sim.world().set_output(1, false);
}
