//! Suites (`fixtures/suites/*.toml`): checks as data, each with its code basis, the
//! devices it applies to, and its steps.
//!
//! A check applies to a device when the device's class or power-loss mode is listed in
//! `applies_to` (or the list is empty) and the device has every feature in `requires`
//! (see [`crate::config::device::FEATURES`]). Figures come from the device profile by
//! name, never from constants: a suite fits every board.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::step::{self, Expr, Parsed, RangeExpr, Ready, Step, Term, Timing};
use crate::config::device::{DeviceClass, DeviceProfile, PowerLossMode, ProfileValue, FEATURES};
use crate::config::rig::{role_capability, Capability};
use crate::config::{ConfigError, Source};
use crate::units::{self, Amps, Volts};

/// The built-in suites, shipped in `fixtures/suites/`.
pub const BUILTIN: &[(&str, &str)] = &[(
    "certification",
    include_str!("../../fixtures/suites/certification.toml"),
)];

/// The most cycles a suite may give one check in each cycle of a run (more is a
/// campaign's business: `--until-fail`, `--duration`).
pub const MAX_CHECK_REPEAT: u32 = 10_000;

/// The suite `lockrig run` uses when none is named.
pub const DEFAULT: &str = "certification";

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
    #[serde(default)]
    applies_to: Vec<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    basis: Vec<String>,
    #[serde(default)]
    repeat: Option<Spanned<i64>>,
    steps: Vec<Spanned<String>>,
}

/// Which devices a check applies to.
#[derive(Debug, Clone, Default)]
pub struct AppliesTo {
    /// Device classes; empty = any.
    pub classes: Vec<DeviceClass>,
    /// Power-loss modes; empty = any.
    pub modes: Vec<PowerLossMode>,
    /// Features the device must have (`console`, `fire_release`, ...).
    pub requires: Vec<String>,
}

impl AppliesTo {
    /// True if the device is covered.
    pub fn covers(&self, d: &DeviceProfile) -> bool {
        self.why_not(d).is_none()
    }

    /// Why the check does not apply to the device, if it does not.
    pub fn why_not(&self, d: &DeviceProfile) -> Option<String> {
        if !self.classes.is_empty() && !self.classes.contains(&d.class) {
            return Some(format!("not a {}", names(&self.classes)));
        }
        if !self.modes.is_empty() && !self.modes.contains(&d.power_loss) {
            return Some(format!("not {}", names(&self.modes)));
        }
        let missing: Vec<&str> = self
            .requires
            .iter()
            .filter(|f| !d.has(f))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| format!("the profile declares no {}", missing.join(", ")))
    }
}

fn names<T: serde::Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| {
            serde_json::to_value(i)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A step that applies only to devices with (`when F:`) or without (`unless F:`) a
/// feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The feature.
    pub feature: String,
    /// `unless`: the step applies when the device lacks the feature.
    pub unless: bool,
}

impl Condition {
    /// True when the step applies to the device.
    pub fn holds(&self, d: &DeviceProfile) -> bool {
        d.has(&self.feature) != self.unless
    }

