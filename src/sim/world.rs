//! The simulated bench as one physical system: the supply channels, the relays, the
//! door, the lock board, and the INA219 in series with the lock's supply.
//!
//! Wiring of the built-in bench (what `rigs/sim*.toml` map roles onto):
//! - supply output 1 feeds the lock (or stands in for its battery) through the INA219's
//!   0.1 ohm shunt (address 0x40); output 3 feeds the emergency port's VBUS; output 2
//!   is the sag output. Which instrument channel drives which output is the supply
//!   emulator's wiring (the DP832's CH1/CH2/CH3 are outputs 1/2/3);
//! - LCUS-8 relay 1 drives the door-push actuator, 2 the interior-handle actuator,
//!   3 opens the fire-alarm loop (energised = loop open = alarm), 4 presses the REX
//!   button, 5 turns the key, 6 is the dip relay: energised, it feeds the lock (and the
//!   INA219 in front of it) from output 2 instead of output 1;
//! - GPIO 0 reads the door-position switch (high = open), GPIO 1 the latch sensor
//!   (high = the locking element is released);
//! - the console pty is the board's UART.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::board::{Board, Inputs};
use super::ina219::Ina219Chip;

/// The physics step.
pub const TICK: Duration = Duration::from_millis(1);
/// Shunt resistance in series with the lock supply, in ohms.
pub const SHUNT_OHM: f64 = 0.1;
/// Output rise time constant of the simulated supply, in seconds.
pub const RISE_TAU: f64 = 0.01;
/// Output capacitance of the simulated supply, in farads.
pub const OUTPUT_FARAD: f64 = 470e-6;
/// Internal bleeder across the simulated supply's output, in ohms.
pub const BLEED_OHM: f64 = 2000.0;
/// How much of the board's console output is kept for readers that have not taken it.
pub const CONSOLE_LOG_BYTES: usize = 4 << 20;
/// Relays on the simulated LCUS board.
pub const RELAYS: usize = 8;
/// Relay driving the door-push actuator (1-based).
pub const DOOR_PUSH_RELAY: usize = 1;
/// Relay driving the interior-handle actuator (1-based).
pub const HANDLE_RELAY: usize = 2;
/// Relay opening the fire-alarm loop (1-based).
pub const FIRE_RELAY: usize = 3;
/// Relay pressing the REX button (1-based).
pub const REX_RELAY: usize = 4;
/// Relay turning the key (1-based).
pub const KEY_RELAY: usize = 5;
/// Relay switching the lock's supply input from the main output to the sag output
/// (1-based): a fast dip, as a relay or MOSFET board does on a real bench.
pub const DIP_RELAY: usize = 6;
/// Supply output (0-based) a dip switches the lock to, preset to the sag voltage.
pub const SAG: usize = 1;
/// GPIO reading the door-position switch.
pub const DOOR_GPIO: u8 = 0;
/// GPIO reading the latch sensor.
pub const LATCH_GPIO: u8 = 1;
/// GPIO reading the door-push actuator's current switch: high while the actuator
/// draws current (it is driving), whatever the door and the lock do.
pub const DOOR_PUSH_SENSE_GPIO: u8 = 2;
/// GPIO reading the interior-handle actuator's current switch.
pub const HANDLE_SENSE_GPIO: u8 = 3;
/// GPIO reading the REX-button actuator's current switch.
pub const REX_SENSE_GPIO: u8 = 4;
/// GPIO reading the key-turning actuator's current switch.
pub const KEY_SENSE_GPIO: u8 = 5;
/// Supply output (0-based) feeding the lock.
pub const MAIN: usize = 0;
/// Supply output (0-based) feeding the emergency port.
pub const PORT: usize = 2;
/// Supply outputs on the bench.
pub const OUTPUTS: usize = 3;
/// Current limit of every supply output at power-up, in amperes.
const POWER_UP_LIMIT: f64 = 3.0;
/// Protection levels at power-up (disarmed): volts and amperes.
const POWER_UP_PROTECTION: (f64, f64) = (33.0, 3.3);

