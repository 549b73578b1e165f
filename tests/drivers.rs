//! Each driver against its emulator over a real pty: the exchanges a bench sees,
//! including the instrument's own error reports.

use std::time::Duration;

use lockrig::config::device::DeviceProfile;
use lockrig::drivers::console::LockConsole;
use lockrig::drivers::keysight_daq970a::Daq970a;
use lockrig::drivers::korad_ka3005p::{self, Ka3005p, STATUS_OUTPUT};
use lockrig::drivers::lcus::Lcus;
use lockrig::drivers::modbus_relay::ModbusRelay;
use lockrig::drivers::numato::NumatoGpio;
use lockrig::drivers::riden_rd60xx::Rd60xx;
use lockrig::drivers::scpi_supply::{
    keysight_e36300, keysight_e3631a, rigol_dp800, siglent_spd3303x, ScpiSupply,
};
use lockrig::drivers::InstrumentError;
use lockrig::sim::{wall_time, SimBench, SimOptions, TimeMode};
use lockrig::transport::{open_serial, Framing, LineIo};

const TIMEOUT: Duration = Duration::from_millis(300);

fn bench(device: &str) -> SimBench {
    bench_on(device, TimeMode::Virtual)
}

/// A bench served on ptys whose instruments live in `time` (`sim serve` runs on the
/// host's time, [`lockrig::sim::wall_time`]).
fn bench_on(device: &str, time: TimeMode) -> SimBench {
    let mut sim = SimBench::start(
        &DeviceProfile::load(device).unwrap(),
        &SimOptions::default(),
        time,
    )
    .unwrap();
    sim.serve_ptys().unwrap();
    sim
}

fn io(sim: &SimBench, name: &str) -> LineIo {
    let path = sim.serial_path(name).unwrap();
    LineIo::new(
        open_serial(&path, 115_200, TIMEOUT, Framing::PLAIN).unwrap(),
        TIMEOUT,
    )
}

#[test]
fn dp800_programs_the_supply_and_reports_its_error_queue() {
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "psu"), &rigol_dp800::DIALECT).unwrap();
    assert!(psu.identity().starts_with("RIGOL TECHNOLOGIES,DP832,"));
    psu.set_voltage(1, 12.0).unwrap();
    psu.set_current(1, 1.0).unwrap();
    psu.set_output(1, true).unwrap();
    assert!(psu.output(1).unwrap());
    // The DP832 shows a new measurement only every 400 ms or so.
    sim.world().advance(Duration::from_millis(400));
    assert!((psu.measure_voltage(1).unwrap() - 12.0).abs() < 1e-3);
    let amps = psu.measure_current(1).unwrap();
    assert!(
        (0.24..0.265).contains(&amps),
        "maglock coil draws 12 V / 46-50 ohm + electronics: {amps}"
    );
    // CH3 of a DP832 is rated 5 V: the instrument refuses, and the driver says so.
    match psu.set_voltage(3, 12.0) {
        Err(InstrumentError::Device {
            code: -222,
            command,
            ..
        }) => assert_eq!(command, ":SOUR3:VOLT 12.000"),
        other => panic!("expected the instrument's -222 error, got {other:?}"),
    }
    psu.set_output(1, false).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn dp800_timer_times_a_sag_itself_and_refuses_a_group_below_one_second() {
    let sim = bench("smartlock_4aa");
    let mut psu = ScpiSupply::open(io(&sim, "psu"), &rigol_dp800::DIALECT).unwrap();
    let seq = psu.sequencer().expect("the DP800 has a timer");
    assert_eq!((seq.name, seq.step), ("timer", Duration::from_secs(1)));
    psu.set_voltage(1, 6.0).unwrap();
    psu.set_current(1, 1.0).unwrap();
    psu.set_output(1, true).unwrap();
    sim.world().advance(Duration::from_millis(500));
    psu.program_steps(1, &[(1.5, 1.0, 2.0), (6.0, 1.0, 1.0)])
        .unwrap();
    psu.run_steps(1, true).unwrap();
    sim.world().advance(Duration::from_millis(1900));
    let low = psu.measure_voltage(1).unwrap();
    assert!(low < 3.0, "the rail sags while the first group runs: {low}");
    sim.world().advance(Duration::from_millis(1500));
    let back = psu.measure_voltage(1).unwrap();
    assert!(
        (back - 6.0).abs() < 0.05,
        "the instrument restored it: {back}"
    );
    psu.run_steps(1, false).unwrap();
    // The guide's range is 1 s to 99999 s per group: the instrument refuses 0.5 s, and
    // the driver says which command it was.
    match psu.program_steps(1, &[(1.5, 1.0, 0.4)]) {
        Err(InstrumentError::Device {
            code: -222,
            command,
            ..
        }) => {
            assert!(
                command.starts_with(":TIMEr:PARAmeter 0,1.500,1.000,0"),
                "{command}"
            )
        }
        other => panic!("expected -222 for a group under 1 s, got {other:?}"),
    }
    // Switching the output off leaves no timer armed.
    psu.program_steps(1, &[(5.0, 1.0, 5.0), (6.0, 1.0, 1.0)])
        .unwrap();
    psu.run_steps(1, true).unwrap();
    psu.run_steps(1, false).unwrap();
    psu.set_output(1, false).unwrap();
    assert!(sim.world().is_safe());
    let log: Vec<String> = sim
        .world()
        .output_log()
        .iter()
        .map(|e| e.what.clone())
        .collect();
    assert!(log.iter().any(|e| e == "CH1 sequence ended"), "{log:?}");
    assert!(log.iter().any(|e| e == "CH1 sequence stopped"), "{log:?}");
}

