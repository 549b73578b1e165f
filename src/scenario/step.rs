//! Suite steps, written one per string in a suite file:
//!
//! ```text
//! set ROLE VOLTS [limit AMPS]          program a supply channel
//! output ROLE on|off                   switch a supply output
//! sag ROLE to VOLTS for TIME           drop a supply, hold, restore the previous setting
//! wait TIME                            let time pass
//! relay ROLE on|off                    energise or release a switch
//! expect ROLE STATE                    an input (or the console) reads STATE now
//! expect ROLE STATE within TIME        ... reaches STATE within TIME (time measured)
//! expect ROLE STATE for TIME           ... reads STATE at every sample throughout TIME
//!                                      (one sample per `--poll` interval, 10 ms by default)
//! measure ROLE current|voltage in RANGE   a meter reading within RANGE
//! ```
//!
//! A value is a literal with its unit (`6.0V`, `300ms`), a device-profile name
//! (`nominal`, `ready_within`), or a name plus or minus a literal (`reset_below - 1.0V`).
//! A RANGE is a profile range name (`holding_current`) or `LOW..HIGH`, each bound a
//! literal or a profile name (`0V..reset_below`).
//!
//! The grammar is small and domain-specific, so it is parsed by hand; each error
//! carries the byte offset of the offending word so the suite loader can point at it.

use std::time::Duration;

use crate::units::{self, Amps, Volts};

/// A value that may refer to the device profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal with its unit, kept as written.
    Literal(String),
    /// A profile value, optionally offset by a literal (`reset_below - 1.0V`).
    Named {
        /// The profile name.
        name: String,
        /// Signed offset written as a literal, if any.
        offset: Option<(f64, String)>,
    },
}

/// What a `measure` step reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Bus voltage.
    Voltage,
    /// Current.
    Current,
}

/// The allowed range of a `measure` step.
#[derive(Debug, Clone, PartialEq)]
pub enum RangeExpr {
    /// A profile range (`holding_current`).
    Named(String),
    /// `LOW..HIGH`.
    Between(Expr, Expr),
}

/// How an `expect` step judges its input; `T` is the time (an [`Expr`] as written,
/// a `Duration` once resolved).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing<T> {
    /// Read once, now.
    Now,
    /// Poll until the state is reached, failing after the time.
    Within(T),
    /// The state must hold at every sample for the whole time.
    For(T),
}

/// One parsed step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `set ROLE VOLTS [limit AMPS]`
    Set {
        /// Supply role.
        role: String,
        /// Voltage.
        volts: Expr,
        /// Current limit.
        limit: Option<Expr>,
    },
    /// `output ROLE on|off`
    Output {
        /// Supply role.
        role: String,
        /// On or off.
        on: bool,
    },
    /// `sag ROLE to VOLTS for TIME`
    Sag {
        /// Supply role.
        role: String,
        /// Sag voltage.
        to: Expr,
        /// Sag duration.
        duration: Expr,
    },
    /// `wait TIME`
    Wait(Expr),
    /// `relay ROLE on|off`
    Relay {
        /// Switch role.
        role: String,
        /// Energised or released.
        on: bool,
    },
    /// `expect ROLE STATE [within|for TIME]`
    Expect {
        /// Input or console role.
        role: String,
        /// The state name.
        state: String,
        /// How to judge it.
        timing: Timing<Expr>,
    },
    /// `measure ROLE current|voltage in RANGE`
    Measure {
        /// Meter role.
        role: String,
        /// What to read.
        quantity: Quantity,
        /// Allowed range.
        range: RangeExpr,
    },
}

/// A parse error at a byte offset within the step text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// Byte offset of the offending word.
    pub offset: usize,
    /// What was expected.
    pub message: String,
}

/// Words of a step with their byte offsets.
struct Words<'a> {
    words: Vec<(usize, &'a str)>,
    next: usize,
    end: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    words.push((s, &text[s..i]));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            words.push((s, &text[s..]));
        }
        Self {
            words,
            next: 0,
            end: text.len(),
        }
    }

    fn offset(&self) -> usize {
        self.words.get(self.next).map_or(self.end, |w| w.0)
    }

    fn next(&mut self, what: &str) -> Result<&'a str, StepError> {
        let w = self.words.get(self.next).ok_or_else(|| StepError {
            offset: self.end,
            message: format!("expected {what}, found the end of the step"),
        })?;
        self.next += 1;
        Ok(w.1)
    }

    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.next).map(|w| w.1)
    }

    fn keyword(&mut self, kw: &str) -> Result<(), StepError> {
        let at = self.offset();
        let w = self.next(&format!("`{kw}`"))?;
        if w == kw {
            Ok(())
        } else {
            Err(StepError {
                offset: at,
                message: format!("expected `{kw}`, found `{w}`"),
            })
        }
    }

    fn on_off(&mut self) -> Result<bool, StepError> {
        let at = self.offset();
        match self.next("`on` or `off`")? {
            "on" => Ok(true),
            "off" => Ok(false),
            w => Err(StepError {
                offset: at,
                message: format!("expected `on` or `off`, found `{w}`"),
            }),
        }
    }

    /// An expression: `LITERAL`, `NAME`, or `NAME +|- LITERAL`.
    fn expr(&mut self, what: &str) -> Result<Expr, StepError> {
        let at = self.offset();
        let w = self.next(what)?;
        if w.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-') {
            return Ok(Expr::Literal(w.to_string()));
        }
        if !w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StepError {
                offset: at,
                message: format!("expected {what}, found `{w}`"),
            });
        }
        let offset = match self.peek() {
            Some(sign @ ("+" | "-")) => {
                self.next += 1;
                let lit_at = self.offset();
                let lit = self.next("a value with its unit after the sign")?;
                let (n, unit) = split_literal(lit).ok_or_else(|| StepError {
                    offset: lit_at,
                    message: format!("expected a value with its unit, like `1.0V`, found `{lit}`"),
                })?;
                Some((if sign == "-" { -n } else { n }, unit.to_string()))
            }
            _ => None,
        };
        Ok(Expr::Named {
            name: w.to_string(),
            offset,
        })
    }

    fn done(&self) -> Result<(), StepError> {
        match self.words.get(self.next) {
            None => Ok(()),
            Some((at, w)) => Err(StepError {
                offset: *at,
                message: format!("unexpected `{w}` at the end of the step"),
            }),
        }
    }
}

