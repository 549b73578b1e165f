//! Korad KA3005P emulator, from the family's remote-control syntax as the sigrok wiki
//! page "Korad KAxxxxP series" tabulates it: unterminated ASCII, 9600 8N1.
//!
//! | command | reply |
//! |---|---|
//! | `*IDN?` | `KORAD KA3005P V5.8 SN:...`, no terminator |
//! | `VSET1:<V>`, `VSET1?` | 0-31 V; reply `12.00` (5 characters) |
//! | `ISET1:<A>`, `ISET1?` | 0-5.1 A; reply `1.000` |
//! | `VOUT1?`, `IOUT1?` | the output as measured: `12.00`, `0.250` |
//! | `OUT1`, `OUT0` | output on, off |
//! | `STATUS?` | one byte: bit 0 constant voltage, bit 4 beep, bit 6 output on |
//! | `OVP1`/`OVP0`, `OCP1`/`OCP0`, `BEEP1`/`BEEP0` | switches |
//!
//! As the firmware does, it recognises a command by its syntax as the bytes arrive:
//! a query is answered as soon as its `?` is in, a switch on its digit, a setting's
//! value when five characters of it are in (`12.00`, `1.000`), when a byte that cannot
//! be part of a number follows, or when the line goes quiet. Whatever cannot start a
//! command is dropped a byte at a time, and so is a value out of range. The firmware is
//! busy for [`BUSY`] after each command: what arrives then is lost.
//!
//! OVP trips when the output's actual voltage rises above the set voltage, OCP when it
//! delivers the set current limit (constant current); either switches the output off
//! until the next `OUT1`. Nothing reports which one tripped.
//!
//! Wiring on the simulated bench: the output feeds the lock.

use std::time::Duration;

use super::pty::Protocol;
use super::scpi::{load_outputs, store_outputs, UPDATE_RATE_UNKNOWN};
use super::world::{PsuChannel, World, MAIN};

/// The identity the emulator reports.
pub const IDN: &str = "KORAD KA3005P V5.8 SN:00000001";

/// How long the firmware ignores input after a command (the shortest polling interval
/// users report working).
pub const BUSY: Duration = Duration::from_millis(50);

/// How long the line must be quiet to end a setting's value shorter than five
/// characters (ten characters' time at 9600 baud).
pub const QUIET: Duration = Duration::from_millis(10);

/// The rating (volts, amperes), as libsigrok lists it for the KA3005P.
const RATING: (f64, f64) = (31.0, 5.1);
/// Characters in a setting's value and in a numeric reply.
const WIDTH: usize = 5;
/// The world output the channel drives.
const WIRING: [usize; 1] = [MAIN];

/// Commands answered (or carried out) once their last byte is in.
const FIXED: &[&[u8]] = &[
    b"*IDN?", b"STATUS?", b"VSET1?", b"ISET1?", b"VOUT1?", b"IOUT1?", b"OUT1", b"OUT0", b"OVP1",
    b"OVP0", b"OCP1", b"OCP0", b"BEEP1", b"BEEP0",
];
/// Commands followed by a value.
const SETTINGS: &[&[u8]] = &[b"VSET1:", b"ISET1:"];

/// The emulator.
pub struct Ka3005pSim {
    pending: Vec<u8>,
    psu: [PsuChannel; 1],
    readings: [(f64, f64); 1],
    ovp: bool,
    ocp: bool,
    beep: bool,
    busy: Duration,
    /// On the world's time (simulated, or the host's on a served bench).
    busy_until: Option<Duration>,
    last_byte: Option<Duration>,
}

impl Default for Ka3005pSim {
    fn default() -> Self {
        Self::with_busy(BUSY)
    }
}

/// What the bytes so far make.
enum Parse {
    /// A command, and how many bytes it took.
    Command(Vec<u8>, usize),
    /// The start of a command: wait for more.
    Partial,
    /// Nothing a command starts with.
    Junk,
}

impl Ka3005pSim {
    /// An emulator that is busy for `busy` after each command.
    pub fn with_busy(busy: Duration) -> Self {
        Self {
            pending: Vec::new(),
            psu: [PsuChannel::default()],
            readings: [(0.0, 0.0)],
            ovp: false,
            ocp: false,
            beep: true,
            busy,
            busy_until: None,
            last_byte: None,
        }
    }

