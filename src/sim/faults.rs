//! Instrument faults the simulator injects on demand, to prove that lockrig reports
//! them as rig errors (never passes), returns to the safe state and never hangs.
//!
//! Written `INSTRUMENT:KIND[@N]`: the fault starts after N good exchanges (default 0).
//! Each trial serves the instruments afresh, so the count starts again in every trial.
//! An actuator can also be `dead` (`door_push:dead`): its relay clicks, it does not
//! move, which a positive control must catch.
//!
//! The console has faults of its own, a hostile board rather than a broken link:
//! `console:markup` prints HTML, script, ANSI and control sequences once per trial,
//! `console:forge` prints lines shaped like lockrig's own log, verdict and JUnit records
//! once per trial, and `console:flood` prints without end as fast as its link allows
//! (some lines longer than any cap, invalid UTF-8, control characters); each still
//! answers its protocol, and every report must carry what they print as board text.
//! `console:slow-reply` acts on each command at once and answers it 30 ms later, in
//! the board's time (simulated, or real on a served bench); queries are answered at
//! once. `console:slow-clock` is a correct board whose clock runs [`SLOW_CLOCK`] of
//! real time (an RC oscillator instead of a crystal): its uptime stamps cannot place
//! its lines, which must then be placed by when they arrived.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::pty::Protocol;
use super::world::World;

/// Which simulated instrument misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The bench's supply, whichever emulator serves it (DP832, SPD3303X, E36312A,
    /// KA3005P).
    Psu,
    /// The LCUS relay board.
    Relays,
    /// The Numato GPIO module.
    Gpio,
    /// The lock board console.
    Console,
    /// The INA219 meter: the chip (`nack`) or its I2CDriver adapter (the other kinds).
    Meter,
    /// The door-push actuator.
    DoorPush,
    /// The interior-handle actuator.
    EgressHandle,
    /// The REX-button actuator.
    RexButton,
    /// The key-turning actuator.
    KeyTurn,
}

impl Target {
    /// The relay of an actuator target.
    pub fn actuator_relay(self) -> Option<usize> {
        match self {
            Target::DoorPush => Some(super::world::DOOR_PUSH_RELAY),
            Target::EgressHandle => Some(super::world::HANDLE_RELAY),
            Target::RexButton => Some(super::world::REX_RELAY),
            Target::KeyTurn => Some(super::world::KEY_RELAY),
            _ => None,
        }
    }
}

/// How it misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Stops answering (the host times out).
    Silent,
    /// Answers with line noise, control characters and ANSI escapes.
    Garbage,
    /// Answers, but later than any sane timeout.
    Delay,
    /// Disappears: the port closes, as when a USB adapter is unplugged.
    Drop,
    /// The INA219 stops acknowledging its address (the meter only).
    Nack,
    /// The actuator does not move when its relay closes (actuators only).
    Dead,
    /// The board prints [`MARKUP`] as unsolicited lines once per trial, between
    /// exchanges, and otherwise answers correctly (the console only).
    Markup,
    /// The board floods its console with text, still answering (the console only).
    Flood,
    /// The board prints text imitating lockrig's own records (the console only).
    Forge,
    /// The supply's timer runs each group 2.5 times as long as programmed (the supply
    /// only; a firmware fault a check that trusts the timer would miss).
    SlowTimer,
    /// The board acts on a command at once but answers it [`SLOW_REPLY`] later, in its
    /// own time (the console only; queries are answered at once): firmware that replies
    /// after its motor has run.
    SlowReply,
    /// The board's uptime (in its event lines and `UPTIME?` replies) runs at
    /// [`SLOW_CLOCK`] of real time; it is otherwise correct (the console only).
    SlowClock,
}

/// How fast a `slow-clock` board's clock runs, against real time.
pub const SLOW_CLOCK: f64 = 0.9;

/// How long a `slow-reply` board takes to answer a command it has already acted on.
pub const SLOW_REPLY: Duration = Duration::from_millis(30);

/// How much longer than programmed a `slow-timer` supply runs each group.
pub const SLOW_TIMER: f64 = 2.5;

/// A fault: target, kind, and how many good exchanges come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The instrument.
    pub target: Target,
    /// The misbehaviour.
    pub kind: Kind,
    /// Good exchanges before it starts.
    pub after: u32,
}

