//! `junit.xml` for lab CI (Jenkins xUnit schema `junit-10.xsd`): one `<testsuite>`
//! per device, with the run's facts as `<properties>`, kept a complete, valid document
//! throughout the run.
//!
//! Memory stays flat over a soak: each testcase is rendered once, when its trial ends,
//! and appended to its device's spool, an unlinked file in the report's directory; only
//! the counts stay in memory. The document is rewritten atomically from the spools
//! (streamed, never held whole) after a result at most every [`REWRITE_EVERY`], and
//! always when the report is dropped. A large report waits ten times as long as its
//! last rewrite took, so rewriting never costs more than a tenth of the run.
//!
//! The XML is written here rather than with the junit-report crate because that crate
//! builds the whole document in memory, which a 10,000-trial soak cannot afford;
//! quick-xml does the escaping. Durations are rounded to milliseconds (the schema's
//! readers reject more decimals) and every text is stripped of control characters and
//! ANSI escapes. A failure's body is the lab note: expected vs measured, and the window
//! that decided it; the testcase's `system-out` carries all the evidence.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quick_xml::escape::escape;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::sanitize;
use crate::run::TrialResult;
use crate::scenario::Verdict;

/// The shortest interval between two rewrites of the file.
pub const REWRITE_EVERY: Duration = Duration::from_millis(250);

/// What the run was: the properties every testsuite carries.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Suite name.
    pub suite: String,
    /// Rig name.
    pub rig: String,
    /// The seed of randomized steps and simulated boards.
    pub seed: u64,
    /// Sampling interval of timed observations.
    pub poll: Duration,
    /// The run directory, absolute: a testcase names its trace as an attachment from it.
    pub run_dir: PathBuf,
}

/// One device's testsuite: its counts in memory, its testcases on disk.
struct DeviceSuite {
    device: String,
    /// Start of its first trial.
    timestamp: OffsetDateTime,
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
    time: Duration,
    /// Simulated defects its boards were built with.
    sim_defects: Vec<String>,
    spool: File,
}

/// Keeps `junit.xml` current as results arrive.
pub struct JunitReport {
    path: PathBuf,
    facts: RunFacts,
    hostname: String,
    started: OffsetDateTime,
    suites: Vec<DeviceSuite>,
    written: Option<Instant>,
    /// How long the next rewrite must wait after the last one.
    pause: Duration,
    dirty: bool,
    /// More properties of the run (the evidence bundle's), after the facts.
    more: Vec<(String, String)>,
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
    if !r.outcome.dropped.is_none() {
        let _ = writeln!(s, "evidence lost: {}", r.outcome.dropped);
    }
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

/// The failure or error body: what was expected and measured, and what decided it.
pub fn lab_note(r: &TrialResult) -> String {
    let mut s = String::new();
    if let Some(m) = &r.outcome.message {
        let _ = writeln!(s, "{m}");
    }
    if let Some(d) = &r.outcome.decided_by {
        let _ = writeln!(
            s,
            "decided by: {} at step {} ({})",
            d.role, d.step, d.window
        );
    }
    for m in r.outcome.measurements.iter().filter(|m| !m.pass) {
        let _ = writeln!(
            s,
            "step {} {}: expected {}, measured {} at {:.3} ms",
            m.step, m.role, m.expected, m.measured, m.at_ms
        );
    }
    for b in &r.basis {
        let _ = writeln!(s, "basis: {b}");
    }
    sanitize(&s)
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_millis() as f64 / 1000.0)
}

fn attr(value: &str) -> String {
    escape(sanitize(value).as_str()).into_owned()
}

fn rfc3339(t: OffsetDateTime) -> String {
    // Whole seconds: the schema's readers expect `xs:dateTime` without an offset.
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_default()
        .trim_end_matches('Z')
        .to_string()
}