    /// Recognises the command at the start of `pending`; `quiet` when no more bytes
    /// are coming, which ends a setting's value.
    fn parse(pending: &[u8], quiet: bool) -> Parse {
        for c in FIXED {
            if pending.starts_with(c) {
                return Parse::Command(c.to_vec(), c.len());
            }
            if c.starts_with(pending) {
                return Parse::Partial;
            }
        }
        for s in SETTINGS {
            if s.starts_with(pending) && pending.len() < s.len() {
                return Parse::Partial;
            }
            if let Some(value) = pending.strip_prefix(*s) {
                let digits = value
                    .iter()
                    .take(WIDTH)
                    .take_while(|b| b.is_ascii_digit() || **b == b'.')
                    .count();
                let ended = digits == WIDTH || digits < value.len() || quiet;
                return match (digits, ended) {
                    (0, true) => Parse::Junk,
                    (_, false) => Parse::Partial,
                    (n, true) => Parse::Command(pending[..s.len() + n].to_vec(), s.len() + n),
                };
            }
        }
        Parse::Junk
    }

    /// Runs every complete command in `pending`; returns the replies.
    fn run(&mut self, now: Duration, quiet: bool) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match Self::parse(&self.pending, quiet) {
                Parse::Command(command, used) => {
                    self.pending.drain(..used);
                    out.extend(self.execute(&command));
                    self.busy_until = Some(now + self.busy);
                }
                Parse::Junk if !self.pending.is_empty() => {
                    self.pending.remove(0);
                }
                Parse::Junk | Parse::Partial => return out,
            }
        }
    }

    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        let (volts, amps) = self.readings[0];
        let c = self.psu[0];
        match command {
            b"*IDN?" => IDN.as_bytes().to_vec(),
            b"STATUS?" => vec![self.status()],
            b"VSET1?" => format!("{:05.2}", c.set_v).into_bytes(),
            b"ISET1?" => format!("{:05.3}", c.set_i).into_bytes(),
            b"VOUT1?" => format!("{volts:05.2}").into_bytes(),
            b"IOUT1?" => format!("{amps:05.3}").into_bytes(),
            b"OUT1" => {
                // Switching on again is what clears a trip.
                self.psu[0].on = true;
                self.psu[0].tripped = (false, false);
                Vec::new()
            }
            b"OUT0" => {
                self.psu[0].on = false;
                Vec::new()
            }
            b"OVP1" | b"OVP0" => {
                self.ovp = command[3] == b'1';
                Vec::new()
            }
            b"OCP1" | b"OCP0" => {
                self.ocp = command[3] == b'1';
                Vec::new()
            }
            b"BEEP1" | b"BEEP0" => {
                self.beep = command[4] == b'1';
                Vec::new()
            }
            setting => {
                let (name, value) = setting.split_at(6);
                let value = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<f64>().ok());
                let c = &mut self.psu[0];
                match (name, value) {
                    (b"VSET1:", Some(v)) if (0.0..=RATING.0).contains(&v) => {
                        c.set_v = (v * 100.0).round() / 100.0;
                    }
                    (b"ISET1:", Some(a)) if (0.0..=RATING.1).contains(&a) => {
                        c.set_i = (a * 1000.0).round() / 1000.0;
                    }
                    _ => {}
                }
                Vec::new()
            }
        }
    }

    /// The `STATUS?` byte.
    fn status(&self) -> u8 {
        let c = self.psu[0];
        let cc = c.on && self.readings[0].1 >= c.set_i * 0.999;
        let mut byte = 0;
        if !cc {
            byte |= 1;
        }
        if self.beep {
            byte |= 1 << 4;
        }
        if c.on {
            byte |= 1 << 6;
        }
        byte
    }

    /// Runs the parser with the world's output loaded and stores what changed.
    fn exchange(&mut self, world: &mut World, bytes: &[u8], quiet: bool) -> Vec<u8> {
        load_outputs(
            world,
            &WIRING,
            &mut self.psu,
            &mut self.readings,
            UPDATE_RATE_UNKNOWN,
        );
        let now = world.now();
        if !bytes.is_empty() && self.busy_until.is_none_or(|t| now >= t) {
            self.pending.extend_from_slice(bytes);
            self.last_byte = Some(now);
        }
        let out = self.run(now, quiet);
        // The protection levels are the settings themselves.
        let c = &mut self.psu[0];
        c.ovp = (c.set_v, self.ovp);
        c.ocp = (c.set_i, self.ocp);
        store_outputs(world, &WIRING, &self.psu);
        out
    }
}

