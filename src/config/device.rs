//! Device profiles: which class and power-loss mode a lock board has, what hardware it
//! carries (emergency port, fire input, REX, delayed egress, update support), and the
//! bounds its checks use (`fixtures/devices/*.toml`).
//!
//! A profile is the product's datasheet as the lab reads it: every bound a check
//! compares against comes from here, never from constants in code. The optional
//! `[sim]` section describes how the built-in simulator builds a board of this kind;
//! its figures are the *board's* properties (a brown-out threshold somewhere in a
//! spread, a boot time, a motor time), picked per run from a seed, and are never the
//! limits the checks judge against.
//!
//! Suites refer to profile values by name:
//!
//! | name | field |
//! |---|---|
//! | `nominal`, `min_operating`, `max`, `reset_below`, `holds_down_to`, `current_limit` | `[supply]` |
//! | `ready_within`, `actuation_within`, `release_within`, `relock_within`, `egress_within`, `power_loss_hold` | `[timing]` |
//! | `standby_current`, `holding_current`, `actuation_peak`, `actuation_time` | `[current]` |
//! | `lowbat_1`, `lowbat_2`, `battery_cutoff`, `battery_tolerance`, `battery_life` | `[battery]` |
//! | `emergency_volts`, `emergency_current`, `emergency_boot_within`, `emergency_unlock_within` | `[emergency]` |
//! | `fire_release_within`, `fire_hold` | `[fire]` |
//! | `rex_hold_min`, `rex_hold_max`, `rex_release_within` | `[rex]` |
//! | `egress_delay`, `egress_effort` | `[delayed_egress]` |
//! | `update_time` | `[update]` |

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::{ConfigError, Source};
use crate::units::{self, Amps, Ohms, Volts};

/// The device classes of the design brief.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// An electromagnetic lock on building power; releases when unpowered.
    Maglock,
    /// An electric strike, fail-safe or fail-secure.
    ElectricStrike,
    /// A battery-powered smart lock with a motorised bolt.
    BatterySmartLock,
    /// A building-powered lock that stays locked on power loss but releases on fire alarm.
    Hybrid,
}

impl DeviceClass {
    /// Every class, for messages.
    pub const NAMES: &'static str = "maglock, electric_strike, battery_smart_lock, hybrid";
}

/// What the lock does when it loses power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerLossMode {
    /// Releases (unlocks) on power loss.
    FailSafe,
    /// Stays locked on power loss.
    FailSecure,
}

/// How a person inside gets out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Egress {
    /// The interior lever, thumbturn or push bar withdraws the latch mechanically, in
    /// every power state.
    Mechanical,
    /// A push bar with a switch that directly interrupts the lock's power (maglocks;
    /// IBC 2021 1010.2.11 door hardware release).
    PowerInterrupt,
    /// Delayed egress: sustained push starts an irreversible release after a delay
    /// (IBC 2021 1010.2.13, NFPA 101 7.2.1.6.1).
    Delayed,
}

/// A device profile, as loaded from TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceProfile {
    /// Short identifier used in trial names (`smartlock_4aa`).
    pub name: String,
    /// A human description.
    pub description: String,
    /// The device class.
    pub class: DeviceClass,
    /// The power-loss mode.
    pub power_loss: PowerLossMode,
    /// How the inside gets out.
    pub egress: Egress,
    /// Whether the board has a line console the rig can query.
    #[serde(default)]
    pub console: bool,
    /// A mechanical key cylinder overrides the lock from outside.
    #[serde(default)]
    pub key_override: bool,
    /// Supply figures.
    pub supply: SupplySpec,
    /// Timing bounds.
    pub timing: TimingSpec,
    /// Current bounds.
    pub current: CurrentSpec,
    /// Battery figures (battery locks).
    #[serde(default)]
    pub battery: Option<BatterySpec>,
    /// The emergency power port, where the product has one.
    #[serde(default)]
    pub emergency: Option<EmergencySpec>,
    /// The fire-alarm input, where the opening is wired to the fire-alarm loop.
    #[serde(default)]
    pub fire: Option<FireSpec>,
    /// Request-to-exit, where the product has one.
    #[serde(default)]
    pub rex: Option<RexSpec>,
    /// Delayed egress figures (for `egress = "delayed"`).
    #[serde(default)]
    pub delayed_egress: Option<DelayedEgressSpec>,
    /// Firmware update support.
    #[serde(default)]
    pub update: Option<UpdateSpec>,
    /// How the built-in simulator builds this board; ignored on a real bench.
    #[serde(default)]
    pub sim: Option<SimModel>,
    /// The file the profile was loaded from, for the run's evidence.
    #[serde(skip)]
    pub source: Source,
}