/// How simulated time passes.
#[derive(Debug, Clone, Copy)]
pub enum TimeMode {
    /// Only scenario waits advance time (in-process runs).
    Virtual,
    /// Time follows the wall clock (a bench served on ptys for another process).
    Wall(Instant),
}

/// One supply output as the instrument driving it holds it. The instrument's ratings
/// are its emulator's; the world only knows what is programmed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsuChannel {
    /// Programmed voltage.
    pub set_v: f64,
    /// Programmed current limit.
    pub set_i: f64,
    /// Output enabled.
    pub on: bool,
    /// Over-voltage protection: level and armed. It trips on the output's actual
    /// voltage, not on the setting.
    pub ovp: (f64, bool),
    /// Over-current protection: level and armed. It trips on the current actually
    /// delivered (a channel in constant-current mode delivers its limit).
    pub ocp: (f64, bool),
    /// Which protection has tripped: (OVP, OCP). A trip switches the output off and
    /// latches until the instrument clears it.
    pub tripped: (bool, bool),
}

impl PsuChannel {
    fn power_up() -> Self {
        Self {
            set_v: 0.0,
            set_i: POWER_UP_LIMIT,
            on: false,
            ovp: (POWER_UP_PROTECTION.0, false),
            ocp: (POWER_UP_PROTECTION.1, false),
            tripped: (false, false),
        }
    }
}

/// A change of an output seen by the simulator, kept to prove what the rig did.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputEvent {
    /// Simulated time.
    pub at: Duration,
    /// What changed (`CH1 OFF`, `relay 1 ON`).
    pub what: String,
}

/// The whole simulated bench.
pub struct World {
    mode: TimeMode,
    now: Duration,
    /// Supply outputs 1..=3 (index 0 feeds the lock, 2 the emergency port).
    pub psu: [PsuChannel; OUTPUTS],
    /// Relays 1..=RELAYS (index 0 is relay 1).
    pub relays: [bool; RELAYS],
    /// Actuators that no longer move when their relay closes (a rig fault).
    pub dead: [bool; RELAYS],
    /// Relay contacts still moving: when each will reach the state its coil was
    /// driven to (a relay's operate and release times).
    relay_moving: [Option<(Duration, bool)>; RELAYS],
    /// The lock board.
    pub board: Board,
    /// The INA219 on the lock supply.
    pub ina: Ina219Chip,
    /// The INA219 on the emergency port's line, on the same bus.
    pub ina_port: Ina219Chip,
    door_open: bool,
    /// Output voltage of each channel (what the rail has slewed to).
    rails: [f64; OUTPUTS],
    /// A step sequence an instrument's timer or list mode is running on an output.
    sequences: [Option<Sequence>; OUTPUTS],
    amps: f64,
    console_out: VecDeque<String>,
    /// What the board printed, for every reader of its UART: the lines, their bytes,
    /// and the number of the first one kept.
    console_log: VecDeque<String>,
    console_log_bytes: usize,
    console_first: u64,
    outputs: Vec<OutputEvent>,
    log: Option<super::SimLog>,
    /// The GPIO lines' levels (bit N = line N) as last seen, and every change since,
    /// numbered, for an emulated GPIO chip's edge events.
    gpio_levels: u8,
    gpio_edges: VecDeque<GpioEdge>,
    gpio_serial: u64,
    /// What each output's supply shows when asked to measure it, where the supply
    /// measures on a cycle of its own (see [`World::readback`]).
    readbacks: [Option<Readback>; OUTPUTS],
    /// The board's microcontroller as its debug port sees it.
    pub chip: super::swd::Chip,
}

/// A supply's measurement of one output, taken once per `every` of simulated time (the
/// instrument's own measurement cycle) and shown until the next.
#[derive(Debug, Clone, Copy)]
struct Readback {
    every: Duration,
    shown: (f64, f64),
}

