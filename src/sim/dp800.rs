//! Rigol DP832 emulator, from the DP800 Programming Guide (PGH03109-1110): the command
//! tree below, parsed as SCPI-99 (long or short forms, any case, optional nodes in
//! brackets), with the instrument's 20-entry error queue.
//!
//! | command | notes |
//! |---|---|
//! | `*IDN?`, `*CLS`, `*RST`, `*OPC`, `*OPC?` | |
//! | `:SYSTem:ERRor[:NEXT]?` | `0,"No error"` when empty |
//! | `:INSTrument[:SELect] CH<n>`, `:INSTrument:NSELect <n>` and queries | the channel commands without one use |
//! | `[:SOURce<n>]:VOLTage[:LEVel][:IMMediate][:AMPLitude] {<V>\|MIN\|MAX\|DEF}` and `?` | -222 beyond the channel's rating |
//! | `[:SOURce<n>]:CURRent[:LEVel][:IMMediate][:AMPLitude] {<A>\|MIN\|MAX\|DEF}` and `?` | |
//! | `:APPLy CH<n>,<V>[,<A>]` | |
//! | `:OUTPut[:STATe] [CH<n>,]{ON\|OFF}`, `:OUTPut[:STATe]? [CH<n>]` | a bare number is not a channel: -224 |
//! | `:OUTPut:OVP\|OCP[:STATe] [CH<n>,]{ON\|OFF}` and `?` | arms protection |
//! | `:OUTPut:OVP\|OCP:VALue [CH<n>,]{<v>\|MIN\|MAX}` and `?` | |
//! | `:OUTPut:OVP\|OCP:QUEStion? [CH<n>]` | `YES` once tripped |
//! | `:OUTPut:OVP\|OCP:CLEar [CH<n>]` | clears a trip; until then the output stays off |
//! | `:MEASure[:VOLTage][:DC]? [CH<n>]`, `:MEASure:CURRent[:DC]? [CH<n>]`, `:MEASure:ALL[:DC]? [CH<n>]` | `V`, `A`, `V,A,W`, as last measured: a new measurement every 400 ms ([`READBACK_EVERY`]) |
//! | `:TIMEr:PARAmeter <group>,<V>,<A>,<s>` | the selected channel's timer table: groups 0-2047, 1-99999 s each; -221 while the timer runs |
//! | `:TIMEr:GROUPs <n>`, `:TIMEr:CYCLEs {N,<n>\|I}`, `:TIMEr:ENDState {OFF\|LAST}` and queries | how many groups run, how often, and what the output does after the last |
//! | `:TIMEr[:STATe] {ON\|OFF}` and `?` | starts the selected channel's timer (its output must be on: -221 otherwise) or stops it |
//!
//! The guide spells the subsystem `:TIMEr`, so its short form is `:TIME` (SCPI-99
//! 6.2.1: the upper-case letters); `:TIM` is not a header.
//!
//! The timer itself runs in the world (it reprograms the output as simulated time
//! passes, with no command); `:TIMEr:PARAmeter?` (a `#9` block) is not emulated. Where
//! the guide is silent the emulator chooses: a timer stopped with `OFF` leaves the
//! output at the step it had reached, and switching the output off ends the timer.
//!
//! Known difference: `:SOURce:VOLTage` without a suffix means SOURce1 here (the SCPI
//! rule the parser follows), the selected channel on the instrument.

use scpi::error::{Error, ErrorCode};
use scpi::parser::mnemonic_compare;
use scpi::parser::parameters::Parameters;
use scpi::parser::response::ResponseUnit;
use scpi::parser::tokenizer::Token;
use scpi::tree::prelude::*;
use scpi::{cmd_both, cmd_nquery, cmd_qonly, Branch, Leaf, Root};

use super::pty::Protocol;
use super::scpi::{
    channel, channel_first, load_outputs, no_more, numeric, respond, run_lines, store_outputs, Cls,
    Common, ErrorQueue, Idn, Opc, SystErr,
};
use super::world::{PsuChannel, World};

/// The identity the emulator reports.
pub const IDN: &str = "RIGOL TECHNOLOGIES,DP832,DP8SIM000001,00.01.16";