    /// Splits `when F: STEP` / `unless F: STEP` into the condition and the byte offset
    /// of the step text.
    fn split(text: &str) -> Result<(Option<Self>, usize), (usize, String)> {
        let trimmed = text.trim_start();
        let (unless, rest) = match trimmed.split_once(char::is_whitespace) {
            Some(("when", rest)) => (false, rest),
            Some(("unless", rest)) => (true, rest),
            _ => return Ok((None, 0)),
        };
        let word_at = text.len() - rest.trim_start().len();
        let Some((feature, step)) = rest.split_once(':') else {
            return Err((word_at, "expected `FEATURE:` after `when`/`unless`".into()));
        };
        let feature = feature.trim();
        if !FEATURES.iter().any(|(f, _)| *f == feature) {
            return Err((
                word_at,
                format!(
                    "expected a feature ({}) after `when`/`unless`, found `{feature}`",
                    FEATURES
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let step_at = text.len() - step.trim_start().len();
        Ok((
            Some(Self {
                feature: feature.to_string(),
                unless,
            }),
            step_at,
        ))
    }
}

/// One check of a suite.
#[derive(Debug, Clone)]
pub struct Check {
    /// Name, `family::name`.
    pub name: String,
    /// One-line statement of what must hold.
    pub title: String,
    /// Devices it applies to.
    pub applies_to: AppliesTo,
    /// Code basis (IBC/NFPA/UL/BHMA clauses).
    pub basis: Vec<String>,
    /// Steps, each with its condition and the byte span of its text in the suite file.
    pub steps: Vec<(Option<Condition>, Step<Parsed>, Range<usize>)>,
    /// Cycles of this check in each cycle of a run (`repeat = N`: a check whose
    /// failure is intermittent runs N times where the others run once).
    pub repeat: u32,
}

impl Check {
    /// The family: the name up to the first `::`.
    pub fn family(&self) -> &str {
        self.name.split("::").next().unwrap_or(&self.name)
    }
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
            checks.push(check(&source, c, &checks)?);
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
    ) -> Result<Vec<Step<Ready>>, ConfigError> {
        check
            .steps
            .iter()
            .filter(|(c, _, _)| c.as_ref().is_none_or(|c| c.holds(device)))
            .map(|(_, s, span)| {
                resolve(s, device).map_err(|m| {
                    self.source.error(
                        span.clone(),
                        format!("check `{}` on device `{}`: {m}", check.name, device.name),
                    )
                })
            })
            .collect()
    }
}

fn check(source: &Source, c: CheckFile, earlier: &[Check]) -> Result<Check, ConfigError> {
    let name = c.name.get_ref();
    let name_ok = !name.is_empty()
        && name
            .split("::")
            .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
    if !name_ok {
        return Err(source.error(
            c.name.span(),
            format!("field `name`: expected words of [A-Za-z0-9_] joined by `::`, found `{name}`"),
        ));
    }
    if earlier.iter().any(|k| &k.name == name) {
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
                    "field `applies_to`: expected a device class ({}) or a power-loss mode (fail_safe, fail_secure), found `{}`",
                    DeviceClass::NAMES,
                    a.get_ref()
                ),
            ));
        }
    }
    for r in &c.requires {
        if !FEATURES.iter().any(|(f, _)| f == r.get_ref()) {
            return Err(source.error(
                r.span(),
                format!(
                    "field `requires`: expected one of: {}; found `{}`",
                    FEATURES
                        .iter()
                        .map(|(f, _)| *f)
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.get_ref()
                ),
            ));
        }
        applies_to.requires.push(r.get_ref().clone());
    }
    if c.basis.is_empty() {
        return Err(source.error(
            c.name.span(),
            format!("check `{name}`: field `basis` is empty; every check names its code basis"),
        ));
    }
    let mut steps = Vec::new();
    let mut context = StepContext::default();
    for s in &c.steps {
        // A step's offsets map into the file only when the string is written verbatim
        // between one pair of quotes; +1 skips the opening quote. An escaped or
        // multi-line string is pointed at as a whole.
        let verbatim = source.text.get(s.span()).is_some_and(|raw| {
            raw.len() == s.get_ref().len() + 2 && raw.get(1..raw.len() - 1) == Some(s.get_ref())
        });
        let at = |offset: usize| {
            if verbatim {
                s.span().start + 1 + offset
            } else {
                s.span().start
            }
        };
        let text = s.get_ref();
        let (condition, step_at) = Condition::split(text).map_err(|(offset, m)| {
            source.error(at(offset)..at(offset), format!("step `{text}`: {m}"))
        })?;
        let parsed = step::parse(&text[step_at..]).map_err(|e| {
            source.error(
                at(step_at + e.offset)..at(step_at + e.offset),
                format!("step `{text}`: {}", e.message),
            )
        })?;
        validate(&parsed, &mut context).map_err(|e| {
            let span = match e.offset_in(&text[step_at..]) {
                Some(o) => at(step_at + o)..at(step_at + o),
                None => s.span(),
            };
            source.error(span, format!("step `{text}`: {}", e.message))
        })?;
        steps.push((condition, parsed, s.span()));
    }
    if steps.is_empty() {
        return Err(source.error(c.name.span(), format!("check `{name}` has no steps")));
    }
    let physical = steps.iter().any(|(c, s, _)| {
        c.is_none()
            && matches!(s, Step::Expect { role, control: false, .. } | Step::Watch { role, .. }
            if role_capability(role) == Some(Capability::Input))
    });
    if !physical {
        return Err(source.error(
            c.name.span(),
            format!("check `{name}` expects nothing of a physical input (door_position, latch_sensor): the door, not the board's word, decides a check"),
        ));
    }
    let repeat = match &c.repeat {
        None => 1,
        Some(r) => match u32::try_from(*r.get_ref()) {
            Ok(n @ 1..=MAX_CHECK_REPEAT) => n,
            _ => {
                return Err(source.error(
                    r.span(),
                    format!(
                        "check `{name}`: field `repeat`: expected a whole number of cycles from 1 to {MAX_CHECK_REPEAT}, found {}",
                        r.get_ref()
                    ),
                ))
            }
        },
    };
    Ok(Check {
        name: name.clone(),
        title: c.title,
        applies_to,
        basis: c.basis,
        steps,
        repeat,
    })
}

