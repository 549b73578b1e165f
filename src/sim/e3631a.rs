//! Keysight (Agilent, HP) E3631A emulator, from the E3631A User's Guide's SCPI command
//! summary: the command tree below, parsed as SCPI (long or short forms, any case,
//! optional nodes in brackets), `MINimum|MAXimum|DEFault`, and a 20-entry error queue.
//! The outputs are named `P6V`, `P25V` and `N25V` (or numbered 1-3 by `INST:NSEL`);
//! settings apply to the selected one.
//!
//! | command | notes |
//! |---|---|
//! | `*IDN?`, `*CLS`, `*RST`, `*OPC?` | `HEWLETT-PACKARD,E3631A,0,2.1-5.0-1.0` |
//! | `SYSTem:ERRor?` | `+0,"No error"` when empty |
//! | `SYSTem:REMote`, `SYSTem:LOCal` | RS-232 remote/local |
//! | `INSTrument[:SELect] {P6V\|P25V\|N25V}`, `INSTrument:NSELect {1\|2\|3}` and queries | |
//! | `APPLy {P6V\|P25V\|N25V}[,{<V>\|DEF\|MIN\|MAX}[,{<A>\|DEF\|MIN\|MAX}]]`, `APPLy? [output]` | -222 beyond the output's rating |
//! | `[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude] {<V>\|MIN\|MAX}` and `? [MIN\|MAX]` | the selected output |
//! | `[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] {<A>\|MIN\|MAX}` and `? [MIN\|MAX]` | |
//! | `OUTPut[:STATe] {OFF\|ON}`, `OUTPut[:STATe]?` | **all three outputs at once** |
//! | `MEASure[:SCALar][:VOLTage][:DC]? [output]`, `MEASure[:SCALar]:CURRent[:DC]? [output]` | NR3 |
//!
//! The E3631A has no programmable over-voltage or over-current protection.
//!
//! Wiring on the simulated bench: P25V (25 V / 1 A) feeds the lock, P6V (6 V / 5 A)
//! the emergency port; N25V drives nothing. Since `OUTP` switches every output, a rig
//! can give an E3631A one supply role only (see the driver).

use scpi::error::{Error, ErrorCode};
use scpi::parser::mnemonic_compare;
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::parser::tokenizer::Token;
use scpi::tree::prelude::*;
use scpi::{cmd_both, cmd_nquery, cmd_qonly, Branch, Leaf, Root};

use super::pty::Protocol;
use super::scpi::{
    load_outputs, no_more, nr3, numeric, respond, run_lines, store_outputs, Cls, Common,
    ErrorQueue, Idn, Opc, SystErr, UPDATE_RATE_UNKNOWN,
};
use super::world::{PsuChannel, World, MAIN, PORT};

/// The identity the emulator reports (the format of the User's Guide's `*IDN?` example).
pub const IDN: &str = "HEWLETT-PACKARD,E3631A,0,2.1-5.0-1.0";

/// The outputs, by name, with their ratings (volts, amperes); N25V's voltage is
/// programmed as a magnitude below zero.
const OUTPUTS: [(&[u8], f64, f64); 3] = [
    (b"P6V", 6.18, 5.15),
    (b"P25V", 25.75, 1.03),
    (b"N25V", 25.75, 1.03),
];
/// The world outputs P6V and P25V drive.
const WIRING: [usize; 2] = [PORT, MAIN];

/// The emulator: pending input and the instrument's own state.
pub struct E3631aSim {
    pending: Vec<u8>,
    front: Front,
}

impl Default for E3631aSim {
    fn default() -> Self {
        let mut front = Front {
            selected: 1,
            errors: ErrorQueue::with_capacity(20),
            psu: [PsuChannel::default(); 3],
            readings: [(0.0, 0.0); 3],
            remote: false,
        };
        front.reset();
        Self {
            pending: Vec::new(),
            front,
        }
    }
}

/// What the command handlers see.
struct Front {
    /// The selected output, 1-3.
    selected: usize,
    errors: ErrorQueue,
    psu: [PsuChannel; 3],
    readings: [(f64, f64); 3],
    /// `SYSTem:REMote` received (front panel locked but for Local).
    remote: bool,
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
    /// `*RST`: outputs off, 0 V, each output's full current, P6V selected.
    fn reset(&mut self) {
        for (c, (_, _, max_i)) in self.psu.iter_mut().zip(OUTPUTS) {
            *c = PsuChannel {
                set_i: max_i,
                ..PsuChannel::default()
            };
        }
        self.selected = 1;
    }

    /// The output an optional `{P6V|P25V|N25V}` names (none: the selected one).
    fn output(&self, token: Option<Token<'_>>) -> Result<usize, Error> {
        match token {
            None => Ok(self.selected),
            Some(Token::CharacterProgramData(s)) => OUTPUTS
                .iter()
                .position(|(name, _, _)| name.eq_ignore_ascii_case(s))
                .map(|i| i + 1)
                .ok_or_else(|| ErrorCode::IllegalParameterValue.into()),
            Some(_) => Err(ErrorCode::DataTypeError.into()),
        }
    }
}

