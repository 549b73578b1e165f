//! Supply waveforms: sags (repeated, with evidence of the reset they cause), ramps,
//! noise, and the depth x duration shmoo. Each records what was commanded and what
//! the meter on the line saw the rail do: a bench supply cannot pull its output down,
//! so the rail falls only as fast as the lock discharges it.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{Run, Stop};
use crate::rig::bench::ClockPair;
use crate::units::{self, Volts};

/// The finest step a ramp takes, in volts (a bench supply's setting resolution).
const RAMP_STEP_V: f64 = 0.01;

/// How far from the programmed moment a supply's timer may be seen to restore a sag:
/// the instrument may take up to about 120 ms to act on the start command (the DP800's
/// command processing time), and the rail then rises in tens of milliseconds.
const TIMER_SLACK: Duration = Duration::from_millis(250);

/// How long a sag supply may take to reach its preset: supplies rise in about 100 ms
/// (the DP800 datasheet: under 110 ms), with room for a slow readback.
const DIP_PRESET_WITHIN: Duration = Duration::from_secs(1);
/// How often the sag supply's readback is read while it rises.
const DIP_PRESET_POLL: Duration = Duration::from_millis(20);
/// How close the sag supply must read to its preset (or 2 %, whichever is wider).
const DIP_PRESET_TOLERANCE: f64 = 0.05;

/// How close to its commanded depth the rail must fall for a sag to count as that
/// depth: 0.2 V, or 5 % of the depth where that is more.
fn reached(rail_min: f64, depth: f64) -> bool {
    rail_min <= depth + (0.05 * depth).max(0.2)
}

/// How long the board's clock is timed against the rig's when its uptime alone cannot
/// tell a reset from a slow clock.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// What the board's clock says about a reset between two moments.
struct ResetEvidence {
    /// A boot line printed in the window.
    boot: Option<(Duration, String)>,
    /// The board's clock asked before and after.
    uptime: Option<(ClockPair, ClockPair)>,
    /// The board's clock's rate against the rig's, and how far off that figure may be,
    /// timed over [`RATE_WINDOW`] after, where the uptime alone could not tell.
    rate: Option<(f64, f64)>,
}

impl ResetEvidence {
    /// Whether the board reset: it printed a boot line, or its clock went back, or it
    /// counted short of the rig's beyond the round trips (100 ms) and beyond what its
    /// own rate, where timed, explains. A clock that only lost time, not timed, with
    /// no boot line, is no evidence either way: the board reset without saying so, or
    /// its clock runs slow; that is said (`Err`).
    fn reset(&self) -> Result<bool, String> {
        if self.boot.is_some() {
            return Ok(true);
        }
        let Some((before, after)) = self.uptime else {
            return Ok(false);
        };
        if after.uptime() < before.uptime() {
            return Ok(true);
        }
        let lost = before.lost_to(&after);
        let ran = lost + (after.uptime() - before.uptime()) as f64;
        match self.rate {
            _ if lost <= 100.0 => Ok(false),
            // What a clock at its rate would have lost, and the doubt in that.
            Some((rate, doubt)) => Ok(lost - (1.0 - rate) * ran > 100.0 + doubt * ran),
            None => Err(format!(
                "the board printed no boot line, and its clock counted {} ms while the rig's ran {ran:.0} ms: either it reset without saying so and has been up {} ms, or its clock runs slow; whether it reset cannot be told",
                after.uptime() - before.uptime(),
                after.uptime()
            )),
        }
    }

    fn describe(&self, from: Duration) -> String {
        let mut parts = Vec::new();
        if let Some((at, text)) = &self.boot {
            parts.push(format!(
                "EVT {text} {} into it",
                units::format_duration(at.saturating_sub(from))
            ));
        }
        if let Some((before, after)) = self.uptime {
            parts.push(format!(
                "uptime {} ms before, {} ms after",
                before.uptime(),
                after.uptime()
            ));
        }
        if let Some((rate, doubt)) = self.rate {
            parts.push(format!(
                "the board's clock runs at {rate:.4} +- {doubt:.4} of the rig's, timed over {} after",
                units::format_duration(RATE_WINDOW)
            ));
        }
        if parts.is_empty() {
            "no boot line, and the board's uptime could not be read".into()
        } else {
            parts.join("; ")
        }
    }
}