fn split_literal(text: &str) -> Option<(f64, &str)> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    Some((text[..end].parse().ok()?, &text[end..]))
}

impl Step {
    /// The step's verb as written.
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Set { .. } => "set",
            Step::Output { .. } => "output",
            Step::Sag { .. } => "sag",
            Step::Wait(_) => "wait",
            Step::Relay { .. } => "relay",
            Step::Expect { .. } => "expect",
            Step::Measure { .. } => "measure",
        }
    }
}

/// Parses one step.
pub fn parse(text: &str) -> Result<Step, StepError> {
    let mut w = Words::new(text);
    let at = w.offset();
    let verb = w.next("a step (set, output, sag, wait, relay, expect, measure)")?;
    let step = match verb {
        "set" => {
            let role = w.next("a supply role")?.to_string();
            let volts = w.expr("a voltage")?;
            let limit = if w.peek() == Some("limit") {
                w.next += 1;
                Some(w.expr("a current limit")?)
            } else {
                None
            };
            Step::Set { role, volts, limit }
        }
        "output" => Step::Output {
            role: w.next("a supply role")?.to_string(),
            on: w.on_off()?,
        },
        "sag" => {
            let role = w.next("a supply role")?.to_string();
            w.keyword("to")?;
            let to = w.expr("a voltage")?;
            w.keyword("for")?;
            let duration = w.expr("a duration")?;
            Step::Sag { role, to, duration }
        }
        "wait" => Step::Wait(w.expr("a duration")?),
        "relay" => Step::Relay {
            role: w.next("a switch role")?.to_string(),
            on: w.on_off()?,
        },
        "expect" => {
            let role = w.next("an input role or `console`")?.to_string();
            let state = w.next("a state name")?.to_string();
            let timing = match w.peek() {
                Some("within") => {
                    w.next += 1;
                    Timing::Within(w.expr("a duration")?)
                }
                Some("for") => {
                    w.next += 1;
                    Timing::For(w.expr("a duration")?)
                }
                _ => Timing::Now,
            };
            Step::Expect {
                role,
                state,
                timing,
            }
        }
        "measure" => {
            let role = w.next("a meter role")?.to_string();
            let q_at = w.offset();
            let quantity = match w.next("`current` or `voltage`")? {
                "current" => Quantity::Current,
                "voltage" => Quantity::Voltage,
                other => {
                    return Err(StepError {
                        offset: q_at,
                        message: format!("expected `current` or `voltage`, found `{other}`"),
                    })
                }
            };
            w.keyword("in")?;
            let r_at = w.offset();
            let r = w.next("a range (a profile range name or LOW..HIGH)")?;
            let bound = |b: &str| {
                if b.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-') {
                    Expr::Literal(b.into())
                } else {
                    Expr::Named {
                        name: b.into(),
                        offset: None,
                    }
                }
            };
            let range = match r.split_once("..") {
                Some((lo, hi)) => RangeExpr::Between(bound(lo), bound(hi)),
                None if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    RangeExpr::Named(r.to_string())
                }
                None => {
                    return Err(StepError {
                        offset: r_at,
                        message: format!("expected a range name or LOW..HIGH, found `{r}`"),
                    })
                }
            };
            Step::Measure {
                role,
                quantity,
                range,
            }
        }
        other => {
            return Err(StepError {
                offset: at,
                message: format!(
                    "unknown step `{other}`, expected one of: set, output, sag, wait, relay, expect, measure"
                ),
            })
        }
    };
    w.done()?;
    Ok(step)
}

