//! Korad KA3005P and its rebadges (Tenma 72-2540, RND 320-KA3005P, Velleman PS3005D):
//! a one-channel 30 V / 5 A bench supply on a USB CDC (or RS-232) serial port at
//! 9600 baud, 8N1.
//!
//! The remote protocol (Korad's "KA3005P remote control syntax", as tabulated on the
//! sigrok wiki page "Korad KAxxxxP series" and implemented by libsigrok's
//! `korad-kaxxxxp` driver) is ASCII with **no terminator** in either direction: the
//! firmware recognises a command by its syntax as the bytes arrive, and a query's reply
//! is a fixed number of characters with nothing after it.
//!
//! | command | reply | notes |
//! |---|---|---|
//! | `*IDN?` | `KORAD KA3005P V5.8 SN:03379314` | length varies by firmware and badge, so it is read until the line goes quiet |
//! | `VSET1:<VV.VV>` | none | voltage setting, 10 mV steps; sent zero-padded (`05.00`) |
//! | `VSET1?` | `12.00` | 5 characters |
//! | `ISET1:<A.AAA>` | none | current limit, 1 mA steps |
//! | `ISET1?` | `1.000` | 5 characters; some firmware sends a sixth byte after them (libsigrok reads and drops it) |
//! | `VOUT1?` | `12.00` | measured output voltage, 5 characters |
//! | `IOUT1?` | `0.250` | measured output current, 5 characters |
//! | `OUT1`, `OUT0` | none | output on, off |
//! | `STATUS?` | 1 byte | bit 0: 1 = constant voltage, 0 = constant current; bit 6: output on. The other bits differ between firmware (beep, panel lock, OVP/OCP on) and are not used |
//! | `OVP1`/`OVP0`, `OCP1`/`OCP0` | none | over-voltage / over-current protection on, off |
//!
//! **Gaps.** The firmware drops commands that come too soon after the previous one.
//! libsigrok waits 80 ms after sending a request before the next (its
//! `DEVICE_PROCESSING_TIME_MS`); users report about 50 ms as the shortest polling
//! interval that works. This driver leaves [`GAP`] (80 ms) between the end of one
//! exchange and the start of the next.
//!
//! **Confirmation.** There is no error queue and a command is never answered, so every
//! setting is read back (`VSET1?`, `ISET1?`, `STATUS?` bit 6): a mismatch is an
//! [`InstrumentError::Readback`]. A reply that is not of its fixed form, or that runs on
//! past its length, is [`InstrumentError::Garbage`]; no reply is a timeout.
//!
//! **Protection: what this family can and cannot do.** `OVP1` and `OCP1` only switch
//! protection on: the output is cut when the voltage rises above the *set* voltage, or
//! the current reaches the *set* current limit, and stays off until `OUT1`. There is no
//! command to give OVP or OCP a level of their own (the KA3005P has no `OVPSET`), no
//! query that says a protection tripped, and no bit of `STATUS?` that all firmware agree
//! on for the protection switches. So this supply cannot arm protection at a rig
//! envelope's limits: a rig records that its envelope is enforced by lockrig alone.

use std::time::Duration;

use crate::drivers::{on_off, InstrumentError, Result};
use crate::transport::LineIo;

/// Least time between the end of one exchange and the start of the next.
pub const GAP: Duration = Duration::from_millis(80);

/// How long the line must stay quiet to end a reply of unknown length (`*IDN?`): at
/// 9600 baud a character takes about 1 ms; this leaves room for a USB bridge's latency.
pub const QUIET: Duration = Duration::from_millis(50);

/// The serial line settings: 9600 baud (8N1).
pub const BAUD: u32 = 9600;

/// `*IDN?` replies of the family contain one of these model names.
pub const MODELS: &[&str] = &["KA3005P", "KD3005P", "72-2540", "PS3005D"];

/// Width of the numeric replies (`12.00`, `1.000`).
const WIDTH: usize = 5;

