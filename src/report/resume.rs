//! `lockrig run --resume DIR`: what an interrupted run left in its directory, read back
//! so the run can go on where it stopped, in the same directory, as one result set.
//!
//! The directory is read as untrusted, like `lockrig verify` reads it: if it was sealed
//! when the run stopped (Ctrl-C, SIGTERM), it must still match its manifest. Its
//! `results.jsonl` is rewritten keeping each result that stands: a trial that was cut
//! short by the signal (`interrupted`), never started, or skipped is left out and runs
//! again, and a torn last line (a power cut) is dropped. Nothing is held whole in
//! memory: the lines are streamed, and only the finished trials' names stay.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::evidence::EVIDENCE;
use super::html::read;
use super::manifest::{self, MANIFEST};
use crate::run::trace::TRACES;
use crate::run::{Summary, TrialResult};
use crate::scenario::Verdict;

/// A run directory that can be resumed.
pub struct Interrupted {
    /// The directory.
    pub dir: PathBuf,
    /// Its `evidence.json`.
    pub evidence: serde_json::Value,
    /// The command line that started the run (the program name first).
    pub command: Vec<String>,
}

/// What the results of the interrupted run came to.
#[derive(Debug, Default)]
pub struct Kept {
    /// Finished trials, by name, with their verdicts.
    pub done: HashMap<String, Verdict>,
    /// Their counts.
    pub summary: Summary,
    /// The wall time they took.
    pub elapsed: Duration,
    /// Results left out, to run again (interrupted, not started, skipped).
    pub rerun: usize,
    /// Lines that were not results (a torn last line).
    pub unreadable: usize,
}

/// Why a directory cannot be resumed.
#[derive(Debug, thiserror::Error)]
#[error("--resume {}: {why}", dir.display())]
pub struct ResumeError {
    dir: PathBuf,
    why: String,
}

/// Opens `dir` as an interrupted run: intact against its manifest if it has one, with
/// its evidence, and not a run that ended on its own.
pub fn open(dir: &Path) -> Result<Interrupted, ResumeError> {
    let refuse = |why: String| ResumeError {
        dir: dir.to_path_buf(),
        why,
    };
    let root = read::open_dir(dir).map_err(|e| refuse(e.to_string()))?;
    if read::open_in(&root, MANIFEST)
        .map_err(|e| refuse(e.to_string()))?
        .is_some()
    {
        let checked = manifest::verify(dir).map_err(|e| refuse(e.to_string()))?;
        if let Some(p) = checked.problems.first() {
            return Err(refuse(format!(
                "not intact against its {MANIFEST} ({p}): refusing to add to evidence that was changed"
            )));
        }
    }
    let evidence: serde_json::Value = read::read_small(&root, EVIDENCE)
        .map_err(|e| refuse(e.to_string()))?
        .ok_or_else(|| refuse(format!("no {EVIDENCE}: not a run directory")))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| refuse(format!("{EVIDENCE}: {e}"))))?;
    let outcome = &evidence["outcome"];
    if outcome.is_object() && outcome["interrupted_by"].is_null() {
        return Err(refuse(format!(
            "the run ended on its own (exit code {}): there is nothing to resume",
            outcome["exit_code"]
        )));
    }
    let command: Vec<String> = evidence["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    if command.len() < 2 || command[1] != "run" {
        return Err(refuse(format!(
            "{EVIDENCE} records no `lockrig run` command line to resume"
        )));
    }
    Ok(Interrupted {
        dir: dir.to_path_buf(),
        evidence,
        command,
    })
}