/// One `<testcase>` element. Its trace, if kept, is named in `system-out` as an
/// attachment (`[[ATTACHMENT|/abs/path]]` on a line of its own), which Jenkins'
/// junit-attachments plugin and Azure DevOps archive with the result.
pub fn testcase(facts: &RunFacts, r: &TrialResult) -> String {
    let suite = &facts.suite;
    let mut x = format!(
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\" timestamp=\"{}\">\n",
        attr(&r.trial),
        attr(&format!("lockrig.{suite}.{}", r.device)),
        seconds(r.wall_time),
        rfc3339(r.started),
    );
    let element = match (&r.skipped, r.outcome.verdict) {
        (Some(reason), _) => Some(("skipped", "skipped", reason.clone())),
        (None, Verdict::Pass) => None,
        (None, Verdict::Fail) => Some(("failure", "check failed", lab_note(r))),
        (None, Verdict::Error) => Some(("error", "rig error", lab_note(r))),
    };
    if let Some((tag, kind, body)) = element {
        let message = r
            .skipped
            .clone()
            .or_else(|| r.outcome.message.clone())
            .unwrap_or_default();
        let _ = writeln!(
            x,
            "      <{tag} type=\"{kind}\" message=\"{}\">{}</{tag}>",
            attr(&message),
            escape(sanitize(&body).as_str())
        );
    }
    let mut out = system_out(r);
    if let Some(trace) = &r.trace {
        let _ = writeln!(
            out,
            "[[ATTACHMENT|{}]]",
            facts.run_dir.join(trace).display()
        );
    }
    let _ = writeln!(
        x,
        "      <system-out>{}</system-out>\n    </testcase>",
        escape(out.as_str())
    );
    x
}