/// How often the instrument takes a new measurement of its outputs: `:MEASure` may be
/// asked far more often, but its figures change only about 2-3 times a second
/// (lxi-tools wiki, "Rigol DP800 series", on a DP832 with firmware 00.01.16). Between
/// two measurements the last one is returned.
pub const READBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(400);

/// The DP832's channels.
const CHANNELS: usize = 3;

/// Each channel's rating (volts, amperes): two 30 V / 3 A channels and a 5 V one.
const RATINGS: [(f64, f64); CHANNELS] = [(30.0, 3.0), (30.0, 3.0), (5.3, 3.0)];

/// The world output each channel drives (CH1 the lock, CH3 the emergency port).
const WIRING: [usize; CHANNELS] = [0, 1, 2];

/// Timer groups per channel (the guide's 0-2047).
const TIMER_GROUPS: usize = 2048;
/// A timer group's time, in seconds (the guide: 1 s to 99999 s).
const TIMER_TIME: (f64, f64) = (1.0, 99_999.0);

/// One channel's timer as programmed (the running timer is the world's).
#[derive(Debug, Clone)]
struct Timer {
    /// Groups set so far: volts, amperes, seconds.
    table: Vec<Option<(f64, f64, f64)>>,
    groups: usize,
    /// `None`: cycles without end (`I`).
    cycles: Option<u32>,
    hold_last: bool,
}

impl Default for Timer {
    fn default() -> Self {
        Self {
            table: Vec::new(),
            groups: 1,
            cycles: Some(1),
            hold_last: false,
        }
    }
}

/// The emulator: its pending input and the instrument's own state (the channel
/// selection and the error queue); the outputs themselves are the world's.
pub struct Dp800Sim {
    pending: Vec<u8>,
    front: Front,
}

impl Default for Dp800Sim {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            front: Front {
                selected: 1,
                errors: ErrorQueue::with_capacity(20),
                psu: [PsuChannel::default(); CHANNELS],
                readings: [(0.0, 0.0); CHANNELS],
                timers: Default::default(),
                running: [false; CHANNELS],
                timer_switch: Vec::new(),
            },
        }
    }
}

/// What the command handlers see: the channels as the instrument holds them and the
/// readings at the moment the message arrived.
struct Front {
    selected: usize,
    errors: ErrorQueue,
    psu: [PsuChannel; CHANNELS],
    readings: [(f64, f64); CHANNELS],
    timers: [Timer; CHANNELS],
    /// Which channels' timers are running (the world's, when the message arrived).
    running: [bool; CHANNELS],
    /// Timers switched on or off by this message, applied to the world afterwards.
    timer_switch: Vec<(usize, bool)>,
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
    fn ch(&mut self, n: usize) -> &mut PsuChannel {
        &mut self.psu[n - 1]
    }
}

/// Channel `n`'s rating: (volts, amperes).
fn rating(n: usize) -> (f64, f64) {
    RATINGS[n - 1]
}

type R = Result<(), Error>;

struct Rst;
impl Command<Front> for Rst {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, _: Parameters) -> R {
        for (c, (_, max_i)) in d.psu.iter_mut().zip(RATINGS) {
            c.on = false;
            c.set_v = 0.0;
            c.set_i = max_i;
        }
        d.selected = 1;
        Ok(())
    }
}

/// `:INSTrument[:SELect] CH<n>` (`by_number`: `:INSTrument:NSELect <n>`).
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

/// Voltage or current setpoint of channel `n` (`None`: the selected channel).
struct Level {
    n: Option<usize>,
    volts: bool,
}
impl Command<Front> for Level {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = self.n.unwrap_or(d.selected);
        let (max_v, max_i) = rating(n);
        let max = if self.volts { max_v } else { max_i };
        let v = numeric(
            p.next_token()?,
            0.0,
            max,
            if self.volts { 0.0 } else { max },
        )?;
        no_more(&mut p)?;
        let c = d.ch(n);
        if self.volts {
            c.set_v = v;
        } else {
            c.set_i = v;
        }
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let n = self.n.unwrap_or(d.selected);
        let c = *d.ch(n);
        let (max_v, max_i) = rating(n);
        let max = if self.volts { max_v } else { max_i };
        let v = match p.next_optional_token()? {
            Some(t) => numeric(t, 0.0, max, 0.0)?,
            None if self.volts => c.set_v,
            None => c.set_i,
        };
        respond(resp, &format!("{v:.3}"))
    }
}

