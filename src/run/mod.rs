//! The runner: executes the trial list on one bench, one trial at a time, and emits
//! an owned [`Event`] per result. It never formats output; reporters fold events.
//!
//! Trials run through libtest-mimic, so the usual test-harness arguments (filters,
//! `--list`, `--exact`, `--skip`, `--ignored`) select them.

pub mod calibration;
pub mod campaign;
pub mod ctl;
pub mod health;
pub mod lock;
pub mod matrix;
pub mod plan;
pub mod trace;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use plan::Trial;

use crate::config::rig::Rig;
use crate::config::secrets::Secrets;
use crate::rig::bench::Identity;
use crate::rig::Bench;
use crate::scenario::{self, Context, Outcome, Person, Verdict};
use crate::signals;
use crate::sim::{SimBench, SimOptions, TimeMode};

/// What the runner needs besides the trials.
#[derive(Clone)]
pub struct Setup {
    /// The rig.
    pub rig: Arc<Rig>,
    /// Simulator defects, faults and log (simulated rigs only).
    pub sim: SimOptions,
    /// Sampling interval for timed expectations.
    pub poll: Duration,
    /// Seeds randomized steps (noise) and, on the simulator, the boards' properties.
    pub seed: u64,
    /// The rig's secrets.
    pub secrets: Arc<Secrets>,
    /// Suite policy: skip the remaining trials after a rig error.
    pub abort_on_rig_error: bool,
    /// The simulated boards, one per device, kept across trials as a real board stays
    /// mounted: a soak is one board.
    pub boards: Arc<Mutex<BTreeMap<String, SimBench>>>,
    /// Who does by hand what the rig has no actuator for (turning the key).
    pub operator: Operator,
    /// Where each trial's timeline is written, and which are kept.
    pub traces: Option<trace::Traces>,
}

/// A person at the bench, or nobody.
#[derive(Clone, Debug)]
pub enum Operator {
    /// Someone at a terminal, asked through this.
    Present(Person),
    /// Nobody: trials that need a person are skipped. `excused`: the user said so
    /// (`--non-interactive`), so the run is complete without them.
    Absent {
        /// The user excluded hand-operated steps explicitly.
        excused: bool,
    },
}

/// Whether the rig was confirmed back in its safe state after a trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SafeStateReport {
    /// Every role's safe state was applied and read back.
    pub confirmed: bool,
    /// What could not be confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The result of one trial, as reporters receive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialResult {
    /// Trial name.
    pub trial: String,
    /// Check name.
    pub check: String,
    /// What the check asserts.
    pub title: String,
    /// Code basis.
    pub basis: Vec<String>,
    /// Device profile name.
    pub device: String,
    /// Cycle number under `--repeat`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<u32>,
    /// Rig name.
    pub rig: String,
    /// The run's seed (each trial's own is drawn from it and the trial's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Simulator defects in force.
    pub sim_defects: Vec<String>,
    /// Instrument identities.
    pub instruments: Vec<Identity>,
    /// Hardware protection armed per supply role (OVP/OCP from the envelope).
    pub protections: Vec<String>,
    /// When the trial started (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    /// Wall time the trial took.
    #[serde(
        rename = "wall_time_ms",
        serialize_with = "ser_ms",
        deserialize_with = "crate::scenario::exec::de_ms"
    )]
    pub wall_time: Duration,
    /// Set when the trial did not run; the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The trial's timeline, relative to the run directory (`traces/TRIAL.csv`), when
    /// it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// The signal that arrived while the trial ran, if one did: its verdict is not the
    /// device's, and `run --resume` runs the trial again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Whether the rig was returned to its safe state afterwards (absent when the
    /// trial never touched the rig).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_state: Option<SafeStateReport>,
    /// Verdict, measurements and log.
    pub outcome: Outcome,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// A runner event.
#[derive(Debug, Clone)]
pub enum Event {
    /// A trial finished (or was skipped at run time).
    Finished(Box<TrialResult>),
}

/// Counts over the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Passed trials.
    pub passed: usize,
    /// Failed trials (device failures).
    pub failed: usize,
    /// Trials ended by a rig error.
    pub errors: usize,
    /// Trials skipped at run time.
    pub skipped: usize,
    /// Of those, trials of checks that apply to the device but could not run (the rig
    /// lacks a role they need): the run is incomplete.
    pub incomplete: usize,
}

