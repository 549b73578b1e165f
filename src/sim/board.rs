//! The lock-board model: supply voltage in, board state and current drawn out.
//!
//! Two mechanisms cover the device classes so far: a motorised bolt (battery smart
//! locks: the bolt stays where it is without power, so the lock is fail-secure by
//! mechanics) and an electromagnet (maglocks: the door is held only while the coil is
//! energised). The electronics brown out below the profile's `reset_below`, boot after
//! `boot_time` once the supply is back, and report the reset cause on the console.

use std::collections::VecDeque;
use std::time::Duration;

use super::defects::Defect;
use crate::config::device::{DeviceClass, DeviceProfile};

/// Power-good hysteresis above the reset threshold, in volts.
const HYSTERESIS: f64 = 0.1;
/// Below this the supply counts as removed (power-on reset), not sagged (brown-out).
const POR_LEVEL: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mechanism {
    MotorBolt {
        motor_current: f64,
        motor_time: Duration,
    },
    Magnet {
        coil_ohm: f64,
        hold_min: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Off,
    Booting { left: Duration },
    Running,
}

/// Where the bolt of a motorised lock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bolt {
    /// Thrown: locked.
    Extended,
    /// Withdrawn: unlocked.
    Retracted,
    /// Moving; `to_extended` says which way.
    Moving {
        /// Direction.
        to_extended: bool,
        /// Travel left.
        left: Duration,
    },
}

/// A simulated lock board.
#[derive(Debug, Clone)]
pub struct Board {
    mechanism: Mechanism,
    reset_below: f64,
    boot_time: Duration,
    electronics_a: f64,
    has_console: bool,
    mechanical_egress: bool,
    defects: Vec<Defect>,
    power: Power,
    /// Time since the electronics last came out of reset (the firmware's clock).
    uptime: Duration,
    lowest_while_off: f64,
    bolt: Bolt,
    volts: f64,
}

impl Board {
    /// Builds the board a profile describes, with defects.
    pub fn new(profile: &DeviceProfile, defects: &[Defect]) -> Self {
        let sim = &profile.sim;
        let mechanism = match profile.class {
            DeviceClass::Maglock => Mechanism::Magnet {
                coil_ohm: sim.coil_resistance.map_or(48.0, |r| r.0),
                hold_min: sim.hold_min.map_or(3.0, |v| v.0),
            },
            _ => Mechanism::MotorBolt {
                motor_current: sim.motor_current.map_or(0.15, |a| a.0),
                motor_time: sim.motor_time.unwrap_or(Duration::from_millis(300)),
            },
        };
        Self {
            mechanism,
            reset_below: profile.supply.reset_below.0,
            boot_time: sim.boot_time,
            electronics_a: sim.electronics_current.0,
            has_console: profile.console,
            mechanical_egress: profile.class == DeviceClass::BatterySmartLock,
            defects: defects.to_vec(),
            power: Power::Off,
            uptime: Duration::ZERO,
            lowest_while_off: 0.0,
            bolt: Bolt::Extended,
            volts: 0.0,
        }
    }

    fn has(&self, d: Defect) -> bool {
        self.defects.contains(&d)
    }

    /// True when the electronics run and answer the console.
    pub fn console_alive(&self) -> bool {
        self.has_console && self.power == Power::Running
    }

