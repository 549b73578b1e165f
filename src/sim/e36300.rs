//! Keysight E36312A emulator, from the E36300 Series Programming Guide: the command
//! tree below, parsed as SCPI-99 (long or short forms, any case, optional nodes in
//! brackets), channel lists `(@1)`, `(@1,3)`, `(@1:3)` (none: the selected channel),
//! `MINimum|MAXimum|DEFault`, and a 20-entry error queue.
//!
//! | command | notes |
//! |---|---|
//! | `*IDN?`, `*CLS`, `*RST`, `*OPC?` | |
//! | `SYSTem:ERRor[:NEXT]?` | `+0,"No error"` when empty |
//! | `INSTrument[:SELect] {CH1\|CH2\|CH3}`, `INSTrument:NSELect <n>` and queries | |
//! | `[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude] {<V>\|MIN\|MAX\|DEF}[,(@list)]` and `? [MIN\|MAX,][(@list)]` | -222 beyond the channel's rating |
//! | `[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] ...` | the same, in amperes |
//! | `[SOURce:]VOLTage:PROTection[:LEVel] {<V>\|MIN\|MAX\|DEF}[,(@list)]` and `?` | OVP is always armed |
//! | `[SOURce:]VOLTage:PROTection:TRIPped? [(@list)]` | `1` once tripped |
//! | `[SOURce:]CURRent:PROTection:STATe {ON\|OFF}[,(@list)]` and `?` | OCP: trips when the output goes into constant current |
//! | `[SOURce:]CURRent:PROTection:TRIPped? [(@list)]` | |
//! | `OUTPut[:STATe] {ON\|OFF}[,(@list)]`, `OUTPut[:STATe]? [(@list)]` | a tripped channel stays off: -221 |
//! | `OUTPut:PROTection:CLEar [(@list)]` | clears latched trips |
//! | `MEASure[:SCALar]:VOLTage[:DC]? [(@list)]`, `MEASure[:SCALar]:CURRent[:DC]? [(@list)]` | NR3, one per channel |
//!
//! Queries of several channels answer one value per channel, comma-separated.
//!
//! Wiring on the simulated bench: CH1 (6 V / 5 A) feeds the emergency port, CH2 (25 V /
//! 1 A) the lock, CH3 (25 V / 1 A) is free.

use scpi::error::{Error, ErrorCode};
use scpi::parser::mnemonic_compare;
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::parser::tokenizer::Token;
use scpi::tree::prelude::*;
use scpi::{cmd_both, cmd_nquery, cmd_qonly, Branch, Leaf, Root};

use super::pty::Protocol;
use super::scpi::{
    channel, channel_list, load_outputs, no_more, nr3, numeric, respond, run_lines, store_outputs,
    Cls, Common, ErrorQueue, Idn, Opc, SystErr, UPDATE_RATE_UNKNOWN,
};
use super::world::{PsuChannel, World, MAIN, PORT};

/// The identity the emulator reports.
pub const IDN: &str = "Keysight Technologies,E36312A,MY59SIM0001,1.0.4-1.0.0-1.00";

/// The E36312A's channels.
const CHANNELS: usize = 3;
/// Each channel's rating (volts, amperes).
const RATINGS: [(f64, f64); CHANNELS] = [(6.0, 5.0), (25.0, 1.0), (25.0, 1.0)];
/// The world output each channel drives.
const WIRING: [usize; CHANNELS] = [PORT, MAIN, 1];

/// The emulator: pending input and the instrument's own state.
pub struct E36300Sim {
    pending: Vec<u8>,
    front: Front,
}

impl Default for E36300Sim {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            front: Front {
                selected: 1,
                errors: ErrorQueue::with_capacity(20),
                psu: [PsuChannel::default(); CHANNELS],
                readings: [(0.0, 0.0); CHANNELS],
            },
        }
    }
}

/// What the command handlers see.
struct Front {
    selected: usize,
    errors: ErrorQueue,
    psu: [PsuChannel; CHANNELS],
    readings: [(f64, f64); CHANNELS],
}

impl Common for Front {
    fn idn(&self) -> &str {
        IDN
    }

    fn errors(&mut self) -> &mut ErrorQueue {
        &mut self.errors
    }
}

impl Device for Front {
    fn handle_error(&mut self, err: Error) {
        self.errors.push(&err);
    }
}

impl Front {
    /// The channels named by an optional channel list (none: the selected one).
    fn channels(&self, token: Option<Token<'_>>) -> Result<Vec<usize>, Error> {
        match token {
            Some(t) => channel_list(t, CHANNELS),
            None => Ok(vec![self.selected]),
        }
    }

    /// The channel list that may end a command's parameters, and nothing after it.
    fn list_at_end(&self, p: &mut Parameters<'_, '_>) -> Result<Vec<usize>, Error> {
        let list = self.channels(p.next_optional_token()?)?;
        no_more(p)?;
        Ok(list)
    }