type R = Result<(), Error>;

struct Rst;
impl Command<Front> for Rst {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, _: Parameters) -> R {
        d.reset();
        Ok(())
    }
}

/// `SYSTem:REMote` (`remote`) or `SYSTem:LOCal`.
struct Remote(bool);
impl Command<Front> for Remote {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        no_more(&mut p)?;
        d.remote = self.0;
        Ok(())
    }
}

/// `INSTrument[:SELect] {P6V|P25V|N25V}` (`by_number`: `INSTrument:NSELect {1|2|3}`).
struct Inst {
    by_number: bool,
}
impl Command<Front> for Inst {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let t = p.next_token()?;
        d.selected = if self.by_number {
            let n = usize::try_from(t)?;
            if !(1..=3).contains(&n) {
                return Err(ErrorCode::DataOutOfRange.into());
            }
            n
        } else {
            d.output(Some(t))?
        };
        no_more(&mut p)
    }
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        if self.by_number {
            respond(resp, &d.selected.to_string())
        } else {
            respond(resp, &String::from_utf8_lossy(OUTPUTS[d.selected - 1].0))
        }
    }
}

/// `[SOURce:]VOLTage...` (`volts`) or `[SOURce:]CURRent...` on the selected output.
struct Level {
    volts: bool,
}
impl Level {
    /// (min, max, default) on output `n`.
    fn limits(&self, n: usize) -> (f64, f64, f64) {
        let (_, max_v, max_i) = OUTPUTS[n - 1];
        if self.volts {
            (0.0, max_v, 0.0)
        } else {
            (0.0, max_i, max_i)
        }
    }
}
impl Command<Front> for Level {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = d.selected;
        let (min, max, def) = self.limits(n);
        let v = numeric(p.next_token()?, min, max, def)?;
        no_more(&mut p)?;
        let c = &mut d.psu[n - 1];
        if self.volts {
            c.set_v = v;
        } else {
            c.set_i = v;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let n = d.selected;
        let (min, max, _) = self.limits(n);
        let c = d.psu[n - 1];
        let v = match p.next_optional_token()? {
            None => {
                if self.volts {
                    c.set_v
                } else {
                    c.set_i
                }
            }
            Some(Token::CharacterProgramData(s)) if mnemonic_compare(b"MINimum", s) => min,
            Some(Token::CharacterProgramData(s)) if mnemonic_compare(b"MAXimum", s) => max,
            Some(_) => return Err(ErrorCode::IllegalParameterValue.into()),
        };
        no_more(&mut p)?;
        respond(resp, &nr3(v))
    }
}

/// `APPLy {P6V|P25V|N25V}[,{<V>|DEF|MIN|MAX}[,{<A>|DEF|MIN|MAX}]]` and `APPLy? [output]`.
struct Apply;
impl Command<Front> for Apply {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = d.output(Some(p.next_token()?))?;
        let (_, max_v, max_i) = OUTPUTS[n - 1];
        let volts = match p.next_optional_token()? {
            Some(t) => Some(numeric(t, 0.0, max_v, 0.0)?),
            None => None,
        };
        let amps = match p.next_optional_token()? {
            Some(t) => Some(numeric(t, 0.0, max_i, max_i)?),
            None => None,
        };
        no_more(&mut p)?;
        let c = &mut d.psu[n - 1];
        if let Some(v) = volts {
            c.set_v = v;
        }
        if let Some(a) = amps {
            c.set_i = a;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let n = d.output(p.next_optional_token()?)?;
        no_more(&mut p)?;
        let c = d.psu[n - 1];
        // A quoted string: `"+5.00000000E+00,+1.00000000E+00"`.
        respond(resp, &format!("\"{},{}\"", nr3(c.set_v), nr3(c.set_i)))
    }
}

/// `OUTPut[:STATe] {OFF|ON}`: every output at once.
struct Output;
impl Command<Front> for Output {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let on = bool::try_from(p.next_token()?)?;
        no_more(&mut p)?;
        for c in &mut d.psu {
            c.on = on;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        no_more(&mut p)?;
        respond(resp, if d.psu[0].on { "1" } else { "0" })
    }
}

/// `MEASure[:SCALar][:VOLTage][:DC]? [output]` (`volts`) or `MEASure...:CURRent[:DC]?`.
struct Measure {
    volts: bool,
}
impl Command<Front> for Measure {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let n = d.output(p.next_optional_token()?)?;
        no_more(&mut p)?;
        let (v, a) = d.readings[n - 1];
        respond(resp, &nr3(if self.volts { v } else { a }))
    }
}

