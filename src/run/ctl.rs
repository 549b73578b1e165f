//! Manual control of a bench, for a person debugging it (`lockrig ctl`): one command
//! at a time, by role name, with the same guards as a run. A setting beyond the rig's
//! envelope or the mounted device's rating is refused before any instrument is
//! touched; the session holds the rig's lock; the bench returns to its declared safe
//! state when the session ends, however it ends (the [`Bench`] applies it on drop).
//!
//! The grammar, one command per line:
//!
//! ```text
//! status                          every role: supplies, switches, inputs, meters, consoles
//! supply ROLE                     measure the output (V, A)
//! supply ROLE VOLTS [AMPS]        set the voltage (and current limit), then switch on
//! supply ROLE on|off              switch the output
//! switch ROLE [on|off]            read or set a relay (`relay` is the same)
//! input ROLE                      read a door or latch sensor
//! meter ROLE                      read a meter (V, A)
//! console [ROLE] LINE             send a line to the board and print its reply;
//!                                 `$NAME` sends the rig's secret NAME
//! wait DURATION                   let the bench run (e.g. `wait 2s`)
//! safe                            return every role to its safe state now
//! probe [NAME] reset [halt]       reset the board's chip through the debug probe
//! probe [NAME] read ADDRESS       read a 32-bit word (a reset-cause register)
//! probe [NAME] rtt DURATION       print what the firmware writes to RTT channel 0
//! ```
//!
//! The probe commands open the rig's `probe-rs` instrument (the one named, or its only
//! one) at the first use and keep it for the session. A chip halted by `reset halt`
//! stays halted until `probe reset` or the safe state cuts its power.

use std::time::Duration;

use crate::config::device::DeviceProfile;
use crate::config::rig::{choose_probe, Capability, Link, Rig};
use crate::config::secrets::Secrets;
use crate::drivers::InstrumentError;
use crate::rig::{Bench, RoleError};
use crate::units::{self, Amps, Volts};

/// How often `probe rtt` reads the target's buffer.
const RTT_POLL: Duration = Duration::from_millis(10);

/// One-line summary of every command, for `help` and for a parse error.
pub const HELP: &str = "\
status                    every role's state
supply ROLE               measure a supply output
supply ROLE VOLTS [AMPS]  set voltage (and current limit) and switch on, e.g. `supply main 12V 0.5A`
supply ROLE on|off        switch a supply output
switch ROLE [on|off]      read or set a relay (also `relay`)
input ROLE                read a door or latch sensor
meter ROLE                read a meter
console [ROLE] LINE       send LINE to the board (`$NAME` sends the rig's secret NAME)
wait DURATION             let the bench run, e.g. `wait 2s`
safe                      return every role to its safe state now
probe [NAME] reset [halt] reset the chip through the debug probe (and halt it)
probe [NAME] read ADDR    read a 32-bit word, e.g. a reset-cause register `probe read 0x40000400`
probe [NAME] rtt DURATION print the firmware's RTT channel 0 for DURATION, e.g. `probe rtt 5s`
help                      this list
quit                      end the session (the bench returns to its safe state)";

/// What a supply command does.
#[derive(Debug, Clone, PartialEq)]
pub enum SupplySet {
    /// Measure only.
    Measure,
    /// Set the voltage (and current limit), then switch on.
    Level(Volts, Option<Amps>),
    /// Switch the output.
    Output(bool),
}

/// What a probe command does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeAction {
    /// Reset the chip; halt it at its reset vector when `halt`.
    Reset {
        /// Halt after the reset.
        halt: bool,
    },
    /// Read one 32-bit word of the chip's memory.
    Read(u64),
    /// Print the target's RTT up channel 0 for this long.
    Rtt(Duration),
}

