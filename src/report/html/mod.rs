//! `report.html`: the run as a person reads it, in one self-contained file (inline SVG
//! plots, inline style, no script, nothing loaded from anywhere): the run's header, a
//! table per device of each check with its verdict, code basis and statistics, the
//! shmoo grids, the pass rate over a soak's cycles, the board's unsolicited text, and
//! each failure with its measurements, limits and events.
//!
//! It is rendered from `results.jsonl` read back from the run directory (with
//! `stats.json` and `evidence.json`), so `lockrig report DIR` renders the same page
//! from a copy of the directory. Reading streams: per check it keeps counts and at most
//! [`SOAK_BUCKETS`] buckets of cycles, and it keeps the first [`MAX_FAILURES`]
//! failures in full and counts the rest. The directory is untrusted input: no file is
//! opened through a link, each line is bounded ([`read::MAX_LINE`]), and every string
//! from the results is escaped as text, in elements and attributes alike; a strict
//! Content-Security-Policy stops the page from running script or loading anything even
//! if a string slipped through.

mod plot;
pub mod read;
mod trace;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::BufReader;
use std::path::Path;

use serde::Deserialize;

use super::stats::wilson;
use crate::scenario::BOARD_TEXT;

/// The report's file name in the run directory.
pub const REPORT: &str = "report.html";

/// Failures kept in full; later ones are counted.
pub const MAX_FAILURES: usize = 50;

/// Buckets of cycles kept per check for the soak plot (neighbours merge when full).
pub const SOAK_BUCKETS: usize = 128;

/// Distinct (device, check) rows kept; results of further checks are counted.
pub const MAX_CHECKS: usize = 10_000;

/// Shmoo grids kept (the first of each check and device).
pub const MAX_SHMOOS: usize = 20;

/// Distinct lines of board text kept.
pub const MAX_BOARD_TEXT: usize = 100;

/// Log lines of a failure kept.
pub const MAX_LOG_LINES: usize = 400;

/// Longest string kept from any field (longer ones are cut, and say so).
pub const MAX_FIELD: usize = 2000;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    /// An I/O error on a file of the run directory.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A symbolic link where a file was expected: never followed.
    #[error("`{path}`: symbolic link; refused (a run directory is read without following links)")]
    Symlink {
        /// The file.
        path: String,
    },
    /// A special file (FIFO, device, folder) where a file was expected.
    #[error("`{path}`: not a regular file; refused")]
    NotRegular {
        /// The file.
        path: String,
    },
    /// A file over its size limit.
    #[error("`{path}`: larger than {limit} bytes; refused")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// No `results.jsonl`.
    #[error("no results.jsonl in {dir}: not a run directory")]
    NoResults {
        /// The directory.
        dir: String,
    },
}

/// Escapes text for HTML, in element content and in quoted attribute values alike:
/// `& < > " '` become entities and control characters are shown as `\xNN` (ESC as
/// `\x1b`), so nothing from a board or instrument is markup or a terminal sequence.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                '\t' | '\n' => f.write_char(c)?,
                c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                    write!(f, "\\x{:02x}", c as u32)?
                }
                '\u{fffe}' | '\u{ffff}' => f.write_char('\u{fffd}')?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// [`Esc`] as a `String`.
pub fn escape_html(text: &str) -> String {
    Esc(text).to_string()
}