/// Supply figures of a board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplySpec {
    /// Nominal supply (or battery) voltage.
    pub nominal: Spanned<Volts>,
    /// Lowest voltage at which the board is specified to operate.
    pub min_operating: Spanned<Volts>,
    /// Highest voltage the board tolerates.
    pub max: Spanned<Volts>,
    /// Current limit to program on the supply that feeds it.
    pub current_limit: Spanned<Amps>,
    /// The board's brown-out reset level, as designed: its supply falling below this
    /// may reset it (its parts' thresholds, with their spread, lie at or below it);
    /// from here up to `min_operating` it keeps running. Sags meant to reset the board
    /// go well below it (the built-in suite goes to half of it), sags meant not to stay
    /// between it and `min_operating`.
    pub reset_below: Spanned<Volts>,
    /// The lowest supply at which the lock still holds the door with its controller in
    /// reset, from the product's drop-out figure: a magnet fed through the REX and
    /// push-bar contacts and the controller's normally-closed contacts keeps holding
    /// when the controller stops. Below `reset_below` it lets the REX button be tried
    /// with no controller to help (IBC 1010.2.12: the button interrupts the lock's
    /// power directly). A maglock with REX declares it.
    #[serde(default)]
    pub holds_down_to: Option<Spanned<Volts>>,
}

/// Timing bounds of a board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// After power is applied or restored, the board answers within this time.
    #[serde(deserialize_with = "units::positive_duration")]
    pub ready_within: Duration,
    /// A commanded lock or unlock completes within this time (bolt or strike travel).
    #[serde(default, deserialize_with = "units::opt_positive_duration")]
    pub actuation_within: Option<Duration>,
    /// A fail-safe lock releases within this time of losing power.
    #[serde(default, deserialize_with = "units::opt_positive_duration")]
    pub release_within: Option<Duration>,
    /// After power returns, or after an unlock, the lock is secure again within this time.
    #[serde(deserialize_with = "units::positive_duration")]
    pub relock_within: Duration,
    /// The interior handle opens the door within this time of being operated.
    #[serde(deserialize_with = "units::positive_duration")]
    pub egress_within: Duration,
    /// How long a power-loss check holds the power off.
    #[serde(deserialize_with = "units::positive_duration")]
    pub power_loss_hold: Duration,
}

/// Current bounds of a board, each an inclusive `[low, high]` pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentSpec {
    /// Idle current while powered and locked (for fail-safe locks: the electronics'
    /// share; the coil's is `holding`).
    pub standby: Spanned<[Amps; 2]>,
    /// Holding current while locked (maglocks, fail-safe strikes).
    #[serde(default)]
    pub holding: Option<Spanned<[Amps; 2]>>,
    /// Highest current while actuating (motor or release pulse).
    #[serde(default)]
    pub actuation_peak: Option<Amps>,
    /// Longest time the actuation current may flow for one operation.
    #[serde(default, deserialize_with = "units::opt_positive_duration")]
    pub actuation_time: Option<Duration>,
}

/// Battery figures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatterySpec {
    /// Low-battery warning thresholds, falling, in the order the warnings must come
    /// (`LOWBAT 1`, `LOWBAT 2`).
    pub warnings: Spanned<Vec<Volts>>,
    /// Below this the electronics stop operating the bolt (`CUTOFF`).
    pub cutoff: Spanned<Volts>,
    /// Declared accuracy of the thresholds.
    pub tolerance: Volts,
    /// Rated capacity of the pack, in ampere-hours (written `"2500mAh"` or `"2.5Ah"`).
    #[serde(rename = "capacity", deserialize_with = "amp_hours")]
    pub capacity_ah: f64,
    /// Lock and unlock operations a day, for the battery-life estimate.
    pub operations_per_day: u32,
    /// The battery life the product claims, in days.
    pub life_days: u32,
}

fn amp_hours<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = String::deserialize(d)?;
    let amps = text
        .strip_suffix('h')
        .and_then(|a| Amps::parse(a).ok())
        .filter(|a| a.0 > 0.0)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected a capacity like \"2500mAh\" or \"2.5Ah\", found `{text}`"
            ))
        })?;
    Ok(amps.0)
}