    /// The state the firmware reports: `LOCKED` or `UNLOCKED`.
    pub fn reported_state(&self) -> &'static str {
        match self.bolt {
            Bolt::Retracted => "UNLOCKED",
            _ => "LOCKED",
        }
    }

    /// The firmware's clock: milliseconds since the electronics came out of reset.
    pub fn uptime_ms(&self) -> u128 {
        self.uptime.as_millis()
    }

    /// True when the lock holds the door shut against a push.
    pub fn latched(&self) -> bool {
        match self.mechanism {
            Mechanism::MotorBolt { .. } => self.bolt != Bolt::Retracted,
            Mechanism::Magnet { hold_min, .. } => {
                self.volts >= hold_min || self.has(Defect::HoldsWithoutPower)
            }
        }
    }

    /// True when the interior handle withdraws the latch mechanically.
    pub fn has_mechanical_egress(&self) -> bool {
        self.mechanical_egress
    }

    /// Current drawn at supply voltage `v`, in amperes.
    pub fn current_at(&self, v: f64) -> f64 {
        if v <= 0.0 {
            return 0.0;
        }
        let electronics = if self.power == Power::Off {
            0.0
        } else {
            self.electronics_a
        };
        match self.mechanism {
            Mechanism::MotorBolt { motor_current, .. } => {
                let motor =
                    if matches!(self.bolt, Bolt::Moving { .. }) && self.power == Power::Running {
                        motor_current
                    } else {
                        0.0
                    };
                electronics + motor
            }
            Mechanism::Magnet { coil_ohm, .. } => electronics + v / coil_ohm,
        }
    }

    /// Advances the board by `dt` at supply voltage `v`; console lines go to `out`.
    pub fn step(&mut self, v: f64, dt: Duration, out: &mut VecDeque<String>) {
        self.volts = v;
        if self.power != Power::Off {
            self.uptime += dt;
        }
        match self.power {
            Power::Off => {
                self.lowest_while_off = self.lowest_while_off.min(v);
                if v >= self.reset_below + HYSTERESIS {
                    self.power = Power::Booting {
                        left: self.boot_time,
                    };
                    self.uptime = Duration::ZERO;
                }
            }
            _ if v < self.reset_below => {
                self.power = Power::Off;
                self.lowest_while_off = v;
            }
            Power::Booting { left } => {
                if left <= dt {
                    self.power = Power::Running;
                    self.booted(out);
                } else {
                    self.power = Power::Booting { left: left - dt };
                }
            }
            Power::Running => self.run_motor(dt, out),
        }
    }

    fn booted(&mut self, out: &mut VecDeque<String>) {
        let brownout = self.lowest_while_off > POR_LEVEL;
        if self.has_console {
            let cause = if brownout { "BOR" } else { "POR" };
            out.push_back(format!("EVT {} BOOT {cause}", self.uptime_ms()));
        }
        if brownout && self.has(Defect::OpensOnBrownout) {
            if let Mechanism::MotorBolt { motor_time, .. } = self.mechanism {
                self.bolt = Bolt::Moving {
                    to_extended: false,
                    left: motor_time,
                };
            }
        }
    }

    fn run_motor(&mut self, dt: Duration, out: &mut VecDeque<String>) {
        if let Bolt::Moving { to_extended, left } = self.bolt {
            if left <= dt {
                self.bolt = if to_extended {
                    Bolt::Extended
                } else {
                    Bolt::Retracted
                };
                if self.has_console {
                    out.push_back(format!(
                        "EVT {} {}",
                        self.uptime_ms(),
                        self.reported_state()
                    ));
                }
            } else {
                self.bolt = Bolt::Moving {
                    to_extended,
                    left: left - dt,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(board: &mut Board, v: f64, ms: u64) -> VecDeque<String> {
        let mut out = VecDeque::new();
        for _ in 0..ms {
            board.step(v, Duration::from_millis(1), &mut out);
        }
        out
    }

    fn profile(name: &str) -> DeviceProfile {
        DeviceProfile::load(name).unwrap()
    }

    #[test]
    fn smart_lock_boots_and_stays_locked_through_a_brownout() {
        let mut b = Board::new(&profile("smartlock_4aa"), &[]);
        assert_eq!(run(&mut b, 6.0, 500), ["EVT 200 BOOT POR"]);
        assert!(b.console_alive());
        run(&mut b, 2.0, 300);
        assert!(!b.console_alive());
        assert_eq!(run(&mut b, 6.0, 1500), ["EVT 200 BOOT BOR"]);
        assert!(b.latched());
        assert_eq!(b.reported_state(), "LOCKED");
    }

    #[test]
    fn defective_smart_lock_opens_after_a_brownout() {
        let mut b = Board::new(&profile("smartlock_4aa"), &[Defect::OpensOnBrownout]);
        run(&mut b, 6.0, 500);
        run(&mut b, 2.0, 300);
        let out = run(&mut b, 6.0, 1500);
        assert_eq!(out, ["EVT 200 BOOT BOR", "EVT 500 UNLOCKED"]);
        assert!(!b.latched());
    }

    #[test]
    fn maglock_draws_holding_current_and_releases_unpowered() {
        let mut b = Board::new(&profile("maglock_12v"), &[]);
        run(&mut b, 12.0, 100);
        assert!(b.latched());
        assert!((b.current_at(12.0) - 0.252).abs() < 1e-9);
        run(&mut b, 0.0, 10);
        assert!(!b.latched());
        let mut stuck = Board::new(&profile("maglock_12v"), &[Defect::HoldsWithoutPower]);
        run(&mut stuck, 0.0, 10);
        assert!(stuck.latched());
    }
}
