//! Watches that hold under a condition of a supply's line, across channels: `watch
//! latch_sensor engaged while main above min_operating for relock_within`, `watch
//! console never UNLOCKED while main below battery_cutoff`.
//!
//! In a check with such a watch, the meter on the supply's line is read from the check's
//! first step to its last, at every poll (and after every sample of a watched input), or
//! on a bench in real time captured at its own rate. A sample (stamped when its read
//! began), an edge, or a board event is judged against the readings either side of it:
//! - the condition certainly held: every reading from the last one at or before the
//!   settling time through the first one at or after the moment meets it, none further
//!   apart than a poll and a half;
//! - it certainly did not: a reading in between misses it, or every reading from the one
//!   before to the one after does;
//! - the meter cannot tell: the line crossed the level somewhere between two readings,
//!   or the meter was not read for longer than a poll and a half.
//!
//! Only a violation while the condition certainly held fails. One where the meter cannot
//! tell is counted and said, not judged: the lock may rightly follow its supply as soon
//! as the line crosses, before the meter's next reading shows it, so judging those would
//! fail correct locks. What escapes is a violation within one meter reading of the
//! crossing for an input (the poll's resolution, as for any watch), and within the span
//! its time is known to for a board event (a line the board's clock places, at once; one
//! stamped when read, since the console's read before). A watch passes only if its
//! condition certainly held over some time and it judged samples then; one whose
//! condition never held asserted nothing, and that is a rig error, not a pass.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Run, Stop};
use crate::scenario::step::{Condition, Ready};
use crate::units::{self, Volts};

/// How much of a line's past is kept beyond the check's longest settling time: samples,
/// edges and board events are judged within a poll or a console read of happening.
const KEEP: Duration = Duration::from_secs(2);

/// The readings of one supply's line, from the check's start.
#[derive(Debug)]
pub(super) struct Line {
    /// The supply role.
    pub supply: String,
    /// The meter on its line.
    pub meter: String,
    /// How far apart two readings may be and still speak for the time between (a poll
    /// and a half).
    pub gap: Duration,
    /// How much of the past is kept: the longest settling time on this line, and more.
    pub keep: Duration,
    /// (when the reading began, volts), oldest first.
    pub readings: VecDeque<(Duration, f64)>,
}

/// Whether a condition held at a moment, by the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    Yes,
    /// The line crossed the level between the readings either side.
    Unsure,
    No,
}

/// A condition's verdict at a moment, with the readings either side.
#[derive(Debug, Clone, Copy)]
pub(super) struct Judged {
    pub held: Held,
    pub before: Option<(Duration, f64)>,
    pub after: Option<(Duration, f64)>,
}

impl Judged {
    /// The readings that decided, for a lab note (times from the watch's start).
    pub fn evidence(&self, origin: Duration) -> String {
        let r = |(at, v): (Duration, f64)| match at.checked_sub(origin) {
            Some(t) => format!("{} at {}", Volts(v), units::format_duration(t)),
            None => format!(
                "{} {} before the watch",
                Volts(v),
                units::format_duration(origin - at)
            ),
        };
        match (self.before, self.after) {
            (Some(b), Some(a)) => format!("the meter read {} and {}", r(b), r(a)),
            (None, Some(a)) => format!("the meter read {}, nothing earlier", r(a)),
            (Some(b), None) => format!("the meter read {}, nothing later", r(b)),
            (None, None) => "no reading".into(),
        }
    }
}

/// A conditional watch's account: what it judged and what it let pass.
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    /// Samples (or, for the console, readings) taken while the condition certainly held.
    pub judged: u64,
    /// Samples taken while it certainly did not hold.
    pub outside: u64,
    /// Samples (or events) at the condition's edge, where the meter could not tell.
    pub unsure: u64,
    /// Time the condition certainly held, between readings that both say so.
    pub held_for: Duration,
    /// The readings while it held: lowest and highest.
    pub span: Option<(f64, f64)>,
    /// Readings of the line while the watch ran.
    pub readings: u64,
    /// When the last reading was judged to hold.
    last_held: Option<Duration>,
}

impl Tally {
    /// Counts a reading of the line at `at`, judged `held`.
    pub fn reading(&mut self, at: Duration, volts: f64, held: Held) {
        self.readings += 1;
        if held == Held::Yes {
            if let Some(prev) = self.last_held {
                self.held_for += at.saturating_sub(prev);
            }
            self.last_held = Some(at);
            self.span = Some(
                self.span
                    .map_or((volts, volts), |(lo, hi)| (lo.min(volts), hi.max(volts))),
            );
        } else {
            self.last_held = None;
        }
    }