impl ProbeAction {
    /// Parses the words after `probe [NAME]`.
    fn parse(words: &[&str]) -> Result<Self, String> {
        let usage = "`probe` needs `reset [halt]`, `read ADDRESS` or `rtt DURATION`";
        let Some(verb) = words.first() else {
            return Err(usage.into());
        };
        match (verb.to_ascii_lowercase().as_str(), &words[1..]) {
            ("reset", []) => Ok(Self::Reset { halt: false }),
            ("reset", [h]) if h.eq_ignore_ascii_case("halt") => Ok(Self::Reset { halt: true }),
            ("read", [a]) => {
                let parsed = match a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
                    Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
                    None => a.replace('_', "").parse(),
                };
                parsed
                    .map(Self::Read)
                    .map_err(|_| format!("`probe read {a}`: expected an address, e.g. 0x40000400"))
            }
            ("rtt", [d]) => units::parse_duration(d)
                .map(Self::Rtt)
                .map_err(|e| format!("`probe rtt {d}`: {e}")),
            _ => Err(format!("`probe {}`: {usage}", words.join(" "))),
        }
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Every role's state.
    Status,
    /// Measure or set a supply role.
    Supply(String, SupplySet),
    /// Read (`None`) or set a switch role.
    Switch(String, Option<bool>),
    /// Read an input role.
    Input(String),
    /// Read a meter role.
    Meter(String),
    /// Send a line to a console role (the only one when `None`).
    Console(Option<String>, String),
    /// Let the bench run.
    Wait(Duration),
    /// Apply the safe state now.
    Safe,
    /// Act through a debug probe (the rig's only one when the name is `None`).
    Probe(Option<String>, ProbeAction),
    /// Print the command list.
    Help,
    /// End the session.
    Quit,
}

fn on_off(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "on" | "close" | "closed" | "1" => Some(true),
        "off" | "open" | "0" => Some(false),
        _ => None,
    }
}

impl Command {
    /// Parses one command from its words (a line split at whitespace, or the command
    /// line's arguments). The console's line is the rest of the words, joined by one
    /// space.
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Self, String> {
        let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
        let role = |i: usize, what: &str| {
            words
                .get(i)
                .map(|r| r.to_string())
                .ok_or_else(|| format!("`{}` needs a {what} role name", words[0]))
        };
        let extra = |n: usize| {
            if words.len() > n {
                Err(format!(
                    "`{}`: unexpected `{}`",
                    words[..n].join(" "),
                    words[n..].join(" ")
                ))
            } else {
                Ok(())
            }
        };
        let Some(first) = words.first() else {
            return Err("empty command".into());
        };
        Ok(match first.to_ascii_lowercase().as_str() {
            "status" => extra(1).map(|_| Self::Status)?,
            "supply" | "psu" => {
                let r = role(1, "supply")?;
                let set = match words.get(2) {
                    None => SupplySet::Measure,
                    Some(w) if on_off(w).is_some() && !w.starts_with(['0', '1']) => {
                        extra(3)?;
                        SupplySet::Output(on_off(w).unwrap_or(false))
                    }
                    Some(v) => {
                        extra(4)?;
                        let volts = Volts::parse(&with_unit(v, "V"))
                            .map_err(|e| format!("`supply {r} {v}`: {e}"))?;
                        let amps = words
                            .get(3)
                            .map(|a| Amps::parse(&with_unit(a, "A")))
                            .transpose()
                            .map_err(|e| format!("`supply {r} {v} …`: {e}"))?;
                        if volts.0 < 0.0 || amps.is_some_and(|a| a.0 < 0.0) {
                            return Err(format!("`supply {r}`: values must be positive"));
                        }
                        SupplySet::Level(volts, amps)
                    }
                };
                Self::Supply(r, set)
            }
            "switch" | "relay" => {
                let r = role(1, "switch")?;
                extra(3)?;
                let on = words
                    .get(2)
                    .map(|w| {
                        on_off(w).ok_or_else(|| {
                            format!("`switch {r} {w}`: expected `on` (energised) or `off`")
                        })
                    })
                    .transpose()?;
                Self::Switch(r, on)
            }
            "input" => {
                extra(2)?;
                Self::Input(role(1, "input")?)
            }
            "meter" => {
                extra(2)?;
                Self::Meter(role(1, "meter")?)
            }
            "console" => {
                if words.len() < 2 {
                    return Err("`console` needs a line to send, e.g. `console STATE?`".into());
                }
                Self::Console(None, words[1..].join(" "))
            }
            "wait" | "sleep" => {
                extra(2)?;
                let d = words
                    .get(1)
                    .ok_or("`wait` needs a duration, e.g. `wait 2s`")?;
                Self::Wait(units::parse_duration(d).map_err(|e| format!("`wait {d}`: {e}"))?)
            }
            "safe" => extra(1).map(|_| Self::Safe)?,
            "probe" => {
                // An instrument name comes first unless the word is an action.
                let named = words.get(1).filter(|w| {
                    !["reset", "read", "rtt"].contains(&w.to_ascii_lowercase().as_str())
                });
                let rest = &words[1 + usize::from(named.is_some())..];
                Self::Probe(named.map(|n| n.to_string()), ProbeAction::parse(rest)?)
            }
            "help" | "?" => Self::Help,
            "quit" | "exit" => Self::Quit,
            other => {
                return Err(format!(
                    "unknown command `{other}`; the commands are:\n{HELP}"
                ))
            }
        })
    }
}

