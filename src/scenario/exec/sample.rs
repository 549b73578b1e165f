//! Time passing, and what is sampled while it does: watched inputs at every poll, the
//! meter where a supply waveform traces it, the console's lines.

use std::time::Duration;

use super::{ms, Run, Stop};
use crate::units;

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
}

impl Run<'_> {
    /// Reads an input role as a state name, feeding every watch on it.
    pub(super) fn sample_input(&mut self, role: &str) -> Result<String, Stop> {
        let seen = self.bench.read_input(role)?;
        self.judge_sample(role, seen)
    }

    /// Feeds one reading of an input role to the watches on it, and before it the
    /// edges the instrument timestamped since the last reading, if it does: a change
    /// between two samples, however short, breaks the watch at the edge's time.
    fn judge_sample(&mut self, role: &str, seen: String) -> Result<String, Stop> {
        if let Some(edges) = self.bench.input_edges(role)? {
            self.judge_edges(role, edges)?;
        }
        let now = self.now();
        let mut broken = None;
        for w in self.watches.iter_mut().filter(|w| w.role == role) {
            let gap = now.saturating_sub(w.last);
            w.max_gap = w.max_gap.max(gap);
            w.last = now;
            w.samples += 1;
            if seen != w.state && broken.is_none() {
                broken = Some(w.clone());
            }
        }
        if let Some(w) = broken {
            self.max_gap = self.max_gap.max(w.max_gap);
            self.watches.retain(|x| x.role != role);
            let measured = format!(
                "{seen} at {} during step {} `{}` ({} samples before, largest gap {})",
                units::format_duration(now.saturating_sub(w.since)),
                self.step.0,
                self.step.1,
                w.samples - 1,
                units::format_duration(w.max_gap)
            );
            let expected = format!("{} throughout, from step {}", w.state, w.since_step);
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
    fn judge_edges(&mut self, role: &str, edges: crate::rig::bench::RoleEdges) -> Result<(), Stop> {
        let mut broken: Option<(Watch, usize)> = None;
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
            if broken.is_none() {
                if let Some(&i) = mine.iter().find(|&&i| edges.edges[i].1 != w.state) {
                    broken = Some((w.clone(), i));
                }
            }
        }
        let Some((w, i)) = broken else {
            return Ok(());
        };
        let (at, state) = &edges.edges[i];
        // How long it stayed there: until the next edge, if it came back before now.
        let back = edges.edges[i + 1..].iter().find(|(_, s)| *s == w.state);
        let lasted = match back {
            Some((until, _)) => {
                format!("for {}", units::format_duration(until.saturating_sub(*at)))
            }
            None => "and still at this sample".to_string(),
        };
        self.max_gap = self.max_gap.max(w.max_gap);
        self.watches.retain(|x| x.role != role);
        let measured = format!(
            "{state} at {} {lasted}, by the input's timestamped edge (step {} `{}`; {} samples before)",
            units::format_duration(at.saturating_sub(w.since)),
            self.step.0,
            self.step.1,
            w.samples
        );
        let expected = format!("{} throughout, from step {}", w.state, w.since_step);
        let mut m = self.measurement(role, expected.clone(), measured.clone(), false);
        m.samples = Some(w.samples);
        self.record(m);
        Err(self.fail(
            role,
            format!("expected {role} {expected}, measured {measured}"),
        ))
    }

    /// `watch ROLE STATE`: judged now, and at every sample until `unwatch` or the end.
    pub(super) fn watch(&mut self, role: &str, state: &str) -> Result<(), Stop> {
        let valid = self.valid_states(role);
        if !valid.iter().any(|v| v == state) {
            return Err(Stop::Error(format!(
                "step {} `{}`: `{state}` is not a state of `{role}` (expected one of: {})",
                self.step.0,
                self.step.1,
                valid.join(", ")
            )));
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
        });
        self.sample_input(role).map(|_| ())
    }

    /// Ends a watch with one last sample and records what it saw.
    pub(super) fn unwatch(&mut self, role: &str) -> Result<(), Stop> {
        if self.console.is_watched(role) {
            return self.close_console_watches(Some(role));
        }
        self.sample_input(role)?;
        let Some(i) = self.watches.iter().position(|w| w.role == role) else {
            return Ok(());
        };
        let w = self.watches.remove(i);
        self.passed_watch(w);
        Ok(())
    }

    fn passed_watch(&mut self, w: Watch) {
        let now = self.now();
        self.max_gap = self.max_gap.max(w.max_gap);
        let window = format!(
            "steps {}-{}, {}",
            w.since_step,
            self.step.0,
            units::format_duration(now.saturating_sub(w.since))
        );
        let late = w.edges.is_none() && w.max_gap > self.ctx.poll + self.ctx.poll / 2;
        let measured = match w.edges {
            // Every change is an edge the instrument stamped: the poll does not limit what
            // could be missed.
            Some(edges) => format!(
                "{} throughout {window} ({} samples and {edges} edges of a timestamped edge input: a change of any length would have been seen)",
                w.state, w.samples
            ),
            None => format!(
                "{} throughout {window} ({} samples, poll {}, largest gap {}{})",
                w.state,
                w.samples,
                units::format_duration(self.ctx.poll),
                units::format_duration(w.max_gap),
                if late {
                    ": wider than the poll interval, so a change shorter than that gap could be missed"
                } else {
                    ""
                }
            ),
        };
        let mut m = self.measurement(
            &w.role,
            format!("{} throughout, from step {}", w.state, w.since_step),
            measured,
            true,
        );
        m.samples = Some(w.samples);
        m.max_gap_ms = Some(ms(w.max_gap));
        self.record(m);
        self.decide(&w.role, window);
    }

    /// Ends every watch (the end of the check).
    pub(super) fn close_watches(&mut self) -> Result<(), Stop> {
        self.poll_console()?;
        self.close_console_watches(None)?;
        let roles: Vec<String> = self.watches.iter().map(|w| w.role.clone()).collect();
        for role in roles {
            self.unwatch(&role)?;
        }
        Ok(())
    }

    /// Lets one slice of time pass, then samples what is watched and traced.
    pub(super) fn tick(&mut self, d: Duration) -> Result<(), Stop> {
        self.bench.clock().wait(d);
        self.check_interrupt()?;
        self.sampled = self.now();
        let mut roles: Vec<String> = self.watches.iter().map(|w| w.role.clone()).collect();
        roles.dedup();
        let states = self.bench.read_inputs(&roles)?;
        for (role, seen) in roles.iter().zip(states) {
            self.judge_sample(role, seen)?;
        }
        if let Some(meter) = self.tracing.clone() {
            let (v, _) = self.bench.read_meter(&meter)?;
            let now = self.now();
            self.rail.push((now, v.0));
        }
        if self.now().saturating_sub(self.console.polled) >= super::console::POLL_EVERY {
            self.poll_console()?;
        }
        Ok(())
    }

    /// Lets `d` pass, sampling at the poll interval when anything is watched or traced.
    pub(super) fn hold(&mut self, d: Duration) -> Result<(), Stop> {
        let end = self.now() + d;
        if self.watches.is_empty() && self.tracing.is_none() {
            // Nothing to sample: the console's lines carry their own times.
            self.bench.clock().wait(d);
            self.check_interrupt()?;
        } else {
            loop {
                let left = end.saturating_sub(self.now());
                if left.is_zero() {
                    break;
                }
                self.tick(left.min(self.ctx.poll))?;
            }
        }
        self.poll_console()
    }
}
