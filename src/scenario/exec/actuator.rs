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

    /// Whose a failed expectation that `role` reaches `state` is. Only a door's can be
    /// the rig's: an actuator that was driving reads idle now, or the lock's own sensor
    /// says it let go of a door that stayed shut while nothing shows the pusher drove.
    /// With the pusher proven driving, a released latch behind a shut door is the
    /// lock's (it holds past its own sensor); without feedback inputs, the failure says
    /// what the rig cannot rule out.
    pub(super) fn door_failure(&mut self, role: &str, state: &str) -> Result<Blame, Stop> {
        let (door, open, witness, let_go) = LOCK_LET_GO;
        if role != door {
            return Ok(Blame::Lock(None));
        }
        let mut proven = Vec::new();
        let mut blind = Vec::new();
        for actuator in self.driving.clone() {
            match self.feedback(&actuator) {
                Some(feedback) => {
                    let seen = self.sample_input(feedback)?;
                    if seen != FEEDBACK_STATES[0] {
                        return Ok(Blame::Rig(format!(
                            "{feedback} reads {seen}: the {actuator} actuator stopped driving"
                        )));
                    }
                    proven.push(format!("{feedback} shows the {actuator} actuator driving"));
                }
                None => blind.push(actuator),
            }
        }
        let blind_caveat = (!blind.is_empty()).then(|| {
            format!(
                "this rig has no feedback input for {}: a dead actuator would look the same",
                blind.join(", ")
            )
        });
        if state == open && self.bench.capability(witness) == Some(Capability::Input) {
            let seen = self.sample_input(witness)?;
            if seen == let_go {
                if proven.is_empty() || !blind.is_empty() {
                    return Ok(Blame::Rig(format!(
                        "{witness} reads {let_go}: the lock let go and the door still did not open (a door actuator that did not push, or a lock holding past its own sensor)"
                    )));
                }
                return Ok(Blame::Lock(Some(format!(
                    "{witness} reads {let_go} while {}: the lock holds the door past its own sensor",
                    proven.join(" and ")
                ))));
            }
        }
        Ok(Blame::Lock(blind_caveat))
    }
}

/// Whose a failed door expectation is.
pub(super) enum Blame {
    /// The lock's, with what the result should add.
    Lock(Option<String>),
    /// The rig's: why it is no evidence against the lock.
    Rig(String),
}
