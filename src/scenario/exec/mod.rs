//! Executes a check's steps on a bench, with measurements as evidence.
//!
//! Time passes only in [`Run::hold`]: in slices of the poll interval, sampling every
//! watched input at each slice, tracing the meter where a step asks for it, and
//! reading the console's lines. So a watch covers every step after it (sags, ramps,
//! recoveries), and the largest gap between samples is known and reported.
//! `within` bounds count from the last stimulus (a supply, relay or console command),
//! as a device's bounds do.
//!
//! The physical world decides: a check passes only on evidence from a physical input
//! (door position, latch sensor), and its result names the step and window that
//! decided it. The board's word and the meter corroborate and are judged too.

mod actuator;
mod condition;
mod console;

/// The prefix of board text in a check's log (`[ t ms] board| TEXT`, or
/// `[ t ms] (time read) board| TEXT` when the board's clock could not place it).
pub use console::BOARD as BOARD_TEXT;
mod meter;
mod sample;
mod supply;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::step::{Ready, Step, Timing};
use crate::config::rig::{by_hand, Capability};
use crate::config::secrets::Secrets;
use crate::rig::{Bench, RoleError};
use crate::signals;
use crate::units;

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// The device did not behave as required.
    Fail,
    /// The rig could not run the check (instrument fault, failed positive control,
    /// interruption): no verdict on the device.
    Error,
}

/// Which kind of evidence a measurement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A physical input: door position, latch sensor.
    Physical,
    /// The current/voltage meter.
    Meter,
    /// The board's own console.
    Console,
    /// A figure computed from other measurements.
    Derived,
}

/// One measurement with its limits and verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    /// 1-based step number (0 for end-of-check records).
    pub step: usize,
    /// The step as executed.
    pub what: String,
    /// The role observed.
    pub role: String,
    /// Kind of evidence.
    pub source: Evidence,
    /// What was required, as text.
    pub expected: String,
    /// What was measured, as text.
    pub measured: String,
    /// The measured value, where numeric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Its unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Cow<'static, str>>,
    /// Lower limit, where numeric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper limit, where numeric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Samples taken (sampled observations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// The largest gap between two samples, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gap_ms: Option<f64>,
    /// Structured detail (a shmoo grid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Scenario time of the reading, in milliseconds from the check's start.
    pub at_ms: f64,
    /// A positive control of the rig rather than a requirement on the device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
    /// Within limits.
    pub pass: bool,
}

/// What decided a check: the observation, its step and its window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// The role observed.
    pub role: String,
    /// The step that judged it.
    pub step: usize,
    /// The window it covered (`steps 12-20, 15.200 s`).
    pub window: String,
}

/// Evidence a check did not keep because the board printed more than the caps allow
/// (a flooding console). Any of it makes the check a rig error: see [`execute`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Console lines dropped whole (by the console's queue or this check's cap).
    pub console_lines: u64,
    /// Bytes of console text dropped: those lines and the tails of cut lines.
    pub console_bytes: u64,
    /// Console lines cut at the transport's line cap (their heads are kept, marked).
    pub cut_lines: u64,
    /// Log lines dropped at [`MAX_LOG_LINES`] or [`MAX_LOG_BYTES`].
    pub log_lines: u64,
    /// Their bytes.
    pub log_bytes: u64,
}

impl Dropped {
    /// True when nothing was dropped.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} console lines dropped and {} over-long lines cut ({} bytes of board text)",
            self.console_lines, self.cut_lines, self.console_bytes
        )?;
        if self.log_lines > 0 {
            write!(
                f,
                ", {} log lines dropped ({} bytes)",
                self.log_lines, self.log_bytes
            )?;
        }
        Ok(())
    }
}

