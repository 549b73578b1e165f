//! What a person watching a campaign or a repeated run sees: on a terminal, a progress
//! bar under the trial lines (the check under way, the cycle, failures so far, the time
//! left); in CI or a pipe, the plain lines only, in the test harness's form.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::harness::{Harness, Progress as Format};
use crate::run::campaign::{Bounds, Progress};
use crate::scenario::Verdict;

/// A campaign's output.
pub struct CampaignOutput<'a> {
    harness: &'a Harness,
    bar: Option<ProgressBar>,
    bounds: Bounds,
    per_cycle: u64,
    done: u64,
    failed: u64,
    errors: u64,
    started: Instant,
    /// Trials run check by check (a repeated run), not cycle by cycle: the cycle
    /// shown is the trial's own.
    check_by_check: bool,
}

impl<'a> CampaignOutput<'a> {
    /// Output for a campaign of `per_cycle` trials a cycle. The bar is drawn only when
    /// a person is watching: pretty format, and both stdout and stderr on a terminal.
    pub fn new(harness: &'a Harness, bounds: Bounds, per_cycle: usize) -> Self {
        let bar = Self::watched(harness).then(|| {
            let bar = match (bounds.cycles, bounds.duration) {
                (Some(n), _) => ProgressBar::new(u64::from(n) * per_cycle as u64),
                (None, Some(d)) => ProgressBar::new(d.as_secs().max(1)),
                (None, None) => ProgressBar::new_spinner(),
            };
            let template = if bounds.cycles.is_some() || bounds.duration.is_some() {
                "{spinner} [{elapsed_precise}] {wide_bar} {msg} (ETA {eta})"
            } else {
                "{spinner} [{elapsed_precise}] {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            harness,
            bar,
            bounds,
            per_cycle: per_cycle as u64,
            done: 0,
            failed: 0,
            errors: 0,
            started: Instant::now(),
            check_by_check: false,
        }
    }

    /// For a repeated run, which goes check by check, every cycle of one before the
    /// next: the bar shows each trial's own cycle.
    pub fn check_by_check(mut self) -> Self {
        self.check_by_check = true;
        self
    }

    /// Whether a person is watching: pretty format, stdout and stderr on a terminal.
    pub fn watched(harness: &Harness) -> bool {
        harness.format == Format::Pretty
            && !harness.quiet
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal()
    }

    /// Reports one finished trial.
    pub fn trial(&mut self, p: Progress<'_>) {
        self.done += 1;
        match (p.skipped, p.verdict) {
            (None, Verdict::Fail) => self.failed += 1,
            (None, Verdict::Error) => self.errors += 1,
            _ => {}
        }
        let line = self.line(&p);
        match (&self.bar, line) {
            (Some(bar), Some(line)) => bar.println(line),
            (None, Some(line)) => println!("{line}"),
            (_, None) => {}
        }
        if let Some(bar) = &self.bar {
            let own = p
                .name
                .rsplit_once("::cycle")
                .and_then(|(_, n)| n.parse::<u64>().ok());
            let cycle = match (self.check_by_check, own) {
                (true, Some(n)) => n,
                _ => self.done.div_ceil(self.per_cycle.max(1)),
            };
            let of = self
                .bounds
                .cycles
                .map(|n| format!("/{n}"))
                .unwrap_or_default();
            let check = p.name.split("::").take(2).collect::<Vec<_>>().join("::");
            bar.set_message(format!(
                "cycle {cycle}{of} {check}: {} failed, {} rig errors",
                self.failed, self.errors
            ));
            match (self.bounds.cycles, self.bounds.duration) {
                (Some(_), _) => bar.set_position(self.done),
                (None, Some(_)) => bar.set_position(self.started.elapsed().as_secs()),
                (None, None) => bar.tick(),
            }
        }
    }

    /// Removes the bar, leaving the lines.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }

    /// The trial's line in the chosen format (`None` for terse: a character only).
    fn line(&self, p: &Progress<'_>) -> Option<String> {
        let (word, letter) = match (p.skipped, p.verdict) {
            (Some(_), _) => ("ignored", 'i'),
            (None, Verdict::Pass) => ("ok", '.'),
            (None, Verdict::Fail) => ("failed", 'F'),
            (None, Verdict::Error) => ("failed", 'E'),
        };
        if self.harness.json() {
            let mut event = serde_json::json!({"type": "test", "event": word, "name": p.name});
            if let Some(m) = p.skipped.or(p.message) {
                event["message"] = m.into();
            }
            return Some(event.to_string());
        }
        if self.harness.quiet || self.harness.format == Format::Terse {
            print!("{letter}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            return None;
        }
        let shown = match (p.skipped, p.verdict) {
            (Some(reason), _) => format!("ignored, {reason}"),
            (None, Verdict::Pass) => "ok".into(),
            (None, Verdict::Fail) => format!("FAILED\n    {}", p.message.unwrap_or_default()),
            (None, Verdict::Error) => format!("RIG ERROR\n    {}", p.message.unwrap_or_default()),
        };
        Some(format!("test {} ... {shown}", p.name))
    }
}
