//! The rig: capabilities (what the bench can do, by role) on top of drivers (how to
//! talk to each instrument).
//!
//! The scenario layer sees only [`Bench`] and role names. Each capability trait is a
//! handful of methods; drivers are bound to them in [`adapters`]. The bench checks
//! every command against the rig's safety envelope before it reaches an instrument and
//! returns every role to its declared safe state when it is dropped.

pub mod adapters;
pub mod bench;
pub mod capture;
pub mod listen;
pub mod timeline;

pub use crate::drivers::console::Lost;
pub use bench::{Bench, RoleError};

use std::time::Duration;

use crate::drivers::console::Batch;
pub use crate::drivers::gpio_cdev::{Edge, Edges};
use crate::drivers::Result;
use crate::units::{Amps, Volts};

/// A programmable supply channel.
pub trait Supply: Send {
    /// Sets the output voltage.
    fn set_voltage(&mut self, volts: Volts) -> Result<()>;
    /// Sets the current limit.
    fn set_current_limit(&mut self, amps: Amps) -> Result<()>;
    /// Switches the output, confirming the new state by read-back.
    fn set_output(&mut self, on: bool) -> Result<()>;
    /// Measures output voltage and current.
    fn measure(&mut self) -> Result<(Volts, Amps)>;
    /// Arms the instrument's own over-voltage and over-current protection, so the
    /// envelope holds even if lockrig stops commanding. Returns false when the
    /// instrument has no such protection.
    fn set_protection(&mut self, _ovp: Volts, _ocp: Amps) -> Result<bool> {
        Ok(false)
    }
    /// Which protection has tripped since it was armed (`"OVP"`, `"OCP"`), if any; a
    /// supply without protection never trips.
    fn protection_tripped(&mut self) -> Result<Option<&'static str>> {
        Ok(None)
    }
    /// Clears a protection trip still latched from before (an earlier run, the front
    /// panel) and says which one it was; a latched trip keeps the output off.
    fn clear_protection(&mut self) -> Result<Option<&'static str>> {
        Ok(None)
    }
    /// The instrument's own step sequencer (a timer or list mode), if it has one.
    fn sequencer(&mut self) -> Option<&mut dyn Sequencer> {
        None
    }
}

/// A supply's own step sequencer (the DP800's timer, a list mode): it steps the
/// output by itself, so a sag programmed into it lasts what the instrument times, not
/// what the exchanges around it take.
pub trait Sequencer {
    /// The step lengths it can run.
    fn timing(&self) -> StepTiming;
    /// Programs `steps` (voltage, length) at current limit `limit`, to run once and
    /// then hold the last step's voltage.
    fn program(&mut self, steps: &[(Volts, Duration)], limit: Amps) -> Result<()>;
    /// Starts the programmed steps (`true`), or stops them where they are.
    fn run(&mut self, on: bool) -> Result<()>;
}

/// The step lengths a [`Sequencer`] runs: whole multiples of `step`, up to `longest`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    /// What the instrument calls it (`timer`), for reports.
    pub name: &'static str,
    /// The shortest step, and the resolution of every step.
    pub step: Duration,
    /// The longest step.
    pub longest: Duration,
}

impl StepTiming {
    /// True when a step of length `d` can be programmed as it is.
    pub fn fits(&self, d: Duration) -> bool {
        d >= self.step && d <= self.longest && d.as_nanos() % self.step.as_nanos() == 0
    }
}

/// An on/off output: a relay, a MOSFET, a GPIO line.
pub trait Switch: Send {
    /// Energises (`true`) or releases the output, confirming it where the hardware can.
    fn set(&mut self, on: bool) -> Result<()>;
    /// Reads the output state.
    fn get(&mut self) -> Result<bool>;
}

/// A digital input (door-position switch, latch sensor).
pub trait Input: Send {
    /// True when the line reads high.
    fn read(&mut self) -> Result<bool>;
    /// Every line of the instrument in one exchange (bit N = line N), where the
    /// instrument can; `None` when it reads one line at a time.
    fn read_lines(&mut self) -> Result<Option<u32>> {
        Ok(None)
    }
    /// The line's edges since the last call, where the instrument timestamps edges
    /// itself (a GPIO character device); `None` when it can only be polled.
    fn edges(&mut self) -> Result<Option<Edges>> {
        Ok(None)
    }
    /// True for an input that timestamps its own edges (see [`edges`](Self::edges)):
    /// it needs no background capture to say when a change happened.
    fn stamps_edges(&self) -> bool {
        false
    }
    /// The line's readings since `since` (rig clock), when its instrument is captured
    /// in the background ([`capture`]), waiting `through` a moment if asked (until a
    /// reading that began then is in); `None` for an input read only when asked.
    fn captured(
        &mut self,
        _since: Duration,
        _through: Option<Duration>,
    ) -> Option<Result<Vec<capture::Sample<bool>>>> {
        None
    }
}

/// A voltage and current meter on a supply line.
pub trait Meter: Send {
    /// Bus (line) voltage.
    fn voltage(&mut self) -> Result<Volts>;
    /// Current through the shunt.
    fn current(&mut self) -> Result<Amps>;
    /// One reading: voltage, then current.
    fn reading(&mut self) -> Result<(Volts, Amps)> {
        Ok((self.voltage()?, self.current()?))
    }
    /// How finely and how often it measures.
    fn resolution(&self) -> Resolution;
    /// The readings it took on its own since `since` (rig clock), when it is captured
    /// in the background ([`capture`]), waiting `through` a moment if asked (until a
    /// reading that began then is in); `None` for a meter read only when asked.
    fn captured(
        &mut self,
        _since: Duration,
        _through: Option<Duration>,
    ) -> Option<Result<Vec<capture::Sample>>> {
        None
    }
}

/// A meter's resolution and how often its reading changes: what the checks it serves
/// can claim from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolution {
    /// The smallest voltage step it reports.
    pub volts: Volts,
    /// The smallest current step it reports.
    pub amps: Amps,
    /// How often a new reading is made; a faster poll reads the same one again.
    pub every: Duration,
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} and {} steps, a new reading every {}",
            self.volts,
            self.amps,
            crate::units::format_duration(self.every)
        )
    }
}

/// The lock board's own view of itself.
pub trait Console: Send {
    /// The lock state the board reports (`LOCKED`, `UNLOCKED`).
    fn lock_state(&mut self) -> Result<String>;
    /// The board's uptime now, with `timeout` for the reply, to place its events on the
    /// rig's clock (and to tell whether it answers at all).
    fn uptime_ms(&mut self, timeout: Duration) -> Result<u64>;
    /// Sends a command line and returns the board's reply line.
    fn command(&mut self, line: &str) -> Result<String>;
    /// Lines the board printed since the last call, read without waiting.
    fn take_events(&mut self) -> Result<Batch>;
    /// Lines a background listener heard since the last call, each with the span in
    /// which the board printed it; `None` for a console nobody listens to, whose lines
    /// are stamped when [`take_events`](Self::take_events) reads them (see
    /// [`listen`]).
    fn arrivals(&mut self) -> Option<Result<listen::Arrivals>> {
        None
    }
}