/// `STATUS?` bit: output on.
pub const STATUS_OUTPUT: u8 = 1 << 6;
/// `STATUS?` bit: constant-voltage mode (clear in constant current).
pub const STATUS_CV: u8 = 1 << 0;

/// The command that sets the voltage: `VSET1:12.00`.
pub fn set_voltage_command(volts: f64) -> String {
    format!("VSET1:{volts:05.2}")
}

/// The command that sets the current limit: `ISET1:1.000`.
pub fn set_current_command(amps: f64) -> String {
    format!("ISET1:{amps:05.3}")
}

/// A connected supply of the KA3005P family.
pub struct Ka3005p {
    io: LineIo,
    identity: String,
    /// When the last exchange ended, and its command (for a reply that ran on).
    last: Option<(Duration, String)>,
    /// The pause left between exchanges ([`GAP`] unless told otherwise).
    gap: Duration,
}

impl Ka3005p {
    /// Opens a session: drops stale input and identifies the supply as one of the family.
    pub fn open(mut io: LineIo) -> Result<Self> {
        io.discard_input()
            .map_err(|e| InstrumentError::io("*IDN?", io.timeout(), e))?;
        let mut psu = Self {
            io,
            identity: String::new(),
            last: None,
            gap: GAP,
        };
        psu.send("*IDN?")?;
        let reply = psu
            .io
            .read_until_quiet(QUIET)
            .map_err(|e| InstrumentError::io("*IDN?", psu.io.timeout(), e))?;
        psu.done("*IDN?");
        // Some firmware adds a stray byte after the identity (0x01, 0xBC).
        let identity: String = String::from_utf8_lossy(&reply)
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        if !MODELS.iter().any(|m| identity.contains(m)) {
            return Err(InstrumentError::garbage(
                "*IDN?",
                &String::from_utf8_lossy(&reply),
                "a Korad KA3005P-family identity (`KORAD KA3005P V5.8 SN:...`)",
            ));
        }
        psu.identity = identity.trim().to_string();
        Ok(psu)
    }

    /// Leaves `gap` instead of [`GAP`] between exchanges: for an in-memory instrument
    /// (tests, fuzzing) that needs no time to finish a command. A real one does.
    pub fn with_gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// The `*IDN?` reply.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Programs the voltage (`VSET1:12.00`) and reads it back (`VSET1?`).
    pub fn set_voltage(&mut self, volts: f64) -> Result<()> {
        let command = set_voltage_command(volts);
        self.setting(&command)?;
        self.read_back("VSET1?", &command[6..], "V")
    }

    /// Programs the current limit (`ISET1:1.000`) and reads it back (`ISET1?`).
    pub fn set_current(&mut self, amps: f64) -> Result<()> {
        let command = set_current_command(amps);
        self.setting(&command)?;
        self.read_back("ISET1?", &command[6..], "A")
    }

    /// Switches the output (`OUT1`/`OUT0`) and reads it back (`STATUS?` bit 6).
    pub fn set_output(&mut self, on: bool) -> Result<()> {
        self.setting(if on { "OUT1" } else { "OUT0" })?;
        let actual = self.output()?;
        if actual != on {
            return Err(InstrumentError::Readback {
                commanded: format!("output {}", on_off(on)),
                actual: format!("output {}", on_off(actual)),
            });
        }
        Ok(())
    }

    /// The `STATUS?` byte.
    pub fn status(&mut self) -> Result<u8> {
        Ok(self.query("STATUS?", 1)?[0])
    }

    /// True when the output is on (`STATUS?` bit 6).
    pub fn output(&mut self) -> Result<bool> {
        Ok(self.status()? & STATUS_OUTPUT != 0)
    }

    /// True when the output regulates current (`STATUS?` bit 0 clear) while it is on.
    pub fn constant_current(&mut self) -> Result<bool> {
        let status = self.status()?;
        Ok(status & STATUS_OUTPUT != 0 && status & STATUS_CV == 0)
    }