/// A change of a GPIO input line of the simulated bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpioEdge {
    /// Numbered from 1 in the order they happened.
    pub serial: u64,
    /// The line (0 = door position, 1 = latch).
    pub line: u8,
    /// It went high.
    pub rising: bool,
    /// Simulated time.
    pub at: Duration,
}

/// A supply's own step sequencer (the DP800's timer, a list mode) running on an
/// output: it reprograms the output's setpoints as time passes, without a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Each step: volts, amperes, how long.
    pub steps: Vec<(f64, f64, Duration)>,
    /// Passes through the steps.
    pub cycles: u32,
    /// At the end: hold the last step's setpoints (`true`) or switch the output off.
    pub hold_last: bool,
    /// When it started (simulated time).
    pub started: Duration,
}

impl Sequence {
    /// The setpoints `elapsed` after the start, or `None` once every cycle has run.
    fn at(&self, elapsed: Duration) -> Option<(f64, f64)> {
        let period: Duration = self.steps.iter().map(|s| s.2).sum();
        if period.is_zero() || elapsed >= period * self.cycles {
            return None;
        }
        let mut t = Duration::from_nanos(
            u64::try_from(elapsed.as_nanos() % period.as_nanos()).unwrap_or(0),
        );
        for &(v, i, len) in &self.steps {
            if t < len {
                return Some((v, i));
            }
            t -= len;
        }
        None
    }
}

/// GPIO edges the world keeps for a chip to read; older ones are dropped (a reader
/// sees the gap in the numbering).
pub const GPIO_EDGE_LOG: usize = 1 << 14;

impl World {
    /// For emulator tests: the built-in profile `device` on an unpowered bench, in
    /// virtual time.
    #[cfg(test)]
    pub(crate) fn unpowered(device: &str) -> Self {
        let profile = crate::config::device::DeviceProfile::load(device).unwrap();
        Self::new(
            super::board::Board::new(&profile, &[], 0, "0000").unwrap(),
            TimeMode::Virtual,
        )
    }

    /// A bench holding `board`.
    pub fn new(board: Board, mode: TimeMode) -> Self {
        let mut w = Self {
            mode,
            now: Duration::ZERO,
            psu: [PsuChannel::power_up(); OUTPUTS],
            relays: [false; RELAYS],
            dead: [false; RELAYS],
            relay_moving: [None; RELAYS],
            board,
            ina: Ina219Chip::new(),
            ina_port: Ina219Chip::new(),
            door_open: false,
            rails: [0.0; OUTPUTS],
            sequences: Default::default(),
            amps: 0.0,
            console_out: VecDeque::new(),
            console_log: VecDeque::new(),
            console_log_bytes: 0,
            console_first: 0,
            outputs: Vec::new(),
            gpio_levels: 0,
            gpio_edges: VecDeque::new(),
            gpio_serial: 0,
            log: None,
            readbacks: [None; OUTPUTS],
            chip: Default::default(),
        };
        w.settle();
        // The levels at power-up are where edges start from, not edges.
        w.gpio_edges.clear();
        w.gpio_serial = 0;
        w
    }

    /// Simulated time since start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Brings a wall-clock world up to the present; no-op in virtual time.
    pub fn sync(&mut self) {
        if let TimeMode::Wall(start) = self.mode {
            let target = start.elapsed();
            if target > self.now {
                self.advance(target - self.now);
            }
        }
    }

    /// Whether time here is simulated (moved by the run's waits), not the host's.
    pub fn is_virtual(&self) -> bool {
        matches!(self.mode, TimeMode::Virtual)
    }

    /// An instrument spends `d` acting on a command before its effect and its answer:
    /// simulated time passes. On a served bench the wire and the host take their own
    /// real time instead (sleeping here would hold the world from the other
    /// instruments' threads), so nothing is added.
    pub fn busy(&mut self, d: Duration) {
        if self.is_virtual() && !d.is_zero() {
            self.advance(d);
        }
    }