const TREE: Node<Front> = Root![
    Leaf!(b"*IDN" => &Idn),
    Leaf!(b"*CLS" => &Cls),
    Leaf!(b"*RST" => &Rst),
    Leaf!(b"*OPC" => &Opc),
    Branch![b"SYSTem";
        Leaf!(b"ERRor" => &SystErr { signed: true }),
        Leaf!(b"REMote" => &Remote(true)),
        Leaf!(b"LOCal" => &Remote(false))],
    Branch![b"INSTrument";
        Leaf!(default b"SELect" => &Inst { by_number: false }),
        Leaf!(b"NSELect" => &Inst { by_number: true })],
    Leaf!(b"APPLy" => &Apply),
    Branch![default b"SOURce";
        Branch![b"VOLTage";
            Branch![default b"LEVel";
                Branch![default b"IMMediate";
                    Leaf!(default b"AMPLitude" => &Level { volts: true })]]],
        Branch![b"CURRent";
            Branch![default b"LEVel";
                Branch![default b"IMMediate";
                    Leaf!(default b"AMPLitude" => &Level { volts: false })]]]],
    Branch![b"OUTPut"; Leaf!(default b"STATe" => &Output)],
    Branch![b"MEASure";
        Branch![default b"SCALar";
            Branch![default b"VOLTage"; Leaf!(default b"DC" => &Measure { volts: true })],
            Branch![b"CURRent"; Leaf!(default b"DC" => &Measure { volts: false })]]]
];

impl Protocol for E3631aSim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let f = &mut self.front;
        load_outputs(
            world,
            &WIRING,
            &mut f.psu[..2],
            &mut f.readings[..2],
            UPDATE_RATE_UNKNOWN,
        );
        // N25V drives nothing: it reads what it is set to, with no load.
        let n25 = f.psu[2];
        f.readings[2] = (if n25.on { -n25.set_v } else { 0.0 }, 0.0);
        let out = run_lines(&TREE, f, &mut self.pending, bytes);
        store_outputs(world, &WIRING, &self.front.psu[..2]);
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
    fn outputs_are_selected_by_name_or_number_in_long_or_short_form() {
        let (mut sim, mut w) = (E3631aSim::default(), world());
        assert_eq!(say(&mut sim, &mut w, "*IDN?"), IDN);
        say(&mut sim, &mut w, "INSTrument:SELect P25V");
        say(
            &mut sim,
            &mut w,
            "SOURce:VOLTage:LEVel:IMMediate:AMPLitude 12.5",
        );
        assert_eq!(say(&mut sim, &mut w, "VOLT?"), "+1.25000000E+01");
        say(&mut sim, &mut w, "inst:nsel 1;:curr 0.5");
        assert_eq!(say(&mut sim, &mut w, "INST?"), "P6V");
        assert_eq!(say(&mut sim, &mut w, "CURR?"), "+5.00000000E-01");
        say(&mut sim, &mut w, "APPL P6V,5.0");
        assert_eq!(
            say(&mut sim, &mut w, "APPL? P6V"),
            "\"+5.00000000E+00,+5.00000000E-01\""
        );
        assert_eq!(say(&mut sim, &mut w, "VOLT? MAX"), "+6.18000000E+00");
        assert_eq!((w.psu[MAIN].set_v, w.psu[PORT].set_v), (12.5, 5.0));
        assert_eq!(say(&mut sim, &mut w, "SYST:ERR?"), "+0,\"No error\"");
    }

    #[test]
    fn one_output_switch_for_all_three() {
        let (mut sim, mut w) = (E3631aSim::default(), world());
        say(&mut sim, &mut w, "APPL P25V,12.0,0.5;:OUTP ON");
        assert!(w.psu[MAIN].on && w.psu[PORT].on, "P6V goes on with P25V");
        w.advance(Duration::from_millis(200));
        let v: f64 = say(&mut sim, &mut w, "MEAS:VOLT? P25V").parse().unwrap();
        assert!((v - 12.0).abs() < 0.01, "{v}");
        let a: f64 = say(&mut sim, &mut w, "MEASure:CURRent? P25V")
            .parse()
            .unwrap();
        assert!(
            (0.24..0.265).contains(&a),
            "the maglock draws about 250 mA: {a}"
        );
        say(&mut sim, &mut w, "OUTPut:STATe OFF");
        assert!(!w.psu[MAIN].on && !w.psu[PORT].on);
        assert_eq!(say(&mut sim, &mut w, "OUTP?"), "0");
    }

    #[test]
    fn the_manuals_errors_are_queued_in_order() {
        let (mut sim, mut w) = (E3631aSim::default(), world());
        say(&mut sim, &mut w, "APPL P6V,7.0"); // P6V is rated 6.18 V
        say(&mut sim, &mut w, "INST P12V");
        say(&mut sim, &mut w, "VOLT:BOGus 1");
        say(&mut sim, &mut w, "OUTP ON,EXTRA");
        say(&mut sim, &mut w, "OUTP 1,ON"); // the E36300's channel syntax is not the E3631A's
        assert!(!w.psu[MAIN].on);
        let errors: Vec<String> = (0..6).map(|_| say(&mut sim, &mut w, "SYST:ERR?")).collect();
        assert!(errors[0].starts_with("-222,"), "{errors:?}");
        assert!(errors[1].starts_with("-224,"), "{errors:?}");
        assert!(errors[2].starts_with("-113,"), "{errors:?}");
        assert!(errors[3].starts_with("-108,"), "{errors:?}");
        assert!(errors[4].starts_with("-1"), "{errors:?}");
        assert_eq!(errors[5], "+0,\"No error\"");
    }
}