/// Checks a literal against the unit its position needs, so unit mistakes surface at load.
pub fn check_literal(lit: &str, kind: Kind) -> Result<(), String> {
    match kind {
        Kind::Volts => Volts::parse(lit).map(|_| ()).map_err(|e| e.to_string()),
        Kind::Amps => Amps::parse(lit).map(|_| ()).map_err(|e| e.to_string()),
        Kind::Time => units::parse_duration(lit)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// The kind of quantity a position in a step takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Volts.
    Volts,
    /// Amperes.
    Amps,
    /// A duration.
    Time,
}

/// A step with every value resolved against one device profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// Program a supply.
    Set {
        /// Role.
        role: String,
        /// Voltage.
        volts: Volts,
        /// Current limit.
        limit: Option<Amps>,
    },
    /// Switch a supply output.
    Output {
        /// Role.
        role: String,
        /// On or off.
        on: bool,
    },
    /// Sag and restore.
    Sag {
        /// Role.
        role: String,
        /// Sag voltage.
        to: Volts,
        /// Sag length.
        duration: Duration,
    },
    /// Let time pass.
    Wait {
        /// How long.
        duration: Duration,
    },
    /// Switch a relay.
    Relay {
        /// Role.
        role: String,
        /// On or off.
        on: bool,
    },
    /// Judge an input.
    Expect {
        /// Role.
        role: String,
        /// Expected state.
        state: String,
        /// How to judge it.
        timing: Timing<Duration>,
    },
    /// Read a meter.
    Measure {
        /// Role.
        role: String,
        /// Quantity.
        quantity: Quantity,
        /// Low limit (volts or amps).
        low: f64,
        /// High limit.
        high: f64,
    },
}

impl Resolved {
    /// The role the step acts on, if any.
    pub fn role(&self) -> Option<&str> {
        match self {
            Self::Set { role, .. }
            | Self::Output { role, .. }
            | Self::Sag { role, .. }
            | Self::Relay { role, .. }
            | Self::Expect { role, .. }
            | Self::Measure { role, .. } => Some(role),
            Self::Wait { .. } => None,
        }
    }
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = units::format_duration;
        let on = |b: &bool| if *b { "on" } else { "off" };
        match self {
            Self::Set {
                role,
                volts,
                limit: Some(a),
            } => write!(f, "set {role} {volts} limit {a}"),
            Self::Set {
                role,
                volts,
                limit: None,
            } => write!(f, "set {role} {volts}"),
            Self::Output { role, on: o } => write!(f, "output {role} {}", on(o)),
            Self::Sag { role, to, duration } => {
                write!(f, "sag {role} to {to} for {}", d(*duration))
            }
            Self::Wait { duration } => write!(f, "wait {}", d(*duration)),
            Self::Relay { role, on: o } => write!(f, "relay {role} {}", on(o)),
            Self::Expect {
                role,
                state,
                timing: Timing::Now,
            } => write!(f, "expect {role} {state}"),
            Self::Expect {
                role,
                state,
                timing: Timing::Within(t),
            } => {
                write!(f, "expect {role} {state} within {}", d(*t))
            }
            Self::Expect {
                role,
                state,
                timing: Timing::For(t),
            } => {
                write!(f, "expect {role} {state} for {}", d(*t))
            }
            Self::Measure {
                role,
                quantity,
                low,
                high,
            } => {
                let (lo, hi) = match quantity {
                    Quantity::Current => (Amps(*low).to_string(), Amps(*high).to_string()),
                    Quantity::Voltage => (Volts(*low).to_string(), Volts(*high).to_string()),
                };
                let q = match quantity {
                    Quantity::Current => "current",
                    Quantity::Voltage => "voltage",
                };
                write!(f, "measure {role} {q} in {lo}..{hi}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_verb() {
        assert_eq!(
            parse("set main nominal limit 1A").unwrap(),
            Step::Set {
                role: "main".into(),
                volts: Expr::Named {
                    name: "nominal".into(),
                    offset: None
                },
                limit: Some(Expr::Literal("1A".into())),
            }
        );
        assert_eq!(
            parse("sag main to reset_below - 1.0V for 300ms").unwrap(),
            Step::Sag {
                role: "main".into(),
                to: Expr::Named {
                    name: "reset_below".into(),
                    offset: Some((-1.0, "V".into()))
                },
                duration: Expr::Literal("300ms".into()),
            }
        );
        assert!(matches!(parse("wait 2s").unwrap(), Step::Wait(_)));
        assert!(matches!(
            parse("relay door_push on").unwrap(),
            Step::Relay { on: true, .. }
        ));
        assert!(matches!(
            parse("expect door_position open within release_within").unwrap(),
            Step::Expect {
                timing: Timing::Within(_),
                ..
            }
        ));
        assert!(matches!(
            parse("measure main_meter current in 100mA..300mA").unwrap(),
            Step::Measure {
                range: RangeExpr::Between(..),
                ..
            }
        ));
    }

    #[test]
    fn errors_point_at_the_offending_word() {
        let e = parse("relay door_push maybe").unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("`on` or `off`"));
        let e = parse("frobnicate main").unwrap_err();
        assert_eq!(e.offset, 0);
        let e = parse("wait 2s extra").unwrap_err();
        assert_eq!(e.offset, 8);
        let e = parse("sag main 2V for 1s").unwrap_err();
        assert!(e.message.contains("expected `to`"));
    }
}
