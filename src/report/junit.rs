//! `junit.xml` for lab CI (Jenkins xUnit schema `junit-10.xsd`), rewritten atomically
//! after every trial so it is always a complete, valid document.
//!
//! Durations are rounded to milliseconds (the schema's readers reject more decimals)
//! and every text is stripped of control characters and ANSI escapes. Measurements go
//! to each testcase's `system-out`; a failure's message says expected vs measured.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use junit_report::{ReportBuilder, TestCase, TestSuiteBuilder};
use time::OffsetDateTime;

use super::{sanitize, write_atomic};
use crate::run::TrialResult;
use crate::scenario::Verdict;

/// Accumulates results and keeps the file current.
///
/// The file is rewritten atomically after a result at most every [`REWRITE_EVERY`]
/// (every check on a real bench, where checks take seconds; in batches on the
/// simulator, where they take milliseconds), and always when the report is dropped.
/// A large report waits ten times as long as its last rewrite took, so rewriting
/// never costs more than a tenth of the run.
pub struct JunitReport {
    path: PathBuf,
    suite: String,
    started: OffsetDateTime,
    cases: Vec<TestCase>,
    written: Option<std::time::Instant>,
    /// How long the next rewrite must wait after the last one.
    pause: std::time::Duration,
    dirty: bool,
    /// The suite's own `system-out`: notes about the whole run (the evidence bundle).
    note: String,
}

/// The shortest interval between two rewrites of the file.
pub const REWRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn millis(d: std::time::Duration) -> time::Duration {
    time::Duration::milliseconds(d.as_millis().min(i64::MAX as u128) as i64)
}

/// The testcase body: what was checked, against what basis, and the evidence.
pub fn system_out(r: &TrialResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "check: {} - {}", r.check, r.title);
    let _ = writeln!(s, "device: {}   rig: {}", r.device, r.rig);
    if !r.sim_defects.is_empty() {
        let _ = writeln!(s, "simulated defects: {}", r.sim_defects.join(", "));
    }
    for b in &r.basis {
        let _ = writeln!(s, "basis: {b}");
    }
    for i in &r.instruments {
        let _ = writeln!(
            s,
            "instrument: {} ({}) {}",
            i.instrument, i.driver, i.identity
        );
    }
    for p in &r.protections {
        let _ = writeln!(s, "protection: {p}");
    }
    if let Some(role) = &r.outcome.decided_by {
        let _ = writeln!(
            s,
            "decided by: {} at step {} ({})",
            role.role, role.step, role.window
        );
    }
    let _ = writeln!(
        s,
        "scenario time: {:.3} s",
        r.outcome.scenario_time.as_secs_f64()
    );
    let _ = writeln!(
        s,
        "sampling: poll {} ms, largest gap between samples of a physical input {} ms",
        r.outcome.poll_ms, r.outcome.max_gap_ms
    );
    let _ = writeln!(s, "measurements:");
    for m in &r.outcome.measurements {
        let _ = writeln!(
            s,
            "  [{}] step {} {}: expected {}, measured {} at {:.3} ms",
            match (m.pass, m.control) {
                (true, false) => "ok",
                (true, true) => "control ok",
                (false, _) => "FAIL",
            },
            m.step,
            m.role,
            m.expected,
            m.measured,
            m.at_ms
        );
        if let Some(detail) = &m.detail {
            let _ = writeln!(s, "    detail: {detail}");
        }
    }
    let _ = writeln!(s, "log:");
    for l in &r.outcome.log {
        let _ = writeln!(s, "  {l}");
    }
    sanitize(&s)
}

impl JunitReport {
    /// A report for a suite, written to `path`.
    pub fn new(path: PathBuf, suite: &str) -> Self {
        Self {
            path,
            suite: suite.to_string(),
            started: OffsetDateTime::now_utc(),
            cases: Vec::new(),
            written: None,
            pause: REWRITE_EVERY,
            dirty: false,
            note: String::new(),
        }
    }

    /// Sets the suite-level `system-out`, written with the next rewrite.
    pub fn note(&mut self, text: &str) {
        self.note = sanitize(text);
        self.dirty = true;
    }

    /// Adds a result and rewrites the file.
    pub fn add(&mut self, r: &TrialResult) -> io::Result<()> {
        let d = millis(r.wall_time);
        let name = sanitize(&r.trial);
        let mut case = match (&r.skipped, r.outcome.verdict) {
            (Some(reason), _) => TestCase::skipped_with_cause(&name, "skipped", &sanitize(reason)),
            (None, Verdict::Pass) => TestCase::success(&name, d),
            (None, Verdict::Fail) => TestCase::failure(
                &name,
                d,
                "check failed",
                &sanitize(r.outcome.message.as_deref().unwrap_or("")),
            ),
            (None, Verdict::Error) => TestCase::error(
                &name,
                d,
                "rig error",
                &sanitize(r.outcome.message.as_deref().unwrap_or("")),
            ),
        };
        case.set_classname(&sanitize(&format!("lockrig.{}.{}", self.suite, r.device)));
        case.set_system_out(&system_out(r));
        self.cases.push(case);
        self.dirty = true;
        if self.written.is_none_or(|t| t.elapsed() >= self.pause) {
            self.write()?;
        }
        Ok(())
    }

    /// Writes the current document now.
    pub fn write(&mut self) -> io::Result<()> {
        let started = std::time::Instant::now();
        self.written = Some(started);
        self.dirty = false;
        let result = self.write_now();
        self.pause = REWRITE_EVERY.max(started.elapsed() * 10);
        result
    }

    fn write_now(&self) -> io::Result<()> {
        let mut suite = TestSuiteBuilder::new(&format!("lockrig.{}", self.suite));
        suite
            .set_timestamp(self.started)
            .add_testcases(self.cases.iter().cloned());
        if !self.note.is_empty() {
            suite.set_system_out(&self.note);
        }
        let suite = suite.build();
        let mut xml = Vec::new();
        ReportBuilder::new()
            .add_testsuite(suite)
            .build()
            .write_xml(&mut xml)
            .map_err(io::Error::other)?;
        write_atomic(&self.path, &xml)
    }
}

impl Drop for JunitReport {
    fn drop(&mut self) {
        if self.dirty {
            if let Err(e) = self.write() {
                tracing::error!("cannot write {}: {e}", self.path.display());
            }
        }
    }
}