#[test]
fn lcus_switches_relays_and_reads_them_back() {
    let sim = bench("smartlock_4aa");
    let mut relays = Lcus::open(io(&sim, "relays"), 8).unwrap();
    relays.set(2, true).unwrap();
    assert_eq!(
        relays.states().unwrap(),
        [false, true, false, false, false, false, false, false]
    );
    // The board reports its coil at once; the contacts close after the relay's
    // operate time (10 ms) and open after its release time (5 ms).
    assert!(!sim.world().relays[1]);
    sim.world().advance(Duration::from_millis(10));
    assert!(sim.world().relays[1]);
    relays.set(2, false).unwrap();
    assert!(!relays.state(2).unwrap());
    let log: Vec<_> = sim
        .world()
        .output_log()
        .iter()
        .map(|e| e.what.clone())
        .collect();
    assert_eq!(log, ["relay 2 ON", "relay 2 OFF"]);
}

#[test]
fn numato_reads_the_door_switch_and_the_latch_sensor() {
    let sim = bench("maglock_12v");
    let mut gpio = NumatoGpio::open(io(&sim, "gpio")).unwrap();
    assert_eq!(gpio.version(), "00000008");
    assert!(!gpio.read(0).unwrap(), "door closed");
    {
        let mut w = sim.world();
        w.psu[0].set_v = 12.0;
        w.set_output(1, true);
        w.advance(Duration::from_millis(500));
    }
    assert!(!gpio.read(1).unwrap(), "latch engaged: the magnet holds");
    assert_eq!(gpio.read_all().unwrap(), 0b00);
    // Cut the magnet and push the door: it opens, and the armature is released.
    sim.world().set_output(1, false);
    sim.world().advance(Duration::from_millis(500));
    sim.world().set_relay(1, true);
    assert!(gpio.read(0).unwrap(), "door open");
    assert_eq!(
        gpio.read_all().unwrap(),
        0b111,
        "`gpio readall`: door, latch and the pushing actuator's current switch high"
    );
}

#[test]
fn console_answers_when_powered_and_times_out_when_not() {
    let sim = bench("smartlock_4aa");
    let mut console = LockConsole::open(io(&sim, "console"));
    match console.state() {
        Err(InstrumentError::Timeout { command, after }) => {
            assert_eq!(command, "STATE?");
            assert_eq!(after, TIMEOUT);
        }
        other => panic!("an unpowered board cannot answer: {other:?}"),
    }
    {
        let mut w = sim.world();
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_millis(500));
    }
    assert_eq!(console.state().unwrap(), "LOCKED");
    assert!(console.version().unwrap().contains("smartlock_4aa"));
    // The board booted within its boot time (150-300 ms) of the rail coming up; its
    // clock says when.
    let events = console.take_events().lines;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].text, "BOOT POR");
    let booted_at = events[0].uptime_ms.unwrap();
    assert!((150..=300).contains(&booted_at), "{booted_at}");
    assert!(console.uptime(TIMEOUT).unwrap() >= booted_at);
}

#[test]
fn dp800_protection_switches_the_output_off_above_its_ovp_level() {
    let sim = bench("smartlock_4aa");
    let mut psu = ScpiSupply::open(io(&sim, "psu"), &rigol_dp800::DIALECT).unwrap();
    psu.protect(1, 7.0, 1.5).unwrap();
    psu.set_voltage(1, 6.0).unwrap();
    psu.set_output(1, true).unwrap();
    assert!(psu.output(1).unwrap());
    assert_eq!(psu.tripped(1).unwrap(), (false, false));
    // A runaway command past the armed level: the supply itself cuts the output once
    // the rail has risen past it.
    psu.set_voltage(1, 9.0).unwrap();
    sim.world().advance(Duration::from_millis(50));
    assert!(!psu.output(1).unwrap(), "OVP switched the output off");
    assert_eq!(psu.tripped(1).unwrap(), (true, false));
    assert!(sim
        .world()
        .output_log()
        .iter()
        .any(|e| e.what == "CH1 OFF (OVP tripped)"));
}

#[test]
fn two_ina219s_share_one_i2cdriver_each_at_its_own_address() {
    use lockrig::drivers::i2cdriver::{I2cDriver, SharedBus, Speed, BAUD};
    use lockrig::drivers::ina219::Ina219;
    let sim = bench("smartlock_4aa");
    let path = sim.serial_path("i2cdriver").unwrap();
    let port = open_serial(&path, BAUD, TIMEOUT, Framing::PLAIN).unwrap();
    let bus = SharedBus::new(I2cDriver::open(port, TIMEOUT, Speed::Fast).unwrap());
    let mut lock_line = Ina219::open(bus.clone(), 0x40, 0.1, 2.0).unwrap();
    let mut port_line = Ina219::open(bus.clone(), 0x41, 0.1, 1.0).unwrap();
    assert!(
        Ina219::open(bus, 0x42, 0.1, 1.0).is_err(),
        "nobody answers at 0x42"
    );
    {
        // The battery is dead; the emergency port feeds the board at 5 V.
        let mut w = sim.world();
        w.psu[2].set_v = 5.0;
        w.psu[2].set_i = 0.5;
        w.set_output(3, true);
        w.advance(Duration::from_millis(500));
    }
    assert!(lock_line.bus_voltage().unwrap() < 0.05);
    assert!((port_line.bus_voltage().unwrap() - 5.0).abs() < 0.01);
    let amps = port_line.current().unwrap();
    assert!(
        amps > 0.0 && amps < 0.5,
        "the board draws from the port: {amps}"
    );
    // The port is held exclusively: a second opening is refused, which is why the
    // chips on one adapter share it rather than each open their own.
    let port = open_serial(&path, BAUD, TIMEOUT, Framing::PLAIN);
    assert!(port.is_err(), "the adapter is held: {:?}", port.map(|_| ()));
}

