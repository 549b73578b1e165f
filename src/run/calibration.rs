//! Calibration: each real instrument's `calibration_due` date from the rig file. A run
//! on an instrument past its date is refused before anything is touched, unless the
//! operator accepts it (`--allow-expired-calibration`), and the evidence says so.
//!
//! Dates are compared in UTC: an instrument is usable through its due date.

use serde::Serialize;

use crate::config::rig::{CalendarDate, DriverKind, Rig};
use crate::config::Location;

/// Where an instrument stands against its calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Calibrated, due on or after today.
    Valid,
    /// Past its due date.
    Expired,
    /// The rig file gives no date for this real instrument.
    #[serde(rename = "not declared")]
    NotDeclared,
    /// A simulated instrument without a date: there is nothing to calibrate.
    #[serde(rename = "not applicable: simulated")]
    Simulated,
}

/// One instrument's calibration, as the evidence records it.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The instrument's name in the rig file.
    pub instrument: String,
    /// Its driver.
    pub driver: DriverKind,
    /// The declared due date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<CalendarDate>,
    /// Where the date is declared.
    #[serde(skip)]
    pub at: Option<Location>,
    /// Where it stands today.
    pub status: Status,
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instrument `{}` ({})", self.instrument, self.driver)?;
        match (self.status, self.due) {
            (Status::Expired, Some(due)) => write!(f, " is past its calibration due date {due}")?,
            (Status::Valid, Some(due)) => write!(f, " is calibrated until {due}")?,
            (Status::NotDeclared, _) => f.write_str(": calibration due date not declared")?,
            _ => f.write_str(": calibration not applicable (simulated)")?,
        }
        match &self.at {
            Some(at) => write!(f, " ({at})"),
            None => Ok(()),
        }
    }
}

/// A run refused because instruments are past their calibration.
#[derive(Debug, thiserror::Error)]
#[error(
    "refused before touching any instrument: {}; recalibrate and update `calibration_due` in the rig file, or accept the run with --allow-expired-calibration (the evidence will say so)",
    expired.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
)]
pub struct Refused {
    /// The expired instruments.
    pub expired: Vec<Calibration>,
}

/// Every instrument's calibration status on `today`, in rig-file order.
pub fn statuses(rig: &Rig, today: time::Date) -> Vec<Calibration> {
    rig.file
        .instruments
        .iter()
        .map(|(name, spec)| {
            let i = spec.get_ref();
            let simulated = i.link().is_ok_and(|l| l.is_simulated());
            let due = i.calibration_due.as_ref();
            let status = match due.map(|d| *d.get_ref()) {
                Some(d) if d.0 < today => Status::Expired,
                Some(_) => Status::Valid,
                None if simulated => Status::Simulated,
                None => Status::NotDeclared,
            };
            Calibration {
                instrument: name.clone(),
                driver: i.driver,
                due: due.map(|d| *d.get_ref()),
                at: due.map(|d| rig.source.locate(d.span().start)),
                status,
            }
        })
        .collect()
}

/// The statuses for a run today, refusing expired instruments unless `allow_expired`.
pub fn check(rig: &Rig, allow_expired: bool) -> Result<Vec<Calibration>, Refused> {
    let all = statuses(rig, time::OffsetDateTime::now_utc().date());
    let expired: Vec<Calibration> = all
        .iter()
        .filter(|c| c.status == Status::Expired)
        .cloned()
        .collect();
    if expired.is_empty() || allow_expired {
        Ok(all)
    } else {
        Err(Refused { expired })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rig::SIM_RIG;
    use crate::config::Source;

    fn rig_with(psu_due: &str) -> Rig {
        let text = SIM_RIG.replace(
            "driver = \"rigol-dp800\"",
            &format!("driver = \"rigol-dp800\"\ncalibration_due = \"{psu_due}\""),
        );
        Rig::from_source(Source::builtin("r.toml", &text)).unwrap()
    }

    #[test]
    fn an_instrument_is_usable_through_its_due_date() {
        let rig = rig_with("2027-03-01");
        let on = |d: time::Date| {
            statuses(&rig, d)[..]
                .iter()
                .find(|c| c.instrument == "psu")
                .unwrap()
                .status
        };
        assert_eq!(on(time::macros::date!(2027 - 03 - 01)), Status::Valid);
        assert_eq!(on(time::macros::date!(2027 - 03 - 02)), Status::Expired);
        let others = statuses(&rig, time::macros::date!(2027 - 03 - 02));
        assert!(others
            .iter()
            .filter(|c| c.instrument != "psu")
            .all(|c| c.status == Status::Simulated));
    }

    #[test]
    fn an_expired_instrument_is_refused_by_name_date_and_place_unless_allowed() {
        let rig = rig_with("2001-02-03");
        let msg = check(&rig, false).unwrap_err().to_string();
        assert!(
            msg.starts_with("refused before touching any instrument"),
            "{msg}"
        );
        assert!(
            msg.contains("instrument `psu` (rigol-dp800) is past its calibration due date 2001-02-03 (<built-in>/r.toml:"),
            "{msg}"
        );
        assert!(msg.contains("--allow-expired-calibration"), "{msg}");
        let allowed = check(&rig, true).unwrap();
        assert_eq!(
            allowed
                .iter()
                .filter(|c| c.status == Status::Expired)
                .count(),
            1
        );
    }

    #[test]
    fn statuses_serialize_as_the_evidence_says_them() {
        let json = serde_json::to_value(statuses(
            &Rig::builtin_sim().unwrap(),
            time::macros::date!(2026 - 01 - 01),
        ))
        .unwrap();
        assert_eq!(json[0]["status"], "not applicable: simulated");
        assert_eq!(
            serde_json::to_value(Status::NotDeclared).unwrap(),
            "not declared"
        );
    }
}
