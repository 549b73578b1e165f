//! Device profiles: which class and power-loss mode a lock board has, and the bounds
//! its checks use (`fixtures/devices/*.toml`).

use std::time::Duration;

use serde::Deserialize;

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

/// What the lock does when it loses power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerLossMode {
    /// Releases (unlocks) on power loss.
    FailSafe,
    /// Stays locked on power loss.
    FailSecure,
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
    /// Whether the board has a line console the rig can query.
    #[serde(default)]
    pub console: bool,
    /// Supply figures.
    pub supply: SupplySpec,
    /// Timing bounds.
    pub timing: TimingSpec,
    /// Current bounds.
    pub current: CurrentSpec,
    /// How the built-in simulator models this board; ignored on a real bench.
    pub sim: SimModel,
}

/// Supply figures of a board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplySpec {
    /// Nominal supply (or battery) voltage.
    pub nominal: Volts,
    /// Lowest voltage at which the board is specified to operate.
    pub min_operating: Volts,
    /// Highest voltage the board tolerates.
    pub max: Volts,
    /// Current limit to program on the supply that feeds it.
    pub current_limit: Amps,
    /// Below this the board's brown-out reset trips (a design figure used to pick sag depths).
    pub reset_below: Volts,
}

/// Timing bounds of a board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    /// After power is applied or restored, the board is responsive within this time.
    #[serde(deserialize_with = "units::duration")]
    pub ready_within: Duration,
    /// A fail-safe lock releases within this time of losing power.
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub release_within: Option<Duration>,
}

/// Current bounds of a board, each an inclusive `[low, high]` pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentSpec {
    /// Idle current while powered and locked.
    pub standby: [Amps; 2],
    /// Holding current (maglocks, fail-safe strikes).
    #[serde(default)]
    pub holding: Option<[Amps; 2]>,
}

/// The electrical and mechanical model the simulator builds for this board.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimModel {
    /// Time from power-good to a responsive board.
    #[serde(deserialize_with = "units::duration")]
    pub boot_time: Duration,
    /// Electronics current while running.
    pub electronics_current: Amps,
    /// Motor current while the bolt moves (smart locks).
    #[serde(default)]
    pub motor_current: Option<Amps>,
    /// Time for the bolt to travel (smart locks).
    #[serde(default, deserialize_with = "units::opt_duration")]
    pub motor_time: Option<Duration>,
    /// Coil resistance (maglocks).
    #[serde(default)]
    pub coil_resistance: Option<Ohms>,
    /// Below this coil voltage a maglock no longer holds the door.
    #[serde(default)]
    pub hold_min: Option<Volts>,
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
        let profile: Self = source.parse()?;
        profile.validate(source)?;
        Ok(profile)
    }

    fn validate(&self, source: &Source) -> Result<(), ConfigError> {
        let err = |field: &str, msg: String| {
            let at = source.text.find(&format!("{field} ")).unwrap_or(0);
            Err(source.error(at..at, format!("field `{field}`: {msg}")))
        };
        let s = &self.supply;
        if !(s.reset_below < s.min_operating && s.min_operating <= s.nominal && s.nominal <= s.max)
        {
            return err(
                "nominal",
                format!(
                    "expected reset_below < min_operating <= nominal <= max, found {} / {} / {} / {}",
                    s.reset_below, s.min_operating, s.nominal, s.max
                ),
            );
        }
        if self.current.standby[0] > self.current.standby[1] {
            return err("standby", "expected [low, high] with low <= high".into());
        }
        if let Some([lo, hi]) = self.current.holding {
            if lo > hi {
                return err("holding", "expected [low, high] with low <= high".into());
            }
        }
        if self.power_loss == PowerLossMode::FailSafe && self.timing.release_within.is_none() {
            return err(
                "power_loss",
                "a fail_safe device needs `timing.release_within`".into(),
            );
        }
        if self.class == DeviceClass::Maglock
            && (self.sim.coil_resistance.is_none() || self.sim.hold_min.is_none())
        {
            return err(
                "class",
                "a maglock's [sim] needs `coil_resistance` and `hold_min`".into(),
            );
        }
        if self.class == DeviceClass::BatterySmartLock
            && (self.sim.motor_current.is_none() || self.sim.motor_time.is_none())
        {
            return err(
                "class",
                "a battery smart lock's [sim] needs `motor_current` and `motor_time`".into(),
            );
        }
        Ok(())
    }

    /// Looks up a named value for suite expressions.
    pub fn value(&self, name: &str) -> Option<ProfileValue> {
        use ProfileValue as P;
        Some(match name {
            "nominal" => P::Volts(self.supply.nominal),
            "min_operating" => P::Volts(self.supply.min_operating),
            "max" => P::Volts(self.supply.max),
            "reset_below" => P::Volts(self.supply.reset_below),
            "current_limit" => P::Amps(self.supply.current_limit),
            "ready_within" => P::Duration(self.timing.ready_within),
            "release_within" => P::Duration(self.timing.release_within?),
            "standby_current" => P::AmpsRange(self.current.standby[0], self.current.standby[1]),
            "holding_current" => {
                let [lo, hi] = self.current.holding?;
                P::AmpsRange(lo, hi)
            }
            _ => return None,
        })
    }

    /// The names [`value`](Self::value) understands, for error messages.
    pub const VALUE_NAMES: &'static [&'static str] = &[
        "nominal",
        "min_operating",
        "max",
        "reset_below",
        "current_limit",
        "ready_within",
        "release_within",
        "standby_current",
        "holding_current",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_load() {
        let all = DeviceProfile::builtin_all().unwrap();
        assert!(all
            .iter()
            .any(|p| p.power_loss == PowerLossMode::FailSecure));
        assert!(all.iter().any(|p| p.power_loss == PowerLossMode::FailSafe));
    }

    /// The built-in smart-lock profile with one edit; the edit must apply.
    fn profile_with(from: &str, to: &str) -> Result<DeviceProfile, ConfigError> {
        assert!(BUILTIN[0].1.contains(from), "fixture lacks {from}");
        DeviceProfile::from_source(&Source::builtin(
            "d.toml",
            &BUILTIN[0].1.replacen(from, to, 1),
        ))
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
    fn inconsistent_supply_figures_are_refused() {
        let msg = profile_with("reset_below = \"3.0V\"", "reset_below = \"9.0V\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("reset_below < min_operating"), "{msg}");
    }
}