impl std::ops::Add for Summary {
    type Output = Self;

    /// The counts of two parts of one run (before and after a resume).
    fn add(self, other: Self) -> Self {
        Self {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
            errors: self.errors + other.errors,
            skipped: self.skipped + other.skipped,
            incomplete: self.incomplete + other.incomplete,
        }
    }
}

impl Summary {
    /// True when no trial was executed: filters matched nothing, or every trial was
    /// skipped. Nothing was tested, which must not look like success.
    pub fn ran_nothing(&self) -> bool {
        self.passed + self.failed + self.errors == 0
    }

    /// The process exit code: 128 + signal when interrupted, 3 for rig errors, 1 for
    /// device failures, 4 when an applicable check could not run, 2 when nothing ran,
    /// else 0.
    pub fn exit_code(&self) -> i32 {
        if let Some(sig) = signals::received() {
            return signals::exit_code(sig);
        }
        if self.ran_nothing() {
            2
        } else if self.errors > 0 {
            3
        } else if self.failed > 0 {
            1
        } else if self.incomplete > 0 {
            4
        } else {
            0
        }
    }
}

type Sink = Box<dyn FnMut(Event) + Send>;

struct Shared {
    sink: Sink,
    summary: Summary,
    health: health::Health,
    aborted: Option<String>,
}

/// Runs the trials the arguments select and returns the counts.
pub fn run(
    setup: Setup,
    trials: Vec<Trial>,
    args: &libtest_mimic::Arguments,
    sink: Sink,
) -> Summary {
    let shared = Arc::new(Mutex::new(Shared {
        sink,
        summary: Summary::default(),
        health: health::Health::load(&setup.rig),
        aborted: None,
    }));
    // One copy shared by every trial's closure: a soak's list stays small.
    let setup = Arc::new(setup);
    let mut args = args.clone();
    // One bench: never run trials concurrently.
    args.test_threads = Some(1);
    let mimic: Vec<libtest_mimic::Trial> = trials
        .into_iter()
        .map(|t| {
            let setup = setup.clone();
            let shared = shared.clone();
            let name = t.name.clone();
            libtest_mimic::Trial::ignorable_test(name, move || {
                let (skipped, verdict, message) = attempt(&setup, &shared, &t);
                match (skipped, verdict) {
                    (Some(reason), _) => Ok(libtest_mimic::Completion::ignored_with(reason)),
                    (None, Verdict::Pass) => Ok(libtest_mimic::Completion::Completed),
                    (None, Verdict::Fail) => Err(message.unwrap_or_default().into()),
                    (None, Verdict::Error) => {
                        Err(format!("RIG ERROR: {}", message.unwrap_or_default()).into())
                    }
                }
            })
        })
        .collect();
    // The conclusion cannot tell a device failure from a rig error; the summary can.
    let _conclusion = libtest_mimic::run(&args, mimic);
    let summary = shared.lock().unwrap_or_else(|p| p.into_inner()).summary;
    summary
}

