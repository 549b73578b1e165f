//! Each trial's timeline as a CSV file in the run directory (`traces/TRIAL.csv`),
//! written row by row as the trial runs, so a long trial costs no memory and an
//! interrupted run keeps what was traced.
//!
//! ```text
//! t_s,source,role,value,ack_ms,timing
//! 0.000000,step,1,output main off,,exact
//! 0.000000,supply,main,off,0.000,exchange
//! 5.010000,input,door_position,closed,0.000,exchange
//! 5.193000,board,console,EVT BOOT POR,,uptime
//! ```
//!
//! `t_s` is seconds on the rig's clock from the trial's start; an exchange is stamped
//! when it began and `ack_ms` says how long the instrument took to answer; a board line
//! is placed by the board's uptime stamp or, failing that, when it was `heard` (a
//! background listener on a bench in real time; `ack_ms` is then how long before `t_s`
//! it may have been printed) or `read` (between steps). Secrets
//! are redacted; board text that a spreadsheet would take for a formula is prefixed with
//! `'`; each file is capped at [`MAX_TRACE_BYTES`], the board's lines in it at
//! [`MAX_BOARD_BYTES`], and what the caps dropped is counted in the file's last row.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::secrets::Secrets;
use crate::rig::timeline::{Recorder, Row, Source, Timing};

/// The most one trial's trace takes on disk: a 40 s brown-out check sampled at 10 ms
/// takes about 0.6 MB, so this is far beyond a healthy trial, and bounds a runaway one.
pub const MAX_TRACE_BYTES: u64 = 32 << 20;

/// The most of a trace the board's own lines take: a healthy board prints a few lines
/// a second; a flooding one fills this and its further lines are counted, not kept
/// (the samples and commands go on being traced).
pub const MAX_BOARD_BYTES: u64 = 1 << 20;

/// The run directory's folder of traces.
pub const TRACES: &str = "traces";

/// Which trials keep their trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Keep {
    /// Every trial.
    All,
    /// Trials that failed or ended in a rig error (a soak's passes are not kept).
    Failed,
    /// None: no trace is written.
    None,
}

/// Where the traces go and which are kept.
#[derive(Debug, Clone)]
pub struct Traces {
    /// The run directory.
    pub dir: PathBuf,
    /// Which trials keep theirs.
    pub keep: Keep,
}

/// A file name for a trial: `::` becomes `.`, anything but letters, digits, `.`, `-`
/// and `_` becomes `_`.
pub fn file_name(trial: &str) -> String {
    let name: String = trial
        .replace("::", ".")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.csv")
}

/// Where a trace's rows go while its trial runs.
enum Sink {
    /// Streamed to its file: kept whatever the verdict, and an interrupted run keeps
    /// what was traced.
    File(BufWriter<File>),
    /// Held until the verdict (only a failure's is kept): a soak's passing cycles cost
    /// no disk. Bounded by [`MAX_TRACE_BYTES`].
    Memory(Vec<u8>),
}

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::File(f) => f.write(buf),
            Self::Memory(v) => v.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::File(f) => f.flush(),
            Self::Memory(_) => Ok(()),
        }
    }
}

/// One trial's trace being written.
pub struct TraceFile {
    out: csv::Writer<Sink>,
    /// The file, in the run directory.
    path: PathBuf,
    origin: Duration,
    secrets: Arc<Secrets>,
    written: u64,
    board: u64,
    dropped: u64,
    error: Option<io::Error>,
    time: String,
    ack: String,
}

impl TraceFile {
    /// Starts the trace of `trial`, to be `traces/NAME.csv` under the run directory:
    /// created now and streamed when every trace is kept, held in memory until the
    /// verdict when only failures keep theirs. Times are counted from `origin` on the
    /// rig's clock. Returns it and its path relative to the run directory.
    pub fn create(
        run_dir: &Path,
        trial: &str,
        origin: Duration,
        secrets: Arc<Secrets>,
        keep: Keep,
    ) -> io::Result<(Self, PathBuf)> {
        let relative = Path::new(TRACES).join(file_name(trial));
        let path = run_dir.join(&relative);
        let sink = if keep == Keep::All {
            crate::files::create_dirs(&run_dir.join(TRACES))?;
            Sink::File(BufWriter::new(crate::files::create_file(&path)?))
        } else {
            Sink::Memory(Vec::new())
        };
        let mut out = csv::Writer::from_writer(sink);
        out.write_record(["t_s", "source", "role", "value", "ack_ms", "timing"])?;
        Ok((
            Self {
                out,
                path,
                origin,
                secrets,
                written: 0,
                board: 0,
                dropped: 0,
                error: None,
                time: String::new(),
                ack: String::new(),
            },
            relative,
        ))
    }
}

/// Board and console text is the board's: a leading `=`, `+`, `-`, `@`, tab or CR
/// would make a spreadsheet evaluate it, so it gets a leading `'`.
fn defused(source: Source, text: &str) -> Option<String> {
    let untrusted = matches!(source, Source::Board | Source::Console);
    (untrusted && text.starts_with(['=', '+', '-', '@', '\t', '\r'])).then(|| format!("'{text}"))
}

