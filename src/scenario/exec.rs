//! Runs a check's resolved steps on a bench and decides its verdict from
//! measurements. The physical world decides first (the door-position input); the
//! meter and the board's console are recorded beside it as corroboration.

use std::time::Duration;

use serde::Serialize;

use super::step::{Quantity, Resolved, Timing};
use crate::config::rig::Capability;
use crate::rig::{Bench, RoleError};
use crate::signals;
use crate::units::{self, Amps, Volts};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold: the device failed.
    Fail,
    /// The rig could not complete the check (instrument fault, refusal, interrupt):
    /// nothing is known about the device.
    Error,
}

/// One observation, with its limits.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// 1-based index of the step that made it (0 for corroboration after the steps).
    pub step: usize,
    /// The step as text.
    pub what: String,
    /// The role observed.
    pub role: String,
    /// What kind of evidence it is.
    pub source: Evidence,
    /// What was expected.
    pub expected: String,
    /// What was observed.
    pub measured: String,
    /// The numeric value in SI units, for numeric measurements.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The unit of `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    /// Scenario time of the observation, in milliseconds.
    pub at_ms: f64,
    /// True if within limits. Corroborating observations have no limit and pass.
    pub pass: bool,
}

/// The kind of evidence a measurement is. The physical world (inputs such as the
/// door-position switch) outranks the meter and the board's own console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// A physical sensor on the door.
    Physical,
    /// The current/voltage meter.
    Meter,
    /// The board's console telemetry.
    Console,
}

/// The result of executing a check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// For fail and error: expected vs measured, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The role whose measurement decided the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Every measurement, in order.
    pub measurements: Vec<Measurement>,
    /// Step log with scenario times, including console events.
    pub log: Vec<String>,
    /// Scenario time the check covered.
    #[serde(serialize_with = "ser_ms")]
    pub scenario_time: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// What the executor needs to know beyond the steps.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// Sampling interval for `within` / `for` expectations.
    pub poll: Duration,
    /// The board has a console worth asking for corroboration.
    pub console: bool,
}

enum Stop {
    Fail { message: String, role: String },
    Error(String),
}

impl From<RoleError> for Stop {
    fn from(e: RoleError) -> Self {
        Stop::Error(e.to_string())
    }
}

struct Run<'a> {
    bench: &'a mut Bench,
    ctx: Context,
    measurements: Vec<Measurement>,
    log: Vec<String>,
    start: Duration,
}

