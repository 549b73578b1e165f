//! Open-ended campaigns: the selected checks run cycle after cycle on one bench until a
//! bound is met: a cycle count, a wall-clock duration, the first device failure, a rig
//! error (the cycle in which it happened is finished), or a signal. Trials are made one at a time as the campaign goes, so an overnight soak
//! holds no list of the cycles still to come and its memory stays flat.
//!
//! A campaign with a fixed cycle count and no other bound runs through the test
//! harness instead (`--repeat N`), which lists and filters every cycle up front.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{attempt, health, Setup, Shared, Sink, Summary, Trial};
use crate::scenario::Verdict;
use crate::signals;

/// What an interrupted campaign had done when it is resumed (`run --resume`): its
/// finished trials, by name, and the wall time they took.
#[derive(Debug, Default)]
pub struct Earlier {
    /// Trials with a result that stands, and their verdicts.
    pub done: HashMap<String, Verdict>,
    /// The wall time those trials took, counted against `--duration`.
    pub elapsed: Duration,
}

/// What ends a campaign, besides a signal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// At most this many cycles.
    pub cycles: Option<u32>,
    /// No cycle starts after this much wall time.
    pub duration: Option<Duration>,
    /// Stop after the first cycle in which a check failed on the device.
    pub until_fail: bool,
}

/// Why a campaign ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every cycle asked for ran.
    Cycles(u32),
    /// The duration was reached after this many cycles.
    Duration(u32),
    /// A check failed in this cycle (`--until-fail`); the trial that failed first.
    Failed(u32, String),
    /// A signal stopped it during or after this cycle.
    Interrupted(u32),
    /// The rig failed in this cycle (a rig error, the rig marked broken, or the
    /// suite's policy skipping everything after a rig error): an unattended campaign
    /// stops rather than record error after error.
    Halted(u32, String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Cycles(n) => write!(f, "all {n} cycles ran"),
            Ended::Duration(n) => write!(f, "the duration was reached after {n} cycle(s)"),
            Ended::Failed(n, trial) => write!(
                f,
                "stopped at the first failure, {trial} in cycle {n} (--until-fail)"
            ),
            Ended::Interrupted(n) => write!(f, "interrupted in cycle {n}"),
            Ended::Halted(n, why) => write!(f, "halted in cycle {n}: {why}"),
        }
    }
}

/// One finished trial, for the progress output.
pub struct Progress<'a> {
    /// The trial's name (`check::device::cycleN`).
    pub name: &'a str,
    /// Why it did not run, if it did not.
    pub skipped: Option<&'a str>,
    /// Its verdict.
    pub verdict: Verdict,
    /// The failure or error message.
    pub message: Option<&'a str>,
}

/// Runs `trials` (one per check and device, without cycles) cycle after cycle until
/// `bounds` or a signal ends the campaign, leaving out what `earlier` already did. Each
/// result goes to `sink` as it ends, and `progress` hears of it.
pub fn run(
    setup: Setup,
    trials: &[Trial],
    bounds: Bounds,
    earlier: &Earlier,
    sink: Sink,
    progress: &mut dyn FnMut(Progress<'_>),
) -> (Summary, Ended) {
    let shared = Mutex::new(Shared {
        sink,
        summary: Summary::default(),
        health: health::Health::load(&setup.rig),
        aborted: None,
    });
    let setup = Arc::new(setup);
    let started = Instant::now();
    let most = trials.iter().map(|t| t.check.repeat).max().unwrap_or(1);
    let width = bounds
        .cycles
        .map_or(1, |n| n.saturating_mul(most).to_string().len());
    let mut cycle = 0;
    let ended = loop {
        if trials.is_empty() {
            // Nothing selected: no cycle could ever fail or take time.
            break Ended::Cycles(0);
        }
        if bounds.cycles.is_some_and(|n| cycle >= n) {
            break Ended::Cycles(cycle);
        }
        if bounds
            .duration
            .is_some_and(|d| earlier.elapsed + started.elapsed() >= d)
        {
            break Ended::Duration(cycle);
        }
        if signals::received().is_some() {
            break Ended::Interrupted(cycle);
        }
        cycle += 1;
        let mut failed: Option<String> = None;
        let mut rig_error: Option<String> = None;
        let mut ran = 0;
        let mut skip_reason: Option<String> = None;
        // After a signal the cycle's remaining trials are still attempted: they are
        // recorded as not started, as in any interrupted run.
        for base in trials {
            // A check with its own `repeat = R` runs R times in each campaign cycle:
            // its cycles are numbered on, R to a campaign cycle.
            let n = (cycle - 1) * base.check.repeat + base.cycle.unwrap_or(1);
            let t = Trial {
                name: format!(
                    "{}::{}::cycle{n:0width$}",
                    base.check.name, base.device.name
                ),
                cycle: Some(n),
                ..base.clone()
            };
            // A trial that ran before the interruption counts as it ended then.
            let (skipped, verdict, message) = match earlier.done.get(&t.name) {
                Some(verdict) => (
                    None,
                    *verdict,
                    Some("recorded before the run was resumed".to_string()),
                ),
                None => attempt(&setup, &shared, &t),
            };
            if !earlier.done.contains_key(&t.name) {
                progress(Progress {
                    name: &t.name,
                    skipped: skipped.as_deref(),
                    verdict,
                    message: message.as_deref(),
                });
            }
            match (&skipped, verdict) {
                (Some(reason), _) => {
                    skip_reason.get_or_insert_with(|| format!("{}: {reason}", t.name));
                }
                (None, Verdict::Fail) => {
                    ran += 1;
                    failed.get_or_insert(t.name);
                }
                (None, Verdict::Error) => {
                    ran += 1;
                    rig_error.get_or_insert_with(|| {
                        format!(
                            "a rig error in {} ({}); a campaign cannot gather evidence on a rig that fails",
                            t.name,
                            message.as_deref().unwrap_or("no message")
                        )
                    });
                }
                (None, Verdict::Pass) => ran += 1,
            }
        }
        if signals::received().is_some() {
            break Ended::Interrupted(cycle);
        }
        if let (true, Some(trial)) = (bounds.until_fail, failed) {
            break Ended::Failed(cycle, trial);
        }
        let halted = {
            let s = shared.lock().unwrap_or_else(|p| p.into_inner());
            s.health
                .broken
                .as_ref()
                .map(|b| format!("the rig is unhealthy {b}"))
                .or_else(|| s.aborted.clone())
                .or(rig_error)
        };
        if let Some(why) = halted {
            break Ended::Halted(cycle, why);
        }
        if ran == 0 {
            // Every trial was skipped: every later cycle would be too.
            break Ended::Halted(
                cycle,
                format!(
                    "no trial could run ({})",
                    skip_reason.unwrap_or_else(|| "every one was skipped".into())
                ),
            );
        }
    };
    let summary = shared
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .summary;
    (summary, ended)
}
