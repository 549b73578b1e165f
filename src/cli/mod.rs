//! The command line: `lockrig run`, `lockrig list`, `lockrig sim serve`,
//! `lockrig sim defects`. Errors become text here and nowhere below.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::config::device::DeviceProfile;
use crate::config::rig::Rig;
use crate::config::secrets::Secrets;
use crate::report::evidence::Evidence;
use crate::report::html;
use crate::report::jsonl::JsonLines;
use crate::report::junit::{JunitReport, RunFacts};
use crate::report::stats::Stats;
use crate::rig::Bench;
use crate::run::health::Health;
use crate::run::{self, plan, Event, Setup};
use crate::scenario::suite::OnRigError;
use crate::scenario::suite::Suite;
use crate::signals;
use crate::sim::{self, Defect, Fault, SimBench, SimLog, SimOptions};
use crate::units;

mod ctl;
mod flash;
mod harness;
mod progress;

/// `lockrig run --help`'s closing section.
const RUN_EXIT_CODES: &str = "Exit codes:
  0    every selected trial passed
  1    a check failed on the device
  2    usage or configuration error, or another run holds the rig (nothing was touched)
  3    the rig failed: an instrument error or a failed positive control (never a pass)
  4    an applicable check could not run (the rig maps no role it needs, or it needs a
       person and nobody is at the terminal)
  130, 143, 129
       interrupted by SIGINT, SIGTERM, SIGHUP: the rig is back in its safe state, the
       reports are valid, and trials that never started are reported as skipped";

/// The most cycles a run plans up front (`--repeat` without a campaign bound): about
/// 35 MB of trial list. Longer soaks run as campaigns.
const MAX_PLANNED_REPEAT: u32 = 100_000;

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// lockrig: hardware-in-the-loop tests for electronic door locks.
#[derive(Parser, Debug)]
#[command(name = "lockrig", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a suite on a rig (the built-in simulated rig unless --rig is given).
    ///
    /// Every trial is one check of the suite on one device profile. Each result is
    /// written to the run directory (`--out`) as soon as the trial ends: `junit.xml`
    /// for lab CI and `results.jsonl` with every measurement, its limits and what
    /// decided it. Progress goes to stdout; a closed stdout (`| head`) does not stop
    /// the run. The rig returns to its safe state after every trial and on every exit.
    #[command(after_long_help = RUN_EXIT_CODES)]
    Run(Box<RunArgs>),
    /// List the trials a run would execute.
    List(Selection),
    /// The built-in simulated bench.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Bench maintenance.
    #[command(subcommand)]
    Rig(RigCommand),
    /// Drive a bench by hand, by role name: set a supply, switch a relay, read a
    /// sensor, a meter or the board's console.
    ///
    /// One command on the command line (`lockrig ctl supply main 12V`), or a session
    /// of them on stdin: a prompt on a terminal, a script otherwise. Within the rig's
    /// envelope, under its lock, and back to its safe state when it ends.
    #[command(after_long_help = ctl::long_help())]
    Ctl(ctl::CtlArgs),
    /// Program the lock board's firmware through the rig's debug probe (probe-rs):
    /// erase, program, verify, reset. Exit 0 done, 2 bad input, 3 the probe or chip
    /// failed.
    Flash(flash::FlashArgs),
    /// Check a door hardware schedule's lock modes against the code rules and print
    /// its test plan (exit 1 if a rule is broken).
    Plan(PlanArgs),
    /// Check a run directory against its MANIFEST.sha256 (exit 0 intact, 1 changed,
    /// 2 cannot be checked).
    ///
    /// Every file the manifest lists must be in the directory with its SHA-256, and
    /// nothing else may be. The directory is treated as untrusted: a manifest path that
    /// is absolute or leads outside it (`..`), a symbolic link and a special file are
    /// refused, never followed or opened.
    ///
    /// Exit codes: 0 every file matches; 1 a file was changed, added or removed (each
    /// one is named); 2 the directory cannot be checked: no manifest, a malformed line,
    /// an unsafe path or a listed symbolic link (the path is named).
    Verify {
        /// The run directory (`out/<timestamp>`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Merge the run directories of several benches (one firmware build on all of them)
    /// into one: results, JUnit, statistics and report.
    ///
    /// Each source must be intact against its MANIFEST.sha256 (a changed, added or
    /// removed file refuses it, named); it is read as untrusted, without following
    /// links. The merged directory (`--out`, a new timestamped directory) holds
    /// results.jsonl with each result's `bench` and `source`, junit.xml with each
    /// testsuite named `BENCH/NAME` and its source's manifest digest, stats.json,
    /// report.html, merged.json (the sources, and where their firmware or lockrig
    /// version differ) and its own MANIFEST.sha256.
    ///
    /// Exit codes as `lockrig run`: 0 every result passed, 1 a check failed, 3 a rig
    /// error, 4 something did not run; 2 a source refused or unreadable.
    Merge {
        /// The run directories (`out/<timestamp>`), one per bench.
        #[arg(value_name = "DIR", required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Directory for the merged run directory (`<DIR>/<timestamp>/`).
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
    },
    /// Render report.html again from a run directory's results.jsonl (with its
    /// stats.json and evidence.json).
    ///
    /// A finished run already has `report.html`, covered by its MANIFEST.sha256: a
    /// sealed directory is never written to, so give `--out FILE` (outside it). A
    /// directory without a manifest (a run killed outright) gets `DIR/report.html`.
    /// The directory is treated as untrusted: a file that is a symbolic link or not a
    /// regular file is refused, never followed; over-long lines are skipped and counted.
    Report {
        /// The run directory (`out/<timestamp>`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Write the report here instead of `DIR/report.html`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum RigCommand {
    /// The supported instruments: the rig file's `driver`, what it does, the
    /// instruments it covers, its protocol and transports, and the simulator's emulator
    /// of it (`sim = "..."`, what `lockrig sim serve` exposes).
    Drivers {
        /// `text` for a person, `json` for one JSON object per line.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Open every instrument, apply and confirm the safe state, and clear a broken mark.
    Check {
        /// Rig file; the built-in simulated rig when absent.
        #[arg(long, value_name = "FILE")]
        rig: Option<PathBuf>,
        /// Wait for another run to release the rig (up to TIMEOUT, default 24h).
        #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "24h", value_parser = parse_duration)]
        wait: Option<Duration>,
    },
}

#[derive(Args, Debug, Clone)]
struct Selection {
    /// Rig file; the built-in simulated rig when absent.
    #[arg(long, value_name = "FILE")]
    rig: Option<PathBuf>,
    /// Device profile (built-in name or .toml path); repeatable. Default: every
    /// built-in profile on the simulated rig, the rig's `dut` on a real one.
    #[arg(long, value_name = "PROFILE")]
    device: Vec<String>,
    /// Suite (built-in name or .toml path).
    #[arg(long, value_name = "NAME|FILE", default_value = crate::scenario::suite::DEFAULT)]
    suite: String,
    /// Run each selected trial N times in sequence (default 1; with --until-fail or
    /// --duration, at most N cycles).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    selection: Selection,
    /// Directory for run directories (`<DIR>/<timestamp>/`).
    #[arg(long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
    /// Write the JUnit report here instead of the run directory.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Which trials keep their timeline (`traces/TRIAL.csv`: every command, reading
    /// and board line). Default: all, or only failures with --repeat and campaigns.
    #[arg(long, value_enum, value_name = "WHICH")]
    traces: Option<run::trace::Keep>,
    /// Build the simulated board with a defect (see `lockrig sim defects`); repeatable.
    #[arg(long = "sim-defect", value_name = "NAME")]
    sim_defect: Vec<Defect>,
    /// Inject a simulated instrument fault, INSTRUMENT:KIND[@N] (instruments psu,
    /// relays, gpio, console, meter; kinds silent, garbage, delay, drop, nack; the
    /// console's `markup` prints hostile HTML and control sequences besides answering
    /// correctly), starting after N good exchanges in each trial; or an actuator that
    /// does not move, `door_push:dead` or `egress_handle:dead`; repeatable.
    #[arg(long = "sim-fault", value_name = "FAULT")]
    sim_fault: Vec<Fault>,
    /// Sampling interval for timed expectations and watches.
    #[arg(long, value_name = "TIME", default_value = "10ms", value_parser = parse_poll)]
    poll: Duration,
    /// Seed for randomized steps (supply noise) and, on the simulator, for the boards'
    /// properties within their profiles' spreads; the same seed reproduces a run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Never ask a person at the bench (lab CI): checks that need one (turning the key
    /// on a rig without a key actuator) are skipped, with the reason, and the run is
    /// still complete. Without a terminal they are skipped too, but the run is not.
    #[arg(long)]
    non_interactive: bool,
    /// If another run holds the rig, wait for it (up to TIMEOUT, default 24h) instead
    /// of refusing.
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "24h", value_parser = parse_duration)]
    wait: Option<Duration>,
    #[command(flatten)]
    campaign: CampaignArgs,
    #[command(flatten)]
    evidence: EvidenceArgs,
    #[command(flatten)]
    test: harness::Harness,
    /// Go on with the interrupted run in DIR (`out/<timestamp>`), in that directory:
    /// its command line, files (which must be unchanged) and seed; the trials that
    /// finished keep their results, and those cut short or not started run. Only the
    /// progress format, --wait and --operator may be given with it.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "rig", "device", "suite", "repeat", "out", "junit", "traces", "sim_defect",
        "sim_fault", "poll", "seed", "non_interactive", "until_fail", "duration",
        "allow_expired_calibration", "filter", "exact", "skip", "list",
    ])]
    resume: Option<PathBuf>,
}