/// What the meter showed of a sag's end (see `Run::rail_back`).
enum RailBack {
    /// The rail never fell below the middle of the sag.
    NeverFell,
    /// It fell and was still below the middle at the end of the trace.
    StillLow,
    /// It came back through the middle at this time, the samples around it this far apart.
    Back(Duration, Duration),
}

impl Run<'_> {
    fn setpoint(&self, role: &str) -> Result<Volts, Stop> {
        self.bench.setpoint(role).ok_or_else(|| {
            Stop::Error(format!(
                "step {} `{}`: `{role}` has no voltage set to return to",
                self.step.0, self.step.1
            ))
        })
    }

    /// Starts tracing the meter on `role`'s line; returns the trace's start index.
    fn trace(&mut self, role: &str) -> usize {
        self.tracing = self.bench.meter_on(role);
        if let Some((t, _)) = self.rail.last() {
            let now = self.now();
            if now > *t {
                self.rail_unseen.push((*t, now));
            }
        }
        self.rail.len()
    }

    /// Stops tracing; the rail's (min, max) since `from`, if traced. The readings of
    /// the meter's first update interval that show what its first reading showed may
    /// be from before the trace (a supply's readback still showing an earlier level):
    /// they are not counted.
    fn untrace(&mut self, from: usize) -> Option<(f64, f64)> {
        let age = self
            .tracing
            .take()
            .and_then(|m| self.bench.meter_resolution(&m))
            .map_or(Duration::ZERO, |r| r.every);
        let span = self.rail.get(from..)?;
        let (t0, v0) = *span.first()?;
        let stale = span
            .iter()
            .take_while(|(t, v)| *t < t0 + age && *v == v0)
            .count()
            .min(span.len() - 1);
        span[stale..].iter().fold(None, |acc, (_, v)| match acc {
            None => Some((*v, *v)),
            Some((lo, hi)) => Some((lo.min(*v), hi.max(*v))),
        })
    }

    /// Whether and when the rail, traced since `from`, came back up through the
    /// midpoint between the sag's depth and `restore` for the last time.
    fn rail_back(&self, from: usize, depth: f64, restore: f64) -> RailBack {
        let mid = (depth + restore) / 2.0;
        let span = self.rail.get(from..).unwrap_or_default();
        let Some(last_low) = span.iter().rposition(|(_, v)| *v < mid) else {
            return RailBack::NeverFell;
        };
        match span.get(last_low + 1) {
            Some((back, _)) => RailBack::Back(*back, back.saturating_sub(span[last_low].0)),
            None => RailBack::StillLow,
        }
    }

    /// How low the rail went, as the meter saw it.
    fn rail_min(range: Option<(f64, f64)>) -> String {
        match range {
            Some((lo, _)) => format!("the rail fell to {}", Volts(lo)),
            None => "the rail was not measured (no meter on this line)".into(),
        }
    }

    /// The span the rail covered, as the meter saw it.
    fn rail_span(range: Option<(f64, f64)>) -> String {
        match range {
            Some((lo, hi)) => format!("the rail went {}..{}", Volts(lo), Volts(hi)),
            None => "the rail was not measured (no meter on this line)".into(),
        }
    }

    fn console_role(&self) -> Option<String> {
        self.bench.console_roles().into_iter().next()
    }

    /// Asks the board its uptime: its clock against the rig's, if it answers.
    fn uptime_now(&mut self) -> Result<Option<ClockPair>, Stop> {
        let Some(role) = self.console_role() else {
            return Ok(None);
        };
        Ok(match self.bench.console_probe(&role)? {
            Some(_) => {
                self.answered();
                self.bench.console_clock(&role)
            }
            None => None,
        })
    }

    fn reset_evidence(
        &mut self,
        from: Duration,
        before: Option<ClockPair>,
    ) -> Result<ResetEvidence, Stop> {
        self.poll_console()?;
        let boot = self
            .console
            .seen
            .iter()
            // Certainly printed in the window: a boot line read late, whose span
            // reaches back before it, may be the boot before.
            .find(|s| s.event && s.from >= from && s.text.starts_with("BOOT"))
            .map(|s| (s.at, s.text.clone()));
        let after = self.uptime_now()?;
        let mut evidence = ResetEvidence {
            boot,
            uptime: before.zip(after),
            rate: None,
        };
        // A clock that lost time without a boot line: time it against the rig's, so
        // that what a slow clock loses is not taken for a reset.
        if let (Err(_), Some(after)) = (evidence.reset(), after) {
            self.hold(RATE_WINDOW)?;
            if let Some(later) = self.uptime_now()? {
                if later.uptime() >= after.uptime() {
                    evidence.rate = Some(after.rate_to(&later));
                }
            }
        }
        Ok(evidence)
    }

    /// Readies a fast dip of `main`, where the rig maps a `dip` switch and a `sag`
    /// supply: the sag supply is set to `to` and switched on, and its output confirmed
    /// by its own readback before the dip relay moves the lock onto it. `None` on a rig
    /// without them (the main supply makes the sag itself).
    fn dip_ready(&mut self, role: &str, to: Volts) -> Result<Option<Volts>, Stop> {
        if role != "main" || !self.bench.maps("dip") || !self.bench.maps("sag") {
            return Ok(None);
        }
        self.bench.set_voltage("sag", to)?;
        self.bench.set_output("sag", true)?;
        let deadline = self.now() + DIP_PRESET_WITHIN;
        loop {
            self.hold(DIP_PRESET_POLL)?;
            let (v, _) = self.bench.measure_supply("sag")?;
            if (v.0 - to.0).abs() <= DIP_PRESET_TOLERANCE.max(to.0 * 0.02) {
                return Ok(Some(v));
            }
            if self.now() >= deadline {
                return Err(Stop::Error(format!(
                    "step {} `{}`: the sag supply reads {v} {} after it was set to {to}: a dip to it would not test {to}",
                    self.step.0,
                    self.step.1,
                    units::format_duration(DIP_PRESET_WITHIN)
                )));
            }
        }
    }

    /// `sag ROLE to V for T [times N] [recover T] [expecting reset]`. On a rig with a
    /// `dip` switch and a `sag` supply, a sag of `main` is made by switching the lock
    /// onto the sag supply (a relay or MOSFET is as fast as milliseconds; a supply
    /// cannot pull its own output down that fast); otherwise by the supply itself.
    pub(super) fn sag(
        &mut self,
        role: &str,
        to: Volts,
        hold: Duration,
        times: u32,
        recover: Duration,
        expect_reset: bool,
    ) -> Result<(), Stop> {
        let restore = self.setpoint(role)?;
        if expect_reset && self.console_role().is_none() {
            return Err(Stop::Error(
                "`expecting reset` needs a console on the rig to see the board reset".into(),
            ));
        }
        let dip = self.dip_ready(role, to)?;
        // Without a dip switch, a supply that can time the hold itself does: the sag
        // then lasts what the instrument times, not what the exchanges around it take.
        // The meter must be able to see the timer's work to vouch for it: a sag
        // shallower than four of its steps is made by setpoints.
        let visible = self
            .bench
            .meter_on(role)
            .and_then(|m| self.bench.meter_resolution(&m))
            .is_some_and(|r| restore.0 - to.0 >= 4.0 * r.volts.0);
        let timed = match dip {
            Some(_) => None,
            None if visible => self
                .bench
                .program_sag(role, to, hold)?
                .then(|| self.bench.sequencer_timing(role))
                .flatten(),
            None => None,
        };
        for rep in 1..=times {
            let before = if expect_reset {
                self.uptime_now()?
            } else {
                None
            };
            let t0 = self.now();
            let mark = self.trace(role);
            match (dip, timed) {
                (Some(_), _) => self.bench.set_switch("dip", true)?,
                (None, Some(_)) => self.bench.run_sequence(role, true)?,
                (None, None) => self.bench.set_voltage(role, to)?,
            }
            self.power_changed();
            self.hold(hold)?;
            let held = self.now().saturating_sub(t0);
            match (dip, timed) {
                (Some(_), _) => self.bench.set_switch("dip", false)?,
                // The instrument restores the output itself, on its own time.
                (None, Some(_)) => {}
                (None, None) => self.bench.set_voltage(role, restore)?,
            }
            self.power_changed();
            self.hold(recover)?;
            // A sag the supply timed is only what the meter shows it was: the rail
            // must be seen back up about when the timer was to restore it.
            let came_back = self.rail_back(mark, to.0, restore.0);
            if let Some(t) = timed {
                // An averaging meter shows the rise up to one of its readings late.
                let slack = TIMER_SLACK.max(self.ctx.poll * 2)
                    + self
                        .bench
                        .meter_on(role)
                        .and_then(|m| self.bench.meter_resolution(&m))
                        .map_or(Duration::ZERO, |r| r.every);
                let due = t0 + hold;
                let seen = match came_back {
                    RailBack::Back(back, _) if back + slack >= due && back <= due + slack => None,
                    // Not even halfway down: the depth check below says so.
                    RailBack::NeverFell => None,
                    RailBack::Back(back, _) => Some(format!(
                        "the rail came back {} after the timer started",
                        units::format_duration(back.saturating_sub(t0))
                    )),
                    RailBack::StillLow => Some(format!(
                        "the rail had not come back up to {restore} by the end of the recovery"
                    )),
                };
                if let Some(seen) = seen {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: sag {rep} of {times}: the supply's {} was to hold {to} for {} and {seen}: the sag the check claims was not the one made",
                        self.step.0,
                        self.step.1,
                        t.name,
                        units::format_duration(hold)
                    )));
                }
            }
            if timed.is_some() {
                // Stopped, so the next sag can start it again; the setpoint is sent
                // again so the output is where lockrig believes it is.
                self.bench.run_sequence(role, false)?;
                self.bench.set_voltage(role, restore)?;
            }
            let rail = self.untrace(mark);
            let (held, hold) = (units::format_duration(held), units::format_duration(hold));
            let how = match (dip, timed) {
                // The relay's own operate and release times are not known to lockrig:
                // the dip the lock saw is the meter's to show, not this figure.
                (Some(v), _) => format!(
                    "dip relay onto the sag supply at {v} driven for {held} (commanded {hold} at {to}; the contacts follow after the relay's own operate and release times)"
                ),
                (None, Some(t)) => format!(
                    "the supply's {} held {to} for {hold} on its own clock (in {} steps; the rail was back {})",
                    t.name,
                    units::format_duration(t.step),
                    match came_back {
                        RailBack::Back(back, gap) => format!(
                            "{} after the start, to within {}",
                            units::format_duration(back.saturating_sub(t0)),
                            units::format_duration(gap)
                        ),
                        _ => String::new(),
                    }
                ),
                (None, None) => format!("setpoint {to} held {held} (commanded {hold})"),
            };
            self.note(format!(
                "sag {rep}/{times}: {how}, then {restore}; {}",
                Self::rail_min(rail)
            ));
            // A sag the rail did not follow tested another depth than the check claims.
            match rail {
                None => {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: no meter on `{role}`'s line, so how deep the sag went is unknown",
                        self.step.0, self.step.1
                    )))
                }
                Some((lo, _)) if !reached(lo, to.0) => {
                    // A meter that makes a new reading less often than the poll (it
                    // averages over that long, or, a supply's readback, measures that
                    // seldom) may miss the bottom of a falling sag: say so rather than
                    // blame the supply alone.
                    let every = self
                        .bench
                        .meter_on(role)
                        .and_then(|m| self.bench.meter_resolution(&m))
                        .map(|r| r.every)
                        .filter(|every| *every > self.ctx.poll.min(Duration::from_millis(10)));
                    let why = match every {
                        Some(every) => format!(
                            "either the supply could not pull its output down faster than the lock discharges it, or the meter, one new reading every {}, missed its bottom",
                            units::format_duration(every)
                        ),
                        None => "a supply cannot pull its output down faster than the lock discharges it".to_string(),
                    };
                    return Err(Stop::Error(format!(
                        "step {} `{}`: sag {rep} of {times}: the rail fell only to {} against {to} commanded ({why}): that depth was not tested; hold the sag longer, or switch the lock to a sag supply with a `dip` relay",
                        self.step.0,
                        self.step.1,
                        Volts(lo)
                    )))
                }
                Some(_) => {}
            }
            if !expect_reset {
                continue;
            }
            let evidence = self.reset_evidence(t0, before)?;
            let pass = evidence.reset().map_err(|why| {
                Stop::Error(format!(
                    "step {} `{}`: sag {rep} of {times}: {why}",
                    self.step.0, self.step.1
                ))
            })?;
            let console = self.console_role().unwrap_or_default();
            // A board that said nothing at all after the sag: its link, or the board?
            let found = if !pass && evidence.boot.is_none() && evidence.uptime.is_none() {
                self.second_look(&console).map_err(|why| {
                    Stop::Error(format!(
                        "step {} `{}`: sag {rep} of {times}: the board said nothing after it, but {why}",
                        self.step.0, self.step.1
                    ))
                })?
            } else {
                None
            };
            let measured = format!(
                "{} ({}; {}){}",
                if pass { "reset" } else { "no reset" },
                evidence.describe(t0),
                Self::rail_min(rail),
                found.map(|f| format!("; {f}")).unwrap_or_default()
            );
            let mut m = self.measurement(
                &console,
                format!("sag {rep} of {times} resets the board"),
                measured.clone(),
                pass,
            );
            m.value = rail.map(|r| r.0);
            m.unit = rail.map(|_| Volts::UNIT.into());
            self.record(m);
            if !pass {
                return Err(self.fail(
                    &console,
                    format!(
                        "sag {rep} of {times} did not reset the board, so it tests nothing about a reset: {measured}"
                    ),
                ));
            }
        }
        if dip.is_some() {
            self.bench.set_output("sag", false)?;
        }
        Ok(())
    }

    /// `ramp ROLE to V over T`: linear, in steps of the supply's resolution.
    pub(super) fn ramp(&mut self, role: &str, to: Volts, over: Duration) -> Result<(), Stop> {
        let from = self.setpoint(role)?;
        let span = to.0 - from.0;
        let by_resolution = (span.abs() / RAMP_STEP_V).ceil().max(1.0);
        let by_time = (over.as_secs_f64() / self.ctx.poll.as_secs_f64())
            .floor()
            .max(1.0);
        let steps = by_resolution.min(by_time) as u32;
        let dt = over / steps;
        let mark = self.trace(role);
        for i in 1..=steps {
            let v = Volts(from.0 + span * f64::from(i) / f64::from(steps));
            self.bench.set_voltage(role, v)?;
            self.power_changed();
            self.hold(dt)?;
        }
        let rail = self.untrace(mark);
        self.note(format!(
            "ramp {from} to {to} over {} in {steps} steps of {}; {}",
            units::format_duration(over),
            Volts(span.abs() / f64::from(steps)),
            Self::rail_span(rail)
        ));
        Ok(())
    }

    /// `sag ROLE random to V..V for T..T [after T..T] [times N] [recover T]`: each sag
    /// of a depth (to the millivolt) and a duration (to the millisecond) drawn from the
    /// trial's seed, begun a drawn delay after the step before. Each records what was
    /// commanded and what the rail did; a sag whose rail never entered the depth range
    /// tested nothing the step claims, and is a rig error.
    pub(super) fn sag_random(
        &mut self,
        role: &str,
        depth: (Volts, Volts),
        hold: (Duration, Duration),
        after: Option<(Duration, Duration)>,
        times: u32,
        recover: Duration,
    ) -> Result<(), Stop> {
        let restore = self.setpoint(role)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.ctx.seed ^ (self.step.0 as u64) << 32);
        let ms = |d: Duration| d.as_millis() as u64;
        let meter = self
            .bench
            .meter_on(role)
            .unwrap_or_else(|| role.to_string());
        for rep in 1..=times {
            let to = Volts((rng.random_range(depth.0 .0..=depth.1 .0) * 1e3).round() / 1e3);
            let dur = Duration::from_millis(rng.random_range(ms(hold.0)..=ms(hold.1)));
            let delay = after.map_or(Duration::ZERO, |(a, b)| {
                Duration::from_millis(rng.random_range(ms(a)..=ms(b)))
            });
            self.hold(delay)?;
            let t0 = self.now();
            let mark = self.trace(role);
            self.bench.set_voltage(role, to)?;
            self.power_changed();
            self.hold(dur)?;
            let held = self.now().saturating_sub(t0);
            self.bench.set_voltage(role, restore)?;
            self.power_changed();
            self.hold(recover)?;
            let Some((lo, _)) = self.untrace(mark) else {
                return Err(Stop::Error(format!(
                    "step {} `{}`: no meter on `{role}`'s line, so what the sags did is unknown",
                    self.step.0, self.step.1
                )));
            };
            let entered = reached(lo, depth.1 .0);
            let commanded = format!(
                "{to} for {} after {}",
                units::format_duration(dur),
                units::format_duration(delay)
            );
            let mut m = self.measurement(
                &meter,
                format!("sag {rep} of {times} into {}..{}", depth.0, depth.1),
                format!(
                    "commanded {commanded} (held {}); the rail fell to {}",
                    units::format_duration(held),
                    Volts(lo)
                ),
                entered,
            );
            m.value = Some(lo);
            m.unit = Some(Volts::UNIT.into());
            m.low = Some(depth.0 .0);
            m.high = Some(depth.1 .0);
            m.detail = Some(json!({
                "commanded": {"depth_v": to.0, "hold_ms": ms(dur), "after_ms": ms(delay)},
                "achieved": {"rail_min_v": lo, "held_ms": ms(held)},
            }));
            self.record(m);
            if !entered {
                return Err(Stop::Error(format!(
                    "step {} `{}`: sag {rep} of {times} ({commanded}): the rail fell only to {}, above the range: that sag was not tested; lengthen the durations or use a `dip` relay",
                    self.step.0,
                    self.step.1,
                    Volts(lo)
                )));
            }
        }
        Ok(())
    }

    /// `noise ROLE around V by V every T for T`: seeded random steps, then the
    /// previous setting again.
    pub(super) fn noise(
        &mut self,
        role: &str,
        around: Volts,
        by: Volts,
        every: Duration,
        duration: Duration,
    ) -> Result<(), Stop> {
        let restore = self.setpoint(role)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.ctx.seed ^ (self.step.0 as u64) << 32);
        let n = (duration.as_secs_f64() / every.as_secs_f64())
            .ceil()
            .max(1.0) as u32;
        let mark = self.trace(role);
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for _ in 0..n {
            let v = (around.0 + by.0 * rng.random_range(-1.0..=1.0)).max(0.0);
            lo = lo.min(v);
            hi = hi.max(v);
            self.bench.set_voltage(role, Volts(v))?;
            self.power_changed();
            self.hold(every)?;
        }
        let rail = self.untrace(mark);
        self.bench.set_voltage(role, restore)?;
        self.power_changed();
        self.note(format!(
            "noise: {n} steps every {}, commanded {}..{}; {}; back to {restore}",
            units::format_duration(every),
            Volts(lo),
            Volts(hi),
            Self::rail_span(rail)
        ));
        Ok(())
    }

    /// `shmoo ROLE from V to V step V durations T,... recover T`: every (depth,
    /// duration) cell is a sag from the present setting followed by the recovery
    /// window, with the watches in force; the grid records where the board reset.
    pub(super) fn shmoo(
        &mut self,
        role: &str,
        (from, to, step): (Volts, Volts, Volts),
        durations: &[Duration],
        recover: Duration,
        repeats: u32,
    ) -> Result<(), Stop> {
        let restore = self.setpoint(role)?;
        let dir = if to.0 < from.0 { -1.0 } else { 1.0 };
        // Inclusive of the last depth within half a step (expressions round).
        let mut depths = Vec::new();
        let mut d = from.0;
        while (d - to.0) * dir <= step.0 / 2.0 {
            depths.push(d);
            d += dir * step.0;
        }
        let mut cells = Vec::new();
        let mut outcome = Ok(());
        'grid: for &depth in &depths {
            let mut row = Vec::new();
            for &dur in durations {
                let cell = self.shmoo_repeats(role, Volts(depth), dur, restore, recover, repeats);
                let failed = cell.is_err();
                let (value, result) = match cell {
                    Ok(v) => (v, Ok(())),
                    Err(stopped) => {
                        let (v, e) = *stopped;
                        (v, Err(e))
                    }
                };
                row.push(value);
                if failed {
                    cells.push(row);
                    outcome = result;
                    break 'grid;
                }
            }
            cells.push(row);
        }
        let resets = cells
            .iter()
            .flatten()
            .filter(|c| c["reset"] == true)
            .count();
        let untested = cells
            .iter()
            .flatten()
            .filter(|c| c["reached"] == false)
            .count();
        let total = cells.iter().map(Vec::len).sum::<usize>();
        let intermittent = cells
            .iter()
            .flatten()
            .filter(|c| c["intermittent"] == true)
            .count();
        let each = if repeats > 1 {
            format!(" ({repeats} sags each; {intermittent} reset the board some of the times)")
        } else {
            String::new()
        };
        let detail = json!({
            "supply": role,
            "depths_v": depths,
            "durations_ms": durations.iter().map(|d| super::ms(*d)).collect::<Vec<_>>(),
            "recover_ms": super::ms(recover),
            "repeats": repeats,
            "cells": cells,
        });
        let mut m = self.measurement(
            role,
            "no unsafe cell".into(),
            format!(
                "{total} of {} cells run{each}, {resets} reset the board, {untested} where the rail did not reach the depth (untested at that depth){}",
                depths.len() * durations.len(),
                match outcome {
                    Ok(()) => ", none unsafe",
                    Err(Stop::Fail { .. }) => ", the last one unsafe",
                    // The rig stopped the last cell: it was not judged either way.
                    Err(Stop::Error(_)) => ", the last one stopped by a rig error before it could be judged",
                }
            ),
            outcome.is_ok(),
        );
        m.detail = Some(detail);
        self.record(m);
        outcome
    }

    /// One cell run `repeats` times: each sag must be safe. Its record counts the sags
    /// (`runs`) and those that reset the board (`resets`): a cell on the boundary may
    /// reset it some of the times (`reset` is then null, `intermittent` true).
    fn shmoo_repeats(
        &mut self,
        role: &str,
        depth: Volts,
        dur: Duration,
        restore: Volts,
        recover: Duration,
        repeats: u32,
    ) -> Result<serde_json::Value, Box<(serde_json::Value, Stop)>> {
        let mut resets = 0u32;
        let mut lowest: Option<f64> = None;
        let mut last = serde_json::Value::Null;
        for _ in 0..repeats.max(1) {
            last = self.shmoo_cell(role, depth, dur, restore, recover)?;
            resets += u32::from(last["reset"] == true);
            if let Some(v) = last["rail_min_v"].as_f64() {
                lowest = Some(lowest.map_or(v, |l: f64| l.min(v)));
            }
        }
        if repeats > 1 {
            last["runs"] = repeats.into();
            last["resets"] = resets.into();
            last["rail_min_v"] = lowest.into();
            last["reached"] = lowest.map(|v| reached(v, depth.0)).into();
            let intermittent = resets > 0 && resets < repeats;
            last["intermittent"] = intermittent.into();
            last["reset"] = if intermittent {
                serde_json::Value::Null
            } else {
                (resets == repeats).into()
            };
        }
        Ok(last)
    }

    /// One shmoo cell: its record, or its record and why it stopped the check.
    fn shmoo_cell(
        &mut self,
        role: &str,
        depth: Volts,
        dur: Duration,
        restore: Volts,
        recover: Duration,
    ) -> Result<serde_json::Value, Box<(serde_json::Value, Stop)>> {
        let cell = |reset: Option<bool>, rail: Option<(f64, f64)>, unsafe_: bool, note: &str| {
            json!({
                "depth_v": depth.0,
                "duration_ms": super::ms(dur),
                "reset": reset,
                "rail_min_v": rail.map(|r| r.0),
                "reached": rail.map(|r| reached(r.0, depth.0)),
                "unsafe": unsafe_,
                "note": note,
            })
        };
        let before = self
            .uptime_now()
            .map_err(|e| (cell(None, None, false, "rig error"), e))?;
        let t0 = self.now();
        let mark = self.trace(role);
        let run = (|| -> Result<(), Stop> {
            self.bench.set_voltage(role, depth)?;
            self.power_changed();
            self.hold(dur)?;
            self.bench.set_voltage(role, restore)?;
            self.power_changed();
            self.hold(recover)
        })();
        let rail = self.untrace(mark);
        if let Err(e) = run {
            let unsafe_ = matches!(e, Stop::Fail { .. });
            return Err(Box::new((
                cell(None, rail, unsafe_, "stopped the check"),
                e,
            )));
        }
        let evidence = self
            .reset_evidence(t0, before)
            .map_err(|e| (cell(None, rail, false, "rig error"), e))?;
        let responsive = evidence.uptime.is_some() || self.console_role().is_none();
        let reset = match evidence.reset() {
            Ok(reset) => reset,
            Err(why) => {
                let e = Stop::Error(format!(
                    "step {} `{}`: the cell {depth} for {}: {why}",
                    self.step.0,
                    self.step.1,
                    units::format_duration(dur)
                ));
                return Err(Box::new((cell(None, rail, false, "rig error"), e)));
            }
        };
        self.note(format!(
            "shmoo cell {depth} for {}: {}; {}",
            units::format_duration(dur),
            evidence.describe(t0),
            Self::rail_min(rail)
        ));
        if !responsive {
            let v = cell(
                Some(reset),
                rail,
                true,
                "no answer after the recovery window",
            );
            let console = self.console_role().unwrap_or_default();
            let found = match self.second_look(&console) {
                Ok(found) => found.map(|f| format!("; {f}")).unwrap_or_default(),
                Err(why) => {
                    let e = Stop::Error(format!(
                        "step {} `{}`: after the cell {depth} for {} the board did not answer within the {} recovery window, but {why}",
                        self.step.0,
                        self.step.1,
                        units::format_duration(dur),
                        units::format_duration(recover)
                    ));
                    return Err(Box::new((cell(Some(reset), rail, false, "rig error"), e)));
                }
            };
            let e = self.fail(
                &console,
                format!(
                    "after the cell {depth} for {} the board did not answer within the {} recovery window{found}",
                    units::format_duration(dur),
                    units::format_duration(recover)
                ),
            );
            return Err(Box::new((v, e)));
        }
        Ok(cell(Some(reset), rail, false, ""))
    }
}
