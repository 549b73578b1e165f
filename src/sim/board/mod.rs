//! The lock-board model: supply voltages and bench actuators in; board state, current
//! drawn, console lines and whether the door is held out.
//!
//! Three mechanisms cover the device classes: a motorised bolt (battery smart locks
//! and hybrids: the bolt stays where it is without power), an electromagnet (maglocks:
//! the door is held only while the coil is energised) and a solenoid strike (fail-safe:
//! energise to lock; fail-secure: energise to release). Electronics brown out below
//! the board's own threshold (a [`Spec`] property, not the profile's `reset_below`),
//! boot after the board's boot time, and run the [`firmware`] that answers the console
//! and drives the mechanism.
//!
//! What the bench sees: `latch_sensor` reads the electrically driven locking element
//! (bolt, armature, keeper); the interior handle and the key withdraw the latch
//! mechanically without moving that element; the door opens when pushed and nothing
//! holds it.

mod firmware;
pub mod spec;

use std::collections::VecDeque;
use std::time::Duration;

pub use spec::{Mechanism, Spec, SpecError};

use super::defects::Defect;
use crate::config::device::{DeviceProfile, Egress};
use firmware::Firmware;

/// How long a hold-up capacitor keeps a key's electronic clutch working after power
/// is lost (the `key-override-held-by-capacitor` defect).
const HOLD_UP: Duration = Duration::from_secs(30);

/// How long the start of a motor draws its inrush (the `emergency-inrush` defect).
const INRUSH: Duration = Duration::from_millis(8);

/// Power-good hysteresis above the brown-out threshold, in volts.
const HYSTERESIS: f64 = 0.1;
/// Below this the supply counts as removed (power-on reset), not sagged (brown-out).
const POR_LEVEL: f64 = 0.5;
/// Drop of the diode from the emergency port to the electronics, in volts.
const PORT_DIODE: f64 = 0.3;

/// What the bench applies to the board at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Inputs {
    /// Voltage at the main supply (or battery) terminals.
    pub main_v: f64,
    /// Voltage at the emergency port (VBUS).
    pub vbus_v: f64,
    /// The fire-alarm loop is open (alarm).
    pub fire_alarm: bool,
    /// The REX button is pressed.
    pub rex: bool,
    /// The interior handle or push bar is operated.
    pub handle: bool,
    /// The key is turned.
    pub key: bool,
    /// The door stands open (the board's door-position input).
    pub door_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    /// Unpowered (or below the brown-out threshold).
    Off,
    /// Powered but shut down by its own firmware (flat battery, emergency session over).
    Asleep,
    /// Coming out of reset.
    Booting { left: Duration, cause: &'static str },
    /// Running the firmware.
    Running,
    /// No valid image: powered, silent, forever.
    Bricked,
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
    /// Stopped short of the strike by a worn end stop: the firmware believes it locked.
    Short,
}

/// Which supply powers the electronics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Main,
    Port,
}

/// A simulated lock board.
#[derive(Debug, Clone)]
pub struct Board {
    spec: Spec,
    defects: Vec<Defect>,
    credential: String,
    power: Power,
    /// Time since the electronics last came out of reset (the firmware's clock).
    uptime: Duration,
    lowest_while_off: f64,
    /// The firmware shut itself down (flat battery, session over) rather than losing power.
    slept: bool,
    boots: u32,
    bolt: Bolt,
    /// The controller energises the coil (magnet, strikes).
    drive: bool,
    /// The coil's voltage now.
    coil_v: f64,
    /// Time the armature or keeper keeps its position after the coil dropped out.
    settle_left: Duration,
    /// The locking element (bolt, armature, keeper) holds the door.
    engaged: bool,
    inputs: Inputs,
    source: Source,
    actuations: u32,
    fw: Firmware,
    /// How long neither the coil nor the electronics have had power
    /// (`fail-safe-relatches`).
    unpowered_for: Duration,
    /// A debugger has halted the core: the firmware does not run.
    halted: bool,
}

/// The board's microcontroller as its debug port sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// No supply to the electronics (or asleep in System OFF): the debug port is dead.
    Unpowered,
    /// Executing its start-up code or the firmware (or halted by a debugger).
    Running,
    /// No valid image: the core took a fault it cannot handle and locked up.
    LockedUp,
}

