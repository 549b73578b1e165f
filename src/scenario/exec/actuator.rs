//! Actuators proven to move: after its relay switches, an actuator with a feedback
//! input (a current switch or pressure switch on the actuator itself) must show it is
//! driving, or idle again, within [`RESPONSE`]; and a door that fails to open is the
//! lock's failure only when nothing says the rig, not the lock, kept it shut.

use std::time::Duration;

use super::{Run, Stop};
use crate::config::rig::{feedback_role, Capability, FEEDBACK_STATES, LOCK_LET_GO};
use crate::scenario::step::Timing;

/// How long an actuator's feedback may take to follow its relay. A current switch
/// answers in tens of milliseconds and a cylinder's pressure switch in about 100 ms.
pub const RESPONSE: Duration = Duration::from_millis(250);

impl Run<'_> {
    /// The feedback input of an actuator role, when the rig has one.
    fn feedback(&self, actuator: &str) -> Option<&'static str> {
        feedback_role(actuator).filter(|f| self.bench.capability(f) == Some(Capability::Input))
    }

    /// Before `relay ROLE on|off`: the feedback must show the actuator as it is (idle
    /// unless this check switched it on), so that the reading after the switch proves a
    /// change, not a line stuck at the state the control expects.
    pub(super) fn before_switching(&mut self, actuator: &str) -> Result<(), Stop> {
        let Some(feedback) = self.feedback(actuator) else {
            return Ok(());
        };
        let driving = self.driving.iter().any(|a| a == actuator);
        let was = FEEDBACK_STATES[usize::from(!driving)];
        let seen = self.sample_input(feedback)?;
        if seen == was {
            return Ok(());
        }
        Err(Stop::Error(format!(
            "positive control failed at step {} `{}`: {feedback} reads {seen} before the relay switched, where the actuator is {was}: a stuck or miswired feedback input proves nothing about the actuator",
            self.step.0, self.step.1
        )))
    }

    /// After `relay ROLE on|off`: a positive control that the actuator followed, when
    /// it has a feedback input. Its relay clicking proves nothing about the actuator.
    pub(super) fn confirm_actuator(&mut self, actuator: &str, on: bool) -> Result<(), Stop> {
        self.driving.retain(|a| a != actuator);
        if on && feedback_role(actuator).is_some() {
            self.driving.push(actuator.to_string());
        }
        let Some(feedback) = self.feedback(actuator) else {
            return Ok(());
        };
        let state = FEEDBACK_STATES[usize::from(!on)];
        // Timed from this switching, whatever stimulus the check's own windows count
        // from (a pulse's release comes long after the press that started them).
        let cause = self.stimulus;
        self.stimulus = (self.now(), self.step.0);
        let confirmed = self.expect(feedback, state, Timing::Within(RESPONSE), true);
        self.stimulus = cause;
        confirmed
    }

    /// Why a door that failed to reach `state` is not the lock's to answer for, if
    /// something says so: an actuator that was driving reads idle now, or the lock's
    /// own sensor says it let go of a door that stayed shut. Other roles have no excuse.
    pub(super) fn excuse(&mut self, role: &str, state: &str) -> Result<Option<String>, Stop> {
        let (door, open, witness, let_go) = LOCK_LET_GO;
        if role != door {
            return Ok(None);
        }
        for actuator in self.driving.clone() {
            if let Some(feedback) = self.feedback(&actuator) {
                let seen = self.sample_input(feedback)?;
                if seen != FEEDBACK_STATES[0] {
                    return Ok(Some(format!(
                        "{feedback} reads {seen}: the {actuator} actuator stopped driving"
                    )));
                }
            }
        }
        if state == open && self.bench.capability(witness) == Some(Capability::Input) {
            let seen = self.sample_input(witness)?;
            if seen == let_go {
                return Ok(Some(format!(
                    "{witness} reads {let_go}: the lock let go and the door still did not open (a door actuator that did not push, or a lock holding past its own sensor)"
                )));
            }
        }
        Ok(None)
    }

    /// What a door failure cannot rule out on this rig: actuators that were driving
    /// with nothing to show they moved.
    pub(super) fn unproven_actuators(&self, role: &str) -> Option<String> {
        if role != LOCK_LET_GO.0 {
            return None;
        }
        let blind: Vec<&str> = self
            .driving
            .iter()
            .filter(|a| self.feedback(a).is_none())
            .map(String::as_str)
            .collect();
        (!blind.is_empty()).then(|| {
            format!(
                "this rig has no feedback input for {}: a dead actuator would look the same",
                blind.join(", ")
            )
        })
    }
}