/// An open-ended campaign: cycles until a bound, made one at a time.
#[derive(Args, Debug)]
struct CampaignArgs {
    /// Repeat the selected checks cycle after cycle until one fails on the device (at
    /// most --repeat cycles, within --duration); the failing cycle is the last.
    #[arg(long)]
    until_fail: bool,
    /// Repeat the selected checks cycle after cycle for this long (`8h`, `90m`); a
    /// cycle under way when the time is up finishes.
    #[arg(long, value_name = "TIME", value_parser = parse_positive_duration)]
    duration: Option<Duration>,
}

impl CampaignArgs {
    /// The campaign's bounds, when it is open-ended.
    fn bounds(&self, repeat: Option<u32>) -> Option<run::campaign::Bounds> {
        (self.until_fail || self.duration.is_some()).then_some(run::campaign::Bounds {
            cycles: repeat,
            duration: self.duration,
            until_fail: self.until_fail,
        })
    }
}

/// What the run's evidence bundle records about who ran it and on what.
#[derive(Args, Debug)]
struct EvidenceArgs {
    /// Who runs the tests, for the evidence (default: $USER, else $LOGNAME).
    #[arg(long, value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    operator: Option<String>,
    /// Run even if an instrument is past its `calibration_due` date in the rig file;
    /// the evidence, the JUnit report and the output say so.
    #[arg(long)]
    allow_expired_calibration: bool,
}

#[derive(Subcommand, Debug)]
enum SimCommand {
    /// Serve the simulated instruments on ptys until Ctrl-C (real time).
    Serve {
        /// Device profile mounted on the served bench.
        #[arg(long, value_name = "PROFILE", default_value = "smartlock_4aa")]
        device: String,
        /// Build the board with a defect; repeatable.
        #[arg(long = "sim-defect", value_name = "NAME")]
        sim_defect: Vec<Defect>,
        /// Inject an instrument fault (see `lockrig run --help`); repeatable.
        #[arg(long = "sim-fault", value_name = "FAULT")]
        sim_fault: Vec<Fault>,
        /// Write a rig file that points at the served ptys.
        #[arg(long, value_name = "FILE")]
        write_rig: Option<PathBuf>,
        /// Seed for the board's properties within its profile's spreads.
        #[arg(long, value_name = "N", default_value_t = 1)]
        seed: u64,
        /// The address the LAN instruments' raw SCPI sockets bind to. Loopback unless
        /// given: a served bench is not reachable from the network unless asked.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
        listen: std::net::IpAddr,
    },
    /// List the simulator's defects: name, then what it breaks. With --matrix, run the
    /// suite against each defect's boards and show which checks caught it.
    Defects(DefectsArgs),
}

