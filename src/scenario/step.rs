//! Suite steps, written one per string in a suite file.
//!
//! ```text
//! set ROLE VOLTS [limit AMPS]                 program a supply channel
//! output ROLE on|off                          switch a supply output
//! sag ROLE to VOLTS for TIME [times N] [recover TIME] [expecting reset]
//!                                             drop a supply, hold, restore; N times,
//!                                             waiting TIME after each; with `expecting
//!                                             reset`, each sag must reset the board
//! sag ROLE random to LOW..HIGH for LOW..HIGH [after LOW..HIGH] [times N] [recover TIME]
//!                                             N sags, each of a depth and a duration
//!                                             drawn from the ranges (and begun a random
//!                                             delay after the step before, to land at
//!                                             a random moment of the lock's activity);
//!                                             seeded per trial; each records what was
//!                                             commanded and what the rail did
//! ramp ROLE to VOLTS over TIME                move a supply linearly (battery decay)
//! noise ROLE around VOLTS by VOLTS every TIME for TIME
//!                                             random steps within +/- the amplitude
//! shmoo ROLE from VOLTS to VOLTS step VOLTS durations TIME,TIME,... recover TIME
//!       [repeats N]                           sweep sag depth x duration, N sags a cell
//! wait TIME                                   let time pass (watches are sampled)
//! wait FRACTION of console EVENT to EVENT     FRACTION times the time the board took
//!                                             from its last EVENT to its last EVENT
//!                                             (FRACTION above 0, below 1),
//!                                             counted from the second: a moment the
//!                                             board does not report, timed by its own
//!                                             rate (90 % of an update it reports in
//!                                             quarters: `wait 0.6 of console UPDATE
//!                                             50% to UPDATE 75%`)
//! relay ROLE on|off                           energise or release a switch
//! pulse ROLE for TIME                         energise a switch for TIME
//! expect ROLE STATE [within TIME | for TIME]  an input or the console reads STATE now,
//!                                             within TIME, or at every sample for TIME
//! control ROLE STATE [within TIME | for TIME] the same as a positive control: it proves
//!                                             the rig works, so failing it is a rig error
//! watch ROLE STATE                            from now on, every sample reads STATE
//! watch console never EVENT                   from now on, no console event EVENT
//! watch ... while ROLE above|below VOLTS [for TIME]
//!                                             the watch holds only while the meter on
//!                                             supply ROLE's line reads past VOLTS (and
//!                                             has for TIME): across channels, judged
//!                                             against the meter's readings either side
//! unwatch ROLE                                end a watch
//! measure ROLE [mean|peak] current|voltage in RANGE [for TIME] [as NAME]
//!                                             a meter reading (every sample, the mean
//!                                             or the peak over TIME) within RANGE;
//!                                             `as NAME` keeps the window (mean
//!                                             current and voltage, charge) for estimates
//! send console WORDS... [expecting WORDS...]  a console command and its reply;
//!                                             `$NAME` is a secret from the rig file
//! expect console ready within TIME            the console answers within TIME
//! expect console event EVENT within TIME      the board prints EVENT within TIME
//! expect console event EVENT at VOLTS +- VOLTS
//!                                             EVENT was printed (after the last one
//!                                             matched) with the rail at VOLTS
//! estimate battery_life from NAME and NAME at least TIME
//! estimate energy_per_hour from NAME          figures from kept measurements
//! ```
//!
//! A value is an expression: terms joined by `+` and `-`, each a literal with its unit
//! (`6.0V`, `300ms`), a device-profile name (`nominal`, `ready_within`), or a name
//! times a plain number (`min_operating * 0.1`): `ready_within + actuation_within +
//! 500ms`. A RANGE is a profile range name (`holding_current`) or `LOW..HIGH`, each
//! bound a literal or a profile name (`0V..reset_below`).
//!
//! The grammar is small and domain-specific, so it is parsed by hand; each error
//! carries the byte offset of the offending word so the suite loader can point at it.
//! A step is parsed into [`Step<Parsed>`] and resolved against a device profile into
//! [`Step<Ready>`]: one type for both, so a new step kind is one variant.

use std::fmt::{self, Debug};
use std::time::Duration;

use crate::units::{self, Amps, Volts};

/// The two phases of a step: as written, and resolved against a device profile.
pub trait Phase: Debug + Clone + PartialEq {
    /// A voltage.
    type V: Debug + Clone + PartialEq;
    /// A current.
    type A: Debug + Clone + PartialEq;
    /// A time.
    type T: Debug + Clone + PartialEq;
    /// A range of a quantity.
    type R: Debug + Clone + PartialEq;
}

/// As written in the suite: values are expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed;

/// Resolved against a device profile: values are quantities.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready;

impl Phase for Parsed {
    type V = Expr;
    type A = Expr;
    type T = Expr;
    type R = RangeExpr;
}

impl Phase for Ready {
    type V = Volts;
    type A = Amps;
    type T = Duration;
    type R = (f64, f64);
}

/// One term of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A literal with its unit, kept as written.
    Literal(String),
    /// A profile value, times a factor (1 unless written `NAME * FACTOR`).
    Named {
        /// The profile name.
        name: String,
        /// The factor.
        factor: f64,
    },
}

/// A value: terms added or subtracted (`reset_below - 1.0V`).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// (negated, term) in order.
    pub terms: Vec<(bool, Term)>,
}

impl Expr {
    /// A single term.
    pub fn term(t: Term) -> Self {
        Self {
            terms: vec![(false, t)],
        }
    }
}

/// The allowed range of a `measure` step, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeExpr {
    /// A profile range (`holding_current`).
    Named(String),
    /// `LOW..HIGH`.
    Between(Expr, Expr),
}

/// `while ROLE above|below VOLTS [for TIME]`: the state of a supply's line, as the meter
/// on it reads, under which a watch holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition<P: Phase> {
    /// The supply role whose line the meter reads.
    pub role: String,
    /// Below the level (`true`) or above it.
    pub below: bool,
    /// The level.
    pub volts: P::V,
    /// How long the line must have been past the level before a sample is judged: the
    /// device's own response time, so its legitimate transition is not judged.
    pub settled: Option<P::T>,
}