    /// Answers one value per channel, comma-separated.
    fn answer(
        &self,
        resp: ResponseUnit<'_>,
        list: &[usize],
        value: impl Fn(usize) -> String,
    ) -> Result<(), Error> {
        let text: Vec<String> = list.iter().map(|n| value(*n)).collect();
        respond(resp, &text.join(","))
    }
}

type R = Result<(), Error>;

struct Rst;
impl Command<Front> for Rst {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, _: Parameters) -> R {
        for (c, (max_v, max_i)) in d.psu.iter_mut().zip(RATINGS) {
            c.on = false;
            c.set_v = 0.0;
            c.set_i = max_i;
            c.ovp.0 = max_v * 1.1;
            c.ocp.1 = false;
        }
        d.selected = 1;
        Ok(())
    }
}

/// `INSTrument[:SELect] CH<n>` (`by_number`: `INSTrument:NSELect <n>`).
struct Inst {
    by_number: bool,
}
impl Command<Front> for Inst {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let t = p.next_token()?;
        d.selected = if self.by_number {
            let n = usize::try_from(t)?;
            if !(1..=CHANNELS).contains(&n) {
                return Err(ErrorCode::DataOutOfRange.into());
            }
            n
        } else {
            channel(t, CHANNELS)?
        };
        no_more(&mut p)
    }
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        if self.by_number {
            respond(resp, &d.selected.to_string())
        } else {
            respond(resp, &format!("CH{}", d.selected))
        }
    }
}

/// What a numeric setting programs.
#[derive(Clone, Copy)]
enum Setting {
    Volts,
    Amps,
    OvpLevel,
}

impl Setting {
    /// (min, max, default) on channel `n`.
    fn limits(self, n: usize) -> (f64, f64, f64) {
        let (max_v, max_i) = RATINGS[n - 1];
        match self {
            Setting::Volts => (0.0, max_v, 0.0),
            Setting::Amps => (0.0, max_i, max_i),
            Setting::OvpLevel => (0.0, max_v * 1.1, max_v * 1.1),
        }
    }

    fn value(self, c: &mut PsuChannel) -> &mut f64 {
        match self {
            Setting::Volts => &mut c.set_v,
            Setting::Amps => &mut c.set_i,
            Setting::OvpLevel => &mut c.ovp.0,
        }
    }
}

/// A numeric setting `{<value>|MIN|MAX|DEF}[,(@list)]` and its query
/// `? [MIN|MAX|DEF,][(@list)]`.
struct Level(Setting);
impl Command<Front> for Level {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let value = p.next_token()?;
        let list = d.list_at_end(&mut p)?;
        let mut values = Vec::with_capacity(list.len());
        for &n in &list {
            let (min, max, def) = self.0.limits(n);
            values.push(numeric(value, min, max, def)?);
        }
        for (n, v) in list.into_iter().zip(values) {
            *self.0.value(&mut d.psu[n - 1]) = v;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let mut first = p.next_optional_token()?;
        let limit = match first {
            Some(Token::CharacterProgramData(s)) => {
                first = p.next_optional_token()?;
                Some(s)
            }
            _ => None,
        };
        let list = d.channels(first)?;
        no_more(&mut p)?;
        let mut text = Vec::with_capacity(list.len());
        for &n in &list {
            let (min, max, def) = self.0.limits(n);
            text.push(nr3(match limit {
                Some(s) if mnemonic_compare(b"MINimum", s) => min,
                Some(s) if mnemonic_compare(b"MAXimum", s) => max,
                Some(s) if mnemonic_compare(b"DEFault", s) => def,
                Some(_) => return Err(ErrorCode::IllegalParameterValue.into()),
                None => *self.0.value(&mut d.psu[n - 1]),
            }));
        }
        respond(resp, &text.join(","))
    }
}

/// An on/off setting `{ON|OFF|1|0}[,(@list)]` and its query `? [(@list)]`.
struct Switch {
    /// True: `OUTPut[:STATe]`; false: `CURRent:PROTection:STATe`.
    output: bool,
}
impl Command<Front> for Switch {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let on = bool::try_from(p.next_token()?)?;
        let list = d.list_at_end(&mut p)?;
        if self.output && on && list.iter().any(|n| tripped(&d.psu[n - 1])) {
            // A tripped channel stays off until its protection is cleared.
            return Err(ErrorCode::SettingsConflict.into());
        }
        for n in list {
            let c = &mut d.psu[n - 1];
            if self.output {
                c.on = on;
            } else {
                c.ocp.1 = on;
            }
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let list = d.list_at_end(&mut p)?;
        let output = self.output;
        d.answer(resp, &list, |n| {
            let c = &d.psu[n - 1];
            u8::from(if output { c.on } else { c.ocp.1 }).to_string()
        })
    }
}