#[derive(Args, Debug)]
struct DefectsArgs {
    /// Run the kill matrix: defect x check family (F failed, E rig error, . passed).
    #[arg(long)]
    matrix: bool,
    /// Output format for --matrix.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Seed for the simulated boards' properties.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Suite (built-in name or .toml path).
    #[arg(long, value_name = "NAME|FILE", default_value = crate::scenario::suite::DEFAULT)]
    suite: String,
}

/// How a command prints its result.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// For people.
    Text,
    /// JSON, for scripts and tests.
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    units::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("`{s}`: must be longer than zero")),
        d => Ok(d),
    }
}

fn parse_poll(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if (Duration::from_micros(100)..=Duration::from_secs(10)).contains(&d) => Ok(d),
        _ => Err(format!("`{s}`: the sampling interval must be 100us to 10s")),
    }
}

/// Entry point: parses arguments, runs, maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOCKRIG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let stdout = crate::report::stdout::detach();
    let outcome = dispatch(cli);
    drop(stdout);
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            // Interrupted while waiting for a rig, say: the signal decides the code.
            match signals::received() {
                Some(sig) => ExitCode::from(u8::try_from(signals::exit_code(sig)).unwrap_or(1)),
                None => ExitCode::from(EXIT_USAGE),
            }
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(args) => run_command(*args),
        Command::List(sel) => {
            let (_, _, trials) = load(&sel, None)?;
            for t in trials {
                println!("{}", t.name);
            }
            Ok(0)
        }
        Command::Sim(SimCommand::Defects(args)) if args.matrix => defect_matrix(&args),
        Command::Sim(SimCommand::Defects(_)) => {
            for d in Defect::all() {
                println!("{:<34} {}", d.name(), d.description());
            }
            Ok(0)
        }
        Command::Sim(SimCommand::Serve {
            device,
            sim_defect,
            sim_fault,
            write_rig,
            seed,
            listen,
        }) => {
            let secrets = secrets(&Rig::builtin_sim()?)?;
            let options = SimOptions {
                seed,
                credential: secrets
                    .get("credential")
                    .unwrap_or(sim::SIM_CREDENTIAL)
                    .to_string(),
                defects: sim_defect,
                faults: sim_fault,
                log: None,
            };
            serve(&device, &options, write_rig.as_deref(), listen)
        }
        Command::Rig(RigCommand::Check { rig, wait }) => rig_check(rig.as_deref(), wait),
        Command::Rig(RigCommand::Drivers { format }) => rig_drivers(format),
        Command::Ctl(args) => ctl::ctl(&args),
        Command::Flash(args) => flash::flash(&args),
        Command::Plan(args) => plan_schedule(&args),
        Command::Verify { dir } => verify(&dir),
        Command::Merge { dirs, out } => merge(&dirs, &out),
        Command::Report { dir, out } => report(&dir, out.as_deref()),
    }
}

/// Loads the rig, suite and devices, plans the trials (those `args` select, when given)
/// and refuses any step beyond the rig's envelope or the device's rating.
fn load(
    sel: &Selection,
    args: Option<&libtest_mimic::Arguments>,
) -> anyhow::Result<(Arc<Rig>, Suite, Vec<run::Trial>)> {
    let rig = match &sel.rig {
        Some(p) => Rig::load(p)?,
        None => Rig::builtin_sim()?,
    };
    let suite = Suite::load(&sel.suite)?;
    let devices: Vec<Arc<DeviceProfile>> = if !sel.device.is_empty() {
        sel.device
            .iter()
            .map(|d| DeviceProfile::load(d).map(Arc::new))
            .collect::<Result<_, _>>()?
    } else if let Some(dut) = rig.dut() {
        vec![Arc::new(DeviceProfile::load(&dut)?)]
    } else if rig.is_simulated() {
        DeviceProfile::builtin_all()?
            .into_iter()
            .map(Arc::new)
            .collect()
    } else {
        bail!(
            "{}: a real rig must name its mounted board in [rig] dut = \"...\", or pass --device",
            rig.source.file.display()
        );
    };
    let devices = distinct(devices);
    let keep = |name: &str| args.is_none_or(|a| plan::selects(a, name));
    let repeat = sel.repeat.unwrap_or(1);
    if repeat > MAX_PLANNED_REPEAT {
        bail!(
            "--repeat {repeat}: a run plans every cycle before it starts (about 0.35 KB each); above {MAX_PLANNED_REPEAT} cycles run it as a campaign, which makes each cycle as it goes: add --until-fail or --duration (e.g. `--duration 1000h --repeat {repeat}`)"
        );
    }
    let trials = plan::plan(&suite, &devices, repeat, &rig, &keep)?;
    let refused = plan::check_envelope(&trials, &rig);
    if !refused.is_empty() {
        bail!(
            "refused before touching any instrument: {} step(s) exceed the rig's safety envelope:\n  {}",
            refused.len(),
            refused.join("\n  ")
        );
    }
    Ok((Arc::new(rig), suite, trials))
}

/// `--junit PATH` replaces what is at PATH: only a regular file (or nothing) may be
/// there, never a device, a pipe, a directory or a symbolic link.
fn refuse_unless_regular(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => bail!("--junit {}: cannot check what is there: {e}", path.display()),
        Ok(m) if m.file_type().is_file() => Ok(()),
        Ok(m) => bail!(
            "--junit {}: refused: there is a {} there, and the report would replace it; give the path of a regular file",
            path.display(),
            if m.file_type().is_symlink() {
                "symbolic link"
            } else if m.is_dir() {
                "directory"
            } else {
                "device, pipe or socket"
            }
        ),
    }
}