#[test]
fn the_served_i2cdriver_talks_to_any_client_and_carries_the_ina219() {
    use lockrig::drivers::i2cdriver::{I2cDriver, Speed, BAUD};
    use lockrig::drivers::ina219::Ina219;
    use std::io::{Read, Write};
    let sim = bench("maglock_12v");
    let path = sim.serial_path("i2cdriver").unwrap();
    // A third-party client (i2ccl, pyserial) speaks the manual's bytes: `?` is the
    // 80-character status line, `d` the 112-byte scan with the INA219 at 0x40.
    let mut raw = open_serial(&path, BAUD, TIMEOUT, Framing::PLAIN).unwrap();
    raw.write_all(b"?").unwrap();
    let mut status = [0u8; 80];
    raw.read_exact(&mut status).unwrap();
    let status = String::from_utf8_lossy(&status);
    assert!(
        status.starts_with("[i2cdriver1 ") && status.ends_with(']'),
        "{status}"
    );
    raw.write_all(b"d").unwrap();
    let mut scan = [0u8; 112];
    raw.read_exact(&mut scan).unwrap();
    assert_eq!(scan[0x40 - 8], b'1');
    drop(raw);
    // lockrig's own driver, and the ina219 crate on top of it.
    let bus = I2cDriver::open(
        open_serial(&path, BAUD, TIMEOUT, Framing::PLAIN).unwrap(),
        TIMEOUT,
        Speed::Fast,
    )
    .unwrap();
    let mut meter = Ina219::open(bus, 0x40, 0.1, 2.0).unwrap();
    {
        let mut w = sim.world();
        w.psu[0].set_v = 12.0;
        w.set_output(1, true);
        w.advance(Duration::from_millis(100));
    }
    assert!((meter.bus_voltage().unwrap() - 12.0).abs() < 0.005);
    let amps = meter.current().unwrap();
    assert!((0.24..0.265).contains(&amps), "{amps}");
    // 128 samples per reading: a new reading every 2 x 68.1 ms (datasheet table 5),
    // the average of the inputs over it; nothing new in between.
    meter.set_averaging(128).unwrap();
    assert_eq!(meter.update_period(), Duration::from_micros(136_200));
    // The write's STOP goes out without an answer; a read behind it is answered only
    // once the adapter has taken it.
    let _ = meter.next_reading().unwrap();
    sim.world().advance(Duration::from_millis(140));
    assert!(meter.next_reading().unwrap().is_some());
    assert_eq!(
        meter.next_reading().unwrap(),
        None,
        "each conversion is taken once"
    );
    // The supply steps to 6 V halfway through the next period: the reading after it
    // is the average, then the next one the new level.
    sim.world().advance(Duration::from_millis(68));
    sim.world().psu[0].set_v = 6.0;
    sim.world().advance(Duration::from_millis(50));
    assert_eq!(meter.next_reading().unwrap(), None, "still converting");
    sim.world().advance(Duration::from_millis(25));
    let (v, _) = meter.next_reading().unwrap().expect("a new reading");
    // Between the two levels: the conversion straddles the step (where exactly depends
    // on the chip's own period, 136.2 ms, not on the 1 ms physics steps).
    assert!((6.1..11.9).contains(&v), "the average across the step: {v}");
    sim.world().advance(Duration::from_millis(140));
    let (v, _) = meter.next_reading().unwrap().expect("a new reading");
    // The rail is still settling from 12 V through the lock's load.
    assert!((v - 6.0).abs() < 0.1, "{v}");
    assert!(meter.set_averaging(3).is_err(), "not a mode of the chip");
}