impl Recorder for TraceFile {
    fn record(&mut self, row: Row<'_>) {
        use std::fmt::Write as _;
        if self.error.is_some() {
            return;
        }
        // Secrets travel only in console lines and the steps that send them; readings
        // and commands are lockrig's own numbers and state names.
        let value = match row.source {
            Source::Console | Source::Board | Source::Step => self.secrets.redacted(row.value),
            _ => row.value.into(),
        };
        let value = defused(row.source, &value).map_or(value, Into::into);
        let role = row.role;
        let size = (value.len() + role.len() + 40) as u64;
        let board = row.source == Source::Board;
        if self.written + size > MAX_TRACE_BYTES || (board && self.board + size > MAX_BOARD_BYTES) {
            self.dropped += 1;
            return;
        }
        self.written += size;
        if board {
            self.board += size;
        }
        // Two reused buffers for the numbers: a trace has a row per sample.
        self.time.clear();
        let t = row.at.saturating_sub(self.origin);
        let _ = write!(self.time, "{}.{:06}", t.as_secs(), t.subsec_micros());
        self.ack.clear();
        let timing = match row.timing {
            Timing::Exchange(took) => {
                let us = took.as_micros();
                let _ = write!(self.ack, "{}.{:03}", us / 1000, us % 1000);
                "exchange"
            }
            Timing::Heard(span) => {
                let us = span.as_micros();
                let _ = write!(self.ack, "{}.{:03}", us / 1000, us % 1000);
                "heard"
            }
            Timing::Uptime => "uptime",
            Timing::Edge => "edge",
            Timing::Read => "read",
            Timing::Exact => "exact",
        };
        if let Err(e) = self.out.write_record([
            self.time.as_bytes(),
            row.source.name().as_bytes(),
            role.as_bytes(),
            value.as_bytes(),
            self.ack.as_bytes(),
            timing.as_bytes(),
        ]) {
            self.error = Some(e.into());
        }
    }

    fn finish(&mut self, keep: bool) -> io::Result<bool> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.dropped > 0 {
            let note = format!(
                "{} rows dropped past the caps ({} MiB in all, {} MiB of board lines)",
                self.dropped,
                MAX_TRACE_BYTES >> 20,
                MAX_BOARD_BYTES >> 20
            );
            self.out
                .write_record(["", "trace", "", note.as_str(), "", ""])?;
        }
        // Flushes csv's buffer, then the file's.
        self.out.flush()?;
        match (self.out.get_ref(), keep) {
            (Sink::File(_), true) => Ok(true),
            (Sink::File(_), false) => std::fs::remove_file(&self.path).map(|()| false),
            (Sink::Memory(_), false) => Ok(false),
            (Sink::Memory(rows), true) => {
                if let Some(dir) = self.path.parent() {
                    crate::files::create_dirs(dir)?;
                }
                let mut file = crate::files::create_file(&self.path)?;
                io::Write::write_all(&mut file, rows)?;
                file.sync_all().map(|()| true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_kept_for_failures_only_touches_the_disk_only_when_kept() {
        let dir = tempfile::tempdir().unwrap();
        let row = Row {
            at: Duration::ZERO,
            timing: Timing::Exact,
            source: Source::Step,
            role: "1",
            value: "wait 1s",
        };
        let start = |name| {
            TraceFile::create(
                dir.path(),
                name,
                Duration::ZERO,
                Default::default(),
                Keep::Failed,
            )
            .unwrap()
        };
        let (mut passed, path) = start("a::pass");
        passed.record(row);
        assert!(!passed.finish(false).unwrap());
        assert!(!dir.path().join(path).exists());
        assert!(!dir.path().join(TRACES).exists(), "no folder for no trace");
        let (mut failed, path) = start("a::fail");
        failed.record(row);
        assert!(failed.finish(true).unwrap());
        let text = std::fs::read_to_string(dir.path().join(path)).unwrap();
        assert!(text.ends_with("0.000000,step,1,wait 1s,,exact\n"), "{text}");
    }

    #[test]
    fn trial_names_become_plain_file_names() {
        assert_eq!(
            file_name("brownout::sag_resets_safely::maglock_12v#2::cycle3"),
            "brownout.sag_resets_safely.maglock_12v_2.cycle3.csv"
        );
        assert_eq!(file_name("../../etc/passwd"), ".._.._etc_passwd.csv");
    }

    #[test]
    fn rows_are_quoted_redacted_and_defused() {
        let dir = tempfile::tempdir().unwrap();
        let specs = [(
            "credential".to_string(),
            crate::config::secrets::SecretSpec {
                env: None,
                file: None,
                default: Some("731946".into()),
            },
        )]
        .into_iter()
        .collect();
        let secrets = Arc::new(Secrets::resolve(&specs));
        let (mut t, path) = TraceFile::create(
            dir.path(),
            "a::b",
            Duration::from_secs(10),
            secrets,
            Keep::All,
        )
        .unwrap();
        let row = |at_ms: u64, source, value| Row {
            at: Duration::from_millis(at_ms),
            timing: Timing::Exchange(Duration::from_micros(1500)),
            source,
            role: "console",
            value,
        };
        t.record(row(10_250, Source::Console, "UNLOCK 731946 -> OK"));
        t.record(row(10_500, Source::Board, "=HYPERLINK(\"x\"),\"y\"\nz"));
        t.record(row(10_750, Source::Meter, "-1mV 0A"));
        assert!(t.finish(true).unwrap());
        let text = std::fs::read_to_string(dir.path().join(path)).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("t_s,source,role,value,ack_ms,timing"));
        let first = lines.next().unwrap();
        assert!(
            first.starts_with("0.250000,console,console,UNLOCK <secret credential #"),
            "{first}"
        );
        assert!(first.ends_with("-> OK,1.500,exchange"), "{first}");
        assert!(!text.contains("731946"));
        // The board's formula is text, quoted whole (newline included).
        assert!(
            text.contains("\"'=HYPERLINK(\"\"x\"\"),\"\"y\"\"\nz\""),
            "{text}"
        );
        // lockrig's own numbers are left as they are.
        assert!(
            text.contains("0.750000,meter,console,-1mV 0A,1.500,exchange"),
            "{text}"
        );
    }
}