/// `:APPLy CH<n>,<V>[,<A>]`.
struct Apply;
impl Command<Front> for Apply {
    cmd_nquery!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = channel(p.next_token()?, CHANNELS)?;
        let c = *d.ch(n);
        let (max_v, max_i) = rating(n);
        let v = numeric(p.next_token()?, 0.0, max_v, 0.0)?;
        let a = match p.next_optional_token()? {
            Some(t) => numeric(t, 0.0, max_i, max_i)?,
            None => c.set_i,
        };
        no_more(&mut p)?;
        let c = d.ch(n);
        c.set_v = v;
        c.set_i = a;
        Ok(())
    }
}

/// `:OUTPut[:STATe] [CH<n>,]{ON|OFF}` and its query.
struct Output;
impl Command<Front> for Output {
    cmd_both!();
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let (n, state) = channel_first(&mut p, CHANNELS, d.selected)?;
        let on = bool::try_from(match state {
            Some(t) => t,
            None => p.next_token()?,
        })?;
        no_more(&mut p)?;
        let c = d.ch(n);
        if on && (c.tripped.0 || c.tripped.1) {
            // A tripped channel stays off until its protection is cleared.
            return Err(ErrorCode::SettingsConflict.into());
        }
        c.on = on;
        Ok(())
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let (n, extra) = channel_first(&mut p, CHANNELS, d.selected)?;
        if extra.is_some() {
            return Err(ErrorCode::IllegalParameterValue.into());
        }
        respond(resp, if d.ch(n).on { "ON" } else { "OFF" })
    }
}

/// Over-voltage (`ovp`) or over-current protection: which part of it.
#[derive(Clone, Copy)]
enum Prot {
    State,
    Value,
    Question,
    Clear,
}

struct Protection {
    ovp: bool,
    part: Prot,
}
impl Protection {
    fn level<'c>(&self, c: &'c mut PsuChannel) -> &'c mut (f64, bool) {
        if self.ovp {
            &mut c.ovp
        } else {
            &mut c.ocp
        }
    }
    fn limits(&self, n: usize) -> (f64, f64) {
        // The DP832 sets OVP up to 33 V and OCP up to 3.3 A on a 30 V / 3 A channel.
        let (max_v, max_i) = rating(n);
        if self.ovp {
            (0.01, max_v * 1.1)
        } else {
            (0.001, max_i * 1.1)
        }
    }
}
impl Command<Front> for Protection {
    fn meta(&self) -> CommandTypeMeta {
        match self.part {
            Prot::State | Prot::Value => CommandTypeMeta::Both,
            Prot::Question => CommandTypeMeta::QueryOnly,
            Prot::Clear => CommandTypeMeta::NoQuery,
        }
    }
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let (n, first) = channel_first(&mut p, CHANNELS, d.selected)?;
        let c = d.ch(n);
        match self.part {
            Prot::State => {
                let arg = match first {
                    Some(t) => t,
                    None => p.next_token()?,
                };
                self.level(c).1 = bool::try_from(arg)?;
            }
            Prot::Value => {
                let arg = match first {
                    Some(t) => t,
                    None => p.next_token()?,
                };
                let (min, max) = self.limits(n);
                self.level(c).0 = numeric(arg, min, max, max)?;
            }
            Prot::Clear => {
                if first.is_some() {
                    return Err(ErrorCode::IllegalParameterValue.into());
                }
                if self.ovp {
                    c.tripped.0 = false;
                } else {
                    c.tripped.1 = false;
                }
            }
            Prot::Question => unreachable!("query only"),
        }
        no_more(&mut p)
    }
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let (n, extra) = channel_first(&mut p, CHANNELS, d.selected)?;
        if extra.is_some() {
            return Err(ErrorCode::IllegalParameterValue.into());
        }
        let c = d.ch(n);
        let text = match self.part {
            Prot::State => if self.level(c).1 { "ON" } else { "OFF" }.to_string(),
            Prot::Value => format!("{:.3}", self.level(c).0),
            Prot::Question => {
                let tripped = if self.ovp { c.tripped.0 } else { c.tripped.1 };
                if tripped { "YES" } else { "NO" }.to_string()
            }
            Prot::Clear => unreachable!("no query"),
        };
        respond(resp, &text)
    }
}

