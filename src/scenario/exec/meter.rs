//! Meter steps: a reading or a window of samples judged against limits, and figures
//! estimated from kept windows (battery life, energy per hour).

use std::time::Duration;

use super::{ms, Evidence, Run, Stop, Window};
use crate::scenario::step::{Estimate, Quantity, Statistic};
use crate::units::{self, Amps, Volts};

/// What a measurement expects: one reading, or a window's statistic, in `range`.
fn expected(stat: Statistic, window: bool, range: &str) -> String {
    match stat {
        Statistic::Every if window => format!("every sample in {range}"),
        Statistic::Every => range.to_string(),
        Statistic::Mean => format!("mean in {range}"),
        Statistic::Peak => format!("peak in {range}"),
    }
}

/// A window's statistic of `values` against `low..=high`: (the deciding value, the
/// (min, mean, max), whether it passes). Every sample in range is decided by the worst.
fn judge(stat: Statistic, values: &[f64], (low, high): (f64, f64)) -> (f64, (f64, f64, f64), bool) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let (min, max) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let ok = |v: f64| (low..=high).contains(&v);
    let (value, pass) = match stat {
        Statistic::Every if !ok(max) => (max, false),
        Statistic::Every => (min, ok(min)),
        Statistic::Mean => (mean, ok(mean)),
        Statistic::Peak => (max, ok(max)),
    };
    (value, (min, mean, max), pass)
}

fn show(q: Quantity, v: f64) -> String {
    match q {
        Quantity::Current => Amps(v).to_string(),
        Quantity::Voltage => Volts(v).to_string(),
    }
}