/// A cap on lines and bytes kept: what would pass either is refused.
#[derive(Debug, Clone, Copy)]
struct Budget {
    lines: usize,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl Budget {
    const fn new(max_lines: usize, max_bytes: usize) -> Self {
        Self {
            lines: 0,
            bytes: 0,
            max_lines,
            max_bytes,
        }
    }

    /// Takes a line of `len` bytes from the budget; false (and nothing taken) when it
    /// does not fit.
    fn admit(&mut self, len: usize) -> bool {
        if self.lines >= self.max_lines || self.bytes + len > self.max_bytes {
            return false;
        }
        self.lines += 1;
        self.bytes += len;
        true
    }
}

/// Log lines one check keeps. The longest built-in check on a healthy simulated board
/// logs under 100 lines (steps, measurements and board lines; `relock::after_unlock_cycles`),
/// so 10,000 leaves room for long custom suites; board text alone stops at
/// [`console::MAX_CONSOLE_LINES`], and this bounds the whole.
pub const MAX_LOG_LINES: usize = 10_000;

/// Bytes of log one check keeps: the longest built-in check logs about 6 KB; 2 MiB
/// keeps one result line of `results.jsonl` (and one JUnit testcase) a few MiB at most.
pub const MAX_LOG_BYTES: usize = 2 << 20;

/// The longest a meter may take to make a new reading where a check judges a moment by
/// one (a peak over a window, a watch's condition on a supply line): a reading can show
/// what the meter measured up to that long before, a motor's inrush lasts milliseconds,
/// and a lock may follow its supply within tens of milliseconds. An INA219 (about 1 ms)
/// is within it at any averaging up to 8; a supply's readback (hundreds of ms) is not,
/// whatever the poll.
pub(super) const FRESH_METER: Duration = Duration::from_millis(10);

/// The result of executing a check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Verdict.
    pub verdict: Verdict,
    /// For failures and errors, expected vs measured or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The observation that decided the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Decision>,
    /// Every measurement, in order.
    pub measurements: Vec<Measurement>,
    /// Step log with scenario times, including console lines.
    pub log: Vec<String>,
    /// Scenario time the check covered.
    #[serde(
        rename = "scenario_time_ms",
        serialize_with = "ser_ms",
        deserialize_with = "de_ms"
    )]
    pub scenario_time: Duration,
    /// The sampling interval of timed observations, in milliseconds.
    pub poll_ms: f64,
    /// The largest gap between two samples of a physical input, in milliseconds.
    pub max_gap_ms: f64,
    /// What the caps dropped (all zero for a check that kept every line).
    pub dropped: Dropped,
}

impl Outcome {
    /// An outcome for a check that could not run.
    pub fn error(message: String) -> Self {
        Self {
            verdict: Verdict::Error,
            message: Some(message),
            decided_by: None,
            measurements: Vec::new(),
            log: Vec::new(),
            scenario_time: Duration::ZERO,
            poll_ms: 0.0,
            max_gap_ms: 0.0,
            dropped: Dropped::default(),
        }
    }
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ms(*d))
}

/// Reads back what [`ser_ms`] wrote (a result line read again to resume a run).
pub fn de_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let ms = f64::deserialize(d)?;
    Duration::try_from_secs_f64(ms / 1e3).map_err(serde::de::Error::custom)
}

/// Milliseconds, rounded to the microsecond.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// What the executor needs to know beyond the steps.
#[derive(Debug, Clone)]
pub struct Context {
    /// Sampling interval for timed observations.
    pub poll: Duration,
    /// Seeds the noise step's sequence.
    pub seed: u64,
    /// Secrets for `$NAME` words, and redaction of everything recorded.
    pub secrets: Arc<Secrets>,
    /// The device's battery: capacity in ampere-hours and operations a day.
    pub battery: Option<(f64, u32)>,
    /// A person at the bench, for switch roles the rig has no actuator for.
    pub person: Option<Person>,
}

/// How a person is asked: the request in, `Err` with the reason when they do not do it.
pub type Ask = dyn Fn(&str) -> Result<(), String> + Send + Sync;

/// Asks a person at the bench to do something by hand.
#[derive(Clone)]
pub struct Person(pub Arc<Ask>);

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Person")
    }
}

/// Why execution stopped early.
enum Stop {
    /// The device failed; `role` and `step` decided it.
    Fail {
        message: String,
        role: String,
        step: usize,
    },
    /// The rig failed or a positive control did.
    Error(String),
}

impl From<RoleError> for Stop {
    fn from(e: RoleError) -> Self {
        Stop::Error(e.to_string())
    }
}

/// A kept window of meter samples (`measure ... as NAME`).
#[derive(Debug, Clone, Copy)]
struct Window {
    mean_a: f64,
    mean_v: f64,
    charge_c: f64,
    duration: Duration,
}