/// What earlier steps of the same check established.
#[derive(Default)]
struct StepContext {
    /// Watched roles, and whether under a condition.
    watched: Vec<(String, bool)>,
    kept: Vec<String>,
}

/// Why a step is refused, and the word it is about (pointed at in the file).
struct Invalid {
    word: Option<String>,
    message: String,
}

impl Invalid {
    fn at(word: &str, message: String) -> Self {
        Self {
            word: Some(word.to_string()),
            message,
        }
    }

    /// The byte offset of the word in `text`, as a whole word.
    fn offset_in(&self, text: &str) -> Option<usize> {
        let word = self.word.as_deref()?;
        let mut at = 0;
        for w in text.split_inclusive(char::is_whitespace) {
            let trimmed = w.trim_end();
            // `*`, `+` and `-` join terms: `reset_below*0.5` is one token in the text.
            if trimmed
                .split(['*', '+'])
                .next()
                .is_some_and(|first| first == word)
                || trimmed == word
            {
                return Some(at);
            }
            at += w.len();
        }
        None
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Self {
            word: None,
            message,
        }
    }
}

/// Load-time checks that need no device: known roles of the right capability, known
/// profile names, literal units, watches that exist, kept measurements that exist.
fn validate(s: &Step<Parsed>, cx: &mut StepContext) -> Result<(), Invalid> {
    use Capability as C;
    let needs: &[C] = match s {
        Step::Set { .. }
        | Step::Output { .. }
        | Step::Sag { .. }
        | Step::SagRandom { .. }
        | Step::Ramp { .. }
        | Step::Noise { .. }
        | Step::Shmoo { .. } => &[C::Supply],
        Step::Relay { .. } | Step::Pulse { .. } => &[C::Switch],
        Step::Expect { .. } => &[C::Input, C::Console],
        Step::Watch { .. } => &[C::Input],
        Step::Unwatch { .. } => &[C::Input, C::Console],
        Step::Measure { .. } => &[C::Meter],
        Step::WatchConsole { .. }
        | Step::Send { .. }
        | Step::ConsoleReady { .. }
        | Step::ConsoleEvent { .. }
        | Step::ConsoleEventAt { .. }
        | Step::WaitRate { .. } => &[C::Console],
        Step::Wait(_) | Step::Estimate { .. } => &[],
    };
    if let Some(role) = s.role() {
        let has = role_capability(role)
            .ok_or_else(|| Invalid::at(role, format!("unknown role `{role}`")))?;
        if !needs.contains(&has) {
            return Err(Invalid::at(
                role,
                format!(
                    "`{}` needs {} role, but `{role}` is {} role",
                    s.verb(),
                    needs.iter().map(|c| c.a()).collect::<Vec<_>>().join(" or "),
                    has.a()
                ),
            ));
        }
        if let Step::Expect { state, .. } = s {
            if has == C::Console && !matches!(state.as_str(), "locked" | "unlocked") {
                return Err(Invalid::at(
                    state,
                    format!("the console reports `locked` or `unlocked`, not `{state}`"),
                ));
            }
        }
    }
    match s {
        Step::Watch { role, when, .. } | Step::WatchConsole { role, when, .. } => {
            if let Some(c) = when {
                match role_capability(&c.role) {
                    Some(C::Supply) => {}
                    Some(has) => {
                        return Err(Invalid::at(&c.role, format!(
                            "`while` needs a supply role (the meter on its line decides), but `{}` is {} role",
                            c.role,
                            has.a()
                        )))
                    }
                    None => {
                        return Err(Invalid::at(&c.role, format!("unknown role `{}`", c.role)))
                    }
                }
            }
            // A role may carry several watches, each under its own condition (engaged
            // while powered, released while not); an unconditional watch is the only one.
            let conditional = when.is_some();
            if cx
                .watched
                .iter()
                .any(|(r, c)| r == role && !(conditional && *c))
            {
                return Err(Invalid::at(
                    role,
                    format!("`{role}` is already watched; `unwatch {role}` first"),
                ));
            }
            cx.watched.push((role.clone(), conditional));
        }
        Step::Unwatch { role } => {
            if !cx.watched.iter().any(|(w, _)| w == role) {
                return Err(Invalid::at(role, format!("`{role}` is not watched here")));
            }
            cx.watched.retain(|(w, _)| w != role);
        }
        Step::Measure { keep: Some(k), .. } => cx.kept.push(k.clone()),
        Step::Estimate { from, .. } => {
            if let Some(missing) = from.iter().find(|f| !cx.kept.contains(f)) {
                return Err(Invalid::at(
                    missing,
                    format!("no earlier `measure ... as {missing}` in this check"),
                ));
            }
        }
        Step::Measure {
            range: RangeExpr::Named(n),
            quantity: step::Quantity::Voltage,
            ..
        } => {
            return Err(Invalid::at(
                n,
                format!("`{n}`: voltage ranges are written LOW..HIGH"),
            ))
        }
        _ => {}
    }
    for (e, kind) in s.values() {
        for (_, term) in &e.terms {
            match term {
                Term::Literal(l) => step::check_literal(l, kind).map_err(|m| Invalid::at(l, m))?,
                Term::Named { name, .. } => {
                    if !DeviceProfile::VALUE_NAMES.contains(&name.as_str()) {
                        return Err(Invalid::at(
                            name,
                            format!(
                                "unknown profile value `{name}`, expected a literal with its unit or one of: {}",
                                DeviceProfile::VALUE_NAMES.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A quantity a step value resolves to.
trait Quantity: Sized + Copy {
    const WHAT: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
    fn from_profile(v: ProfileValue) -> Option<Self>;
    fn si(self) -> f64;
    fn from_si(v: f64) -> Result<Self, String>;
}

impl Quantity for Volts {
    const WHAT: &'static str = "a voltage";
    fn parse(text: &str) -> Result<Self, String> {
        Volts::parse(text).map_err(|e| e.to_string())
    }
    fn from_profile(v: ProfileValue) -> Option<Self> {
        match v {
            ProfileValue::Volts(x) => Some(x),
            _ => None,
        }
    }
    fn si(self) -> f64 {
        self.0
    }
    fn from_si(v: f64) -> Result<Self, String> {
        Ok(Volts(v))
    }
}

impl Quantity for Amps {
    const WHAT: &'static str = "a current";
    fn parse(text: &str) -> Result<Self, String> {
        Amps::parse(text).map_err(|e| e.to_string())
    }
    fn from_profile(v: ProfileValue) -> Option<Self> {
        match v {
            ProfileValue::Amps(x) => Some(x),
            _ => None,
        }
    }
    fn si(self) -> f64 {
        self.0
    }
    fn from_si(v: f64) -> Result<Self, String> {
        Ok(Amps(v))
    }
}

impl Quantity for Duration {
    const WHAT: &'static str = "a duration";
    fn parse(text: &str) -> Result<Self, String> {
        units::parse_duration(text).map_err(|e| e.to_string())
    }
    fn from_profile(v: ProfileValue) -> Option<Self> {
        match v {
            ProfileValue::Duration(x) => Some(x),
            _ => None,
        }
    }
    fn si(self) -> f64 {
        self.as_secs_f64()
    }
    fn from_si(v: f64) -> Result<Self, String> {
        if v < 0.0 {
            return Err("the expression makes the time negative".into());
        }
        Duration::try_from_secs_f64(v).map_err(|_| "the expression makes the time too long".into())
    }
}

/// Evaluates an expression against a profile.
fn value<Q: Quantity>(e: &Expr, d: &DeviceProfile) -> Result<Q, String> {
    let mut sum = 0.0;
    for (negated, term) in &e.terms {
        let v = match term {
            Term::Literal(l) => Q::parse(l)?.si(),
            Term::Named { name, factor } => {
                let v = d
                    .value(name)
                    .ok_or_else(|| format!("the device profile has no `{name}`"))?;
                Q::from_profile(v)
                    .ok_or_else(|| format!("`{name}` is not {}", Q::WHAT))?
                    .si()
                    * factor
            }
        };
        sum += if *negated { -v } else { v };
    }
    if !sum.is_finite() {
        return Err("the expression does not evaluate to a number".into());
    }
    Q::from_si(sum)
}

/// `LOW..HIGH` resolved, refused unless LOW <= HIGH.
fn bounds<Q: Quantity>(
    (lo, hi): &(Expr, Expr),
    d: &DeviceProfile,
    what: &str,
) -> Result<(Q, Q), String> {
    let (lo, hi): (Q, Q) = (value(lo, d)?, value(hi, d)?);
    if lo.si() > hi.si() {
        return Err(format!(
            "the {what} range runs backwards ({} above {}): write LOW..HIGH",
            lo.si(),
            hi.si()
        ));
    }
    Ok((lo, hi))
}

fn opt<Q: Quantity>(e: &Option<Expr>, d: &DeviceProfile) -> Result<Option<Q>, String> {
    e.as_ref().map(|e| value(e, d)).transpose()
}

fn condition(
    c: &Option<step::Condition<Parsed>>,
    d: &DeviceProfile,
) -> Result<Option<step::Condition<Ready>>, String> {
    c.as_ref()
        .map(|c| {
            Ok(step::Condition {
                role: c.role.clone(),
                below: c.below,
                volts: value(&c.volts, d)?,
                settled: opt(&c.settled, d)?,
            })
        })
        .transpose()
}

/// Resolves one step against a device profile.
pub fn resolve(s: &Step<Parsed>, d: &DeviceProfile) -> Result<Step<Ready>, String> {
    let role = |r: &String| r.clone();
    Ok(match s {
        Step::Set {
            role: r,
            volts,
            limit,
        } => Step::Set {
            role: role(r),
            volts: value(volts, d)?,
            limit: opt(limit, d)?,
        },
        Step::Output { role: r, on } => Step::Output {
            role: role(r),
            on: *on,
        },
        Step::Sag {
            role: r,
            to,
            hold,
            times,
            recover,
            expect_reset,
        } => Step::Sag {
            role: role(r),
            to: value(to, d)?,
            hold: value(hold, d)?,
            times: *times,
            recover: opt(recover, d)?,
            expect_reset: *expect_reset,
        },
        Step::SagRandom {
            role: r,
            depth,
            hold,
            after,
            times,
            recover,
        } => {
            let depth: (Volts, Volts) = bounds(depth, d, "depth")?;
            let hold: (Duration, Duration) = bounds(hold, d, "duration")?;
            if hold.0.is_zero() {
                return Err("a sag's shortest duration must be more than 0s".into());
            }
            Step::SagRandom {
                role: role(r),
                depth,
                hold,
                after: after.as_ref().map(|a| bounds(a, d, "delay")).transpose()?,
                times: *times,
                recover: opt(recover, d)?,
            }
        }
        Step::Ramp { role: r, to, over } => Step::Ramp {
            role: role(r),
            to: value(to, d)?,
            over: value(over, d)?,
        },
        Step::Noise {
            role: r,
            around,
            by,
            every,
            duration,
        } => {
            let every: Duration = value(every, d)?;
            if every < Duration::from_millis(10) {
                return Err(
                    "a noise step interval under 10ms is faster than a supply can follow".into(),
                );
            }
            Step::Noise {
                role: role(r),
                around: value(around, d)?,
                by: value(by, d)?,
                every,
                duration: value(duration, d)?,
            }
        }
        Step::Shmoo {
            role: r,
            from,
            to,
            step,
            durations,
            recover,
            repeats,
        } => {
            let step: Volts = value(step, d)?;
            let (from, to): (Volts, Volts) = (value(from, d)?, value(to, d)?);
            if step.0 <= 0.0 || ((from.0 - to.0).abs() / step.0) > 100.0 {
                return Err("the depth step must be positive, with at most 100 depths".into());
            }
            Step::Shmoo {
                role: role(r),
                from,
                to,
                step,
                durations: durations
                    .iter()
                    .map(|t| value(t, d))
                    .collect::<Result<_, _>>()?,
                recover: value(recover, d)?,
                repeats: *repeats,
            }
        }
        Step::Wait(t) => Step::Wait(value(t, d)?),
        Step::Relay { role: r, on } => Step::Relay {
            role: role(r),
            on: *on,
        },
        Step::Pulse { role: r, duration } => Step::Pulse {
            role: role(r),
            duration: value(duration, d)?,
        },
        Step::Expect {
            role: r,
            state,
            timing,
            control,
        } => Step::Expect {
            role: role(r),
            state: state.clone(),
            timing: match timing {
                Timing::Now => Timing::Now,
                Timing::Within(t) => Timing::Within(value(t, d)?),
                Timing::For(t) => Timing::For(value(t, d)?),
            },
            control: *control,
        },
        Step::Watch {
            role: r,
            state,
            when,
        } => Step::Watch {
            role: role(r),
            state: state.clone(),
            when: condition(when, d)?,
        },
        Step::WatchConsole {
            role: r,
            never,
            when,
        } => Step::WatchConsole {
            role: role(r),
            never: never.clone(),
            when: condition(when, d)?,
        },
        Step::Unwatch { role: r } => Step::Unwatch { role: role(r) },
        Step::Measure {
            role: r,
            stat,
            quantity,
            range,
            window,
            keep,
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
            Step::Measure {
                role: role(r),
                stat: *stat,
                quantity: *quantity,
                range: (low, high),
                window: opt(window, d)?,
                keep: keep.clone(),
            }
        }
        Step::Send {
            role: r,
            words,
            expecting,
        } => Step::Send {
            role: role(r),
            words: words.clone(),
            expecting: expecting.clone(),
        },
        Step::WaitRate {
            role: r,
            fraction,
            from,
            to,
        } => Step::WaitRate {
            role: role(r),
            fraction: *fraction,
            from: from.clone(),
            to: to.clone(),
        },
        Step::ConsoleReady { role: r, within } => Step::ConsoleReady {
            role: role(r),
            within: value(within, d)?,
        },
        Step::ConsoleEvent {
            role: r,
            event,
            within,
        } => Step::ConsoleEvent {
            role: role(r),
            event: event.clone(),
            within: value(within, d)?,
        },
        Step::ConsoleEventAt {
            role: r,
            event,
            at,
            tolerance,
        } => Step::ConsoleEventAt {
            role: role(r),
            event: event.clone(),
            at: value(at, d)?,
            tolerance: value(tolerance, d)?,
        },
        Step::Estimate {
            what,
            from,
            at_least,
        } => Step::Estimate {
            what: *what,
            from: from.clone(),
            at_least: opt(at_least, d)?,
        },
    })
}

#[cfg(test)]
mod tests;
