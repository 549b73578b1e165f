//! The simulated board's own properties, picked from a profile's `[sim]` spreads with a
//! seed. They are what the board *is*; the profile's bounds are what it *should be*,
//! and the checks judge the one against the other.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::device::{
    DeviceClass, DeviceProfile, Egress, Lerp, PowerLossMode, Spread, Time,
};

/// What locks the door.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mechanism {
    /// A motorised bolt: stays where it is without power (battery locks, hybrids).
    MotorBolt {
        /// Motor current while moving, in amperes.
        motor_a: f64,
        /// Bolt travel time.
        motor_time: Duration,
    },
    /// An electromagnet: holds only while its coil is energised (maglocks).
    Magnet,
    /// A solenoid strike. `fail_safe`: the energised solenoid holds the keeper;
    /// otherwise the energised solenoid frees it.
    Strike {
        /// Fail-safe (energise to lock) or fail-secure (energise to release).
        fail_safe: bool,
    },
}

/// A simulated board's properties.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Profile name, for the firmware's version string.
    pub profile: String,
    /// What locks the door.
    pub mechanism: Mechanism,
    /// Brown-out reset threshold of the electronics, falling, in volts.
    pub bor: f64,
    /// Power-good to running.
    pub boot_time: Duration,
    /// Electronics current while running, in amperes.
    pub electronics_a: f64,
    /// Coil resistance (magnets, strikes), in ohms.
    pub coil_ohm: f64,
    /// Coil voltage needed to hold (magnet, fail-safe strike) or to pull in
    /// (fail-secure strike).
    pub hold_v: f64,
    /// How long the armature or keeper stays put after the coil drops.
    pub release_time: Duration,
    /// The board has a console.
    pub console: bool,
    /// How the inside gets out.
    pub egress: Egress,
    /// Battery firmware: warning thresholds (stage order) and cutoff, in volts.
    pub battery: Option<(Vec<f64>, f64)>,
    /// The emergency port exists.
    pub emergency_port: bool,
    /// Fire input: (wired, releases, relocks on restore).
    pub fire: (bool, bool, bool),
    /// REX timer length, where the board has REX.
    pub rex_hold: Option<Duration>,
    /// Auto-relock (or release-pulse) time after an unlock.
    pub auto_relock: Duration,
    /// Emergency session length.
    pub auth_window: Duration,
    /// Delayed-egress timer.
    pub egress_delay: Duration,
    /// Update write time, where updates are supported.
    pub update_time: Option<Duration>,
    /// Key override exists.
    pub key_override: bool,
    /// The profile's specified minimum operating voltage: only defects use it, to
    /// misbehave where the specification says the board must still work.
    pub min_operating: f64,
}

/// Why a board cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("device `{profile}`: {message}")]
pub struct SpecError {
    /// The profile.
    pub profile: String,
    /// What is missing.
    pub message: String,
}

impl Spec {
    /// Picks a board's properties from `profile`'s `[sim]` section with `seed`.
    pub fn pick(profile: &DeviceProfile, seed: u64) -> Result<Self, SpecError> {
        let err = |message: String| SpecError {
            profile: profile.name.clone(),
            message,
        };
        let sim = profile.sim.as_ref().ok_or_else(|| {
            err("the profile has no [sim] section, so the simulator cannot build it".into())
        })?;
        // One stream per (seed, profile): boards of different profiles differ, and
        // the same seed rebuilds the same board.
        let mut rng = Picker(ChaCha8Rng::seed_from_u64(seed ^ fnv(&profile.name)));
        let need = |what: &str| {
            err(format!(
                "its [sim] section needs `{what}` for a {:?}",
                profile.class
            ))
        };
        let mechanism = match (profile.class, profile.power_loss) {
            (DeviceClass::Maglock, _) => Mechanism::Magnet,
            (DeviceClass::ElectricStrike, mode) => Mechanism::Strike {
                fail_safe: mode == PowerLossMode::FailSafe,
            },
            (DeviceClass::BatterySmartLock | DeviceClass::Hybrid, _) => Mechanism::MotorBolt {
                motor_a: rng
                    .pick(
                        sim.motor_current
                            .as_ref()
                            .ok_or_else(|| need("motor_current"))?,
                    )
                    .0,
                motor_time: rng
                    .pick(sim.motor_time.as_ref().ok_or_else(|| need("motor_time"))?)
                    .0,
            },
        };
        let bor = rng.pick(&sim.bor).0;
        let boot_time = rng.pick(&sim.boot_time).0;
        let electronics_a = rng.pick(&sim.electronics_current).0;
        let (coil_ohm, hold_v, release_time) = if matches!(mechanism, Mechanism::MotorBolt { .. }) {
            (f64::INFINITY, 0.0, Duration::ZERO)
        } else {
            let ohm = sim
                .coil_resistance
                .as_ref()
                .ok_or_else(|| need("coil_resistance"))?;
            let hold = sim.hold_min.as_ref().ok_or_else(|| need("hold_min"))?;
            let release = sim
                .release_time
                .as_ref()
                .ok_or_else(|| need("release_time"))?;
            (rng.pick(ohm).0, rng.pick(hold).0, rng.pick(release).0)
        };
        let battery = match &profile.battery {
            Some(_) => {
                let stages = sim.lowbat.as_ref().ok_or_else(|| need("lowbat"))?;
                let warnings = stages.iter().map(|s| rng.pick(s).0).collect();
                let cutoff = rng
                    .pick(sim.cutoff.as_ref().ok_or_else(|| need("cutoff"))?)
                    .0;
                Some((warnings, cutoff))
            }
            None => None,
        };
        // A timing property the board needs only when the profile has the feature.
        let mut timer = |s: &Option<Spread<Time>>, needed: bool, what: &str| match s {
            Some(s) => Ok(rng.pick(s).0),
            None if needed => Err(need(what)),
            None => Ok(Duration::ZERO),
        };
        let rex_hold = timer(&sim.rex_hold, profile.rex.is_some(), "rex_hold")?;
        let auto_relock = timer(&sim.auto_relock, profile.console, "auto_relock")?;
        let auth_window = timer(&sim.auth_window, profile.emergency.is_some(), "auth_window")?;
        let egress_delay = timer(
            &sim.egress_delay,
            profile.egress == Egress::Delayed,
            "egress_delay",
        )?;
        let update_time = timer(&sim.update_time, profile.update.is_some(), "update_time")?;
        let fire = profile.fire.as_ref().map_or((false, false, false), |f| {
            (true, f.releases, f.relock_on_restore)
        });
        Ok(Self {
            profile: profile.name.clone(),
            mechanism,
            bor,
            boot_time,
            electronics_a,
            coil_ohm,
            hold_v,
            release_time,
            console: profile.console,
            egress: profile.egress,
            battery,
            emergency_port: profile.emergency.is_some(),
            fire,
            rex_hold: profile.rex.is_some().then_some(rex_hold),
            auto_relock,
            auth_window,
            egress_delay,
            update_time: profile.update.is_some().then_some(update_time),
            key_override: profile.key_override,
            min_operating: profile.supply.min_operating.get_ref().0,
        })
    }
}

/// Draws a board property from its spread.
struct Picker(ChaCha8Rng);

impl Picker {
    fn pick<T: Lerp>(&mut self, s: &Spread<T>) -> T {
        s.at(self.0.random::<f64>())
    }
}

/// FNV-1a, to fold a profile name into the seed.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