/// Runs `trials` one after another, each result to `sink` and `progress` told of each
/// as it ends: what [`run`] does, without the test harness's printer, for a person
/// watching a progress bar (the harness prints half a line before each trial, which a
/// bar redrawn beneath it would break).
pub fn run_watched(
    setup: Setup,
    trials: Vec<Trial>,
    sink: Sink,
    progress: &mut dyn FnMut(campaign::Progress<'_>),
) -> Summary {
    let shared = Mutex::new(Shared {
        sink,
        summary: Summary::default(),
        health: health::Health::load(&setup.rig),
        aborted: None,
    });
    for t in &trials {
        let (skipped, verdict, message) = attempt(&setup, &shared, t);
        progress(campaign::Progress {
            name: &t.name,
            skipped: skipped.as_deref(),
            verdict,
            message: message.as_deref(),
        });
    }
    shared
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .summary
}

/// One trial from the rig's health to the recorded result: runs it (or records why
/// not), updates the counts and the health mark, and hands the result to the sink.
/// Returns the skip reason, the verdict and the message, for the progress output.
fn attempt(
    setup: &Setup,
    shared: &Mutex<Shared>,
    t: &Trial,
) -> (Option<String>, Verdict, Option<String>) {
    let (broken, aborted) = {
        let s = shared.lock().unwrap_or_else(|p| p.into_inner());
        (s.health.broken.clone(), s.aborted.clone())
    };
    let result = match (broken, aborted) {
        (Some(b), _) => not_touched(setup, t, format!(
            "rig unhealthy {b}; the rig was not touched. Fix the bench, then run `lockrig rig check`"
        )),
        (None, Some(why)) => {
            let mut r = blank_result(setup, t, OffsetDateTime::now_utc());
            r.skipped = Some(why);
            r
        }
        (None, None) => run_trial_guarded(setup, t),
    };
    let verdict = result.outcome.verdict;
    let skipped = result.skipped.clone();
    let message = result.outcome.message.clone();
    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(report) = result.safe_state.as_ref().filter(|r| !r.confirmed) {
        s.health.mark(&result.trial, &report.problems.join("; "));
    }
    if skipped.is_none()
        && verdict == Verdict::Error
        && setup.abort_on_rig_error
        && s.aborted.is_none()
    {
        s.aborted = Some(format!(
            "not run: the suite's policy aborts after a rig error, and {} had one",
            result.trial
        ));
    }
    let nobody = matches!(setup.operator, Operator::Absent { excused: false });
    if !t.missing_roles.is_empty() || (!t.by_hand.is_empty() && nobody) {
        s.summary.incomplete += 1;
    }
    match (&skipped, verdict) {
        (Some(_), _) => s.summary.skipped += 1,
        (None, Verdict::Pass) => s.summary.passed += 1,
        (None, Verdict::Fail) => s.summary.failed += 1,
        (None, Verdict::Error) => s.summary.errors += 1,
    }
    (s.sink)(Event::Finished(Box::new(result)));
    (skipped, verdict, message)
}

/// Runs a trial, turning a panic into a rig error so it is reported like any other
/// result (the bench's drop guard has applied the safe state during unwinding).
pub fn run_trial_guarded(setup: &Setup, t: &Trial) -> TrialResult {
    let started = OffsetDateTime::now_utc();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_trial(setup, t))).unwrap_or_else(
        |payload| {
            let what = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let mut r = blank_result(setup, t, started);
            let message = format!("internal error: lockrig panicked: {what}");
            // The drop guard applied the safe state while unwinding, but nothing confirmed
            // it: mark the rig broken until someone checks it.
            r.safe_state = Some(SafeStateReport {
                confirmed: false,
                problems: vec![format!(
                    "{message}; the safe state was applied by the drop guard but not confirmed"
                )],
            });
            r.outcome.message = Some(message);
            r
        },
    )
}

/// An error result for a trial that was not run because the rig is broken.
fn not_touched(setup: &Setup, t: &Trial, message: String) -> TrialResult {
    let mut r = blank_result(setup, t, OffsetDateTime::now_utc());
    r.outcome.message = Some(message);
    r
}

fn blank_result(setup: &Setup, t: &Trial, started: OffsetDateTime) -> TrialResult {
    TrialResult {
        trial: t.name.clone(),
        check: t.check.name.clone(),
        title: t.check.title.clone(),
        basis: t.check.basis.clone(),
        device: t.device.name.clone(),
        cycle: t.cycle,
        rig: setup.rig.file.rig.name.clone(),
        seed: Some(setup.seed),
        sim_defects: setup
            .sim
            .defects
            .iter()
            .map(|d| d.name().to_string())
            .collect(),
        instruments: Vec::new(),
        protections: Vec::new(),
        started,
        wall_time: Duration::ZERO,
        skipped: None,
        trace: None,
        interrupted: None,
        safe_state: None,
        outcome: Outcome::error(String::new()),
    }
}

/// Runs one trial: brings up the bench, executes, applies the safe state.
pub fn run_trial(setup: &Setup, t: &Trial) -> TrialResult {
    let wall = Instant::now();
    let mut result = blank_result(setup, t, OffsetDateTime::now_utc());
    if let Some(sig) = signals::received() {
        result.skipped = Some(format!("not started: the run was interrupted by {sig}"));
    } else if !t.missing_roles.is_empty() {
        result.skipped = Some(format!(
            "rig `{}` maps no {}",
            setup.rig.file.rig.name,
            t.missing_roles.join(", ")
        ));
    } else if let (false, Operator::Absent { .. }) = (t.by_hand.is_empty(), &setup.operator) {
        result.skipped = Some(format!(
            "needs a person at the bench for {} (rig `{}` has no actuator for it): run on a terminal without --non-interactive, or map the role to an actuator",
            t.by_hand.join(", "),
            setup.rig.file.rig.name
        ));
    } else {
        let (outcome, safe) = execute_on_bench(setup, t, &mut result);
        result.outcome = outcome;
        result.safe_state = Some(safe);
        result.interrupted = signals::received().map(|sig| sig.to_string());
    }
    result.wall_time = wall.elapsed();
    result
}

