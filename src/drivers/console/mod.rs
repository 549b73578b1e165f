//! The lock board's line console (UART, 115200 8N1, LF-terminated lines).
//!
//! lockrig's console protocol for lock boards under test. Queries and their replies:
//!
//! | query | reply |
//! |---|---|
//! | `VER?` | `VER <firmware id>` |
//! | `STATE?` | `STATE LOCKED` or `STATE UNLOCKED` |
//!
//! The board also prints unsolicited event lines at any time, each starting with `EVT`:
//! `EVT BOOT <cause>` (cause `POR` or `BOR`), `EVT LOCKED`, `EVT UNLOCKED`,
//! `EVT LOWBAT <stage>`. The driver collects them while it waits for replies; the rig
//! stamps them when it takes them.

use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// The prefix of unsolicited event lines.
pub const EVENT_PREFIX: &str = "EVT ";

/// A connected lock-board console.
pub struct LockConsole {
    io: LineIo,
    events: Vec<String>,
}

impl LockConsole {
    /// Opens the console. The board may be unpowered, so nothing is sent yet.
    pub fn open(io: LineIo) -> Self {
        Self {
            io,
            events: Vec::new(),
        }
    }

    /// `VER?`
    pub fn version(&mut self) -> Result<String> {
        self.query("VER?", "VER ")
    }

    /// `STATE?` -> `LOCKED` or `UNLOCKED`.
    pub fn state(&mut self) -> Result<String> {
        let state = self.query("STATE?", "STATE ")?;
        match state.as_str() {
            "LOCKED" | "UNLOCKED" => Ok(state),
            other => Err(InstrumentError::garbage(
                "STATE?",
                other,
                "`LOCKED` or `UNLOCKED`",
            )),
        }
    }

    /// Event lines received so far (without the `EVT ` prefix), oldest first.
    pub fn take_events(&mut self) -> Vec<String> {
        std::mem::take(&mut self.events)
    }

    /// Sends `command` and returns the text after `prefix` on the reply line, keeping
    /// any event lines that arrive first.
    fn query(&mut self, command: &str, prefix: &str) -> Result<String> {
        let timeout = self.io.timeout();
        self.io
            .send(command, b"\n")
            .map_err(|e| InstrumentError::io(command, timeout, e))?;
        loop {
            let line = self
                .io
                .read_line(b'\n')
                .map_err(|e| InstrumentError::io(command, timeout, e))?;
            if let Some(event) = line.strip_prefix(EVENT_PREFIX) {
                self.events.push(event.to_string());
            } else if let Some(value) = line.strip_prefix(prefix) {
                return Ok(value.trim().to_string());
            } else if !line.is_empty() {
                return Err(InstrumentError::garbage(
                    command,
                    &line,
                    "a reply or an `EVT` line",
                ));
            }
        }
    }
}
