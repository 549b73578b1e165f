//! Campaign statistics per check and device: runs, passes, failures, the pass rate with
//! its 95% Wilson score interval, the first failing cycle, and min/median/p95/max of
//! each numeric measurement. Written to `stats.json` in the run directory and, for
//! repeated checks, printed as a table.
//!
//! Memory: counts per check, and one `f64` per numeric reading (a 10,000-cycle soak of
//! a check with ten readings keeps under a megabyte).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::files::write_atomic;
use crate::run::TrialResult;
use crate::scenario::Verdict;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of a pass rate: unlike the normal approximation it
/// stays inside 0..1 and says something useful when every run passed.
pub fn wilson(passes: u64, runs: u64) -> Option<(f64, f64)> {
    if runs == 0 {
        return None;
    }
    let n = runs as f64;
    let p = passes as f64 / n;
    let z2 = Z95 * Z95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// Statistics of one check on one device.
#[derive(Debug, Clone, Serialize)]
pub struct CheckStats {
    /// Check name.
    pub check: String,
    /// Device profile.
    pub device: String,
    /// Trials that ran to a verdict or an error.
    pub runs: u64,
    /// Passed.
    pub passed: u64,
    /// Device failures.
    pub failed: u64,
    /// Rig errors (no verdict on the device).
    pub errors: u64,
    /// Not started.
    pub skipped: u64,
    /// Passes over trials with a verdict (errors excluded: they say nothing about the
    /// device).
    pub pass_rate: Option<f64>,
    /// 95% Wilson score interval of the pass rate, `[low, high]`.
    pub pass_rate_ci95: Option<[f64; 2]>,
    /// The first failing trial's cycle (1 without `--repeat`).
    pub first_failure_cycle: Option<u32>,
    /// The first failing trial.
    pub first_failure: Option<String>,
    /// Each numeric measurement, in step order.
    pub measurements: Vec<Spread>,
    #[serde(skip)]
    values: BTreeMap<(usize, usize, String), Readings>,
}

#[derive(Debug, Clone, Default)]
struct Readings {
    unit: Option<String>,
    low: Option<f64>,
    high: Option<f64>,
    values: Vec<f64>,
}

/// The spread of one measurement over a campaign.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// Step number.
    pub step: usize,
    /// Which reading of the role in that step (1 unless the step reads it repeatedly).
    pub reading: usize,
    /// Role measured.
    pub role: String,
    /// Unit of the figures.
    pub unit: Option<String>,
    /// Readings.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// Largest.
    pub max: f64,
    /// The check's lower limit, where it has one.
    pub low: Option<f64>,
    /// The check's upper limit, where it has one.
    pub high: Option<f64>,
}

/// One numeric reading of a result, as statistics count it.
struct Reading<'a> {
    step: usize,
    role: &'a str,
    value: Option<f64>,
    unit: Option<&'a str>,
    low: Option<f64>,
    high: Option<f64>,
}

/// Folds results into statistics.
#[derive(Debug, Default)]
pub struct Stats {
    checks: BTreeMap<(String, String), CheckStats>,
    /// Whether any check ran more than once (a campaign).
    repeated: bool,
}

impl Stats {
    /// Counts one result.
    pub fn add(&mut self, r: &TrialResult) {
        let readings = r.outcome.measurements.iter().map(|m| Reading {
            step: m.step,
            role: &m.role,
            value: m.value,
            unit: m.unit.as_deref(),
            low: m.low,
            high: m.high,
        });
        let verdict = (r.skipped.is_none()).then_some(r.outcome.verdict);
        self.count(&r.trial, &r.check, &r.device, r.cycle, verdict, readings);
    }

    /// Counts one line of a `results.jsonl` read back (`lockrig merge`). Returns false,
    /// counting nothing, for a line that is not a result.
    pub fn add_line(&mut self, line: &serde_json::Value) -> bool {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let (Some(trial), Some(check), Some(device), Some(verdict)) = (
            text(&line["trial"]),
            text(&line["check"]),
            text(&line["device"]),
            text(&line["outcome"]["verdict"]),
        ) else {
            return false;
        };
        let verdict = match (verdict.as_str(), line.get("skipped")) {
            (_, Some(serde_json::Value::String(_))) | ("skipped", _) => None,
            ("pass", _) => Some(Verdict::Pass),
            ("fail", _) => Some(Verdict::Fail),
            ("error", _) => Some(Verdict::Error),
            _ => return false,
        };
        let cycle = line["cycle"].as_u64().and_then(|c| u32::try_from(c).ok());
        let empty = Vec::new();
        let measurements = line["outcome"]["measurements"].as_array().unwrap_or(&empty);
        let readings = measurements.iter().filter_map(|m| {
            Some(Reading {
                step: usize::try_from(m["step"].as_u64()?).ok()?,
                role: m["role"].as_str()?,
                value: m["value"].as_f64(),
                unit: m["unit"].as_str(),
                low: m["low"].as_f64(),
                high: m["high"].as_f64(),
            })
        });
        self.count(&trial, &check, &device, cycle, verdict, readings);
        true
    }