fn execute_on_bench(
    setup: &Setup,
    t: &Trial,
    record: &mut TrialResult,
) -> (Outcome, SafeStateReport) {
    let rig = &setup.rig;
    let unconfirmed = |why: String| SafeStateReport {
        confirmed: false,
        problems: vec![why],
    };
    let mut boards = setup.boards.lock().unwrap_or_else(|p| p.into_inner());
    let sim = if rig.is_simulated() {
        if !boards.contains_key(&t.device.name) {
            let mut options = setup.sim.clone();
            options.seed = setup.seed;
            options.credential = setup
                .secrets
                .get("credential")
                .unwrap_or(crate::sim::SIM_CREDENTIAL)
                .to_string();
            match SimBench::start(&t.device, &options, TimeMode::Virtual) {
                Ok(s) => {
                    boards.insert(t.device.name.clone(), s);
                }
                Err(e) => {
                    let msg = format!("cannot start the simulated bench: {e}");
                    return (Outcome::error(msg.clone()), unconfirmed(msg));
                }
            }
        }
        let board = boards.get_mut(&t.device.name).expect("just inserted");
        board.begin_trial(&t.name);
        Some(board)
    } else {
        None
    };
    let mut bench = match Bench::open(rig, sim.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            if let Some(s) = sim {
                s.end_trial();
            }
            return (Outcome::error(e.to_string()), unconfirmed(e.to_string()));
        }
    };
    record.instruments.extend_from_slice(bench.identities());
    record.protections.extend_from_slice(bench.protections());
    let ctx = Context {
        poll: setup.poll,
        // Each trial draws from its own stream: every cycle of a soak gets fresh random
        // profiles, and the same seed and trial name give the same ones again.
        seed: setup.seed ^ lock::fnv1a(&t.name),
        secrets: setup.secrets.clone(),
        battery: t
            .device
            .battery
            .as_ref()
            .map(|b| (b.capacity_ah, b.operations_per_day)),
        person: match &setup.operator {
            Operator::Present(p) => Some(p.clone()),
            Operator::Absent { .. } => None,
        },
    };
    let traced = setup
        .traces
        .as_ref()
        .filter(|tr| tr.keep != trace::Keep::None)
        .map(|tr| {
            let origin = bench.clock().now();
            trace::TraceFile::create(&tr.dir, &t.name, origin, setup.secrets.clone(), tr.keep).map(
                |(file, path)| {
                    bench.record_to(Box::new(file));
                    (path, tr.keep)
                },
            )
        });
    let mut outcome = scenario::execute(&mut bench, &t.steps, &ctx);
    let problems: Vec<String> = bench
        .apply_safe_state()
        .iter()
        .map(|e| e.to_string())
        .collect();
    // The trace is kept (and named in the result) unless only failures keep theirs and
    // this one passed; a trace that could not be written is said in the log.
    let passed = outcome.verdict == Verdict::Pass && problems.is_empty();
    let finished = bench.stop_recording().map(|mut r| {
        let keep = traced
            .as_ref()
            .is_some_and(|t| matches!(t, Ok((_, k)) if *k == trace::Keep::All || !passed));
        r.finish(keep)
    });
    drop(bench);
    match (traced, finished) {
        (Some(Ok((path, _))), Some(Ok(true))) => {
            record.trace = Some(path.to_string_lossy().into_owned());
        }
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            outcome
                .log
                .push(format!("the trial's trace could not be written: {e}"));
        }
        _ => {}
    }
    if let Some(s) = sim {
        s.end_trial();
    }
    if !problems.is_empty() {
        let msg = format!("safe state not confirmed: {}", problems.join("; "));
        outcome.log.push(msg.clone());
        outcome.message = Some(match outcome.message.take() {
            Some(m) => format!("{m}; {msg}"),
            None => msg,
        });
        outcome.verdict = Verdict::Error;
    }
    let safe = SafeStateReport {
        confirmed: problems.is_empty(),
        problems,
    };
    (outcome, safe)
}