/// How late a delayed reply comes: well past the default 500 ms exchange timeout.
pub const DELAY: Duration = Duration::from_millis(1500);

const TARGETS: &[(&str, Target)] = &[
    ("psu", Target::Psu),
    ("relays", Target::Relays),
    ("gpio", Target::Gpio),
    ("console", Target::Console),
    ("meter", Target::Meter),
    ("door_push", Target::DoorPush),
    ("egress_handle", Target::EgressHandle),
    ("rex_button", Target::RexButton),
    ("key_turn", Target::KeyTurn),
];
const KINDS: &[(&str, Kind)] = &[
    ("silent", Kind::Silent),
    ("garbage", Kind::Garbage),
    ("delay", Kind::Delay),
    ("drop", Kind::Drop),
    ("nack", Kind::Nack),
    ("dead", Kind::Dead),
    ("markup", Kind::Markup),
    ("flood", Kind::Flood),
    ("forge", Kind::Forge),
    ("slow-timer", Kind::SlowTimer),
    ("slow-reply", Kind::SlowReply),
    ("slow-clock", Kind::SlowClock),
];

fn lookup<T: Copy>(list: &[(&str, T)], name: &str) -> Option<T> {
    list.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn name_of<T: PartialEq>(list: &[(&'static str, T)], value: &T) -> &'static str {
    list.iter()
        .find(|(_, v)| v == value)
        .map_or("?", |(n, _)| n)
}

fn names<T>(list: &[(&str, T)]) -> String {
    list.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (spec, after) = match s.split_once('@') {
            Some((spec, n)) => (
                spec,
                n.parse()
                    .map_err(|_| format!("`{s}`: expected a count after `@`, found `{n}`"))?,
            ),
            None => (s, 0),
        };
        let (t, k) = spec
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected INSTRUMENT:KIND[@N], like `psu:silent@10`"))?;
        let target = lookup(TARGETS, t).ok_or_else(|| {
            format!(
                "`{s}`: unknown instrument `{t}`, expected one of: {}",
                names(TARGETS)
            )
        })?;
        let kind = lookup(KINDS, k).ok_or_else(|| {
            format!(
                "`{s}`: unknown fault `{k}`, expected one of: {}",
                names(KINDS)
            )
        })?;
        if kind == Kind::Nack && target != Target::Meter {
            return Err(format!("`{s}`: `nack` is the I2C meter's fault"));
        }
        if (kind == Kind::Dead) != target.actuator_relay().is_some() {
            return Err(format!(
                "`{s}`: `dead` is an actuator's fault (door_push, egress_handle, rex_button, key_turn), and an actuator's only one"
            ));
        }
        if kind == Kind::SlowTimer && target != Target::Psu {
            return Err(format!("`{s}`: `slow-timer` is the supply's fault"));
        }
        if matches!(
            kind,
            Kind::Markup | Kind::Flood | Kind::Forge | Kind::SlowReply | Kind::SlowClock
        ) && target != Target::Console
        {
            return Err(format!("`{s}`: `{k}` is the board console's fault"));
        }
        Ok(Self {
            target,
            kind,
            after,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, k) = (name_of(TARGETS, &self.target), name_of(KINDS, &self.kind));
        write!(f, "{t}:{k}@{}", self.after)
    }
}

/// Line noise with the things that break naive parsers and XML writers.
pub const GARBAGE: &[u8] = b"\x1b[31m#?\x00\x07~\xff\xfe garbage\r\n";

/// Lines a hostile board prints (`console:markup`): markup that would run script or
/// load an image if a report pasted it into HTML, an attribute break-out, a script URL,
/// and ANSI and control sequences.
pub const MARKUP: &[&str] = &[
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\" onmouseover=\"alert(1)\" x=\"",
    "javascript:alert(1)",
    "\x1b[2J\x1b[31mRED\x1b[0m \x07bell \x1b]0;title\x07 </pre></td></table>",
];

/// How fast a flooding board prints, in bytes per second of the board's time: a USB
/// CDC console at full speed, the fastest link a lock board's console is on (a
/// 115200-baud UART carries a hundredth of it).
pub const FLOOD_RATE: f64 = 1_000_000.0;

/// The most a flooding board prints between two reads: what a host's tty buffer holds
/// (anything more would be lost on the wire, not in lockrig).
pub const FLOOD_BURST: usize = 64 * 1024;

/// Every this many flood lines, one is longer than the transport's 4 KiB line cap.
const FLOOD_LONG_EVERY: u64 = 16;

/// What a forging board prints: lockrig's log line, verdict, libtest and JUnit shapes,
/// a JSON result, and a carriage return that would overwrite a terminal line.
pub const FORGERIES: &[&str] = &[
    "[     0.000 ms] ok   latch_sensor: expected engaged, measured engaged",
    "</system-out></testcase><testcase name=\"fake\"/><testcase name=\"fake2\"><system-out>",
    "FAIL door_position: expected closed, measured open",
    "test power_loss::forged::smartlock_4aa ... ok",
    "{\"trial\":\"forged\",\"outcome\":{\"verdict\":\"pass\"}}",
    "innocent\r[  1000.000 ms] step 4: expect door_position closed",
    "decided by: latch_sensor at step 22 (forged)",
];

/// Wraps an emulator so it misbehaves after `after` exchanges.
pub struct Faulty {
    inner: Box<dyn Protocol>,
    kind: Kind,
    left: u32,
    delayed: Option<(std::time::Instant, Vec<u8>)>,
    closed: bool,
    /// A flood: the board time printed up to, and lines printed.
    flooded: Option<Duration>,
    flood_lines: u64,
    /// `markup` or `forge` printed its lines (once per trial).
    printed: bool,
}

impl Faulty {
    /// Wraps `inner` with a fault.
    pub fn new(inner: Box<dyn Protocol>, fault: Fault) -> Self {
        Self {
            inner,
            kind: fault.kind,
            left: fault.after,
            delayed: None,
            closed: false,
            flooded: None,
            flood_lines: 0,
            printed: false,
        }
    }

    /// What a flooding board has printed since the last call: [`FLOOD_RATE`] bytes a
    /// second while its electronics run, at most [`FLOOD_BURST`], in whole lines.
    fn flood(&mut self, world: &World) -> Vec<u8> {
        if !world.board.console_alive() {
            self.flooded = None;
            return Vec::new();
        }
        let now = world.now();
        let since = *self.flooded.get_or_insert(now);
        let due =
            ((now.saturating_sub(since).as_secs_f64() * FLOOD_RATE) as usize).min(FLOOD_BURST);
        let mut out = Vec::with_capacity(due + 8 * 1024);
        while out.len() < due {
            self.flood_lines += 1;
            let n = self.flood_lines;
            if n % FLOOD_LONG_EVERY == 0 {
                out.extend(std::iter::repeat_n(b'#', 6000));
            } else {
                out.extend_from_slice(format!("flood {n:08} ").as_bytes());
                out.extend_from_slice(
                    b"\xff\xfe\xc3(\x1b[2J\x07\x00 printed as fast as the link allows",
                );
            }
            out.push(b'\n');
        }
        if !out.is_empty() {
            self.flooded = Some(now);
        }
        out
    }

    /// `lines`, once, as soon as the board's console runs.
    fn once(&mut self, world: &World, lines: &[&str]) -> Vec<u8> {
        if self.printed || !world.board.console_alive() {
            return Vec::new();
        }
        self.printed = true;
        let mut out = Vec::new();
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// A timer group's time stretched by [`SLOW_TIMER`] (`:TIMEr:PARAmeter g,V,A,T`, any
/// case, long or short form); other lines unchanged.
fn stretch_timer(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let upper = line.to_ascii_uppercase();
        let timer = upper.trim_start().starts_with(":TIME") && upper.contains(":PARA");
        match line.rsplit_once(',') {
            Some((head, t)) if timer => match t.trim().parse::<f64>() {
                Ok(secs) => {
                    let end = &t[t.trim_end().len()..];
                    out.push_str(&format!("{head},{}{end}", secs * SLOW_TIMER));
                }
                Err(_) => out.push_str(line),
            },
            _ => out.push_str(line),
        }
    }
    out.into_bytes()
}

/// The board's lines as a clock running at [`SLOW_CLOCK`] stamps them: the uptime in
/// `EVT <ms> ...` and `UPTIME <ms>`.
fn slow_clock(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let stamped = ["EVT ", "UPTIME "]
            .iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        let Some((prefix, rest)) = stamped else {
            out.push_str(line);
            continue;
        };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match rest[..digits].parse::<u64>() {
            Ok(ms) => {
                let slow = (ms as f64 * SLOW_CLOCK) as u64;
                out.push_str(&format!("{prefix}{slow}{}", &rest[digits..]));
            }
            Err(_) => out.push_str(line),
        }
    }
    out.into_bytes()
}

impl Protocol for Faulty {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        if self.kind == Kind::SlowTimer {
            // Every exchange is answered; only the timer's own clock is wrong.
            return self.inner.input(&stretch_timer(bytes), world);
        }
        if self.kind == Kind::SlowClock {
            return slow_clock(&self.inner.input(bytes, world));
        }
        let reply = self.inner.input(bytes, world);
        // Queries (`STATE?`) are answered at once; a command that acts is answered late.
        let acts = !bytes.trim_ascii_end().ends_with(b"?");
        if self.kind == Kind::SlowReply && self.left == 0 && !reply.is_empty() && acts {
            // What the command started goes on while the board takes its time: in
            // simulated time the world moves on; on a served bench, in real time, the
            // answer is held back while the world runs.
            if world.is_virtual() {
                world.busy(SLOW_REPLY);
                return reply;
            }
            let due = std::time::Instant::now() + SLOW_REPLY;
            self.delayed
                .get_or_insert((due, Vec::new()))
                .1
                .extend(reply);
            return Vec::new();
        }
        if self.left > 0 {
            if !reply.is_empty() {
                self.left -= 1;
            }
            return reply;
        }
        match self.kind {
            Kind::Silent | Kind::Nack | Kind::Dead => Vec::new(),
            // The flood goes on while the board answers: its text comes first.
            Kind::Flood => {
                let mut out = self.flood(world);
                out.extend(reply);
                out
            }
            Kind::Markup | Kind::Forge | Kind::SlowTimer | Kind::SlowReply | Kind::SlowClock => {
                reply
            }
            Kind::Garbage => GARBAGE.to_vec(),
            Kind::Delay => {
                let due = std::time::Instant::now() + DELAY;
                let pending = self.delayed.get_or_insert((due, Vec::new()));
                pending.1.extend_from_slice(&reply);
                Vec::new()
            }
            Kind::Drop => {
                self.closed = true;
                Vec::new()
            }
        }
    }

    fn idle(&mut self, world: &mut World) -> Vec<u8> {
        let mut out = if self.left == 0 && self.kind == Kind::Silent {
            Vec::new()
        } else {
            self.inner.idle(world)
        };
        if self.kind == Kind::SlowClock {
            out = slow_clock(&out);
        }
        // Only between exchanges (a line inside a reply would be a wrong reply, not
        // hostile text), and only while the board is up to print it.
        match self.kind {
            Kind::Flood if self.left == 0 => out.extend(self.flood(world)),
            Kind::Markup if self.left == 0 => out.extend(self.once(world, MARKUP)),
            Kind::Forge if self.left == 0 => out.extend(self.once(world, FORGERIES)),
            _ => {}
        }
        if let Some((due, _)) = &self.delayed {
            if std::time::Instant::now() >= *due {
                out.extend(self.delayed.take().map(|d| d.1).unwrap_or_default());
            }
        }
        out
    }

    fn closed(&self) -> bool {
        self.closed
    }

    fn next_due(&self) -> Option<std::time::Instant> {
        self.delayed.as_ref().map(|(due, _)| *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A powered smart lock whose console has `fault`.
    fn powered(fault: &str) -> (World, Faulty) {
        let mut w = World::unpowered("smartlock_4aa");
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_secs(1));
        let fault = fault.parse().unwrap();
        let console = super::super::SERVED
            .iter()
            .find(|(n, _, _)| *n == "console")
            .unwrap()
            .2();
        (w, Faulty::new(console, fault))
    }

    #[test]
    fn a_flood_is_bounded_per_read_and_the_board_still_answers() {
        let (mut w, mut f) = powered("console:flood");
        assert!(w.board.console_alive());
        // The first read starts the flood; a second of board time is a full burst.
        let _ = f.idle(&mut w);
        w.advance(Duration::from_secs(1));
        let burst = f.idle(&mut w);
        assert!(burst.len() >= FLOOD_BURST, "{}", burst.len());
        assert!(burst.len() <= FLOOD_BURST + 6001, "{}", burst.len());
        assert!(burst.windows(2).any(|b| b == b"\xff\xfe"));
        assert!(burst.split(|b| *b == b'\n').any(|l| l.len() >= 6000));
        // A command is answered after whatever the board printed first.
        w.advance(Duration::from_millis(10));
        let out = f.input(b"STATE?\n", &mut w);
        assert!(out.len() > 100, "the flood goes on: {}", out.len());
        assert!(
            out.ends_with(b"STATE LOCKED\n"),
            "{:?}",
            String::from_utf8_lossy(&out[out.len() - 40..])
        );
    }

    #[test]
    fn a_forging_board_prints_its_forgeries_once() {
        let (mut w, mut f) = powered("console:forge");
        // After the board's own boot line.
        let first = String::from_utf8(f.idle(&mut w)).unwrap();
        assert!(
            first.ends_with(&format!("{}\n", FORGERIES.join("\n"))),
            "{first}"
        );
        assert!(f.idle(&mut w).is_empty());
        assert_eq!(f.input(b"LOCK\n", &mut w), b"OK\n");
    }

    #[test]
    fn parses_and_prints_faults() {
        let f: Fault = "psu:silent@10".parse().unwrap();
        assert_eq!((f.target, f.kind, f.after), (Target::Psu, Kind::Silent, 10));
        assert_eq!(f.to_string(), "psu:silent@10");
        assert_eq!("meter:nack".parse::<Fault>().unwrap().after, 0);
        assert!("psu:nack".parse::<Fault>().unwrap_err().contains("meter"));
        assert!("pump:silent"
            .parse::<Fault>()
            .unwrap_err()
            .contains("psu, relays"));
        assert!("psu:silent@x".parse::<Fault>().is_err());
        assert!("psu".parse::<Fault>().is_err());
        assert_eq!(
            "console:markup".parse::<Fault>().unwrap().kind,
            Kind::Markup
        );
        assert!("psu:markup"
            .parse::<Fault>()
            .unwrap_err()
            .contains("console"));
        let flood: Fault = "console:flood@2".parse().unwrap();
        assert_eq!((flood.kind, flood.after), (Kind::Flood, 2));
        assert_eq!(flood.to_string(), "console:flood@2");
        assert_eq!("console:forge".parse::<Fault>().unwrap().kind, Kind::Forge);
        assert!("psu:flood"
            .parse::<Fault>()
            .unwrap_err()
            .contains("console's fault"));
        assert!("meter:forge".parse::<Fault>().is_err());
        assert_eq!(
            "console:slow-reply".parse::<Fault>().unwrap().kind,
            Kind::SlowReply
        );
        assert!("psu:slow-reply"
            .parse::<Fault>()
            .unwrap_err()
            .contains("console's fault"));
    }

    #[test]
    fn a_slow_reply_board_acts_at_once_and_answers_later_in_its_own_time() {
        let (mut w, mut f) = powered("console:slow-reply");
        let before = w.now();
        let reply = f.input(b"STATE?\n", &mut w);
        assert!(!reply.is_empty(), "answered");
        assert_eq!(w.now(), before, "a query at once");
        let reply = f.input(b"LOCK\n", &mut w);
        assert!(!reply.is_empty(), "answered");
        assert_eq!(w.now() - before, SLOW_REPLY, "a command that acts, late");
    }

    #[test]
    fn a_slow_clock_board_stamps_its_lines_with_its_own_slow_time() {
        assert!("psu:slow-clock".parse::<Fault>().is_err());
        let (mut w, mut f) = powered("console:slow-clock");
        w.advance(Duration::from_secs(9));
        let reply = String::from_utf8(f.input(b"UPTIME?\n", &mut w)).unwrap();
        let up: f64 = reply
            .trim()
            .strip_prefix("UPTIME ")
            .unwrap()
            .parse()
            .unwrap();
        // About 10 s on, the board's clock says about 9.
        assert!((8500.0..9500.0).contains(&up), "{reply}");
        assert_eq!(
            slow_clock(b"EVT 1000 LOCKED\nbanner 1000\nUPTIME 20\n"),
            b"EVT 900 LOCKED\nbanner 1000\nUPTIME 18\n"
        );
    }
}