impl Run<'_> {
    fn ms(&self) -> f64 {
        (self.bench.clock().now().saturating_sub(self.start)).as_secs_f64() * 1e3
    }

    fn note(&mut self, text: impl AsRef<str>) {
        let line = format!("[{:>10.3} ms] {}", self.ms(), text.as_ref());
        self.log.push(line);
    }

    fn drain_events(&mut self) {
        for e in self.bench.take_console_events() {
            let ms = e.at.saturating_sub(self.start).as_secs_f64() * 1e3;
            let when = if e.exact {
                ""
            } else {
                " (time read, not printed: the board's clock could not be placed)"
            };
            self.log
                .push(format!("[{ms:>10.3} ms] console: EVT {}{when}", e.text));
        }
        self.log.sort_by(|a, b| log_time(a).total_cmp(&log_time(b)));
    }

    fn check_interrupt(&self) -> Result<(), Stop> {
        match signals::received() {
            Some(sig) => Err(Stop::Error(RoleError::Interrupted(sig).to_string())),
            None => Ok(()),
        }
    }

    /// Reads an input or console role as a state name.
    fn observe(&mut self, role: &str) -> Result<String, Stop> {
        if self.bench.is_console(role) {
            return Ok(self.bench.console_state(role)?);
        }
        Ok(self.bench.read_input(role)?)
    }

    fn valid_states(&self, role: &str) -> Vec<String> {
        if self.bench.is_console(role) {
            vec!["locked".into(), "unlocked".into()]
        } else {
            self.bench
                .input_states(role)
                .map(|s| s.iter().map(|x| x.to_string()).collect())
                .unwrap_or_default()
        }
    }

    fn expect(
        &mut self,
        n: usize,
        text: &str,
        role: &str,
        state: &str,
        timing: Timing<Duration>,
    ) -> Result<(), Stop> {
        let valid = self.valid_states(role);
        if !valid.is_empty() && !valid.iter().any(|v| v == state) {
            return Err(Stop::Error(format!(
                "step {n} `{text}`: `{state}` is not a state of `{role}` (expected one of: {})",
                valid.join(", ")
            )));
        }
        let t0 = self.bench.clock().now();
        let elapsed = |run: &Self| run.bench.clock().now().saturating_sub(t0);
        let (pass, measured) = match timing {
            Timing::Now => {
                let seen = self.observe(role)?;
                (seen == state, seen)
            }
            Timing::Within(limit) => loop {
                let seen = self.observe(role)?;
                // Time taken after the read: a state seen by a read that ended past the
                // limit does not count (when in doubt, the device does not get the pass).
                let t = elapsed(self);
                if seen == state && t <= limit {
                    break (true, format!("{seen} after {}", units::format_duration(t)));
                }
                if t >= limit {
                    break (
                        false,
                        format!("still {seen} after {}", units::format_duration(t)),
                    );
                }
                self.check_interrupt()?;
                self.bench.clock().wait(self.ctx.poll.min(limit - t));
            },
            Timing::For(limit) => {
                let mut samples = 0u64;
                loop {
                    let seen = self.observe(role)?;
                    samples += 1;
                    let t = elapsed(self);
                    if seen != state {
                        break (
                            false,
                            format!("{seen} at {} into the window", units::format_duration(t)),
                        );
                    }
                    if t >= limit {
                        break (true, format!("{seen} throughout ({samples} samples)"));
                    }
                    self.check_interrupt()?;
                    self.bench.clock().wait(self.ctx.poll.min(limit - t));
                }
            }
        };
        let expected = match timing {
            Timing::Now => state.to_string(),
            Timing::Within(t) => format!("{state} within {}", units::format_duration(t)),
            Timing::For(t) => format!("{state} for {}", units::format_duration(t)),
        };
        self.record(n, text, role, &expected, &measured, None, pass);
        if pass {
            Ok(())
        } else {
            Err(Stop::Fail {
                message: format!(
                    "step {n} `{text}`: expected {role} {expected}, measured {measured}"
                ),
                role: role.to_string(),
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        step: usize,
        what: &str,
        role: &str,
        expected: &str,
        measured: &str,
        value: Option<(f64, &'static str)>,
        pass: bool,
    ) {
        let at_ms = self.ms();
        let source = match self.bench.capability(role) {
            Some(Capability::Console) => Evidence::Console,
            Some(Capability::Meter) => Evidence::Meter,
            _ => Evidence::Physical,
        };
        self.note(format!(
            "{} {role}: expected {expected}, measured {measured}",
            if pass { "ok  " } else { "FAIL" }
        ));
        self.measurements.push(Measurement {
            step,
            what: what.to_string(),
            role: role.to_string(),
            source,
            expected: expected.to_string(),
            measured: measured.to_string(),
            value: value.map(|v| v.0),
            unit: value.map(|v| v.1),
            at_ms,
            pass,
        });
    }

    fn step(&mut self, n: usize, step: &Resolved) -> Result<(), Stop> {
        let text = step.to_string();
        self.note(format!("step {n}: {text}"));
        match step {
            Resolved::Set { role, volts, limit } => {
                if let Some(a) = limit {
                    self.bench.set_current_limit(role, *a)?;
                }
                self.bench.set_voltage(role, *volts)?;
            }
            Resolved::Output { role, on } => self.bench.set_output(role, *on)?,
            Resolved::Sag { role, to, duration } => {
                let restore = self.bench.setpoint(role).ok_or_else(|| {
                    Stop::Error(format!(
                        "step {n} `{text}`: `{role}` has no voltage set to restore after the sag"
                    ))
                })?;
                self.bench.set_voltage(role, *to)?;
                let t0 = self.bench.clock().now();
                self.bench.clock().wait(*duration);
                self.bench.set_voltage(role, restore)?;
                let held = self.bench.clock().now().saturating_sub(t0);
                self.note(format!(
                    "sag setpoint held {} (commanded {}), then restored to {restore}; the rail follows at the supply's own slew rate, so measure it to know how deep it went",
                    units::format_duration(held),
                    units::format_duration(*duration)
                ));
            }
            Resolved::Wait { duration } => self.bench.clock().wait(*duration),
            Resolved::Relay { role, on } => self.bench.set_switch(role, *on)?,
            Resolved::Expect {
                role,
                state,
                timing,
            } => self.expect(n, &text, role, state, *timing)?,
            Resolved::Measure {
                role,
                quantity,
                low,
                high,
            } => {
                let (v, a) = self.bench.read_meter(role)?;
                let (value, unit, shown, range) = match quantity {
                    Quantity::Current => (
                        a.0,
                        Amps::UNIT,
                        a.to_string(),
                        format!("{}..{}", Amps(*low), Amps(*high)),
                    ),
                    Quantity::Voltage => (
                        v.0,
                        Volts::UNIT,
                        v.to_string(),
                        format!("{}..{}", Volts(*low), Volts(*high)),
                    ),
                };
                let pass = (*low..=*high).contains(&value);
                self.record(n, &text, role, &range, &shown, Some((value, unit)), pass);
                if !pass {
                    return Err(Stop::Fail {
                        message: format!(
                            "step {n} `{text}`: expected {role} in {range}, measured {shown}"
                        ),
                        role: role.clone(),
                    });
                }
            }
        }
        self.drain_events();
        Ok(())
    }

    /// Records what the meter and the console say now, beside the deciding input.
    fn corroborate(&mut self, roles: &[String]) -> Result<(), Stop> {
        let mut failure = None;
        for role in roles {
            if self.bench.is_console(role) && !self.ctx.console {
                continue;
            }
            let reading = if self.bench.is_console(role) {
                self.bench.console_state(role).map(|s| (s, None))
            } else {
                self.bench
                    .read_meter(role)
                    .map(|(v, a)| (format!("{v}, {a}"), Some((a.0, Amps::UNIT))))
            };
            let (measured, value, ok) = match reading {
                Ok((m, v)) => (m, v, true),
                Err(e) => {
                    let text = format!("no answer ({e})");
                    failure.get_or_insert(Stop::Error(format!(
                        "corroboration at the end of the check: {e}"
                    )));
                    (text, None, false)
                }
            };
            self.record(
                0,
                "corroboration at the end of the check",
                role,
                "an answer",
                &measured,
                value,
                ok,
            );
        }
        self.drain_events();
        failure.map_or(Ok(()), Err)
    }
}

/// The time at the start of a log line (`[  1234.000 ms] ...`), for ordering.
fn log_time(line: &str) -> f64 {
    line.strip_prefix('[')
        .and_then(|l| l.split_once(" ms]"))
        .and_then(|(t, _)| t.trim().parse().ok())
        .unwrap_or(f64::MAX)
}

/// Executes steps on a bench. The caller applies the safe state afterwards.
///
/// `corroborate` lists meter and console roles to record at the end of the check.
pub fn execute(
    bench: &mut Bench,
    steps: &[Resolved],
    ctx: Context,
    corroborate: &[String],
) -> Outcome {
    let start = bench.clock().now();
    let mut run = Run {
        bench,
        ctx,
        measurements: Vec::new(),
        log: Vec::new(),
        start,
    };
    let mut stop = None;
    for (i, step) in steps.iter().enumerate() {
        if let Err(e) = run.check_interrupt().and_then(|_| run.step(i + 1, step)) {
            stop = Some(e);
            break;
        }
    }
    match stop {
        // An instrument that fails to corroborate turns a pass into a rig error; a
        // failure already decided by the door stays a failure (the error is logged).
        None => stop = run.corroborate(corroborate).err(),
        Some(Stop::Fail { .. }) => {
            if let Err(Stop::Error(e)) = run.corroborate(corroborate) {
                run.note(format!("ERROR {e}"));
            }
        }
        Some(Stop::Error(_)) => {}
    }
    // A supply that cut out on its own protection invalidates the check, pass or fail:
    // the device was not tested under the conditions the check asserts.
    // Asked even after an error, since a trip often explains it.
    match run.bench.protection_trips() {
        Ok(trips) if trips.is_empty() => {}
        Ok(trips) => {
            let tripped = format!(
                "the supply's own protection tripped during the check ({}): the device was not tested under the conditions the check asserts",
                trips.join(", ")
            );
            stop = Some(Stop::Error(match stop {
                Some(Stop::Error(e)) | Some(Stop::Fail { message: e, .. }) => {
                    format!("{tripped}; then: {e}")
                }
                None => tripped,
            }));
        }
        Err(_) if matches!(stop, Some(Stop::Error(_))) => {}
        Err(e) => {
            stop = Some(Stop::Error(format!(
                "reading the supply's protection status: {e}"
            )))
        }
    }
    // A pass needs physical evidence: the board's word or the meter alone is not a
    // door that stayed shut.
    if stop.is_none()
        && !run
            .measurements
            .iter()
            .any(|m| m.step > 0 && m.source == Evidence::Physical)
    {
        stop = Some(Stop::Error(
            "no physical input (door position, latch sensor) was observed, so nothing can decide this check".into(),
        ));
    }
    let scenario_time = run.bench.clock().now().saturating_sub(start);
    let (verdict, message, decided_by) = match stop {
        None => {
            // A pass is decided by the physical observations (there is one: see above).
            let decided = run
                .measurements
                .iter()
                .find(|m| m.step > 0 && m.source == Evidence::Physical)
                .map(|m| m.role.clone());
            (Verdict::Pass, None, decided)
        }
        Some(Stop::Fail { message, role }) => (Verdict::Fail, Some(message), Some(role)),
        Some(Stop::Error(message)) => {
            run.note(format!("ERROR {message}"));
            (Verdict::Error, Some(message), None)
        }
    };
    Outcome {
        verdict,
        message,
        decided_by,
        measurements: run.measurements,
        log: run.log,
        scenario_time,
    }
}