impl Run<'_> {
    /// `measure ROLE [mean|peak] current|voltage in RANGE [for TIME] [as NAME]`
    pub(super) fn measure(
        &mut self,
        role: &str,
        stat: Statistic,
        quantity: Quantity,
        (low, high): (f64, f64),
        window: Option<Duration>,
        keep: Option<&str>,
    ) -> Result<(), Stop> {
        let pick = |(v, a): (Volts, Amps)| match quantity {
            Quantity::Current => a.0,
            Quantity::Voltage => v.0,
        };
        let range = format!("{}..{}", show(quantity, low), show(quantity, high));
        let resolution = self.bench.meter_resolution(role);
        // How long the meter goes on showing what it measured before: its update
        // interval (zero where it is not declared).
        let update = resolution.map_or(Duration::ZERO, |r| r.every);
        // What the meter can tell: a range narrower than two of its steps, or a window
        // shorter than its update interval, is beyond it, whatever it reads.
        let coarse = match resolution {
            Some(res) => {
                let step = match quantity {
                    Quantity::Current => res.amps.0,
                    Quantity::Voltage => res.volts.0,
                };
                if high.is_finite() && high - low < 2.0 * step {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: `{role}` reads in steps of {}: a range of {range} is narrower than two of them and cannot be judged; this check needs a finer meter",
                        self.step.0,
                        self.step.1,
                        show(quantity, step)
                    )));
                }
                if let Some(w) = window.filter(|w| *w < res.every) {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: `{role}` makes a new reading every {}: a {} window holds less than one; this check needs a faster meter",
                        self.step.0,
                        self.step.1,
                        units::format_duration(res.every),
                        units::format_duration(w)
                    )));
                }
                // A peak bounds what happened between readings too: a meter that
                // makes a new reading seldom (a supply's readback), whatever the poll,
                // would not see a pulse between two of them.
                if stat == Statistic::Peak && window.is_some() && res.every > super::FRESH_METER {
                    return Err(Stop::Error(format!(
                        "step {} `{}`: a peak needs a meter that makes a new reading at least every {}, and `{role}` makes one every {}: a pulse between two of them would not be seen; this check needs a faster meter",
                        self.step.0,
                        self.step.1,
                        units::format_duration(super::FRESH_METER),
                        units::format_duration(res.every)
                    )));
                }
                if res.every > self.ctx.poll {
                    format!(" (meter: {res})")
                } else {
                    String::new()
                }
            }
            None => String::new(),
        };
        let mut gap = None;
        let (value, measured, pass, samples) = match window {
            None => {
                // A meter goes on showing what it measured before this step until its
                // next update (a supply's readback for up to half a second, whatever
                // the poll): it is read once a whole update interval has passed.
                if !update.is_zero() {
                    self.hold(update)?;
                }
                let v = pick(self.bench.read_meter(role)?);
                let shown = if update > self.ctx.poll {
                    format!(
                        "{}, read {} into the step, when the meter had measured again",
                        show(quantity, v),
                        units::format_duration(update)
                    )
                } else {
                    show(quantity, v)
                };
                (v, shown, (low..=high).contains(&v), 1)
            }
            Some(w) => {
                // A peak shorter than the poll is seen only at the meter's own rate, and a
                // load that pulses between two polls would be missed by a mean or an
                // every-sample judgement too: read the meter that often through the
                // window (the watches keep the poll interval).
                let every = if !update.is_zero() && update < self.ctx.poll {
                    update
                } else {
                    self.ctx.poll
                };
                // A window of its own (not one a command to the board opened) starts
                // once the meter has made a new reading, so each of its readings was
                // measured after the step began.
                let after_command = matches!(self.sent, Some((step, _)) if step + 1 == self.step.0);
                if !after_command && !update.is_zero() {
                    self.hold(update)?;
                }
                let t0 = self.now();
                // Off the meter's scale, and its scale reaches past the range: the
                // current was above the range, which is a measurement, not a fault of
                // the rig.
                let above = |e: &crate::rig::RoleError| {
                    e.off_scale()
                        .filter(|(_, above_a)| {
                            quantity == Quantity::Current
                                && *above_a > high
                                && stat != Statistic::Mean
                        })
                        .map(|(what, above_a)| (what.to_string(), above_a))
                };
                // Right after a command to the board, the window opens when it was
                // sent: what the command set off while the board took its time to
                // answer belongs to it. A meter captured in the background (a bench in
                // real time) read that time too; one read by the executor did not, and
                // the window says so.
                let (opened, sent_by) = match self.sent {
                    Some((step, at)) if step + 1 == self.step.0 => (at, step),
                    _ => (t0, self.step.0),
                };
                let end = t0 + w;
                let mut readings: Vec<(Duration, Volts, Amps)> = Vec::new();
                if let Some(first) = self.bench.captured_readings(role, opened, None)? {
                    let mut batch = first;
                    loop {
                        // Through the first reading at or past the window's end, so no
                        // part of it goes unread.
                        for sample in batch {
                            if readings.last().is_some_and(|r| r.0 >= end) {
                                break;
                            }
                            match sample.result() {
                                Ok((v, a)) => readings.push((sample.at, v, a)),
                                Err(e) => {
                                    let e = self.bench.meter_error(role, e);
                                    if let Some((what, above_a)) = above(&e) {
                                        return self
                                            .over_range(role, stat, &range, &what, above_a, t0);
                                    }
                                    return Err(e.into());
                                }
                            }
                        }
                        if readings.last().is_some_and(|r| r.0 >= end) {
                            break;
                        }
                        let now = self.now();
                        if now < end {
                            self.tick((end - now).min(self.ctx.poll))?;
                        }
                        let since = readings
                            .last()
                            .map_or(opened, |r| r.0 + Duration::from_nanos(1));
                        let through = (self.now() >= end).then_some(end);
                        batch = self
                            .bench
                            .captured_readings(role, since, through)?
                            .unwrap_or_default();
                    }
                } else {
                    loop {
                        let began = self.now();
                        let (v, a) = match self.bench.read_meter(role) {
                            Ok(reading) => reading,
                            Err(e) => match above(&e) {
                                Some((what, above_a)) => {
                                    return self.over_range(role, stat, &range, &what, above_a, t0)
                                }
                                None => return Err(e.into()),
                            },
                        };
                        let now = self.now();
                        readings.push((now, v, a));
                        let t = now.saturating_sub(t0);
                        if t >= w {
                            break;
                        }
                        // The next reading is due `every` after this one began, not after
                        // it ended: a reading that takes a while (a bus, a slow
                        // instrument) eats into the wait instead of stretching the gaps.
                        let pace = every.saturating_sub(now.saturating_sub(began));
                        // The watches keep their poll through the window, from their
                        // last sample, and are sampled again as it ends.
                        let left = w - t;
                        let to_watch = (self.sampled + self.ctx.poll).saturating_sub(now);
                        let step =
                            left.min(pace)
                                .min(if to_watch.is_zero() { pace } else { to_watch });
                        if step >= to_watch || step >= left {
                            self.tick(step)?;
                        } else {
                            self.bench.clock().wait(step);
                            self.check_interrupt()?;
                        }
                    }
                }
                // After a command, the window opened when it was sent, and its readings
                // of the meter's first update interval that show what its first
                // reading showed may have been measured before that: if the verdict
                // depends on them, it cannot be given.
                let shown = readings.first().map(|r| (r.1 .0, r.2 .0));
                let uncertain = readings
                    .iter()
                    .take_while(|r| r.0 < opened + update && Some((r.1 .0, r.2 .0)) == shown)
                    .count()
                    .min(readings.len().saturating_sub(1));
                if after_command && uncertain > 0 {
                    let verdict = |rs: &[(Duration, Volts, Amps)]| {
                        let values: Vec<f64> = rs.iter().map(|r| pick((r.1, r.2))).collect();
                        judge(stat, &values, (low, high)).2
                    };
                    if verdict(&readings) != verdict(&readings[uncertain..]) {
                        return Err(Stop::Error(format!(
                            "step {} `{}`: `{role}` makes a new reading only every {}, and its first {} readings after step {sent_by}'s command ({}) may have been measured before it was sent; the verdict depends on them, so this check needs a faster meter",
                            self.step.0,
                            self.step.1,
                            units::format_duration(update),
                            uncertain,
                            show(quantity, pick((readings[0].1, readings[0].2)))
                        )));
                    }
                }
                let values: Vec<f64> = readings.iter().map(|r| pick((r.1, r.2))).collect();
                let n = values.len() as f64;
                let (value, (min, mean, max), pass) = judge(stat, &values, (low, high));
                if let Some(name) = keep {
                    let charge_c = readings
                        .windows(2)
                        .map(|p| p[0].2 .0 * (p[1].0 - p[0].0).as_secs_f64())
                        .sum();
                    let window = Window {
                        mean_a: readings.iter().map(|r| r.2 .0).sum::<f64>() / n,
                        mean_v: readings.iter().map(|r| r.1 .0).sum::<f64>() / n,
                        charge_c,
                        duration: match (readings.first(), readings.last()) {
                            (Some(a), Some(b)) => b.0 - a.0,
                            _ => Duration::ZERO,
                        },
                    };
                    self.kept.insert(name.to_string(), window);
                }
                // The time from the window's opening to its first reading (the board's
                // answer time, where the meter was read only between exchanges) is a
                // gap like any.
                let lead = readings
                    .first()
                    .map_or(Duration::ZERO, |r| r.0.saturating_sub(opened));
                let largest_gap = readings
                    .windows(2)
                    .map(|p| p[1].0 - p[0].0)
                    .max()
                    .unwrap_or_default()
                    .max(lead);
                gap = Some(largest_gap);
                let spread = format!(
                    "{} samples over {}{} (largest gap {}{}{}): min {}, mean {}, max {}",
                    values.len(),
                    units::format_duration(w),
                    if !after_command && update > self.ctx.poll {
                        format!(
                            ", from {} into the step (the meter makes a new reading only every {}: until then it may have shown what it measured before)",
                            units::format_duration(update),
                            units::format_duration(update)
                        )
                    } else {
                        String::new()
                    },
                    units::format_duration(largest_gap),
                    if every < self.ctx.poll {
                        ", the meter's own rate"
                    } else {
                        ""
                    },
                    if lead > every {
                        format!(
                            "; the first reading came {} after step {sent_by}'s command was sent, the time the board took to answer: what the meter would have read before it is not in the window",
                            units::format_duration(lead),
                        )
                    } else {
                        String::new()
                    },
                    show(quantity, min),
                    show(quantity, mean),
                    show(quantity, max)
                );
                (value, spread, pass, values.len())
            }
        };
        let expected = expected(stat, window.is_some(), &range);
        let measured = format!("{measured}{coarse}");
        let mut m = self.measurement(role, expected.clone(), measured.clone(), pass);
        m.value = Some(value);
        m.unit = Some(
            match quantity {
                Quantity::Current => Amps::UNIT,
                Quantity::Voltage => Volts::UNIT,
            }
            .into(),
        );
        m.low = Some(low);
        m.high = Some(high);
        if window.is_some() {
            m.samples = Some(samples as u64);
            m.max_gap_ms = gap.map(ms);
        }
        self.record(m);
        if pass {
            Ok(())
        } else {
            Err(self.fail(
                role,
                format!("expected {role} {expected}, measured {measured}"),
            ))
        }
    }

    /// A window in which the meter went off its scale, above a range whose top it
    /// reaches past: a failed measurement, with the reading for evidence (of a peak or
    /// of every sample; one sample says nothing of a mean, which stays a rig error).
    fn over_range(
        &mut self,
        role: &str,
        stat: Statistic,
        range: &str,
        what: &str,
        above_a: f64,
        t0: Duration,
    ) -> Result<(), Stop> {
        let expected = expected(stat, true, range);
        let measured = format!(
            "above {} {} into the window ({what}: beyond the meter's range)",
            show(Quantity::Current, above_a),
            units::format_duration(self.now().saturating_sub(t0))
        );
        let mut m = self.measurement(role, expected.clone(), measured.clone(), false);
        m.value = Some(above_a);
        m.unit = Some(Amps::UNIT.into());
        self.record(m);
        Err(self.fail(
            role,
            format!("expected {role} {expected}, measured {measured}"),
        ))
    }

    fn kept(&self, name: &str) -> Result<Window, Stop> {
        self.kept.get(name).copied().ok_or_else(|| {
            Stop::Error(format!(
                "step {}: no measurement kept as `{name}` in this check",
                self.step.0
            ))
        })
    }

    /// `estimate battery_life from STANDBY and OPERATION [at least TIME]`,
    /// `estimate energy_per_hour from WINDOW`.
    pub(super) fn estimate(
        &mut self,
        what: Estimate,
        from: &[String],
        at_least: Option<Duration>,
    ) -> Result<(), Stop> {
        let (value, unit, measured, expected, pass) = match what {
            Estimate::BatteryLife => {
                let standby = self.kept(&from[0])?;
                let op = self.kept(&from[1])?;
                let (capacity_ah, per_day) = self.ctx.battery.ok_or_else(|| {
                    Stop::Error(
                        "`estimate battery_life` needs a [battery] in the device profile".into(),
                    )
                })?;
                // The operation's own charge: the window's, less the standby share.
                let q_op = (op.charge_c - standby.mean_a * op.duration.as_secs_f64()).max(0.0);
                let per_day_c = standby.mean_a * 86_400.0 + f64::from(per_day) * q_op;
                let days = capacity_ah * 3600.0 / per_day_c;
                let measured = format!(
                    "{days:.0} days ({} standby, {:.4} C per operation, {per_day} operations a day, {:.0} mAh)",
                    Amps(standby.mean_a),
                    q_op,
                    capacity_ah * 1e3
                );
                let min_days = at_least.map(|t| t.as_secs_f64() / 86_400.0);
                let expected = match min_days {
                    Some(d) => format!("at least {d:.0} days"),
                    None => "an estimate".into(),
                };
                let pass = min_days.is_none_or(|d| days >= d);
                (days, "d", measured, expected, pass)
            }
            Estimate::EnergyPerHour => {
                let w = self.kept(&from[0])?;
                let wh = w.mean_v * w.mean_a;
                // Idle fail-secure locks draw milliwatts: keep three significant figures.
                let energy = if wh < 0.1 {
                    format!("{:.3} mWh", wh * 1e3)
                } else {
                    format!("{wh:.3} Wh")
                };
                let measured = format!(
                    "{energy} per hour ({} at {})",
                    Amps(w.mean_a),
                    Volts(w.mean_v)
                );
                (wh, "Wh", measured, "a figure for the record".into(), true)
            }
        };
        let mut m = self.measurement("", expected.clone(), measured.clone(), pass);
        m.source = Evidence::Derived;
        m.value = Some(value);
        m.unit = Some(unit.into());
        m.low = at_least.map(|t| t.as_secs_f64() / 86_400.0);
        m.at_ms = ms(self.now().saturating_sub(self.start));
        self.record(m);
        if pass {
            Ok(())
        } else {
            Err(self.fail(
                "estimate",
                format!("expected {expected}, measured {measured}"),
            ))
        }
    }
}