impl Condition<Ready> {
    /// Whether a reading meets the condition.
    pub fn met(&self, volts: f64) -> bool {
        if self.below {
            volts < self.volts.0
        } else {
            volts > self.volts.0
        }
    }
}

impl fmt::Display for Condition<Ready> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = if self.below { "below" } else { "above" };
        write!(f, "{} {side} {}", self.role, self.volts)?;
        if let Some(t) = self.settled {
            write!(f, " for {}", units::format_duration(t))?;
        }
        Ok(())
    }
}

/// What a `measure` step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Bus voltage.
    Voltage,
    /// Current.
    Current,
}

/// How a `measure` step over a window judges its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// Every sample in range (or the one reading, without a window).
    Every,
    /// The mean of the samples.
    Mean,
    /// The largest sample.
    Peak,
}

/// How an `expect` step judges its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing<T> {
    /// Read once, now.
    Now,
    /// Poll until the state is reached, failing after the time.
    Within(T),
    /// The state must hold at every sample for the whole time.
    For(T),
}

/// A word of a console command: text, or a secret named in the rig file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Sent as written.
    Text(String),
    /// `$NAME`: the secret's value is sent; reports show a redaction marker.
    Secret(String),
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Word::Text(t) => f.write_str(t),
            Word::Secret(s) => write!(f, "${s}"),
        }
    }
}

/// What an `estimate` step computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimate {
    /// Battery life from a kept standby current and a kept charge per operation.
    BatteryLife,
    /// Energy per hour from a kept mean current and voltage.
    EnergyPerHour,
}

/// One step, in phase `P`.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<P: Phase> {
    /// `set ROLE VOLTS [limit AMPS]`
    Set {
        /// Supply role.
        role: String,
        /// Voltage.
        volts: P::V,
        /// Current limit.
        limit: Option<P::A>,
    },
    /// `output ROLE on|off`
    Output {
        /// Supply role.
        role: String,
        /// On or off.
        on: bool,
    },
    /// `sag ROLE to VOLTS for TIME [times N] [recover TIME] [expecting reset]`
    Sag {
        /// Supply role.
        role: String,
        /// Sag voltage.
        to: P::V,
        /// Sag duration.
        hold: P::T,
        /// Repetitions.
        times: u32,
        /// Time after each restore.
        recover: Option<P::T>,
        /// Each sag must reset the board.
        expect_reset: bool,
    },
    /// `sag ROLE random to LOW..HIGH for LOW..HIGH [after LOW..HIGH] [times N]
    /// [recover TIME]`
    SagRandom {
        /// Supply role.
        role: String,
        /// The depths a sag is drawn from.
        depth: (P::V, P::V),
        /// The durations a sag is drawn from.
        hold: (P::T, P::T),
        /// The delays before each sag, from the step before (none: at once).
        after: Option<(P::T, P::T)>,
        /// Sags.
        times: u32,
        /// Time after each restore.
        recover: Option<P::T>,
    },
    /// `ramp ROLE to VOLTS over TIME`
    Ramp {
        /// Supply role.
        role: String,
        /// End voltage.
        to: P::V,
        /// Ramp time.
        over: P::T,
    },
    /// `noise ROLE around VOLTS by VOLTS every TIME for TIME`
    Noise {
        /// Supply role.
        role: String,
        /// Centre.
        around: P::V,
        /// Amplitude (+/-).
        by: P::V,
        /// Step interval.
        every: P::T,
        /// Total time.
        duration: P::T,
    },
    /// `shmoo ROLE from VOLTS to VOLTS step VOLTS durations T,T,... recover TIME
    /// [repeats N]`
    Shmoo {
        /// Supply role.
        role: String,
        /// First (shallowest) depth.
        from: P::V,
        /// Last (deepest) depth.
        to: P::V,
        /// Depth step.
        step: P::V,
        /// Sag durations.
        durations: Vec<P::T>,
        /// Recovery window after each cell.
        recover: P::T,
        /// Sags per cell: a boundary cell may reset the board some of the times.
        repeats: u32,
    },
    /// `wait TIME`
    Wait(P::T),
    /// `wait FRACTION of console EVENT to EVENT`
    WaitRate {
        /// Console role.
        role: String,
        /// The part of the span between the two events to wait, after the second.
        fraction: f64,
        /// The earlier event of the span.
        from: String,
        /// The later event, from which the wait counts.
        to: String,
    },
    /// `relay ROLE on|off`
    Relay {
        /// Switch role.
        role: String,
        /// Energised or released.
        on: bool,
    },
    /// `pulse ROLE for TIME`
    Pulse {
        /// Switch role.
        role: String,
        /// How long.
        duration: P::T,
    },
    /// `expect|control ROLE STATE [within|for TIME]`
    Expect {
        /// Input or console role.
        role: String,
        /// The state name.
        state: String,
        /// How to judge it.
        timing: Timing<P::T>,
        /// A positive control: failing it is a rig error, not a device failure.
        control: bool,
    },
    /// `watch ROLE STATE [while ...]`
    Watch {
        /// Input role.
        role: String,
        /// The state every sample must read.
        state: String,
        /// Only while the supply's line is in this condition (always when absent).
        when: Option<Condition<P>>,
    },
    /// `watch console never EVENT [while ...]`
    WatchConsole {
        /// Console role.
        role: String,
        /// The event that must not come.
        never: String,
        /// Only while the supply's line is in this condition (always when absent).
        when: Option<Condition<P>>,
    },
    /// `unwatch ROLE`
    Unwatch {
        /// The watched role.
        role: String,
    },
    /// `measure ROLE [mean|peak] current|voltage in RANGE [for TIME] [as NAME]`
    Measure {
        /// Meter role.
        role: String,
        /// How samples are judged.
        stat: Statistic,
        /// What to read.
        quantity: Quantity,
        /// Allowed range.
        range: P::R,
        /// Sampling window.
        window: Option<P::T>,
        /// Keep the result under this name.
        keep: Option<String>,
    },
    /// `send console WORDS... [expecting WORDS...]`
    Send {
        /// Console role.
        role: String,
        /// The command.
        words: Vec<Word>,
        /// The reply it must get.
        expecting: Option<String>,
    },
    /// `expect console ready within TIME`
    ConsoleReady {
        /// Console role.
        role: String,
        /// Deadline.
        within: P::T,
    },
    /// `expect console event EVENT within TIME`
    ConsoleEvent {
        /// Console role.
        role: String,
        /// The event's text (a prefix of the line after the uptime).
        event: String,
        /// Deadline.
        within: P::T,
    },
    /// `expect console event EVENT at VOLTS +- VOLTS`
    ConsoleEventAt {
        /// Console role.
        role: String,
        /// The event.
        event: String,
        /// The rail voltage it must come at.
        at: P::V,
        /// Tolerance.
        tolerance: P::V,
    },
    /// `estimate battery_life|energy_per_hour from NAME [and NAME] [at least TIME]`
    Estimate {
        /// What to compute.
        what: Estimate,
        /// The kept measurements it uses.
        from: Vec<String>,
        /// The least acceptable result.
        at_least: Option<P::T>,
    },
}

