//! Keysight DAQ970A / 34970A / 34972A data acquisition mainframe with a relay module
//! (DAQM901A multiplexer, DAQM903A actuator/GP switch), as the `Switch` of a bench: its
//! relays drive the lock's actuators and fire-alarm loop.
//!
//! SCPI over LF-terminated lines (DAQ970A Programming Guide, ROUTe subsystem). A
//! channel is named `slot * 100 + channel`: relay 7 of the module in slot 1 is `101`
//! + 6 = `107`, written as a channel list `(@107)`.
//!
//! | command | use |
//! |---|---|
//! | `*IDN?` | `Keysight Technologies,DAQ970A,<serial>,<firmware>` (34970A/34972A: `HEWLETT-PACKARD,34970A,...` / `Agilent Technologies,34972A,...`) |
//! | `*CLS` | clears the error queue at open |
//! | `ROUTe:CLOSe (@107)`, `ROUTe:OPEN (@107)` | close or open one relay |
//! | `ROUTe:CLOSe? (@107)` | `1` closed, `0` open: every setting is read back |
//! | `SYSTem:ERRor?` | after every setting: `+0,"No error"`, else the first error |
//!
//! A relay that is closed is a switch role "on" (energised).

use crate::drivers::scpi_supply::session::Scpi;
use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// `*IDN?` replies of the mainframes this driver speaks to start with one of these.
pub const IDENTITIES: &[&str] = &[
    "Keysight Technologies,DAQ970A,",
    "Agilent Technologies,34972A,",
    "Keysight Technologies,34972A,",
    "HEWLETT-PACKARD,34970A,",
    "Agilent Technologies,34970A,",
];

/// Relays per module a rig may name (DAQM901A: 20 multiplexer channels; DAQM903A: 20
/// actuator channels).
pub const CHANNELS: u8 = 20;

/// Module slots of the mainframe.
pub const SLOTS: std::ops::RangeInclusive<u8> = 1..=3;

/// A connected mainframe, its relay module in one slot.
pub struct Daq970a {
    scpi: Scpi,
    slot: u8,
    identity: String,
}

impl Daq970a {
    /// Identifies the mainframe, refuses another instrument, and clears its error queue.
    pub fn open(io: LineIo, slot: u8) -> Result<Self> {
        let mut scpi = Scpi::new(io);
        let identity = scpi.query("*IDN?")?.trim().to_string();
        if !IDENTITIES.iter().any(|p| identity.starts_with(p)) {
            return Err(InstrumentError::garbage(
                "*IDN?",
                &identity,
                "a DAQ970A, 34970A or 34972A identity (`Keysight Technologies,DAQ970A,...`)",
            ));
        }
        scpi.set("*CLS")?;
        Ok(Self {
            scpi,
            slot,
            identity,
        })
    }

    /// What the mainframe says it is.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The channel list naming relay `channel` (1-based) of the module.
    pub fn channel_list(&self, channel: u8) -> String {
        format!("(@{})", u16::from(self.slot) * 100 + u16::from(channel))
    }

    /// Closes (`true`) or opens a relay, checks the error queue, and reads it back.
    pub fn set(&mut self, channel: u8, closed: bool) -> Result<()> {
        let list = self.channel_list(channel);
        let command = format!("ROUT:{} {list}", if closed { "CLOS" } else { "OPEN" });
        self.scpi.set(&command)?;
        let actual = self.closed(channel)?;
        if actual != closed {
            return Err(InstrumentError::Readback {
                commanded: command,
                actual: format!("ROUT:CLOS? {list} -> {}", u8::from(actual)),
            });
        }
        Ok(())
    }

    /// Whether a relay is closed.
    pub fn closed(&mut self, channel: u8) -> Result<bool> {
        let command = format!("ROUT:CLOS? {}", self.channel_list(channel));
        let reply = self.scpi.query(&command)?;
        match reply.trim() {
            "1" => Ok(true),
            "0" => Ok(false),
            _ => Err(InstrumentError::garbage(&command, &reply, "`1` or `0`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_are_named_by_slot_and_channel() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let io = LineIo::new(Box::new(a), std::time::Duration::from_millis(10));
        let daq = Daq970a {
            scpi: Scpi::new(io),
            slot: 3,
            identity: String::new(),
        };
        assert_eq!(daq.channel_list(1), "(@301)");
        assert_eq!(daq.channel_list(20), "(@320)");
    }
}