/// A bare number gets the unit it is asked in (`6` is 6 V for a supply).
fn with_unit(word: &str, unit: &str) -> String {
    if word.ends_with(|c: char| c.is_ascii_digit() || c == '.') {
        format!("{word}{unit}")
    } else {
        word.to_string()
    }
}

/// Why a command did nothing or failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The command was refused before any instrument was touched.
    #[error("refused: {0}; nothing was sent")]
    Refused(String),
    /// The bench failed to do it.
    #[error("{0}")]
    Role(#[from] RoleError),
    /// The debug probe, or the chip behind it, failed.
    #[error("instrument `{instrument}`: {source}")]
    Probe {
        /// The probe instrument.
        instrument: String,
        /// What failed.
        source: InstrumentError,
    },
}

/// A bench under manual control. Dropping it applies the safe state (the bench's own
/// drop guard), then releases the simulator and the rig lock.
pub struct Session {
    bench: Bench,
    device: Option<DeviceProfile>,
    secrets: Secrets,
    /// The consoles, for `console LINE` without a role.
    consoles: Vec<String>,
    roles: Vec<(String, Capability)>,
    /// The rig's debug probes (the bench keeps them open for the session: RTT keeps
    /// its place in the target's buffer).
    probes: Vec<(String, Link)>,
}

impl Session {
    /// Takes over an opened bench. `device` is the mounted board, whose rating bounds
    /// the supply settings as the rig's envelope does.
    pub fn new(rig: &Rig, bench: Bench, device: Option<DeviceProfile>, secrets: Secrets) -> Self {
        let roles = rig
            .role_names()
            .filter_map(|r| bench.capability(r).map(|c| (r.to_string(), c)))
            .collect();
        Self {
            consoles: bench.console_roles(),
            bench,
            device,
            secrets,
            roles,
            probes: rig.debug_probes(),
        }
    }

    /// True when nothing has been changed since the safe state was last confirmed.
    pub fn is_safe(&self) -> bool {
        self.bench.is_safe()
    }

    /// Runs one command and returns what to print. `Help` and `Quit` are the caller's.
    pub fn execute(&mut self, cmd: &Command) -> Result<String, CtlError> {
        Ok(match cmd {
            Command::Status => self.status(),
            Command::Supply(role, set) => self.supply(role, set)?,
            Command::Switch(role, None) => {
                let on = self.bench.read_switch(role)?;
                format!("{role}: {}", if on { "on" } else { "off" })
            }
            Command::Switch(role, Some(on)) => {
                self.bench.set_switch(role, *on)?;
                let read = self.bench.read_switch(role)?;
                format!("{role}: {}", if read { "on" } else { "off" })
            }
            Command::Input(role) => format!("{role}: {}", self.bench.read_input(role)?),
            Command::Meter(role) => {
                let (v, a) = self.bench.read_meter(role)?;
                format!("{role}: {v} {a}")
            }
            Command::Console(role, line) => self.console(role.as_deref(), line)?,
            Command::Wait(d) => {
                self.bench.clock().wait(*d);
                format!("waited {}", units::format_duration(*d))
            }
            Command::Safe => {
                let errors = self.bench.apply_safe_state();
                if let Some(e) = errors.into_iter().next() {
                    return Err(e.into());
                }
                "every role is in its safe state (confirmed)".into()
            }
            Command::Probe(name, action) => self.probe(name.as_deref(), *action)?,
            Command::Help => HELP.into(),
            Command::Quit => String::new(),
        })
    }