/// The emergency power port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencySpec {
    /// The connector (`usb-c`, `micro-usb`, `9v-terminals`).
    pub port: String,
    /// The voltage to inject (USB VBUS: 5 V).
    pub volts: Volts,
    /// The current limit to inject with.
    pub current_limit: Amps,
    /// From injection to a board that accepts a credential.
    #[serde(deserialize_with = "units::positive_duration")]
    pub boot_within: Duration,
    /// From a valid credential to unlocked.
    #[serde(deserialize_with = "units::positive_duration")]
    pub unlock_within: Duration,
}

/// The fire-alarm input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FireSpec {
    /// The lock releases when the loop opens (fail-safe and hybrid openings); false for
    /// fail-secure perimeter openings whose controller only reports the alarm.
    pub releases: bool,
    /// Release bound after the loop opens.
    #[serde(default, deserialize_with = "units::opt_positive_duration")]
    pub release_within: Option<Duration>,
    /// The lock relocks by itself when the loop restores.
    #[serde(default)]
    pub relock_on_restore: bool,
    /// How long the fire checks hold the loop open: longer than any timer the product
    /// runs (REX hold, auto-relock, delayed egress), so a timer that relocks the door
    /// during an alarm is seen.
    #[serde(deserialize_with = "units::positive_duration")]
    pub hold: Duration,
}

/// Request-to-exit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RexSpec {
    /// The door stays unlocked at least this long after a press (IBC 2021 1010.2.12,
    /// NFPA 101 7.2.1.6.2: 30 s).
    #[serde(deserialize_with = "units::positive_duration")]
    pub hold_min: Duration,
    /// Release bound after the press.
    #[serde(deserialize_with = "units::positive_duration")]
    pub release_within: Duration,
    /// The lock is secure again at most this long after the press.
    #[serde(deserialize_with = "units::positive_duration")]
    pub hold_max: Duration,
}

/// Delayed egress.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayedEgressSpec {
    /// The irreversible release comes within this time of the egress attempt (15 s;
    /// 30 s where the authority approves).
    #[serde(deserialize_with = "units::positive_duration")]
    pub delay: Duration,
    /// Effort applied at most this long starts the release (3 s).
    #[serde(deserialize_with = "units::positive_duration")]
    pub effort: Duration,
}

/// Firmware update support.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSpec {
    /// Declared time an update takes to write.
    #[serde(deserialize_with = "units::positive_duration")]
    pub write_time: Duration,
}

/// A board property the simulator picks within a spread: one value (`"200ms"`) or
/// `[low, high]` (`["150ms", "250ms"]`), chosen per run from the seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread<T> {
    /// Lowest value.
    pub low: T,
    /// Highest value.
    pub high: T,
}

/// A quantity a [`Spread`] can pick between.
pub trait Lerp: Copy + PartialOrd {
    /// `self + (other - self) * t`.
    fn lerp(self, other: Self, t: f64) -> Self;
}

macro_rules! lerp_quantity {
    ($($ty:ident),*) => {$(
        impl Lerp for $ty {
            fn lerp(self, other: Self, t: f64) -> Self {
                $ty(self.0 + (other.0 - self.0) * t)
            }
        }
    )*};
}
lerp_quantity!(Volts, Amps, Ohms);

pub use crate::units::Time;

impl Lerp for Time {
    fn lerp(self, other: Self, t: f64) -> Self {
        Time(self.0 + (other.0.saturating_sub(self.0)).mul_f64(t))
    }
}

impl<T: Lerp> Spread<T> {
    /// The value at `t` in 0..=1 of the spread.
    pub fn at(&self, t: f64) -> T {
        self.low.lerp(self.high, t.clamp(0.0, 1.0))
    }
}

impl<'de, T: Lerp + Deserialize<'de>> Deserialize<'de> for Spread<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form<T> {
            One(T),
            Two([T; 2]),
        }
        let (low, high) = match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a value with its unit, or [low, high] (like [\"150ms\", \"250ms\"])",
            )
        })? {
            Form::One(v) => (v, v),
            Form::Two([a, b]) => (a, b),
        };
        if low > high {
            return Err(serde::de::Error::custom(
                "expected [low, high] with low <= high",
            ));
        }
        Ok(Self { low, high })
    }
}

