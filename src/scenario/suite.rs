//! Suites (`fixtures/suites/*.toml`): checks as data, each with its code basis, the
//! devices it applies to, and its steps.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::step::{self, Expr, Kind, RangeExpr, Resolved, Step, Timing};
use crate::config::device::{DeviceClass, DeviceProfile, PowerLossMode, ProfileValue};
use crate::config::rig::role_capability;
use crate::config::{ConfigError, Source};
use crate::units::{self, Amps, Volts};

/// The built-in suites, shipped in `fixtures/suites/`.
pub const BUILTIN: &[(&str, &str)] = &[(
    "default",
    include_str!("../../fixtures/suites/default.toml"),
)];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: String,
    description: String,
    #[serde(default)]
    on_rig_error: OnRigError,
    check: Vec<CheckFile>,
}

/// What the run does after a trial ends in a rig error (the rig's safe state was
/// confirmed; if it was not, the rig is marked broken whatever this says).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRigError {
    /// Go on with the next trial.
    #[default]
    Continue,
    /// Skip every remaining trial.
    Abort,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckFile {
    name: Spanned<String>,
    title: String,
    applies_to: Vec<Spanned<String>>,
    basis: Vec<String>,
    steps: Vec<Spanned<String>>,
}

/// Which devices a check applies to: any listed class (if any are listed) and any
/// listed power-loss mode (if any are listed).
#[derive(Debug, Clone, Default)]
pub struct AppliesTo {
    /// Device classes; empty = any.
    pub classes: Vec<DeviceClass>,
    /// Power-loss modes; empty = any.
    pub modes: Vec<PowerLossMode>,
}

impl AppliesTo {
    /// True if the device is covered.
    pub fn covers(&self, d: &DeviceProfile) -> bool {
        (self.classes.is_empty() || self.classes.contains(&d.class))
            && (self.modes.is_empty() || self.modes.contains(&d.power_loss))
    }
}

/// One check of a suite.
#[derive(Debug, Clone)]
pub struct Check {
    /// Name, `group::name`.
    pub name: String,
    /// One-line statement of what must hold.
    pub title: String,
    /// Devices it applies to.
    pub applies_to: AppliesTo,
    /// Code basis (IBC/NFPA/UL/BHMA clauses).
    pub basis: Vec<String>,
    /// Steps with the byte span of their text in the suite file.
    pub steps: Vec<(Step, Range<usize>)>,
}

/// A loaded suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Checks in file order.
    pub checks: Vec<Check>,
    /// Policy after a rig error.
    pub on_rig_error: OnRigError,
    /// The source, for error positions.
    pub source: Source,
}

impl Suite {
    /// Loads a suite by built-in name or path.
    pub fn load(name_or_path: &str) -> Result<Self, ConfigError> {
        Self::from_source(Source::named(
            name_or_path,
            "suite",
            "fixtures/suites",
            BUILTIN,
        )?)
    }

    /// Parses and validates a suite.
    pub fn from_source(source: Source) -> Result<Self, ConfigError> {
        let file: SuiteFile = source.parse()?;
        let mut checks = Vec::new();
        for c in file.check {
            let name = c.name.get_ref();
            let name_ok = !name.is_empty()
                && name.split("::").all(|p| {
                    !p.is_empty() && p.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                });
            if !name_ok {
                return Err(source.error(
                    c.name.span(),
                    format!("field `name`: expected words of [A-Za-z0-9_] joined by `::`, found `{name}`"),
                ));
            }
            if checks.iter().any(|k: &Check| &k.name == name) {
                return Err(source.error(
                    c.name.span(),
                    format!("field `name`: duplicate check `{name}`"),
                ));
            }
            let mut applies_to = AppliesTo::default();
            for a in &c.applies_to {
                let v = toml::Value::String(a.get_ref().clone());
                if let Ok(class) = DeviceClass::deserialize(v.clone()) {
                    applies_to.classes.push(class);
                } else if let Ok(mode) = PowerLossMode::deserialize(v) {
                    applies_to.modes.push(mode);
                } else {
                    return Err(source.error(
                        a.span(),
                        format!(
                            "field `applies_to`: expected a device class (maglock, electric_strike, battery_smart_lock, hybrid) or a power-loss mode (fail_safe, fail_secure), found `{}`",
                            a.get_ref()
                        ),
                    ));
                }
            }
            if c.basis.is_empty() {
                return Err(source.error(
                    c.name.span(),
                    format!(
                        "check `{name}`: field `basis` is empty; every check names its code basis"
                    ),
                ));
            }
            let mut steps = Vec::new();
            for s in &c.steps {
                // A step's offsets map into the file only when the string is written
                // verbatim between one pair of quotes; +1 skips the opening quote. An
                // escaped or multi-line string is pointed at as a whole.
                let verbatim = source.text.get(s.span()).is_some_and(|raw| {
                    raw.len() == s.get_ref().len() + 2
                        && raw.get(1..raw.len() - 1) == Some(s.get_ref())
                });
                let at = |offset: usize| {
                    if verbatim {
                        s.span().start + 1 + offset
                    } else {
                        s.span().start
                    }
                };
                let parsed = step::parse(s.get_ref()).map_err(|e| {
                    source.error(
                        at(e.offset)..at(e.offset),
                        format!("step `{}`: {}", s.get_ref(), e.message),
                    )
                })?;
                validate_step(&parsed)
                    .map_err(|m| source.error(s.span(), format!("step `{}`: {m}", s.get_ref())))?;
                steps.push((parsed, s.span()));
            }
            if steps.is_empty() {
                return Err(source.error(c.name.span(), format!("check `{name}` has no steps")));
            }
            let physical = steps.iter().any(|(s, _)| {
                matches!(s, Step::Expect { role, .. } if role_capability(role) == Some(crate::config::rig::Capability::Input))
            });
            if !physical {
                return Err(source.error(
                    c.name.span(),
                    format!("check `{name}` expects nothing of a physical input (door_position, latch_sensor): the door, not the board's word, decides a check"),
                ));
            }
            checks.push(Check {
                name: name.clone(),
                title: c.title,
                applies_to,
                basis: c.basis,
                steps,
            });
        }
        Ok(Self {
            name: file.name,
            description: file.description,
            checks,
            on_rig_error: file.on_rig_error,
            source,
        })
    }

