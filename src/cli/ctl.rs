//! `lockrig ctl`: a person at the bench drives it by role name, one command on the
//! command line or a session of them on stdin (a prompt on a terminal, a script
//! otherwise). The grammar and the guards are [`crate::run::ctl`]'s.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::clock::Clock as _;
use crate::config::device::DeviceProfile;
use crate::config::rig::Rig;
use crate::rig::Bench;
use crate::run::ctl::{Command, CtlError, Session, HELP};
use crate::signals;
use crate::sim::{self, SimBench, SimOptions};

/// `lockrig ctl --help`'s closing section: the commands, the guards, the exit codes.
pub fn long_help() -> String {
    let commands: Vec<String> = HELP.lines().map(|l| format!("  {l}")).collect();
    format!("Commands:\n{}\n\n{GUARDS}", commands.join("\n"))
}

const GUARDS: &str = "\
Every setting is checked against the rig's envelope and the board's rating before any
instrument is touched. The session holds the rig's lock. When it ends (the command is
done, `quit`, end of input, Ctrl-C, SIGTERM), every role returns to its safe state.
One command on the command line returns the bench to its safe state as soon as it is
done, unless --hold keeps it (on a terminal, until Enter). On the simulated rig the
board runs in real time.

Examples:
  lockrig ctl --rig bench.toml status
  lockrig ctl --rig bench.toml --hold 30s supply main 12V 0.5A
  lockrig ctl --rig bench.toml switch fire_alarm_loop on
  printf 'supply main 12V\\nwait 2s\\nconsole STATE?\\n' | lockrig ctl --rig bench.toml

Exit codes:
  0    every command did what it said
  2    a command was malformed or refused (nothing was sent), or the rig is held
  3    an instrument failed, or the safe state could not be confirmed
  130, 143, 129
       interrupted by SIGINT, SIGTERM, SIGHUP (the bench is back in its safe state)";

/// `lockrig ctl` arguments.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// Rig file; the built-in simulated rig when absent.
    #[arg(long, value_name = "FILE")]
    rig: Option<PathBuf>,
    /// The board on the bench (built-in name or .toml path): its rating bounds the
    /// supply settings. Default: the rig's `dut`; on the simulated rig, the first
    /// built-in profile.
    #[arg(long, value_name = "PROFILE")]
    device: Option<String>,
    /// Wait for another run to release the rig (up to TIMEOUT, default 24h).
    #[arg(long, value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "24h", value_parser = super::parse_duration)]
    wait: Option<Duration>,
    /// After a command on the command line, keep the bench as it left it for this long
    /// (Ctrl-C ends it early) before returning it to its safe state.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    hold: Option<Duration>,
    /// One command (see below). Without one, commands are read from stdin, one per
    /// line (`#` starts a comment).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<String>,
}

/// Exit code for a refused or malformed command.
const EXIT_REFUSED: u8 = super::EXIT_USAGE;
/// Exit code for an instrument failure or an unconfirmed safe state.
const EXIT_RIG: u8 = 3;

/// Runs `lockrig ctl`.
pub fn ctl(args: &CtlArgs) -> anyhow::Result<u8> {
    // Parse a command-line command before anything is opened.
    let one = if args.command.is_empty() {
        None
    } else {
        match Command::parse(&args.command) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("lockrig ctl: {e}");
                return Ok(EXIT_REFUSED);
            }
        }
    };
    let rig = match &args.rig {
        Some(p) => Rig::load(p)?,
        None => Rig::builtin_sim()?,
    };
    let device = match (&args.device, rig.dut()) {
        (Some(d), _) => Some(DeviceProfile::load(d)?),
        (None, Some(d)) => Some(DeviceProfile::load(&d)?),
        (None, None) if rig.is_simulated() => DeviceProfile::builtin_all()?.into_iter().next(),
        (None, None) => None,
    };
    let secrets = super::secrets(&rig)?;
    signals::install().context("installing signal handlers")?;
    let _lock = if rig.is_simulated() {
        None
    } else {
        Some(crate::run::lock::acquire(&rig, args.wait)?)
    };
    if let Some(b) = crate::run::health::Health::load(&rig).broken {
        eprintln!(
            "note: rig `{}` is marked broken {b}; `lockrig rig check` clears the mark",
            rig.file.rig.name
        );
    }
    // The simulated board runs in real time, as a bench does while a person works.
    let sim = match (&device, rig.is_simulated()) {
        (Some(d), true) => {
            let options = SimOptions {
                credential: secrets
                    .get("credential")
                    .unwrap_or(sim::SIM_CREDENTIAL)
                    .to_string(),
                ..SimOptions::default()
            };
            Some(SimBench::start(d, &options, sim::wall_time())?)
        }
        _ => None,
    };
    let bench = match Bench::open(&rig, sim.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("lockrig ctl: {e}");
            return Ok(EXIT_RIG);
        }
    };
    let mut session = Session::new(&rig, bench, device, secrets);
    // Start from the declared safe state, confirmed.
    if let Err(e) = session.execute(&Command::Safe) {
        eprintln!("lockrig ctl: the safe state could not be confirmed at the start: {e}");
        return Ok(EXIT_RIG);
    }
    let mut code = match one {
        Some(cmd) => run_one(&mut session, &cmd, args.hold),
        None => run_lines(&mut session),
    };
    if let Some(sig) = signals::received() {
        code = u8::try_from(signals::exit_code(sig)).unwrap_or(1);
    }
    // The safe state, confirmed and said, on every way out of the session.
    if !session.is_safe() {
        match session.execute(&Command::Safe) {
            Ok(_) => eprintln!("lockrig ctl: every role is back in its safe state (confirmed)"),
            Err(e) => {
                eprintln!("lockrig ctl: the safe state could not be confirmed: {e}");
                code = code.max(EXIT_RIG);
            }
        }
    }
    drop(session);
    drop(sim);
    Ok(code)
}