/// A check being executed.
struct Run<'a> {
    bench: &'a mut Bench,
    ctx: &'a Context,
    start: Duration,
    /// The step being executed, and its text.
    step: (usize, String),
    /// When the last stimulus was applied, and by which step.
    stimulus: (Duration, usize),
    /// The last command sent to the board: its step and when it was sent.
    sent: Option<(usize, Duration)>,
    watches: Vec<sample::Watch>,
    console: console::State,
    /// Meter samples traced during supply waveforms: (time, volts).
    rail: Vec<(Duration, f64)>,
    /// When the rail went untraced between two traces: (last reading, next trace's
    /// start).
    rail_unseen: Vec<(Duration, Duration)>,
    tracing: Option<String>,
    /// Supply lines a conditional watch follows, with their recent readings.
    lines: Vec<condition::Line>,
    kept: BTreeMap<String, Window>,
    measurements: Vec<Measurement>,
    log: Vec<(Duration, String)>,
    /// What `log` may still take.
    log_budget: Budget,
    /// What the caps dropped.
    dropped: Dropped,
    /// Largest gap between two samples of a physical input.
    max_gap: Duration,
    /// When the watches were last sampled (the poll runs from there).
    sampled: Duration,
    /// Where each input role read in the background was last taken to: the next take
    /// judges every reading since.
    input_taken: BTreeMap<String, Duration>,
    decided: Option<Decision>,
    /// Actuator roles switched on in this check (and not off since).
    driving: Vec<String>,
}