impl Board {
    /// Builds the board a profile's `[sim]` section describes, with `seed` picking its
    /// properties, `defects`, and the credential its keypad accepts.
    pub fn new(
        profile: &DeviceProfile,
        defects: &[Defect],
        seed: u64,
        credential: &str,
    ) -> Result<Self, SpecError> {
        let spec = Spec::pick(profile, seed)?;
        let drive = matches!(
            spec.mechanism,
            Mechanism::Magnet | Mechanism::Strike { fail_safe: true }
        );
        Ok(Self {
            spec,
            defects: defects.to_vec(),
            credential: credential.to_string(),
            power: Power::Off,
            uptime: Duration::ZERO,
            lowest_while_off: 0.0,
            slept: false,
            boots: 0,
            bolt: Bolt::Extended,
            drive,
            coil_v: 0.0,
            settle_left: Duration::ZERO,
            engaged: true,
            inputs: Inputs::default(),
            source: Source::Main,
            actuations: 0,
            fw: Firmware::default(),
            unpowered_for: Duration::ZERO,
            halted: false,
        })
    }

    /// The board's picked properties.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    fn has(&self, d: Defect) -> bool {
        self.defects.contains(&d)
    }

    /// True when the electronics run and answer the console.
    pub fn console_alive(&self) -> bool {
        self.spec.console && self.power == Power::Running && !self.halted
    }

    /// The microcontroller as a debug probe finds it.
    pub fn core(&self) -> Core {
        if !self.spec.console {
            // A board with no firmware console has no microcontroller modelled.
            return Core::Unpowered;
        }
        match self.power {
            Power::Off | Power::Asleep => Core::Unpowered,
            Power::Booting { .. } | Power::Running => Core::Running,
            // Without an image it stays bricked across power cycles, but its debug
            // port is as dead as any unpowered chip's while the supply is off.
            Power::Bricked if self.electronics_v() < self.spec.bor => Core::Unpowered,
            Power::Bricked => Core::LockedUp,
        }
    }

    /// Leaves the board with no image to run (what a cut update does to a board with
    /// the `bricks-on-update-cut` defect), for the debug port's tests.
    #[cfg(test)]
    pub(crate) fn brick(&mut self) {
        self.power = Power::Bricked;
    }

    /// How many times the firmware has come out of reset.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// A debugger halts (`true`) or resumes the core: the firmware's timers and
    /// console stop while it is halted.
    pub fn set_halted(&mut self, halted: bool) {
        self.halted = halted && self.core() != Core::Unpowered;
    }

    /// Whether a debugger holds the core halted.
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// A system reset requested through the debug port (AIRCR.SYSRESETREQ): the
    /// firmware restarts as from any reset, the supply untouched.
    pub fn debug_reset(&mut self) {
        if matches!(self.power, Power::Running | Power::Booting { .. }) {
            self.fw.power_lost();
            self.power = Power::Booting {
                left: self.spec.boot_time,
                cause: "RESET",
            };
            self.uptime = Duration::ZERO;
        }
    }

    /// The firmware's clock: milliseconds since the electronics came out of reset.
    pub fn uptime_ms(&self) -> u128 {
        self.uptime.as_millis()
    }

    /// The bolt of a motorised lock.
    pub fn bolt(&self) -> Bolt {
        self.bolt
    }

    /// Knocks an extended motorised bolt open for `len` while the firmware runs (a loose
    /// motor coupling): the shortest unlatch a latch input must still catch. For
    /// instrument tests and the edge-input benchmark; a no-op on other mechanisms.
    pub fn twitch(&mut self, len: Duration) {
        if matches!(self.spec.mechanism, Mechanism::MotorBolt { .. })
            && self.bolt == Bolt::Extended
            && self.fw.glitch_left.is_none()
        {
            self.bolt = Bolt::Retracted;
            self.engaged = false;
            self.fw.glitch_left = Some(len);
        }
    }

    /// True when the locking element (bolt, armature, keeper) is engaged: what the
    /// latch sensor reads.
    pub fn engaged(&self) -> bool {
        self.engaged
    }

    /// True when the lock holds the door shut against a push from outside, with the
    /// interior handle and the key as they are now.
    pub fn holds_door(&self, handle: bool, key: bool) -> bool {
        self.engaged && !self.mechanical_release(handle, key)
    }

    /// The interior handle or the key withdraws the latch mechanically.
    fn mechanical_release(&self, handle: bool, key: bool) -> bool {
        let v = self.electronics_v();
        let handle = handle
            && self.spec.egress == Egress::Mechanical
            && !(self.has(Defect::EgressBlockedUnpowered) && v < self.spec.bor)
            && !(self.has(Defect::EgressBlockedInBrownout)
                && v >= self.spec.bor
                && v < self.spec.min_operating - 0.05);
        let key = key
            && self.spec.key_override
            && !self.has(Defect::KeyOverrideJammed)
            && !(self.has(Defect::KeyOverrideNeedsPower) && self.power != Power::Running)
            && !(self.has(Defect::KeyOverrideHeldByCapacitor)
                && self.power != Power::Running
                && self.fw.off_for >= HOLD_UP);
        handle || key
    }

    /// The voltage at the electronics: the main supply, or the emergency port through
    /// its diode when that is higher.
    pub(super) fn electronics_v(&self) -> f64 {
        match self.source {
            Source::Main => self.inputs.main_v,
            Source::Port => self.inputs.vbus_v - PORT_DIODE,
        }
    }

    fn electronics_on(&self) -> bool {
        matches!(self.power, Power::Booting { .. } | Power::Running)
    }

    /// Current drawn from the main supply, in amperes.
    pub fn main_current(&self) -> f64 {
        self.main_current_at(self.inputs.main_v)
    }

    /// Current the board would draw from the main supply at `v` in its present state,
    /// in amperes (the coil is a resistor; the electronics draw what they draw).
    pub fn main_current_at(&self, v: f64) -> f64 {
        if v <= 0.0 {
            return 0.0;
        }
        let coil = if self.drive_connected() {
            v * self.coil_share() / self.spec.coil_ohm
        } else {
            0.0
        };
        coil + if self.source == Source::Main {
            self.electronics_current()
        } else if self.motor_on_battery() {
            self.motor_current()
        } else {
            0.0
        }
    }

    /// Current drawn from the emergency port, in amperes.
    pub fn port_current(&self) -> f64 {
        if self.source == Source::Port {
            self.electronics_current()
        } else {
            0.0
        }
    }

    /// What the electronics draw from the supply input they run on (the motor's
    /// current included, unless it runs from the battery terminal).
    fn electronics_current(&self) -> f64 {
        if !self.electronics_on() {
            return 0.0;
        }
        let mut amps = self.spec.electronics_a;
        if self.has(Defect::StandbyCurrentHigh) {
            amps += 0.003;
        }
        if self.has(Defect::StandbyPulses)
            && self.power == Power::Running
            && self.uptime.as_millis() % 100 < 2
        {
            amps += 0.1;
        }
        if self.motor_on_battery() {
            // The keypad's backlight, lit through the emergency session.
            amps += if matches!(self.power, Power::Running) {
                0.025
            } else {
                0.0
            };
        } else {
            amps += self.motor_current();
        }
        amps
    }

    /// The bolt motor's current while it runs.
    fn motor_current(&self) -> f64 {
        let (
            Bolt::Moving { left, .. },
            Mechanism::MotorBolt {
                motor_a,
                motor_time,
            },
            Power::Running,
        ) = (self.bolt, self.spec.mechanism, self.power)
        else {
            return 0.0;
        };
        let port = self.source == Source::Port;
        let throwing = matches!(
            self.bolt,
            Bolt::Moving {
                to_extended: true,
                ..
            }
        );
        let starting = motor_time.saturating_sub(left) < INRUSH;
        if !self.electronics_on() {
            0.0
        } else if self.stalled() {
            2.0 * motor_a
        } else if port
            && (self.has(Defect::EmergencyOverdraw)
                || (starting && self.has(Defect::EmergencyInrush))
                || (throwing && self.has(Defect::EmergencyRelockOverdraw)))
        {
            4.0 * motor_a
        } else {
            motor_a
        }
    }

    /// On emergency power the motor still runs from the battery terminal (a defect).
    fn motor_on_battery(&self) -> bool {
        self.source == Source::Port && self.has(Defect::EmergencyMotorOnBattery)
    }

    /// A motor that cannot turn at this voltage (a defect).
    fn stalled(&self) -> bool {
        (self.has(Defect::MinVoltageStall) && self.electronics_v() < self.spec.min_operating + 0.1)
            || (self.motor_on_battery() && self.inputs.main_v < self.spec.bor)
    }

    /// Advances the board by `dt` under `inputs`; console lines go to `out`.
    pub fn step(&mut self, inputs: Inputs, dt: Duration, out: &mut VecDeque<String>) {
        let before = self.inputs;
        self.inputs = inputs;
        self.source = if self.spec.emergency_port
            && !self.has(Defect::DeadEmergencyPort)
            && inputs.vbus_v - PORT_DIODE > inputs.main_v
        {
            Source::Port
        } else {
            Source::Main
        };
        let v = self.electronics_v();
        if self.electronics_on() {
            self.uptime += if self.has(Defect::LateLowbatSlowClock) {
                dt.mul_f64(0.88)
            } else {
                dt
            };
        }
        match self.power {
            Power::Off | Power::Asleep => {
                if self.power == Power::Asleep {
                    if let Some(t) = self.fw.cutoff_for.as_mut() {
                        *t += dt;
                        if *t >= Duration::from_secs(25) && v >= self.spec.bor {
                            self.fw.cutoff_for = None;
                            if self.bolt == Bolt::Extended {
                                self.bolt = Bolt::Retracted;
                                out.push_back(format!("EVT {} UNLOCKED", self.uptime_ms()));
                            }
                        }
                    }
                } else {
                    self.fw.cutoff_for = None;
                }
                self.lowest_while_off = self.lowest_while_off.min(v);
                self.fw.off_for += dt;
                if v < self.spec.bor {
                    // Really unpowered now: whatever woke it next time is a reset.
                    self.power = Power::Off;
                    self.slept = false;
                }
                let wake = self.power == Power::Off || self.may_wake();
                if v >= self.spec.bor + HYSTERESIS && wake {
                    let cause = if self.slept {
                        "WAKE"
                    } else if self.lowest_while_off > POR_LEVEL {
                        "BOR"
                    } else {
                        "POR"
                    };
                    self.power = Power::Booting {
                        left: self.spec.boot_time,
                        cause,
                    };
                    self.uptime = Duration::ZERO;
                }
            }
            Power::Bricked => {}
            _ if v < self.spec.bor => {
                self.power = Power::Off;
                self.halted = false;
                self.slept = false;
                self.lowest_while_off = v;
                self.fw.power_lost();
                self.fw.off_for = Duration::ZERO;
            }
            Power::Booting { left, cause } => {
                if left <= dt {
                    self.power = Power::Running;
                    self.boots += 1;
                    firmware::booted(self, cause, out);
                } else {
                    self.power = Power::Booting {
                        left: left - dt,
                        cause,
                    };
                }
            }
            Power::Running if self.halted => {}
            Power::Running => {
                firmware::run(self, before, dt, out);
                self.run_motor(dt, out);
            }
        }
        self.settle_mechanism(dt);
    }

    /// A board its firmware put to sleep wakes on fresh cells or emergency power.
    fn may_wake(&self) -> bool {
        match &self.spec.battery {
            Some((_, cutoff)) => self.inputs.main_v >= cutoff + 0.2 || self.source == Source::Port,
            None => true,
        }
    }

    /// Puts the electronics to sleep (the firmware's own shutdown): like a power loss,
    /// it stops every timer and cuts an update being written.
    fn sleep(&mut self) {
        self.fw.power_lost();
        self.power = Power::Asleep;
        self.slept = true;
        self.lowest_while_off = self.electronics_v();
    }

    /// The coil is connected to the main supply: the controller drives it and nothing
    /// in series (fire loop, push bar switch, REX contact) interrupts it.
    fn drive_connected(&self) -> bool {
        match self.spec.mechanism {
            Mechanism::MotorBolt { .. } => false,
            Mechanism::Magnet => {
                let fire = self.spec.fire.1
                    && self.inputs.fire_alarm
                    && !self.has(Defect::IgnoresFireAlarm)
                    && !self.fw.relocked_during_alarm;
                let via_fw = self.has(Defect::EgressViaController);
                let push_bar =
                    self.spec.egress == Egress::PowerInterrupt && self.inputs.handle && !via_fw;
                let rex = self.spec.rex_hold.is_some()
                    && self.inputs.rex
                    && !via_fw
                    && !self.has(Defect::RexViaController)
                    && !self.has(Defect::RexPartialCut);
                // The magnet's power runs through the controller's normally-closed
                // contacts: an unpowered controller leaves the magnet on.
                let timers = self.electronics_on() && !self.drive;
                !(fire || push_bar || rex || timers)
            }
            Mechanism::Strike { .. } => self.electronics_on() && self.drive,
        }
    }

    /// The part of the supply across the coil when it is connected: all of it, but for
    /// a resistor across a pressed REX contact (`rex-partial-cut`), which leaves 40 %
    /// (the resistor and the coil in series, 1.5 times the coil's resistance).
    fn coil_share(&self) -> f64 {
        if self.has(Defect::RexPartialCut) && self.inputs.rex {
            0.4
        } else {
            1.0
        }
    }

    /// Coil voltage and the element's position follow the drive, after its settle time.
    fn settle_mechanism(&mut self, dt: Duration) {
        self.coil_v = if self.drive_connected() {
            self.inputs.main_v * self.coil_share()
        } else {
            0.0
        };
        let powered = self.coil_v >= self.spec.hold_v && self.coil_v > 0.0;
        if powered || self.electronics_on() {
            self.unpowered_for = Duration::ZERO;
        } else {
            self.unpowered_for += dt;
        }
        let relatch = self.has(Defect::FailSafeRelatches)
            && self.unpowered_for >= Duration::from_secs(1)
            && self.unpowered_for < Duration::from_secs(3);
        let engaged = match self.spec.mechanism {
            Mechanism::MotorBolt { .. } => {
                // The bolt is where the motor put it; no settling.
                self.engaged = matches!(
                    self.bolt,
                    Bolt::Extended
                        | Bolt::Moving {
                            to_extended: false,
                            ..
                        }
                );
                return;
            }
            Mechanism::Magnet | Mechanism::Strike { fail_safe: true } => {
                powered || self.has(Defect::HoldsWithoutPower) || relatch
            }
            Mechanism::Strike { fail_safe: false } => !powered,
        };
        // A coil pulls in at once; when it drops out, the suppression diode keeps the
        // field for the release time: the armature of a magnet or fail-safe strike lets
        // go late, the keeper of a fail-secure strike locks again late.
        let dropping = !powered;
        if engaged == self.engaged || !dropping || self.settle_left <= dt {
            self.engaged = engaged;
            self.settle_left = self.release_time();
        } else {
            self.settle_left -= dt;
        }
    }

    fn release_time(&self) -> Duration {
        if self.has(Defect::SlowRelease) {
            self.spec.release_time * 3 + Duration::from_secs(2)
        } else {
            self.spec.release_time
        }
    }

    /// Starts the bolt towards `extend` (motorised locks).
    fn move_bolt(&mut self, extend: bool) {
        if self.fw.motor_dead {
            return;
        }
        if let Mechanism::MotorBolt { motor_time, .. } = self.spec.mechanism {
            let there = match self.bolt {
                Bolt::Extended | Bolt::Short => extend,
                Bolt::Retracted => !extend,
                Bolt::Moving { to_extended, .. } => to_extended == extend,
            };
            if !there {
                self.bolt = Bolt::Moving {
                    to_extended: extend,
                    left: motor_time,
                };
            }
        }
    }

    fn run_motor(&mut self, dt: Duration, out: &mut VecDeque<String>) {
        let Bolt::Moving { to_extended, left } = self.bolt else {
            return;
        };
        if self.stalled() {
            return;
        }
        if left > dt {
            self.bolt = Bolt::Moving {
                to_extended,
                left: left - dt,
            };
            return;
        }
        self.actuations += 1;
        self.bolt = match to_extended {
            true if self.has(Defect::WearsOut) && self.actuations > firmware::WEAR_LIMIT => {
                Bolt::Short
            }
            true => Bolt::Extended,
            false => Bolt::Retracted,
        };
        firmware::event(self, out, self.reported_state());
    }

    /// The state the firmware reports: `LOCKED` or `UNLOCKED`.
    pub fn reported_state(&self) -> &'static str {
        let locked = match self.spec.mechanism {
            Mechanism::MotorBolt { .. } => !matches!(
                self.bolt,
                Bolt::Retracted
                    | Bolt::Moving {
                        to_extended: true,
                        ..
                    }
            ),
            Mechanism::Magnet | Mechanism::Strike { fail_safe: true } => self.drive,
            Mechanism::Strike { fail_safe: false } => !self.drive,
        };
        if locked {
            "LOCKED"
        } else {
            "UNLOCKED"
        }
    }

    /// Answers one console line, if the console is alive. Event lines the command
    /// causes go to `out`.
    pub fn command(&mut self, line: &str, out: &mut VecDeque<String>) -> Option<String> {
        self.console_alive()
            .then(|| firmware::command(self, line, out))
    }
}

#[cfg(test)]
mod tests;