/// The exit code a failed command leaves.
fn code_of(e: &CtlError) -> u8 {
    match e {
        CtlError::Refused(_) => EXIT_REFUSED,
        CtlError::Role(crate::rig::RoleError::Envelope { .. })
        | CtlError::Role(crate::rig::RoleError::Unmapped { .. }) => EXIT_REFUSED,
        CtlError::Role(_) | CtlError::Probe { .. } => EXIT_RIG,
    }
}

fn say(text: &str) {
    if text.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    // A reader that went away (`| head`) does not stop the session: the safe state
    // still has to be applied.
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn run_one(session: &mut Session, cmd: &Command, hold: Option<Duration>) -> u8 {
    if let Command::Help = cmd {
        say(HELP);
        return 0;
    }
    if let Err(e) = session.execute(cmd).map(|text| say(&text)) {
        eprintln!("lockrig ctl: {e}");
        return code_of(&e);
    }
    if session.is_safe() {
        return 0;
    }
    match hold {
        Some(d) => {
            eprintln!(
                "holding for {} (Ctrl-C ends it early)",
                crate::units::format_duration(d)
            );
            crate::clock::WallClock::new().wait(d);
        }
        None if std::io::stdin().is_terminal() => {
            eprintln!("holding: press Enter (or Ctrl-C) to return the bench to its safe state");
            let lines = stdin_lines();
            while signals::received().is_none() {
                match lines.recv_timeout(Duration::from_millis(50)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
        }
        None => eprintln!(
            "lockrig ctl: returning the bench to its safe state now (--hold DURATION keeps it)"
        ),
    }
    0
}

/// Lines of stdin, read on a thread so a signal is noticed while nobody types.
fn stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A session on stdin. On a terminal: a prompt, and a failed command is reported and
/// the session goes on. From a script: the first failed command ends it (its line is
/// named) with that command's exit code.
fn run_lines(session: &mut Session) -> u8 {
    let interactive = std::io::stdin().is_terminal();
    let prompt = || {
        if interactive {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "lockrig> ").and_then(|()| err.flush());
        }
    };
    if interactive {
        eprintln!("lockrig ctl: `help` lists the commands; `quit` or Ctrl-D ends the session");
    }
    let lines = stdin_lines();
    let mut number = 0;
    prompt();
    while signals::received().is_none() {
        let line = match lines.recv_timeout(Duration::from_millis(50)) {
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(Err(e)) => {
                eprintln!("lockrig ctl: reading stdin: {e}");
                return EXIT_REFUSED;
            }
            Ok(Ok(line)) => line,
        };
        number += 1;
        let text = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            prompt();
            continue;
        }
        let result = Command::parse(&words)
            .map_err(|e| (EXIT_REFUSED, e))
            .and_then(|cmd| match cmd {
                Command::Quit => Ok(None),
                cmd => session
                    .execute(&cmd)
                    .map(Some)
                    .map_err(|e| (code_of(&e), e.to_string())),
            });
        match result {
            Ok(None) => break,
            Ok(Some(text)) => say(&text),
            Err((code, e)) if !interactive => {
                eprintln!("lockrig ctl: stdin line {number}: {e}");
                return code;
            }
            Err((_, e)) => eprintln!("{e}"),
        }
        prompt();
    }
    0
}
