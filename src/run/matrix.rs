//! The kill matrix: every simulated defect built into the boards it is proven on, the
//! whole suite run against each, and which checks caught it. The proof that the
//! checks can fail, measured rather than asserted.

use std::sync::Arc;

use serde::Serialize;

use super::{plan, run_trial_guarded, Setup, TrialResult};
use crate::config::device::DeviceProfile;
use crate::config::rig::Rig;
use crate::config::ConfigError;
use crate::scenario::suite::Suite;
use crate::scenario::Verdict;
use crate::sim::{Defect, SimOptions};

/// One check of one board with one defect (or none).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The device profile.
    pub device: String,
    /// The check.
    pub check: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Expected vs measured, for failures and errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A defect's row: what it was built into, what it must fail, what it did fail.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The defect's name (`none` for the correct boards).
    pub defect: String,
    /// The profiles it was built into.
    pub profiles: Vec<String>,
    /// The checks it must fail.
    pub targets: Vec<String>,
    /// Every applicable check on those profiles.
    pub cells: Vec<Cell>,
}

/// Runs the suite on correct boards (every built-in profile) and then on each defect's
/// boards. `setup` gives the rig, poll interval, seed and secrets; its simulator
/// options are replaced per row.
pub fn measure(setup: &Setup, suite: &Suite, rig: &Rig) -> Result<Vec<Row>, ConfigError> {
    let all = DeviceProfile::builtin_all()?;
    let mut rows = vec![row(setup, suite, rig, None, &all)?];
    for d in Defect::all() {
        let profiles: Vec<DeviceProfile> = all
            .iter()
            .filter(|p| d.profiles().contains(&p.name.as_str()))
            .cloned()
            .collect();
        rows.push(row(setup, suite, rig, Some(d), &profiles)?);
    }
    Ok(rows)
}

fn row(
    setup: &Setup,
    suite: &Suite,
    rig: &Rig,
    defect: Option<Defect>,
    profiles: &[DeviceProfile],
) -> Result<Row, ConfigError> {
    let devices: Vec<Arc<DeviceProfile>> = profiles.iter().cloned().map(Arc::new).collect();
    let trials = plan::plan(suite, &devices, 1, rig, &plan::everything)?;
    let setup = Setup {
        sim: SimOptions {
            defects: defect.into_iter().collect(),
            ..SimOptions::default()
        },
        boards: Default::default(),
        ..setup.clone()
    };
    let cells = trials
        .iter()
        .map(|t| {
            let r: TrialResult = run_trial_guarded(&setup, t);
            Cell {
                device: r.device,
                check: r.check,
                verdict: r.outcome.verdict,
                message: r.outcome.message,
            }
        })
        .collect();
    Ok(Row {
        defect: defect.map_or("none".into(), |d| d.name().to_string()),
        profiles: profiles.iter().map(|p| p.name.clone()).collect(),
        targets: defect.map_or(Vec::new(), |d| {
            d.targets().iter().map(|t| t.to_string()).collect()
        }),
        cells,
    })
}
