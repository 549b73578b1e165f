//! The test list: every (check x device x repetition) with its resolved steps, built
//! and checked against the rig before anything runs.

use std::sync::Arc;

use crate::config::device::DeviceProfile;
use crate::config::rig::Rig;
use crate::config::ConfigError;
use crate::scenario::step::{Ready, Step};
use crate::scenario::suite::{Check, Suite};
use crate::units::{Amps, Volts};

/// One trial: a check on a device, possibly one cycle of a repetition.
#[derive(Debug, Clone)]
pub struct Trial {
    /// `check::device` or `check::device::cycleN`.
    pub name: String,
    /// The check.
    pub check: Arc<Check>,
    /// The device.
    pub device: Arc<DeviceProfile>,
    /// 1-based cycle when `--repeat` is used.
    pub cycle: Option<u32>,
    /// Steps resolved against the device, shared by every cycle of a repetition (a
    /// 10,000-cycle soak holds them once).
    pub steps: Arc<[Step<Ready>]>,
    /// Roles the steps use that the rig does not map: the trial is skipped with this
    /// reason instead of failing.
    pub missing_roles: Arc<[String]>,
    /// Roles the rig does not map that a person at the bench can play (turning the key).
    pub by_hand: Arc<[String]>,
}

/// Builds the list of trials whose names `keep` accepts. Checks that do not apply to
/// a device produce no trial. Trials left out are never built, so a filtered soak
/// holds only its own cycles.
pub fn plan(
    suite: &Suite,
    devices: &[Arc<DeviceProfile>],
    repeat: u32,
    rig: &Rig,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Trial>, ConfigError> {
    let mut trials = Vec::new();
    for check in &suite.checks {
        check_state_names(suite, check, rig)?;
        let check = Arc::new(check.clone());
        for device in devices.iter().filter(|d| check.applies_to.covers(d)) {
            let steps: Arc<[Step<Ready>]> = suite.resolve(&check, device)?.into();
            let mut missing: Vec<String> = steps
                .iter()
                .filter_map(|s| s.role())
                .filter(|r| rig.role(r).is_none())
                .map(str::to_string)
                .collect();
            missing.sort();
            missing.dedup();
            let (by_hand, missing): (Vec<String>, Vec<String>) = missing
                .into_iter()
                .partition(|r| crate::config::rig::by_hand(r, true).is_some());
            // Shared by every cycle, like the steps.
            let (by_hand, missing): (Arc<[String]>, Arc<[String]>) =
                (by_hand.into(), missing.into());
            let base = format!("{}::{}", check.name, device.name);
            // A check's own `repeat` multiplies the run's.
            let cycles = repeat.saturating_mul(check.repeat);
            let width = cycles.to_string().len();
            for cycle in 1..=cycles {
                let name = if cycles > 1 {
                    format!("{base}::cycle{cycle:0width$}")
                } else {
                    base.clone()
                };
                if !keep(&name) {
                    continue;
                }
                trials.push(Trial {
                    name,
                    check: check.clone(),
                    device: device.clone(),
                    cycle: (cycles > 1).then_some(cycle),
                    steps: steps.clone(),
                    missing_roles: missing.clone(),
                    by_hand: by_hand.clone(),
                });
            }
        }
    }
    Ok(trials)
}

/// Whether the libtest arguments select a trial name (the filter, `--exact`,
/// `--skip`), as libtest itself selects them: the run's safety and secret checks apply
/// to these.
pub fn selects(args: &libtest_mimic::Arguments, name: &str) -> bool {
    let matches = |pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    args.filter.as_deref().is_none_or(matches) && !args.skip.iter().any(|s| matches(s))
}

/// Every trial: for callers that run the whole suite.
pub fn everything(_: &str) -> bool {
    true
}

/// Every `expect` on an input names one of the states the rig file gives that input.
fn check_state_names(suite: &Suite, check: &Check, rig: &Rig) -> Result<(), ConfigError> {
    for (_, step, span) in &check.steps {
        let Step::Expect { role, state, .. } = step else {
            continue;
        };
        let Some(spec) = rig.role(role) else { continue };
        let (Some(high), Some(low)) = (&spec.high, &spec.low) else {
            continue;
        };
        if state != high && state != low {
            return Err(suite.source.error(
                span.clone(),
                format!(
                    "check `{}`: `{role}` reads `{high}` or `{low}` on rig `{}`, not `{state}`",
                    check.name, rig.file.rig.name
                ),
            ));
        }
    }
    Ok(())
}

/// The voltages a step commands on a supply role, and the current limit it sets.
fn commanded(step: &Step<Ready>) -> Option<(&str, Vec<Volts>, Option<Amps>)> {
    Some(match step {
        Step::Set { role, volts, limit } => (role, vec![*volts], *limit),
        Step::Sag { role, to, .. } | Step::Ramp { role, to, .. } => (role, vec![*to], None),
        Step::Noise {
            role, around, by, ..
        } => (
            role,
            vec![Volts(around.0 + by.0), Volts(around.0 - by.0)],
            None,
        ),
        Step::Shmoo { role, from, to, .. } => (role, vec![*from, *to], None),
        Step::SagRandom { role, depth, .. } => (role, vec![depth.0, depth.1], None),
        _ => return None,
    })
}

/// The highest voltage the device itself takes on a supply role, if its profile says.
pub fn device_limit(device: &DeviceProfile, role: &str) -> Option<Volts> {
    match role {
        "main" | "sag" => Some(*device.supply.max.get_ref()),
        // USB Type-C VBUS goes to 5.5 V; a profile's emergency voltage plus 10 %.
        "emergency" => device.emergency.as_ref().map(|e| Volts(e.volts.0 * 1.1)),
        _ => None,
    }
}

/// Checks every step of every trial against the rig's envelope and the device's own
/// rating. Returns one line per refused step, naming the trial, the step, the value
/// and the limit.
pub fn check_envelope(trials: &[Trial], rig: &Rig) -> Vec<String> {
    let mut refusals = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for t in trials {
        for (i, step) in t.steps.iter().enumerate() {
            let Some((role, volts, amps)) = commanded(step) else {
                continue;
            };
            let mut breach = None;
            if let Some(env) = rig.envelope(role) {
                for v in &volts {
                    if let Err(b) = env.check(Some(*v), amps) {
                        breach = Some(format!(
                            "{} {} exceeds the envelope of `{role}` ({})",
                            b.what, b.value, b.limit
                        ));
                        break;
                    }
                }
            }
            if breach.is_none() {
                if let Some(max) = device_limit(&t.device, role) {
                    if let Some(v) = volts.iter().find(|v| **v > max) {
                        breach = Some(format!(
                            "voltage {v} exceeds what device `{}` takes on `{role}` ({max})",
                            t.device.name
                        ));
                    }
                }
            }
            let Some(breach) = breach else { continue };
            let line = format!(
                "{}::{} step {} `{step}`: {breach}",
                t.check.name,
                t.device.name,
                i + 1
            );
            if seen.insert(line.clone()) {
                refusals.push(line);
            }
        }
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Source;

    fn plan_with(from: &str, to: &str) -> Result<Vec<Trial>, ConfigError> {
        let text = crate::scenario::suite::BUILTIN[0].1.replacen(from, to, 1);
        let suite = Suite::from_source(Source::builtin("s.toml", &text)).unwrap();
        let devices: Vec<_> = DeviceProfile::builtin_all()
            .unwrap()
            .into_iter()
            .map(Arc::new)
            .collect();
        plan(
            &suite,
            &devices,
            1,
            &Rig::builtin_sim().unwrap(),
            &everything,
        )
    }

    #[test]
    fn expected_states_must_be_the_rigs_names_for_the_input() {
        let err = plan_with(
            "door_position closed for 500ms",
            "door_position shut for 500ms",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s.toml:"), "{msg}");
        assert!(
            msg.contains("reads `open` or `closed` on rig `sim`, not `shut`"),
            "{msg}"
        );
        assert!(plan_with("", "").unwrap().len() >= 80);
    }

    #[test]
    fn over_envelope_steps_are_listed_with_trial_step_value_and_limit() {
        let trials = plan_with(
            "\"set main nominal limit current_limit\"",
            "\"set main 30V\"",
        )
        .unwrap();
        let refused = check_envelope(&trials, &Rig::builtin_sim().unwrap());
        assert_eq!(
            refused,
            [
                "power_loss::fail_safe_releases::maglock_12v step 3 `set main 30V`: voltage 30V exceeds the envelope of `main` (max_volts 26V)",
                "power_loss::fail_safe_releases::strike_fail_safe_24v step 3 `set main 30V`: voltage 30V exceeds the envelope of `main` (max_volts 26V)",
                "power_loss::fail_safe_releases::maglock_delayed_egress_24v step 3 `set main 30V`: voltage 30V exceeds the envelope of `main` (max_volts 26V)",
            ]
        );
    }

    #[test]
    fn steps_beyond_what_the_device_takes_are_refused_too() {
        let trials = plan_with(
            "\"set main nominal limit current_limit\"",
            "\"set main 20V\"",
        )
        .unwrap();
        let refused = check_envelope(&trials, &Rig::builtin_sim().unwrap());
        assert_eq!(
            refused,
            ["power_loss::fail_safe_releases::maglock_12v step 3 `set main 20V`: voltage 20V exceeds what device `maglock_12v` takes on `main` (13.2V)"]
        );
    }
}