/// What `:MEASure` returns.
#[derive(Clone, Copy)]
enum Meas {
    Volts,
    Amps,
    All,
}
struct Measure(Meas);
impl Command<Front> for Measure {
    cmd_qonly!();
    fn query(&self, d: &mut Front, _: &mut Context, mut p: Parameters, resp: ResponseUnit) -> R {
        let (n, extra) = channel_first(&mut p, CHANNELS, d.selected)?;
        if extra.is_some() {
            return Err(ErrorCode::IllegalParameterValue.into());
        }
        let (v, a) = d.readings[n - 1];
        let text = match self.0 {
            Meas::Volts => format!("{v:.3}"),
            Meas::Amps => format!("{a:.4}"),
            Meas::All => format!("{v:.3},{a:.4},{:.3}", v * a),
        };
        respond(resp, &text)
    }
}

/// Which part of the selected channel's timer a `:TIMEr` command sets.
#[derive(Clone, Copy)]
enum TimerPart {
    Parameter,
    Groups,
    Cycles,
    EndState,
    State,
}

struct TimerCmd(TimerPart);
impl Command<Front> for TimerCmd {
    fn meta(&self) -> CommandTypeMeta {
        match self.0 {
            TimerPart::Parameter => CommandTypeMeta::NoQuery,
            _ => CommandTypeMeta::Both,
        }
    }
    fn event(&self, d: &mut Front, _: &mut Context, mut p: Parameters) -> R {
        let n = d.selected;
        if d.running[n - 1] && !matches!(self.0, TimerPart::State) {
            // The guide: the timer's parameters cannot be changed while it runs.
            return Err(ErrorCode::SettingsConflict.into());
        }
        let (max_v, max_i) = rating(n);
        let t = &mut d.timers[n - 1];
        match self.0 {
            TimerPart::Parameter => {
                let group = usize::try_from(p.next_token()?)?;
                if group >= TIMER_GROUPS {
                    return Err(ErrorCode::DataOutOfRange.into());
                }
                let v = numeric(p.next_token()?, 0.0, max_v, 0.0)?;
                let a = numeric(p.next_token()?, 0.0, max_i, max_i)?;
                let secs = numeric(p.next_token()?, TIMER_TIME.0, TIMER_TIME.1, 1.0)?;
                if !(TIMER_TIME.0..=TIMER_TIME.1).contains(&secs) {
                    return Err(ErrorCode::DataOutOfRange.into());
                }
                if t.table.len() <= group {
                    t.table.resize(group + 1, None);
                }
                t.table[group] = Some((v, a, secs));
            }
            TimerPart::Groups => {
                let g = numeric(p.next_token()?, 1.0, TIMER_GROUPS as f64, 1.0)?;
                if g.fract() != 0.0 || !(1.0..=TIMER_GROUPS as f64).contains(&g) {
                    return Err(ErrorCode::DataOutOfRange.into());
                }
                t.groups = g as usize;
            }
            TimerPart::Cycles => match p.next_token()? {
                Token::CharacterProgramData(s) if s.eq_ignore_ascii_case(b"I") => t.cycles = None,
                Token::CharacterProgramData(s) if s.eq_ignore_ascii_case(b"N") => {
                    let c = numeric(p.next_token()?, 1.0, 99_999.0, 1.0)?;
                    if c.fract() != 0.0 || !(1.0..=99_999.0).contains(&c) {
                        return Err(ErrorCode::DataOutOfRange.into());
                    }
                    t.cycles = Some(c as u32);
                }
                _ => return Err(ErrorCode::IllegalParameterValue.into()),
            },
            TimerPart::EndState => match p.next_token()? {
                Token::CharacterProgramData(s) if mnemonic_compare(b"LAST", s) => {
                    t.hold_last = true
                }
                Token::CharacterProgramData(s) if mnemonic_compare(b"OFF", s) => {
                    t.hold_last = false
                }
                _ => return Err(ErrorCode::IllegalParameterValue.into()),
            },
            TimerPart::State => {
                let on = bool::try_from(p.next_token()?)?;
                if on && !d.psu[n - 1].on {
                    // It runs only with its output on.
                    return Err(ErrorCode::SettingsConflict.into());
                }
                if on && (0..t.groups).any(|g| t.table.get(g).copied().flatten().is_none()) {
                    // A group it would run has never been set.
                    return Err(ErrorCode::SettingsConflict.into());
                }
                d.timer_switch.push((n, on));
            }
        }
        no_more(&mut p)
    }
    fn query(&self, d: &mut Front, _: &mut Context, _: Parameters, resp: ResponseUnit) -> R {
        let n = d.selected;
        let t = &d.timers[n - 1];
        let text = match self.0 {
            TimerPart::Groups => t.groups.to_string(),
            TimerPart::Cycles => t.cycles.map_or("I".to_string(), |c| format!("N,{c}")),
            TimerPart::EndState => if t.hold_last { "LAST" } else { "OFF" }.to_string(),
            TimerPart::State => if d.running[n - 1] { "ON" } else { "OFF" }.to_string(),
            TimerPart::Parameter => unreachable!("no query"),
        };
        respond(resp, &text)
    }
}

