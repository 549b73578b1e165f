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

/// What the results of a resumed run must agree with: the command line being resumed.
pub struct Expected<'a> {
    /// Whether the command selects a trial of this name.
    pub selects: &'a dyn Fn(&str) -> bool,
    /// The rig's name.
    pub rig: &'a str,
    /// The simulated defects the boards are built with.
    pub sim_defects: &'a [String],
    /// The run's seed.
    pub seed: u64,
    /// The sampling interval, in milliseconds.
    pub poll_ms: f64,
}

impl Interrupted {
    /// Reads `results.jsonl` without changing anything, and refuses a result set that
    /// cannot be gone on with: a line that does not read as a result (but a torn last
    /// line, which a power cut leaves), a trial recorded twice or one the command does
    /// not select, or a result made with another rig, seed, sampling interval or
    /// simulated defects than the command being resumed says.
    pub fn scan(&self, expected: &Expected<'_>) -> Result<(), ResumeError> {
        let refuse = |why: String| ResumeError {
            dir: self.dir.clone(),
            why,
        };
        let root = read::open_dir(&self.dir).map_err(|e| refuse(e.to_string()))?;
        open_traces(&root).map_err(|e| {
            refuse(format!(
                "`{TRACES}` is not a folder of the run directory ({e}): a link is never followed"
            ))
        })?;
        let Some(lines) =
            read::open_in(&root, "results.jsonl").map_err(|e| refuse(e.to_string()))?
        else {
            return Ok(());
        };
        let torn = ends_torn(&lines).map_err(|e| refuse(format!("results.jsonl: {e}")))?;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut problem: Option<String> = None;
        let mut unreadable: Option<usize> = None;
        let mut last = 0;
        read::each_line(BufReader::new(lines), read::MAX_LINE, |n, line| {
            last = n;
            if problem.is_some() {
                return;
            }
            let Some(r) = line.ok().and_then(parse) else {
                // Only the last line may be torn; any other must be refused.
                if let Some(earlier) = unreadable.replace(n) {
                    problem = Some(format!("line {earlier} does not read as a result"));
                }
                return;
            };
            problem = disagreement(&r, expected).map(|why| format!("line {n}: {why}"));
            if let Some(first) = seen.insert(r.trial.clone(), n) {
                problem = Some(format!(
                    "line {n}: trial `{}` is recorded twice (first on line {first})",
                    r.trial
                ));
            }
        })
        .map_err(|e| refuse(format!("results.jsonl: {e}")))?;
        if let Some(n) = unreadable.filter(|n| !(*n == last && torn)) {
            problem.get_or_insert(format!("line {n} does not read as a result"));
        }
        match problem {
            Some(why) => Err(refuse(format!(
                "results.jsonl {why}; nothing was changed (only a torn last line, as a power cut leaves, is dropped)"
            ))),
            None => Ok(()),
        }
    }

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
    /// `each`, in order. Call [`Interrupted::scan`] first: this drops what does not read.
    pub fn keep(&self, mut each: impl FnMut(&TrialResult)) -> Result<Kept, ResumeError> {
        let refuse = |why: String| ResumeError {
            dir: self.dir.clone(),
            why,
        };
        let root = read::open_dir(&self.dir).map_err(|e| refuse(e.to_string()))?;
        let traces = open_traces(&root).map_err(|e| refuse(format!("{TRACES}: {e}")))?;
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
                        let name = r.trace.as_deref().and_then(trace_file);
                        if let (Some(dir), Some(name)) = (&traces, name) {
                            let _ = nix::unistd::unlinkat(
                                dir,
                                name,
                                nix::unistd::UnlinkatFlags::NoRemoveDir,
                            );
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

/// Whether a result was made otherwise than `expected` says.
fn disagreement(r: &TrialResult, expected: &Expected<'_>) -> Option<String> {
    if !(expected.selects)(&r.trial) {
        return Some(format!(
            "trial `{}` is not one the recorded command selects",
            r.trial
        ));
    }
    if r.rig != expected.rig {
        return Some(format!(
            "`{}` ran on rig `{}`, this command names `{}`",
            r.trial, r.rig, expected.rig
        ));
    }
    if r.sim_defects != expected.sim_defects {
        return Some(format!(
            "`{}` was run with simulated defects [{}], this command with [{}]",
            r.trial,
            r.sim_defects.join(", "),
            expected.sim_defects.join(", ")
        ));
    }
    if r.seed != Some(expected.seed) {
        return Some(format!(
            "`{}` was run with seed {}, this command with seed {}",
            r.trial,
            r.seed.map_or("unrecorded".into(), |s| s.to_string()),
            expected.seed
        ));
    }
    // A trial that never sampled records no interval.
    if r.outcome.poll_ms > 0.0 && (r.outcome.poll_ms - expected.poll_ms).abs() > 1e-6 {
        return Some(format!(
            "`{}` was sampled every {} ms, this command every {} ms",
            r.trial, r.outcome.poll_ms, expected.poll_ms
        ));
    }
    None
}

/// Whether the file's last byte is not a newline (its last line was cut short).
fn ends_torn(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] != b'\n')
}

/// The run's `traces/` folder, opened without following a link (`None` if absent): a
/// trace is removed inside it, never through a link to elsewhere.
fn open_traces(root: &std::os::fd::OwnedFd) -> nix::Result<Option<std::os::fd::OwnedFd>> {
    use nix::fcntl::{openat, OFlag};
    match openat(
        root,
        TRACES,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
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