impl Run<'_> {
    fn now(&self) -> Duration {
        self.bench.clock().now()
    }

    /// Milliseconds since the check started.
    fn at_ms(&self) -> f64 {
        ms(self.now().saturating_sub(self.start))
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let now = self.now();
        let text = self.ctx.secrets.redact(text.as_ref());
        self.push_log(now, text);
    }

    /// Adds a line to the log, or counts it as dropped past the log's caps.
    fn push_log(&mut self, at: Duration, text: String) {
        if self.log_budget.admit(text.len()) {
            self.log.push((at, text));
        } else {
            self.dropped.log_lines += 1;
            self.dropped.log_bytes += text.len() as u64;
        }
    }

    fn check_interrupt(&self) -> Result<(), Stop> {
        match signals::received() {
            Some(sig) => Err(Stop::Error(RoleError::Interrupted(sig).to_string())),
            None => Ok(()),
        }
    }

    /// Marks a stimulus: `within` bounds count from here.
    fn stimulus(&mut self) {
        self.stimulus = (self.now(), self.step.0);
    }

    fn fail(&self, role: &str, message: String) -> Stop {
        Stop::Fail {
            message: format!("step {} `{}`: {message}", self.step.0, self.step.1),
            role: role.to_string(),
            step: self.step.0,
        }
    }

    /// Records a measurement (and a log line) and returns whether it passed.
    fn record(&mut self, m: Measurement) -> bool {
        let pass = m.pass;
        self.note(format!(
            "{} {}: expected {}, measured {}",
            match (m.pass, m.control) {
                (true, false) => "ok  ",
                (true, true) => "ctrl",
                (false, _) => "FAIL",
            },
            m.role,
            m.expected,
            m.measured
        ));
        let mut m = m;
        m.measured = self.ctx.secrets.redact(&m.measured);
        m.expected = self.ctx.secrets.redact(&m.expected);
        m.what = self.ctx.secrets.redact(&m.what);
        self.measurements.push(m);
        pass
    }

    /// A measurement of the current step, without numbers.
    fn measurement(
        &self,
        role: &str,
        expected: String,
        measured: String,
        pass: bool,
    ) -> Measurement {
        let source = match self.bench.capability(role) {
            Some(Capability::Console) => Evidence::Console,
            Some(Capability::Meter) => Evidence::Meter,
            Some(Capability::Input) => Evidence::Physical,
            _ => Evidence::Derived,
        };
        Measurement {
            step: self.step.0,
            what: self.step.1.clone(),
            role: role.to_string(),
            source,
            expected,
            measured,
            value: None,
            unit: None,
            low: None,
            high: None,
            samples: None,
            max_gap_ms: None,
            detail: None,
            at_ms: self.at_ms(),
            control: false,
            pass,
        }
    }

    fn step(&mut self, n: usize, step: &Step<Ready>) -> Result<(), Stop> {
        let text = step.to_string();
        self.step = (n, text.clone());
        self.note(format!("step {n}: {text}"));
        self.bench.mark_step(n, &text);
        match step {
            Step::Set { role, volts, limit } => {
                let sent = self.now();
                if let Some(a) = limit {
                    self.bench.set_current_limit(role, *a)?;
                }
                self.bench.set_voltage(role, *volts)?;
                self.power_changed_since(sent);
            }
            Step::Output { role, on } => {
                let sent = self.now();
                self.bench.set_output(role, *on)?;
                self.power_changed_since(sent);
            }
            Step::Sag {
                role,
                to,
                hold,
                times,
                recover,
                expect_reset,
            } => self.sag(
                role,
                *to,
                *hold,
                *times,
                recover.unwrap_or_default(),
                *expect_reset,
            )?,
            Step::SagRandom {
                role,
                depth,
                hold,
                after,
                times,
                recover,
            } => self.sag_random(
                role,
                *depth,
                *hold,
                *after,
                *times,
                recover.unwrap_or_default(),
            )?,
            Step::Ramp { role, to, over } => self.ramp(role, *to, *over)?,
            Step::Noise {
                role,
                around,
                by,
                every,
                duration,
            } => self.noise(role, *around, *by, *every, *duration)?,
            Step::Shmoo {
                role,
                from,
                to,
                step,
                durations,
                recover,
                repeats,
            } => self.shmoo(role, (*from, *to, *step), durations, *recover, *repeats)?,
            Step::Wait(d) => self.hold(*d)?,
            Step::Relay { role, on } => {
                match (self.bench.capability(role), &self.ctx.person) {
                    (None, Some(person)) if by_hand(role, *on).is_some() => {
                        let ask = by_hand(role, *on).unwrap_or_default();
                        (person.0)(ask).map_err(|why| {
                            Stop::Error(format!("step {n}: the operator did not {ask}: {why}"))
                        })?;
                        self.note(format!("by hand: {ask}"));
                    }
                    _ => {
                        self.before_switching(role)?;
                        self.bench.set_switch(role, *on)?;
                    }
                }
                self.stimulus();
                self.confirm_actuator(role, *on)?;
            }
            Step::Pulse { role, duration } => {
                self.before_switching(role)?;
                self.bench.set_switch(role, true)?;
                let on = self.now();
                self.stimulus();
                self.confirm_actuator(role, true)?;
                // Timed from the relay switching: proving the actuator moved is part of
                // the pulse, not added to it (a 3 s push stays a 3 s push).
                self.hold(duration.saturating_sub(self.now().saturating_sub(on)))?;
                self.bench.set_switch(role, false)?;
                self.note(format!(
                    "{role} driven for {} (commanded {})",
                    units::format_duration(self.now().saturating_sub(on)),
                    units::format_duration(*duration)
                ));
                self.confirm_actuator(role, false)?;
            }
            Step::Expect {
                role,
                state,
                timing,
                control,
            } => self.expect(role, state, *timing, *control)?,
            Step::Watch { role, state, when } => self.watch(role, state, when.as_ref())?,
            Step::WatchConsole { role, never, when } => {
                self.watch_console(role, never, when.as_ref())?
            }
            Step::Unwatch { role } => self.unwatch(role)?,
            Step::Measure {
                role,
                stat,
                quantity,
                range,
                window,
                keep,
            } => self.measure(role, *stat, *quantity, *range, *window, keep.as_deref())?,
            Step::Send {
                role,
                words,
                expecting,
            } => self.send(role, words, expecting.as_deref())?,
            Step::ConsoleReady { role, within } => self.console_ready(role, *within)?,
            Step::WaitRate {
                role,
                fraction,
                from,
                to,
            } => self.wait_rate(role, *fraction, from, to)?,
            Step::ConsoleEvent {
                role,
                event,
                within,
            } => self.console_event(role, event, *within)?,
            Step::ConsoleEventAt {
                role,
                event,
                at,
                tolerance,
            } => self.console_event_at(role, event, *at, *tolerance)?,
            Step::Estimate {
                what,
                from,
                at_least,
            } => self.estimate(*what, from, *at_least)?,
        }
        self.poll_console()?;
        Ok(())
    }

    /// A supply changed: a stimulus, and the board may have lost or regained power.
    fn power_changed(&mut self) {
        self.power_changed_since(self.now());
    }

    /// A supply changed by a command sent at `sent`: the output may switch, and the
    /// board answer it, while a slow supply is still replying, so the stimulus is when
    /// the command was sent.
    fn power_changed_since(&mut self, sent: Duration) {
        self.stimulus = (sent, self.step.0);
        self.console.maybe_down = true;
    }

    /// Reads an input or console role as a state name.
    fn observe(&mut self, role: &str) -> Result<String, Stop> {
        if self.bench.is_console(role) {
            let s = self.bench.console_state(role)?;
            self.answered();
            return Ok(s);
        }
        self.sample_input(role)
    }

    /// Readings of an input or console role, each with the moment it was seen by,
    /// oldest first: one read now, or every background reading since `from` or the
    /// last call, whichever is later.
    fn observe_all(&mut self, role: &str, from: Duration) -> Result<Vec<(Duration, String)>, Stop> {
        if self.bench.is_console(role) {
            let seen = self.observe(role)?;
            return Ok(vec![(self.now(), seen)]);
        }
        self.sample_readings(role, from)
    }

    fn valid_states(&self, role: &str) -> Vec<String> {
        if self.bench.is_console(role) {
            vec!["locked".into(), "unlocked".into()]
        } else {
            self.bench
                .input_states(role)
                .map(|s| s.iter().map(|x| x.to_string()).collect())
                .unwrap_or_default()
        }
    }

    fn expect(
        &mut self,
        role: &str,
        state: &str,
        timing: Timing<Duration>,
        control: bool,
    ) -> Result<(), Stop> {
        let valid = self.valid_states(role);
        if !valid.is_empty() && !valid.iter().any(|v| v == state) {
            return Err(Stop::Error(format!(
                "step {} `{}`: `{state}` is not a state of `{role}` (expected one of: {})",
                self.step.0,
                self.step.1,
                valid.join(", ")
            )));
        }
        let physical = !self.bench.is_console(role);
        let poll = self.ctx.poll;
        let t0 = self.now();
        let (pass, measured, samples, gap) = match timing {
            Timing::Now => {
                let seen = self.observe(role)?;
                (seen == state, seen, 1, Duration::ZERO)
            }
            Timing::Within(limit) => {
                // Counted from the stimulus: a bound is the device's, from the cause.
                let (from, from_step) = self.stimulus;
                let deadline = from + limit;
                if t0 > deadline {
                    return Err(Stop::Error(format!(
                        "step {} `{}` starts {} after step {from_step}, past its {} window: nothing can show what happened within it; put it right after the stimulus",
                        self.step.0,
                        self.step.1,
                        units::format_duration(t0 - from),
                        units::format_duration(limit)
                    )));
                }
                let mut samples = 0;
                let mut gap = Duration::ZERO;
                let mut last = None;
                let mut seen = String::new();
                let mut since = from;
                let mut first = true;
                loop {
                    let mut found = None;
                    // Each reading since the stimulus, in order (a bench in real time
                    // reads its inputs in the background: every one since the last).
                    let mut readings: Vec<(Duration, String)> = self
                        .observe_all(role, since)?
                        .into_iter()
                        .filter(|(by, _)| *by >= since)
                        .collect();
                    if std::mem::take(&mut first) {
                        // A reading from before this step counts only in the run of
                        // `state` that lasts into the step: the role may have left an
                        // earlier one since (a latch that engaged, released, and must
                        // engage again).
                        let at_step = readings
                            .iter()
                            .position(|(by, _)| *by >= t0)
                            .unwrap_or(readings.len().saturating_sub(1));
                        let mut start = at_step;
                        if readings.get(at_step).is_some_and(|(_, s)| s == state) {
                            while start > 0 && readings[start - 1].1 == state {
                                start -= 1;
                            }
                        }
                        last = start.checked_sub(1).map(|i| readings[i].0);
                        readings.drain(..start);
                    }
                    for (by, s) in readings {
                        since = by + Duration::from_nanos(1);
                        samples += 1;
                        // The change came after the read before this one (or the
                        // stimulus): that is how well its time is known.
                        let since_last = by.saturating_sub(last.unwrap_or(from));
                        if last.is_some() {
                            gap = gap.max(since_last);
                        }
                        last = Some(by);
                        seen = s;
                        // Time is taken when the read ended: a state seen by a read
                        // that ended past the deadline does not count.
                        if seen == state && by <= deadline {
                            found = Some((by, since_last));
                            break;
                        }
                    }
                    if let Some((by, since_last)) = found {
                        break (
                            true,
                            format!(
                                "{seen} {} after step {from_step} (resolution {})",
                                units::format_duration(by.saturating_sub(from)),
                                units::format_duration(since_last)
                            ),
                            samples,
                            gap,
                        );
                    }
                    let now = self.now();
                    let t = now.saturating_sub(from);
                    if now >= deadline {
                        break (
                            false,
                            format!(
                                "still {seen} {} after step {from_step}",
                                units::format_duration(t)
                            ),
                            samples,
                            gap,
                        );
                    }
                    self.tick((deadline - now).min(poll))?;
                }
            }
            Timing::For(limit) => {
                let mut samples = 0;
                let mut gap = Duration::ZERO;
                let mut last: Option<Duration> = None;
                let mut since = t0;
                loop {
                    let mut ended = None;
                    // Each reading in the window, in order: one that shows another state
                    // ends it, whenever between two polls it came.
                    for (by, seen) in self.observe_all(role, since)? {
                        if by < since {
                            continue;
                        }
                        since = by + Duration::from_nanos(1);
                        samples += 1;
                        if let Some(l) = last {
                            gap = gap.max(by.saturating_sub(l));
                        }
                        last = Some(by);
                        let t = by.saturating_sub(t0);
                        if seen != state {
                            ended = Some((
                                false,
                                format!("{seen} at {} into the window", units::format_duration(t)),
                            ));
                            break;
                        }
                        if t >= limit {
                            ended = Some((true, format!("{seen} throughout ({samples} samples)")));
                            break;
                        }
                    }
                    if let Some((pass, measured)) = ended {
                        break (pass, measured, samples, gap);
                    }
                    let t = self.now().saturating_sub(t0);
                    self.tick(
                        limit
                            .saturating_sub(t)
                            .min(poll)
                            .max(Duration::from_millis(1)),
                    )?;
                }
            }
        };
        if physical {
            self.max_gap = self.max_gap.max(gap);
        }
        let expected = match timing {
            Timing::Now => state.to_string(),
            Timing::Within(t) => format!("{state} within {}", units::format_duration(t)),
            Timing::For(t) => format!("{state} for {}", units::format_duration(t)),
        };
        let mut m = self.measurement(role, expected.clone(), measured.clone(), pass);
        m.control = control;
        if timing != Timing::Now {
            m.samples = Some(samples);
            m.max_gap_ms = Some(ms(gap));
        }
        self.record(m);
        if physical && pass && !control {
            let window = match timing {
                Timing::Now => format!("step {}", self.step.0),
                _ => format!(
                    "step {}, {}",
                    self.step.0,
                    units::format_duration(self.now().saturating_sub(t0))
                ),
            };
            self.decide(role, window);
        }
        match (pass, control) {
            (true, _) => Ok(()),
            (false, false) => {
                let found = format!("expected {role} {expected}, measured {measured}");
                match self.door_failure(role, state)? {
                    actuator::Blame::Rig(why) => Err(Stop::Error(format!(
                        "step {} `{}`: {found}, but {why}; not evidence against the lock",
                        self.step.0, self.step.1
                    ))),
                    actuator::Blame::Lock(Some(note)) => {
                        Err(self.fail(role, format!("{found} ({note})")))
                    }
                    actuator::Blame::Lock(None) => Err(self.fail(role, found)),
                }
            }
            (false, true) => Err(Stop::Error(format!(
                "positive control failed at step {} `{}`: expected {role} {expected}, measured {measured}; the rig did not do what the check relies on (a dead actuator, a miswired input), or the lock did not meet the check's premise there (the suite's comment on the step says which), so nothing it would conclude is evidence",
                self.step.0, self.step.1
            ))),
        }
    }

    /// Notes a physical observation that passed; the last one standing decides a pass.
    fn decide(&mut self, role: &str, window: String) {
        self.decided = Some(Decision {
            role: role.to_string(),
            step: self.step.0,
            window,
        });
    }
}