impl JunitReport {
    /// A report for a run, written to `path`.
    pub fn new(path: PathBuf, facts: RunFacts) -> Self {
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            path,
            facts,
            hostname,
            started: OffsetDateTime::now_utc(),
            suites: Vec::new(),
            written: None,
            pause: REWRITE_EVERY,
            dirty: false,
            more: Vec::new(),
        }
    }

    /// Adds properties every testsuite carries after the run's facts.
    pub fn add_properties(&mut self, properties: Vec<(String, String)>) {
        self.more.extend(properties);
        self.dirty = true;
    }

    /// Adds a result and, when due, rewrites the file.
    pub fn add(&mut self, r: &TrialResult) -> io::Result<()> {
        let case = testcase(&self.facts, r);
        let at = match self.suites.iter().position(|s| s.device == r.device) {
            Some(i) => i,
            None => {
                self.suites.push(DeviceSuite {
                    device: r.device.clone(),
                    timestamp: r.started,
                    tests: 0,
                    failures: 0,
                    errors: 0,
                    skipped: 0,
                    time: Duration::ZERO,
                    sim_defects: r.sim_defects.clone(),
                    spool: spool(&self.path)?,
                });
                self.suites.len() - 1
            }
        };
        let suite = &mut self.suites[at];
        suite.spool.write_all(case.as_bytes())?;
        suite.tests += 1;
        suite.time += Duration::from_millis(r.wall_time.as_millis() as u64);
        match (&r.skipped, r.outcome.verdict) {
            (Some(_), _) => suite.skipped += 1,
            (None, Verdict::Pass) => {}
            (None, Verdict::Fail) => suite.failures += 1,
            (None, Verdict::Error) => suite.errors += 1,
        }
        self.dirty = true;
        if self.written.is_none_or(|t| t.elapsed() >= self.pause) {
            self.write()?;
        }
        Ok(())
    }

    /// Writes the current document now.
    pub fn write(&mut self) -> io::Result<()> {
        let started = Instant::now();
        self.written = Some(started);
        self.dirty = false;
        let result = self.write_now();
        self.pause = REWRITE_EVERY.max(started.elapsed() * 10);
        result
    }

    fn write_now(&mut self) -> io::Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut out = BufWriter::new(crate::files::create_file(&tmp)?);
        let sum = |f: fn(&DeviceSuite) -> u64| self.suites.iter().map(f).sum::<u64>();
        let total: Duration = self.suites.iter().map(|s| s.time).sum();
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            out,
            r#"<testsuites name="lockrig.{}" tests="{}" failures="{}" errors="{}" time="{}">"#,
            attr(&self.facts.suite),
            sum(|s| s.tests),
            sum(|s| s.failures),
            sum(|s| s.errors),
            seconds(total),
        )?;
        for (id, s) in self.suites.iter_mut().enumerate() {
            writeln!(
                out,
                r#"  <testsuite id="{id}" name="lockrig.{}.{}" package="lockrig.{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{}" timestamp="{}" hostname="{}">"#,
                attr(&self.facts.suite),
                attr(&s.device),
                attr(&self.facts.suite),
                s.tests,
                s.failures,
                s.errors,
                s.skipped,
                seconds(s.time),
                rfc3339(s.timestamp),
                attr(&self.hostname),
            )?;
            writeln!(out, "    <properties>")?;
            let poll = format!("{} ms", self.facts.poll.as_millis());
            let mut properties = vec![
                ("lockrig.version", env!("CARGO_PKG_VERSION").to_string()),
                ("rig", self.facts.rig.clone()),
                ("device", s.device.clone()),
                ("suite", self.facts.suite.clone()),
                ("seed", self.facts.seed.to_string()),
                ("poll", poll),
                ("run.started", rfc3339(self.started)),
            ];
            if !s.sim_defects.is_empty() {
                properties.push(("sim.defects", s.sim_defects.join(", ")));
            }
            properties.extend(self.more.iter().map(|(k, v)| (k.as_str(), v.clone())));
            for (k, v) in properties {
                writeln!(out, r#"      <property name="{k}" value="{}"/>"#, attr(&v))?;
            }
            writeln!(out, "    </properties>")?;
            copy_spool(&mut s.spool, &mut out)?;
            writeln!(out, "  </testsuite>")?;
        }
        writeln!(out, "</testsuites>")?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// An unnamed file beside the report: created, then unlinked at once, so it vanishes
/// with the process however the process ends.
/// An unlinked scratch file beside `report`, read and written, gone when closed.
pub(crate) fn spool(report: &Path) -> io::Result<File> {
    let dir = report
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = dir.join(format!(
        ".junit-spool-{}-{}",
        std::process::id(),
        next_spool()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

fn next_spool() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Copies a spool into the document and leaves its position at the end for appending.
fn copy_spool(spool: &mut File, out: &mut impl Write) -> io::Result<()> {
    let end = spool.stream_position()?;
    spool.seek(SeekFrom::Start(0))?;
    let copied = io::copy(&mut Read::by_ref(spool).take(end), out)?;
    spool.seek(SeekFrom::Start(end))?;
    if copied != end {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the JUnit spool is shorter than written",
        ));
    }
    Ok(())
}

impl Drop for JunitReport {
    fn drop(&mut self) {
        if self.dirty || self.written.is_none() {
            if let Err(e) = self.write() {
                tracing::error!("cannot write {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Outcome;

    fn result(device: &str, verdict: Verdict, board_says: &str) -> TrialResult {
        let mut outcome = Outcome::error(format!("expected engaged, measured {board_says}"));
        outcome.verdict = verdict;
        outcome.log.push(format!("console: {board_says}"));
        TrialResult {
            trial: format!("fire::releases::{device}"),
            check: "fire::releases".into(),
            title: "releases".into(),
            basis: vec!["NFPA 72 21.9.1".into()],
            device: device.into(),
            cycle: None,
            rig: "sim".into(),
            seed: Some(1),
            sim_defects: Vec::new(),
            instruments: Vec::new(),
            protections: Vec::new(),
            started: OffsetDateTime::now_utc(),
            wall_time: Duration::from_micros(1234),
            skipped: None,
            trace: (verdict == Verdict::Fail).then(|| format!("traces/{device}.csv")),
            interrupted: None,
            safe_state: None,
            outcome,
        }
    }

    #[test]
    fn board_text_is_escaped_and_counts_follow_the_spools() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        let facts = RunFacts {
            suite: "s".into(),
            rig: "sim".into(),
            seed: 7,
            poll: Duration::from_millis(10),
            run_dir: dir.path().to_path_buf(),
        };
        let hostile = "<script>alert(1)</script>\u{1b}[31m]]></testcase>";
        {
            let mut report = JunitReport::new(path.clone(), facts);
            report.add(&result("a", Verdict::Fail, hostile)).unwrap();
            report.add(&result("b", Verdict::Pass, "ok")).unwrap();
            report.add(&result("a", Verdict::Error, "x")).unwrap();
        }
        let xml = std::fs::read_to_string(&path).unwrap();
        // The failure's trace is an attachment, on a line of its own, by absolute path.
        let attachment = format!(
            "\n[[ATTACHMENT|{}]]\n",
            dir.path().join("traces/a.csv").display()
        );
        assert_eq!(xml.matches(&attachment).count(), 1, "{xml}");
        assert!(!xml.contains("<script>"), "{xml}");
        assert!(
            xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{xml}"
        );
        assert!(!xml.contains('\u{1b}'));
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert_eq!(xml.matches("</testcase>").count(), 3);
        assert!(xml.contains(r#"name="lockrig.s.a" package="lockrig.s" tests="2" failures="1" errors="1" skipped="0""#), "{xml}");
        assert!(xml.contains(r#"<testsuites name="lockrig.s" tests="3" failures="1" errors="1""#));
        // Only the document is left beside it: the spools were never named.
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "{files:?}");
    }
}