    /// How long the condition held and what the meter read then, for a verdict.
    pub fn describe(&self) -> String {
        let unsure = match self.unsure {
            0 => String::new(),
            n => format!("; {n} at its edge, where the meter could not tell, not judged"),
        };
        match self.span {
            Some((lo, hi)) => format!(
                "it held {} in all, {}..{} by the meter's {} readings of the line{unsure}",
                units::format_duration(self.held_for),
                Volts(lo),
                Volts(hi),
                self.readings
            ),
            None => format!("it never held by the meter{unsure}"),
        }
    }
}

/// The line `c` follows.
pub(super) fn line<'a>(lines: &'a [Line], c: &Condition<Ready>) -> &'a Line {
    lines
        .iter()
        .find(|l| l.supply == c.role)
        .expect("a conditional watch follows its line from the start")
}

/// Whether `c` held at `t`, by the line's readings (each taken as the line at its
/// time: the meter makes a new reading at least every poll and a half, see
/// [`Run::follow_line`]).
pub(super) fn judge(c: &Condition<Ready>, line: &Line, t: Duration) -> Judged {
    let readings = &line.readings;
    let from = t.saturating_sub(c.settled.unwrap_or_default());
    // Readings are in time order: a captured meter gives a thousand a second.
    let first_after_from = readings.partition_point(|(at, _)| *at <= from);
    let first_at_t = readings.partition_point(|(at, _)| *at < t);
    let lo = first_after_from.checked_sub(1);
    let before = lo.and_then(|i| readings.get(i)).copied();
    let after = readings.get(first_at_t).copied();
    let inside = first_after_from..first_at_t.max(first_after_from);
    let held = if readings.range(inside).any(|(_, v)| !c.met(*v)) {
        Held::No
    } else {
        // Everything from the reading before to the one after (those that exist).
        // (Readings taken at one instant, as on the virtual clock, may be both.)
        let start = lo.unwrap_or(first_after_from).min(first_at_t);
        let span = start..(first_at_t + 1).min(readings.len()).max(start);
        let all = |want: bool| readings.range(span.clone()).all(|(_, v)| c.met(*v) == want);
        let read_throughout = readings
            .range(span.clone())
            .zip(readings.range(span.clone()).skip(1))
            .all(|(a, b)| b.0.saturating_sub(a.0) <= line.gap);
        match (before, after) {
            (Some(_), Some(_)) if all(true) && read_throughout => Held::Yes,
            (_, Some(_)) if all(false) && read_throughout => Held::No,
            _ => Held::Unsure,
        }
    };
    Judged {
        held,
        before,
        after,
    }
}

/// The moments of `[from, to]` a condition is judged at: its ends and every reading
/// between.
fn moments(
    readings: &VecDeque<(Duration, f64)>,
    from: Duration,
    to: Duration,
) -> impl Iterator<Item = Duration> + '_ {
    let inside = readings
        .iter()
        .map(|(at, _)| *at)
        .filter(move |at| *at > from && *at < to);
    std::iter::once(from)
        .chain(inside)
        .chain(std::iter::once(to))
}

/// Whether `c` held at some moment of `[from, to]`, for an input that stayed wrong
/// over that span: the first moment it certainly held, else the first it may have.
pub(super) fn judge_any(
    c: &Condition<Ready>,
    line: &Line,
    from: Duration,
    to: Duration,
) -> (Duration, Judged) {
    let mut best: Option<(Duration, Judged)> = None;
    for t in moments(&line.readings, from, to) {
        let j = judge(c, line, t);
        if j.held == Held::Yes {
            return (t, j);
        }
        if best.is_none_or(|(_, b)| b.held == Held::No && j.held == Held::Unsure) {
            best = Some((t, j));
        }
    }
    best.expect("at least one moment")
}

/// Whether `c` held throughout `[from, to]`, for a board event known only to have
/// happened within that span: it certainly held only if it held at every moment.
pub(super) fn judge_all(
    c: &Condition<Ready>,
    line: &Line,
    from: Duration,
    to: Duration,
) -> (Duration, Judged) {
    let judged: Vec<(Duration, Judged)> = moments(&line.readings, from, to)
        .map(|t| (t, judge(c, line, t)))
        .collect();
    let first = judged[0];
    if let Some(&miss) = judged.iter().find(|(_, j)| j.held != Held::Yes) {
        if judged.iter().all(|(_, j)| j.held == Held::No) {
            return miss;
        }
        let (t, mut j) = miss;
        j.held = Held::Unsure;
        return (t, j);
    }
    first
}