#[test]
fn spd3303x_is_confirmed_by_read_back_and_has_no_protection() {
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "spd3303x"), &siglent_spd3303x::DIALECT).unwrap();
    assert!(psu.identity().starts_with("Siglent Technologies,SPD3303X,"));
    psu.set_voltage(1, 12.0).unwrap();
    psu.set_current(1, 1.0).unwrap();
    psu.set_output(1, true).unwrap();
    assert!(psu.output(1).unwrap() && !psu.output(2).unwrap());
    sim.world().advance(Duration::from_millis(100));
    assert!((psu.measure_voltage(1).unwrap() - 12.0).abs() < 1e-2);
    let amps = psu.measure_current(1).unwrap();
    assert!((0.24..0.265).contains(&amps), "{amps}");
    // Beyond the 32 V rating the instrument says nothing and keeps 12 V: the read-back
    // is what catches it.
    match psu.set_voltage(1, 40.0) {
        Err(InstrumentError::Readback { commanded, actual }) => {
            assert_eq!(commanded, "40.000V (`CH1:VOLTage?`)");
            assert_eq!(actual, "12.000V");
        }
        other => panic!("expected a read-back error, got {other:?}"),
    }
    assert!(!psu.has_protection());
    assert!(!psu.protect(1, 13.0, 1.0).unwrap(), "nothing to arm");
    assert_eq!(psu.tripped(1).unwrap(), (false, false));
    psu.set_output(1, false).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn e36300_programs_by_channel_list_and_reports_its_error_queue() {
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "e36312a"), &keysight_e36300::DIALECT).unwrap();
    assert!(psu.identity().starts_with("Keysight Technologies,E36312A,"));
    psu.set_voltage(2, 12.0).unwrap();
    psu.set_current(2, 1.0).unwrap();
    psu.set_output(2, true).unwrap();
    assert!(psu.output(2).unwrap() && !psu.output(1).unwrap());
    sim.world().advance(Duration::from_millis(100));
    assert!((psu.measure_voltage(2).unwrap() - 12.0).abs() < 1e-3);
    let amps = psu.measure_current(2).unwrap();
    assert!((0.24..0.265).contains(&amps), "{amps}");
    // CH1 is rated 6 V: the instrument refuses, and the driver says so.
    match psu.set_voltage(1, 12.0) {
        Err(InstrumentError::Device {
            code: -222,
            command,
            ..
        }) => assert_eq!(command, "VOLT 12.000,(@1)"),
        other => panic!("expected the instrument's -222 error, got {other:?}"),
    }
    psu.set_output(2, false).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn e3631a_selects_its_output_switches_all_of_them_and_reports_its_error_queue() {
    let sim = bench("maglock_12v");
    // With the E3631A's own framing (8N2, DTR/DSR): the simulator's pty has no modem
    // lines to hand-shake on, as a USB adapter without them would not.
    let path = sim.serial_path("e3631a").unwrap();
    let framing = keysight_e3631a::DIALECT.framing;
    let port = open_serial(&path, 9600, TIMEOUT, framing).unwrap();
    let mut psu = ScpiSupply::open(LineIo::new(port, TIMEOUT), &keysight_e3631a::DIALECT).unwrap();
    assert!(psu.identity().starts_with("HEWLETT-PACKARD,E3631A,"));
    psu.set_voltage(2, 12.0).unwrap();
    psu.set_current(2, 0.5).unwrap();
    psu.set_output(2, true).unwrap();
    assert!(psu.output(2).unwrap());
    // One switch for all outputs: the one the rig does not use went on too.
    assert!(psu.output(1).unwrap());
    sim.world().advance(Duration::from_millis(100));
    assert!((psu.measure_voltage(2).unwrap() - 12.0).abs() < 1e-3);
    let amps = psu.measure_current(2).unwrap();
    assert!((0.24..0.265).contains(&amps), "{amps}");
    // P6V is rated 6.18 V: the instrument refuses, and the driver says so.
    match psu.set_voltage(1, 12.0) {
        Err(InstrumentError::Device {
            code: -222,
            command,
            ..
        }) => assert_eq!(command, "INST:NSEL 1;:VOLT 12.000"),
        other => panic!("expected the instrument's -222 error, got {other:?}"),
    }
    assert!(!psu.has_protection());
    psu.set_output(2, false).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn e36300_protection_trips_on_the_output_latches_and_clears() {
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "e36312a"), &keysight_e36300::DIALECT).unwrap();
    assert!(psu.protect(2, 13.0, 1.0).unwrap());
    psu.set_voltage(2, 12.0).unwrap();
    psu.set_output(2, true).unwrap();
    sim.world().advance(Duration::from_millis(100));
    assert_eq!(psu.tripped(2).unwrap(), (false, false));
    // A runaway command past the armed level: the output rises past 13 V and the
    // supply itself cuts it.
    psu.set_voltage(2, 20.0).unwrap();
    sim.world().advance(Duration::from_millis(50));
    assert!(!psu.output(2).unwrap(), "OVP switched the output off");
    assert_eq!(psu.tripped(2).unwrap(), (true, false));
    // Latched: the output refuses to come back on, and the driver says why.
    psu.set_voltage(2, 12.0).unwrap();
    match psu.set_output(2, true) {
        Err(InstrumentError::Device { code: -221, .. }) => {}
        other => panic!("a tripped output must refuse ON: {other:?}"),
    }
    psu.clear_protection(2).unwrap();
    assert_eq!(psu.tripped(2).unwrap(), (false, false));
    psu.set_output(2, true).unwrap();
    assert!(psu.output(2).unwrap());
    // OCP: the coil draws about 250 mA; a 200 mA limit puts the output into constant
    // current, which trips the armed OCP.
    psu.set_current(2, 0.2).unwrap();
    sim.world().advance(Duration::from_millis(200));
    assert_eq!(psu.tripped(2).unwrap(), (false, true));
    assert!(!psu.output(2).unwrap());
    psu.clear_protection(2).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn dp800_protection_latches_until_cleared() {
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "psu"), &rigol_dp800::DIALECT).unwrap();
    assert!(psu.protect(1, 13.0, 1.5).unwrap());
    psu.set_voltage(1, 20.0).unwrap();
    psu.set_output(1, true).unwrap();
    sim.world().advance(Duration::from_millis(50));
    assert_eq!(psu.tripped(1).unwrap(), (true, false));
    psu.set_voltage(1, 12.0).unwrap();
    assert!(matches!(
        psu.set_output(1, true),
        Err(InstrumentError::Device { code: -221, .. })
    ));
    psu.clear_protection(1).unwrap();
    psu.set_output(1, true).unwrap();
    assert!(psu.output(1).unwrap());
    psu.set_output(1, false).unwrap();
}

#[test]
fn a_supply_of_another_family_is_refused_by_its_identity() {
    let sim = bench("maglock_12v");
    // (the emulator on the port, the dialect expected there, what the error expects)
    let cases = [
        ("psu", &keysight_e36300::DIALECT, "Keysight E36300"),
        ("e36312a", &keysight_e3631a::DIALECT, "E3631A identity"),
    ];
    for (port, dialect, expects) in cases {
        match ScpiSupply::open(io(&sim, port), dialect) {
            Err(InstrumentError::Garbage {
                command, expected, ..
            }) => {
                assert_eq!(command, "*IDN?");
                assert!(expected.contains(expects), "{expected}");
            }
            other => panic!(
                "{port} is not a {}: {:?}",
                dialect.key,
                other.map(|p| p.identity().to_string())
            ),
        }
    }
}

