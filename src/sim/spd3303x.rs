//! Siglent SPD3303X emulator, from the SPD3000X QuickStart's remote-control chapter
//! (QS0503X-E01B / E02A): the command tree below, parsed as SCPI (long or short forms,
//! any case; `VOL` or `VOLTAG` are not headers), with no error queue a program can use.
//! The single-channel SPD1000X (SPD1168X: 16 V, 8 A) shares the command set with one
//! channel, `CH1` (its `SYSTem:STATus?` word: bit 0 constant current, bit 4 output on);
//! [`Model`] says which one is emulated.
//!
//! | command | notes |
//! |---|---|
//! | `*IDN?` | `Siglent Technologies,SPD3303X,...` |
//! | `INSTrument {CH1\|CH2}`, `INSTrument?` | the channel commands without a `CH<n>:` prefix use |
//! | `[{CH1\|CH2}:]VOLTage <V>`, `[{CH1\|CH2}:]VOLTage?` | 0-32 V |
//! | `[{CH1\|CH2}:]CURRent <A>`, `[{CH1\|CH2}:]CURRent?` | 0-3.2 A |
//! | `OUTPut {CH1\|CH2\|CH3},{ON\|OFF}` | |
//! | `MEASure:VOLTage? [{CH1\|CH2\|CH3}]`, `MEASure:CURRent? [...]`, `MEASure:POWEr? [...]` | |
//! | `SYSTem:STATus?` | hex word: bits 0/1 CH1/CH2 in CC, bits 2-3 `01` independent, bits 4/5 CH1/CH2 on |
//! | `SYSTem:VERSion?` | |
//! | `SYSTem:ERRor?` | always `0  No Error` |
//!
//! As on the instrument, a command it cannot take (an unknown header, a value beyond the
//! channel's rating, a missing parameter) is dropped without a word: the only way to
//! know a setting was taken is to read it back. There is no OVP or OCP. CH3 is fixed
//! at 5 V (its front-panel switch); it can be switched and measured, not programmed.
//!
//! Each command takes the instrument 10 ms of simulated time ([`LATENCY`]) before it
//! acts and answers.
//!
//! Wiring on the simulated bench: CH1 feeds the lock, CH2 the emergency port, CH3 is
//! free.

use scpi::error::{Error, ErrorCode};
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::tree::prelude::*;
use scpi::{cmd_both, cmd_nquery, cmd_qonly, Branch, Leaf, Root};

use super::pty::Protocol;
use super::scpi::{
    channel, channel_first, commands_in, load_outputs, no_more, respond, run_lines, store_outputs,
    UPDATE_RATE_UNKNOWN,
};
use super::world::{PsuChannel, World, MAIN, PORT};

/// How long the instrument takes over each command before it acts and answers. Not in
/// the manuals; measured by users: a 10 ms delay before reading a query's answer over
/// USB (pyvisa issue 362), and commands about 20 ms apart are reliable (PyFixate PR
/// 228), so 10 ms a command.
const LATENCY: std::time::Duration = std::time::Duration::from_millis(10);

/// The most channels a model has.
const MAX_CHANNELS: usize = 3;

/// One model of the family.
pub struct Model {
    /// The `*IDN?` reply.
    pub idn: &'static str,
    /// `SYSTem:VERSion?`.
    version: &'static str,
    /// Channels that can be switched and measured (CH1..).
    channels: usize,
    /// Channels that can be programmed (CH1..).
    programmable: usize,
    /// A programmable channel's rating (volts, amperes).
    rating: (f64, f64),
    /// The voltage of the fixed channel after the programmable ones, if there is one.
    fixed_volts: Option<f64>,
    /// The world output each channel drives.
    wiring: &'static [usize],
}

/// The SPD3303X: CH1 feeds the lock, CH2 the emergency port, CH3 (fixed 5 V) is free.
pub const SPD3303X: Model = Model {
    idn: "Siglent Technologies,SPD3303X,SPD3XSIM000001,1.01.01.02.05,V3.0",
    version: "1.01.01.02.05",
    channels: 3,
    programmable: 2,
    rating: (32.0, 3.2),
    fixed_volts: Some(5.0),
    wiring: &[MAIN, PORT, 1],
};

/// The SPD1168X (SPD1000X family): its one channel feeds the lock.
pub const SPD1168X: Model = Model {
    idn: "Siglent Technologies,SPD1168X,SPD13SIM000001,2.1.1.9,V1.0",
    version: "2.1.1.9",
    channels: 1,
    programmable: 1,
    rating: (16.0, 8.0),
    fixed_volts: None,
    wiring: &[MAIN],
};

/// The emulator: pending input and the instrument's own state.
pub struct Spd3303xSim {
    pending: Vec<u8>,
    front: Front,
}

impl Default for Spd3303xSim {
    fn default() -> Self {
        Self::model(&SPD3303X)
    }
}

impl Spd3303xSim {
    /// An emulator of `model`.
    pub fn model(model: &'static Model) -> Self {
        Self {
            pending: Vec::new(),
            front: Front {
                model,
                selected: 1,
                psu: [PsuChannel::default(); MAX_CHANNELS],
                readings: [(0.0, 0.0); MAX_CHANNELS],
            },
        }
    }
}

