//! Time passing, and what is sampled while it does: watched inputs at every poll, the
//! meter where a supply waveform traces it, the console's lines.

use std::time::Duration;

use super::condition::{self, Held, Tally};
use super::{ms, Run, Stop};
use crate::rig::capture::Sample;
use crate::scenario::step::{Condition, Ready};
use crate::units;

/// A moment a condition was judged at, and its verdict there.
type Moment = (Duration, condition::Judged);

/// An input that must read one state at every sample from its `watch` step on.
#[derive(Debug, Clone)]
pub(super) struct Watch {
    pub role: String,
    pub state: String,
    pub since_step: usize,
    pub since: Duration,
    pub samples: u64,
    pub last: Duration,
    pub max_gap: Duration,
    /// Edges seen on an input that timestamps its own edges (`None`: polled only).
    pub edges: Option<u64>,
    /// The supply line's condition under which it holds (always when absent).
    pub when: Option<Condition<Ready>>,
    /// What a conditional watch judged.
    pub tally: Tally,
}

impl Run<'_> {
    /// Reads an input role as a state name, feeding every watch on it. An input read
    /// in the background feeds them every reading since the last take, and gives the
    /// take's last reading, begun now or later.
    pub(super) fn sample_input(&mut self, role: &str) -> Result<String, Stop> {
        let at = self.now();
        if let Some(mut taken) = self.take_captured(role, None, at)? {
            let last = taken.pop().expect("a take through a moment has a reading");
            return Ok(last.reading);
        }
        let seen = self.bench.read_input(role)?;
        if self.conditional() {
            self.read_lines()?;
        }
        self.judge_sample(role, seen, at)
    }

    /// Readings of an input role, each with the moment it was seen by (when its
    /// exchange ended), oldest first: every background reading since `from` or the
    /// last take, whichever is later (each fed to the watches on the role once); or one
    /// read now.
    pub(super) fn sample_readings(
        &mut self,
        role: &str,
        from: Duration,
    ) -> Result<Vec<(Duration, String)>, Stop> {
        match self.take_captured(role, Some(from), self.now())? {
            Some(taken) => Ok(taken
                .into_iter()
                .map(|s| (s.at + s.took, s.reading))
                .collect()),
            None => {
                let seen = self.sample_input(role)?;
                Ok(vec![(self.now(), seen)])
            }
        }
    }

    /// Judges every background reading of an input role since its last take, through
    /// one begun at `through` (the last), and returns them, from `from` on if asked
    /// (readings the capture still holds from before the last take included, judged
    /// once only); `None` for an input that is not captured.
    fn take_captured(
        &mut self,
        role: &str,
        from: Option<Duration>,
        through: Duration,
    ) -> Result<Option<Vec<Sample<String>>>, Stop> {
        if !self.bench.input_captured(role) {
            return Ok(None);
        }
        let taken = self.input_taken.get(role).copied();
        let since = match (from, taken) {
            (Some(f), Some(t)) => f.min(t),
            (Some(f), None) => f.min(through),
            (None, Some(t)) => t,
            (None, None) => through,
        };
        let Some(states) = self.bench.captured_input(role, since, through)? else {
            return Ok(None);
        };
        // A conditional watch judges each reading by the line's readings either side.
        if self.conditional() {
            self.read_lines()?;
        }
        for s in states.iter().filter(|s| taken.is_none_or(|t| s.at >= t)) {
            self.input_taken
                .insert(role.to_string(), s.at + Duration::from_nanos(1));
            self.judge_sample(role, s.reading.clone(), s.at)?;
        }
        Ok(Some(states))
    }

    /// Feeds one reading of an input role, begun at `at`, to the watches on it, and
    /// before it the edges the instrument timestamped since the last reading, if it
    /// does: a change between two samples, however short, breaks the watch at the
    /// edge's time. A conditional watch judges the sample only where its condition
    /// held, or may have, by the readings of the line either side (read after it).
    fn judge_sample(&mut self, role: &str, seen: String, at: Duration) -> Result<String, Stop> {
        if let Some(edges) = self.bench.input_edges(role)? {
            let now = self.now();
            self.judge_edges(role, edges, now)?;
        }
        let now = at;
        let mut broken = None;
        // A background reading from before a watch began is not the watch's.
        for w in self
            .watches
            .iter_mut()
            .filter(|w| w.role == role && at >= w.since)
        {
            let gap = now.saturating_sub(w.last);
            w.max_gap = w.max_gap.max(gap);
            w.last = now;
            w.samples += 1;
            let judged = w.when.as_ref().map(|c| {
                let line = condition::line(&self.lines, c);
                condition::judge(c, line, now)
            });
            match judged.map(|j| j.held) {
                Some(Held::Yes) if seen == w.state => w.tally.judged += 1,
                Some(Held::No) => w.tally.outside += 1,
                Some(Held::Unsure) if seen == w.state => w.tally.outside += 1,
                Some(Held::Unsure) => w.tally.unsure += 1,
                _ if seen == w.state => {}
                _ if broken.is_none() => broken = Some((w.clone(), judged)),
                _ => {}
            }
        }
        if let Some((w, judged)) = broken {
            self.max_gap = self.max_gap.max(w.max_gap);
            self.watches.retain(|x| x.role != role);
            let during = match (&w.when, judged) {
                (Some(c), Some(j)) => format!(
                    " while {c} ({}; {} samples judged before)",
                    j.evidence(w.since),
                    w.tally.judged
                ),
                _ => String::new(),
            };
            let measured = format!(
                "{seen} at {} during step {} `{}`{during} ({} samples before, largest gap {})",
                units::format_duration(now.saturating_sub(w.since)),
                self.step.0,
                self.step.1,
                w.samples - 1,
                units::format_duration(w.max_gap)
            );
            let expected = expectation(&w);
            let mut m = self.measurement(role, expected.clone(), measured.clone(), false);
            m.samples = Some(w.samples);
            m.max_gap_ms = Some(ms(w.max_gap));
            self.record(m);
            return Err(self.fail(
                role,
                format!("expected {role} {expected}, measured {measured}"),
            ));
        }
        Ok(seen)
    }

    /// Judges an edge input's edges against the watches on its role.
    fn judge_edges(
        &mut self,
        role: &str,
        edges: crate::rig::bench::RoleEdges,
        now: Duration,
    ) -> Result<(), Stop> {
        // The watch broken, at which edge, where its condition held then, and whether
        // the edge is the one back (wrong from the sample before until it).
        let mut broken: Option<(Watch, usize, Option<Moment>, bool)> = None;
        for w in self.watches.iter_mut().filter(|w| w.role == role) {
            if edges.lost > 0 {
                return Err(Stop::Error(format!(
                    "{role}: the input lost {} edges during the watch from step {}: what the line did is not known",
                    edges.lost, w.since_step
                )));
            }
            let mine: Vec<usize> = (0..edges.edges.len())
                .filter(|&i| edges.edges[i].0 >= w.since)
                .collect();
            *w.edges.get_or_insert(0) += mine.len() as u64;
            if broken.is_some() {
                continue;
            }
            // Wrong at the sample before and back within this batch: wrong from that
            // sample to its edge back, a span no sample judged.
            if let (Some(c), Some(&first)) = (&w.when, mine.first()) {
                let (back, state) = &edges.edges[first];
                if *state == w.state && w.last < *back {
                    let line = condition::line(&self.lines, c);
                    let (t, j) = condition::judge_any(c, line, w.last, *back);
                    match j.held {
                        Held::Yes => {
                            broken = Some((w.clone(), first, Some((t, j)), true));
                            continue;
                        }
                        Held::Unsure => w.tally.unsure += 1,
                        Held::No => {}
                    }
                }
            }
            for &i in mine.iter().filter(|&&i| edges.edges[i].1 != w.state) {
                let Some(c) = &w.when else {
                    broken = Some((w.clone(), i, None, false));
                    break;
                };
                // Wrong from this edge until the next one back (or now): a violation if
                // the condition held, or may have, at any moment of that span.
                let from = edges.edges[i].0;
                let to = edges.edges[i + 1..]
                    .iter()
                    .find(|(_, s)| *s == w.state)
                    .map_or(now, |(t, _)| *t);
                let line = condition::line(&self.lines, c);
                let (t, j) = condition::judge_any(c, line, from, to);
                match j.held {
                    Held::Yes => {
                        broken = Some((w.clone(), i, Some((t, j)), false));
                        break;
                    }
                    Held::Unsure => w.tally.unsure += 1,
                    Held::No => {}
                }
            }
        }
        let Some((w, i, judged, came_back)) = broken else {
            return Ok(());
        };
        let (at, state) = &edges.edges[i];
        let (at, state, lasted) = if came_back {
            // Wrong at the sample before: from then until this edge back.
            (
                &w.last,
                format!("not {state}"),
                format!(
                    "until its edge back at {}",
                    units::format_duration(at.saturating_sub(w.since))
                ),
            )
        } else {
            // How long it stayed there: until the next edge, if it came back before now.
            let back = edges.edges[i + 1..].iter().find(|(_, s)| *s == w.state);
            let lasted = match back {
                Some((until, _)) => {
                    format!("for {}", units::format_duration(until.saturating_sub(*at)))
                }
                None => "and still at this sample".to_string(),
            };
            (at, state.clone(), lasted)
        };
        self.max_gap = self.max_gap.max(w.max_gap);
        self.watches.retain(|x| x.role != role);
        let during = match (&w.when, judged) {
            (Some(c), Some((t, j))) => format!(
                "; {c} held at {} ({})",
                units::format_duration(t.saturating_sub(w.since)),
                j.evidence(w.since)
            ),
            _ => String::new(),
        };
        let measured = format!(
            "{state} at {} {lasted}, by the input's timestamped edge (step {} `{}`; {} samples before{during})",
            units::format_duration(at.saturating_sub(w.since)),
            self.step.0,
            self.step.1,
            w.samples
        );
        let expected = expectation(&w);
        let mut m = self.measurement(role, expected.clone(), measured.clone(), false);
        m.samples = Some(w.samples);
        self.record(m);
        Err(self.fail(
            role,
            format!("expected {role} {expected}, measured {measured}"),
        ))
    }

    /// `watch ROLE STATE [while ...]`: judged now, and at every sample until `unwatch`
    /// or the end.
    pub(super) fn watch(
        &mut self,
        role: &str,
        state: &str,
        when: Option<&Condition<Ready>>,
    ) -> Result<(), Stop> {
        let valid = self.valid_states(role);
        if !valid.iter().any(|v| v == state) {
            return Err(Stop::Error(format!(
                "step {} `{}`: `{state}` is not a state of `{role}` (expected one of: {})",
                self.step.0,
                self.step.1,
                valid.join(", ")
            )));
        }
        if let Some(c) = when {
            self.follow_line(c, c.settled.unwrap_or_default())?;
        }
        let now = self.now();
        self.watches.push(Watch {
            role: role.to_string(),
            state: state.to_string(),
            since_step: self.step.0,
            since: now,
            samples: 0,
            last: now,
            max_gap: Duration::ZERO,
            edges: None,
            when: when.cloned(),
            tally: Tally::default(),
        });
        self.sample_input(role).map(|_| ())
    }

    /// Ends a watch with one last sample and records what it saw.
    pub(super) fn unwatch(&mut self, role: &str) -> Result<(), Stop> {
        if self.console.is_watched(role) {
            return self.close_console_watches(Some(role));
        }
        self.sample_input(role)?;
        let (done, kept) = std::mem::take(&mut self.watches)
            .into_iter()
            .partition(|w| w.role == role);
        self.watches = kept;
        for w in done {
            self.passed_watch(w)?;
        }
        Ok(())
    }

    fn passed_watch(&mut self, w: Watch) -> Result<(), Stop> {
        if let Some(stop) = w
            .when
            .as_ref()
            .and_then(|c| self.unexercised(&w.role, w.since_step, c, &w.tally))
        {
            return Err(stop);
        }
        let now = self.now();
        self.max_gap = self.max_gap.max(w.max_gap);
        let window = format!(
            "steps {}-{}, {}",
            w.since_step,
            self.step.0,
            units::format_duration(now.saturating_sub(w.since))
        );
        // Read in the background, a gap wider than the poll is worse than polling would
        // have done (a step that blocked past what the capture keeps): say so too.
        // The capture runs to the check's end, past its last watch.
        let captured = self.bench.input_captured(&w.role);
        let late = w.edges.is_none()
            && if captured {
                w.max_gap > self.ctx.poll
            } else {
                w.max_gap > self.ctx.poll + self.ctx.poll / 2
            };
        let late = if late {
            ": wider than the poll interval, so a change shorter than that gap could be missed"
        } else {
            ""
        };
        let throughout = match &w.when {
            Some(c) => format!(
                "{} at all {} samples judged while {c} ({}; {} samples outside it) in {window}",
                w.state,
                w.tally.judged,
                w.tally.describe(),
                w.tally.outside
            ),
            None => format!("{} throughout {window}", w.state),
        };
        let measured = match w.edges {
            // Every change is an edge the instrument stamped: the poll does not limit what
            // could be missed.
            Some(edges) => format!(
                "{throughout} ({} samples and {edges} edges of a timestamped edge input: a change of any length would have been seen)",
                w.samples
            ),
            // Read in the background: the poll does not set the gap, the instrument does.
            None if captured => format!(
                "{throughout} ({} samples read in the background every {} or so, largest gap {}{late})",
                w.samples,
                units::format_duration(crate::rig::capture::INPUT_EVERY),
                units::format_duration(w.max_gap)
            ),
            None => format!(
                "{throughout} ({} samples, poll {}, largest gap {}{late})",
                w.samples,
                units::format_duration(self.ctx.poll),
                units::format_duration(w.max_gap),
            ),
        };
        let mut m = self.measurement(&w.role, expectation(&w), measured, true);
        m.samples = Some(w.samples);
        m.max_gap_ms = Some(ms(w.max_gap));
        self.record(m);
        self.decide(&w.role, window);
        Ok(())
    }

    /// The watched input roles, each once, in the order first watched (a role may
    /// carry several watches, each under its own condition).
    fn watched_roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for w in &self.watches {
            if !roles.contains(&w.role) {
                roles.push(w.role.clone());
            }
        }
        roles
    }

    /// Ends every watch (the end of the check).
    pub(super) fn close_watches(&mut self) -> Result<(), Stop> {
        self.poll_console()?;
        self.close_console_watches(None)?;
        for role in self.watched_roles() {
            self.unwatch(&role)?;
        }
        Ok(())
    }

    /// Lets one slice of time pass, then samples what is watched and traced.
    pub(super) fn tick(&mut self, d: Duration) -> Result<(), Stop> {
        self.bench.clock().wait(d);
        self.check_interrupt()?;
        self.sampled = self.now();
        let at = self.sampled;
        let (captured, roles): (Vec<String>, Vec<String>) = self
            .watched_roles()
            .into_iter()
            .partition(|r| self.bench.input_captured(r));
        let states = self.bench.read_inputs(&roles)?;
        if self.conditional() {
            self.read_lines()?;
        }
        for (role, seen) in roles.iter().zip(states) {
            self.judge_sample(role, seen, at)?;
        }
        for role in &captured {
            self.take_captured(role, None, at)?;
        }
        if let Some(meter) = self.tracing.clone() {
            // The line a condition follows was just read: that reading is the trace's.
            let fresh = self
                .lines
                .iter()
                .filter(|l| l.meter == meter)
                .find_map(|l| l.readings.back().filter(|(t, _)| *t >= at).copied());
            let (t, v) = match fresh {
                Some(r) => r,
                None => {
                    let (v, _) = self.bench.read_meter(&meter)?;
                    (self.now(), v.0)
                }
            };
            self.rail.push((t, v));
        }
        if self.now().saturating_sub(self.console.polled) >= super::console::POLL_EVERY {
            self.poll_console()?;
        }
        Ok(())
    }

    /// Lets `d` pass, sampling at the poll interval when anything is watched or traced.
    pub(super) fn hold(&mut self, d: Duration) -> Result<(), Stop> {
        let end = self.now() + d;
        let sampling = !self.watches.is_empty() || self.tracing.is_some() || self.conditional();
        loop {
            let left = end.saturating_sub(self.now());
            if left.is_zero() {
                break;
            }
            // With nothing to sample, the console is still read every so often, so a
            // line its board's clock cannot place is known to that (and the clock is
            // checked).
            let step = if sampling {
                self.ctx.poll
            } else {
                (self.console.polled + super::console::POLL_EVERY)
                    .saturating_sub(self.now())
                    .max(Duration::from_millis(1))
            };
            self.tick(left.min(step))?;
        }
        self.poll_console()
    }
}

/// What a watch expects, for its verdict.
fn expectation(w: &Watch) -> String {
    match &w.when {
        Some(c) => format!("{} whenever {c}, from step {}", w.state, w.since_step),
        None => format!("{} throughout, from step {}", w.state, w.since_step),
    }
}