/// A KA3005P served on a pty: the firmware's busy time and the driver's gap between
/// commands both run on the host's time, as on a wire.
fn ka3005p(sim: &SimBench) -> Ka3005p {
    Ka3005p::open(io(sim, "ka3005p")).unwrap()
}

#[test]
fn ka3005p_in_process_spends_its_gap_in_simulated_time() {
    let sim = SimBench::start(
        &DeviceProfile::load("maglock_12v").unwrap(),
        &SimOptions::default(),
        TimeMode::Virtual,
    )
    .unwrap();
    let link = |sim: &SimBench| LineIo::new(Box::new(sim.connect("ka3005p").unwrap()), TIMEOUT);
    let mut psu = Ka3005p::open(link(&sim)).unwrap();
    let (wall, before) = (std::time::Instant::now(), sim.world().now());
    psu.set_voltage(12.0).unwrap();
    psu.set_current(1.0).unwrap();
    let setting = sim.world().psu[0];
    assert_eq!((setting.set_v, setting.set_i), (12.0, 1.0));
    // Four exchanges after the identity's, each after the gap: the supply's time (and
    // so the run's) passed, the host's did not.
    let spent = sim.world().now() - before;
    assert!(spent >= korad_ka3005p::GAP * 4, "{spent:?}");
    assert!(wall.elapsed() < korad_ka3005p::GAP, "{:?}", wall.elapsed());
    // Without the gap the firmware, still busy with the setting, loses the read-back.
    let mut hasty = Ka3005p::open(link(&sim)).unwrap().with_gap(Duration::ZERO);
    match hasty.set_voltage(5.0) {
        Err(InstrumentError::Timeout { command, .. }) => assert_eq!(command, "VSET1?"),
        other => panic!("expected the read-back to be lost, got {other:?}"),
    }
}

#[test]
fn ka3005p_identifies_sets_and_reads_back_over_its_unterminated_protocol() {
    let sim = bench_on("maglock_12v", wall_time());
    let mut psu = ka3005p(&sim);
    assert_eq!(psu.identity(), "KORAD KA3005P V5.8 SN:00000001");
    // A setting and its read-back: the second waits out the gap after the first, which
    // is what keeps the firmware (busy for 50 ms after a command) from losing it.
    let started = std::time::Instant::now();
    psu.set_voltage(12.0).unwrap();
    assert!(started.elapsed() >= korad_ka3005p::GAP);
    psu.set_current(1.0).unwrap();
    let setting = sim.world().psu[0];
    assert_eq!((setting.set_v, setting.set_i), (12.0, 1.0));
    assert!(!psu.output().unwrap());
    psu.set_output(true).unwrap();
    assert!(psu.status().unwrap() & STATUS_OUTPUT != 0, "STATUS? bit 6");
    std::thread::sleep(Duration::from_millis(100));
    assert!((psu.measure_voltage().unwrap() - 12.0).abs() < 0.01);
    let amps = psu.measure_current().unwrap();
    assert!((0.24..0.265).contains(&amps), "{amps}");
    assert!(!psu.constant_current().unwrap());
    psu.set_output(false).unwrap();
    assert!(!psu.output().unwrap());
    assert!(sim.world().is_safe());
}

#[test]
fn ka3005p_catches_a_refused_setting_by_reading_it_back() {
    let sim = bench_on("maglock_12v", wall_time());
    let mut psu = ka3005p(&sim);
    psu.set_voltage(12.0).unwrap();
    // Beyond the 31 V rating the supply ignores the command without a word.
    match psu.set_voltage(40.0) {
        Err(InstrumentError::Readback { commanded, actual }) => {
            assert_eq!(commanded, "40.00V (`VSET1?`)");
            assert_eq!(actual, "12.000V");
        }
        other => panic!("expected a read-back error, got {other:?}"),
    }
    match psu.set_current(9.0) {
        Err(InstrumentError::Readback { commanded, .. }) => {
            assert_eq!(commanded, "9.000A (`ISET1?`)")
        }
        other => panic!("expected a read-back error, got {other:?}"),
    }
}

#[test]
fn ka3005p_protection_trips_at_the_setting_and_latches_the_output_off() {
    let sim = bench_on("maglock_12v", wall_time());
    let mut psu = ka3005p(&sim);
    psu.set_voltage(12.0).unwrap();
    psu.set_current(1.0).unwrap();
    psu.set_protection(false, true).unwrap();
    psu.set_output(true).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The coil draws about 250 mA: a 200 mA limit is reached, and OCP cuts the output.
    psu.set_current(0.2).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!psu.output().unwrap(), "OCP switched the output off");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!psu.output().unwrap(), "and it stays off");
    assert!(sim
        .world()
        .output_log()
        .iter()
        .any(|e| e.what == "CH1 OFF (OCP tripped)"));
    // OUT1 is what switches it on again.
    psu.set_protection(false, false).unwrap();
    psu.set_output(true).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        psu.constant_current().unwrap(),
        "limiting at 200 mA, not tripping"
    );
    psu.set_output(false).unwrap();
}