/// What the command handlers see.
struct Front {
    model: &'static Model,
    selected: usize,
    psu: [PsuChannel; MAX_CHANNELS],
    readings: [(f64, f64); MAX_CHANNELS],
}

impl Device for Front {
    /// No error queue: whatever went wrong, the command is simply not carried out.
    fn handle_error(&mut self, _err: Error) {}
}

impl Front {
    /// The status word of `SYSTem:STATus?`.
    fn status(&self) -> u16 {
        let mut word = 0b01 << 2; // independent mode
        for n in 0..self.model.programmable {
            let c = self.psu[n];
            if c.on && self.readings[n].1 >= c.set_i * 0.999 {
                word |= 1 << n;
            }
            if c.on {
                word |= 1 << (4 + n);
            }
        }
        word
    }
}

type R = Result<(), Error>;

struct Idn;
impl Command<Front> for Idn {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        respond(resp, d.model.idn)
    }
}

/// `INSTrument {CH1|CH2}` and its query.
struct Inst;
impl Command<Front> for Inst {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        d.selected = channel(p.next_token()?, d.model.programmable)?;
        no_more(&mut p)
    }
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        respond(resp, &format!("CH{}", d.selected))
    }
}

/// `[CH<n>:]VOLTage` or `[CH<n>:]CURRent` (`n: None`: the selected channel).
struct Level {
    n: Option<usize>,
    volts: bool,
}
impl Command<Front> for Level {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = self.n.unwrap_or(d.selected);
        if n > d.model.programmable {
            return Err(ErrorCode::UndefinedHeader.into());
        }
        let max = if self.volts {
            d.model.rating.0
        } else {
            d.model.rating.1
        };
        let v = f64::try_from(p.next_token()?)?;
        no_more(&mut p)?;
        if !(0.0..=max).contains(&v) {
            return Err(ErrorCode::DataOutOfRange.into());
        }
        let c = &mut d.psu[n - 1];
        if self.volts {
            c.set_v = v;
        } else {
            c.set_i = v;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        let n = self.n.unwrap_or(d.selected);
        if n > d.model.programmable {
            return Err(ErrorCode::UndefinedHeader.into());
        }
        let c = d.psu[n - 1];
        respond(
            resp,
            &format!("{:.3}", if self.volts { c.set_v } else { c.set_i }),
        )
    }
}

/// `OUTPut {CH1|CH2|CH3},{ON|OFF}`.
struct Output;
impl Command<Front> for Output {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = channel(p.next_token()?, d.model.channels)?;
        let on = bool::try_from(p.next_token()?)?;
        no_more(&mut p)?;
        d.psu[n - 1].on = on;
        Ok(())
    }
}

/// What `MEASure` returns.
#[derive(Clone, Copy)]
enum Meas {
    Volts,
    Amps,
    Watts,
}
struct Measure(Meas);
impl Command<Front> for Measure {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let (n, extra) = channel_first(&mut p, d.model.channels, d.selected)?;
        if extra.is_some() {
            return Err(ErrorCode::IllegalParameterValue.into());
        }
        let (v, a) = d.readings[n - 1];
        let text = match self.0 {
            Meas::Volts => format!("{v:.3}"),
            Meas::Amps => format!("{a:.3}"),
            Meas::Watts => format!("{:.3}", v * a),
        };
        respond(resp, &text)
    }
}

/// The `SYSTem` queries.
#[derive(Clone, Copy)]
enum Syst {
    Status,
    Version,
    Error,
}
struct System(Syst);
impl Command<Front> for System {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        let text = match self.0 {
            Syst::Status => format!("0x{:04X}", d.status()),
            Syst::Version => d.model.version.into(),
            Syst::Error => "0  No Error".into(),
        };
        respond(resp, &text)
    }
}

const fn level(n: Option<usize>, volts: bool) -> Level {
    Level { n, volts }
}

const CH1: [Node<Front>; 2] = [
    Leaf!(b"VOLTage" => &level(Some(1), true)),
    Leaf!(b"CURRent" => &level(Some(1), false)),
];
const CH2: [Node<Front>; 2] = [
    Leaf!(b"VOLTage" => &level(Some(2), true)),
    Leaf!(b"CURRent" => &level(Some(2), false)),
];

const TREE: Node<Front> = Root![
    Leaf!(b"*IDN" => &Idn),
    Leaf!(b"INSTrument" => &Inst),
    Node::Branch {
        name: b"CH1",
        default: false,
        sub: &CH1
    },
    Node::Branch {
        name: b"CH2",
        default: false,
        sub: &CH2
    },
    Leaf!(b"VOLTage" => &level(None, true)),
    Leaf!(b"CURRent" => &level(None, false)),
    Leaf!(b"OUTPut" => &Output),
    Branch![b"MEASure";
        Leaf!(b"VOLTage" => &Measure(Meas::Volts)),
        Leaf!(b"CURRent" => &Measure(Meas::Amps)),
        Leaf!(b"POWEr" => &Measure(Meas::Watts))],
    Branch![b"SYSTem";
        Leaf!(b"STATus" => &System(Syst::Status)),
        Leaf!(b"VERSion" => &System(Syst::Version)),
        Leaf!(b"ERRor" => &System(Syst::Error))]
];