/// A figure as a person writes it: four decimals at most, no trailing zeros.
fn figure(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Cuts a string to [`MAX_FIELD`] characters.
fn cut(s: String) -> String {
    if s.len() <= MAX_FIELD {
        return s;
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &s[..end], s.len() - end)
}

// --- What the report reads of a result: a view of `TrialResult`, every field optional
// so a line from another version still counts.

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ResultView {
    trial: String,
    check: String,
    title: String,
    basis: Vec<String>,
    device: String,
    cycle: Option<u32>,
    rig: String,
    sim_defects: Vec<String>,
    instruments: Vec<IdentityView>,
    started: String,
    skipped: Option<String>,
    trace: Option<String>,
    /// The bench, in a merged run (`lockrig merge`).
    bench: Option<String>,
    outcome: OutcomeView,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
struct IdentityView {
    instrument: String,
    driver: String,
    identity: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct OutcomeView {
    verdict: String,
    message: Option<String>,
    decided_by: Option<DecisionView>,
    measurements: Vec<MeasurementView>,
    log: Vec<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
struct DecisionView {
    role: String,
    step: usize,
    window: String,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
struct MeasurementView {
    step: usize,
    what: String,
    role: String,
    source: String,
    expected: String,
    measured: String,
    value: Option<f64>,
    unit: Option<String>,
    low: Option<f64>,
    high: Option<f64>,
    detail: Option<serde_json::Value>,
    at_ms: f64,
    control: bool,
    pass: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct StatsView {
    check: String,
    device: String,
    measurements: Vec<SpreadView>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct SpreadView {
    step: usize,
    reading: usize,
    role: String,
    unit: Option<String>,
    n: usize,
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
    low: Option<f64>,
    high: Option<f64>,
}

// --- What the report keeps.

/// A run of consecutive cycles of one check and their verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// First cycle.
    pub first: u32,
    /// Last cycle.
    pub last: u32,
    /// Passed in it.
    pub passed: u64,
    /// Passed or failed in it (rig errors say nothing about the device).
    pub decided: u64,
}

/// One cell of a shmoo grid, placed.
#[derive(Debug, Clone)]
pub struct ShmooCell {
    /// Duration index.
    pub x: usize,
    /// Depth index.
    pub y: usize,
    /// The board reset (`None`: not known).
    pub reset: Option<bool>,
    /// The rail reached the depth.
    pub reached: Option<bool>,
    /// The lock was left open or opened.
    pub unsafe_: bool,
    /// With repeated sags: (resets, sags), when only some of them reset the board.
    pub intermittent: Option<(u64, u64)>,
}

/// A measurement on a failure's timeline.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Its lane (role).
    pub lane: usize,
    /// When, in seconds of scenario time.
    pub at_s: f64,
    /// Within limits.
    pub pass: bool,
    /// A positive control.
    pub control: bool,
}

#[derive(Debug, Default)]
struct CheckRow {
    title: String,
    basis: Vec<String>,
    runs: u64,
    passed: u64,
    failed: u64,
    errors: u64,
    skipped: u64,
    max_cycle: u32,
    first_failure: Option<String>,
    buckets: Vec<Bucket>,
    width: u32,
}

impl CheckRow {
    /// Counts a verdict of `cycle` into its bucket: buckets are `width` cycles wide,
    /// and when there are too many, neighbours merge and the width doubles.
    fn bucket(&mut self, cycle: u32, pass: bool) {
        if self.width == 0 {
            self.width = 1;
        }
        let start = (cycle - 1) / self.width * self.width + 1;
        match self.buckets.last_mut() {
            Some(b) if b.first == start => {
                b.last = b.last.max(cycle);
                b.passed += u64::from(pass);
                b.decided += 1;
            }
            _ => self.buckets.push(Bucket {
                first: start,
                last: cycle,
                passed: u64::from(pass),
                decided: 1,
            }),
        }
        if self.buckets.len() > SOAK_BUCKETS {
            self.width *= 2;
            let width = self.width;
            let mut merged: Vec<Bucket> = Vec::with_capacity(SOAK_BUCKETS / 2 + 1);
            for b in self.buckets.drain(..) {
                let start = (b.first - 1) / width * width + 1;
                match merged.last_mut() {
                    Some(m) if m.first == start => {
                        m.last = b.last;
                        m.passed += b.passed;
                        m.decided += b.decided;
                    }
                    _ => merged.push(Bucket { first: start, ..b }),
                }
            }
            self.buckets = merged;
        }
    }

    fn verdict(&self) -> &'static str {
        if self.failed > 0 {
            "FAIL"
        } else if self.errors > 0 {
            "ERROR"
        } else if self.passed > 0 {
            "PASS"
        } else {
            "SKIPPED"
        }
    }
}

#[derive(Debug)]
struct Failure {
    trial: String,
    device: String,
    check: String,
    cycle: Option<u32>,
    verdict: String,
    message: String,
    decided_by: Option<DecisionView>,
    measurements: Vec<MeasurementView>,
    log: Vec<String>,
    log_cut: usize,
    trace: Option<String>,
    bench: Option<String>,
}

#[derive(Debug)]
struct Shmoo {
    key: (String, String),
    trial: String,
    supply: String,
    depths: Vec<f64>,
    durations: Vec<f64>,
    cells: Vec<ShmooCell>,
    verdict: bool,
}

/// Facts about the run that are not in the results.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The seed, when the caller knows it (else read from the evidence's command line).
    pub seed: Option<u64>,
    /// The run directory, opened: failures' traces are read from it for their plots.
    pub dir: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

/// The report being folded from results.
#[derive(Debug, Default)]
pub struct Report {
    rig: String,
    started: String,
    defects: Vec<String>,
    /// The benches of a merged run (`lockrig merge`).
    benches: Vec<String>,
    instruments: BTreeMap<String, IdentityView>,
    rows: BTreeMap<(String, String), CheckRow>,
    rows_dropped: u64,
    failures: Vec<Failure>,
    failures_more: u64,
    shmoos: Vec<Shmoo>,
    board_text: Vec<(String, u64, String)>,
    board_text_more: u64,
    unreadable: Vec<String>,
    unreadable_more: u64,
    totals: [u64; 4],
}

impl Report {
    /// Folds one line of `results.jsonl`.
    pub fn add_line(&mut self, number: usize, line: Result<&[u8], read::TooLong>) {
        let parsed = match line {
            Err(_) => Err(format!(
                "line {number}: longer than {} bytes, skipped",
                read::MAX_LINE
            )),
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => return,
            Ok(bytes) => serde_json::from_slice::<ResultView>(bytes)
                .map_err(|e| format!("line {number}: not a result ({e}), skipped")),
        };
        match parsed {
            Ok(r) => self.add(r),
            Err(why) if self.unreadable.len() < 20 => self.unreadable.push(why),
            Err(_) => self.unreadable_more += 1,
        }
    }

    fn add(&mut self, r: ResultView) {
        if self.rig.is_empty() {
            self.rig = cut(r.rig.clone());
            self.started = cut(r.started.clone());
        }
        if let Some(b) = &r.bench {
            if !self.benches.contains(b) && self.benches.len() < 50 {
                self.benches.push(cut(b.clone()));
            }
        }
        for d in &r.sim_defects {
            if !self.defects.contains(d) && self.defects.len() < 50 {
                self.defects.push(cut(d.clone()));
            }
        }
        for i in &r.instruments {
            if self.instruments.len() < 50 && !self.instruments.contains_key(&i.instrument) {
                let mut i = i.clone();
                i.instrument = cut(i.instrument);
                i.driver = cut(i.driver);
                i.identity = cut(i.identity);
                self.instruments.insert(i.instrument.clone(), i);
            }
        }
        let key = (r.device.clone(), r.check.clone());
        if !self.rows.contains_key(&key) && self.rows.len() >= MAX_CHECKS {
            self.rows_dropped += 1;
            return;
        }
        let row = self.rows.entry(key).or_insert_with(|| CheckRow {
            title: cut(r.title.clone()),
            basis: r.basis.iter().take(20).cloned().map(cut).collect(),
            ..CheckRow::default()
        });
        let cycle = r.cycle.unwrap_or(1).max(1);
        row.max_cycle = row.max_cycle.max(cycle);
        if r.skipped.is_some() {
            row.skipped += 1;
            self.totals[3] += 1;
            return;
        }
        row.runs += 1;
        match r.outcome.verdict.as_str() {
            "pass" => {
                row.passed += 1;
                self.totals[0] += 1;
                row.bucket(cycle, true);
            }
            "fail" => {
                row.failed += 1;
                self.totals[1] += 1;
                row.bucket(cycle, false);
                if row.first_failure.is_none() {
                    row.first_failure = Some(cut(r.trial.clone()));
                }
            }
            _ => {
                row.errors += 1;
                self.totals[2] += 1;
            }
        }
        self.board_text(&r);
        self.shmoo(&r);
        if r.outcome.verdict != "pass" {
            if self.failures.len() < MAX_FAILURES {
                self.failures.push(failure(r));
            } else {
                self.failures_more += 1;
            }
        }
    }

    /// Keeps the distinct console lines that were neither events nor replies.
    fn board_text(&mut self, r: &ResultView) {
        for line in &r.outcome.log {
            let Some((_, rest)) = line.split_once("] ") else {
                continue;
            };
            let rest = rest.strip_prefix("(time read) ").unwrap_or(rest);
            let Some(text) = rest.strip_prefix(BOARD_TEXT) else {
                continue;
            };
            if text.starts_with("EVT ") {
                continue;
            }
            if let Some(seen) = self.board_text.iter_mut().find(|(t, _, _)| t == text) {
                seen.1 += 1;
            } else if self.board_text.len() < MAX_BOARD_TEXT {
                self.board_text
                    .push((cut(text.to_string()), 1, cut(r.trial.clone())));
            } else {
                self.board_text_more += 1;
            }
        }
    }

    fn shmoo(&mut self, r: &ResultView) {
        for m in &r.outcome.measurements {
            let Some(detail) = &m.detail else { continue };
            let Some(rows) = detail.get("cells").and_then(|c| c.as_array()) else {
                continue;
            };
            let key = (r.device.clone(), r.check.clone());
            if self.shmoos.len() >= MAX_SHMOOS
                || self
                    .shmoos
                    .iter()
                    .any(|s| s.key == key && s.supply == m.role)
            {
                continue;
            }
            let numbers = |key: &str| -> Vec<f64> {
                detail
                    .get(key)
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().take(200).filter_map(|x| x.as_f64()).collect())
                    .unwrap_or_default()
            };
            let (depths, durations) = (numbers("depths_v"), numbers("durations_ms"));
            let mut cells = Vec::new();
            for (y, row) in rows.iter().take(depths.len()).enumerate() {
                for (x, c) in row
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(durations.len())
                    .enumerate()
                {
                    cells.push(ShmooCell {
                        x,
                        y,
                        reset: c.get("reset").and_then(|v| v.as_bool()),
                        reached: c.get("reached").and_then(|v| v.as_bool()),
                        unsafe_: c.get("unsafe").and_then(|v| v.as_bool()) == Some(true),
                        intermittent: (c.get("intermittent").and_then(|v| v.as_bool())
                            == Some(true))
                        .then(|| {
                            (
                                c.get("resets").and_then(|v| v.as_u64()).unwrap_or(0),
                                c.get("runs").and_then(|v| v.as_u64()).unwrap_or(0),
                            )
                        }),
                    });
                }
            }
            self.shmoos.push(Shmoo {
                key,
                trial: cut(r.trial.clone()),
                supply: cut(m.role.clone()),
                depths,
                durations,
                cells,
                verdict: m.pass,
            });
        }
    }
}

fn failure(r: ResultView) -> Failure {
    let log_cut = r.outcome.log.len().saturating_sub(MAX_LOG_LINES);
    Failure {
        trial: cut(r.trial),
        device: cut(r.device),
        check: cut(r.check),
        cycle: r.cycle,
        verdict: r.outcome.verdict,
        message: cut(r.outcome.message.unwrap_or_default()),
        decided_by: r.outcome.decided_by,
        measurements: r
            .outcome
            .measurements
            .into_iter()
            .take(500)
            .map(|mut m| {
                m.detail = None;
                m.what = cut(m.what);
                m.expected = cut(m.expected);
                m.measured = cut(m.measured);
                m
            })
            .collect(),
        log: r
            .outcome
            .log
            .into_iter()
            .take(MAX_LOG_LINES)
            .map(cut)
            .collect(),
        log_cut,
        trace: r.trace.map(cut),
        bench: r.bench.map(cut),
    }
}

/// The time and text of a log line (`[  5500.000 ms] step 7: relay door_push on`).
fn log_time(line: &str) -> Option<(f64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (ms, text) = rest.split_once(" ms] ")?;
    let ms: f64 = ms.trim().parse().ok()?;
    ms.is_finite().then_some((ms, text))
}

/// The events a failure's timeline marks: the board's event lines, and steps that
/// drive the rig (not the ones that only observe or wait).
fn events(log: &[String]) -> Vec<(f64, String)> {
    log.iter()
        .filter_map(|l| log_time(l))
        .filter_map(|(ms, text)| {
            let text = text.strip_prefix("(time read) ").unwrap_or(text);
            if let Some(e) = text
                .strip_prefix(BOARD_TEXT)
                .and_then(|t| t.strip_prefix("EVT "))
            {
                let e: String = e.chars().take(16).collect();
                return Some((ms / 1e3, e));
            }
            let (step, what) = text.strip_prefix("step ")?.split_once(": ")?;
            let observe = ["expect", "wait", "watch", "note", "control"]
                .iter()
                .any(|w| what.starts_with(w));
            (!observe).then(|| (ms / 1e3, format!("s{step}")))
        })
        .take(200)
        .collect()
}

/// A failure's trace as a plot with its caption, or a note saying why there is none.
fn trace_figure(facts: &Facts, path: &str) -> String {
    let Some(root) = &facts.dir else {
        return String::new();
    };
    match trace::open(root, path) {
        Ok(Some(file)) => {
            let t = trace::read(file);
            format!(
                "<p class=\"legend\"><span style=\"color:#195aaa\">— meter V</span><span style=\"color:#efa028\">— meter mA</span><span style=\"color:#888\">| supply and relay commands, board events</span> (from <code>{}</code>, {} rows; each meter series thinned to its extremes per bucket)</p>\n{}",
                Esc(path),
                t.rows,
                plot::trace(&t)
            )
        }
        Ok(None) => format!(
            "<p class=\"note\">Trace <code>{}</code> is not in the run directory.</p>",
            Esc(path)
        ),
        Err(e) => format!(
            "<p class=\"note\">Trace not drawn: {}</p>",
            Esc(&e.to_string())
        ),
    }
}

/// Renders the report of the run directory `dir` (read as untrusted input).
pub fn render_dir(dir: &Path, facts: &Facts) -> Result<String, HtmlError> {
    let root = read::open_dir(dir)?;
    let results = read::open_in(&root, "results.jsonl")?.ok_or_else(|| HtmlError::NoResults {
        dir: dir.display().to_string(),
    })?;
    let stats = read::read_small(&root, "stats.json")?;
    let evidence = read::read_small(&root, super::evidence::EVIDENCE)?;
    let facts = &Facts {
        dir: Some(std::sync::Arc::new(root)),
        ..facts.clone()
    };
    render_page(
        BufReader::new(results),
        stats.as_deref(),
        evidence.as_deref(),
        facts,
    )
    .map_err(|source| HtmlError::Io {
        path: "results.jsonl".into(),
        source,
    })
}

/// Renders the page from the lines of a `results.jsonl`, with the run's `stats.json`
/// and `evidence.json` where there are any. All three are untrusted: a line that is
/// too long or not a result is named and skipped, and every string is escaped.
pub fn render_page(
    results: impl std::io::BufRead,
    stats: Option<&[u8]>,
    evidence: Option<&[u8]>,
    facts: &Facts,
) -> std::io::Result<String> {
    let mut report = Report::default();
    read::each_line(results, read::MAX_LINE, |n, line| report.add_line(n, line))?;
    let stats: Vec<StatsView> = stats
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let evidence: serde_json::Value = evidence
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    Ok(report.render(&stats, &evidence, facts))
}

/// Renders the run directory's report and writes it there as [`REPORT`] (atomically).
/// For the run that owns the directory: it must come before the evidence seal.
pub fn write_for_run(dir: &Path, facts: &Facts) -> Result<(), HtmlError> {
    let html = render_dir(dir, facts)?;
    crate::files::write_atomic(&dir.join(REPORT), html.as_bytes()).map_err(|source| HtmlError::Io {
        path: dir.join(REPORT).display().to_string(),
        source,
    })
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#222;margin:0;background:#f4f5f7}
main{max-width:1180px;margin:0 auto;padding:18px 24px 48px;background:#fff}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #333;padding-bottom:3px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid #d0d4d9;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.PASS{background:#e3f4e4;color:#1b5e20;font-weight:700}.FAIL{background:#fde2e2;color:#b71c1c;font-weight:700}
.ERROR{background:#fff1d6;color:#8a5300;font-weight:700}.SKIPPED{background:#eee;color:#555;font-weight:700}
.basis{font-size:12px;color:#555}.note{color:#666;font-size:13px}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:8px 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
pre{background:#f7f7f9;border:1px solid #e1e3e6;padding:6px 8px;font-size:12px;white-space:pre-wrap;word-break:break-all;max-height:420px;overflow:auto}
.failure{border-left:4px solid #c62828;padding-left:12px;margin:18px 0}
.totals td{font-size:16px}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
.legend span{display:inline-block;padding:1px 6px;margin-right:8px;font-size:12px}
";

impl Report {
    /// The page.
    fn render(&self, stats: &[StatsView], evidence: &serde_json::Value, facts: &Facts) -> String {
        let mut h = String::with_capacity(64 << 10);
        let s = |v: &serde_json::Value| v.as_str().map(|x| cut(x.to_string()));
        let suite = s(&evidence["suite"]["name"]).unwrap_or_else(|| "(not recorded)".into());
        let rig = s(&evidence["rig"]["name"]).unwrap_or_else(|| self.rig.clone());
        let version = s(&evidence["lockrig_version"]).unwrap_or_else(|| "(not recorded)".into());
        let command: Vec<String> = evidence["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .take(100)
                    .filter_map(|x| x.as_str().map(|x| cut(x.into())))
                    .collect()
            })
            .unwrap_or_default();
        let seed = facts
            .seed
            .map(|s| s.to_string())
            .or_else(|| {
                command
                    .iter()
                    .position(|a| a == "--seed")
                    .and_then(|i| command.get(i + 1).cloned())
                    .or_else(|| {
                        command
                            .iter()
                            .find_map(|a| a.strip_prefix("--seed=").map(String::from))
                    })
            })
            .unwrap_or_else(|| "1 (default)".into());
        let started = s(&evidence["started"]).unwrap_or_else(|| self.started.clone());
        let [passed, failed, errors, skipped] = self.totals;
        let overall = if failed > 0 {
            "FAIL"
        } else if errors > 0 {
            "ERROR"
        } else if passed > 0 {
            "PASS"
        } else {
            "SKIPPED"
        };
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>lockrig report: {} on {}</title>\n<style>{STYLE}</style></head>\n<body><main>\n\
             <h1>lockrig test report</h1>\n<p class=\"note\">Pre-certification evidence: every verdict below comes from <code>results.jsonl</code> in this run directory.</p>\n",
            Esc(&suite),
            Esc(&rig)
        );
        let _ = write!(h, "<dl class=\"facts\">");
        let mut fact = |k: &str, v: &str| {
            let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", Esc(k), Esc(v));
        };
        if self.benches.is_empty() {
            fact("Rig", &rig);
        } else {
            // A merged run: each bench's suite, lockrig and times are in its own
            // evidence, listed in merged.json.
            fact(
                "Benches",
                &format!(
                    "{} (merged; their sources in merged.json)",
                    self.benches.join(", ")
                ),
            );
        }
        fact("Suite", &suite);
        fact("Seed", &seed);
        fact("lockrig", &version);
        fact("Started", &started);
        if let Some(op) = s(&evidence["operator"]) {
            fact("Operator", &op);
        }
        if let Some(host) = s(&evidence["host"]) {
            fact("Host", &host);
        }
        if !command.is_empty() {
            fact("Command", &command.join(" "));
        }
        if !self.defects.is_empty() {
            fact("Simulator defects", &self.defects.join(", "));
        }
        let _ = writeln!(h, "</dl>");
        let _ = writeln!(
            h,
            "<table class=\"totals\"><tr><th>Overall</th><th>Passed</th><th>Failed</th><th>Rig errors</th><th>Skipped</th></tr>\
             <tr><td class=\"{overall}\" id=\"overall\">{overall}</td><td class=\"n\" id=\"total-passed\">{passed}</td>\
             <td class=\"n\" id=\"total-failed\">{failed}</td><td class=\"n\" id=\"total-errors\">{errors}</td>\
             <td class=\"n\" id=\"total-skipped\">{skipped}</td></tr></table>"
        );
        if !self.unreadable.is_empty() || self.rows_dropped > 0 {
            let _ = write!(h, "<p class=\"note\">Not counted: ");
            for u in &self.unreadable {
                let _ = write!(h, "{}; ", Esc(u));
            }
            if self.unreadable_more > 0 {
                let _ = write!(h, "{} more unreadable lines; ", self.unreadable_more);
            }
            if self.rows_dropped > 0 {
                let _ = write!(
                    h,
                    "{} results of checks beyond the first {MAX_CHECKS}",
                    self.rows_dropped
                );
            }
            let _ = writeln!(h, "</p>");
        }
        self.render_overview(&mut h);
        self.render_devices(&mut h, stats);
        self.render_shmoos(&mut h);
        self.render_soaks(&mut h);
        self.render_failures(&mut h, facts);
        self.render_board_text(&mut h);
        if !self.instruments.is_empty() {
            let _ = write!(h, "<h2>Instruments</h2>\n<table><tr><th>Instrument</th><th>Driver</th><th>Identity (as it answered)</th></tr>\n");
            for i in self.instruments.values() {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    Esc(&i.instrument),
                    Esc(&i.driver),
                    Esc(&i.identity)
                );
            }
            let _ = writeln!(h, "</table>");
        }
        let _ = writeln!(h, "</main></body></html>");
        h
    }

    /// One line per device: how many checks passed, failed, erred or were skipped.
    fn render_overview(&self, h: &mut String) {
        let mut devices: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
        for ((dev, _), row) in &self.rows {
            let d = devices.entry(dev.as_str()).or_default();
            let i = match row.verdict() {
                "PASS" => 0,
                "FAIL" => 1,
                "ERROR" => 2,
                _ => 3,
            };
            d[i] += 1;
        }
        if devices.len() < 2 {
            return;
        }
        let _ = writeln!(
            h,
            "<table class=\"overview\"><tr><th>Device</th><th>Verdict</th><th>Checks passed</th><th>failed</th><th>with rig errors</th><th>skipped</th></tr>"
        );
        for (dev, [p, f, e, s]) in devices {
            let verdict = if f > 0 {
                "FAIL"
            } else if e > 0 {
                "ERROR"
            } else if p > 0 {
                "PASS"
            } else {
                "SKIPPED"
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"{verdict}\">{verdict}</td><td class=\"n\">{p}</td><td class=\"n\">{f}</td><td class=\"n\">{e}</td><td class=\"n\">{s}</td></tr>",
                Esc(dev)
            );
        }
        let _ = writeln!(h, "</table>");
    }

    fn render_devices(&self, h: &mut String, stats: &[StatsView]) {
        let mut device: Option<&str> = None;
        for ((dev, check), row) in &self.rows {
            if device != Some(dev) {
                if device.is_some() {
                    let _ = writeln!(h, "</table>");
                    self.render_spreads(h, device.unwrap_or_default(), stats);
                }
                device = Some(dev);
                let _ = write!(
                    h,
                    "<h2>Device {}</h2>\n<table class=\"device\"><tr><th>Check</th><th>Verdict</th><th>Runs</th><th>Passed</th><th>Failed</th><th>Rig errors</th><th>Skipped</th><th>Pass rate (95% CI)</th><th>Code basis</th></tr>\n",
                    Esc(dev)
                );
            }
            let decided = row.passed + row.failed;
            let rate = match wilson(row.passed, decided) {
                Some((lo, hi)) => format!(
                    "{}% ({}–{}%)",
                    figure(100.0 * row.passed as f64 / decided as f64),
                    figure((1000.0 * lo).round() / 10.0),
                    figure((1000.0 * hi).round() / 10.0)
                ),
                None => "–".into(),
            };
            let verdict = row.verdict();
            let _ = writeln!(
                h,
                "<tr class=\"check\" data-device=\"{}\" data-check=\"{}\"><td><b>{}</b><br><span class=\"basis\">{}</span></td>\
                 <td class=\"{verdict}\">{verdict}</td><td class=\"n runs\">{}</td><td class=\"n passed\">{}</td><td class=\"n failed\">{}</td>\
                 <td class=\"n errors\">{}</td><td class=\"n skipped\">{}</td><td class=\"n\">{}</td><td class=\"basis\">{}</td></tr>",
                Esc(dev),
                Esc(check),
                Esc(check),
                Esc(&row.title),
                row.runs,
                row.passed,
                row.failed,
                row.errors,
                row.skipped,
                Esc(&rate),
                row.basis.iter().map(|b| escape_html(b)).collect::<Vec<_>>().join("<br>")
            );
        }
        if let Some(dev) = device {
            let _ = writeln!(h, "</table>");
            self.render_spreads(h, dev, stats);
        }
    }

    fn render_spreads(&self, h: &mut String, device: &str, stats: &[StatsView]) {
        let rows: Vec<&StatsView> = stats
            .iter()
            .filter(|s| s.device == device && !s.measurements.is_empty())
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = write!(
            h,
            "<details><summary>Measurement statistics on {} (from stats.json)</summary>\n<table><tr><th>Check</th><th>Step</th><th>Role</th><th>n</th><th>min</th><th>median</th><th>p95</th><th>max</th><th>limits</th></tr>\n",
            Esc(device)
        );
        for s in rows {
            for m in s.measurements.iter().take(200) {
                let unit = m
                    .unit
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                let f = |v: f64| format!("{}{unit}", figure(v));
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"n\">{}{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    Esc(&s.check),
                    m.step,
                    if m.reading > 1 { format!(" #{}", m.reading) } else { String::new() },
                    Esc(&m.role),
                    m.n,
                    Esc(&f(m.min)),
                    Esc(&f(m.median)),
                    Esc(&f(m.p95)),
                    Esc(&f(m.max)),
                    Esc(&limits(m.low, m.high, m.unit.as_deref()))
                );
            }
        }
        let _ = writeln!(h, "</table></details>");
    }

    fn render_shmoos(&self, h: &mut String) {
        if self.shmoos.is_empty() {
            return;
        }
        let _ = write!(
            h,
            "<h2>Brown-out shmoo</h2>\n<p class=\"legend\"><span style=\"background:#2e7d32;color:#fff\">no reset</span><span style=\"background:#efa028\">reset</span><span style=\"background:#195aaa;color:#fff\">reset some of the times (k/n)</span><span style=\"background:#c62828;color:#fff\">unsafe (lock open)</span><span style=\"background:#bdbdbd\">rail did not reach the depth</span><span style=\"border:1px solid #999\">not run</span></p>\n"
        );
        for s in &self.shmoos {
            let resets = s.cells.iter().filter(|c| c.reset == Some(true)).count();
            let _ = write!(
                h,
                "<h3 class=\"shmoo\">{} – supply {} <span class=\"{}\">{}</span></h3>\n<p class=\"note\">{} cells run, {} reset the board.</p>\n{}\n",
                Esc(&s.trial),
                Esc(&s.supply),
                if s.verdict { "PASS" } else { "FAIL" },
                if s.verdict { "no unsafe cell" } else { "UNSAFE CELL" },
                s.cells.len(),
                resets,
                plot::shmoo(&s.depths, &s.durations, &s.cells)
            );
        }
    }

    fn render_soaks(&self, h: &mut String) {
        let soaks: Vec<_> = self.rows.iter().filter(|(_, r)| r.max_cycle > 1).collect();
        if soaks.is_empty() {
            return;
        }
        let _ = writeln!(h, "<h2>Soak: pass rate over cycles</h2>");
        for ((dev, check), row) in soaks {
            let width = if row.width > 1 {
                format!(", each point {} cycles", row.width)
            } else {
                String::new()
            };
            let _ = write!(
                h,
                "<h3 class=\"soak\">{} on {}</h3>\n<p class=\"note\">{} cycles{width}; {} passed, {} failed, {} rig errors; first failure: {}.</p>\n{}\n",
                Esc(check),
                Esc(dev),
                row.max_cycle,
                row.passed,
                row.failed,
                row.errors,
                Esc(row.first_failure.as_deref().unwrap_or("none")),
                plot::soak(&row.buckets)
            );
        }
    }

    fn render_failures(&self, h: &mut String, facts: &Facts) {
        if self.failures.is_empty() {
            return;
        }
        let _ = writeln!(h, "<h2>Failures and rig errors</h2>");
        if self.failures_more > 0 {
            let _ = writeln!(
                h,
                "<p class=\"note\">The first {MAX_FAILURES} are shown in full; {} more are counted in the tables above and are in results.jsonl.</p>",
                self.failures_more
            );
        }
        for f in &self.failures {
            let verdict = if f.verdict == "fail" { "FAIL" } else { "ERROR" };
            let cycle = f.cycle.map(|c| format!(", cycle {c}")).unwrap_or_default()
                + &f.bench
                    .as_ref()
                    .map(|b| format!(", bench {b}"))
                    .unwrap_or_default();
            let _ = write!(
                h,
                "<section class=\"failure\"><h3>{} <span class=\"{verdict}\">{verdict}</span></h3>\n<p class=\"note\">{} on {}{}</p>\n<p><b>{}</b></p>\n",
                Esc(&f.trial),
                Esc(&f.check),
                Esc(&f.device),
                Esc(&cycle),
                Esc(&f.message)
            );
            if let Some(d) = &f.decided_by {
                let _ = writeln!(
                    h,
                    "<p class=\"note\">Decided by {} at step {} ({}).</p>",
                    Esc(&d.role),
                    d.step,
                    Esc(&d.window)
                );
            }
            if let Some(path) = &f.trace {
                let _ = writeln!(h, "{}", trace_figure(facts, path));
            }
            let mut roles: Vec<String> = Vec::new();
            let mut marks = Vec::new();
            for m in &f.measurements {
                let lane = match roles.iter().position(|r| *r == m.role) {
                    Some(i) => i,
                    None if roles.len() < 12 => {
                        roles.push(m.role.clone());
                        roles.len() - 1
                    }
                    None => continue,
                };
                if m.at_ms.is_finite() {
                    marks.push(Mark {
                        lane,
                        at_s: m.at_ms / 1e3,
                        pass: m.pass,
                        control: m.control,
                    });
                }
            }
            if !marks.is_empty() {
                let _ = write!(
                    h,
                    "<p class=\"legend\"><span style=\"color:#2e7d32\">● within limits</span><span style=\"color:#c62828\">● out of limits</span><span style=\"color:#195aaa\">● positive control</span><span style=\"color:#888\">| event (sN: step N drives the rig; board events by name)</span></p>\n{}\n",
                    plot::timeline(&roles, &marks, &events(&f.log))
                );
            }
            let _ = writeln!(h, "<table class=\"measurements\"><tr><th>Step</th><th>t (s)</th><th>Role</th><th>Evidence</th><th>Expected</th><th>Measured</th><th>Value</th><th>Limits</th><th>Result</th></tr>");
            for m in &f.measurements {
                let result = if m.pass { "PASS" } else { "FAIL" };
                let value = m
                    .value
                    .map(|v| {
                        format!(
                            "{}{}",
                            figure(v),
                            m.unit
                                .as_deref()
                                .map(|u| format!(" {u}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"{result}\">{}</td></tr>",
                    m.step,
                    figure(m.at_ms / 1e3),
                    Esc(&m.role),
                    Esc(&m.source),
                    if m.control { " (control)" } else { "" },
                    Esc(&m.expected),
                    Esc(&m.measured),
                    Esc(&value),
                    Esc(&limits(m.low, m.high, m.unit.as_deref())),
                    if m.pass { "within" } else { "OUT" }
                );
            }
            let _ = write!(
                h,
                "</table>\n<details><summary>Step log ({} lines{})</summary><pre>",
                f.log.len(),
                if f.log_cut > 0 {
                    format!(", {} more cut", f.log_cut)
                } else {
                    String::new()
                }
            );
            for l in &f.log {
                let _ = writeln!(h, "{}", Esc(l));
            }
            let _ = writeln!(h, "</pre></details></section>");
        }
    }

    fn render_board_text(&self, h: &mut String) {
        if self.board_text.is_empty() {
            return;
        }
        let _ = write!(
            h,
            "<h2>Board text</h2>\n<p class=\"note\">Lines the board printed that are neither events nor replies (banners, logs), as received; control characters are shown as <code>\\xNN</code> (<code>\\x1b</code> is ESC).</p>\n<table class=\"board-text\"><tr><th>Line</th><th>Times</th><th>First in</th></tr>\n"
        );
        for (text, count, trial) in &self.board_text {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"n\">{count}</td><td>{}</td></tr>",
                Esc(text),
                Esc(trial)
            );
        }
        let _ = writeln!(h, "</table>");
        if self.board_text_more > 0 {
            let _ = writeln!(
                h,
                "<p class=\"note\">{} further lines not shown.</p>",
                self.board_text_more
            );
        }
    }
}

/// Limits as text: `0.1–0.5 A`, `≥ 3 V`, `≤ 1500 ms`, or empty.
fn limits(low: Option<f64>, high: Option<f64>, unit: Option<&str>) -> String {
    let unit = unit.map(|u| format!(" {u}")).unwrap_or_default();
    match (low, high) {
        (Some(l), Some(h)) => format!("{}–{}{unit}", figure(l), figure(h)),
        (Some(l), None) => format!("≥ {}{unit}", figure(l)),
        (None, Some(h)) => format!("≤ {}{unit}", figure(h)),
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests;