#[test]
fn ka3005p_garbage_and_silence_are_errors() {
    use lockrig::sim::{Fault, SimOptions};
    let serve = |fault: &str| {
        let mut sim = SimBench::start(
            &DeviceProfile::load("maglock_12v").unwrap(),
            &SimOptions {
                faults: vec![fault.parse::<Fault>().unwrap()],
                ..SimOptions::default()
            },
            wall_time(),
        )
        .unwrap();
        sim.serve_ptys().unwrap();
        sim
    };
    // After the identity and one read-back, the supply answers line noise.
    let sim = serve("psu:garbage@2");
    let mut psu = ka3005p(&sim);
    psu.set_voltage(12.0).unwrap();
    match psu.measure_voltage() {
        Err(InstrumentError::Garbage { command, .. }) => assert_eq!(command, "VOUT1?"),
        other => panic!("expected garbage, got {other:?}"),
    }
    // A status byte cannot be told from noise, but the noise runs past its one byte.
    let sim = serve("psu:garbage@1");
    let mut psu = ka3005p(&sim);
    let first = psu.status();
    match first.and_then(|_| psu.status()) {
        Err(InstrumentError::Garbage { command, .. }) => assert_eq!(command, "STATUS?"),
        other => panic!("expected garbage, got {other:?}"),
    }
    let sim = serve("psu:silent@1");
    let mut psu = ka3005p(&sim);
    match psu.output() {
        Err(InstrumentError::Timeout { command, .. }) => assert_eq!(command, "STATUS?"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn ka3005p_does_not_take_a_scpi_supply_for_one() {
    let sim = bench("maglock_12v");
    // A SCPI supply waits for the line feed that never comes.
    match Ka3005p::open(io(&sim, "spd3303x")) {
        Err(InstrumentError::Timeout { command, .. }) => assert_eq!(command, "*IDN?"),
        other => panic!(
            "an SPD3303X is not a KA3005P: {:?}",
            other.map(|p| p.identity().to_string())
        ),
    }
}

fn bench_with_fault(device: &str, fault: &str) -> SimBench {
    let options = SimOptions {
        faults: vec![fault.parse().unwrap()],
        ..SimOptions::default()
    };
    let mut sim = SimBench::start(
        &DeviceProfile::load(device).unwrap(),
        &options,
        TimeMode::Virtual,
    )
    .unwrap();
    sim.serve_ptys().unwrap();
    sim
}

#[test]
fn daq970a_identifies_closes_opens_and_reads_back_its_relays() {
    let sim = bench("maglock_12v");
    let mut daq = Daq970a::open(io(&sim, "daq970a"), 1).unwrap();
    assert!(daq.identity().starts_with("Keysight Technologies,DAQ970A,"));
    daq.set(3, true).unwrap();
    assert!(daq.closed(3).unwrap());
    assert!(
        sim.world().relays[2],
        "relay (@103) drives the bench's relay 3"
    );
    daq.set(3, false).unwrap();
    assert!(!daq.closed(3).unwrap());
    assert!(sim.world().is_safe());
}

#[test]
fn daq970a_reports_a_channel_not_installed_and_refuses_another_instrument() {
    let sim = bench("maglock_12v");
    // Slot 2 of the simulated mainframe is empty: the instrument queues -222.
    let mut daq = Daq970a::open(io(&sim, "daq970a"), 2).unwrap();
    match daq.set(1, true) {
        Err(InstrumentError::Device {
            code: -222,
            command,
            ..
        }) => {
            assert_eq!(command, "ROUT:CLOS (@201)")
        }
        other => panic!("expected the instrument's -222 error, got {other:?}"),
    }
    // A supply on the port is not a switch unit.
    match Daq970a::open(io(&sim, "psu"), 1) {
        Err(InstrumentError::Garbage { command, .. }) => assert_eq!(command, "*IDN?"),
        Err(other) => panic!("expected the identity to be refused, got {other:?}"),
        Ok(_) => panic!("a DP832 taken for a DAQ970A"),
    }
}

#[test]
fn daq970a_silence_and_garbage_are_errors_never_a_switch() {
    for (fault, want) in [
        ("relays:silent@3", "timeout"),
        ("relays:garbage@3", "garbage"),
    ] {
        let sim = bench_with_fault("maglock_12v", fault);
        let mut daq = Daq970a::open(io(&sim, "daq970a"), 1).unwrap();
        let mut failed = None;
        for _ in 0..4 {
            if let Err(e) = daq.set(1, true) {
                failed = Some(e);
                break;
            }
        }
        match (failed, want) {
            (Some(InstrumentError::Timeout { .. }), "timeout") => {}
            (Some(InstrumentError::Garbage { .. }), "garbage") => {}
            (other, _) => panic!("{fault}: expected {want}, got {other:?}"),
        }
    }
}

#[test]
fn lan_instruments_are_served_on_raw_tcp_and_the_drivers_speak_to_them() {
    let mut sim = SimBench::start(
        &DeviceProfile::load("maglock_12v").unwrap(),
        &SimOptions::default(),
        lockrig::sim::wall_time(),
    )
    .unwrap();
    sim.serve_tcp("127.0.0.1".parse().unwrap()).unwrap();
    let tcp = |name: &str| {
        let addr = sim.tcp_addr(name).unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        LineIo::new(
            lockrig::transport::open_tcp(&addr.to_string(), TIMEOUT).unwrap(),
            TIMEOUT,
        )
    };
    let mut psu = ScpiSupply::open(tcp("psu"), &rigol_dp800::DIALECT).unwrap();
    assert!(psu.identity().starts_with("RIGOL TECHNOLOGIES,DP832,"));
    psu.set_voltage(1, 12.0).unwrap();
    psu.set_output(1, true).unwrap();
    // Past the DP832's next measurement (one every 400 ms or so).
    std::thread::sleep(Duration::from_millis(450));
    assert!((psu.measure_voltage(1).unwrap() - 12.0).abs() < 0.05);
    psu.set_output(1, false).unwrap();
    // The instrument keeps its state between connections, as a real one does.
    drop(psu);
    let mut psu = ScpiSupply::open(tcp("psu"), &rigol_dp800::DIALECT).unwrap();
    assert!(!psu.output(1).unwrap());
    let mut daq = Daq970a::open(tcp("daq970a"), 1).unwrap();
    daq.set(2, true).unwrap();
    assert!(sim.world().relays[1]);
    daq.set(2, false).unwrap();
    // Instruments without a LAN port are not on the network.
    assert!(sim.tcp_addr("relays").is_none() && sim.tcp_addr("console").is_none());
}

fn port(sim: &SimBench, name: &str) -> Box<dyn lockrig::transport::Transport> {
    let path = sim.serial_path(name).unwrap();
    open_serial(&path, 115_200, TIMEOUT, Framing::PLAIN).unwrap()
}

#[test]
fn riden_identifies_sets_reads_back_and_measures_over_modbus_rtu() {
    let sim = bench("maglock_12v");
    let mut psu = Rd60xx::open(port(&sim, "rd6006"), 1, TIMEOUT).unwrap();
    assert_eq!(
        psu.identity(),
        "Riden RD6006 SN:00012345 FW:1.28 (Modbus slave 1)"
    );
    psu.set_voltage(12.0).unwrap();
    psu.set_current(1.0).unwrap();
    psu.protect(13.0, 1.2).unwrap();
    psu.set_output(true).unwrap();
    assert!(psu.output().unwrap());
    sim.world().advance(Duration::from_millis(100));
    let (v, a) = psu.measure().unwrap();
    assert!((v - 12.0).abs() < 0.05, "{v} V");
    assert!(a > 0.05 && a < 1.0, "the maglock draws current: {a} A");
    assert_eq!(sim.world().psu[0].set_v, 12.0);
    psu.set_output(false).unwrap();
    assert!(sim.world().is_safe());
}

#[test]
fn riden_reports_the_instruments_exception_and_its_protection_trip() {
    let sim = bench("maglock_12v");
    let mut psu = Rd60xx::open(port(&sim, "rd6006"), 1, TIMEOUT).unwrap();
    // 60.5 V is within what lockrig can scale, beyond what the RD6006 takes.
    match psu.set_voltage(60.5) {
        Err(InstrumentError::Device {
            code: 3, command, ..
        }) => {
            assert_eq!(command, "Modbus 06 @8 = 6050")
        }
        other => panic!("expected exception 03, got {other:?}"),
    }
    // OCP below what the lock draws: the output trips off and says why.
    psu.set_voltage(12.0).unwrap();
    psu.protect(13.0, 0.05).unwrap();
    // The stock firmware takes 100 ms over each request: by the time the output state
    // is read back, OCP has switched it off, and the read-back says so.
    match psu.set_output(true) {
        Err(InstrumentError::Readback { actual, .. }) => {
            assert_eq!(actual, "output OFF (OCP tripped)")
        }
        other => panic!("expected the trip in the read-back, got {other:?}"),
    }
    sim.world().advance(Duration::from_millis(200));
    assert_eq!(psu.new_trip().unwrap(), Some("OCP"));
    assert!(!psu.output().unwrap());
    // A later session finds it latched, reports it once, and a switch-on clears it.
    drop(psu);
    let mut again = Rd60xx::open(port(&sim, "rd6006"), 1, TIMEOUT).unwrap();
    assert_eq!(again.clear_protection().unwrap(), Some("OCP"));
    assert_eq!(again.new_trip().unwrap(), None, "stale, already reported");
    again.protect(13.0, 1.2).unwrap();
    again.set_output(true).unwrap();
    assert_eq!(again.tripped().unwrap(), None);
    again.set_output(false).unwrap();
}

#[test]
fn riden_silence_garbage_and_another_slave_are_errors() {
    for (fault, want) in [("psu:silent@1", "timeout"), ("psu:garbage@1", "garbage")] {
        let sim = bench_with_fault("maglock_12v", fault);
        let mut psu = Rd60xx::open(port(&sim, "rd6006"), 1, TIMEOUT).unwrap();
        match (psu.set_voltage(5.0), want) {
            (Err(InstrumentError::Timeout { .. }), "timeout") => {}
            (Err(InstrumentError::Garbage { .. }), "garbage") => {}
            (other, _) => panic!("{fault}: expected {want}, got {other:?}"),
        }
    }
    // Nobody answers at slave 7; a SCPI supply is not a Riden.
    let sim = bench("maglock_12v");
    match Rd60xx::open(port(&sim, "rd6006"), 7, TIMEOUT) {
        Err(InstrumentError::Timeout { .. }) => {}
        other => panic!("slave 7: {:?}", other.map(|p| p.identity().to_string())),
    }
    assert!(Rd60xx::open(port(&sim, "psu"), 1, TIMEOUT).is_err());
}

#[test]
fn modbus_relay_board_switches_and_reads_back_its_coils() {
    let sim = bench("maglock_12v");
    let mut board = ModbusRelay::open(port(&sim, "modbus-relays"), 1, 0, 8, TIMEOUT).unwrap();
    board.set(3, true).unwrap();
    assert!(board.state(3).unwrap());
    assert!(sim.world().relays[2], "coil 2 is the bench's relay 3");
    assert_eq!(
        board.states().unwrap(),
        [false, false, true, false, false, false, false, false]
    );
    board.set(3, false).unwrap();
    assert!(sim.world().is_safe());
    drop(board);
    // A board that starts its coils at 1 on an eight-coil board: relay 8 is coil 8,
    // which the board does not have.
    let mut shifted = ModbusRelay::open(port(&sim, "modbus-relays"), 1, 1, 7, TIMEOUT).unwrap();
    shifted.set(1, true).unwrap();
    assert!(sim.world().relays[1]);
    shifted.set(1, false).unwrap();
    drop(shifted);
    match ModbusRelay::open(port(&sim, "modbus-relays"), 1, 1, 8, TIMEOUT) {
        Err(InstrumentError::Device { code: 2, .. }) => {}
        other => panic!(
            "expected exception 02, got {:?}",
            other.map(|b| b.identity())
        ),
    }
    for (fault, want) in [
        ("relays:silent@1", "timeout"),
        ("relays:garbage@1", "garbage"),
    ] {
        let sim = bench_with_fault("maglock_12v", fault);
        let mut board = ModbusRelay::open(port(&sim, "modbus-relays"), 1, 0, 8, TIMEOUT).unwrap();
        match (board.set(1, true), want) {
            (Err(InstrumentError::Timeout { .. }), "timeout") => {}
            (Err(InstrumentError::Garbage { .. }), "garbage") => {}
            (other, _) => panic!("{fault}: expected {want}, got {other:?}"),
        }
    }
}

#[test]
fn gpio_lines_switch_read_back_and_timestamp_edges_shorter_than_any_poll() {
    use lockrig::drivers::gpio_cdev::{Edge, Gpio};
    let sim = bench("smartlock_4aa");
    // Outputs 8-15 drive the bench's relays; inputs 0-7 are its switches.
    let mut relays = Gpio::open(sim.gpio_lines(&[], &[8, 9]).unwrap());
    relays.set(9, true).unwrap();
    assert!(sim.world().relays[1], "line 9 is relay 2");
    relays.set(9, false).unwrap();
    let mut switches = Gpio::open(sim.gpio_lines(&[0, 1], &[]).unwrap());
    assert!(switches.identity().contains("gpiochip-sim"));
    // Power the smart lock; it comes up locked.
    {
        let mut w = sim.world();
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_secs(3));
    }
    assert!(!switches.read(1).unwrap(), "latch engaged reads low");
    let _ = switches.edges(1).unwrap();
    // The bolt twitches open for 1 ms; a poll 50 ms later sees nothing, the edges do.
    {
        let mut w = sim.world();
        w.twitch_bolt(Duration::from_millis(1));
        w.advance(Duration::from_millis(50));
    }
    assert!(!switches.read(1).unwrap(), "the poll missed it");
    let edges = switches.edges(1).unwrap();
    assert_eq!(edges.lost, 0);
    assert_eq!(
        edges.edges,
        [
            Edge {
                high: true,
                ago: Duration::from_millis(50)
            },
            Edge {
                high: false,
                ago: Duration::from_millis(49)
            },
        ],
        "released for 1 ms, 50 ms ago"
    );
    assert!(
        switches.edges(1).unwrap().edges.is_empty(),
        "each edge once"
    );
    // A line the chip does not have as an input or an output is refused, as the kernel
    // refuses it; so is driving an input.
    assert!(sim.gpio_lines(&[9], &[]).is_err());
    assert!(sim.gpio_lines(&[], &[3]).is_err());
    assert!(switches.set(1, true).is_err());
}

#[test]
fn spd1000x_is_the_one_channel_siglent_confirmed_by_read_back() {
    use lockrig::drivers::scpi_supply::siglent_spd1000x;
    let sim = bench("maglock_12v");
    let mut psu = ScpiSupply::open(io(&sim, "spd1168x"), &siglent_spd1000x::DIALECT).unwrap();
    assert!(psu.identity().starts_with("Siglent Technologies,SPD1168X,"));
    psu.set_voltage(1, 12.0).unwrap();
    psu.set_current(1, 1.0).unwrap();
    psu.set_output(1, true).unwrap();
    assert!(psu.output(1).unwrap());
    sim.world().advance(Duration::from_millis(100));
    assert!((psu.measure_voltage(1).unwrap() - 12.0).abs() < 1e-2);
    // Beyond its 16 V rating the instrument says nothing and keeps 12 V.
    match psu.set_voltage(1, 20.0) {
        Err(InstrumentError::Readback { commanded, actual }) => {
            assert_eq!(commanded, "20.000V (`CH1:VOLTage?`)");
            assert_eq!(actual, "12.000V");
        }
        other => panic!("expected a read-back error, got {other:?}"),
    }
    // It has no CH2: the setting is dropped and the read-back times out.
    assert!(psu.set_voltage(2, 5.0).is_err());
    psu.set_output(1, false).unwrap();
    assert!(sim.world().is_safe());
    // An SPD3303X is not an SPD1000X.
    assert!(ScpiSupply::open(io(&sim, "spd3303x"), &siglent_spd1000x::DIALECT).is_err());
    for (fault, garbage) in [("psu:silent@1", false), ("psu:garbage@1", true)] {
        let sim = bench_with_fault("maglock_12v", fault);
        let mut psu = ScpiSupply::open(io(&sim, "spd1168x"), &siglent_spd1000x::DIALECT).unwrap();
        match psu.set_voltage(1, 5.0) {
            Err(InstrumentError::Garbage { .. }) if garbage => {}
            Err(InstrumentError::Timeout { .. }) if !garbage => {}
            other => panic!("{fault}: {other:?}"),
        }
    }
}