impl Run<'_> {
    /// Starts reading `c`'s line (at the check's start), if nothing does yet: a meter on
    /// the supply's line is what decides the condition. `longest` is the longest
    /// settling time any condition on the line asks for.
    pub(super) fn follow_line(
        &mut self,
        c: &Condition<Ready>,
        longest: Duration,
    ) -> Result<(), Stop> {
        if self.lines.iter().any(|l| l.supply == c.role) {
            return Ok(());
        }
        let meter = self.bench.meter_on(&c.role).ok_or_else(|| {
            Stop::Error(format!(
                "step {} `{}`: `while {c}` needs a meter on `{}`'s line, and the rig has none",
                self.step.0, self.step.1, c.role
            ))
        })?;
        // A reading is taken as the line at its time. A meter that makes a new reading
        // seldom (a supply's readback) shows the line as it was up to that long before,
        // whatever the poll: a lock that follows its supply sooner than such a reading
        // shows the crossing would be failed for doing right (judging each sample only
        // once a later reading shows its moment is not built).
        let gap = self.ctx.poll + self.ctx.poll / 2;
        if let Some(r) = self.bench.meter_resolution(&meter) {
            if r.every > super::FRESH_METER {
                return Err(Stop::Error(format!(
                    "step {} `{}`: `while {c}` judges every sample against the meter on `{}`'s line, and `{meter}` makes a new reading every {} (poll {}): a stale reading could put a sample on the wrong side of the level; this check needs a meter that makes a new reading at least every {}",
                    self.step.0,
                    self.step.1,
                    c.role,
                    units::format_duration(r.every),
                    units::format_duration(self.ctx.poll),
                    units::format_duration(super::FRESH_METER)
                )));
            }
        }
        self.lines.push(Line {
            supply: c.role.clone(),
            meter,
            gap,
            keep: longest + KEEP,
            readings: VecDeque::new(),
        });
        self.read_lines()
    }

    /// Whether the check follows a supply line (it has a watch across channels): the
    /// lines are then read at every poll, from its first step to its last.
    pub(super) fn conditional(&self) -> bool {
        !self.lines.is_empty()
    }

    /// Brings every followed line up to now: on a bench in real time, the readings its
    /// meter's capture took since the last, through one at or past now; otherwise one
    /// reading now.
    pub(super) fn read_lines(&mut self) -> Result<(), Stop> {
        for i in 0..self.lines.len() {
            let now = self.now();
            let meter = self.lines[i].meter.clone();
            let since = self.lines[i]
                .readings
                .back()
                .map_or(Duration::ZERO, |r| r.0 + Duration::from_nanos(1));
            let taken = match self.bench.captured_readings(&meter, since, Some(now))? {
                Some(samples) => {
                    let mut taken = Vec::with_capacity(samples.len());
                    for s in samples {
                        match s.result() {
                            Ok((v, _)) => taken.push((s.at, v.0)),
                            Err(e) => return Err(self.bench.meter_error(&meter, e).into()),
                        }
                    }
                    taken
                }
                None => {
                    let (v, _) = self.bench.read_meter(&meter)?;
                    vec![(now, v.0)]
                }
            };
            for (at, v) in taken {
                self.push_reading(i, at, v);
            }
        }
        Ok(())
    }

    /// Adds a reading to line `i`, drops what no watch can need any more, and counts
    /// the reading for the conditional watches on the line (the time each held).
    fn push_reading(&mut self, i: usize, at: Duration, v: f64) {
        {
            let line = &mut self.lines[i];
            line.readings.push_back((at, v));
            // Keep one reading older than the horizon: it brackets the oldest moment.
            let keep = line.keep;
            while line.readings.len() > 2 && at.saturating_sub(line.readings[1].0) > keep {
                line.readings.pop_front();
            }
        }
        // Each conditional watch on this line counts how long its condition held.
        let (line, inputs, console) =
            (&self.lines[i], &mut self.watches, &mut self.console.watches);
        let tallies = inputs
            .iter_mut()
            .filter_map(|w| Some((w.when.as_ref()?, &mut w.tally, false)))
            .chain(
                console
                    .iter_mut()
                    .filter_map(|w| Some((w.when.as_ref()?, &mut w.tally, true))),
            );
        for (c, tally, counts_readings) in tallies {
            if c.role != line.supply {
                continue;
            }
            let held = judge(c, line, at).held;
            tally.reading(at, v, held);
            // A board event can come at any moment: what a console watch judged is
            // the readings while it held. An input's are its samples.
            if counts_readings && held == Held::Yes {
                tally.judged += 1;
            }
        }
    }

    /// A conditional watch's verdict where its condition never certainly held over any
    /// time, or no sample was judged then: nothing was asserted, so it is the rig's
    /// error, not a pass.
    pub(super) fn unexercised(
        &self,
        what: &str,
        since_step: usize,
        c: &Condition<Ready>,
        tally: &Tally,
    ) -> Option<Stop> {
        (tally.judged == 0 || tally.held_for.is_zero()).then(|| {
            Stop::Error(format!(
                "step {} `{}`: the watch on {what} from step {since_step} asserted nothing: {c} never held while it ran, by the meter ({}; {} judged); the check must drive the line there",
                self.step.0,
                self.step.1,
                tally.describe(),
                tally.judged
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn below(v: f64, settled: Option<u64>) -> Condition<Ready> {
        Condition {
            role: "main".into(),
            below: true,
            volts: Volts(v),
            settled: settled.map(ms),
        }
    }

    /// A rail falling from 6 V to 1 V and back, read every 10 ms.
    fn rail() -> Line {
        Line {
            supply: "main".into(),
            meter: "main_meter".into(),
            gap: ms(15),
            keep: ms(2000),
            readings: [6.0, 6.0, 4.0, 1.0, 1.0, 1.0, 1.0, 4.0, 6.0, 6.0]
                .iter()
                .enumerate()
                .map(|(i, v)| (ms(10 * i as u64), *v))
                .collect(),
        }
    }

    #[test]
    fn a_moment_is_judged_by_the_readings_either_side() {
        let c = below(3.0, None);
        let r = rail();
        assert_eq!(judge(&c, &r, ms(45)).held, Held::Yes);
        assert_eq!(judge(&c, &r, ms(5)).held, Held::No);
        // Between 4 V and 1 V the line crossed 3 V: the meter cannot tell.
        assert_eq!(judge(&c, &r, ms(25)).held, Held::Unsure);
        // After the last reading nothing says how it went on.
        assert_eq!(judge(&c, &r, ms(95)).held, Held::Unsure);
        let j = judge(&c, &r, ms(45));
        assert_eq!(j.before, Some((ms(40), 1.0)));
        assert_eq!(j.after, Some((ms(50), 1.0)));
    }

    #[test]
    fn readings_taken_at_one_instant_are_judged_together() {
        let c = below(3.0, None);
        let mut r = rail();
        let t = ms(40);
        for _ in 0..3 {
            r.readings.insert(4, (t, 1.0));
        }
        assert_eq!(judge(&c, &r, t).held, Held::Yes);
        assert_eq!(judge(&c, &r, ms(20)).held, Held::No);
    }

    #[test]
    fn a_gap_in_the_readings_leaves_the_time_between_unknown() {
        let c = below(3.0, None);
        let mut r = rail();
        // Nothing read from 30 ms to 60 ms: 1 V either side, but the line may have left.
        r.readings.retain(|(at, _)| *at <= ms(30) || *at >= ms(60));
        assert_eq!(judge(&c, &r, ms(45)).held, Held::Unsure);
        assert_eq!(judge(&c, &r, ms(30)).held, Held::Yes);
    }

    #[test]
    fn a_settling_time_needs_every_reading_since_to_meet_it() {
        let c = below(3.0, Some(20));
        let r = rail();
        // Below since the 30 ms reading: at 50 ms it has been for 20 ms.
        assert_eq!(judge(&c, &r, ms(50)).held, Held::Yes);
        // At 40 ms the reading at or before 20 ms is 4 V: not yet certain.
        assert_eq!(judge(&c, &r, ms(40)).held, Held::Unsure);
        // At 70 ms the line rose through 3 V after the 60 ms reading: cannot tell.
        assert_eq!(judge(&c, &r, ms(70)).held, Held::Unsure);
        // At 80 ms the 70 ms reading, inside the window, missed it: certainly not.
        assert_eq!(judge(&c, &r, ms(80)).held, Held::No);
    }

    #[test]
    fn a_span_counts_any_moment_for_an_input_and_every_moment_for_an_event() {
        let c = below(3.0, None);
        let r = rail();
        // An input wrong from 5 ms to 45 ms: the condition held within that span.
        let (t, j) = judge_any(&c, &r, ms(5), ms(45));
        assert_eq!((t, j.held), (ms(30), Held::Yes));
        assert_eq!(judge_any(&c, &r, ms(0), ms(15)).1.held, Held::No);
        // An event known only to within 5..45 ms may have come before the line fell.
        assert_eq!(judge_all(&c, &r, ms(5), ms(45)).1.held, Held::Unsure);
        assert_eq!(judge_all(&c, &r, ms(35), ms(55)).1.held, Held::Yes);
        assert_eq!(judge_all(&c, &r, ms(0), ms(12)).1.held, Held::No);
    }

    #[test]
    fn a_tally_counts_the_time_between_readings_that_both_held() {
        let c = below(3.0, None);
        let r = rail();
        let mut t = Tally::default();
        for &(at, v) in &r.readings {
            t.reading(at, v, judge(&c, &r, at).held);
        }
        assert_eq!(t.held_for, ms(30));
        assert_eq!(t.span, Some((1.0, 1.0)));
        assert_eq!(
            t.describe(),
            "it held 30ms in all, 1V..1V by the meter's 10 readings of the line"
        );
    }
}