    /// Resolves a check's steps against a device profile.
    pub fn resolve(
        &self,
        check: &Check,
        device: &DeviceProfile,
    ) -> Result<Vec<Resolved>, ConfigError> {
        check
            .steps
            .iter()
            .map(|(s, span)| {
                resolve_step(s, device).map_err(|m| {
                    self.source.error(
                        span.clone(),
                        format!("check `{}` on device `{}`: {m}", check.name, device.name),
                    )
                })
            })
            .collect()
    }
}

/// Load-time checks that need no device: known roles, known names, literal units.
fn validate_step(s: &Step) -> Result<(), String> {
    use crate::config::rig::Capability as C;
    let (role, needs): (Option<&String>, &[C]) = match s {
        Step::Set { role, .. } | Step::Output { role, .. } | Step::Sag { role, .. } => {
            (Some(role), &[C::Supply])
        }
        Step::Relay { role, .. } => (Some(role), &[C::Switch]),
        Step::Expect { role, .. } => (Some(role), &[C::Input, C::Console]),
        Step::Measure { role, .. } => (Some(role), &[C::Meter]),
        Step::Wait(_) => (None, &[]),
    };
    if let Some(role) = role {
        let has = role_capability(role).ok_or_else(|| format!("unknown role `{role}`"))?;
        if !needs.contains(&has) {
            let verb = s.verb();
            return Err(format!(
                "`{verb}` needs a {} role, but `{role}` is a {has:?} role",
                needs
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        if let Step::Expect { state, .. } = s {
            if has == C::Console && !matches!(state.as_str(), "locked" | "unlocked") {
                return Err(format!(
                    "the console reports `locked` or `unlocked`, not `{state}`"
                ));
            }
        }
    }
    let check = |e: &Expr, kind: Kind| -> Result<(), String> {
        match e {
            Expr::Literal(l) => step::check_literal(l, kind),
            Expr::Named { name, offset } => {
                if !DeviceProfile::VALUE_NAMES.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown profile value `{name}`, expected a literal with its unit or one of: {}",
                        DeviceProfile::VALUE_NAMES.join(", ")
                    ));
                }
                match offset {
                    Some((n, unit)) => step::check_literal(&format!("{n}{unit}"), kind),
                    None => Ok(()),
                }
            }
        }
    };
    match s {
        Step::Set { volts, limit, .. } => {
            check(volts, Kind::Volts)?;
            limit.as_ref().map_or(Ok(()), |l| check(l, Kind::Amps))
        }
        Step::Sag { to, duration, .. } => {
            check(to, Kind::Volts)?;
            check(duration, Kind::Time)
        }
        Step::Wait(d) => check(d, Kind::Time),
        Step::Expect {
            timing: Timing::Within(d) | Timing::For(d),
            ..
        } => check(d, Kind::Time),
        Step::Measure {
            range: RangeExpr::Between(lo, hi),
            quantity,
            ..
        } => {
            let k = match quantity {
                step::Quantity::Current => Kind::Amps,
                step::Quantity::Voltage => Kind::Volts,
            };
            check(lo, k)?;
            check(hi, k)
        }
        _ => Ok(()),
    }
}