/// The kind of quantity a position in a step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Volts.
    Volts,
    /// Amperes.
    Amps,
    /// A duration.
    Time,
}

impl<P: Phase> Step<P> {
    /// The step's verb as written.
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Set { .. } => "set",
            Step::Output { .. } => "output",
            Step::Sag { .. } | Step::SagRandom { .. } => "sag",
            Step::Ramp { .. } => "ramp",
            Step::Noise { .. } => "noise",
            Step::Shmoo { .. } => "shmoo",
            Step::Wait(_) | Step::WaitRate { .. } => "wait",
            Step::Relay { .. } => "relay",
            Step::Pulse { .. } => "pulse",
            Step::Expect { control: true, .. } => "control",
            Step::Expect { .. }
            | Step::ConsoleReady { .. }
            | Step::ConsoleEvent { .. }
            | Step::ConsoleEventAt { .. } => "expect",
            Step::Watch { .. } | Step::WatchConsole { .. } => "watch",
            Step::Unwatch { .. } => "unwatch",
            Step::Measure { .. } => "measure",
            Step::Send { .. } => "send",
            Step::Estimate { .. } => "estimate",
        }
    }

    /// The role the step acts on, if any.
    pub fn role(&self) -> Option<&str> {
        match self {
            Step::Set { role, .. }
            | Step::Output { role, .. }
            | Step::Sag { role, .. }
            | Step::SagRandom { role, .. }
            | Step::Ramp { role, .. }
            | Step::Noise { role, .. }
            | Step::Shmoo { role, .. }
            | Step::Relay { role, .. }
            | Step::Pulse { role, .. }
            | Step::Expect { role, .. }
            | Step::Watch { role, .. }
            | Step::WatchConsole { role, .. }
            | Step::Unwatch { role }
            | Step::Measure { role, .. }
            | Step::Send { role, .. }
            | Step::ConsoleReady { role, .. }
            | Step::ConsoleEvent { role, .. }
            | Step::ConsoleEventAt { role, .. }
            | Step::WaitRate { role, .. } => Some(role),
            Step::Wait(_) | Step::Estimate { .. } => None,
        }
    }
}

/// A parse error at a byte offset within the step text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// Byte offset of the offending word.
    pub offset: usize,
    /// What was expected.
    pub message: String,
}

/// Words of a step with their byte offsets.
struct Words<'a> {
    words: Vec<(usize, &'a str)>,
    next: usize,
    end: usize,
}

const VERBS: &str = "set, output, sag, ramp, noise, shmoo, wait, relay, pulse, expect, control, watch, unwatch, measure, send, estimate";