    /// Advances the physics by `d` in [`TICK`] steps.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now + TICK <= end {
            self.now += TICK;
            self.step(TICK);
        }
        if self.now < end {
            let rest = end - self.now;
            self.now = end;
            self.step(rest);
        }
    }

    fn step(&mut self, dt: Duration) {
        self.move_relays();
        self.run_sequences();
        self.settle();
        for ch in 0..OUTPUTS {
            self.slew(ch, dt);
        }
        self.settle();
        let inputs = self.board_inputs();
        self.board.step(inputs, dt, &mut self.console_out);
        self.settle();
        self.ina.tick(dt);
        self.ina_port.tick(dt);
        self.take_readbacks(dt);
    }

    /// The supplies that measure on a cycle of their own take a new reading when this
    /// step ends a cycle (cycles count from the bench's start).
    fn take_readbacks(&mut self, dt: Duration) {
        let (before, now) = (self.now - dt, self.now);
        for ch in 0..OUTPUTS {
            let Some(r) = self.readbacks[ch] else {
                continue;
            };
            let every = r.every.as_nanos();
            if before.as_nanos() / every != now.as_nanos() / every {
                let shown = (self.output_volts(ch + 1), self.output_amps(ch + 1));
                self.readbacks[ch] = Some(Readback { shown, ..r });
            }
        }
    }

    /// What a supply that measures once per `every` shows for `channel` (1-based):
    /// the voltage and current at the end of its last measurement cycle, not at this
    /// moment. `every` zero: the present values (a supply whose update rate is not
    /// known). The first call for a channel starts its cycle with the present values.
    pub fn readback(&mut self, channel: usize, every: Duration) -> (f64, f64) {
        let now = (self.output_volts(channel), self.output_amps(channel));
        if every.is_zero() {
            return now;
        }
        let r = &mut self.readbacks[channel - 1];
        match r {
            Some(r) if r.every == every => r.shown,
            _ => {
                *r = Some(Readback { every, shown: now });
                now
            }
        }
    }

    /// An actuator relay that is closed and whose actuator works.
    fn actuated(&self, relay: usize) -> bool {
        self.relays[relay - 1] && !self.dead[relay - 1]
    }

    /// The output feeding the lock's supply input: main, or the sag output while the
    /// dip relay is energised.
    fn lock_source(&self) -> usize {
        if self.actuated(DIP_RELAY) {
            SAG
        } else {
            MAIN
        }
    }

    fn board_inputs(&self) -> Inputs {
        Inputs {
            main_v: self.rails[self.lock_source()],
            vbus_v: self.rails[PORT],
            fire_alarm: self.relays[FIRE_RELAY - 1],
            rex: self.actuated(REX_RELAY),
            handle: self.actuated(HANDLE_RELAY),
            key: self.actuated(KEY_RELAY),
            door_open: self.door_open,
        }
    }

    /// The load on a channel at output voltage `v`, in amperes.
    fn load_at(&self, ch: usize, v: f64) -> f64 {
        match ch {
            ch if ch == self.lock_source() => self.board.main_current_at(v),
            PORT if self.rails[PORT] > 0.0 => {
                self.board.port_current() * (v / self.rails[PORT]).min(1.0)
            }
            _ => 0.0,
        }
    }

    /// The voltage a channel regulates towards: its setting, folded back in
    /// constant-current mode until the load draws the limit; 0 V when off.
    fn target_volts(&self, ch: usize) -> f64 {
        let c = self.psu[ch];
        if !c.on {
            return 0.0;
        }
        let demand = self.load_at(ch, c.set_v);
        if demand > c.set_i && demand > 0.0 {
            c.set_v * c.set_i / demand
        } else {
            c.set_v
        }
    }

    /// Moves a channel's output towards its target. The supply drives the output up
    /// quickly, but cannot pull it down: the output capacitance discharges through the
    /// bleeder and the load, so an unloaded output falls slowly (the DP800 datasheet:
    /// up to 800 ms), a maglock's coil pulls it down in tens of milliseconds.
    fn slew(&mut self, ch: usize, dt: Duration) {
        let target = self.target_volts(ch);
        let v = self.rails[ch];
        let tau = if target >= v {
            RISE_TAU
        } else {
            // The bleeder in parallel with the load (none when the load draws nothing).
            let amps = self.load_at(ch, v);
            let ohms = if amps > 0.0 {
                let load = v / amps;
                BLEED_OHM * load / (BLEED_OHM + load)
            } else {
                BLEED_OHM
            };
            OUTPUT_FARAD * ohms
        };
        self.rails[ch] = target + (v - target) * (-dt.as_secs_f64() / tau).exp();
    }

    /// Recomputes the electrical and mechanical state from the inputs (no time passes).
    pub fn settle(&mut self) {
        self.trip_protection();
        // The output voltages themselves only move with time (see `slew`).
        self.amps = self.board.main_current();
        // A pushed door that has swung open stays open while pushed, even if the bolt
        // comes back out: it has nothing to engage. So a brief unlatch between two
        // samples still leaves the door open for the next one to see.
        let pushed = self.actuated(DOOR_PUSH_RELAY);
        let held = self
            .board
            .holds_door(self.actuated(HANDLE_RELAY), self.actuated(KEY_RELAY));
        self.door_open = pushed && (self.door_open || !held);
        // The meter sits at the lock's supply input, after the dip relay.
        self.ina
            .set_inputs(self.rails[self.lock_source()], self.amps * SHUNT_OHM);
        let port_amps = self.output_amps(PORT + 1);
        self.ina_port
            .set_inputs(self.rails[PORT], port_amps * SHUNT_OHM);
        self.note_gpio_edges();
    }

    /// The INA219 at a 7-bit address on the simulated bus, if one is there.
    pub fn ina219_at(&mut self, addr7: u8) -> Option<&mut Ina219Chip> {
        match addr7 {
            super::ina219::ADDRESS => Some(&mut self.ina),
            super::ina219::PORT_ADDRESS => Some(&mut self.ina_port),
            _ => None,
        }
    }

    /// Numbers and keeps each change of the GPIO input lines.
    fn note_gpio_edges(&mut self) {
        let levels = (0..8u8).fold(0u8, |m, i| m | (u8::from(self.gpio(i)) << i));
        let changed = levels ^ self.gpio_levels;
        if changed == 0 {
            return;
        }
        self.gpio_levels = levels;
        for line in (0..8u8).filter(|i| changed & (1 << i) != 0) {
            self.gpio_serial += 1;
            if self.gpio_edges.len() >= GPIO_EDGE_LOG {
                self.gpio_edges.pop_front();
            }
            self.gpio_edges.push_back(GpioEdge {
                serial: self.gpio_serial,
                line,
                rising: levels & (1 << line) != 0,
                at: self.now,
            });
        }
    }

    /// The GPIO edges numbered after `serial`, oldest first (those still kept).
    pub fn gpio_edges_after(&self, serial: u64) -> impl Iterator<Item = &GpioEdge> {
        self.gpio_edges.iter().filter(move |e| e.serial > serial)
    }

    /// The number of the latest GPIO edge.
    pub fn gpio_serial(&self) -> u64 {
        self.gpio_serial
    }

    /// True while an output regulates current: its load would draw more than the limit
    /// at the setting, and the rail has come up to the folded-back voltage.
    fn in_constant_current(&self, ch: usize) -> bool {
        let c = self.psu[ch];
        let target = self.target_volts(ch);
        c.on && target < c.set_v && self.rails[ch] >= target * 0.99
    }

    /// Switches off any output whose actual voltage or current exceeds its armed
    /// OVP/OCP level, as the supply's protection does: it compares what the output
    /// delivers, not what was programmed, so a setting above the OVP level trips only
    /// once the rail has risen past it. The trip latches until the instrument clears it.
    fn trip_protection(&mut self) {
        for i in 0..self.psu.len() {
            let c = self.psu[i];
            if !c.on {
                continue;
            }
            let amps = if self.in_constant_current(i) {
                c.set_i
            } else {
                self.output_amps(i + 1).min(c.set_i)
            };
            let ovp = c.ovp.1 && self.rails[i] > c.ovp.0;
            let ocp = c.ocp.1 && amps >= c.ocp.0;
            if ovp || ocp {
                self.psu[i].tripped = (ovp, ocp);
                self.psu[i].on = false;
                self.record(format!(
                    "CH{} OFF ({} tripped)",
                    i + 1,
                    if ovp { "OVP" } else { "OCP" }
                ));
            }
        }
    }

    /// Output voltage of a channel (1-based), at the lock's terminals.
    pub fn output_volts(&self, channel: usize) -> f64 {
        self.rails[channel - 1]
    }

    /// Current drawn from a channel (1-based).
    pub fn output_amps(&self, channel: usize) -> f64 {
        match channel - 1 {
            ch if ch == self.lock_source() => self.amps,
            ch => self.load_at(ch, self.rails[ch]),
        }
    }

    /// Door-position switch.
    pub fn door_open(&self) -> bool {
        self.door_open
    }

    /// Reads a GPIO line of the simulated GPIO module.
    pub fn gpio(&self, line: u8) -> bool {
        match line {
            DOOR_GPIO => self.door_open,
            LATCH_GPIO => !self.board.engaged(),
            DOOR_PUSH_SENSE_GPIO => self.actuated(DOOR_PUSH_RELAY),
            HANDLE_SENSE_GPIO => self.actuated(HANDLE_RELAY),
            REX_SENSE_GPIO => self.actuated(REX_RELAY),
            KEY_SENSE_GPIO => self.actuated(KEY_RELAY),
            _ => false,
        }
    }

    /// Knocks the board's bolt open for `len` (see `Board::twitch`).
    pub fn twitch_bolt(&mut self, len: Duration) {
        self.board.twitch(len);
        self.settle();
    }

    /// Starts a step sequence on a supply output (1-based), as the instrument's timer
    /// does when switched on: its first step's setpoints apply at once.
    pub fn start_sequence(
        &mut self,
        channel: usize,
        steps: Vec<(f64, f64, Duration)>,
        cycles: u32,
        hold_last: bool,
    ) {
        self.record(format!(
            "CH{channel} sequence of {} steps started",
            steps.len()
        ));
        self.sequences[channel - 1] = Some(Sequence {
            steps,
            cycles,
            hold_last,
            started: self.now,
        });
        self.run_sequences();
        self.settle();
    }

    /// Stops an output's sequence (1-based); its setpoints stay where it left them.
    pub fn stop_sequence(&mut self, channel: usize) {
        if self.sequences[channel - 1].take().is_some() {
            self.record(format!("CH{channel} sequence stopped"));
        }
    }

    /// True while an output's sequence has steps left to run.
    pub fn sequence_running(&self, channel: usize) -> bool {
        self.sequences[channel - 1].is_some()
    }

    /// Applies each running sequence's setpoints for the present moment; one that has
    /// run its cycles ends, holding its last step or switching the output off.
    fn run_sequences(&mut self) {
        for ch in 0..OUTPUTS {
            let Some(seq) = &self.sequences[ch] else {
                continue;
            };
            match seq.at(self.now.saturating_sub(seq.started)) {
                Some((v, i)) => {
                    self.psu[ch].set_v = v;
                    self.psu[ch].set_i = i;
                }
                None => {
                    let (hold_last, last) = (seq.hold_last, seq.steps.last().copied());
                    self.sequences[ch] = None;
                    self.record(format!("CH{} sequence ended", ch + 1));
                    match last {
                        Some((v, i, _)) if hold_last => {
                            self.psu[ch].set_v = v;
                            self.psu[ch].set_i = i;
                        }
                        _ => self.set_output(ch + 1, false),
                    }
                }
            }
        }
    }

    /// Drives a relay's coil (1-based): its contacts follow after `operate` (closing)
    /// or `release` (opening), the relay's own times. A new drive replaces one still
    /// under way.
    pub fn drive_relay(&mut self, relay: usize, on: bool, operate: Duration, release: Duration) {
        // The drive is what the rig did, so it is what the output log records; the
        // contacts' movement is the relay's own.
        if self.relay_driven(relay) != on {
            self.record(format!("relay {relay} {}", if on { "ON" } else { "OFF" }));
        }
        let delay = if on { operate } else { release };
        self.relay_moving[relay - 1] =
            (self.relays[relay - 1] != on).then_some((self.now + delay, on));
    }

    /// The state a relay's coil is driven to (its contacts may still be moving there).
    pub fn relay_driven(&self, relay: usize) -> bool {
        self.relay_moving[relay - 1].map_or(self.relays[relay - 1], |(_, on)| on)
    }

    /// Lets relay contacts that have finished moving reach their new state.
    fn move_relays(&mut self) {
        let mut moved = false;
        for i in 0..RELAYS {
            if let Some((at, on)) = self.relay_moving[i] {
                if self.now >= at {
                    self.relay_moving[i] = None;
                    self.relays[i] = on;
                    moved = true;
                }
            }
        }
        if moved {
            self.settle();
        }
    }

    /// Sets a relay (1-based) and records the change.
    pub fn set_relay(&mut self, relay: usize, on: bool) {
        if self.relays[relay - 1] != on {
            self.relays[relay - 1] = on;
            self.record(format!("relay {relay} {}", if on { "ON" } else { "OFF" }));
        }
        self.settle();
    }

    /// Switches a supply output (1-based channel) and records the change.
    pub fn set_output(&mut self, channel: usize, on: bool) {
        if !on {
            // A timer runs only while its output is on.
            self.stop_sequence(channel);
        }
        if self.psu[channel - 1].on != on {
            self.psu[channel - 1].on = on;
            self.record(format!("CH{channel} {}", if on { "ON" } else { "OFF" }));
        }
        self.settle();
    }

    fn record(&mut self, what: String) {
        if let Some(log) = &self.log {
            log.line(&format!("t={:.3}ms {what}", self.now.as_secs_f64() * 1e3));
        }
        self.outputs.push(OutputEvent { at: self.now, what });
    }

    /// Labels the record's lines from now on (the trial), and starts the trial's
    /// output history afresh: a board kept for a 10,000-cycle soak keeps one trial's.
    pub fn relabel_log(&mut self, label: &str) {
        self.outputs.clear();
        if let Some(log) = &self.log {
            self.log = Some(log.labelled(label));
        }
    }

    /// Records output changes and the teardown verdict to `log` from now on.
    pub fn log_to(&mut self, log: super::SimLog) {
        self.log = Some(log);
    }

    /// Writes whether the bench was left safe: `end safe`, or `end UNSAFE: ...`.
    pub fn log_teardown(&self) {
        if let Some(log) = &self.log {
            let live: Vec<String> = (0..self.psu.len())
                .filter(|i| self.psu[*i].on)
                .map(|i| format!("CH{} ON", i + 1))
                .chain(
                    // A released coil's contacts open on their own within its release time.
                    (1..=RELAYS)
                        .filter(|r| self.relay_driven(*r))
                        .map(|r| format!("relay {r} ON")),
                )
                .collect();
            if live.is_empty() {
                log.line("end safe");
            } else {
                log.line(&format!("end UNSAFE: {}", live.join(", ")));
            }
        }
    }

    /// Every output change the simulator has seen in this trial.
    pub fn output_log(&self) -> &[OutputEvent] {
        &self.outputs
    }

    /// True when every supply output is off and every relay released.
    pub fn is_safe(&self) -> bool {
        // A relay whose coil is released opens within its release time, on its own.
        self.psu.iter().all(|c| !c.on) && (1..=RELAYS).all(|r| !self.relay_driven(r))
    }

    /// The console lines the board printed since a reader's `cursor` (each went out on
    /// the wire as it was printed, even if the board died right after). Every emulator
    /// of the board's UART (lockrig's protocol, another firmware's dialect) keeps its
    /// own cursor, so each hears every line; a new one starts at the next line. What a
    /// reader has not taken within the last [`CONSOLE_LOG_BYTES`] is lost to it, as an
    /// overrun UART loses it.
    pub fn console_output(&mut self, cursor: &mut Option<u64>) -> Vec<String> {
        for line in self.console_out.drain(..) {
            self.console_log_bytes += line.len();
            self.console_log.push_back(line);
        }
        while self.console_log_bytes > CONSOLE_LOG_BYTES {
            let Some(old) = self.console_log.pop_front() else {
                break;
            };
            self.console_log_bytes -= old.len();
            self.console_first += 1;
        }
        let end = self.console_first + self.console_log.len() as u64;
        let from = cursor.unwrap_or(end).max(self.console_first);
        *cursor = Some(end);
        let skip = usize::try_from(from - self.console_first).unwrap_or(usize::MAX);
        self.console_log.iter().skip(skip).cloned().collect()
    }

    /// A line arrives on the board's UART; returns the reply if the firmware runs.
    pub fn console_command(&mut self, line: &str) -> Option<String> {
        let reply = self.board.command(line, &mut self.console_out);
        self.settle();
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maglock() -> World {
        let mut w = World::unpowered("maglock_12v");
        w.psu[0].set_v = 12.0;
        w.set_output(1, true);
        w.advance(Duration::from_millis(100));
        w
    }

    #[test]
    fn every_reader_of_the_boards_uart_hears_every_line() {
        // Two emulators of the console (two dialects served at once) each hear the
        // board's boot line: one must not take it from the other.
        let mut w = World::unpowered("smartlock_4aa");
        let (mut ours, mut theirs) = (None, None);
        assert!(w.console_output(&mut ours).is_empty());
        assert!(w.console_output(&mut theirs).is_empty());
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_secs(1));
        let a = w.console_output(&mut ours);
        assert!(a.iter().any(|l| l.contains("BOOT")), "{a:?}");
        assert_eq!(w.console_output(&mut theirs), a);
        assert!(w.console_output(&mut ours).is_empty(), "taken once each");
        // A reader that starts late hears from then on, not the history.
        let mut late = None;
        assert!(w.console_output(&mut late).is_empty());
    }

    #[test]
    fn a_door_that_swung_open_stays_open_while_pushed() {
        let mut w = maglock();
        w.set_relay(DOOR_PUSH_RELAY, true);
        assert!(!w.door_open(), "the magnet holds");
        // A dip below the holding voltage, then power back: a brief release.
        w.psu[0].set_v = 1.0;
        w.advance(Duration::from_millis(150));
        assert!(w.door_open());
        w.psu[0].set_v = 12.0;
        w.advance(Duration::from_millis(150));
        assert!(
            w.door_open(),
            "the magnet has nothing to hold once the door is open"
        );
        w.set_relay(DOOR_PUSH_RELAY, false);
        assert!(!w.door_open(), "the closer shuts it");
        w.set_relay(DOOR_PUSH_RELAY, true);
        assert!(!w.door_open(), "and the magnet holds it again");
    }

    #[test]
    fn the_supply_rail_falls_as_fast_as_the_load_discharges_it() {
        let mut w = maglock();
        w.set_output(1, false);
        w.advance(Duration::from_millis(50));
        assert!(
            w.output_volts(1) < 3.0,
            "a 48 ohm coil pulls the rail below its holding voltage in tens of ms: {}",
            w.output_volts(1)
        );
        let mut w = World::unpowered("smartlock_4aa");
        w.psu[0].set_v = 6.0;
        w.set_output(1, true);
        w.advance(Duration::from_millis(500));
        w.set_output(1, false);
        w.advance(Duration::from_millis(300));
        assert!(
            w.output_volts(1) > 3.0,
            "a sleeping smart lock barely loads it: {}",
            w.output_volts(1)
        );
    }
}