    /// Counts a result: `verdict` is `None` for a trial that did not run.
    fn count<'a>(
        &mut self,
        trial: &str,
        check: &str,
        device: &str,
        cycle: Option<u32>,
        verdict: Option<Verdict>,
        readings: impl Iterator<Item = Reading<'a>>,
    ) {
        let key = (check.to_string(), device.to_string());
        let s = self.checks.entry(key).or_insert_with(|| CheckStats {
            check: check.to_string(),
            device: device.to_string(),
            runs: 0,
            passed: 0,
            failed: 0,
            errors: 0,
            skipped: 0,
            pass_rate: None,
            pass_rate_ci95: None,
            first_failure_cycle: None,
            first_failure: None,
            measurements: Vec::new(),
            values: BTreeMap::new(),
        });
        self.repeated |= cycle.is_some_and(|c| c > 1);
        let Some(verdict) = verdict else {
            s.skipped += 1;
            return;
        };
        s.runs += 1;
        match verdict {
            Verdict::Pass => s.passed += 1,
            Verdict::Error => s.errors += 1,
            Verdict::Fail => {
                s.failed += 1;
                if s.first_failure.is_none() {
                    s.first_failure_cycle = Some(cycle.unwrap_or(1));
                    s.first_failure = Some(trial.to_string());
                }
            }
        }
        // A step may read a role more than once (one reading per sag of a repeated
        // sag): the n-th reading of a step and role is its own measurement.
        let mut seen: BTreeMap<(usize, String), usize> = BTreeMap::new();
        for m in readings {
            let nth = seen.entry((m.step, m.role.to_string())).or_default();
            *nth += 1;
            if let Some(v) = m.value.filter(|v| v.is_finite()) {
                let r = s
                    .values
                    .entry((m.step, *nth, m.role.to_string()))
                    .or_default();
                r.unit = m.unit.map(str::to_string);
                r.low = m.low;
                r.high = m.high;
                r.values.push(v);
            }
        }
    }

    /// The statistics, each check's figures computed.
    pub fn rows(&self) -> Vec<CheckStats> {
        self.checks
            .values()
            .map(|s| {
                let mut s = s.clone();
                let decided = s.passed + s.failed;
                s.pass_rate = (decided > 0).then(|| s.passed as f64 / decided as f64);
                s.pass_rate_ci95 = wilson(s.passed, decided).map(|(l, h)| [l, h]);
                s.measurements = s
                    .values
                    .iter()
                    .map(|((step, nth, role), r)| spread(*step, *nth, role, r))
                    .collect();
                s
            })
            .collect()
    }

    /// Writes `stats.json`.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.rows()).map_err(io::Error::other)?;
        write_atomic(path, &json)
    }

    /// A table of the campaign for the terminal; `None` when nothing was repeated.
    pub fn table(&self) -> Option<String> {
        if !self.repeated {
            return None;
        }
        let mut t = String::from("campaign statistics:\n");
        for s in self.rows() {
            let rate = match (s.pass_rate, s.pass_rate_ci95) {
                (Some(p), Some([l, h])) => format!(
                    "pass rate {:.1}% (95% CI {:.1}-{:.1}%)",
                    p * 100.0,
                    l * 100.0,
                    h * 100.0
                ),
                _ => "no verdict".into(),
            };
            let _ = writeln!(
                t,
                "  {} on {}: {} runs, {} passed, {} failed, {} rig errors, {} skipped; {rate}; first failure: {}",
                s.check,
                s.device,
                s.runs,
                s.passed,
                s.failed,
                s.errors,
                s.skipped,
                s.first_failure_cycle
                    .map_or("none".into(), |c| format!("cycle {c}"))
            );
            for m in &s.measurements {
                let unit = m.unit.as_ref().map(|u| format!(" {u}")).unwrap_or_default();
                let which = if m.reading > 1 {
                    format!(" (reading {})", m.reading)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    t,
                    "    step {} {}{which}: min {}{unit}, median {}{unit}, p95 {}{unit}, max {}{unit} (n={})",
                    m.step,
                    // A derived figure (an estimate from other readings) has no role.
                    if m.role.is_empty() { "estimate" } else { &m.role },
                    figure(m.min),
                    figure(m.median),
                    figure(m.p95),
                    figure(m.max),
                    m.n
                );
            }
        }
        Some(t)
    }
}

/// A reading as a person writes it: four decimals at most, no trailing zeros.
fn figure(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn spread(step: usize, reading: usize, role: &str, r: &Readings) -> Spread {
    let mut v = r.values.clone();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    // Nearest rank: the smallest value with at least p of the readings at or below it.
    let rank = |p: f64| v[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Spread {
        step,
        reading,
        role: role.to_string(),
        unit: r.unit.clone(),
        n,
        min: v[0],
        median,
        p95: rank(0.95),
        max: v[n - 1],
        low: r.low,
        high: r.high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Wilson (1927) / Newcombe (1998) worked examples: 81/263 -> 0.2553..0.3662.
        let (l, h) = wilson(81, 263).unwrap();
        assert!(
            (l - 0.2553).abs() < 5e-4 && (h - 0.3662).abs() < 5e-4,
            "{l} {h}"
        );
        // All passed: the upper bound is 1, the lower one says how sure we are.
        let (l, h) = wilson(1000, 1000).unwrap();
        assert_eq!(h, 1.0);
        assert!((l - 0.99617).abs() < 1e-4, "{l}");
        assert!(wilson(0, 0).is_none());
    }

    #[test]
    fn spread_uses_nearest_rank_percentiles() {
        let r = Readings {
            values: (1..=100).map(f64::from).rev().collect(),
            ..Default::default()
        };
        let s = spread(3, 1, "meter", &r);
        assert_eq!((s.min, s.median, s.p95, s.max), (1.0, 50.5, 95.0, 100.0));
        let one = Readings {
            values: vec![7.0],
            ..Default::default()
        };
        let s = spread(1, 1, "meter", &one);
        assert_eq!(
            (s.min, s.median, s.p95, s.max, s.n),
            (7.0, 7.0, 7.0, 7.0, 1)
        );
    }
}