fn starts_numeric(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

fn is_name(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    words.push((s, &text[s..i]));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push((s, &text[s..]));
        }
        Self {
            words,
            next: 0,
            end: text.len(),
        }
    }

    fn offset(&self) -> usize {
        self.words.get(self.next).map_or(self.end, |w| w.0)
    }

    fn error(&self, at: usize, message: String) -> StepError {
        StepError {
            offset: at,
            message,
        }
    }

    fn next(&mut self, what: &str) -> Result<&'a str, StepError> {
        let w = self.words.get(self.next).ok_or_else(|| {
            self.error(
                self.end,
                format!("expected {what}, found the end of the step"),
            )
        })?;
        self.next += 1;
        Ok(w.1)
    }

    fn peek(&self) -> Option<&'a str> {
        self.peek_at(0)
    }

    /// The word `n` after the next one.
    fn peek_at(&self, n: usize) -> Option<&'a str> {
        self.words.get(self.next + n).map(|w| w.1)
    }

    /// Consumes `kw` if it is next.
    fn take(&mut self, kw: &str) -> bool {
        if self.peek() == Some(kw) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), StepError> {
        let at = self.offset();
        let w = self.next(&format!("`{kw}`"))?;
        if w == kw {
            Ok(())
        } else {
            Err(self.error(at, format!("expected `{kw}`, found `{w}`")))
        }
    }

    fn one_of<T: Copy>(&mut self, what: &str, choices: &[(&str, T)]) -> Result<T, StepError> {
        let at = self.offset();
        let w = self.next(what)?;
        choices
            .iter()
            .find(|(n, _)| *n == w)
            .map(|(_, v)| *v)
            .ok_or_else(|| self.error(at, format!("expected {what}, found `{w}`")))
    }

    fn on_off(&mut self) -> Result<bool, StepError> {
        self.one_of("`on` or `off`", &[("on", true), ("off", false)])
    }

    fn role(&mut self, what: &str) -> Result<String, StepError> {
        let at = self.offset();
        let w = self.next(what)?;
        if is_name(w) {
            Ok(w.to_string())
        } else {
            Err(self.error(at, format!("expected {what}, found `{w}`")))
        }
    }

    /// One term: `LITERAL`, `NAME`, or `NAME * FACTOR`.
    fn term(&mut self, what: &str) -> Result<Term, StepError> {
        let at = self.offset();
        let w = self.next(what)?;
        if starts_numeric(w) {
            return Ok(Term::Literal(w.to_string()));
        }
        if !is_name(w) {
            return Err(self.error(at, format!("expected {what}, found `{w}`")));
        }
        let mut factor = 1.0;
        if self.take("*") {
            let f_at = self.offset();
            let f = self.next("a plain number after `*`")?;
            factor = f
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .ok_or_else(|| {
                    self.error(
                        f_at,
                        format!("expected a plain number after `*`, like `0.5`, found `{f}`"),
                    )
                })?;
        }
        Ok(Term::Named {
            name: w.to_string(),
            factor,
        })
    }

    /// An expression: terms joined by `+` and `-`.
    fn expr(&mut self, what: &str) -> Result<Expr, StepError> {
        let mut terms = vec![(false, self.term(what)?)];
        loop {
            let negated = match self.peek() {
                Some("+") => false,
                Some("-") => true,
                _ => break,
            };
            self.next += 1;
            terms.push((negated, self.term("a value after the sign")?));
        }
        Ok(Expr { terms })
    }

    fn count(&mut self) -> Result<u32, StepError> {
        let at = self.offset();
        let w = self.next("a count")?;
        w.parse::<u32>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| {
                self.error(
                    at,
                    format!("expected a count from 1 to 100000, found `{w}`"),
                )
            })
    }

    /// The remaining words up to (not including) `stop`, joined by spaces.
    fn text_until(&mut self, what: &str, stop: &[&str]) -> Result<String, StepError> {
        let at = self.offset();
        let mut words = Vec::new();
        while let Some(w) = self.peek() {
            if stop.contains(&w) {
                break;
            }
            words.push(w);
            self.next += 1;
        }
        if words.is_empty() {
            return Err(self.error(at, format!("expected {what}")));
        }
        Ok(words.join(" "))
    }

    /// `[while ROLE above|below VOLTS [for TIME]]`
    fn condition(&mut self) -> Result<Option<Condition<Parsed>>, StepError> {
        if !self.take("while") {
            return Ok(None);
        }
        let role = self.role("a supply role, like `main`")?;
        let below = self.one_of("`above` or `below`", &[("above", false), ("below", true)])?;
        let volts = self.expr("a voltage")?;
        let settled = if self.take("for") {
            Some(self.expr("a duration")?)
        } else {
            None
        };
        Ok(Some(Condition {
            role,
            below,
            volts,
            settled,
        }))
    }

    fn timing(&mut self) -> Result<Timing<Expr>, StepError> {
        Ok(if self.take("within") {
            Timing::Within(self.expr("a duration")?)
        } else if self.take("for") {
            Timing::For(self.expr("a duration")?)
        } else {
            Timing::Now
        })
    }

    fn range(&mut self) -> Result<RangeExpr, StepError> {
        let at = self.offset();
        let r = self.next("a range (a profile range name or LOW..HIGH)")?;
        let bound = |b: &str| {
            Expr::term(if starts_numeric(b) {
                Term::Literal(b.into())
            } else {
                Term::Named {
                    name: b.into(),
                    factor: 1.0,
                }
            })
        };
        match r.split_once("..") {
            Some((lo, hi)) if [lo, hi].iter().all(|b| starts_numeric(b) || is_name(b)) => {
                Ok(RangeExpr::Between(bound(lo), bound(hi)))
            }
            None if is_name(r) => Ok(RangeExpr::Named(r.to_string())),
            _ => Err(self.error(
                at,
                format!("expected a range name or LOW..HIGH, found `{r}`"),
            )),
        }
    }

    /// `LOW..HIGH`, each bound a literal or a profile name.
    fn bounds(&mut self, what: &str) -> Result<(Expr, Expr), StepError> {
        let at = self.offset();
        match self.range()? {
            RangeExpr::Between(lo, hi) => Ok((lo, hi)),
            RangeExpr::Named(n) => Err(self.error(at, format!("expected {what}, found `{n}`"))),
        }
    }

    fn done(&self) -> Result<(), StepError> {
        match self.words.get(self.next) {
            None => Ok(()),
            Some((at, w)) => {
                Err(self.error(*at, format!("unexpected `{w}` at the end of the step")))
            }
        }
    }
}