const fn level(n: Option<usize>, volts: bool) -> Level {
    Level { n, volts }
}

const fn prot(ovp: bool, part: Prot) -> Protection {
    Protection { ovp, part }
}

/// `VOLTage[:LEVel][:IMMediate][:AMPLitude]` (or `CURRent...`) for channel `n`.
macro_rules! level_node {
    ($name:literal, $n:expr, $volts:expr) => {
        Branch![$name;
            Branch![default b"LEVel";
                Branch![default b"IMMediate";
                    Leaf!(default b"AMPLitude" => &level($n, $volts))]]]
    };
}

/// `VOLTage...` and `CURRent...` for channel `n`.
macro_rules! levels {
    ($n:expr) => {
        [
            level_node!(b"VOLTage", $n, true),
            level_node!(b"CURRent", $n, false),
        ]
    };
}

/// `:OUTPut:OVP|OCP...`.
macro_rules! protection {
    ($name:literal, $ovp:expr) => {
        Branch![$name;
            Leaf!(default b"STATe" => &prot($ovp, Prot::State)),
            Leaf!(b"VALue" => &prot($ovp, Prot::Value)),
            Leaf!(b"QUEStion" => &prot($ovp, Prot::Question)),
            Leaf!(b"CLEar" => &prot($ovp, Prot::Clear))]
    };
}

const SOURCE1: [Node<Front>; 2] = levels!(Some(1));
const SOURCE2: [Node<Front>; 2] = levels!(Some(2));
const SOURCE3: [Node<Front>; 2] = levels!(Some(3));

const TREE: Node<Front> = Root![
    Leaf!(b"*IDN" => &Idn),
    Leaf!(b"*CLS" => &Cls),
    Leaf!(b"*RST" => &Rst),
    Leaf!(b"*OPC" => &Opc),
    Branch![b"SYSTem"; Branch![b"ERRor"; Leaf!(default b"NEXT" => &SystErr { signed: false })]],
    Branch![b"INSTrument";
        Leaf!(default b"SELect" => &Inst { by_number: false }),
        Leaf!(b"NSELect" => &Inst { by_number: true })],
    Node::Branch {
        name: b"SOURce1",
        default: false,
        sub: &SOURCE1
    },
    Node::Branch {
        name: b"SOURce2",
        default: false,
        sub: &SOURCE2
    },
    Node::Branch {
        name: b"SOURce3",
        default: false,
        sub: &SOURCE3
    },
    level_node!(b"VOLTage", None, true),
    level_node!(b"CURRent", None, false),
    Leaf!(b"APPLy" => &Apply),
    Branch![b"OUTPut";
        Leaf!(default b"STATe" => &Output),
        protection!(b"OVP", true),
        protection!(b"OCP", false)],
    Branch![b"MEASure";
        Branch![default b"VOLTage"; Leaf!(default b"DC" => &Measure(Meas::Volts))],
        Branch![b"CURRent"; Leaf!(default b"DC" => &Measure(Meas::Amps))],
        Branch![b"ALL"; Leaf!(default b"DC" => &Measure(Meas::All))]],
    Branch![b"TIMEr";
        Leaf!(default b"STATe" => &TimerCmd(TimerPart::State)),
        Leaf!(b"PARAmeter" => &TimerCmd(TimerPart::Parameter)),
        Leaf!(b"GROUPs" => &TimerCmd(TimerPart::Groups)),
        Leaf!(b"CYCLEs" => &TimerCmd(TimerPart::Cycles)),
        Leaf!(b"ENDState" => &TimerCmd(TimerPart::EndState))]
];