/// A quantity a step value can resolve to.
trait Resolvable: Sized + Copy {
    fn parse(text: &str) -> Result<Self, String>;
    fn from_profile(v: ProfileValue) -> Option<Self>;
    /// `self + offset`, where `offset` may be negative.
    fn offset(self, by: f64, unit: &str) -> Result<Self, String>;
    const WHAT: &'static str;
}

/// Volts and amperes resolve alike: a literal with its unit, a profile value, and an
/// offset in the same unit.
macro_rules! resolvable_quantity {
    ($ty:ident, $variant:ident, $what:literal) => {
        impl Resolvable for $ty {
            fn parse(text: &str) -> Result<Self, String> {
                $ty::parse(text).map_err(|e| e.to_string())
            }
            fn from_profile(v: ProfileValue) -> Option<Self> {
                match v {
                    ProfileValue::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn offset(self, by: f64, unit: &str) -> Result<Self, String> {
                let magnitude = <Self as Resolvable>::parse(&format!("{}{unit}", by.abs()))?;
                Ok($ty(self.0 + by.signum() * magnitude.0))
            }
            const WHAT: &'static str = $what;
        }
    };
}

resolvable_quantity!(Volts, Volts, "a voltage");
resolvable_quantity!(Amps, Amps, "a current");

impl Resolvable for Duration {
    fn parse(text: &str) -> Result<Self, String> {
        units::parse_duration(text).map_err(|e| e.to_string())
    }
    fn from_profile(v: ProfileValue) -> Option<Self> {
        if let ProfileValue::Duration(x) = v {
            Some(x)
        } else {
            None
        }
    }
    fn offset(self, by: f64, unit: &str) -> Result<Self, String> {
        let off = Self::parse(&format!("{}{unit}", by.abs()))?;
        if by < 0.0 {
            self.checked_sub(off)
                .ok_or_else(|| "the offset makes the time negative".to_string())
        } else {
            self.checked_add(off)
                .ok_or_else(|| "the offset makes the time too long".to_string())
        }
    }
    const WHAT: &'static str = "a duration";
}

fn value<Q: Resolvable>(e: &Expr, d: &DeviceProfile) -> Result<Q, String> {
    match e {
        Expr::Literal(l) => Q::parse(l),
        Expr::Named { name, offset } => {
            let base = match d.value(name) {
                Some(v) => {
                    Q::from_profile(v).ok_or_else(|| format!("`{name}` is not {}", Q::WHAT))?
                }
                None => return Err(format!("the device profile has no `{name}`")),
            };
            match offset {
                Some((by, unit)) => base.offset(*by, unit),
                None => Ok(base),
            }
        }
    }
}

fn resolve_step(s: &Step, d: &DeviceProfile) -> Result<Resolved, String> {
    Ok(match s {
        Step::Set {
            role,
            volts: v,
            limit,
        } => Resolved::Set {
            role: role.clone(),
            volts: value(v, d)?,
            limit: limit.as_ref().map(|l| value(l, d)).transpose()?,
        },
        Step::Output { role, on } => Resolved::Output {
            role: role.clone(),
            on: *on,
        },
        Step::Sag { role, to, duration } => Resolved::Sag {
            role: role.clone(),
            to: value(to, d)?,
            duration: value(duration, d)?,
        },
        Step::Wait(t) => Resolved::Wait {
            duration: value(t, d)?,
        },
        Step::Relay { role, on } => Resolved::Relay {
            role: role.clone(),
            on: *on,
        },
        Step::Expect {
            role,
            state,
            timing,
        } => Resolved::Expect {
            role: role.clone(),
            state: state.clone(),
            timing: match timing {
                Timing::Now => Timing::Now,
                Timing::Within(t) => Timing::Within(value(t, d)?),
                Timing::For(t) => Timing::For(value(t, d)?),
            },
        },
        Step::Measure {
            role,
            quantity,
            range,
        } => {
            let (low, high) = match (range, quantity) {
                (RangeExpr::Named(n), step::Quantity::Current) => match d.value(n) {
                    Some(ProfileValue::AmpsRange(lo, hi)) => (lo.0, hi.0),
                    Some(_) => return Err(format!("`{n}` is not a current range")),
                    None => return Err(format!("the device profile has no `{n}`")),
                },
                (RangeExpr::Named(n), step::Quantity::Voltage) => {
                    return Err(format!("`{n}`: voltage ranges are written LOW..HIGH"))
                }
                (RangeExpr::Between(lo, hi), step::Quantity::Current) => {
                    (value::<Amps>(lo, d)?.0, value::<Amps>(hi, d)?.0)
                }
                (RangeExpr::Between(lo, hi), step::Quantity::Voltage) => {
                    (value::<Volts>(lo, d)?.0, value::<Volts>(hi, d)?.0)
                }
            };
            if low > high {
                return Err("range LOW..HIGH has LOW above HIGH".into());
            }
            Resolved::Measure {
                role: role.clone(),
                quantity: *quantity,
                low,
                high,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_with(from: &str, to: &str) -> Result<Suite, ConfigError> {
        assert!(BUILTIN[0].1.contains(from), "fixture lacks {from}");
        Suite::from_source(Source::builtin(
            "s.toml",
            &BUILTIN[0].1.replacen(from, to, 1),
        ))
    }

    #[test]
    fn default_suite_resolves_for_every_applicable_builtin_device() {
        let suite = Suite::load("default").unwrap();
        let devices = DeviceProfile::builtin_all().unwrap();
        let mut trials = 0;
        for c in &suite.checks {
            for d in devices.iter().filter(|d| c.applies_to.covers(d)) {
                suite.resolve(c, d).unwrap();
                trials += 1;
            }
        }
        assert!(trials >= 2);
    }

    #[test]
    fn step_errors_point_into_the_string() {
        let text = BUILTIN[0]
            .1
            .replacen("\"relay door_push on\"", "\"relay door_push maybe\"", 1);
        let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
        let ConfigError::Invalid { at, message } = err else {
            panic!()
        };
        let line = text.lines().nth(at.line - 1).unwrap();
        assert_eq!(&line[at.column - 1..at.column + 4], "maybe", "{message}");
        assert!(message.contains("expected `on` or `off`"));
    }

    #[test]
    fn errors_in_escaped_or_multi_line_steps_point_at_the_string() {
        // Offsets within the parsed string used to be mapped into the file as if it were
        // written verbatim; here that lands inside `€`, and locating it panicked.
        for (written, shown) in [
            ("\"\"\"set €\"\"\"", "set €"),
            ("\"set \\u00e9 €\"", "set é €"),
        ] {
            let text = BUILTIN[0].1.replacen("\"output main on\"", written, 1);
            let err = Suite::from_source(Source::builtin("s.toml", &text)).unwrap_err();
            let ConfigError::Invalid { at, message } = err else {
                panic!()
            };
            let line = text.lines().nth(at.line - 1).unwrap();
            let from: String = line.chars().skip(at.column - 1).collect();
            assert!(from.starts_with(written), "{from} / {message}");
            assert!(message.contains(shown), "{message}");
        }
    }

    #[test]
    fn an_offset_past_the_longest_duration_is_refused() {
        // `Duration + Duration` panics on overflow.
        let suite = suite_with(
            "wait ready_within",
            "wait ready_within + 18446744073709549568s",
        )
        .unwrap();
        let text = crate::config::device::BUILTIN[0]
            .1
            .replace("ready_within = \"1.5s\"", "ready_within = \"1h\"");
        let device = DeviceProfile::from_source(&Source::builtin("d.toml", &text)).unwrap();
        let check = &suite.checks[0];
        let msg = suite.resolve(check, &device).unwrap_err().to_string();
        assert!(msg.contains("the offset makes the time too long"), "{msg}");
    }

    #[test]
    fn wrong_unit_in_a_step_is_refused() {
        let msg = suite_with("wait ready_within", "wait 5V")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected a duration"), "{msg}");
    }

    #[test]
    fn unknown_profile_name_is_refused() {
        let msg = suite_with("wait ready_within", "wait readywithin")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("unknown profile value `readywithin`"), "{msg}");
    }

    #[test]
    fn steps_must_suit_their_roles() {
        let msg = suite_with("relay door_push on", "relay main on")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("`relay` needs a Switch role, but `main` is a Supply role"),
            "{msg}"
        );
        let msg = suite_with("expect console locked", "expect console LOCKED")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not `LOCKED`"), "{msg}");
        let msg = suite_with(
            "measure main_meter current",
            "measure door_position current",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("needs a Meter role"), "{msg}");
    }

    #[test]
    fn a_check_without_a_physical_expectation_is_refused() {
        let text = BUILTIN[0]
            .1
            .replace("\"expect door_position open within release_within\",", "");
        let text = text.replace("\"expect door_position closed for 500ms\",", "");
        let msg = Suite::from_source(Source::builtin("s.toml", &text))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("check `power_loss::releases` expects nothing of a physical input"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_applies_to_is_refused() {
        let msg = suite_with(
            "applies_to = [\"fail_secure\"]",
            "applies_to = [\"failsecure\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("field `applies_to`"), "{msg}");
    }
}