/// The board the built-in simulator builds for this profile. Every figure is the
/// board's own property, somewhere in its spread; none is a limit a check judges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimModel {
    /// The electronics' brown-out reset threshold, falling.
    pub bor: Spread<Volts>,
    /// From power-good to a running board.
    pub boot_time: Spread<Time>,
    /// Electronics current while running.
    pub electronics_current: Spread<Amps>,
    /// Motor current while the bolt moves (motorised locks).
    #[serde(default)]
    pub motor_current: Option<Spread<Amps>>,
    /// Time for the bolt to travel (motorised locks).
    #[serde(default)]
    pub motor_time: Option<Spread<Time>>,
    /// Coil resistance (maglocks, strikes).
    #[serde(default)]
    pub coil_resistance: Option<Spread<Ohms>>,
    /// Below this coil voltage a maglock or fail-safe strike no longer holds.
    #[serde(default)]
    pub hold_min: Option<Spread<Volts>>,
    /// How long the armature or keeper keeps holding after the coil is cut (the
    /// suppression diode slows the field's collapse).
    #[serde(default)]
    pub release_time: Option<Spread<Time>>,
    /// The firmware's low-battery thresholds, in stage order.
    #[serde(default)]
    pub lowbat: Option<Vec<Spread<Volts>>>,
    /// The firmware's cutoff threshold.
    #[serde(default)]
    pub cutoff: Option<Spread<Volts>>,
    /// The firmware relocks (or ends the release pulse) this long after an unlock.
    #[serde(default)]
    pub auto_relock: Option<Spread<Time>>,
    /// How long an emergency-power session accepts a credential.
    #[serde(default)]
    pub auth_window: Option<Spread<Time>>,
    /// How long the REX timer holds the lock released.
    #[serde(default)]
    pub rex_hold: Option<Spread<Time>>,
    /// The delayed-egress timer.
    #[serde(default)]
    pub egress_delay: Option<Spread<Time>>,
    /// How long writing an update takes.
    #[serde(default)]
    pub update_time: Option<Spread<Time>>,
}

/// A value a suite can refer to by name (`nominal`, `ready_within`, `holding_current`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProfileValue {
    /// A voltage.
    Volts(Volts),
    /// A current.
    Amps(Amps),
    /// A time.
    Duration(Duration),
    /// An inclusive current range.
    AmpsRange(Amps, Amps),
}

/// The built-in device profiles, shipped in `fixtures/devices/`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "smartlock_4aa",
        include_str!("../../fixtures/devices/smartlock_4aa.toml"),
    ),
    (
        "maglock_12v",
        include_str!("../../fixtures/devices/maglock_12v.toml"),
    ),
    (
        "strike_fail_secure_12v",
        include_str!("../../fixtures/devices/strike_fail_secure_12v.toml"),
    ),
    (
        "strike_fail_safe_24v",
        include_str!("../../fixtures/devices/strike_fail_safe_24v.toml"),
    ),
    (
        "hybrid_12v",
        include_str!("../../fixtures/devices/hybrid_12v.toml"),
    ),
    (
        "maglock_delayed_egress_24v",
        include_str!("../../fixtures/devices/maglock_delayed_egress_24v.toml"),
    ),
];

/// What a profile says the product has, for a check's `requires`.
pub const FEATURES: &[(&str, &str)] = &[
    ("console", "a console the rig can query"),
    (
        "motor",
        "a motorised bolt or a controller that actuates on command",
    ),
    ("battery", "a battery with low-battery warnings"),
    ("emergency", "an emergency power port"),
    ("fire", "a fire-alarm input"),
    ("fire_release", "release on fire alarm"),
    ("fire_relock", "relock when the fire-alarm loop restores"),
    (
        "no_fire_release",
        "a fire input that must not release (fail-secure perimeter)",
    ),
    ("rex", "request-to-exit"),
    (
        "holds_in_reset",
        "holds the door with its controller in reset (a tenth above supply.holds_down_to is below reset_below)",
    ),
    ("delayed_egress", "delayed egress"),
    ("holding", "holding current while locked"),
    ("update", "firmware update"),
    ("key_override", "a mechanical key override"),
    ("fail_safe", "releases on power loss"),
    ("fail_secure", "stays locked on power loss"),
    (
        "mechanical_egress",
        "an interior handle that withdraws the latch mechanically",
    ),
];