/// Executes steps on a bench. The caller applies the safe state afterwards.
pub fn execute(bench: &mut Bench, steps: &[Step<Ready>], ctx: &Context) -> Outcome {
    let start = bench.clock().now();
    let mut run = Run {
        bench,
        ctx,
        start,
        step: (0, String::new()),
        stimulus: (start, 0),
        sent: None,
        watches: Vec::new(),
        console: console::State::default(),
        rail: Vec::new(),
        rail_unseen: Vec::new(),
        tracing: None,
        lines: Vec::new(),
        kept: BTreeMap::new(),
        measurements: Vec::new(),
        log: Vec::new(),
        log_budget: Budget::new(MAX_LOG_LINES, MAX_LOG_BYTES),
        dropped: Dropped::default(),
        max_gap: Duration::ZERO,
        sampled: start,
        input_taken: BTreeMap::new(),
        decided: None,
        driving: Vec::new(),
    };
    // On a bench in real time, the board's consoles are listened to in the background,
    // so each line is stamped as it arrives.
    let mut stop = run.bench.listen_consoles().err().map(Stop::from);
    // So are its polled inputs, so a watch sees each line every millisecond or so,
    // whatever the executor is talking to.
    if stop.is_none() {
        stop = run.bench.capture_inputs().err().map(Stop::from);
    }
    // On a bench in real time, each meter the check measures over a window is read in
    // the background from the start, so a window sees what happened while another
    // instrument was being talked to.
    // So is the meter on a supply line a watch's condition follows, so the condition
    // is judged at the meter's rate, not the poll's.
    for step in steps.iter().take_while(|_| stop.is_none()) {
        let captured = match step {
            Step::Measure {
                role,
                window: Some(_),
                ..
            } => Some(role.clone()),
            Step::Watch { when: Some(c), .. } | Step::WatchConsole { when: Some(c), .. } => {
                run.bench.meter_on(&c.role)
            }
            _ => None,
        };
        if let Some(role) = captured {
            if let Err(e) = run.bench.capture_meter(&role) {
                stop = Some(Stop::from(e));
                break;
            }
        }
    }
    // A supply line a watch's condition follows is read from the first step, so the
    // watch's first settling time is judged from what the line did before it.
    let mut longest: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        if let Step::Watch { when: Some(c), .. } | Step::WatchConsole { when: Some(c), .. } = step {
            let e = longest.entry(c.role.clone()).or_insert((i, Duration::ZERO));
            e.1 = e.1.max(c.settled.unwrap_or_default());
        }
    }
    for (i, settled) in longest.values() {
        if stop.is_some() {
            break;
        }
        let (Step::Watch { when: Some(c), .. } | Step::WatchConsole { when: Some(c), .. }) =
            &steps[*i]
        else {
            unreachable!("only conditional watches are collected")
        };
        run.step = (i + 1, steps[*i].to_string());
        if let Err(e) = run.follow_line(c, *settled) {
            stop = Some(e);
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if stop.is_some() {
            break;
        }
        if let Err(e) = run.check_interrupt().and_then(|_| run.step(i + 1, step)) {
            stop = Some(e);
            break;
        }
    }
    // Watches still open end with the check: one last sample, and their verdict.
    run.step = (steps.len() + 1, "end of the check".into());
    if stop.is_none() {
        stop = run.close_watches().err();
    } else {
        // What the board printed up to the stop belongs on the timeline too.
        run.console.watches.clear();
        let _ = run.poll_console();
    }
    // A capture that stopped on an error no window took is the rig's, whatever the
    // check concluded: an instrument fault is never a pass.
    if let Err(e) = run.bench.end_captures() {
        stop = Some(Stop::Error(match stop {
            Some(Stop::Error(m)) | Some(Stop::Fail { message: m, .. }) => {
                format!("{e}; then: {m}")
            }
            None => e.to_string(),
        }));
    }
    // A supply that cut out on its own protection invalidates the check, pass or fail:
    // the device was not tested under the conditions the check asserts. Asked even
    // after an error, since a trip often explains it.
    match run.bench.protection_trips() {
        Ok(trips) if trips.is_empty() => {}
        Ok(trips) => {
            let tripped = format!(
                "the supply's own protection tripped during the check ({}): the device was not tested under the conditions the check asserts",
                trips.join(", ")
            );
            stop = Some(Stop::Error(match stop {
                Some(Stop::Error(e)) | Some(Stop::Fail { message: e, .. }) => {
                    format!("{tripped}; then: {e}")
                }
                None => tripped,
            }));
        }
        Err(_) if matches!(stop, Some(Stop::Error(_))) => {}
        Err(e) => {
            stop = Some(Stop::Error(format!(
                "reading the supply's protection status: {e}"
            )))
        }
    }
    // Evidence lost to the caps makes the check a rig error, whatever it concluded. A
    // flooding console is arguably a device defect, but what it drowned (an UNLOCKED
    // event a watch forbids, the boot line a readiness bound is placed by, a reply)
    // cannot be judged, so neither a pass nor a fail can be trusted: the verdict is
    // withheld rather than guessed. A check that failed says so after the error.
    if !run.dropped.is_none() {
        let why = if run.dropped.console_lines + run.dropped.cut_lines > 0 {
            "the board flooded its console past lockrig's caps"
        } else {
            "the check logged more than lockrig keeps"
        };
        let lost = format!(
            "evidence lost: {} ({why}), so the verdict cannot be trusted",
            run.dropped
        );
        stop = Some(Stop::Error(match stop {
            Some(Stop::Error(e)) | Some(Stop::Fail { message: e, .. }) => {
                format!("{lost}; then: {e}")
            }
            None => lost,
        }));
    }
    // A pass needs physical evidence: the board's word or the meter alone is not a
    // door that stayed shut, and a positive control proves the rig, not the device.
    if stop.is_none() && run.decided.is_none() {
        stop = Some(Stop::Error(
            "no physical input (door position, latch sensor) was observed, so nothing can decide this check".into(),
        ));
    }
    let scenario_time = run.now().saturating_sub(start);
    let (verdict, message, decided_by) = match stop {
        None => (Verdict::Pass, None, run.decided.clone()),
        Some(Stop::Fail {
            message,
            role,
            step,
        }) => (
            Verdict::Fail,
            Some(message),
            Some(Decision {
                role,
                step,
                window: format!("step {step}"),
            }),
        ),
        Some(Stop::Error(message)) => {
            // Past the log's caps too: the verdict's own line is always kept.
            let now = run.now();
            run.log
                .push((now, ctx.secrets.redact(&format!("ERROR {message}"))));
            (Verdict::Error, Some(message), None)
        }
    };
    let secrets = ctx.secrets.clone();
    let mut log = std::mem::take(&mut run.log);
    log.sort_by_key(|(t, _)| *t);
    let log = log
        .into_iter()
        .map(|(t, text)| format!("[{:>10.3} ms] {text}", ms(t.saturating_sub(start))))
        .collect();
    Outcome {
        verdict,
        message: message.map(|m| secrets.redact(&m)),
        decided_by,
        measurements: run.measurements,
        log,
        scenario_time,
        poll_ms: ms(ctx.poll),
        max_gap_ms: ms(run.max_gap),
        dropped: run.dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_either_cap_and_takes_nothing_then() {
        let mut b = Budget::new(3, 10);
        assert!(b.admit(4) && b.admit(4));
        assert!(!b.admit(3), "11 bytes are past the byte cap");
        assert!(b.admit(2));
        assert!(!b.admit(0), "a fourth line is past the line cap");
        assert_eq!((b.lines, b.bytes), (3, 10));
        let mut b = Budget::new(MAX_LOG_LINES, MAX_LOG_BYTES);
        let kept = (0..MAX_LOG_LINES + 5).filter(|_| b.admit(100)).count();
        assert_eq!(kept, MAX_LOG_LINES);
    }

    #[test]
    fn dropped_evidence_is_counted_and_said() {
        assert!(Dropped::default().is_none());
        let d = Dropped {
            console_lines: 7,
            console_bytes: 700,
            cut_lines: 2,
            ..Dropped::default()
        };
        assert!(!d.is_none());
        assert_eq!(
            d.to_string(),
            "7 console lines dropped and 2 over-long lines cut (700 bytes of board text)"
        );
        let d = Dropped {
            log_lines: 1,
            log_bytes: 9,
            ..d
        };
        assert!(d.to_string().ends_with(", 1 log lines dropped (9 bytes)"));
    }
}
