//! Instrument drivers. Each family has a folder whose `mod.rs` reads like the
//! instrument's programming manual and implements one capability trait from
//! [`crate::rig`]. The same driver code talks to a real bench and to the simulator.

pub mod console;
pub mod debug_probe;
pub mod gpio_cdev;
pub mod i2cdriver;
pub mod ina219;
pub mod keysight_daq970a;
pub mod korad_ka3005p;
pub mod lcus;
pub mod modbus;
pub mod modbus_relay;
pub mod numato;
pub mod riden_rd60xx;
pub mod scpi_supply;

use std::io;
use std::time::Duration;

/// An instrument that failed to do what it was asked. Never a pass.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentError {
    /// The port could not be opened.
    #[error("cannot open {what}: {source}")]
    Open {
        /// The port or bus.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// No complete reply in time.
    #[error("no reply to `{command}` within {}ms", after.as_millis())]
    Timeout {
        /// The command sent.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// A reply that does not parse as what the command returns.
    #[error("reply to `{command}` was `{reply}`, expected {expected}")]
    Garbage {
        /// The command sent.
        command: String,
        /// The reply received (control characters escaped).
        reply: String,
        /// What a valid reply looks like.
        expected: &'static str,
    },
    /// The instrument reported an error (e.g. from the SCPI error queue).
    #[error("after `{command}` the instrument reported error {code}: {message}")]
    Device {
        /// The command that preceded the error.
        command: String,
        /// Error code.
        code: i32,
        /// Error text.
        message: String,
    },
    /// A read-back did not match what was commanded.
    #[error("commanded {commanded} but the instrument reads back {actual}")]
    Readback {
        /// What was commanded.
        commanded: String,
        /// What was read back.
        actual: String,
    },
    /// An I/O error on an open link.
    #[error("I/O error during `{command}`: {source}")]
    Io {
        /// The command in progress.
        command: String,
        /// The OS error.
        source: io::Error,
    },
    /// An I2C bus error.
    #[error("I2C error: {0}")]
    Bus(String),
    /// A meter's reading is beyond its range: the current is above `above_a`.
    #[error("{what}: the current is above {above_a} A, beyond what the meter measures")]
    OverRange {
        /// What the meter showed.
        what: String,
        /// The current, in amperes, the reading is known to exceed.
        above_a: f64,
    },
}

impl InstrumentError {
    /// Maps an I/O error during `command` onto a timeout or an I/O error.
    pub fn io(command: &str, timeout: Duration, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::TimedOut {
            Self::Timeout {
                command: command.to_string(),
                after: timeout,
            }
        } else {
            Self::Io {
                command: command.to_string(),
                source,
            }
        }
    }

    /// A garbage reply, with control characters made visible.
    pub fn garbage(command: &str, reply: &str, expected: &'static str) -> Self {
        Self::Garbage {
            command: command.to_string(),
            reply: reply.escape_debug().to_string(),
            expected,
        }
    }
}

/// `ON` or `OFF`, as supplies spell an output state.
pub fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

/// Result of a driver call.
pub type Result<T> = std::result::Result<T, InstrumentError>;
