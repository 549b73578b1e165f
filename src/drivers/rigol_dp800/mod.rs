//! Rigol DP800-series programmable DC supplies (DP821A, DP831A, DP832/DP832A).
//!
//! Commands from the DP800 Programming Guide (PGH03109-1110), LF-terminated, over
//! USB-TMC/serial or the raw LAN socket on port 5555:
//!
//! | purpose | command | reply |
//! |---|---|---|
//! | identify | `*IDN?` | `RIGOL TECHNOLOGIES,DP832,<serial>,<fw>` |
//! | clear status and error queue | `*CLS` | - |
//! | set voltage | `:SOUR<n>:VOLT <V>` | - |
//! | set current limit | `:SOUR<n>:CURR <A>` | - |
//! | output on/off | `:OUTP CH<n>,ON` / `:OUTP CH<n>,OFF` | - |
//! | output state | `:OUTP? CH<n>` | `ON` / `OFF` |
//! | measure | `:MEAS:VOLT? CH<n>`, `:MEAS:CURR? CH<n>` | number |
//! | over-voltage protection | `:OUTP:OVP:VAL CH<n>,<V>`, `:OUTP:OVP CH<n>,ON` | - |
//! | over-current protection | `:OUTP:OCP:VAL CH<n>,<A>`, `:OUTP:OCP CH<n>,ON` | - |
//! | protection tripped? | `:OUTP:OVP:QUES? CH<n>`, `:OUTP:OCP:QUES? CH<n>` | `YES` / `NO` |
//! | clear a trip (latched until then) | `:OUTP:OVP:CLE CH<n>`, `:OUTP:OCP:CLE CH<n>` | - |
//! | error queue | `:SYST:ERR?` | `0,"No error"` |
//!
//! The supply settles in tens of milliseconds (command processing < 118 ms, fall up to
//! 800 ms unloaded): millisecond brownouts need a `dip` switch, not this instrument.

use crate::drivers::scpi::Scpi;
use crate::drivers::{InstrumentError, Result};
use crate::transport::LineIo;

/// A connected DP800 supply.
pub struct Dp800 {
    scpi: Scpi,
    identity: String,
}

impl Dp800 {
    /// Opens a session: identifies the instrument and clears its error queue.
    pub fn open(io: LineIo) -> Result<Self> {
        let mut scpi = Scpi::new(io);
        let identity = scpi.query("*IDN?")?;
        if !identity.starts_with("RIGOL TECHNOLOGIES,DP8") {
            return Err(InstrumentError::garbage(
                "*IDN?",
                &identity,
                "a Rigol DP800 identity (`RIGOL TECHNOLOGIES,DP8...`)",
            ));
        }
        // Errors queued before this session (front panel, an earlier program) are
        // not ours: clear them, so the queue speaks only of our commands.
        scpi.set("*CLS")?;
        Ok(Self { scpi, identity })
    }

    /// The `*IDN?` reply.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// `:SOUR<n>:VOLT <V>`
    pub fn set_voltage(&mut self, channel: u8, volts: f64) -> Result<()> {
        self.scpi.set(&format!(":SOUR{channel}:VOLT {volts:.3}"))
    }

    /// `:SOUR<n>:CURR <A>`
    pub fn set_current(&mut self, channel: u8, amps: f64) -> Result<()> {
        self.scpi.set(&format!(":SOUR{channel}:CURR {amps:.3}"))
    }

    /// `:OUTP CH<n>,ON|OFF`
    pub fn set_output(&mut self, channel: u8, on: bool) -> Result<()> {
        let state = if on { "ON" } else { "OFF" };
        self.scpi.set(&format!(":OUTP CH{channel},{state}"))
    }

    /// `:OUTP? CH<n>`
    pub fn output(&mut self, channel: u8) -> Result<bool> {
        let command = format!(":OUTP? CH{channel}");
        let reply = self.scpi.query(&command)?;
        match reply.trim() {
            "ON" => Ok(true),
            "OFF" => Ok(false),
            other => Err(InstrumentError::garbage(&command, other, "`ON` or `OFF`")),
        }
    }

    /// Arms over-voltage and over-current protection at `volts` / `amps`:
    /// `:OUTP:OVP:VAL`, `:OUTP:OVP ON`, `:OUTP:OCP:VAL`, `:OUTP:OCP ON`.
    pub fn protect(&mut self, channel: u8, volts: f64, amps: f64) -> Result<()> {
        self.scpi
            .set(&format!(":OUTP:OVP:VAL CH{channel},{volts:.3}"))?;
        self.scpi.set(&format!(":OUTP:OVP CH{channel},ON"))?;
        self.scpi
            .set(&format!(":OUTP:OCP:VAL CH{channel},{amps:.3}"))?;
        self.scpi.set(&format!(":OUTP:OCP CH{channel},ON"))
    }

    /// `:OUTP:OVP:QUES? CH<n>` and `:OUTP:OCP:QUES? CH<n>`: which protection has tripped.
    pub fn tripped(&mut self, channel: u8) -> Result<(bool, bool)> {
        let mut ask = |what: &str| -> Result<bool> {
            let command = format!(":OUTP:{what}:QUES? CH{channel}");
            match self.scpi.query(&command)?.trim() {
                "YES" => Ok(true),
                "NO" => Ok(false),
                other => Err(InstrumentError::garbage(&command, other, "`YES` or `NO`")),
            }
        };
        Ok((ask("OVP")?, ask("OCP")?))
    }

    /// `:OUTP:OVP:CLE CH<n>` and `:OUTP:OCP:CLE CH<n>`: clears latched trips, after which
    /// the output may be switched on again.
    pub fn clear_protection(&mut self, channel: u8) -> Result<()> {
        self.scpi.set(&format!(":OUTP:OVP:CLE CH{channel}"))?;
        self.scpi.set(&format!(":OUTP:OCP:CLE CH{channel}"))
    }

    /// `:MEAS:VOLT? CH<n>`
    pub fn measure_voltage(&mut self, channel: u8) -> Result<f64> {
        self.scpi.query_f64(&format!(":MEAS:VOLT? CH{channel}"))
    }

    /// `:MEAS:CURR? CH<n>`
    pub fn measure_current(&mut self, channel: u8) -> Result<f64> {
        self.scpi.query_f64(&format!(":MEAS:CURR? CH{channel}"))
    }
}