impl Protocol for Ka3005pSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        self.exchange(world, bytes, false)
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        let quiet = self
            .last_byte
            .is_some_and(|t| world.now().saturating_sub(t) >= QUIET);
        if self.pending.is_empty() || !quiet {
            return Vec::new();
        }
        // The line has gone quiet: a setting whose value is shorter than five
        // characters is complete.
        self.exchange(world, &[], true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        World::unpowered("maglock_12v")
    }

    /// An emulator that is never busy, fed as fast as a test can.
    fn sim() -> Ka3005pSim {
        Ka3005pSim::with_busy(Duration::ZERO)
    }

    fn say(sim: &mut Ka3005pSim, w: &mut World, bytes: &[u8]) -> Vec<u8> {
        sim.input(bytes, w)
    }

    #[test]
    fn unterminated_commands_as_pyserial_users_write_them() {
        let (mut sim, mut w) = (sim(), world());
        assert_eq!(say(&mut sim, &mut w, b"*IDN?"), IDN.as_bytes());
        assert_eq!(say(&mut sim, &mut w, b"VSET1:05.00"), b"");
        assert_eq!(say(&mut sim, &mut w, b"VSET1?"), b"05.00");
        assert_eq!(say(&mut sim, &mut w, b"ISET1:1.000"), b"");
        assert_eq!(say(&mut sim, &mut w, b"ISET1?"), b"1.000");
        // Back to back in one write, and a value shorter than the width ended by
        // the next command.
        assert_eq!(say(&mut sim, &mut w, b"VSET1:12ISET1:0.5VSET1?"), b"12.00");
        assert_eq!(say(&mut sim, &mut w, b"ISET1?"), b"0.500");
        assert_eq!((w.psu[MAIN].set_v, w.psu[MAIN].set_i), (12.0, 0.5));
    }

    #[test]
    fn a_command_split_across_writes_and_a_value_ended_by_silence() {
        let (mut sim, mut w) = (sim(), world());
        assert_eq!(say(&mut sim, &mut w, b"VSE"), b"");
        assert_eq!(say(&mut sim, &mut w, b"T1:3"), b"");
        assert_eq!(sim.idle(&mut w), b"");
        assert_eq!(w.psu[MAIN].set_v, 0.0, "more digits may come");
        w.advance(QUIET);
        assert_eq!(sim.idle(&mut w), b"");
        assert_eq!(say(&mut sim, &mut w, b"VSET1"), b"");
        assert_eq!(say(&mut sim, &mut w, b"?"), b"03.00");
    }

    #[test]
    fn unknown_input_and_out_of_range_values_are_ignored() {
        let (mut sim, mut w) = (sim(), world());
        say(&mut sim, &mut w, b"VSET1:12.00ISET1:1.000");
        for junk in [
            &b"VSET1:40.00"[..],
            b"vset1:5",
            b"\r\n",
            b"VOLT 3",
            b"ISET1:9.000",
        ] {
            assert_eq!(say(&mut sim, &mut w, junk), b"", "{junk:?}");
        }
        assert_eq!(say(&mut sim, &mut w, b"VSET1?"), b"12.00");
        assert_eq!(say(&mut sim, &mut w, b"ISET1?"), b"1.000");
    }

    #[test]
    fn status_has_the_output_in_bit_6_and_cv_in_bit_0() {
        let (mut sim, mut w) = (sim(), world());
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x11]);
        say(&mut sim, &mut w, b"VSET1:12.00ISET1:1.000OUT1");
        w.advance(Duration::from_millis(100));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x51]);
        let v: f64 = String::from_utf8(say(&mut sim, &mut w, b"VOUT1?"))
            .unwrap()
            .parse()
            .unwrap();
        assert!((v - 12.0).abs() < 0.01, "{v}");
        let a = String::from_utf8(say(&mut sim, &mut w, b"IOUT1?")).unwrap();
        assert_eq!(a.len(), 5, "{a}");
        // The maglock draws about 250 mA: a 100 mA limit puts it in constant current.
        say(&mut sim, &mut w, b"ISET1:0.100");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x50]);
        say(&mut sim, &mut w, b"OUT0");
        assert!(w.is_safe());
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x11]);
    }

    #[test]
    fn ocp_trips_on_the_output_and_latches_it_off_until_out1() {
        let (mut sim, mut w) = (sim(), world());
        say(&mut sim, &mut w, b"VSET1:12.00ISET1:1.000OCP1OUT1");
        w.advance(Duration::from_millis(100));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x51]);
        // Constant current at the limit is an over-current.
        say(&mut sim, &mut w, b"ISET1:0.100");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x11], "tripped off");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x11], "latched");
        assert!(w
            .output_log()
            .iter()
            .any(|e| e.what == "CH1 OFF (OCP tripped)"));
        say(&mut sim, &mut w, b"OCP0ISET1:1.000OUT1");
        w.advance(Duration::from_millis(100));
        assert_eq!(say(&mut sim, &mut w, b"STATUS?"), [0x51]);
    }

    #[test]
    fn commands_inside_the_busy_time_are_lost() {
        let (mut sim, mut w) = (Ka3005pSim::default(), world());
        say(&mut sim, &mut w, b"VSET1:12.00");
        assert_eq!(say(&mut sim, &mut w, b"VSET1?"), b"", "too soon: dropped");
        w.advance(BUSY);
        assert_eq!(say(&mut sim, &mut w, b"VSET1?"), b"12.00");
    }
}