impl Protocol for Spd3303xSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        world.busy(LATENCY * commands_in(bytes));
        let f = &mut self.front;
        let (wiring, n) = (f.model.wiring, f.model.channels);
        load_outputs(
            world,
            wiring,
            &mut f.psu[..n],
            &mut f.readings[..n],
            UPDATE_RATE_UNKNOWN,
        );
        if let Some(v) = f.model.fixed_volts {
            f.psu[f.model.programmable].set_v = v;
        }
        for c in &mut f.psu {
            // No protection on this instrument: nothing is armed on its outputs.
            c.ovp.1 = false;
            c.ocp.1 = false;
        }
        let out = run_lines(&TREE, f, &mut self.pending, bytes);
        store_outputs(world, wiring, &self.front.psu[..n]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scpi::say;
    use std::time::Duration;

    fn world() -> World {
        World::unpowered("maglock_12v")
    }

    #[test]
    fn long_and_short_forms_and_the_selected_channel_reach_the_same_setting() {
        let (mut sim, mut w) = (Spd3303xSim::default(), world());
        assert_eq!(say(&mut sim, &mut w, "*IDN?"), SPD3303X.idn);
        say(&mut sim, &mut w, "CH1:VOLTage 12.000");
        assert_eq!(say(&mut sim, &mut w, "ch1:volt?"), "12.000");
        say(&mut sim, &mut w, "INSTrument CH2");
        assert_eq!(say(&mut sim, &mut w, "INST?"), "CH2");
        say(&mut sim, &mut w, "CURR 0.5");
        assert_eq!(say(&mut sim, &mut w, "CH2:CURRENT?"), "0.500");
        assert_eq!((w.psu[MAIN].set_v, w.psu[PORT].set_i), (12.0, 0.5));
    }

    #[test]
    fn what_it_cannot_take_is_dropped_without_a_word() {
        let (mut sim, mut w) = (Spd3303xSim::default(), world());
        say(&mut sim, &mut w, "CH1:VOLT 12");
        // Beyond the rating, a header the manual says is an error, no parameter, a
        // channel with no programmable voltage: all silently ignored.
        for line in [
            "CH1:VOLT 40",
            "CH1:VOL 5",
            "CH1:VOLT",
            "CH3:VOLT 3.3",
            "BOGUS 1",
        ] {
            assert_eq!(say(&mut sim, &mut w, line), "", "{line}");
        }
        assert_eq!(say(&mut sim, &mut w, "CH1:VOLT?"), "12.000");
        assert_eq!(say(&mut sim, &mut w, "SYSTem:ERRor?"), "0  No Error");
    }

    #[test]
    fn the_status_word_has_each_output_and_constant_current() {
        let (mut sim, mut w) = (Spd3303xSim::default(), world());
        assert_eq!(say(&mut sim, &mut w, "SYST:STAT?"), "0x0004");
        say(&mut sim, &mut w, "CH1:VOLT 12;:CH1:CURR 1;:OUTPut CH1,ON");
        assert_eq!(say(&mut sim, &mut w, "SYSTem:STATus?"), "0x0014");
        say(&mut sim, &mut w, "OUTP CH2,ON");
        assert_eq!(say(&mut sim, &mut w, "SYST:STAT?"), "0x0034");
        // The maglock draws about 250 mA: a 100 mA limit puts CH1 in constant current.
        say(&mut sim, &mut w, "CH1:CURR 0.1");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, "SYST:STAT?"), "0x0035");
        say(&mut sim, &mut w, "OUTP CH1,OFF;:OUTP CH2,OFF");
        assert!(w.is_safe());
    }

    #[test]
    fn measurements_read_the_output_and_ch3_is_fixed_at_5v() {
        let (mut sim, mut w) = (Spd3303xSim::default(), world());
        say(
            &mut sim,
            &mut w,
            "CH1:VOLT 12;:CH1:CURR 1;:OUTP CH1,ON;:OUTP CH3,ON",
        );
        w.advance(Duration::from_millis(100));
        let v: f64 = say(&mut sim, &mut w, "MEASure:VOLTage? CH1")
            .parse()
            .unwrap();
        assert!((v - 12.0).abs() < 0.01, "{v}");
        let a: f64 = say(&mut sim, &mut w, "MEAS:CURR? CH1").parse().unwrap();
        assert!((0.24..0.265).contains(&a), "{a}");
        let p: f64 = say(&mut sim, &mut w, "MEAS:POWE? CH1").parse().unwrap();
        assert!((p - v * a).abs() < 0.01, "{p}");
        let v3: f64 = say(&mut sim, &mut w, "MEAS:VOLT? CH3").parse().unwrap();
        assert!((v3 - 5.0).abs() < 0.01, "{v3}");
    }
}