    fn probe(&mut self, name: Option<&str>, action: ProbeAction) -> Result<String, CtlError> {
        let (instrument, _) = choose_probe(&self.probes, name).map_err(CtlError::Refused)?;
        let failed = |source| CtlError::Probe {
            instrument: instrument.clone(),
            source,
        };
        let probe = self
            .bench
            .probe(&instrument)
            .expect("the bench opened every probe of the rig");
        Ok(match action {
            ProbeAction::Reset { halt } => {
                probe.reset(halt).map_err(failed)?;
                format!(
                    "{instrument}: {} reset{}",
                    probe.identity(),
                    if halt {
                        " and halted at its reset vector"
                    } else {
                        ", running"
                    }
                )
            }
            ProbeAction::Read(address) => {
                let word = probe.read_word(address).map_err(failed)?;
                let bits: Vec<String> = (0..32)
                    .filter(|b| word & (1 << b) != 0)
                    .map(|b| b.to_string())
                    .collect();
                format!(
                    "{instrument}: {address:#010x} = {word:#010x} (bits set: {})",
                    if bits.is_empty() {
                        "none".into()
                    } else {
                        bits.join(", ")
                    }
                )
            }
            ProbeAction::Rtt(d) => {
                // RTT is read on the host's clock: the chip runs in real time.
                let start = std::time::Instant::now();
                let mut lines = Vec::new();
                while start.elapsed() < d && crate::signals::received().is_none() {
                    let at = start.elapsed();
                    for line in probe.rtt_lines().map_err(failed)? {
                        lines.push(format!("{instrument} +{:.3}s| {}", at.as_secs_f64(), line));
                    }
                    std::thread::sleep(RTT_POLL);
                }
                if lines.is_empty() {
                    format!(
                        "{instrument}: no RTT output in {}",
                        units::format_duration(d)
                    )
                } else {
                    lines.join("\n")
                }
            }
        })
    }

    fn supply(&mut self, role: &str, set: &SupplySet) -> Result<String, CtlError> {
        match set {
            SupplySet::Measure => {}
            SupplySet::Output(on) => self.bench.set_output(role, *on)?,
            SupplySet::Level(volts, amps) => {
                self.bench.check_envelope(role, Some(*volts), *amps)?;
                if let Some(max) = self
                    .device
                    .as_ref()
                    .and_then(|d| crate::run::plan::device_limit(d, role))
                    .filter(|max| volts.0 > max.0)
                {
                    let device = self.device.as_ref().map_or("", |d| d.name.as_str());
                    return Err(CtlError::Refused(format!(
                        "voltage {volts} exceeds what device `{device}` takes on `{role}` ({max})"
                    )));
                }
                if let Some(a) = amps {
                    self.bench.set_current_limit(role, *a)?;
                }
                self.bench.set_voltage(role, *volts)?;
                self.bench.set_output(role, true)?;
            }
        }
        let (v, a) = self.bench.measure_supply(role)?;
        // What was commanded, then what the supply measures now (a rail takes time to
        // rise: `wait`, then `supply ROLE` again).
        let set = match (set, self.bench.setpoint(role)) {
            (SupplySet::Level(..), Some(s)) => format!("set {s}, on; "),
            (SupplySet::Output(on), _) => format!("{}; ", if *on { "on" } else { "off" }),
            _ => String::new(),
        };
        // Right after a setting, the supply's own measurement may not show it yet (a
        // rail takes time to move; a DP832 measures 2-3 times a second).
        let hint = if !set.is_empty() {
            format!(" (as last measured: `wait 1s`, then `supply {role}` again)")
        } else {
            String::new()
        };
        Ok(format!("{role}: {set}reads {v} {a}{hint}"))
    }

    fn console(&mut self, role: Option<&str>, line: &str) -> Result<String, CtlError> {
        let role = match (role, self.consoles.as_slice()) {
            (Some(r), _) => r.to_string(),
            (None, [only]) => only.clone(),
            (None, []) => {
                return Err(CtlError::Refused("the rig maps no console role".into()));
            }
            (None, many) => {
                return Err(CtlError::Refused(format!(
                    "the rig has several consoles ({}): say which, e.g. `console {} {line}`",
                    many.join(", "),
                    many[0]
                )));
            }
        };
        let line = self.with_secrets(line)?;
        let reply = self.bench.console_command(&role, &line)?;
        Ok(format!("{role}: {}", self.secrets.redact(&reply)))
    }