impl Interrupted {
    /// Removes the seal of the interrupted part: the directory is about to change, and
    /// is sealed again when the resumed run ends. (Should the resumed run die unsealed,
    /// the next resume finds it as a run killed outright would leave it.)
    pub fn unseal(&self) -> Result<(), ResumeError> {
        match std::fs::remove_file(self.dir.join(MANIFEST)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ResumeError {
                dir: self.dir.clone(),
                why: format!("{MANIFEST}: {e}"),
            }),
            _ => Ok(()),
        }
    }

    /// Rewrites `results.jsonl` with the results that stand and hands each one to
    /// `each`, in order.
    pub fn keep(&self, mut each: impl FnMut(&TrialResult)) -> Result<Kept, ResumeError> {
        let refuse = |why: String| ResumeError {
            dir: self.dir.clone(),
            why,
        };
        let root = read::open_dir(&self.dir).map_err(|e| refuse(e.to_string()))?;
        let mut kept = Kept::default();
        let tmp = self.dir.join(".results.jsonl.resume");
        let mut out = BufWriter::new(
            crate::files::create_file(&tmp)
                .map_err(|e| refuse(format!("{}: {e}", tmp.display())))?,
        );
        let mut written = Ok(());
        if let Some(lines) =
            read::open_in(&root, "results.jsonl").map_err(|e| refuse(e.to_string()))?
        {
            read::each_line(BufReader::new(lines), read::MAX_LINE, |_, line| {
                match line.ok().map(|l| (l, parse(l))) {
                    None | Some((_, None)) => kept.unreadable += 1,
                    // Cut short, never started or skipped: it runs again, and the trace
                    // of its cut-short attempt goes (no result names it any more).
                    Some((_, Some(r))) if r.skipped.is_some() || r.interrupted.is_some() => {
                        kept.rerun += 1;
                        if let Some(name) = r.trace.as_deref().and_then(trace_file) {
                            let _ = std::fs::remove_file(self.dir.join(TRACES).join(name));
                        }
                    }
                    Some((line, Some(r))) => {
                        each(&r);
                        count(&mut kept, &r);
                        if written.is_ok() {
                            written = out.write_all(line).and_then(|()| out.write_all(b"\n"));
                        }
                    }
                }
            })
            .map_err(|e| refuse(format!("results.jsonl: {e}")))?;
        }
        written
            .and_then(|()| out.flush())
            .and_then(|()| out.get_ref().sync_all())
            .map_err(|e| refuse(format!("{}: {e}", tmp.display())))?;
        drop(out);
        std::fs::rename(&tmp, self.dir.join("results.jsonl"))
            .map_err(|e| refuse(format!("results.jsonl: {e}")))?;
        Ok(kept)
    }
}

/// The file name of a trace a result names, if it is one (`traces/NAME.csv`, nothing
/// else): the name comes from the directory, which is untrusted.
pub fn trace_file(path: &str) -> Option<&str> {
    let name = path.strip_prefix(TRACES)?.strip_prefix('/')?;
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.ends_with(".csv");
    plain.then_some(name)
}

/// A line of `results.jsonl` as a result, if it parses as one.
pub fn parse(line: &[u8]) -> Option<TrialResult> {
    let mut value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let fields = value.as_object_mut()?;
    fields.remove("schema");
    if fields.get("skipped").is_some_and(|s| !s.is_null()) {
        // Written with the verdict `skipped`, which a result holds as its reason.
        fields.get_mut("outcome")?["verdict"] = "error".into();
    }
    serde_json::from_value(value).ok()
}

fn count(kept: &mut Kept, r: &TrialResult) {
    let verdict = r.outcome.verdict;
    kept.done.insert(r.trial.clone(), verdict);
    kept.elapsed += r.wall_time;
    match verdict {
        Verdict::Pass => kept.summary.passed += 1,
        Verdict::Fail => kept.summary.failed += 1,
        Verdict::Error => kept.summary.errors += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_trace_file_is_removed() {
        assert_eq!(trace_file("traces/a.b.csv"), Some("a.b.csv"));
        for bad in [
            "traces/../evidence.json",
            "traces/x/../../y.csv",
            "/etc/x.csv",
            "traces/.csv",
            "results.jsonl",
            "traces/",
        ] {
            assert_eq!(trace_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_line_that_stands_is_kept_and_the_rest_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let line = |trial: &str, extra: &str| {
            format!(
                r#"{{"schema":2,"trial":"{trial}","check":"c","title":"t","basis":[],"device":"d","rig":"sim","sim_defects":[],"instruments":[],"protections":[],"started":"2026-12-02T10:00:00Z","wall_time_ms":12.5{extra},"outcome":{{"verdict":"pass","measurements":[],"log":[],"scenario_time_ms":1000.0,"poll_ms":10.0,"max_gap_ms":10.0,"dropped":{{"console_lines":0,"console_bytes":0,"cut_lines":0,"log_lines":0,"log_bytes":0}}}}}}"#
            )
        };
        let text = [
            line("a::d::cycle1", ""),
            line("a::d::cycle2", r#","interrupted":"SIGINT""#),
            line(
                "a::d::cycle3",
                r#","skipped":"not started: the run was interrupted by SIGINT""#,
            ),
            r#"{"schema":2,"trial":"a::d::cycle4","che"#.to_string(),
        ]
        .join("\n");
        std::fs::write(dir.path().join("results.jsonl"), text).unwrap();
        let run = Interrupted {
            dir: dir.path().to_path_buf(),
            evidence: serde_json::Value::Null,
            command: Vec::new(),
        };
        let mut seen = Vec::new();
        let kept = run.keep(|r| seen.push(r.trial.clone())).unwrap();
        assert_eq!(seen, ["a::d::cycle1"]);
        assert_eq!(kept.summary.passed, 1);
        assert_eq!((kept.rerun, kept.unreadable), (2, 1));
        assert_eq!(kept.elapsed, Duration::from_micros(12_500));
        let rewritten = std::fs::read_to_string(dir.path().join("results.jsonl")).unwrap();
        assert_eq!(rewritten, line("a::d::cycle1", "") + "\n");
    }
}