/// Parses one step.
pub fn parse(text: &str) -> Result<Step<Parsed>, StepError> {
    let mut w = Words::new(text);
    let at = w.offset();
    let verb = w.next(&format!("a step ({VERBS})"))?;
    let step = match verb {
        "set" => {
            let role = w.role("a supply role")?;
            let volts = w.expr("a voltage")?;
            let limit = if w.take("limit") {
                Some(w.expr("a current limit")?)
            } else {
                None
            };
            Step::Set { role, volts, limit }
        }
        "output" => Step::Output {
            role: w.role("a supply role")?,
            on: w.on_off()?,
        },
        "sag" if w.peek_at(1) == Some("random") => {
            let role = w.role("a supply role")?;
            w.keyword("random")?;
            w.keyword("to")?;
            let depth = w.bounds("a voltage range LOW..HIGH")?;
            w.keyword("for")?;
            let hold = w.bounds("a duration range LOW..HIGH")?;
            let after = if w.take("after") {
                Some(w.bounds("a duration range LOW..HIGH")?)
            } else {
                None
            };
            let times = if w.take("times") { w.count()? } else { 1 };
            let recover = if w.take("recover") {
                Some(w.expr("a duration")?)
            } else {
                None
            };
            Step::SagRandom {
                role,
                depth,
                hold,
                after,
                times,
                recover,
            }
        }
        "sag" => {
            let role = w.role("a supply role")?;
            w.keyword("to")?;
            let to = w.expr("a voltage")?;
            w.keyword("for")?;
            let hold = w.expr("a duration")?;
            let times = if w.take("times") { w.count()? } else { 1 };
            let recover = if w.take("recover") {
                Some(w.expr("a duration")?)
            } else {
                None
            };
            let expect_reset = if w.take("expecting") {
                w.keyword("reset")?;
                true
            } else {
                false
            };
            Step::Sag {
                role,
                to,
                hold,
                times,
                recover,
                expect_reset,
            }
        }
        "ramp" => {
            let role = w.role("a supply role")?;
            w.keyword("to")?;
            let to = w.expr("a voltage")?;
            w.keyword("over")?;
            Step::Ramp {
                role,
                to,
                over: w.expr("a duration")?,
            }
        }
        "noise" => {
            let role = w.role("a supply role")?;
            w.keyword("around")?;
            let around = w.expr("a voltage")?;
            w.keyword("by")?;
            let by = w.expr("a voltage")?;
            w.keyword("every")?;
            let every = w.expr("a duration")?;
            w.keyword("for")?;
            Step::Noise {
                role,
                around,
                by,
                every,
                duration: w.expr("a duration")?,
            }
        }
        "shmoo" => {
            let role = w.role("a supply role")?;
            w.keyword("from")?;
            let from = w.expr("a voltage")?;
            w.keyword("to")?;
            let to = w.expr("a voltage")?;
            w.keyword("step")?;
            let step = w.expr("a voltage")?;
            w.keyword("durations")?;
            let list_at = w.offset();
            let list = w.next("durations separated by commas, like 100ms,500ms,2s")?;
            let mut durations = Vec::new();
            for d in list.split(',') {
                let mut one = Words::new(d);
                let e = one
                    .expr("a duration")
                    .map_err(|e| w.error(list_at, e.message))?;
                one.done().map_err(|e| w.error(list_at, e.message))?;
                durations.push(e);
            }
            w.keyword("recover")?;
            let recover = w.expr("a duration")?;
            let repeats = if w.take("repeats") { w.count()? } else { 1 };
            Step::Shmoo {
                role,
                from,
                to,
                step,
                durations,
                recover,
                repeats,
            }
        }
        "wait" if w.peek_at(1) == Some("of") => {
            let at = w.offset();
            let f = w.next("a fraction")?;
            let fraction = f
                .parse::<f64>()
                .ok()
                // Below 1: the moment comes before the next stage the board would
                // report, whose early arrival shows a changed rate; a later moment
                // is timed from that stage's own events.
                .filter(|f| f.is_finite() && *f > 0.0 && *f < 1.0)
                .ok_or_else(|| {
                    w.error(
                        at,
                        format!("expected a plain number above 0 and below 1, like `0.6` (time later moments from later events), found `{f}`"),
                    )
                })?;
            w.keyword("of")?;
            let role = w.role("a console role")?;
            let from = w.text_until("an event, like `UPDATE 50%`", &["to"])?;
            w.keyword("to")?;
            Step::WaitRate {
                role,
                fraction,
                from,
                to: w.text_until("an event, like `UPDATE 75%`", &[])?,
            }
        }
        "wait" => Step::Wait(w.expr("a duration")?),
        "relay" => Step::Relay {
            role: w.role("a switch role")?,
            on: w.on_off()?,
        },
        "pulse" => {
            let role = w.role("a switch role")?;
            w.keyword("for")?;
            Step::Pulse {
                role,
                duration: w.expr("a duration")?,
            }
        }
        "expect" | "control" => {
            let role = w.role("an input role or a console")?;
            let control = verb == "control";
            match w.peek() {
                Some("ready") if !control => {
                    w.next += 1;
                    w.keyword("within")?;
                    Step::ConsoleReady {
                        role,
                        within: w.expr("a duration")?,
                    }
                }
                Some("event") if !control => {
                    w.next += 1;
                    let event = w.text_until("an event, like `BOOT`", &["within", "at"])?;
                    if w.take("within") {
                        Step::ConsoleEvent {
                            role,
                            event,
                            within: w.expr("a duration")?,
                        }
                    } else {
                        w.keyword("at")?;
                        let at = w.expr("a voltage")?;
                        w.keyword("+-")?;
                        Step::ConsoleEventAt {
                            role,
                            event,
                            at,
                            tolerance: w.expr("a voltage")?,
                        }
                    }
                }
                _ => {
                    let state = w.role("a state name")?;
                    Step::Expect {
                        role,
                        state,
                        timing: w.timing()?,
                        control,
                    }
                }
            }
        }
        "watch" => {
            let role = w.role("an input role or a console")?;
            if w.take("never") {
                Step::WatchConsole {
                    role,
                    never: w.text_until("an event, like `UNLOCKED`", &["while"])?,
                    when: w.condition()?,
                }
            } else {
                Step::Watch {
                    role,
                    state: w.role("a state name")?,
                    when: w.condition()?,
                }
            }
        }
        "unwatch" => Step::Unwatch {
            role: w.role("a watched role")?,
        },
        "measure" => {
            let role = w.role("a meter role")?;
            {
                let stat = if w.take("mean") {
                    Statistic::Mean
                } else if w.take("peak") {
                    Statistic::Peak
                } else {
                    Statistic::Every
                };
                let quantity = w.one_of(
                    "`current` or `voltage`",
                    &[
                        ("current", Quantity::Current),
                        ("voltage", Quantity::Voltage),
                    ],
                )?;
                w.keyword("in")?;
                let range = w.range()?;
                let window = if w.take("for") {
                    Some(w.expr("a duration")?)
                } else {
                    None
                };
                if stat != Statistic::Every && window.is_none() {
                    return Err(w.error(
                        w.end,
                        "a mean or a peak needs a window: add `for TIME`".into(),
                    ));
                }
                let keep = if w.take("as") {
                    Some(w.role("a name to keep it under")?)
                } else {
                    None
                };
                Step::Measure {
                    role,
                    stat,
                    quantity,
                    range,
                    window,
                    keep,
                }
            }
        }
        "send" => {
            let role = w.role("a console role")?;
            let at = w.offset();
            let words = w
                .text_until("a command", &["expecting"])?
                .split(' ')
                .map(|t| match t.strip_prefix('$') {
                    Some(name) => Word::Secret(name.to_string()),
                    None => Word::Text(t.to_string()),
                })
                .collect::<Vec<_>>();
            if let Some(Word::Secret(bad)) = words
                .iter()
                .find(|x| matches!(x, Word::Secret(n) if !is_name(n)))
            {
                return Err(w.error(
                    at,
                    format!("expected a secret name after `$`, found `${bad}`"),
                ));
            }
            let expecting = if w.take("expecting") {
                Some(w.text_until("the reply", &[])?)
            } else {
                None
            };
            Step::Send {
                role,
                words,
                expecting,
            }
        }
        "estimate" => {
            let what = w.one_of(
                "`battery_life` or `energy_per_hour`",
                &[
                    ("battery_life", Estimate::BatteryLife),
                    ("energy_per_hour", Estimate::EnergyPerHour),
                ],
            )?;
            w.keyword("from")?;
            let mut from = vec![w.role("a kept measurement")?];
            if w.take("and") {
                from.push(w.role("a kept measurement")?);
            }
            let needs = match what {
                Estimate::BatteryLife => 2,
                Estimate::EnergyPerHour => 1,
            };
            if from.len() != needs {
                return Err(w.error(
                    at,
                    format!(
                        "`estimate` of this kind takes {needs} kept measurement(s) after `from`"
                    ),
                ));
            }
            let at_least = if w.take("at") {
                w.keyword("least")?;
                Some(w.expr("a duration")?)
            } else {
                None
            };
            Step::Estimate {
                what,
                from,
                at_least,
            }
        }
        other => {
            return Err(w.error(
                at,
                format!("unknown step `{other}`, expected one of: {VERBS}"),
            ))
        }
    };
    w.done()?;
    Ok(step)
}