/// A campaign's bounds in words.
fn describe(b: &run::campaign::Bounds) -> String {
    let mut parts = Vec::new();
    if b.until_fail {
        parts.push("the first failure".to_string());
    }
    if let Some(d) = b.duration {
        parts.push(format!("{} have passed", units::format_duration(d)));
    }
    if let Some(n) = b.cycles {
        parts.push(format!("{n} cycles"));
    }
    if parts.is_empty() {
        parts.push("interrupted".into());
    }
    parts.join(" or ")
}

/// A profile given twice stands for two boards: the second is called `NAME#2` (the
/// third `NAME#3`), so their trials, results and testcases are told apart.
fn distinct(devices: Vec<Arc<DeviceProfile>>) -> Vec<Arc<DeviceProfile>> {
    let mut seen: Vec<String> = Vec::new();
    devices
        .into_iter()
        .map(|d| {
            let n = seen.iter().filter(|s| **s == d.name).count();
            seen.push(d.name.clone());
            if n == 0 {
                d
            } else {
                let mut twin = (*d).clone();
                twin.name = format!("{}#{}", d.name, n + 1);
                Arc::new(twin)
            }
        })
        .collect()
}

/// `sim defects --matrix`: the suite against correct boards and each defect's boards.
fn defect_matrix(args: &DefectsArgs) -> anyhow::Result<u8> {
    let rig = Rig::builtin_sim()?;
    let suite = Suite::load(&args.suite)?;
    let setup = Setup {
        secrets: Arc::new(secrets(&rig)?),
        rig: Arc::new(rig.clone()),
        sim: SimOptions::default(),
        poll: Duration::from_millis(10),
        seed: args.seed,
        abort_on_rig_error: false,
        boards: Default::default(),
        // The simulated rig turns the key with an actuator.
        operator: run::Operator::Absent { excused: true },
        traces: None,
    };
    let rows = run::matrix::measure(&setup, &suite, &rig)?;
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let mut families: Vec<&str> = Vec::new();
    for c in &suite.checks {
        if !families.contains(&c.family()) {
            families.push(c.family());
        }
    }
    let width = rows.iter().map(|r| r.defect.len()).max().unwrap_or(4);
    // Columns are the check families, numbered; the legend names them.
    let header: String = (1..=families.len()).map(|i| format!("{i:>3}")).collect();
    println!("{:width$} {header}", "defect");
    for row in &rows {
        let cells: String = families
            .iter()
            .map(|f| {
                let of = |v: crate::scenario::Verdict| {
                    row.cells
                        .iter()
                        .any(|c| c.check.split("::").next() == Some(*f) && c.verdict == v)
                };
                let mark = if of(crate::scenario::Verdict::Fail) {
                    'F'
                } else if of(crate::scenario::Verdict::Error) {
                    'E'
                } else if of(crate::scenario::Verdict::Pass) {
                    '.'
                } else {
                    ' '
                };
                format!("{mark:>3}")
            })
            .collect();
        let caught = row
            .cells
            .iter()
            .filter(|c| c.verdict != crate::scenario::Verdict::Pass)
            .count();
        println!(
            "{:width$} {cells}   {caught:>2} of {:>2} trials not passed ({})",
            row.defect,
            row.cells.len(),
            row.profiles.join(", ")
        );
    }
    let legend: Vec<String> = families
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} {f}", i + 1))
        .collect();
    println!("\nfamilies: {}", legend.join(", "));
    println!("F a check of the family failed, E a rig error (a positive control failed, or the evidence could not decide), . every check passed, blank: none applies");
    let clean = &rows[0];
    let ok = clean
        .cells
        .iter()
        .all(|c| c.verdict == crate::scenario::Verdict::Pass)
        && rows[1..].iter().all(|r| {
            r.cells
                .iter()
                .any(|c| c.verdict == crate::scenario::Verdict::Fail)
        });
    Ok(if ok { 0 } else { 1 })
}

/// The rig's secrets, resolved (the simulated rig's defaults where nothing is set).
fn secrets(rig: &Rig) -> anyhow::Result<Secrets> {
    Ok(Secrets::resolve(&rig.secret_specs()))
}