    /// `$NAME` words replaced by the secret's value (to send, never to print).
    fn with_secrets(&self, line: &str) -> Result<String, CtlError> {
        line.split(' ')
            .map(|w| match w.strip_prefix('$') {
                Some(name) => self.secrets.get(name).map(str::to_string).ok_or_else(|| {
                    CtlError::Refused(format!(
                        "no secret `{name}` in the rig file's [secrets] (it has: {})",
                        self.secrets.names().join(", ")
                    ))
                }),
                None => Ok(w.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|words| words.join(" "))
    }

    /// One line per role: what it is and what it reads now. A role that cannot be
    /// read says why; the others are still shown.
    fn status(&mut self) -> String {
        let roles = self.roles.clone();
        let mut lines = Vec::new();
        for (role, cap) in roles {
            let state = match cap {
                Capability::Supply => self
                    .bench
                    .measure_supply(&role)
                    .map(|(v, a)| format!("{v} {a}")),
                Capability::Switch => self
                    .bench
                    .read_switch(&role)
                    .map(|on| if on { "on" } else { "off" }.to_string()),
                Capability::Input => self.bench.read_input(&role),
                Capability::Meter => self
                    .bench
                    .read_meter(&role)
                    .map(|(v, a)| format!("{v} {a}")),
                Capability::Console => self
                    .bench
                    .console_state(&role)
                    .map(|s| self.secrets.redact(&s)),
                // A rig file gives a debug probe no role (see `config::rig`).
                Capability::Probe => Ok("(`probe ...`, `lockrig flash`)".to_string()),
            };
            let state = state.unwrap_or_else(|e| format!("ERROR {e}"));
            lines.push(format!("{role:<16} {:<8} {state}", capability_name(cap)));
        }
        lines.join("\n")
    }
}

/// A capability as a lab engineer says it.
fn capability_name(cap: Capability) -> &'static str {
    match cap {
        Capability::Supply => "supply",
        Capability::Switch => "switch",
        Capability::Input => "input",
        Capability::Meter => "meter",
        Capability::Console => "console",
        Capability::Probe => "probe",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        Command::parse(&line.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn commands_parse_with_and_without_units() {
        assert_eq!(
            parse("supply main 6").unwrap(),
            Command::Supply("main".into(), SupplySet::Level(Volts(6.0), None))
        );
        assert_eq!(
            parse("supply main 12V 0.5A").unwrap(),
            Command::Supply(
                "main".into(),
                SupplySet::Level(Volts(12.0), Some(Amps(0.5)))
            )
        );
        assert_eq!(
            parse("supply main off").unwrap(),
            Command::Supply("main".into(), SupplySet::Output(false))
        );
        assert_eq!(
            parse("supply main").unwrap(),
            Command::Supply("main".into(), SupplySet::Measure)
        );
        assert_eq!(
            parse("relay fire_alarm_loop on").unwrap(),
            Command::Switch("fire_alarm_loop".into(), Some(true))
        );
        assert_eq!(
            parse("console CRED $credential").unwrap(),
            Command::Console(None, "CRED $credential".into())
        );
        assert_eq!(
            parse("wait 250ms").unwrap(),
            Command::Wait(Duration::from_millis(250))
        );
        assert_eq!(
            parse("probe reset halt").unwrap(),
            Command::Probe(None, ProbeAction::Reset { halt: true })
        );
        assert_eq!(
            parse("probe swd read 0x4000_0400").unwrap(),
            Command::Probe(Some("swd".into()), ProbeAction::Read(0x4000_0400))
        );
        assert_eq!(
            parse("probe rtt 5s").unwrap(),
            Command::Probe(None, ProbeAction::Rtt(Duration::from_secs(5)))
        );
    }

    #[test]
    fn bad_commands_say_what_was_expected() {
        assert!(parse("supply").unwrap_err().contains("needs a supply role"));
        assert!(parse("supply main -3").unwrap_err().contains("positive"));
        assert!(parse("supply main 6V 1A 2")
            .unwrap_err()
            .contains("unexpected `2`"));
        assert!(parse("switch door_push maybe")
            .unwrap_err()
            .contains("expected `on`"));
        assert!(parse("wait soon").unwrap_err().contains("wait soon"));
        assert!(parse("fly").unwrap_err().contains("unknown command `fly`"));
        assert!(parse("console").unwrap_err().contains("needs a line"));
        assert!(parse("probe").unwrap_err().contains("`reset [halt]`"));
        assert!(parse("probe read 0xzz")
            .unwrap_err()
            .contains("expected an address"));
        assert!(parse("probe reset now")
            .unwrap_err()
            .contains("`probe reset now`"));
        assert!(parse("probe rtt soon")
            .unwrap_err()
            .contains("probe rtt soon"));
    }
}
