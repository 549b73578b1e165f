//! The test list: every (check x device x repetition) with its resolved steps, built
//! and checked against the rig before anything runs.

use std::sync::Arc;

use crate::config::device::DeviceProfile;
use crate::config::rig::Rig;
use crate::config::ConfigError;
use crate::scenario::step::Resolved;
use crate::scenario::suite::{Check, Suite};

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
    /// Steps resolved against the device.
    pub steps: Vec<Resolved>,
    /// Roles the steps use that the rig does not map: the trial is skipped with this
    /// reason instead of failing.
    pub missing_roles: Vec<String>,
}

/// Builds the trial list. Checks that do not apply to a device produce no trial.
pub fn plan(
    suite: &Suite,
    devices: &[Arc<DeviceProfile>],
    repeat: u32,
    rig: &Rig,
) -> Result<Vec<Trial>, ConfigError> {
    let width = repeat.to_string().len();
    let mut trials = Vec::new();
    for check in &suite.checks {
        let check = Arc::new(check.clone());
        for device in devices.iter().filter(|d| check.applies_to.covers(d)) {
            let steps = suite.resolve(&check, device)?;
            let mut missing: Vec<String> = steps
                .iter()
                .filter_map(|s| s.role())
                .filter(|r| rig.role(r).is_none())
                .map(str::to_string)
                .collect();
            missing.dedup();
            let base = format!("{}::{}", check.name, device.name);
            for cycle in 1..=repeat {
                trials.push(Trial {
                    name: if repeat > 1 {
                        format!("{base}::cycle{cycle:0width$}")
                    } else {
                        base.clone()
                    },
                    check: check.clone(),
                    device: device.clone(),
                    cycle: (repeat > 1).then_some(cycle),
                    steps: steps.clone(),
                    missing_roles: missing.clone(),
                });
            }
        }
    }
    Ok(trials)
}

/// Checks every step of every trial against the rig's envelope. Returns one line per
/// refused step, naming the trial, the step, the value and the limit.
pub fn check_envelope(trials: &[Trial], rig: &Rig) -> Vec<String> {
    let mut refusals = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for t in trials {
        for (i, step) in t.steps.iter().enumerate() {
            let (role, volts, amps) = match step {
                Resolved::Set { role, volts, limit } => (role, Some(*volts), *limit),
                Resolved::Sag { role, to, .. } => (role, Some(*to), None),
                _ => continue,
            };
            let Some(Err(b)) = rig.envelope(role).map(|e| e.check(volts, amps)) else {
                continue;
            };
            let line = format!(
                "{}::{} step {} `{step}`: {} {} exceeds the envelope of `{role}` ({})",
                t.check.name,
                t.device.name,
                i + 1,
                b.what,
                b.value,
                b.limit
            );
            if seen.insert(line.clone()) {
                refusals.push(line);
            }
        }
    }
    refusals
}