impl Step<Parsed> {
    /// Every value of the step with the kind of quantity its position takes.
    pub fn values(&self) -> Vec<(&Expr, Kind)> {
        let mut v = Vec::new();
        match self {
            Step::Set { volts, limit, .. } => {
                v.push((volts, Kind::Volts));
                v.extend(limit.iter().map(|l| (l, Kind::Amps)));
            }
            Step::Sag {
                to, hold, recover, ..
            } => {
                v.push((to, Kind::Volts));
                v.push((hold, Kind::Time));
                v.extend(recover.iter().map(|r| (r, Kind::Time)));
            }
            Step::SagRandom {
                depth,
                hold,
                after,
                recover,
                ..
            } => {
                v.extend([
                    (&depth.0, Kind::Volts),
                    (&depth.1, Kind::Volts),
                    (&hold.0, Kind::Time),
                    (&hold.1, Kind::Time),
                ]);
                if let Some(a) = after {
                    v.extend([(&a.0, Kind::Time), (&a.1, Kind::Time)]);
                }
                v.extend(recover.iter().map(|r| (r, Kind::Time)));
            }
            Step::Ramp { to, over, .. } => v.extend([(to, Kind::Volts), (over, Kind::Time)]),
            Step::Noise {
                around,
                by,
                every,
                duration,
                ..
            } => v.extend([
                (around, Kind::Volts),
                (by, Kind::Volts),
                (every, Kind::Time),
                (duration, Kind::Time),
            ]),
            Step::Shmoo {
                from,
                to,
                step,
                durations,
                recover,
                ..
            } => {
                v.extend([(from, Kind::Volts), (to, Kind::Volts), (step, Kind::Volts)]);
                v.extend(durations.iter().map(|d| (d, Kind::Time)));
                v.push((recover, Kind::Time));
            }
            Step::Wait(t) | Step::Pulse { duration: t, .. } => v.push((t, Kind::Time)),
            Step::Expect {
                timing: Timing::Within(t) | Timing::For(t),
                ..
            } => v.push((t, Kind::Time)),
            Step::Measure {
                range,
                window,
                quantity,
                ..
            } => {
                if let RangeExpr::Between(lo, hi) = range {
                    let k = match quantity {
                        Quantity::Current => Kind::Amps,
                        Quantity::Voltage => Kind::Volts,
                    };
                    v.extend([(lo, k), (hi, k)]);
                }
                v.extend(window.iter().map(|w| (w, Kind::Time)));
            }
            Step::ConsoleReady { within, .. } | Step::ConsoleEvent { within, .. } => {
                v.push((within, Kind::Time))
            }
            Step::ConsoleEventAt { at, tolerance, .. } => {
                v.extend([(at, Kind::Volts), (tolerance, Kind::Volts)])
            }
            Step::Estimate { at_least, .. } => v.extend(at_least.iter().map(|t| (t, Kind::Time))),
            Step::Watch { when: Some(c), .. } | Step::WatchConsole { when: Some(c), .. } => {
                v.push((&c.volts, Kind::Volts));
                v.extend(c.settled.iter().map(|t| (t, Kind::Time)));
            }
            Step::Output { .. }
            | Step::WaitRate { .. }
            | Step::Relay { .. }
            | Step::Expect { .. }
            | Step::Watch { .. }
            | Step::WatchConsole { .. }
            | Step::Unwatch { .. }
            | Step::Send { .. } => {}
        }
        v
    }
}