fn tripped(c: &PsuChannel) -> bool {
    c.tripped.0 || c.tripped.1
}

/// `VOLTage:PROTection:TRIPped?` (`ovp`) or `CURRent:PROTection:TRIPped?`.
struct Tripped {
    ovp: bool,
}
impl Command<Front> for Tripped {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let list = d.list_at_end(&mut p)?;
        let ovp = self.ovp;
        d.answer(resp, &list, |n| {
            let t = d.psu[n - 1].tripped;
            u8::from(if ovp { t.0 } else { t.1 }).to_string()
        })
    }
}

/// `OUTPut:PROTection:CLEar [(@list)]`.
struct ProtClear;
impl Command<Front> for ProtClear {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        for n in d.list_at_end(&mut p)? {
            d.psu[n - 1].tripped = (false, false);
        }
        Ok(())
    }
}

/// `MEASure[:SCALar]:VOLTage[:DC]?` (`volts`) or `...:CURRent[:DC]?`.
struct Measure {
    volts: bool,
}
impl Command<Front> for Measure {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let list = d.list_at_end(&mut p)?;
        let volts = self.volts;
        d.answer(resp, &list, |n| {
            let (v, a) = d.readings[n - 1];
            nr3(if volts { v } else { a })
        })
    }
}

/// `VOLTage...` and `CURRent...`, under `[SOURce:]`.
macro_rules! source {
    () => {
        [
            Branch![b"VOLTage";
                Branch![default b"LEVel";
                    Branch![default b"IMMediate";
                        Leaf!(default b"AMPLitude" => &Level(Setting::Volts))]],
                Branch![b"PROTection";
                    Leaf!(default b"LEVel" => &Level(Setting::OvpLevel)),
                    Leaf!(b"TRIPped" => &Tripped { ovp: true })]],
            Branch![b"CURRent";
                Branch![default b"LEVel";
                    Branch![default b"IMMediate";
                        Leaf!(default b"AMPLitude" => &Level(Setting::Amps))]],
                Branch![b"PROTection";
                    Leaf!(b"STATe" => &Switch { output: false }),
                    Leaf!(b"TRIPped" => &Tripped { ovp: false })]],
        ]
    };
}

const SOURCE: [Node<Front>; 2] = source!();

const TREE: Node<Front> = Root![
    Leaf!(b"*IDN" => &Idn),
    Leaf!(b"*CLS" => &Cls),
    Leaf!(b"*RST" => &Rst),
    Leaf!(b"*OPC" => &Opc),
    Branch![b"SYSTem"; Branch![b"ERRor"; Leaf!(default b"NEXT" => &SystErr { signed: true })]],
    Branch![b"INSTrument";
        Leaf!(default b"SELect" => &Inst { by_number: false }),
        Leaf!(b"NSELect" => &Inst { by_number: true })],
    Node::Branch {
        name: b"SOURce",
        default: true,
        sub: &SOURCE
    },
    Branch![b"OUTPut";
        Leaf!(default b"STATe" => &Switch { output: true }),
        Branch![b"PROTection"; Leaf!(b"CLEar" => &ProtClear)]],
    Branch![b"MEASure";
        Branch![default b"SCALar";
            Branch![b"VOLTage"; Leaf!(default b"DC" => &Measure { volts: true })],
            Branch![b"CURRent"; Leaf!(default b"DC" => &Measure { volts: false })]]]
];