/// The rig's secrets, each one the trials send required to be there.
fn secrets_for(rig: &Rig, trials: &[run::Trial]) -> anyhow::Result<Secrets> {
    let secrets = secrets(rig)?;
    let used = trials
        .iter()
        .flat_map(|t| t.steps.iter())
        .flat_map(|s| match s {
            crate::scenario::step::Step::Send { words, .. } => words
                .iter()
                .filter_map(|w| match w {
                    crate::scenario::step::Word::Secret(n) => Some(n.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        });
    secrets.require(used).map_err(|e| {
        anyhow::anyhow!(
            "{}: [secrets]: {e}; nothing was touched",
            rig.source.file.display()
        )
    })?;
    Ok(secrets)
}

fn run_dir(base: &Path) -> anyhow::Result<PathBuf> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .context("formatting the run timestamp")?;
    crate::files::create_run_dir(base, &stamp)
        .with_context(|| format!("creating a run directory in {}", base.display()))
}

fn run_command(args: RunArgs) -> anyhow::Result<u8> {
    let Some(dir) = &args.resume else {
        return run_in(args, None);
    };
    let interrupted = crate::report::resume::open(dir)?;
    let mut original = match Cli::try_parse_from(&interrupted.command) {
        Ok(Cli {
            command: Command::Run(original),
        }) if original.resume.is_none() => *original,
        Ok(_) => bail!(
            "--resume {}: its evidence records no `lockrig run` command line to resume",
            dir.display()
        ),
        Err(e) => bail!(
            "--resume {}: its recorded command line ({}) does not parse: {e}",
            dir.display(),
            interrupted.command.join(" ")
        ),
    };
    // How progress is shown, how long to wait for the rig and who runs it now may
    // change; what runs may not.
    original.test.format = args.test.format;
    original.test.quiet = args.test.quiet;
    original.test.color = args.test.color;
    original.wait = args.wait;
    original.evidence.operator = args.evidence.operator;
    run_in(original, Some(interrupted))
}

/// Runs what `args` select; in the directory of `resumed`, going on after its results,
/// when it is an interrupted run being resumed.
fn run_in(
    args: RunArgs,
    resumed: Option<crate::report::resume::Interrupted>,
) -> anyhow::Result<u8> {
    let test = args.test.to_libtest();
    let mut earlier_summary = run::Summary::default();
    let campaign = args.campaign.bounds(args.selection.repeat);
    let mut selection = args.selection.clone();
    if campaign.is_some() {
        // The campaign makes each cycle's trials as it goes.
        selection.repeat = None;
    }
    let (rig, suite, trials) = load(&selection, Some(&test))?;
    if (!args.sim_defect.is_empty() || !args.sim_fault.is_empty()) && !rig.is_simulated() {
        bail!(
            "--sim-defect and --sim-fault apply to the simulated rig only; {} is a real rig",
            rig.source.file.display()
        );
    }
    let abort_on_rig_error = suite.on_rig_error == OnRigError::Abort;
    if args.test.list && args.test.json() {
        // The listing as JSON lines, like every other `--format json` output.
        for t in &trials {
            println!(
                "{}",
                serde_json::json!({"type": "test", "event": "discovered", "name": t.name})
            );
        }
        return Ok(0);
    }
    if args.test.list {
        // libtest-compatible listing: nothing else on stdout.
        let setup = Setup {
            rig,
            sim: SimOptions::default(),
            poll: args.poll,
            seed: args.seed,
            secrets: Default::default(),
            abort_on_rig_error,
            boards: Default::default(),
            operator: run::Operator::Absent { excused: true },
            traces: None,
        };
        run::run(setup, trials, &test, Box::new(|_| {}));
        return Ok(0);
    }
    let mut evidence = evidence(&rig, &suite, &trials, &args.evidence)?;
    // A run still writing to the directory holds it: refused before anything changes.
    let _resuming = match &resumed {
        Some(r) => Some(
            crate::files::hold_run_dir(&r.dir)
                .map_err(|e| anyhow::anyhow!("--resume {}: refused: {e}", r.dir.display()))?,
        ),
        None => None,
    };
    if let Some(r) = &resumed {
        evidence
            .resume(&r.evidence)
            .map_err(|why| anyhow::anyhow!("--resume {}: refused: {why}", r.dir.display()))?;
        // The results must be this command's, before anything in the directory changes.
        let names: std::collections::HashSet<String> = match campaign {
            // A campaign's trials are `CHECK::DEVICE::cycleN`, made as it goes.
            Some(_) => trials
                .iter()
                .map(|t| format!("{}::{}", t.check.name, t.device.name))
                .collect(),
            None => trials.iter().map(|t| t.name.clone()).collect(),
        };
        let selects = |name: &str| match campaign {
            Some(_) => name
                .rsplit_once("::cycle")
                .is_some_and(|(base, n)| names.contains(base) && n.parse::<u32>().is_ok()),
            None => names.contains(name),
        };
        let defects: Vec<String> = args
            .sim_defect
            .iter()
            .map(|d| d.name().to_string())
            .collect();
        r.scan(&crate::report::resume::Expected {
            selects: &selects,
            rig: &rig.file.rig.name,
            sim_defects: &defects,
            seed: args.seed,
            poll_ms: args.poll.as_secs_f64() * 1e3,
        })?;
    }
    signals::install().context("installing signal handlers")?;
    // A simulated in-process bench is private to this run; a real one is shared.
    let _lock = if rig.is_simulated() {
        None
    } else {
        let lock = crate::run::lock::acquire(&rig, args.wait)?;
        for dead in &lock.stale {
            eprintln!("note: taking over from {dead}, which died holding the rig");
        }
        Some(lock)
    };
    if let Some(path) = &args.junit {
        refuse_unless_regular(path)?;
    }
    let dir = match &resumed {
        Some(r) => {
            r.unseal()?;
            r.dir.clone()
        }
        None => run_dir(&args.out)?,
    };
    // A resumed run's directory is held already.
    let _held = match &_resuming {
        Some(_) => None,
        None => Some(
            crate::files::hold_run_dir(&dir)
                .with_context(|| format!("holding the run directory {}", dir.display()))?,
        ),
    };
    let junit_path = args.junit.clone().unwrap_or_else(|| dir.join("junit.xml"));
    let mut junit = JunitReport::new(
        junit_path.clone(),
        RunFacts {
            suite: suite.name.clone(),
            rig: rig.file.rig.name.clone(),
            seed: args.seed,
            poll: args.poll,
            run_dir: std::path::absolute(&dir).unwrap_or_else(|_| dir.clone()),
        },
    );
    evidence
        .begin(&dir, &junit_path)
        .context("writing the evidence")?;
    junit.add_properties(evidence.junit_properties());
    junit
        .write()
        .with_context(|| format!("writing {}", junit_path.display()))?;
    let stats = Arc::new(std::sync::Mutex::new(Stats::default()));
    // A resumed run's results that stand go into the reports first, as they were.
    let earlier = match &resumed {
        None => run::campaign::Earlier::default(),
        Some(r) => {
            let mut stats = stats.lock().unwrap_or_else(|p| p.into_inner());
            let mut unwritten = None;
            let kept = r.keep(|result| {
                stats.add(result);
                evidence.saw(result);
                if let Err(e) = junit.add(result) {
                    unwritten.get_or_insert(e);
                }
            })?;
            if let Some(e) = unwritten {
                bail!("writing {}: {e}", junit_path.display());
            }
            evidence.kept(kept.done.len(), kept.rerun);
            if !args.test.json() {
                println!(
                    "resuming {}: {} result(s) kept, {} trial(s) cut short or not started run again{}",
                    dir.display(),
                    kept.done.len(),
                    kept.rerun,
                    if kept.unreadable > 0 {
                        format!(", {} unreadable line(s) dropped (a torn last line)", kept.unreadable)
                    } else {
                        String::new()
                    }
                );
            }
            earlier_summary = kept.summary;
            run::campaign::Earlier {
                done: kept.done,
                elapsed: kept.elapsed,
            }
        }
    };
    let mut trials = trials;
    if campaign.is_none() {
        trials.retain(|t| !earlier.done.contains_key(&t.name));
    }
    let jsonl_path = dir.join("results.jsonl");
    let mut jsonl = JsonLines::create(&jsonl_path)
        .with_context(|| format!("creating {}", jsonl_path.display()))?;
    let log = if rig.is_simulated() {
        let path = dir.join("sim-outputs.log");
        Some(SimLog::create(&path).with_context(|| format!("creating {}", path.display()))?)
    } else {
        None
    };
    let setup = Setup {
        secrets: Arc::new(secrets_for(&rig, &trials)?),
        rig,
        sim: SimOptions {
            seed: args.seed,
            credential: String::new(),
            defects: args.sim_defect.clone(),
            faults: args.sim_fault.clone(),
            log,
        },
        poll: args.poll,
        seed: args.seed,
        abort_on_rig_error,
        boards: Default::default(),
        operator: operator(args.non_interactive),
        traces: Some(run::trace::Traces {
            dir: dir.clone(),
            // A soak keeps the timelines worth reading: its failures'.
            keep: args.traces.unwrap_or(
                if campaign.is_some() || args.selection.repeat.is_some_and(|n| n > 1) {
                    run::trace::Keep::Failed
                } else {
                    run::trace::Keep::All
                },
            ),
        }),
    };
    let counted = stats.clone();
    let sink = Box::new(move |event: Event| match event {
        Event::Finished(result) => {
            counted
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&result);
            if let Err(e) = junit.add(&result) {
                tracing::error!("cannot write the JUnit report: {e}");
            }
            if let Err(e) = jsonl.write(&result) {
                tracing::error!("cannot write results.jsonl: {e}");
            }
        }
    });
    let sink = evidence.observe(sink);
    let (summary, ended) = match campaign {
        Some(bounds) => {
            if !args.test.json() {
                println!(
                    "running a campaign of {} trial(s) per cycle, until {}",
                    trials.len(),
                    describe(&bounds)
                );
            }
            let mut output = progress::CampaignOutput::new(&args.test, bounds, trials.len());
            let (summary, ended) =
                run::campaign::run(setup, &trials, bounds, &earlier, sink, &mut |p| {
                    output.trial(p)
                });
            output.finish();
            (summary, Some(ended))
        }
        // A repeated run watched on a terminal gets the campaign's progress bar; in CI
        // or a pipe the test harness prints it.
        None if progress::CampaignOutput::watched(&args.test)
            && args.selection.repeat.is_some_and(|n| n > 1) =>
        {
            let repeat = args.selection.repeat.unwrap_or(1);
            let bounds = run::campaign::Bounds {
                cycles: Some(repeat),
                ..Default::default()
            };
            let per_cycle = trials.len().div_ceil(repeat as usize);
            let mut output =
                progress::CampaignOutput::new(&args.test, bounds, per_cycle).check_by_check();
            let summary = run::run_watched(setup, trials, sink, &mut |p| output.trial(p));
            output.finish();
            (summary, None)
        }
        None => (run::run(setup, trials, &test, sink), None),
    };
    let summary = summary + earlier_summary;
    let stats = stats.lock().unwrap_or_else(|p| p.into_inner());
    let stats_path = dir.join("stats.json");
    if let Err(e) = stats.write(&stats_path) {
        eprintln!("lockrig: cannot write {}: {e}", stats_path.display());
    }
    // From results.jsonl as written: the page shows what the evidence holds.
    let facts = html::Facts {
        seed: Some(args.seed),
        ..html::Facts::default()
    };
    if let Err(e) = html::write_for_run(&dir, &facts) {
        eprintln!("lockrig: cannot write {}: {e}", html::REPORT);
    }
    // Sealed last: the manifest covers every file the run wrote.
    evidence
        .finish(&summary)
        .context("sealing the run directory")?;
    for c in evidence.expired() {
        let note = format!("lockrig: CALIBRATION EXPIRED: {c}; run accepted with --allow-expired-calibration, as the evidence and the JUnit report record");
        closing(&args.test, &format!("{note}\n"));
    }
    if summary.ran_nothing() && signals::received().is_none() {
        eprintln!(
            "lockrig: no trial ran ({} skipped): nothing was tested. Check the filter, and the roles the rig maps.",
            summary.skipped
        );
    }
    if summary.incomplete > 0 && signals::received().is_none() {
        eprintln!(
            "lockrig: {} applicable trial(s) could not run: the rig maps no role they need (see each one's reason). The run is incomplete (exit 4); exclude those checks with a filter or --skip to accept a partial run.",
            summary.incomplete
        );
    }
    if let Some(sig) = signals::received() {
        let extra = signals::count().saturating_sub(1);
        eprintln!(
            "lockrig: stopped by {sig}; a trial cut short is reported as an error, those not started as skipped, and the rig was returned to its safe state{}",
            if extra > 0 { format!(" ({extra} further signal(s) received and noted, not obeyed, so cleanup could finish)") } else { String::new() }
        );
    }
    let ended = ended
        .map(|e| format!("; campaign: {e}"))
        .unwrap_or_default();
    let line = format!(
        "lockrig: {} passed, {} failed, {} rig errors, {} skipped{ended}; reports in {}",
        summary.passed,
        summary.failed,
        summary.errors,
        summary.skipped,
        dir.display()
    );
    closing(
        &args.test,
        &format!("{}{line}\n", stats.table().unwrap_or_default()),
    );
    Ok(u8::try_from(summary.exit_code()).unwrap_or(1))
}

/// The run's closing lines: on stdout beside the progress, unless stdout is kept to
/// JSON lines or its reader has gone (`| head`), when a person would miss them there.
fn closing(harness: &harness::Harness, text: &str) {
    if harness.json() || crate::report::stdout::reader_gone() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// Refuses a run on an instrument past its calibration (unless accepted), then prepares
/// the run's evidence: file digests and copies, firmware digest, operator and host.
fn evidence(
    rig: &Rig,
    suite: &Suite,
    trials: &[run::Trial],
    args: &EvidenceArgs,
) -> anyhow::Result<Evidence> {
    let calibration = run::calibration::check(rig, args.allow_expired_calibration)?;
    let operator = crate::report::evidence::operator_name(args.operator.clone());
    Ok(Evidence::prepare(
        rig,
        suite,
        trials,
        calibration,
        operator,
    )?)
}

/// `lockrig verify DIR`: 0 intact, 1 anything changed, added or removed (each named);
/// unusable input is an error (exit 2).
fn verify(dir: &Path) -> anyhow::Result<u8> {
    use crate::report::manifest;
    let checked =
        manifest::verify(dir).with_context(|| format!("{} cannot be checked", dir.display()))?;
    for p in &checked.problems {
        println!("{p}");
    }
    if checked.problems.is_empty() {
        println!(
            "{}: intact: the {} files {} lists match, and nothing else is there",
            dir.display(),
            checked.listed,
            manifest::MANIFEST
        );
        Ok(0)
    } else {
        println!(
            "{}: NOT intact: {} difference(s) from {}",
            dir.display(),
            checked.problems.len(),
            manifest::MANIFEST
        );
        Ok(1)
    }
}

/// `lockrig merge DIR... [--out DIR]`.
fn merge(dirs: &[PathBuf], out: &Path) -> anyhow::Result<u8> {
    use crate::report::merge::{self, MergeError};
    let dir = run_dir(out)?;
    let merged = match merge::merge(dirs, &dir) {
        Ok(m) => m,
        Err(e) => {
            // Nothing half-made is left behind to be taken for a merge.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(match e {
                MergeError::Refused { .. } => anyhow::anyhow!("{e}; nothing was merged"),
                other => anyhow::Error::new(other),
            });
        }
    };
    for w in &merged.warnings {
        eprintln!("lockrig merge: warning: {w}");
    }
    if merged.unreadable_lines > 0 {
        eprintln!(
            "lockrig merge: {} line(s) of the sources were not results and were skipped",
            merged.unreadable_lines
        );
    }
    let [passed, failed, errors, skipped] = merged.counts;
    let summary = run::Summary {
        passed: passed as usize,
        failed: failed as usize,
        errors: errors as usize,
        skipped: skipped as usize,
        incomplete: skipped as usize,
    };
    println!(
        "lockrig merge: {} runs ({}): {passed} passed, {failed} failed, {errors} rig errors, {skipped} skipped; merged run in {}",
        merged.sources.len(),
        merged
            .sources
            .iter()
            .map(|s| s.bench.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    );
    Ok(u8::try_from(summary.exit_code()).unwrap_or(1))
}

/// `lockrig report DIR [--out FILE]`: renders the report from the directory's results;
/// never writes into a sealed directory.
fn report(dir: &Path, out: Option<&Path>) -> anyhow::Result<u8> {
    use crate::report::manifest::MANIFEST;
    let sealed = std::fs::symlink_metadata(dir.join(MANIFEST)).is_ok();
    let page = html::render_dir(dir, &html::Facts::default())
        .with_context(|| format!("cannot render a report from {}", dir.display()))?;
    match out {
        Some(path) => {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let inside = match (std::fs::canonicalize(parent), std::fs::canonicalize(dir)) {
                (Ok(p), Ok(d)) => p.starts_with(d),
                _ => false,
            };
            if sealed && inside {
                bail!(
                    "{} is inside the sealed run directory {}: writing there would break its {MANIFEST}; choose a file outside it",
                    path.display(),
                    dir.display()
                );
            }
            crate::files::write_atomic(path, page.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None if sealed => bail!(
            "{} is sealed ({MANIFEST} covers its {}): re-rendering there would break the seal; write elsewhere with --out FILE",
            dir.display(),
            html::REPORT
        ),
        None => {
            let root = html::read::open_dir(dir)?;
            html::read::write_in(&root, html::REPORT, page.as_bytes())?;
            println!("wrote {}", dir.join(html::REPORT).display());
        }
    }
    Ok(0)
}

/// The rig file for a served bench: the built-in rig with each `sim = "NAME"` replaced
/// by the pty it is served on (the meter's I2CDriver by its `i2cdriver` port).
fn served_rig(bench: &SimBench, device: &str, credential_file: &str) -> String {
    let mut out = String::new();
    let mut probe = false;
    for line in crate::config::rig::SIM_RIG.lines() {
        let trimmed = line.trim_start();
        // The board's debug probe is reached in-process only (a probe is no byte
        // stream): a served bench has none.
        if trimmed.starts_with('[') {
            probe = trimmed.starts_with(&format!("[instruments.{}]", crate::sim::SWD));
            if probe {
                out.push_str(
                    "# (no debug probe: the simulator's is reached in its own process only)\n\n",
                );
            }
        }
        if probe {
            continue;
        }
        if trimmed.starts_with("name = \"sim\"") {
            out.push_str(&format!("name = \"sim-served\"\ndut = \"{device}\"\n"));
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("sim = \"") {
            let name = rest.trim_end_matches('"');
            let path = bench.serial_path(name).unwrap_or_default();
            if name == "i2cdriver" {
                out.push_str(&format!("i2cdriver = \"{path}\"\n"));
            } else {
                out.push_str(&format!("serial = \"{path}\"\nbaud = 115200\n"));
            }
            continue;
        }
        if trimmed.starts_with("credential = ") {
            // A served bench is driven like a real one: its secret is in a file.
            out.push_str(&format!(
                "credential = {{ file = \"{credential_file}\" }}\n"
            ));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Who does by hand what the rig cannot: a person at this terminal, or nobody.
fn operator(non_interactive: bool) -> run::Operator {
    use std::io::IsTerminal;
    if non_interactive {
        return run::Operator::Absent { excused: true };
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return run::Operator::Absent { excused: false };
    }
    run::Operator::Present(crate::scenario::Person(Arc::new(|ask: &str| {
        use std::io::{BufRead, Write};
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\nlockrig: please {ask}, then press Enter (type `skip` to skip): "
        );
        let _ = err.flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) => Err("no answer (end of input)".into()),
            Ok(_) if line.trim() == "skip" => Err("skipped by the operator".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    })))
}

/// Writes a file readable by its owner only (mode 0600 from the start).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn serve(
    device: &str,
    options: &SimOptions,
    write_rig: Option<&Path>,
    listen: std::net::IpAddr,
) -> anyhow::Result<u8> {
    let profile = DeviceProfile::load(device)?;
    signals::install().context("installing signal handlers")?;
    let mut bench = SimBench::start(&profile, options, sim::wall_time())
        .context("starting the simulated bench")?;
    bench
        .serve_tcp(listen)
        .with_context(|| format!("listening on {listen}"))?;
    if !listen.is_loopback() {
        eprintln!("lockrig sim serve: the LAN instruments listen on {listen}, beyond this host (--listen)");
    }
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    println!(
        "simulated bench with {} (defects: {}; faults: {})",
        profile.name,
        list(options.defects.iter().map(|d| d.to_string()).collect()),
        list(options.faults.iter().map(|f| f.to_string()).collect())
    );
    for name in sim::instruments() {
        let socket = bench
            .tcp_addr(name)
            .map(|a| format!("  tcp {a}"))
            .unwrap_or_default();
        println!(
            "  {name:<8} {}{socket}",
            bench.serial_path(name).unwrap_or_default()
        );
    }
    if let Some(path) = write_rig {
        // The credential the served keypad accepts, in a file only its owner can read,
        // beside the rig file that names it.
        let name = path
            .file_name()
            .map_or("served".into(), |n| n.to_string_lossy().into_owned());
        let credential = path.with_file_name(format!("{name}.credential"));
        write_private(&credential, &options.credential)?;
        let credential_name = credential
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(path, served_rig(&bench, &profile.name, &credential_name))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("rig file: {}", path.display());
    }
    println!("serving until Ctrl-C");
    while signals::received().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(bench);
    Ok(signals::received().map_or(0, |s| u8::try_from(signals::exit_code(s)).unwrap_or(1)))
}

fn rig_drivers(format: PlanFormat) -> anyhow::Result<u8> {
    use crate::config::catalogue::CATALOGUE;
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = match format {
        PlanFormat::Json => CATALOGUE.iter().try_for_each(|e| {
            serde_json::to_writer(&mut out, e)?;
            writeln!(out)
        }),
        PlanFormat::Text => {
            let width = CATALOGUE.iter().map(|e| e.driver.len()).max().unwrap_or(0);
            CATALOGUE.iter().try_for_each(|e| {
                writeln!(
                    out,
                    "{:<width$}  {:<8} {}\n{:<width$}  {:<8} protocol: {}; transport: {}; simulated: {}",
                    e.driver,
                    e.capability,
                    e.instruments,
                    "",
                    "",
                    e.protocol,
                    e.transport,
                    e.sim.map_or("no (tested with a mock bus)".into(), |s| format!("sim = \"{s}\"")),
                )
            })
        }
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the list"),
        _ => Ok(0),
    }
}

fn rig_check(path: Option<&Path>, wait: Option<Duration>) -> anyhow::Result<u8> {
    let rig = match path {
        Some(p) => Rig::load(p)?,
        None => Rig::builtin_sim()?,
    };
    signals::install().context("installing signal handlers")?;
    let _lock = if rig.is_simulated() {
        None
    } else {
        Some(crate::run::lock::acquire(&rig, wait)?)
    };
    let mut health = Health::load(&rig);
    if let Some(path) = health.path() {
        println!("broken-rig mark: {}", path.display());
    }
    if let Some(b) = &health.broken {
        println!("rig `{}` is marked broken {b}", rig.file.rig.name);
    }
    let sim = if rig.is_simulated() {
        let device = match rig.dut() {
            Some(d) => DeviceProfile::load(&d)?,
            None => DeviceProfile::builtin_all()?.remove(0),
        };
        Some(SimBench::start(
            &device,
            &SimOptions::default(),
            sim::TimeMode::Virtual,
        )?)
    } else {
        None
    };
    let problems = match Bench::open(&rig, sim.as_ref()) {
        Ok(mut bench) => {
            for i in bench.identities() {
                println!(
                    "  {:<10} {:<13} {}",
                    i.instrument,
                    i.driver.to_string(),
                    i.identity
                );
            }
            bench
                .apply_safe_state()
                .iter()
                .map(|e| e.to_string())
                .collect()
        }
        Err(e) => vec![e.to_string()],
    };
    if problems.is_empty() {
        health.clear().context("clearing the broken mark")?;
        println!(
            "rig `{}` healthy: every instrument answers and the safe state is confirmed",
            rig.file.rig.name
        );
        Ok(0)
    } else {
        let reason = problems.join("; ");
        health.mark("lockrig rig check", &reason);
        eprintln!("rig `{}` is not healthy: {reason}", rig.file.rig.name);
        Ok(3)
    }
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// The door hardware schedule (see fixtures/schedules/example.toml).
    #[arg(value_name = "SCHEDULE")]
    schedule: PathBuf,
    /// Suite whose checks make up the plan (built-in name or .toml path).
    #[arg(long, value_name = "NAME|FILE", default_value = crate::scenario::suite::DEFAULT)]
    suite: String,
    /// `text` for a person, `json` for one JSON object per opening.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum PlanFormat {
    Text,
    Json,
}

fn plan_schedule(args: &PlanArgs) -> anyhow::Result<u8> {
    use std::io::Write as _;
    let schedule = crate::schedule::Schedule::load(&args.schedule)?;
    let suite = Suite::load(&args.suite)?;
    let plan = schedule.plan(&suite);
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        PlanFormat::Text => write!(out, "{plan}"),
        PlanFormat::Json => plan.openings.iter().try_for_each(|opening| {
            serde_json::to_writer(&mut out, opening)?;
            writeln!(out)
        }),
    };
    // A reader that stops early (`| head`) is not an error.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the plan"),
        _ => Ok(u8::from(plan.findings() > 0)),
    }
}