/// Checks a literal against the unit its position needs, so unit mistakes surface at load.
pub fn check_literal(lit: &str, kind: Kind) -> Result<(), String> {
    match kind {
        Kind::Volts => Volts::parse(lit).map(|_| ()).map_err(|e| e.to_string()),
        Kind::Amps => Amps::parse(lit).map(|_| ()).map_err(|e| e.to_string()),
        Kind::Time => units::parse_duration(lit)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

impl fmt::Display for Step<Ready> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = |t: &Duration| units::format_duration(*t);
        let on = |b: &bool| if *b { "on" } else { "off" };
        match self {
            Step::Set {
                role,
                volts,
                limit: Some(a),
            } => write!(f, "set {role} {volts} limit {a}"),
            Step::Set { role, volts, .. } => write!(f, "set {role} {volts}"),
            Step::Output { role, on: o } => write!(f, "output {role} {}", on(o)),
            Step::Sag {
                role,
                to,
                hold,
                times,
                recover,
                expect_reset,
            } => {
                write!(f, "sag {role} to {to} for {}", d(hold))?;
                if *times > 1 {
                    write!(f, " times {times}")?;
                }
                if let Some(r) = recover {
                    write!(f, " recover {}", d(r))?;
                }
                if *expect_reset {
                    write!(f, " expecting reset")?;
                }
                Ok(())
            }
            Step::SagRandom {
                role,
                depth,
                hold,
                after,
                times,
                recover,
            } => {
                write!(
                    f,
                    "sag {role} random to {}..{} for {}..{}",
                    depth.0,
                    depth.1,
                    d(&hold.0),
                    d(&hold.1)
                )?;
                if let Some((a, b)) = after {
                    write!(f, " after {}..{}", d(a), d(b))?;
                }
                if *times > 1 {
                    write!(f, " times {times}")?;
                }
                if let Some(r) = recover {
                    write!(f, " recover {}", d(r))?;
                }
                Ok(())
            }
            Step::Ramp { role, to, over } => write!(f, "ramp {role} to {to} over {}", d(over)),
            Step::Noise {
                role,
                around,
                by,
                every,
                duration,
            } => write!(
                f,
                "noise {role} around {around} by {by} every {} for {}",
                d(every),
                d(duration)
            ),
            Step::Shmoo {
                role,
                from,
                to,
                step,
                durations,
                recover,
                repeats,
            } => {
                write!(
                    f,
                    "shmoo {role} from {from} to {to} step {step} durations {} recover {}",
                    durations.iter().map(d).collect::<Vec<_>>().join(","),
                    d(recover)
                )?;
                if *repeats > 1 {
                    write!(f, " repeats {repeats}")?;
                }
                Ok(())
            }
            Step::Wait(t) => write!(f, "wait {}", d(t)),
            Step::Relay { role, on: o } => write!(f, "relay {role} {}", on(o)),
            Step::Pulse { role, duration } => write!(f, "pulse {role} for {}", d(duration)),
            Step::Expect {
                role,
                state,
                timing,
                control,
            } => {
                let verb = if *control { "control" } else { "expect" };
                match timing {
                    Timing::Now => write!(f, "{verb} {role} {state}"),
                    Timing::Within(t) => write!(f, "{verb} {role} {state} within {}", d(t)),
                    Timing::For(t) => write!(f, "{verb} {role} {state} for {}", d(t)),
                }
            }
            Step::Watch { role, state, when } => {
                write!(f, "watch {role} {state}")?;
                if let Some(c) = when {
                    write!(f, " while {c}")?;
                }
                Ok(())
            }
            Step::WatchConsole { role, never, when } => {
                write!(f, "watch {role} never {never}")?;
                if let Some(c) = when {
                    write!(f, " while {c}")?;
                }
                Ok(())
            }
            Step::Unwatch { role } => write!(f, "unwatch {role}"),
            Step::Measure {
                role,
                stat,
                quantity,
                range: (lo, hi),
                window,
                keep,
            } => {
                let stat = match stat {
                    Statistic::Every => "",
                    Statistic::Mean => "mean ",
                    Statistic::Peak => "peak ",
                };
                let (q, lo, hi) = match quantity {
                    Quantity::Current => ("current", Amps(*lo).to_string(), Amps(*hi).to_string()),
                    Quantity::Voltage => {
                        ("voltage", Volts(*lo).to_string(), Volts(*hi).to_string())
                    }
                };
                write!(f, "measure {role} {stat}{q} in {lo}..{hi}")?;
                if let Some(w) = window {
                    write!(f, " for {}", d(w))?;
                }
                if let Some(k) = keep {
                    write!(f, " as {k}")?;
                }
                Ok(())
            }
            Step::Send {
                role,
                words,
                expecting,
            } => {
                let cmd = words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
                write!(f, "send {role} {}", cmd.join(" "))?;
                match expecting {
                    Some(e) => write!(f, " expecting {e}"),
                    None => Ok(()),
                }
            }
            Step::ConsoleReady { role, within } => {
                write!(f, "expect {role} ready within {}", d(within))
            }
            Step::WaitRate {
                role,
                fraction,
                from,
                to,
            } => write!(f, "wait {fraction} of {role} {from} to {to}"),
            Step::ConsoleEvent {
                role,
                event,
                within,
            } => write!(f, "expect {role} event {event} within {}", d(within)),
            Step::ConsoleEventAt {
                role,
                event,
                at,
                tolerance,
            } => write!(f, "expect {role} event {event} at {at} +- {tolerance}"),
            Step::Estimate {
                what,
                from,
                at_least,
            } => {
                let what = match what {
                    Estimate::BatteryLife => "battery_life",
                    Estimate::EnergyPerHour => "energy_per_hour",
                };
                write!(f, "estimate {what} from {}", from.join(" and "))?;
                match at_least {
                    Some(t) => write!(f, " at least {}", d(t)),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Term {
        Term::Named {
            name: name.into(),
            factor: 1.0,
        }
    }

    #[test]
    fn a_wait_timed_by_the_boards_rate_parses() {
        let text = "wait 0.8 of console UPDATE 50% to UPDATE 75%";
        let step = parse(text).unwrap();
        assert_eq!(
            step,
            Step::WaitRate {
                role: "console".into(),
                fraction: 0.8,
                from: "UPDATE 50%".into(),
                to: "UPDATE 75%".into(),
            }
        );
        // A plain wait is still one.
        assert!(matches!(parse("wait 2s").unwrap(), Step::Wait(_)));
        for (bad, at, what) in [
            ("wait 0 of console A to B", 5, "above 0 and below 1"),
            ("wait 1.5 of console A to B", 5, "above 0 and below 1"),
            ("wait 0.5 of console A B", 23, "`to`"),
            ("wait 0.5 of console to B", 20, "an event"),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.offset, at, "{bad}: {e}");
            assert!(e.message.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_expressions_with_sums_and_factors() {
        let Step::Sag { to, hold, .. } = parse("sag main to reset_below - 1.0V for 2s").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            to.terms,
            [
                (false, named("reset_below")),
                (true, Term::Literal("1.0V".into()))
            ]
        );
        assert_eq!(hold.terms, [(false, Term::Literal("2s".into()))]);
        let Step::Wait(t) = parse("wait ready_within + actuation_within + 500ms").unwrap() else {
            panic!()
        };
        assert_eq!(t.terms.len(), 3);
        let Step::Noise { by, .. } =
            parse("noise main around min_operating by min_operating * 0.1 every 500ms for 10s")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            by.terms,
            [(
                false,
                Term::Named {
                    name: "min_operating".into(),
                    factor: 0.1
                }
            )]
        );
    }

    #[test]
    fn a_random_sag_takes_ranges_and_says_what_it_expected() {
        let Step::SagRandom {
            depth, hold, after, ..
        } = parse("sag main random to 0V..min_operating for 2s..4s after 0ms..3s").unwrap()
        else {
            panic!()
        };
        assert_eq!(depth.1.terms, [(false, named("min_operating"))]);
        assert_eq!(hold.0.terms, [(false, Term::Literal("2s".into()))]);
        assert!(after.is_some());
        let e = parse("sag main random to 2V for 1s..2s").unwrap_err();
        assert!(e.message.contains("LOW..HIGH"), "{}", e.message);
        let e = parse("sag main random to 1V..2V for holding_current").unwrap_err();
        assert!(e.message.contains("a duration range"), "{}", e.message);
    }

    #[test]
    fn parses_every_verb() {
        for text in [
            "set main nominal limit current_limit",
            "output main on",
            "sag main to 2V for 2s times 3 recover 3s expecting reset",
            "sag main random to 0V..min_operating for 2s..4s after 0ms..3s times 6 recover 10s",
            "sag main random to 1V..2V for 500ms..1s",
            "shmoo main from 3V to 1V step 1V durations 100ms,1s recover 5s repeats 4",
            "ramp main to battery_cutoff - 0.3V over 2min",
            "noise main around min_operating by 0.5V every 500ms for 10s",
            "shmoo main from 4V to 2V step 0.5V durations 100ms,2s recover 3s",
            "wait 2s",
            "relay door_push on",
            "pulse rex_button for 500ms",
            "expect door_position open within release_within",
            "control door_position open within 2s",
            "watch door_position closed",
            "watch console never UNLOCKED",
            "watch latch_sensor engaged while main above min_operating for relock_within",
            "watch console never UNLOCKED while main below battery_cutoff - 0.1V",
            "unwatch door_position",
            "measure main_meter current in holding_current",
            "measure main_meter mean current in standby_current for 2s as standby",
            "measure main_meter peak current in 20mA..actuation_peak for 2s",
            "send console UNLOCK $credential expecting OK",
            "expect console ready within ready_within",
            "expect console event BOOT within 2s",
            "expect console event LOWBAT 1 at lowbat_1 +- battery_tolerance",
            "estimate battery_life from standby and unlock at least battery_life",
            "estimate energy_per_hour from holding",
        ] {
            let step = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(text.split(' ').next().unwrap(), step.verb(), "{text}");
        }
        assert_eq!(
            parse("send console UNLOCK $credential expecting OK").unwrap(),
            Step::Send {
                role: "console".into(),
                words: vec![
                    Word::Text("UNLOCK".into()),
                    Word::Secret("credential".into())
                ],
                expecting: Some("OK".into()),
            }
        );
    }

    #[test]
    fn a_watch_takes_a_condition_of_a_supply_line() {
        let Step::WatchConsole { never, when, .. } =
            parse("watch console never LOWBAT 2 while main above 4V for 1s").unwrap()
        else {
            panic!()
        };
        assert_eq!(never, "LOWBAT 2");
        let c = when.unwrap();
        assert_eq!((c.role.as_str(), c.below), ("main", false));
        assert_eq!(
            c.settled.unwrap().terms,
            [(false, Term::Literal("1s".into()))]
        );
        let e = parse("watch latch_sensor engaged while main under 4V").unwrap_err();
        assert_eq!(e.offset, "watch latch_sensor engaged while main ".len());
        assert!(e.message.contains("`above` or `below`"), "{e}");
        let e = parse("watch latch_sensor engaged while main below").unwrap_err();
        assert!(e.message.contains("a voltage"), "{e}");
        let ready = Condition::<Ready> {
            role: "main".into(),
            below: true,
            volts: Volts(4.2),
            settled: Some(Duration::from_millis(1500)),
        };
        assert_eq!(ready.to_string(), "main below 4.2V for 1.5s");
        assert!(ready.met(4.19) && !ready.met(4.2));
    }

    #[test]
    fn errors_point_at_the_offending_word() {
        let e = parse("relay door_push maybe").unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("`on` or `off`"));
        let e = parse("frobnicate main").unwrap_err();
        assert_eq!(e.offset, 0);
        let e = parse("wait 2s extra").unwrap_err();
        assert_eq!(e.offset, 8);
        let e = parse("sag main 2V for 1s").unwrap_err();
        assert!(e.message.contains("expected `to`"));
        let e = parse("noise main around min_operating by min_operating * x every 1s for 1s")
            .unwrap_err();
        assert!(e.message.contains("plain number"), "{e}");
        let e = parse("measure main_meter mean current in standby_current").unwrap_err();
        assert!(e.message.contains("window"), "{e}");
        let e = parse("sag main to 2V for 1s times 0").unwrap_err();
        assert!(e.message.contains("count"), "{e}");
    }
}