impl DeviceProfile {
    /// Loads a profile from a path, or a built-in profile by name.
    pub fn load(name_or_path: &str) -> Result<Self, ConfigError> {
        Self::from_source(&Source::named(
            name_or_path,
            "device profile",
            "fixtures/devices",
            BUILTIN,
        )?)
    }

    /// All built-in profiles.
    pub fn builtin_all() -> Result<Vec<Self>, ConfigError> {
        BUILTIN
            .iter()
            .map(|(name, text)| {
                Self::from_source(&Source::builtin(
                    &format!("fixtures/devices/{name}.toml"),
                    text,
                ))
            })
            .collect()
    }

    /// Parses and validates a profile.
    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let mut profile: Self = source.parse()?;
        profile.validate(source)?;
        profile.source = source.clone();
        Ok(profile)
    }

    fn validate(&self, source: &Source) -> Result<(), ConfigError> {
        let at = |span: std::ops::Range<usize>, field: &str, msg: String| {
            Err(source.error(span, format!("field `{field}`: {msg}")))
        };
        let s = &self.supply;
        for (field, v) in [
            ("nominal", &s.nominal),
            ("min_operating", &s.min_operating),
            ("max", &s.max),
            ("reset_below", &s.reset_below),
        ] {
            if v.get_ref().0 <= 0.0 {
                return at(
                    v.span(),
                    field,
                    format!("must be positive, found {}", v.get_ref()),
                );
            }
        }
        if let Some(h) = &s.holds_down_to {
            if h.get_ref().0 <= 0.0 || h.get_ref() > s.max.get_ref() {
                return at(
                    h.span(),
                    "holds_down_to",
                    format!(
                        "expected above 0 V and at most max ({}), found {}",
                        s.max.get_ref(),
                        h.get_ref()
                    ),
                );
            }
        }
        if s.current_limit.get_ref().0 <= 0.0 {
            return at(
                s.current_limit.span(),
                "current_limit",
                "must be positive".into(),
            );
        }
        if s.reset_below.get_ref() >= s.min_operating.get_ref() {
            return at(
                s.reset_below.span(),
                "reset_below",
                format!(
                    "expected below min_operating ({}), found {}",
                    s.min_operating.get_ref(),
                    s.reset_below.get_ref()
                ),
            );
        }
        if !(s.min_operating.get_ref() <= s.nominal.get_ref()
            && s.nominal.get_ref() <= s.max.get_ref())
        {
            return at(
                s.nominal.span(),
                "nominal",
                format!(
                    "expected min_operating <= nominal <= max, found {} / {} / {}",
                    s.min_operating.get_ref(),
                    s.nominal.get_ref(),
                    s.max.get_ref()
                ),
            );
        }
        let pair = |v: &Spanned<[Amps; 2]>, field: &str| {
            let [lo, hi] = *v.get_ref();
            if lo.0 < 0.0 || lo > hi {
                return at(
                    v.span(),
                    field,
                    format!("expected [low, high] with 0 <= low <= high, found [{lo}, {hi}]"),
                );
            }
            Ok(())
        };
        pair(&self.current.standby, "standby")?;
        // A board with electronics that answer draws something when powered: a standby
        // window down to 0 A would pass a dead or disconnected board. (A bare magnet
        // with its coil off may truly draw nothing.)
        let [low, high] = *self.current.standby.get_ref();
        if self.console && low.0 <= 0.0 {
            return at(
                self.current.standby.span(),
                "standby",
                format!("expected a low bound above 0 A for a board with a console (its electronics draw current when powered), found [{low}, {high}]"),
            );
        }
        if let Some(h) = &self.current.holding {
            pair(h, "holding")?;
        }
        let whole = 0..source.text.len().min(1);
        if self.power_loss == PowerLossMode::FailSafe && self.timing.release_within.is_none() {
            return at(
                whole,
                "timing.release_within",
                "a fail_safe device needs it (its release bound on power loss)".into(),
            );
        }
        if self.console && self.timing.actuation_within.is_none() {
            return at(
                whole,
                "timing.actuation_within",
                "a device with a console actuates on command and needs its actuation bound".into(),
            );
        }
        if let Some(b) = &self.battery {
            let w = b.warnings.get_ref();
            if w.is_empty() || w.windows(2).any(|p| p[1] >= p[0]) {
                return at(
                    b.warnings.span(),
                    "warnings",
                    "expected one or more thresholds, falling (stage 1 first)".into(),
                );
            }
            if w.last().is_some_and(|l| l <= b.cutoff.get_ref()) {
                return at(
                    b.cutoff.span(),
                    "cutoff",
                    "expected below the last warning threshold".into(),
                );
            }
        }
        if self.egress == Egress::Delayed && self.delayed_egress.is_none() {
            return at(
                whole,
                "delayed_egress",
                "egress = \"delayed\" needs a [delayed_egress] section with delay and effort"
                    .into(),
            );
        }
        if let Some(f) = &self.fire {
            if f.releases && f.release_within.is_none() {
                return at(
                    whole,
                    "fire.release_within",
                    "a fire input that releases needs its release bound".into(),
                );
            }
            let timers = [
                Some(self.timing.relock_within),
                self.rex.as_ref().map(|r| r.hold_max),
                self.delayed_egress.as_ref().map(|d| d.delay),
            ];
            if let Some(longest) = timers.into_iter().flatten().max().filter(|t| f.hold <= *t) {
                return at(
                    whole,
                    "fire.hold",
                    format!(
                        "expected longer than every timer the product runs ({}), found {}",
                        units::format_duration(longest),
                        units::format_duration(f.hold)
                    ),
                );
            }
        }
        if let Some(r) = &self.rex {
            if r.hold_max < r.hold_min {
                return at(
                    whole,
                    "rex.hold_max",
                    "expected at least rex.hold_min".into(),
                );
            }
        }
        // What the design brief requires of each class (section 2): a profile cannot
        // leave out the behaviour its class must have, and so the check for it.
        let fire_release = self.fire.as_ref().is_some_and(|f| f.releases);
        let class_rule = match self.class {
            DeviceClass::Maglock if self.power_loss != PowerLossMode::FailSafe => {
                Some("a maglock is fail_safe by construction")
            }
            DeviceClass::Maglock if !fire_release => {
                Some("a maglock must release on fire alarm: add [fire] with releases = true")
            }
            DeviceClass::Maglock if self.rex.is_none() && self.egress != Egress::Delayed => Some(
                "a maglock needs request-to-exit (IBC 1010.2.12): add [rex], or egress = \"delayed\"",
            ),
            DeviceClass::Maglock if self.rex.is_some() && self.supply.holds_down_to.is_none() => Some(
                "a maglock with REX declares supply.holds_down_to, the lowest supply at which its magnet holds with the controller in reset (its drop-out): the REX button must cut the magnet's power directly (IBC 1010.2.12), and is tried there",
            ),
            DeviceClass::Maglock if self.current.holding.is_none() => {
                Some("a maglock draws holding current: add current.holding")
            }
            DeviceClass::Hybrid if !fire_release => {
                Some("a hybrid releases on fire alarm: add [fire] with releases = true")
            }
            DeviceClass::Hybrid if self.power_loss != PowerLossMode::FailSecure => {
                Some("a hybrid stays locked on power loss: power_loss = \"fail_secure\"")
            }
            DeviceClass::BatterySmartLock if self.battery.is_none() => {
                Some("a battery smart lock needs [battery] (warning thresholds and cutoff)")
            }
            _ => None,
        };
        if let Some(rule) = class_rule {
            return at(whole, "class", rule.into());
        }
        Ok(())
    }

    /// The product features this profile declares, by the names in [`FEATURES`].
    pub fn has(&self, feature: &str) -> bool {
        match feature {
            "console" => self.console,
            "motor" => self.console && self.timing.actuation_within.is_some(),
            "battery" => self.battery.is_some(),
            "emergency" => self.emergency.is_some(),
            "fire" => self.fire.is_some(),
            "fire_release" => self.fire.as_ref().is_some_and(|f| f.releases),
            "fire_relock" => self
                .fire
                .as_ref()
                .is_some_and(|f| f.releases && f.relock_on_restore),
            "no_fire_release" => self.fire.as_ref().is_some_and(|f| !f.releases),
            "rex" => self.rex.is_some(),
            // Room to try the lock a tenth above its drop-out, below its reset.
            "holds_in_reset" => self
                .supply
                .holds_down_to
                .as_ref()
                .is_some_and(|h| h.get_ref().0 * 1.1 < self.supply.reset_below.get_ref().0),
            "delayed_egress" => self.egress == Egress::Delayed,
            "holding" => self.current.holding.is_some(),
            "update" => self.update.is_some(),
            "key_override" => self.key_override,
            "fail_safe" => self.power_loss == PowerLossMode::FailSafe,
            "fail_secure" => self.power_loss == PowerLossMode::FailSecure,
            "mechanical_egress" => self.egress == Egress::Mechanical,
            _ => false,
        }
    }

    /// Looks up a named value for suite expressions.
    pub fn value(&self, name: &str) -> Option<ProfileValue> {
        use ProfileValue as P;
        let t = &self.timing;
        let range = |r: &Spanned<[Amps; 2]>| {
            let [lo, hi] = *r.get_ref();
            P::AmpsRange(lo, hi)
        };
        Some(match name {
            "nominal" => P::Volts(*self.supply.nominal.get_ref()),
            "min_operating" => P::Volts(*self.supply.min_operating.get_ref()),
            "max" => P::Volts(*self.supply.max.get_ref()),
            "reset_below" => P::Volts(*self.supply.reset_below.get_ref()),
            "holds_down_to" => P::Volts(*self.supply.holds_down_to.as_ref()?.get_ref()),
            "current_limit" => P::Amps(*self.supply.current_limit.get_ref()),
            "ready_within" => P::Duration(t.ready_within),
            "actuation_within" => P::Duration(t.actuation_within?),
            "release_within" => P::Duration(t.release_within?),
            "relock_within" => P::Duration(t.relock_within),
            "egress_within" => P::Duration(t.egress_within),
            "power_loss_hold" => P::Duration(t.power_loss_hold),
            "standby_current" => range(&self.current.standby),
            "holding_current" => range(self.current.holding.as_ref()?),
            "actuation_peak" => P::Amps(self.current.actuation_peak?),
            "actuation_time" => P::Duration(self.current.actuation_time?),
            "lowbat_1" => P::Volts(*self.battery.as_ref()?.warnings.get_ref().first()?),
            "lowbat_2" => P::Volts(*self.battery.as_ref()?.warnings.get_ref().get(1)?),
            "battery_cutoff" => P::Volts(*self.battery.as_ref()?.cutoff.get_ref()),
            "battery_tolerance" => P::Volts(self.battery.as_ref()?.tolerance),
            "battery_life" => P::Duration(Duration::from_secs(
                u64::from(self.battery.as_ref()?.life_days) * 86_400,
            )),
            "emergency_volts" => P::Volts(self.emergency.as_ref()?.volts),
            "emergency_current" => P::Amps(self.emergency.as_ref()?.current_limit),
            "emergency_boot_within" => P::Duration(self.emergency.as_ref()?.boot_within),
            "emergency_unlock_within" => P::Duration(self.emergency.as_ref()?.unlock_within),
            "fire_release_within" => P::Duration(self.fire.as_ref()?.release_within?),
            "rex_hold_min" => P::Duration(self.rex.as_ref()?.hold_min),
            "rex_release_within" => P::Duration(self.rex.as_ref()?.release_within),
            "rex_hold_max" => P::Duration(self.rex.as_ref()?.hold_max),
            "fire_hold" => P::Duration(self.fire.as_ref()?.hold),
            "egress_delay" => P::Duration(self.delayed_egress.as_ref()?.delay),
            "egress_effort" => P::Duration(self.delayed_egress.as_ref()?.effort),
            "update_time" => P::Duration(self.update.as_ref()?.write_time),
            _ => return None,
        })
    }

    /// The names [`value`](Self::value) understands, for error messages.
    pub const VALUE_NAMES: &'static [&'static str] = &[
        "nominal",
        "min_operating",
        "max",
        "reset_below",
        "holds_down_to",
        "current_limit",
        "ready_within",
        "actuation_within",
        "release_within",
        "relock_within",
        "egress_within",
        "power_loss_hold",
        "standby_current",
        "holding_current",
        "actuation_peak",
        "actuation_time",
        "lowbat_1",
        "lowbat_2",
        "battery_cutoff",
        "battery_tolerance",
        "battery_life",
        "emergency_volts",
        "emergency_current",
        "emergency_boot_within",
        "emergency_unlock_within",
        "fire_release_within",
        "rex_hold_min",
        "rex_release_within",
        "rex_hold_max",
        "fire_hold",
        "egress_delay",
        "egress_effort",
        "update_time",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load_and_cover_the_classes() {
        let all = DeviceProfile::builtin_all().unwrap();
        assert!(all.len() >= 5);
        for class in [
            DeviceClass::Maglock,
            DeviceClass::ElectricStrike,
            DeviceClass::BatterySmartLock,
            DeviceClass::Hybrid,
        ] {
            assert!(all.iter().any(|p| p.class == class), "{class:?}");
        }
        assert!(all
            .iter()
            .any(|p| p.power_loss == PowerLossMode::FailSecure));
        assert!(all.iter().any(|p| p.power_loss == PowerLossMode::FailSafe));
        for p in &all {
            assert!(p.sim.is_some(), "{} is simulated", p.name);
            for name in DeviceProfile::VALUE_NAMES {
                // Every name resolves or is absent; none panics.
                let _ = p.value(name);
            }
        }
    }

    /// The built-in smart-lock profile with one edit; the edit must apply.
    fn profile_with(from: &str, to: &str) -> Result<DeviceProfile, ConfigError> {
        assert!(BUILTIN[0].1.contains(from), "fixture lacks {from}");
        DeviceProfile::from_source(&Source::builtin(
            "d.toml",
            &BUILTIN[0].1.replacen(from, to, 1),
        ))
    }

    fn maglock_with(from: &str, to: &str) -> Result<DeviceProfile, ConfigError> {
        assert!(BUILTIN[1].1.contains(from), "fixture lacks {from}");
        DeviceProfile::from_source(&Source::builtin(
            "m.toml",
            &BUILTIN[1].1.replacen(from, to, 1),
        ))
    }

    #[test]
    fn a_maglock_with_rex_declares_where_its_magnet_holds_without_its_controller() {
        let line = "holds_down_to = \"4.5V\"";
        let p = maglock_with(line, line).unwrap();
        assert!(p.has("holds_in_reset"));
        let msg = maglock_with(line, "").unwrap_err().to_string();
        assert!(msg.contains("holds_down_to"), "{msg}");
        assert!(msg.contains("1010.2.12"), "{msg}");
        let msg = maglock_with(line, "holds_down_to = \"-1V\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("m.toml:"), "{msg}");
        assert!(
            msg.contains("field `holds_down_to`: expected above 0 V"),
            "{msg}"
        );
        // A magnet that lets go above its controller's reset, or too close below it to
        // be tried a tenth above its drop-out, cannot be tried with the controller down:
        // the check does not apply, and says why by its feature.
        for above in ["9V", "7.5V"] {
            let p = maglock_with(line, &format!("holds_down_to = \"{above}\"")).unwrap();
            assert!(!p.has("holds_in_reset"), "{above}");
        }
    }

    #[test]
    fn unknown_field_is_located() {
        let msg = profile_with("console = true", "console = true\nbogus = 1")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("d.toml:"), "{msg}");
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn bare_number_is_refused_with_a_hint() {
        let msg = profile_with("nominal = \"6.0V\"", "nominal = 6.0")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no unit"), "{msg}");
    }

    #[test]
    fn inconsistent_supply_figures_point_at_the_field() {
        let text = BUILTIN[0]
            .1
            .replacen("reset_below = \"3.0V\"", "reset_below = \"9.0V\"", 1);
        let line = text
            .lines()
            .position(|l| l.starts_with("reset_below"))
            .unwrap()
            + 1;
        let msg = DeviceProfile::from_source(&Source::builtin("d.toml", &text))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&format!("d.toml:{line}:")), "{msg}");
        assert!(msg.contains("reset_below"), "{msg}");
    }

    #[test]
    fn negative_reset_threshold_is_refused_as_not_positive() {
        let msg = profile_with("reset_below = \"3.0V\"", "reset_below = \"-1V\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("must be positive"), "{msg}");
    }

    #[test]
    fn spreads_read_one_value_or_a_pair() {
        #[derive(Deserialize)]
        struct S {
            a: Spread<Time>,
            b: Spread<Volts>,
        }
        let s: S = toml::from_str("a = \"200ms\"\nb = [\"2.6V\", \"2.8V\"]").unwrap();
        assert_eq!(s.a.at(0.5).0, Duration::from_millis(200));
        assert!((s.b.at(0.5).0 - 2.7).abs() < 1e-9);
        assert!(toml::from_str::<S>("a = \"200ms\"\nb = [\"2.8V\", \"2.6V\"]").is_err());
    }
}