impl Protocol for E36300Sim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let f = &mut self.front;
        load_outputs(
            world,
            &WIRING,
            &mut f.psu,
            &mut f.readings,
            UPDATE_RATE_UNKNOWN,
        );
        let out = run_lines(&TREE, f, &mut self.pending, bytes);
        for c in &mut self.front.psu {
            // OVP is always armed; OCP, when on, trips at the current limit (the output
            // going into constant current).
            c.ovp.1 = true;
            c.ocp.0 = c.set_i;
        }
        store_outputs(world, &WIRING, &self.front.psu);
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
    fn long_and_short_forms_channel_lists_and_the_selected_channel() {
        let (mut sim, mut w) = (E36300Sim::default(), world());
        say(
            &mut sim,
            &mut w,
            "SOURce:VOLTage:LEVel:IMMediate:AMPLitude 12.5,(@2)",
        );
        assert_eq!(say(&mut sim, &mut w, "VOLT? (@2)"), "+1.25000000E+01");
        say(&mut sim, &mut w, "volt 3.3,(@2:3)");
        assert_eq!(
            say(&mut sim, &mut w, "SOUR:VOLT? (@1,2,3)"),
            "+0.00000000E+00,+3.30000000E+00,+3.30000000E+00"
        );
        say(&mut sim, &mut w, "INST:NSEL 2;:CURR 0.75");
        assert_eq!(say(&mut sim, &mut w, "INSTrument?"), "CH2");
        assert_eq!(say(&mut sim, &mut w, "CURR? (@2)"), "+7.50000000E-01");
        say(&mut sim, &mut w, "VOLT MAX,(@1)");
        assert_eq!(say(&mut sim, &mut w, "VOLT? (@1)"), "+6.00000000E+00");
        assert_eq!(say(&mut sim, &mut w, "VOLT? MAX,(@2)"), "+2.50000000E+01");
        say(&mut sim, &mut w, "CURR DEF,(@1)");
        assert_eq!(say(&mut sim, &mut w, "CURR? (@1)"), "+5.00000000E+00");
        assert_eq!((w.psu[MAIN].set_v, w.psu[MAIN].set_i), (3.3, 0.75));
        assert_eq!(say(&mut sim, &mut w, "SYST:ERR?"), "+0,\"No error\"");
    }

    #[test]
    fn the_manuals_errors_are_queued_in_order() {
        let (mut sim, mut w) = (E36300Sim::default(), world());
        say(&mut sim, &mut w, "VOLT 12,(@1)"); // CH1 is rated 6 V
        say(&mut sim, &mut w, "VOLT 1,(@4)"); // there is no CH4
        say(&mut sim, &mut w, "VOLT:BOGus 1");
        say(&mut sim, &mut w, "OUTP ON,(@1),EXTRA");
        assert!(!w.psu[PORT].on);
        let errors: Vec<String> = (0..5)
            .map(|_| say(&mut sim, &mut w, "SYSTem:ERRor:NEXT?"))
            .collect();
        assert!(errors[0].starts_with("-222,"), "{errors:?}");
        assert!(errors[1].starts_with("-224,"), "{errors:?}");
        assert!(errors[2].starts_with("-113,"), "{errors:?}");
        assert!(errors[3].starts_with("-108,"), "{errors:?}");
        assert_eq!(errors[4], "+0,\"No error\"");
        say(&mut sim, &mut w, "BOGus");
        say(&mut sim, &mut w, "*CLS");
        assert_eq!(say(&mut sim, &mut w, "SYST:ERR?"), "+0,\"No error\"");
    }

    #[test]
    fn ovp_trips_on_the_actual_output_and_latches_until_cleared() {
        let (mut sim, mut w) = (E36300Sim::default(), world());
        say(
            &mut sim,
            &mut w,
            "VOLT 12,(@2);:VOLT:PROT 10,(@2);:OUTP ON,(@2)",
        );
        assert_eq!(say(&mut sim, &mut w, "VOLT:PROT:TRIP? (@2)"), "0");
        w.advance(Duration::from_millis(50));
        assert_eq!(say(&mut sim, &mut w, "VOLT:PROT:TRIP? (@2)"), "1");
        assert_eq!(say(&mut sim, &mut w, "OUTP? (@2)"), "0");
        say(&mut sim, &mut w, "VOLT 9,(@2);:OUTP ON,(@2)");
        assert_eq!(say(&mut sim, &mut w, "OUTP? (@2)"), "0", "still tripped");
        assert!(say(&mut sim, &mut w, "SYST:ERR?").starts_with("-221,"));
        say(&mut sim, &mut w, "OUTP:PROT:CLE (@2);:OUTP ON,(@2)");
        assert_eq!(say(&mut sim, &mut w, "VOLT:PROT:TRIP? (@2)"), "0");
        assert_eq!(say(&mut sim, &mut w, "OUTP? (@1:3)"), "0,1,0");
    }

    #[test]
    fn ocp_trips_when_the_output_goes_into_constant_current() {
        let (mut sim, mut w) = (E36300Sim::default(), world());
        // The maglock draws about 250 mA at 12 V.
        say(
            &mut sim,
            &mut w,
            "VOLT 12,(@2);:CURR 0.5,(@2);:CURR:PROT:STAT ON,(@2)",
        );
        assert_eq!(say(&mut sim, &mut w, "CURR:PROT:STAT? (@2)"), "1");
        say(&mut sim, &mut w, "OUTP ON,(@2)");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, "CURR:PROT:TRIP? (@2)"), "0");
        let a: f64 = say(&mut sim, &mut w, "MEAS:CURR? (@2)").parse().unwrap();
        assert!((0.24..0.265).contains(&a), "{a}");
        let v: f64 = say(&mut sim, &mut w, "MEASure:SCALar:VOLTage:DC? (@2)")
            .parse()
            .unwrap();
        assert!((v - 12.0).abs() < 0.01, "{v}");
        say(&mut sim, &mut w, "CURR 0.2,(@2)");
        w.advance(Duration::from_millis(200));
        assert_eq!(say(&mut sim, &mut w, "CURR:PROT:TRIP? (@2)"), "1");
        assert!(!w.psu[MAIN].on);
    }
}
