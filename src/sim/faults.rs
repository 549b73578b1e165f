//! Instrument faults the simulator injects on demand, to prove that lockrig reports
//! them as rig errors (never passes), returns to the safe state and never hangs.
//!
//! Written `INSTRUMENT:KIND[@N]`: the fault starts after N good exchanges (default 0).
//! Each trial serves the instruments afresh, so the count starts again in every trial.
//! An actuator can also be `dead` (`door_push:dead`): its relay clicks, it does not
//! move, which a positive control must catch.

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
}

impl Target {
    /// The relay of an actuator target.
    pub fn actuator_relay(self) -> Option<usize> {
        match self {
            Target::DoorPush => Some(super::world::DOOR_PUSH_RELAY),
            Target::EgressHandle => Some(super::world::HANDLE_RELAY),
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
}

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
];
const KINDS: &[(&str, Kind)] = &[
    ("silent", Kind::Silent),
    ("garbage", Kind::Garbage),
    ("delay", Kind::Delay),
    ("drop", Kind::Drop),
    ("nack", Kind::Nack),
    ("dead", Kind::Dead),
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
                "`{s}`: `dead` is an actuator's fault (door_push, egress_handle), and an actuator's only one"
            ));
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

/// Wraps an emulator so it misbehaves after `after` exchanges.
pub struct Faulty {
    inner: Box<dyn Protocol>,
    kind: Kind,
    left: u32,
    delayed: Option<(std::time::Instant, Vec<u8>)>,
    closed: bool,
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
        }
    }
}

impl Protocol for Faulty {
    fn input(&mut self, bytes: &[u8], world: &mut World) -> Vec<u8> {
        let reply = self.inner.input(bytes, world);
        if self.left > 0 {
            if !reply.is_empty() {
                self.left -= 1;
            }
            return reply;
        }
        match self.kind {
            Kind::Silent | Kind::Nack | Kind::Dead => Vec::new(),
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
    }
}