impl Protocol for Dp800Sim {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        // The handlers work on the instrument's view of its channels; what they
        // changed is applied to the world afterwards, outputs last.
        let f = &mut self.front;
        load_outputs(world, &WIRING, &mut f.psu, &mut f.readings, READBACK_EVERY);
        for (running, &out) in f.running.iter_mut().zip(&WIRING) {
            *running = world.sequence_running(out + 1);
        }
        let out = run_lines(&TREE, f, &mut self.pending, bytes);
        store_outputs(world, &WIRING, &self.front.psu);
        for (n, on) in std::mem::take(&mut self.front.timer_switch) {
            let channel = WIRING[n - 1] + 1;
            if !on {
                world.stop_sequence(channel);
                continue;
            }
            let t = &self.front.timers[n - 1];
            let steps = t.table[..t.groups]
                .iter()
                .flatten()
                .map(|&(v, a, secs)| (v, a, std::time::Duration::from_secs_f64(secs)))
                .collect();
            // Endless cycles: as many as a run could ever see.
            world.start_sequence(channel, steps, t.cycles.unwrap_or(u32::MAX), t.hold_last);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scpi::say;

    fn world() -> World {
        World::unpowered("maglock_12v")
    }

    #[test]
    fn long_and_short_forms_in_any_case_reach_the_same_setting() {
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(
            &mut sim,
            &mut w,
            ":SOURce1:VOLTage:LEVel:IMMediate:AMPLitude 12.5",
        );
        assert_eq!(say(&mut sim, &mut w, ":SOUR1:VOLT?"), "12.500");
        say(&mut sim, &mut w, "sour2:curr:lev 0.75");
        assert_eq!(say(&mut sim, &mut w, ":SOURCE2:CURRENT?"), "0.750");
        say(&mut sim, &mut w, ":SOUR3:VOLT MAX");
        assert_eq!(
            say(&mut sim, &mut w, ":SOUR3:VOLT?"),
            "5.300",
            "CH3's rating"
        );
        assert_eq!(say(&mut sim, &mut w, ":SOUR1:VOLT? MAX"), "30.000");
        assert_eq!(w.psu[0].set_v, 12.5);
        assert_eq!(say(&mut sim, &mut w, ":SYST:ERR?"), "0,\"No error\"");
    }

    #[test]
    fn the_selected_channel_takes_commands_without_one() {
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(&mut sim, &mut w, ":INST CH2");
        say(&mut sim, &mut w, ":VOLT 3.3;:OUTP ON");
        assert_eq!(say(&mut sim, &mut w, ":INST:NSEL?"), "2");
        assert_eq!(say(&mut sim, &mut w, ":SOUR2:VOLT?"), "3.300");
        assert!(w.psu[1].on && !w.psu[0].on);
        say(&mut sim, &mut w, ":APPL CH1,12,1.5");
        assert_eq!((w.psu[0].set_v, w.psu[0].set_i), (12.0, 1.5));
    }

    #[test]
    fn the_manuals_errors_are_queued_in_order() {
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        // A channel is CH<n>: `1` is taken as the state, and `ON` is one too many.
        say(&mut sim, &mut w, ":OUTP 1,ON");
        say(&mut sim, &mut w, ":SOUR3:VOLT 12"); // CH3 is rated 5 V
        say(&mut sim, &mut w, ":SOUR4:VOLT 1"); // there is no CH4
        say(&mut sim, &mut w, ":OUTP CH1,ON,EXTRA");
        assert!(!w.psu[0].on);
        let errors: Vec<String> = (0..5)
            .map(|_| say(&mut sim, &mut w, ":SYSTem:ERRor?"))
            .collect();
        assert!(errors[0].starts_with("-108,"), "{errors:?}");
        assert!(errors[1].starts_with("-222,"), "{errors:?}");
        assert!(errors[2].starts_with("-113,"), "{errors:?}");
        assert!(errors[3].starts_with("-108,"), "{errors:?}");
        assert_eq!(errors[4], "0,\"No error\"");
        say(&mut sim, &mut w, ":BOGus");
        say(&mut sim, &mut w, "*CLS");
        assert_eq!(say(&mut sim, &mut w, ":SYST:ERR?"), "0,\"No error\"");
    }

    #[test]
    fn a_trip_latches_until_cleared_and_keeps_the_output_off() {
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(
            &mut sim,
            &mut w,
            ":SOUR1:VOLT 12;:OUTP:OVP:VAL CH1,10;:OUTP:OVP CH1,ON",
        );
        say(&mut sim, &mut w, ":OUTP CH1,ON");
        assert_eq!(
            say(&mut sim, &mut w, ":OUTP:OVP:QUES? CH1"),
            "NO",
            "the rail has not risen yet"
        );
        // OVP compares the actual output: it trips once the rail passes 10 V.
        w.advance(std::time::Duration::from_millis(50));
        assert_eq!(say(&mut sim, &mut w, ":OUTP:OVP:QUES? CH1"), "YES");
        assert_eq!(say(&mut sim, &mut w, ":OUTP? CH1"), "OFF");
        say(&mut sim, &mut w, ":SOUR1:VOLT 9;:OUTP CH1,ON");
        assert_eq!(say(&mut sim, &mut w, ":OUTP? CH1"), "OFF", "still tripped");
        assert!(say(&mut sim, &mut w, ":SYST:ERR?").starts_with("-221,"));
        say(&mut sim, &mut w, ":OUTP:OVP:CLE CH1;:OUTP CH1,ON");
        assert_eq!(say(&mut sim, &mut w, ":OUTP:OVP:QUES? CH1"), "NO");
        assert_eq!(say(&mut sim, &mut w, ":OUTP? CH1"), "ON");
    }

    #[test]
    fn measurements_read_the_output() {
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(
            &mut sim,
            &mut w,
            ":SOUR1:VOLT 12;:SOUR1:CURR 1;:OUTP CH1,ON",
        );
        w.advance(READBACK_EVERY);
        let v: f64 = say(&mut sim, &mut w, ":MEAS? CH1").parse().unwrap();
        assert!((v - 12.0).abs() < 0.01, "{v}");
        let all = say(&mut sim, &mut w, ":MEASure:ALL:DC? CH1");
        let f: Vec<f64> = all.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(f.len(), 3, "{all}");
        assert!((0.24..0.265).contains(&f[1]), "{all}");
        assert!((f[2] - f[0] * f[1]).abs() < 0.01, "{all}");
    }

    #[test]
    fn measurements_change_only_once_per_measurement_cycle() {
        use std::time::Duration;
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        let meas = |sim: &mut Dp800Sim, w: &mut World| -> f64 {
            say(sim, w, ":MEAS:VOLT? CH1").parse().unwrap()
        };
        say(&mut sim, &mut w, ":APPL CH1,12,1;:OUTP CH1,ON");
        w.advance(Duration::from_millis(450));
        assert!((meas(&mut sim, &mut w) - 12.0).abs() < 0.01);
        // The output is set to 5 V at 450 ms and to 8 V at 900 ms: asked every 10 ms,
        // the instrument shows each only from its next measurement, at 800 and 1200 ms.
        say(&mut sim, &mut w, ":SOUR1:VOLT 5");
        let mut shown = Vec::new();
        while w.now() < Duration::from_millis(1250) {
            w.advance(Duration::from_millis(10));
            if w.now() == Duration::from_millis(900) {
                say(&mut sim, &mut w, ":SOUR1:VOLT 8");
            }
            shown.push((w.now(), meas(&mut sim, &mut w)));
        }
        let changed: Vec<_> = shown
            .windows(2)
            .filter(|p| (p[0].1 - p[1].1).abs() > 0.001)
            .map(|p| (p[1].0, p[1].1))
            .collect();
        assert_eq!(
            changed,
            [
                (Duration::from_millis(800), 5.0),
                (Duration::from_millis(1200), 8.0)
            ],
            "{shown:?}"
        );
    }

    #[test]
    fn the_timer_runs_its_groups_in_simulated_time_and_holds_the_last() {
        use std::time::Duration;
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(&mut sim, &mut w, ":APPL CH1,12,1");
        say(&mut sim, &mut w, ":INST:NSEL 1");
        // Not yet programmed, output off: refused.
        say(&mut sim, &mut w, ":TIME ON");
        assert!(say(&mut sim, &mut w, ":SYST:ERR?").starts_with("-221,"));
        say(&mut sim, &mut w, ":TIMer:PARAmeter 0,4.5,1,3");
        say(&mut sim, &mut w, ":TIME:PARA 1,12,1,1");
        say(&mut sim, &mut w, ":TIME:GROUP 2");
        say(&mut sim, &mut w, ":TIME:CYCLE N,1");
        say(&mut sim, &mut w, ":TIME:ENDS LAST");
        say(&mut sim, &mut w, ":TIME:PARA 2,1,1,0.5");
        assert!(
            say(&mut sim, &mut w, ":SYST:ERR?").starts_with("-222,"),
            "a group shorter than 1 s"
        );
        assert_eq!(say(&mut sim, &mut w, ":TIME:CYCLE?"), "N,1");
        assert_eq!(say(&mut sim, &mut w, ":TIME:ENDS?"), "LAST");
        say(&mut sim, &mut w, ":TIME ON");
        assert!(
            say(&mut sim, &mut w, ":SYST:ERR?").starts_with("-221,"),
            "the output is off"
        );
        say(&mut sim, &mut w, ":OUTP CH1,ON");
        w.advance(Duration::from_millis(500));
        say(&mut sim, &mut w, ":TIME ON");
        assert_eq!(say(&mut sim, &mut w, ":SYST:ERR?"), "0,\"No error\"");
        assert_eq!(say(&mut sim, &mut w, ":TIME?"), "ON");
        say(&mut sim, &mut w, ":TIME:PARA 0,5,1,3");
        assert!(
            say(&mut sim, &mut w, ":SYST:ERR?").starts_with("-221,"),
            "locked while it runs"
        );
        w.advance(Duration::from_millis(2900));
        assert!(
            (w.output_volts(1) - 4.5).abs() < 0.2,
            "{}",
            w.output_volts(1)
        );
        w.advance(Duration::from_millis(200));
        assert!(w.output_volts(1) > 11.0, "{}", w.output_volts(1));
        w.advance(Duration::from_secs(2));
        assert_eq!(say(&mut sim, &mut w, ":TIME?"), "OFF", "one cycle ran");
        assert!(w.output_volts(1) > 11.9, "the last group held");
        assert_eq!(say(&mut sim, &mut w, ":OUTP? CH1"), "ON");
    }

    #[test]
    fn a_timer_ending_off_switches_its_output_off() {
        use std::time::Duration;
        let (mut sim, mut w) = (Dp800Sim::default(), world());
        say(&mut sim, &mut w, ":APPL CH2,5,1");
        say(&mut sim, &mut w, ":OUTP CH2,ON");
        say(&mut sim, &mut w, ":INST CH2");
        say(&mut sim, &mut w, ":TIME:PARA 0,3,1,1");
        say(&mut sim, &mut w, ":TIME ON");
        w.advance(Duration::from_millis(1100));
        assert_eq!(say(&mut sim, &mut w, ":OUTP? CH2"), "OFF");
        assert_eq!(say(&mut sim, &mut w, ":SYST:ERR?"), "0,\"No error\"");
    }
}