    /// Measures the output voltage (`VOUT1?`).
    pub fn measure_voltage(&mut self) -> Result<f64> {
        self.query_number("VOUT1?")
    }

    /// Measures the output current (`IOUT1?`).
    pub fn measure_current(&mut self) -> Result<f64> {
        self.query_number("IOUT1?")
    }

    /// Switches over-voltage (`OVP1`/`OVP0`) and over-current (`OCP1`/`OCP0`) protection.
    /// They trip at the set voltage and current limit; nothing reads the switches back.
    pub fn set_protection(&mut self, ovp: bool, ocp: bool) -> Result<()> {
        self.setting(if ovp { "OVP1" } else { "OVP0" })?;
        self.setting(if ocp { "OCP1" } else { "OCP0" })
    }

    /// Waits out the gap after the last exchange, then checks nothing came after its
    /// reply (a reply longer than its fixed width is garbage).
    fn pace(&mut self) -> Result<()> {
        let Some((at, command)) = self.last.clone() else {
            return Ok(());
        };
        self.io.pace(Some(at), self.gap);
        let extra = self
            .io
            .take_unread()
            .map_err(|e| InstrumentError::io(&command, self.io.timeout(), e))?;
        // The one quirk tolerated: a sixth byte after the `ISET1?` reply.
        let tolerated = command == "ISET1?" && extra.len() == 1;
        if !extra.is_empty() && !tolerated {
            return Err(InstrumentError::garbage(
                &command,
                &String::from_utf8_lossy(&extra),
                "nothing more (a query's reply has a fixed width, a setting has none)",
            ));
        }
        Ok(())
    }

    fn send(&mut self, command: &str) -> Result<()> {
        self.io
            .send_bytes(command.as_bytes())
            .map_err(|e| InstrumentError::io(command, self.io.timeout(), e))
    }

    fn done(&mut self, command: &str) {
        self.last = Some((self.io.now(), command.to_string()));
    }

    /// Sends a command the supply does not answer.
    fn setting(&mut self, command: &str) -> Result<()> {
        self.pace()?;
        self.send(command)?;
        self.done(command);
        Ok(())
    }

    /// Sends a query and reads its `width`-byte reply.
    fn query(&mut self, command: &'static str, width: usize) -> Result<Vec<u8>> {
        self.pace()?;
        self.send(command)?;
        let reply = self.io.read_exact_bytes(width);
        self.done(command);
        reply.map_err(|e| InstrumentError::io(command, self.io.timeout(), e))
    }

    /// A 5-character decimal reply (`12.00`, `0.250`).
    fn query_number(&mut self, command: &'static str) -> Result<f64> {
        let reply = self.query(command, WIDTH)?;
        let text = String::from_utf8_lossy(&reply);
        let numeric = reply.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        match text.parse::<f64>() {
            Ok(v) if numeric => Ok(v),
            _ => Err(InstrumentError::garbage(
                command,
                &text,
                "a 5-character decimal (`12.00`, `1.000`)",
            )),
        }
    }

    /// Reads a setting back and compares it with the value sent.
    fn read_back(&mut self, query: &'static str, sent: &str, unit: &str) -> Result<()> {
        let actual = self.query_number(query)?;
        let commanded: f64 = sent.parse().unwrap_or(f64::NAN);
        if (actual - commanded).abs() > 1e-6 {
            return Err(InstrumentError::Readback {
                commanded: format!("{sent}{unit} (`{query}`)"),
                actual: format!("{actual:.3}{unit}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_zero_padded_to_the_fixed_width() {
        assert_eq!(set_voltage_command(12.0), "VSET1:12.00");
        assert_eq!(set_voltage_command(5.0), "VSET1:05.00");
        assert_eq!(set_voltage_command(3.333), "VSET1:03.33");
        assert_eq!(set_current_command(1.0), "ISET1:1.000");
        assert_eq!(set_current_command(0.25), "ISET1:0.250");
    }
}
